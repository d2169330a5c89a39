//! `qgraph demo`: the command-line side of the demo; the work is in the library's `demo` module.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use qgraph_cli::db::{DEMO_DB_FILE, DbArgs, DbPathError};
use qgraph_cli::demo::{
    DEFAULT_HOSTS, DEFAULT_SEED, DemoOptions, DemoOutcome, DemoSource, REPOSITORY_FIXTURES,
    run_demo,
};
use qgraph_cli::progress::{Progress, ProgressMode};
use qgraph_store::TypeCount;

use crate::integration_cmd::{print_summary, runtime};
use crate::output::{OutputError, out, outln, status_after_output};

/// Arguments of `qgraph demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Graph database of the demo [default: qgraph-demo.db in the per-user data directory].
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Hosts of the generated subscription.
    #[arg(long, default_value_t = DEFAULT_HOSTS, conflicts_with = "fixtures")]
    hosts: u64,
    /// Seed of the generated subscription; the same seed gives the same data.
    #[arg(long, default_value_t = DEFAULT_SEED, conflicts_with = "fixtures")]
    seed: u64,
    /// Replay recorded Qualys responses from DIR instead of generating a subscription
    /// [default DIR: the repository's shared/fixtures/qualys].
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    fixtures: Option<Option<PathBuf>>,
    /// Print no progress.
    #[arg(long, short)]
    quiet: bool,
}

/// Runs `qgraph demo`.
pub fn run(args: &DemoArgs) -> anyhow::Result<ExitCode> {
    let db_path = DbArgs {
        db: args.db.clone(),
    }
    .resolve_for_create(DEMO_DB_FILE)
    .map_err(|error| match error {
        DbPathError::NoDataDir { .. } => DbPathError::NoDataDir { reads_env: false },
        other => other,
    })?;
    let options = DemoOptions {
        source: source(args)?,
        db_path: db_path.clone(),
        now_ms: qgraph_cli::now_ms(),
    };
    let progress = Progress::new(ProgressMode::detect(args.quiet));
    let outcome = runtime()?.block_on(run_demo(&options, &progress))?;
    // The sync is committed, so its exit status is kept even when the reader
    // of standard output has gone away.
    let status = ExitCode::from(outcome.summary.exit_code());
    let printed = print_outcome(&outcome, &db_path.display().to_string());
    Ok(status_after_output(printed, status))
}

fn source(args: &DemoArgs) -> anyhow::Result<DemoSource> {
    let Some(dir) = &args.fixtures else {
        return Ok(DemoSource::Generated {
            hosts: args.hosts,
            seed: args.seed,
        });
    };
    if let Some(dir) = dir {
        return Ok(DemoSource::Fixtures(dir.clone()));
    }
    let default = PathBuf::from(REPOSITORY_FIXTURES);
    if !default.is_dir() {
        bail!(
            "no recorded fixtures found at {}: pass the directory of recorded Qualys responses, as in --fixtures DIR",
            default.display()
        );
    }
    Ok(DemoSource::Fixtures(default))
}

/// Returns how the user started this program, so the printed commands work
/// after `cargo run` too: the path when it has one, else `qgraph`.
fn program() -> String {
    std::env::args()
        .next()
        .filter(|arg0| arg0.contains(std::path::MAIN_SEPARATOR))
        .unwrap_or_else(|| "qgraph".to_owned())
}

fn print_outcome(outcome: &DemoOutcome, db: &str) -> Result<(), OutputError> {
    let qgraph = program();
    print_summary(&outcome.summary)?;
    outln!()?;
    print_counts("Entities by type", &outcome.entity_counts)?;
    outln!()?;
    print_counts("Relationships by type", &outcome.relationship_counts)?;
    for answer in &outcome.answers {
        outln!()?;
        outln!("{}:", answer.title)?;
        outln!("  {qgraph} query --db {db} \"{}\"", answer.query)?;
        match &answer.output {
            Ok(table) => out!("{table}")?,
            Err(error) => outln!("  query failed: {error}")?,
        }
    }
    outln!()?;
    outln!("Try next:")?;
    outln!(
        "  {qgraph} query --db {db} \"FIND qualys_host_finding WITH open = true RETURN count(qualys_host_finding)\""
    )?;
    outln!("  {qgraph} jobs demo --db {db}")?;
    outln!("  # serve the same subscription again, then sync it incrementally:")?;
    let sim_args = outcome.sim_command.trim_start_matches("qgraph ");
    outln!("  {qgraph} {sim_args} &")?;
    outln!("  {qgraph} integration run demo --db {db}")?;
    Ok(())
}

fn print_counts(title: &str, counts: &[TypeCount]) -> Result<(), OutputError> {
    outln!("{title}:")?;
    let width = counts
        .iter()
        .map(|count| count.object_type.chars().count())
        .max()
        .unwrap_or(0);
    for count in counts {
        outln!("  {:<width$} {:>8}", count.object_type, count.count)?;
    }
    Ok(())
}
