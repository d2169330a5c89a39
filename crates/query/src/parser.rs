//! Recursive-descent parser from J1QL text to [`Query`].

use crate::ast::{
    BoolExpr, CmpOp, Comparison, Connective, DateExpr, DateOffset, DateUnit, Direction, EntityName,
    Expr, Func, Hop, Ident, Literal, MathOp, Node, Operand, OrderBy, OrderKey, PropRef, Query, Rel,
    Return, ReturnItem, Selector, Step, Verb,
};
use crate::dates::parse_iso_date;
use crate::error::QueryError;
use crate::lexer::{Lexer, Tok, Token};
use crate::span::Span;

/// Words that end a selector or cannot start one.
const CLAUSE_WORDS: &[&str] = &[
    "FIND", "UNIQUE", "WITH", "AS", "THAT", "WHERE", "RETURN", "ORDER", "SKIP", "LIMIT", "AND",
    "OR",
];

/// Maximum length of a query text, in bytes. The other limits (hops, value
/// sets, comparisons) keep a valid query far smaller than this.
pub const MAX_QUERY_BYTES: usize = 1 << 20;

/// Parses a J1QL query. The result is syntax only; see [`crate::check`] for alias rules.
pub fn parse(source: &str) -> Result<Query, QueryError> {
    if source.len() > MAX_QUERY_BYTES {
        return Err(QueryError::TooLarge {
            what: "the query",
            unit: "bytes",
            found: source.len(),
            limit: MAX_QUERY_BYTES,
            advice: "split it into smaller queries",
            line: 1,
            column: 1,
        });
    }
    let mut parser = Parser::new(source)?;
    parser.query()
}

struct Parser<'a> {
    lexer: Lexer<'a>,
    current: Token,
    /// End offset of the last consumed token, for spans.
    last_end: usize,
    /// Open parentheses around the current position, bounded so hostile input cannot exhaust the stack.
    depth: usize,
    /// Arithmetic operators so far; their trees nest, so they are bounded like parentheses.
    math_ops: usize,
}

/// Deepest nesting accepted, counting parentheses, function calls and `^`
/// (a right-associative chain of `^` nests like parentheses).
const MAX_DEPTH: usize = 64;

/// Most arithmetic operators accepted in one query.
const MAX_MATH_OPS: usize = 256;

impl<'a> Parser<'a> {
    fn new(source: &'a str) -> Result<Self, QueryError> {
        let mut lexer = Lexer::new(source);
        let current = lexer.next_token()?;
        Ok(Parser {
            lexer,
            current,
            last_end: 0,
            depth: 0,
            math_ops: 0,
        })
    }

    fn bump(&mut self) -> Result<Token, QueryError> {
        let next = self.lexer.next_token()?;
        let token = std::mem::replace(&mut self.current, next);
        self.last_end = token.span.end;
        Ok(token)
    }

    fn span_from(&self, start: Span) -> Span {
        Span {
            end: self.last_end.max(start.start),
            ..start
        }
    }

    fn error(&self, expected: &str) -> QueryError {
        QueryError::Syntax {
            line: self.current.span.line,
            column: self.current.span.column,
            found: self.current.tok.describe(),
            expected: expected.to_owned(),
        }
    }

    fn is_kw(&self, word: &str) -> bool {
        matches!(&self.current.tok, Tok::Ident(s) if s.eq_ignore_ascii_case(word))
    }

    fn is_clause_word(&self) -> bool {
        CLAUSE_WORDS.iter().any(|w| self.is_kw(w))
    }

    fn eat_kw(&mut self, word: &str) -> Result<bool, QueryError> {
        if self.is_kw(word) {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_kw(&mut self, word: &str) -> Result<(), QueryError> {
        if self.eat_kw(word)? {
            return Ok(());
        }
        Err(self.error(&format!("`{word}`")))
    }

    fn is_sym(&self, symbol: &str) -> bool {
        matches!(&self.current.tok, Tok::Symbol(s) if *s == symbol)
    }

    fn eat_sym(&mut self, symbol: &str) -> Result<bool, QueryError> {
        if self.is_sym(symbol) {
            self.bump()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect_sym(&mut self, symbol: &str) -> Result<(), QueryError> {
        if self.eat_sym(symbol)? {
            return Ok(());
        }
        Err(self.error(&format!("`{symbol}`")))
    }

    fn ident(&mut self, expected: &str) -> Result<Ident, QueryError> {
        match &self.current.tok {
            Tok::Ident(name) => {
                let ident = Ident {
                    name: name.clone(),
                    span: self.current.span,
                };
                self.bump()?;
                Ok(ident)
            }
            _ => Err(self.error(expected)),
        }
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let start = self.current.span;
        // A query may start with a quoted text and no FIND.
        if !matches!(self.current.tok, Tok::Str(_)) {
            self.expect_kw("FIND")?;
        }
        let unique = self.eat_kw("UNIQUE")?;
        let start_node = self.node()?;
        let steps = self.steps()?;

        let where_clause = if self.eat_kw("WHERE")? {
            Some(self.bool_expr(true)?)
        } else {
            None
        };
        let return_clause = self.return_clause()?;
        let order_by = self.order_by()?;
        let skip = self.count_clause("SKIP")?;
        let limit = self.count_clause("LIMIT")?;

        if self.current.tok != Tok::End {
            return Err(self.error(
                "`THAT`, `WHERE`, `RETURN`, `ORDER BY`, `SKIP`, `LIMIT` or the end of the query",
            ));
        }
        Ok(Query {
            unique,
            start: start_node,
            steps,
            where_clause,
            return_clause,
            order_by,
            skip,
            limit,
            span: self.span_from(start),
        })
    }

    fn node(&mut self) -> Result<Node, QueryError> {
        let start = self.current.span;
        let selector = self.selector()?;
        let filter = if self.eat_kw("WITH")? {
            Some(self.bool_expr(false)?)
        } else {
            None
        };
        let alias = self.alias()?;
        Ok(Node {
            selector,
            filter,
            alias,
            span: self.span_from(start),
        })
    }

    fn alias(&mut self) -> Result<Option<Ident>, QueryError> {
        if self.eat_kw("AS")? {
            return Ok(Some(self.ident("an alias name")?));
        }
        Ok(None)
    }

    fn selector(&mut self) -> Result<Selector, QueryError> {
        const EXPECTED: &str = "an entity class, type, `*`, `(`, `#tag` or a quoted text";
        match &self.current.tok {
            Tok::Symbol("*") => {
                self.bump()?;
                Ok(Selector::Any)
            }
            Tok::Symbol("(") => {
                self.bump()?;
                let mut names = vec![self.entity_name()?];
                while self.eat_sym("|")? {
                    names.push(self.entity_name()?);
                }
                self.expect_sym(")")?;
                Ok(Selector::Names(names))
            }
            Tok::Symbol("#") => self.smart_selector(),
            Tok::Str(text) => {
                let text = text.clone();
                self.bump()?;
                Ok(Selector::Text(text))
            }
            Tok::Ident(_) | Tok::Number(_) if !self.is_clause_word() => {
                Ok(Selector::Names(vec![self.entity_name()?]))
            }
            _ => Err(self.error(EXPECTED)),
        }
    }

    fn smart_selector(&mut self) -> Result<Selector, QueryError> {
        let mut tags = Vec::new();
        while self.eat_sym("#")? {
            tags.push(self.ident("a tag name after `#`")?.name);
        }
        let name = match self.current.tok {
            Tok::Ident(_) if !self.is_clause_word() => Some(self.entity_name()?),
            _ => None,
        };
        Ok(Selector::Smart { tags, name })
    }

    /// Reads a class or type name; type names may contain `-`, which the lexer splits.
    fn entity_name(&mut self) -> Result<EntityName, QueryError> {
        let mut text = match &self.current.tok {
            Tok::Ident(s) | Tok::Number(s) if !self.is_clause_word() => s.clone(),
            _ => return Err(self.error("an entity class or type")),
        };
        self.bump()?;
        loop {
            let glued = match &self.current.tok {
                _ if self.current.spaced => None,
                Tok::Ident(s) | Tok::Number(s) => Some(s.clone()),
                Tok::Symbol("-") => Some("-".to_owned()),
                _ => None,
            };
            match glued {
                Some(piece) => {
                    text.push_str(&piece);
                    self.bump()?;
                }
                None => break,
            }
        }
        Ok(EntityName::from_text(&text))
    }

    fn steps(&mut self) -> Result<Vec<Step>, QueryError> {
        let mut steps = Vec::new();
        loop {
            if self.is_kw("THAT") {
                steps.push(Step::Hop(Box::new(self.hop()?)));
            } else if self.is_sym("(") {
                steps.push(self.optional()?);
            } else {
                return Ok(steps);
            }
        }
    }

    fn optional(&mut self) -> Result<Step, QueryError> {
        let start = self.current.span;
        self.expect_sym("(")?;
        if !self.is_kw("THAT") {
            return Err(self.error("`THAT` to start an optional traversal"));
        }
        let mut hops = Vec::new();
        while self.is_kw("THAT") {
            hops.push(self.hop()?);
        }
        self.expect_sym(")")?;
        self.expect_sym("?")?;
        let alias = self.alias()?;
        Ok(Step::Optional {
            hops,
            alias,
            span: self.span_from(start),
        })
    }

    fn hop(&mut self) -> Result<Hop, QueryError> {
        self.expect_kw("THAT")?;
        let rel = self.rel()?;
        let node = self.node()?;
        Ok(Hop { rel, node })
    }

    fn rel(&mut self) -> Result<Rel, QueryError> {
        let start = self.current.span;
        let negated = self.eat_sym("!")?;
        let verbs = if self.eat_sym("(")? {
            let mut verbs = vec![self.verb()?];
            while self.eat_sym("|")? {
                verbs.push(self.verb()?);
            }
            self.expect_sym(")")?;
            verbs
        } else {
            vec![self.verb()?]
        };
        let direction = if self.eat_sym(">>")? {
            Some(Direction::Outgoing)
        } else if self.eat_sym("<<")? {
            Some(Direction::Incoming)
        } else {
            None
        };
        let alias = self.alias()?;
        Ok(Rel {
            negated,
            verbs,
            direction,
            alias,
            span: self.span_from(start),
        })
    }

    fn verb(&mut self) -> Result<Verb, QueryError> {
        const EXPECTED: &str = "a relationship verb such as HAS or RELATES TO";
        if self.is_clause_word() {
            return Err(self.error(EXPECTED));
        }
        let word = self.ident(EXPECTED)?;
        if word.name.eq_ignore_ascii_case("RELATES") {
            self.expect_kw("TO")?;
            return Ok(Verb::Any);
        }
        // `TO` after a verb is filler: CONTRIBUTES TO ≡ CONTRIBUTES.
        self.eat_kw("TO")?;
        Ok(Verb::Class(word.name.to_ascii_uppercase()))
    }

    fn bool_expr(&mut self, in_where: bool) -> Result<BoolExpr, QueryError> {
        let mut terms = vec![self.and_expr(in_where)?];
        while self.eat_kw("OR")? {
            terms.push(self.and_expr(in_where)?);
        }
        Ok(collapse(terms, BoolExpr::Or))
    }

    fn and_expr(&mut self, in_where: bool) -> Result<BoolExpr, QueryError> {
        let mut terms = vec![self.bool_atom(in_where)?];
        while self.eat_kw("AND")? {
            terms.push(self.bool_atom(in_where)?);
        }
        Ok(collapse(terms, BoolExpr::And))
    }

    fn enter(&mut self) -> Result<(), QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(QueryError::Unsupported {
                feature: format!(
                    "nesting deeper than {MAX_DEPTH} levels of parentheses, function calls and `^`"
                ),
                line: self.current.span.line,
                column: self.current.span.column,
            });
        }
        Ok(())
    }

    fn binary(&mut self, op: MathOp, lhs: Expr, rhs: Expr) -> Result<Expr, QueryError> {
        self.math_ops += 1;
        if self.math_ops > MAX_MATH_OPS {
            return Err(QueryError::Unsupported {
                feature: format!("more than {MAX_MATH_OPS} arithmetic operators"),
                line: self.current.span.line,
                column: self.current.span.column,
            });
        }
        Ok(Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        })
    }

    fn bool_atom(&mut self, in_where: bool) -> Result<BoolExpr, QueryError> {
        if self.eat_sym("(")? {
            self.enter()?;
            let inner = self.bool_expr(in_where)?;
            self.depth -= 1;
            self.expect_sym(")")?;
            return Ok(BoolExpr::Group(Box::new(inner)));
        }
        Ok(BoolExpr::Compare(Box::new(self.comparison(in_where)?)))
    }

    fn comparison(&mut self, in_where: bool) -> Result<Comparison, QueryError> {
        let start = self.current.span;
        let lhs = self.filter_property(in_where)?;
        let op = match &self.current.tok {
            Tok::Symbol(s) => CmpOp::from_symbol(s),
            _ => None,
        }
        .ok_or_else(|| self.error("a comparison operator (= != < > <= >= ~= !~= ^= !^= $= !$=)"))?;
        self.bump()?;
        let rhs = self.operand(in_where)?;
        Ok(Comparison {
            lhs,
            op,
            rhs,
            span: self.span_from(start),
        })
    }

    /// Reads the left side of a comparison: a flat property name in WITH, `alias.property` in WHERE.
    fn filter_property(&mut self, in_where: bool) -> Result<PropRef, QueryError> {
        let start = self.current.span;
        if let Tok::Bracketed(name) = &self.current.tok {
            let name = name.clone();
            self.bump()?;
            if in_where {
                return Err(missing_alias(&name, start));
            }
            return Ok(PropRef {
                alias: None,
                name,
                span: start,
            });
        }
        if self.is_clause_word() {
            return Err(self.error("a property name"));
        }
        let first = self.ident("a property name")?;
        if !in_where {
            let mut name = first.name;
            while self.eat_sym(".")? {
                name.push('.');
                name.push_str(&self.ident("a property name after `.`")?.name);
            }
            return Ok(PropRef {
                alias: None,
                name,
                span: self.span_from(start),
            });
        }
        if !self.is_sym(".") {
            return Err(missing_alias(&first.name, start));
        }
        self.aliased_property(first, start)
    }

    /// Reads `.path` or `.[raw name]` after an alias.
    fn aliased_property(&mut self, alias: Ident, start: Span) -> Result<PropRef, QueryError> {
        self.expect_sym(".")?;
        let name = self.property_path()?;
        Ok(PropRef {
            alias: Some(alias),
            name,
            span: self.span_from(start),
        })
    }

    fn property_path(&mut self) -> Result<String, QueryError> {
        if let Tok::Bracketed(name) = &self.current.tok {
            let name = name.clone();
            self.bump()?;
            return Ok(name);
        }
        let mut name = self.ident("a property name")?.name;
        while self.eat_sym(".")? {
            name.push('.');
            name.push_str(&self.ident("a property name after `.`")?.name);
        }
        Ok(name)
    }

    fn operand(&mut self, in_where: bool) -> Result<Operand, QueryError> {
        if self.eat_sym("(")? {
            return self.value_set();
        }
        if in_where
            && let Tok::Ident(word) = &self.current.tok
            && !is_value_word(word)
        {
            let start = self.current.span;
            let alias = self.ident("an alias")?;
            if !self.is_sym(".") {
                return Err(QueryError::Syntax {
                    line: start.line,
                    column: start.column,
                    found: format!("`{}`", alias.name),
                    expected: "a value or `alias.property`; quote strings".to_owned(),
                });
            }
            return Ok(Operand::Prop(self.aliased_property(alias, start)?));
        }
        Ok(Operand::Value(self.literal()?))
    }

    fn value_set(&mut self) -> Result<Operand, QueryError> {
        let mut values = vec![self.literal()?];
        let mut connective = None;
        while !self.eat_sym(")")? {
            let this = if self.eat_kw("AND")? {
                Connective::And
            } else if self.eat_kw("OR")? {
                Connective::Or
            } else {
                return Err(self.error("`AND`, `OR` or `)` in a value set"));
            };
            if connective.is_some_and(|c| c != this) {
                return Err(QueryError::Unsupported {
                    feature: "mixing AND and OR in one value set".to_owned(),
                    line: self.current.span.line,
                    column: self.current.span.column,
                });
            }
            connective = Some(this);
            values.push(self.literal()?);
        }
        Ok(Operand::Set {
            connective: connective.unwrap_or(Connective::Or),
            values,
        })
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        const EXPECTED: &str =
            "a value: quoted string, number, true, false, undefined, /regex/, date.now or date(…)";
        let token = self.current.clone();
        match &token.tok {
            Tok::Str(s) => {
                self.bump()?;
                Ok(Literal::Str(s.clone()))
            }
            Tok::Number(text) => {
                self.bump()?;
                number_literal(text, false, token.span)
            }
            Tok::Symbol("-") => {
                self.bump()?;
                match self.current.tok.clone() {
                    Tok::Number(text) => {
                        self.bump()?;
                        number_literal(&text, true, token.span)
                    }
                    _ => Err(self.error("a number after `-`")),
                }
            }
            Tok::Symbol("/") => self.regex(token.span),
            Tok::Symbol("$") => self.parameter(),
            Tok::Ident(word) => match word.to_ascii_lowercase().as_str() {
                "true" => self.bump().map(|_| Literal::Bool(true)),
                "false" => self.bump().map(|_| Literal::Bool(false)),
                "undefined" => self.bump().map(|_| Literal::Undefined),
                "date" => self.date(),
                _ => Err(self.error(&format!("{EXPECTED} (strings must be quoted)"))),
            },
            _ => Err(self.error(EXPECTED)),
        }
    }

    fn regex(&mut self, slash: Span) -> Result<Literal, QueryError> {
        let (pattern, flags) = self.lexer.scan_regex(slash.start)?;
        if let Some(bad) = flags.chars().find(|c| *c != 'i') {
            return Err(QueryError::InvalidLiteral {
                what: "regex flag",
                text: bad.to_string(),
                hint: "the only flag is i (case-insensitive)".to_owned(),
                line: slash.line,
                column: slash.column,
            });
        }
        self.last_end = self.lexer.position();
        self.current = self.lexer.next_token()?;
        Ok(Literal::Regex { pattern, flags })
    }

    fn parameter(&mut self) -> Result<Literal, QueryError> {
        self.expect_sym("$")?;
        self.expect_sym("{")?;
        let scope = self.ident("`param`")?;
        if !scope.name.eq_ignore_ascii_case("param") {
            return Err(QueryError::Syntax {
                line: scope.span.line,
                column: scope.span.column,
                found: format!("`{}`", scope.name),
                expected: "`param`".to_owned(),
            });
        }
        self.expect_sym(".")?;
        let name = self.ident("a parameter name")?.name;
        self.expect_sym("}")?;
        Ok(Literal::Param(name))
    }

    fn date(&mut self) -> Result<Literal, QueryError> {
        let date_token = self.bump()?;
        if self.is_sym("(") {
            // The ISO text after `(` is scanned raw because `-` and `:` are not tokens of a date.
            self.lexer.seek(self.current.span.end);
            let (text, span) = self.lexer.scan_until_paren()?;
            self.last_end = self.lexer.position();
            self.current = self.lexer.next_token()?;
            let millis = parse_iso_date(&text).ok_or_else(|| QueryError::InvalidLiteral {
                what: "date",
                text: text.clone(),
                hint: "expected a calendar date as YYYY, YYYY-MM, YYYY-MM-DD or \
                       YYYY-MM-DDThh[:mm[:ss[.sss]]], with an optional Z or +hh:mm zone"
                    .to_owned(),
                line: span.line,
                column: span.column,
            })?;
            return Ok(Literal::Date(DateExpr::Absolute { text, millis }));
        }
        self.expect_sym(".")?;
        let now = self.ident("`now`")?;
        if !now.name.eq_ignore_ascii_case("now") {
            return Err(QueryError::Syntax {
                line: now.span.line,
                column: now.span.column,
                found: format!("`{}`", now.name),
                expected: "`now` after `date.`".to_owned(),
            });
        }
        let negative = if self.eat_sym("-")? {
            true
        } else if self.eat_sym("+")? {
            false
        } else {
            return Ok(Literal::Date(DateExpr::Now { offset: None }));
        };
        let offset = self.date_offset(negative, date_token.span)?;
        Ok(Literal::Date(DateExpr::Now {
            offset: Some(offset),
        }))
    }

    fn date_offset(&mut self, negative: bool, at: Span) -> Result<DateOffset, QueryError> {
        let amount = match &self.current.tok {
            Tok::Number(text) => text.parse::<i64>().ok(),
            _ => None,
        }
        .ok_or_else(|| self.error("a whole number of hours, days, months or years"))?;
        self.bump()?;
        let unit = match &self.current.tok {
            Tok::Ident(name) => DateUnit::from_name(name),
            _ => None,
        }
        .ok_or_else(|| self.error("a date unit (hours, days, months, years)"))?;
        self.bump()?;
        if amount.checked_mul(unit.millis()).is_none() {
            return Err(QueryError::InvalidLiteral {
                what: "date offset",
                text: amount.to_string(),
                hint: "the offset is too large to be a date; use a smaller amount".to_owned(),
                line: at.line,
                column: at.column,
            });
        }
        Ok(DateOffset {
            negative,
            amount,
            unit,
        })
    }

    fn return_clause(&mut self) -> Result<Option<Return>, QueryError> {
        if !self.eat_kw("RETURN")? {
            return Ok(None);
        }
        if self.eat_kw("TREE")? {
            return Ok(Some(Return::Tree));
        }
        let mut items = vec![self.return_item()?];
        while self.eat_sym(",")? {
            items.push(self.return_item()?);
        }
        Ok(Some(Return::Items(items)))
    }

    fn return_item(&mut self) -> Result<ReturnItem, QueryError> {
        let expr = self.expr()?;
        let alias = if self.eat_kw("AS")? {
            match self.current.tok.clone() {
                Tok::Ident(name) | Tok::Str(name) => {
                    self.bump()?;
                    Some(name)
                }
                _ => return Err(self.error("a column name")),
            }
        } else {
            None
        };
        Ok(ReturnItem { expr, alias })
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        let mut lhs = self.term()?;
        loop {
            let op = if self.eat_sym("+")? {
                MathOp::Add
            } else if self.eat_sym("-")? {
                MathOp::Sub
            } else {
                return Ok(lhs);
            };
            let rhs = self.term()?;
            lhs = self.binary(op, lhs, rhs)?;
        }
    }

    fn term(&mut self) -> Result<Expr, QueryError> {
        let mut lhs = self.factor()?;
        loop {
            let op = if self.eat_sym("*")? {
                MathOp::Mul
            } else if self.eat_sym("/")? {
                MathOp::Div
            } else {
                return Ok(lhs);
            };
            let rhs = self.factor()?;
            lhs = self.binary(op, lhs, rhs)?;
        }
    }

    fn factor(&mut self) -> Result<Expr, QueryError> {
        let base = self.unary()?;
        if self.eat_sym("^")? {
            self.enter()?;
            let exponent = self.factor()?;
            self.depth -= 1;
            return self.binary(MathOp::Pow, base, exponent);
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        const EXPECTED: &str = "a property, alias, number, string, function call or `(`";
        let token = self.current.clone();
        match &token.tok {
            Tok::Number(_) | Tok::Str(_) | Tok::Symbol("-") => Ok(Expr::Literal(self.literal()?)),
            Tok::Symbol("(") => {
                self.bump()?;
                self.enter()?;
                let inner = self.expr()?;
                self.depth -= 1;
                self.expect_sym(")")?;
                Ok(Expr::Group(Box::new(inner)))
            }
            Tok::Ident(word) if word.eq_ignore_ascii_case("true") => {
                Ok(Expr::Literal(self.literal()?))
            }
            Tok::Ident(word) if word.eq_ignore_ascii_case("false") => {
                Ok(Expr::Literal(self.literal()?))
            }
            Tok::Ident(_) if !self.is_clause_word() => self.name_expr(),
            _ => Err(self.error(EXPECTED)),
        }
    }

    /// Reads a call, `alias`, `alias.*` or `alias.property`.
    fn name_expr(&mut self) -> Result<Expr, QueryError> {
        let start = self.current.span;
        let word = self.ident("a name")?;
        if self.is_sym("(") {
            return self.call(word, start);
        }
        if !self.is_sym(".") {
            return Ok(Expr::Alias(word));
        }
        self.bump()?;
        if self.eat_sym("*")? {
            return Ok(Expr::AllProps(word));
        }
        let name = self.property_path()?;
        Ok(Expr::Prop(PropRef {
            alias: Some(word),
            name,
            span: self.span_from(start),
        }))
    }

    fn call(&mut self, word: Ident, start: Span) -> Result<Expr, QueryError> {
        let func = Func::from_name(&word.name).ok_or_else(|| QueryError::Syntax {
            line: start.line,
            column: start.column,
            found: format!("`{}(`", word.name),
            expected: "a function: count, min, max, avg, sum, concat, merge, abs, sqrt, ceil, \
                       floor, round or coalesce"
                .to_owned(),
        })?;
        self.expect_sym("(")?;
        if self.is_sym("*") {
            return Err(QueryError::Unsupported {
                feature: format!("{}(*)", func.name()),
                line: self.current.span.line,
                column: self.current.span.column,
            });
        }
        self.enter()?;
        let mut args = Vec::new();
        if !self.is_sym(")") {
            args.push(self.expr()?);
            while self.eat_sym(",")? {
                args.push(self.expr()?);
            }
        }
        self.depth -= 1;
        self.expect_sym(")")?;
        Ok(Expr::Call {
            func,
            args,
            span: self.span_from(start),
        })
    }

    fn order_by(&mut self) -> Result<Option<OrderBy>, QueryError> {
        if !self.eat_kw("ORDER")? {
            return Ok(None);
        }
        self.expect_kw("BY")?;
        let start = self.current.span;
        let word = self.ident("a column name or `alias.property`")?;
        let key = if self.is_sym(".") {
            OrderKey::Prop(self.aliased_property(word, start)?)
        } else {
            OrderKey::Column(word)
        };
        let descending = if self.eat_kw("DESC")? {
            true
        } else {
            self.eat_kw("ASC")?;
            false
        };
        Ok(Some(OrderBy { key, descending }))
    }

    fn count_clause(&mut self, keyword: &str) -> Result<Option<u64>, QueryError> {
        if !self.eat_kw(keyword)? {
            return Ok(None);
        }
        let count = match &self.current.tok {
            Tok::Number(text) => text.parse::<u64>().ok(),
            _ => None,
        }
        .ok_or_else(|| match &self.current.tok {
            Tok::Number(_) => self.error(&format!(
                "a whole number from 0 to {} after {keyword}",
                u64::MAX
            )),
            _ => self.error(&format!("a whole number after {keyword}")),
        })?;
        self.bump()?;
        Ok(Some(count))
    }
}

fn collapse(mut terms: Vec<BoolExpr>, join: fn(Vec<BoolExpr>) -> BoolExpr) -> BoolExpr {
    if terms.len() == 1
        && let Some(only) = terms.pop()
    {
        return only;
    }
    join(terms)
}

fn is_value_word(word: &str) -> bool {
    ["true", "false", "undefined", "date"]
        .iter()
        .any(|w| w.eq_ignore_ascii_case(word))
}

fn missing_alias(property: &str, at: Span) -> QueryError {
    QueryError::MissingAlias {
        property: property.to_owned(),
        line: at.line,
        column: at.column,
    }
}

fn number_literal(text: &str, negative: bool, at: Span) -> Result<Literal, QueryError> {
    let signed = if negative {
        format!("-{text}")
    } else {
        text.to_owned()
    };
    if !text.contains('.')
        && let Ok(n) = signed.parse::<i64>()
    {
        return Ok(Literal::Int(n));
    }
    match signed.parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(Literal::Float(x)),
        _ => Err(QueryError::InvalidLiteral {
            what: "number",
            text: signed,
            hint: "expected a finite number".to_owned(),
            line: at.line,
            column: at.column,
        }),
    }
}
