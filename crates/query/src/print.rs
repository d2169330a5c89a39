//! Prints the AST back to J1QL. Printing then parsing gives an equal AST.

use std::fmt::{self, Display, Formatter, Write};

use crate::ast::{
    BoolExpr, Comparison, Connective, DateExpr, Direction, EntityName, Expr, Hop, Literal, Node,
    Operand, OrderBy, OrderKey, PropRef, Query, Rel, Return, ReturnItem, Selector, Step, Verb,
};

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("FIND ")?;
        if self.unique {
            f.write_str("UNIQUE ")?;
        }
        write!(f, "{}", self.start)?;
        for step in &self.steps {
            write!(f, " {step}")?;
        }
        if let Some(filter) = &self.where_clause {
            write!(f, " WHERE {filter}")?;
        }
        if let Some(ret) = &self.return_clause {
            write!(f, " RETURN {ret}")?;
        }
        if let Some(order) = &self.order_by {
            write!(f, " {order}")?;
        }
        if let Some(skip) = self.skip {
            write!(f, " SKIP {skip}")?;
        }
        if let Some(limit) = self.limit {
            write!(f, " LIMIT {limit}")?;
        }
        Ok(())
    }
}

impl Display for Node {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.selector)?;
        if let Some(filter) = &self.filter {
            write!(f, " WITH {filter}")?;
        }
        if let Some(alias) = &self.alias {
            write!(f, " AS {}", alias.name)?;
        }
        Ok(())
    }
}

impl Display for Selector {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Any => f.write_str("*"),
            Selector::Names(names) => write_alternation(f, names.iter().map(EntityName::text)),
            Selector::Smart { tags, name } => {
                for (i, tag) in tags.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    write!(f, "#{tag}")?;
                }
                if let Some(name) = name {
                    write!(f, " {}", name.text())?;
                }
                Ok(())
            }
            Selector::Text(text) => write_string(f, text),
        }
    }
}

fn write_alternation<'a>(
    f: &mut Formatter<'_>,
    items: impl ExactSizeIterator<Item = &'a str>,
) -> fmt::Result {
    let several = items.len() > 1;
    if several {
        f.write_char('(')?;
    }
    for (i, item) in items.enumerate() {
        if i > 0 {
            f.write_char('|')?;
        }
        f.write_str(item)?;
    }
    if several {
        f.write_char(')')?;
    }
    Ok(())
}

impl Display for Step {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Step::Hop(hop) => write!(f, "{hop}"),
            Step::Optional { hops, alias, .. } => {
                f.write_char('(')?;
                for (i, hop) in hops.iter().enumerate() {
                    if i > 0 {
                        f.write_char(' ')?;
                    }
                    write!(f, "{hop}")?;
                }
                f.write_str(")?")?;
                if let Some(alias) = alias {
                    write!(f, " AS {}", alias.name)?;
                }
                Ok(())
            }
        }
    }
}

impl Display for Hop {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "THAT {} {}", self.rel, self.node)
    }
}

impl Display for Rel {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.negated {
            f.write_char('!')?;
        }
        write_alternation(f, self.verbs.iter().map(Verb::text))?;
        match self.direction {
            Some(Direction::Outgoing) => f.write_str(" >>")?,
            Some(Direction::Incoming) => f.write_str(" <<")?,
            None => {}
        }
        if let Some(alias) = &self.alias {
            write!(f, " AS {}", alias.name)?;
        }
        Ok(())
    }
}

impl Verb {
    /// Returns the verb as written in a query.
    pub fn text(&self) -> &str {
        match self {
            Verb::Any => "RELATES TO",
            Verb::Class(class) => class,
        }
    }
}

impl Display for BoolExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            BoolExpr::Or(terms) => write_joined(f, terms, " OR "),
            BoolExpr::And(terms) => write_joined(f, terms, " AND "),
            BoolExpr::Group(inner) => write!(f, "({inner})"),
            BoolExpr::Compare(comparison) => write!(f, "{comparison}"),
        }
    }
}

fn write_joined<T: Display>(f: &mut Formatter<'_>, items: &[T], separator: &str) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(separator)?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

impl Display for Comparison {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.symbol(), self.rhs)
    }
}

impl Display for PropRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if let Some(alias) = &self.alias {
            write!(f, "{}.", alias.name)?;
        }
        write_property_name(f, &self.name)
    }
}

/// Writes a property name, in brackets when it is not a dotted path of identifiers.
fn write_property_name(f: &mut Formatter<'_>, name: &str) -> fmt::Result {
    let plain = !name.is_empty()
        && name.split('.').all(|segment| {
            segment.starts_with(|c: char| c.is_alphabetic() || c == '_')
                && segment.chars().all(|c| c.is_alphanumeric() || c == '_')
        });
    if plain {
        f.write_str(name)
    } else {
        write!(f, "[{name}]")
    }
}

impl Display for Operand {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Operand::Value(value) => write!(f, "{value}"),
            Operand::Prop(prop) => write!(f, "{prop}"),
            Operand::Set { connective, values } => {
                let separator = match connective {
                    Connective::And => " AND ",
                    Connective::Or => " OR ",
                };
                f.write_char('(')?;
                write_joined(f, values, separator)?;
                f.write_char(')')
            }
        }
    }
}

impl Display for Literal {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write_string(f, s),
            Literal::Int(n) => write!(f, "{n}"),
            Literal::Float(x) if x.fract() == 0.0 => write!(f, "{x:.1}"),
            Literal::Float(x) => write!(f, "{x}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Undefined => f.write_str("undefined"),
            Literal::Regex { pattern, flags } => {
                f.write_char('/')?;
                for c in pattern.chars() {
                    if c == '/' {
                        f.write_char('\\')?;
                    }
                    f.write_char(c)?;
                }
                write!(f, "/{flags}")
            }
            Literal::Date(date) => write!(f, "{date}"),
            Literal::Param(name) => write!(f, "${{param.{name}}}"),
        }
    }
}

impl Display for DateExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DateExpr::Absolute { text, .. } => write!(f, "date({text})"),
            DateExpr::Now { offset: None } => f.write_str("date.now"),
            DateExpr::Now {
                offset: Some(offset),
            } => {
                let sign = if offset.negative { '-' } else { '+' };
                write!(
                    f,
                    "date.now {sign} {} {}",
                    offset.amount,
                    offset.unit.name()
                )
            }
        }
    }
}

/// Writes a single-quoted string, escaping quotes and backslashes.
fn write_string(f: &mut Formatter<'_>, text: &str) -> fmt::Result {
    f.write_char('\'')?;
    for c in text.chars() {
        if c == '\'' || c == '\\' {
            f.write_char('\\')?;
        }
        f.write_char(c)?;
    }
    f.write_char('\'')
}

impl Display for Return {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Return::Tree => f.write_str("TREE"),
            Return::Items(items) => write_joined(f, items, ", "),
        }
    }
}

impl Display for ReturnItem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.expr)?;
        if let Some(alias) = &self.alias {
            let plain = alias.starts_with(|c: char| c.is_alphabetic() || c == '_')
                && alias.chars().all(|c| c.is_alphanumeric() || c == '_');
            if plain {
                write!(f, " AS {alias}")?;
            } else {
                f.write_str(" AS ")?;
                write_string(f, alias)?;
            }
        }
        Ok(())
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Literal(value) => write!(f, "{value}"),
            Expr::Alias(alias) => f.write_str(&alias.name),
            Expr::AllProps(alias) => write!(f, "{}.*", alias.name),
            Expr::Prop(prop) => write!(f, "{prop}"),
            Expr::Call { func, args, .. } => {
                write!(f, "{}(", func.name())?;
                write_joined(f, args, ", ")?;
                f.write_char(')')
            }
            Expr::Binary { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.symbol()),
            Expr::Group(inner) => write!(f, "({inner})"),
        }
    }
}

impl Display for OrderBy {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("ORDER BY ")?;
        match &self.key {
            OrderKey::Prop(prop) => write!(f, "{prop}")?,
            OrderKey::Column(column) => f.write_str(&column.name)?,
        }
        if self.descending {
            f.write_str(" DESC")?;
        }
        Ok(())
    }
}
