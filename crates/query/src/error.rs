//! Errors of parsing, checking and running a J1QL query.

use thiserror::Error;

/// A J1QL query that could not be parsed or is not valid.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum QueryError {
    /// The text does not follow the grammar.
    #[error("syntax error at line {line}, column {column}: expected {expected}, found {found}")]
    Syntax {
        line: usize,
        column: usize,
        found: String,
        expected: String,
    },
    /// A string, regex, bracketed name or comment is not closed.
    #[error("syntax error at line {line}, column {column}: {what} is not closed")]
    Unterminated {
        line: usize,
        column: usize,
        what: &'static str,
    },
    /// An alias is a reserved word.
    #[error("line {line}, column {column}: `{alias}` is a reserved word and cannot be an alias")]
    ReservedAlias {
        alias: String,
        line: usize,
        column: usize,
    },
    /// An alias is defined twice.
    #[error("line {line}, column {column}: alias `{alias}` is already defined")]
    DuplicateAlias {
        alias: String,
        line: usize,
        column: usize,
    },
    /// A name used as `alias.property` is neither an alias nor a class, type or verb used once.
    #[error(
        "line {line}, column {column}: `{alias}` is not defined; define it with AS after a selector or verb"
    )]
    UnknownAlias {
        alias: String,
        line: usize,
        column: usize,
    },
    /// A class, type or verb used as an alias appears more than once in the query.
    #[error(
        "line {line}, column {column}: `{alias}` appears more than once in the query, so it is not \
         a default alias; name the one you mean with AS"
    )]
    AmbiguousAlias {
        alias: String,
        line: usize,
        column: usize,
    },
    /// A property in WHERE, RETURN or ORDER BY is not prefixed with an alias.
    #[error(
        "line {line}, column {column}: `{property}` needs an alias, as in `alias.{property}`; define the alias with AS"
    )]
    MissingAlias {
        property: String,
        line: usize,
        column: usize,
    },
    /// `UNIQUE` was used without `RETURN`.
    #[error("line {line}, column {column}: UNIQUE needs a RETURN clause")]
    UniqueWithoutReturn { line: usize, column: usize },
    /// A date, number or regex literal is out of range or malformed.
    #[error("line {line}, column {column}: invalid {what} `{text}`: {hint}")]
    InvalidLiteral {
        what: &'static str,
        text: String,
        /// The reason, or the forms accepted.
        hint: String,
        line: usize,
        column: usize,
    },
    /// A construct that parses but that this engine does not run.
    #[error("line {line}, column {column}: {feature} is not supported")]
    Unsupported {
        feature: String,
        line: usize,
        column: usize,
    },
    /// A query is larger than one SQL statement of the store can run.
    #[error(
        "line {line}, column {column}: {what} has {found} {unit}, more than the limit of {limit}; {advice}"
    )]
    TooLarge {
        what: &'static str,
        unit: &'static str,
        found: usize,
        limit: usize,
        advice: &'static str,
        line: usize,
        column: usize,
    },
    /// A function call has the wrong arguments.
    #[error("line {line}, column {column}: {message}")]
    InvalidCall {
        message: String,
        line: usize,
        column: usize,
    },
    /// Two RETURN columns have the same name.
    #[error(
        "column `{name}` appears more than once in RETURN; give each column its own name with AS"
    )]
    DuplicateColumn { name: String },
    /// A `${ param.name }` value was used without a value for it.
    #[error("parameter `{name}` has no value")]
    UnboundParameter { name: String },
}
