//! `qgraph query`: runs one J1QL query on the local graph and prints the result.

use std::io::Read as _;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use qgraph_cli::db::{DEFAULT_DB_FILE, DbArgs};
use qgraph_query::{QueryOptions, format, run_query};
use qgraph_store::SqliteStore;

/// Arguments of `qgraph query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The J1QL query, or `-` to read it from standard input.
    pub query: String,
    /// Output format; TREE results print as JSON vertices and edges in every format but table.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub db: DbArgs,
    /// Rows to skip, from the cursor printed with the previous page.
    #[arg(long, default_value_t = 0)]
    pub cursor: u64,
    /// Rows per page when the query has no LIMIT.
    #[arg(long, default_value_t = qgraph_query::DEFAULT_PAGE_SIZE, value_parser = clap::value_parser!(u64).range(1..))]
    pub page_size: u64,
}

/// Output formats of `qgraph query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// Runs the query and returns the text to print.
pub fn run(args: &QueryArgs) -> anyhow::Result<String> {
    let text = query_text(&args.query)?;
    let db = args.db.resolve(DEFAULT_DB_FILE)?;
    // Opening a missing file would create an empty graph, so every query would return no rows.
    if !db.exists() {
        anyhow::bail!(
            "graph database {} not found: set --db or QGRAPH_DB to the file a sync wrote",
            db.display()
        );
    }
    let store =
        SqliteStore::open(&db).with_context(|| format!("failed to open {}", db.display()))?;
    let mut options = QueryOptions::at(qgraph_cli::now_ms());
    options.cursor = args.cursor;
    options.page_size = args.page_size;
    let result = run_query(&store, &text, &options)?;
    Ok(match args.format {
        OutputFormat::Table => format::to_table(&result),
        OutputFormat::Csv => format::to_csv(&result),
        OutputFormat::Json => {
            let mut json = serde_json::to_string_pretty(&format::to_json(&result))?;
            json.push('\n');
            json
        }
    })
}

fn query_text(argument: &str) -> anyhow::Result<String> {
    if argument != "-" {
        return Ok(argument.to_owned());
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("failed to read the query from standard input")?;
    Ok(text)
}
