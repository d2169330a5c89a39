//! The J1QL syntax tree. Every node prints back to J1QL (see `print.rs`).

use crate::span::Span;

/// A parsed query: `FIND [UNIQUE] node {step} [WHERE] [RETURN] [ORDER BY] [SKIP] [LIMIT]`.
///
/// A bare full-text query (`"10.0.0.9"`) is a `FIND` whose start selector is text.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub unique: bool,
    pub start: Node,
    pub steps: Vec<Step>,
    pub where_clause: Option<BoolExpr>,
    pub return_clause: Option<Return>,
    pub order_by: Option<OrderBy>,
    pub skip: Option<u64>,
    pub limit: Option<u64>,
    pub span: Span,
}

/// An entity selector with its `WITH` filter and alias.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub selector: Selector,
    pub filter: Option<BoolExpr>,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// The entity selection of a node, before its filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    /// `*`: every entity.
    Any,
    /// One name or an alternation `(A|b)`.
    Names(Vec<EntityName>),
    /// Smart classes `#Tag`, optionally followed by a class or type.
    Smart {
        tags: Vec<String>,
        name: Option<EntityName>,
    },
    /// A quoted full-text search.
    Text(String),
}

/// A class (TitleCase, matches `_class`) or a type (anything else, matches `_type`).
#[derive(Debug, Clone, PartialEq)]
pub enum EntityName {
    Class(String),
    Type(String),
}

impl EntityName {
    /// Classifies a name by its first character: uppercase selects a class.
    pub fn from_text(text: &str) -> Self {
        if text.starts_with(|c: char| c.is_uppercase()) {
            EntityName::Class(text.to_owned())
        } else {
            EntityName::Type(text.to_owned())
        }
    }

    /// Returns the name as written.
    pub fn text(&self) -> &str {
        match self {
            EntityName::Class(s) | EntityName::Type(s) => s,
        }
    }
}

/// An identifier with its position (aliases).
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One element after the start node.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Hop(Box<Hop>),
    /// `( THAT … )? [AS alias]`: hops whose reached entities are added to the current set.
    Optional {
        hops: Vec<Hop>,
        alias: Option<Ident>,
        span: Span,
    },
}

/// `THAT rel node`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hop {
    pub rel: Rel,
    pub node: Node,
}

/// The relationship part of a hop.
#[derive(Debug, Clone, PartialEq)]
pub struct Rel {
    /// `!VERB`: keep left entities with no such relationship.
    pub negated: bool,
    pub verbs: Vec<Verb>,
    pub direction: Option<Direction>,
    pub alias: Option<Ident>,
    pub span: Span,
}

/// A relationship verb.
#[derive(Debug, Clone, PartialEq)]
pub enum Verb {
    /// `RELATES TO`: any relationship class.
    Any,
    /// A relationship class, stored upper-case.
    Class(String),
}

/// Edge direction relative to the left entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `>>`: from the left entity to the right one.
    Outgoing,
    /// `<<`: from the right entity to the left one.
    Incoming,
}

/// A boolean filter.
#[derive(Debug, Clone, PartialEq)]
pub enum BoolExpr {
    Or(Vec<BoolExpr>),
    And(Vec<BoolExpr>),
    /// Parentheses as written, kept so the query prints back the same.
    Group(Box<BoolExpr>),
    Compare(Box<Comparison>),
}

/// `lhs op rhs`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub lhs: PropRef,
    pub op: CmpOp,
    pub rhs: Operand,
    pub span: Span,
}

/// A property, optionally of an alias (`alias.prop`, only in WHERE).
#[derive(Debug, Clone, PartialEq)]
pub struct PropRef {
    pub alias: Option<Ident>,
    /// The flat property name; dots are part of it (`tag.AccountName`).
    pub name: String,
    pub span: Span,
}

/// The right side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Value(Literal),
    /// `(a OR b)` or `(a AND b)`.
    Set {
        connective: Connective,
        values: Vec<Literal>,
    },
    /// Another alias's property (WHERE only).
    Prop(PropRef),
}

/// The connective of a value set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connective {
    And,
    Or,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
    Contains,
    NotContains,
    StartsWith,
    NotStartsWith,
    EndsWith,
    NotEndsWith,
}

impl CmpOp {
    /// Returns the operator as written in J1QL.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Gt => ">",
            CmpOp::Le => "<=",
            CmpOp::Ge => ">=",
            CmpOp::Contains => "~=",
            CmpOp::NotContains => "!~=",
            CmpOp::StartsWith => "^=",
            CmpOp::NotStartsWith => "!^=",
            CmpOp::EndsWith => "$=",
            CmpOp::NotEndsWith => "!$=",
        }
    }

    /// Returns the operator for a symbol.
    pub fn from_symbol(symbol: &str) -> Option<Self> {
        const ALL: [CmpOp; 12] = [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Gt,
            CmpOp::Le,
            CmpOp::Ge,
            CmpOp::Contains,
            CmpOp::NotContains,
            CmpOp::StartsWith,
            CmpOp::NotStartsWith,
            CmpOp::EndsWith,
            CmpOp::NotEndsWith,
        ];
        ALL.into_iter().find(|op| op.symbol() == symbol)
    }

    /// True for the negated operators, which hold on absent properties.
    pub fn is_negated(self) -> bool {
        matches!(
            self,
            CmpOp::Ne | CmpOp::NotContains | CmpOp::NotStartsWith | CmpOp::NotEndsWith
        )
    }

    /// Returns the positive form of a negated operator, or the operator itself.
    pub fn positive(self) -> Self {
        match self {
            CmpOp::Ne => CmpOp::Eq,
            CmpOp::NotContains => CmpOp::Contains,
            CmpOp::NotStartsWith => CmpOp::StartsWith,
            CmpOp::NotEndsWith => CmpOp::EndsWith,
            other => other,
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Undefined,
    Regex {
        pattern: String,
        flags: String,
    },
    Date(DateExpr),
    /// `${ param.name }`.
    Param(String),
}

/// A date value; both forms evaluate to epoch milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub enum DateExpr {
    /// `date.now [± amount unit]`.
    Now { offset: Option<DateOffset> },
    /// `date(ISO-8601)` with its value in epoch milliseconds.
    Absolute { text: String, millis: i64 },
}

/// `± amount unit` after `date.now`.
#[derive(Debug, Clone, PartialEq)]
pub struct DateOffset {
    pub negative: bool,
    pub amount: i64,
    pub unit: DateUnit,
}

/// Units of a relative date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DateUnit {
    Hour,
    Day,
    Month,
    Year,
}

impl DateUnit {
    /// Parses a unit name (`hr`, `hours`, `days`, `mo`, `yrs`, …).
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "hour" | "hr" | "hours" | "hrs" => Some(DateUnit::Hour),
            "day" | "days" => Some(DateUnit::Day),
            "month" | "mo" | "months" | "mos" => Some(DateUnit::Month),
            "year" | "yr" | "years" | "yrs" => Some(DateUnit::Year),
            _ => None,
        }
    }

    /// Returns the canonical plural name.
    pub fn name(self) -> &'static str {
        match self {
            DateUnit::Hour => "hours",
            DateUnit::Day => "days",
            DateUnit::Month => "months",
            DateUnit::Year => "years",
        }
    }

    /// Returns the length of one unit in milliseconds; months are 30 days and years 365 days.
    pub fn millis(self) -> i64 {
        const HOUR: i64 = 3_600_000;
        match self {
            DateUnit::Hour => HOUR,
            DateUnit::Day => 24 * HOUR,
            DateUnit::Month => 30 * 24 * HOUR,
            DateUnit::Year => 365 * 24 * HOUR,
        }
    }
}

/// The RETURN clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Return {
    Tree,
    Items(Vec<ReturnItem>),
}

/// One RETURN column.
#[derive(Debug, Clone, PartialEq)]
pub struct ReturnItem {
    pub expr: Expr,
    pub alias: Option<String>,
}

/// A RETURN expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Literal),
    /// A bare alias: the entity itself.
    Alias(Ident),
    /// `alias.*`.
    AllProps(Ident),
    /// `alias.prop`.
    Prop(PropRef),
    Call {
        func: Func,
        args: Vec<Expr>,
        span: Span,
    },
    Binary {
        op: MathOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Group(Box<Expr>),
}

/// Arithmetic operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MathOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

impl MathOp {
    /// Returns the operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            MathOp::Add => "+",
            MathOp::Sub => "-",
            MathOp::Mul => "*",
            MathOp::Div => "/",
            MathOp::Pow => "^",
        }
    }
}

/// Functions allowed in RETURN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Count,
    Min,
    Max,
    Avg,
    Sum,
    Concat,
    Merge,
    Abs,
    Sqrt,
    Ceil,
    Floor,
    Round,
    Coalesce,
}

impl Func {
    const ALL: [Func; 13] = [
        Func::Count,
        Func::Min,
        Func::Max,
        Func::Avg,
        Func::Sum,
        Func::Concat,
        Func::Merge,
        Func::Abs,
        Func::Sqrt,
        Func::Ceil,
        Func::Floor,
        Func::Round,
        Func::Coalesce,
    ];

    /// Returns the function for a case-insensitive name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(name))
    }

    /// Returns the lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Func::Count => "count",
            Func::Min => "min",
            Func::Max => "max",
            Func::Avg => "avg",
            Func::Sum => "sum",
            Func::Concat => "concat",
            Func::Merge => "merge",
            Func::Abs => "abs",
            Func::Sqrt => "sqrt",
            Func::Ceil => "ceil",
            Func::Floor => "floor",
            Func::Round => "round",
            Func::Coalesce => "coalesce",
        }
    }

    /// True for aggregates, which group rows.
    pub fn is_aggregate(self) -> bool {
        matches!(
            self,
            Func::Count | Func::Min | Func::Max | Func::Avg | Func::Sum
        )
    }
}

/// `ORDER BY key [ASC|DESC]`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub key: OrderKey,
    pub descending: bool,
}

/// The sort key of ORDER BY.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderKey {
    /// `alias.prop`.
    Prop(PropRef),
    /// A RETURN column alias.
    Column(Ident),
}
