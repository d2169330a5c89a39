//! The `qgraph` command-line program.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
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
    Demo,
}

fn main() -> ExitCode {
    init_tracing();
    let cli = Cli::parse();
    match cli.command {
        Command::Demo => {
            println!(
                "qgraph demo will start the built-in Qualys simulator on loopback, sync it into a \
                 SQLite graph and run example J1QL queries. The sync is not built yet."
            );
            ExitCode::SUCCESS
        }
    }
}

/// Sends logs to standard error, filtered by `RUST_LOG` (default: warnings and errors).
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
