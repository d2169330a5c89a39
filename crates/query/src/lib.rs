//! J1QL: lexer, parser with spans, an AST that prints back to J1QL, planner and evaluator on a `GraphStore`.

pub mod ast;
mod check;
mod dates;
mod error;
mod eval;
pub mod format;
mod lexer;
mod parser;
mod planner;
mod print;
mod pushdown;
mod rows;
mod span;
pub mod values;

pub use check::{Aliases, Binding, check};
pub use dates::date_millis;
pub use error::QueryError;
pub use eval::{
    DEFAULT_PAGE_SIZE, QueryOptions, QueryResult, RunError, TreeEdge, run_parsed, run_query,
};
pub use parser::{MAX_QUERY_BYTES, parse};
pub use span::Span;

/// Parses a query and checks its aliases.
pub fn parse_checked(source: &str) -> Result<(ast::Query, Aliases), QueryError> {
    let query = parse(source)?;
    let aliases = check(&query)?;
    Ok((query, aliases))
}
