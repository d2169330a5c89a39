//! The `qgraph` command-line program.

mod demo_cmd;
mod integration_cmd;
mod jobs;
mod output;
mod query;
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use qgraph_cli::errors::error_chain_text;
use tracing_subscriber::EnvFilter;

use crate::output::{OutputError, errln};

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
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return parse_error(&error),
    };
    match cli.command {
        Command::Sim(args) => sim::run(*args),
        Command::Query(args) => report(query::run(&args).and_then(|output| {
            output::out!("{output}")?;
            Ok(ExitCode::SUCCESS)
        })),
        Command::Demo(args) => report(demo_cmd::run(&args)),
        Command::Integration(args) => report(integration_cmd::run(args)),
        Command::Jobs(args) => report(jobs::run(&args)),
    }
}

/// Prints the help, the version or a usage error as clap formats it. Help and
/// version exit with 0 and usage errors with 1, because 2 means a partial
/// sync for `integration run` and `demo`.
fn parse_error(error: &clap::Error) -> ExitCode {
    let status = if error.use_stderr() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    // Help goes to standard output, so it may meet a closed pipe too.
    let printed = error.print().map_err(OutputError::from);
    output::status_after_output(printed, status)
}

/// Prints a command's error with each distinct cause once and returns exit
/// status 1. A closed standard output pipe is no error: the reader took what
/// it wanted, so the status is 0.
fn report(result: anyhow::Result<ExitCode>) -> ExitCode {
    result.unwrap_or_else(|error| {
        let broken_pipe = error
            .downcast_ref::<OutputError>()
            .is_some_and(OutputError::is_broken_pipe);
        if broken_pipe {
            return ExitCode::SUCCESS;
        }
        errln!("error: {}", error_chain_text(error.as_ref()));
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
