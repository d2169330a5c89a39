//! The `qgraph` command-line program.

mod demo_cmd;
mod integration_cmd;
mod jobs;
mod query;
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qgraph_cli::errors::error_chain_text;
use tracing_subscriber::EnvFilter;

/// Pulls a Qualys subscription into a security asset graph and queries it with J1QL.
#[derive(Debug, Parser)]
#[command(name = "qgraph", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sync a simulated Qualys subscription into a local graph and show what it holds.
    Demo(demo_cmd::DemoArgs),
    /// Add, list, show, edit, remove and run Qualys integration instances.
    Integration(integration_cmd::IntegrationArgs),
    /// Show the sync history of one or every instance, with per-step status and counts.
    Jobs(jobs::JobsArgs),
    /// Run a J1QL query on the local graph and print the result.
    Query(query::QueryArgs),
    /// Run the Qualys API simulator on loopback, or print its ground truth with --summary.
    Sim(Box<sim::SimArgs>),
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim::run(*args),
        Command::Query(args) => match query::run(&args) {
            Ok(output) => {
                print!("{output}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {}", error_chain_text(error.as_ref()));
                ExitCode::FAILURE
            }
        },
        Command::Demo(args) => report(demo_cmd::run(&args)),
        Command::Integration(args) => report(integration_cmd::run(args)),
        Command::Jobs(args) => report(jobs::run(&args)),
    }
}

/// Prints a command's error with each distinct cause once and returns exit status 1.
fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|error| {
        eprintln!("error: {}", error_chain_text(error.as_ref()));
        ExitCode::FAILURE
    })
}

/// Sends logs to standard error, filtered by `RUST_LOG` (default: warnings
/// and errors), in colour only when standard error is a terminal.
fn init_tracing() {
    use std::io::IsTerminal as _;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
