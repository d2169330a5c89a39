//! `qgraph query`: runs one J1QL query on the local graph and prints the result.

use std::io::{Read as _, Write as _};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use qgraph_cli::db::{DEFAULT_DB_FILE, DbArgs, open_path};
use qgraph_cli::escape::{escape_result_controls, guard_result_formulas};
use qgraph_query::{QueryOptions, RunError, format, run_query};

/// Default of `--timeout`, in seconds: 15 times the slowest query goal on a million
/// findings (2 s, `BENCHMARKS.md`), yet short enough that a query with too many hops
/// does not hang the shell.
const DEFAULT_TIMEOUT_SECS: &str = "30";

/// Arguments of `qgraph query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The J1QL query, or `-` to read it from standard input.
    pub query: String,
    /// Output format. TREE results print as vertices and edges: a JSON object in json, and
    /// rows of kind, id, _key, _type or _class, from and to in table and csv.
    ///
    /// When more rows follow, the table ends with the --cursor of the next page, json has it
    /// as "cursor", and csv prints it on standard error so the CSV stays clean.
    /// The table shows control characters in values as escapes such as \u{1b}. In CSV, a
    /// text cell that starts with =, +, -, @, a tab or a carriage return gets a ' in front,
    /// so a spreadsheet shows it instead of running it as a formula. JSON keeps every value
    /// as stored.
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
    /// Time limit of the query in seconds (fractions allowed); 0 runs it without a limit.
    #[arg(long, env = "QGRAPH_QUERY_TIMEOUT", value_name = "SECONDS", default_value = DEFAULT_TIMEOUT_SECS, value_parser = parse_seconds)]
    pub timeout: Duration,
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
    // Opening a missing file would create an empty graph, so every query would return no rows.
    let db = args.db.resolve_existing(DEFAULT_DB_FILE)?;
    let store = open_path(&db)?;
    let mut options = QueryOptions::at(qgraph_cli::now_ms());
    options.cursor = args.cursor;
    options.page_size = args.page_size;
    options.timeout = (!args.timeout.is_zero()).then_some(args.timeout);
    let result = run_query(&store, &text, &options).map_err(|error| match error {
        RunError::TimedOut { .. } => {
            anyhow::anyhow!("{error}, or raise --timeout (in seconds, 0 for no limit)")
        }
        other => other.into(),
    })?;
    Ok(match args.format {
        OutputFormat::Table => format::to_table(&escape_result_controls(result)),
        OutputFormat::Csv => {
            if let Some(cursor) = result.next_cursor() {
                // Ignored on failure: a closed standard error must not lose the rows.
                let _ = writeln!(std::io::stderr(), "{}", format::more_rows_notice(cursor));
            }
            format::to_csv(&guard_result_formulas(result))
        }
        OutputFormat::Json => {
            let mut json = serde_json::to_string_pretty(&format::to_json(&result))?;
            json.push('\n');
            json
        }
    })
}

/// Parses a number of seconds, such as `30` or `0.5`, into a duration.
fn parse_seconds(text: &str) -> anyhow::Result<Duration> {
    let seconds: f64 = text
        .parse()
        .with_context(|| format!("invalid number of seconds {text:?}"))?;
    Duration::try_from_secs_f64(seconds).with_context(|| {
        format!("invalid number of seconds {text:?}: expected a finite number, 0 or more")
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
