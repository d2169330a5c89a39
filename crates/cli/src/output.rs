//! Standard output of the commands. Every write returns an error instead of
//! panicking as `println!` does, because standard output may be a pipe whose
//! reader has exited (`qgraph jobs | head -1`) or a full disk.

use std::io::Write as _;
use std::process::ExitCode;

/// A failed write to standard output.
#[derive(Debug, thiserror::Error)]
#[error("failed to write the output: {0}")]
pub struct OutputError(#[from] std::io::Error);

impl OutputError {
    /// Returns true when the reader of the pipe has exited, which ends the
    /// output but is no failure of the command.
    pub fn is_broken_pipe(&self) -> bool {
        self.0.kind() == std::io::ErrorKind::BrokenPipe
    }
}

/// Writes formatted text to standard output, returning [`OutputError`] on failure.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_fmt(format_args!($($arg)*))
    };
}

/// Writes formatted text and a line break to standard output, returning
/// [`OutputError`] on failure.
macro_rules! outln {
    () => {
        $crate::output::write_fmt(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_fmt(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// Writes formatted text and a line break to standard error. A failed write
/// is ignored, because no other place is left to report it. `eprintln!` would
/// panic instead.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub(crate) use {errln, out, outln};

/// Writes `args` to standard output and flushes what it wrote, so an error
/// shows at this write and not when the process exits, where Rust drops it.
pub fn write_fmt(args: std::fmt::Arguments<'_>) -> Result<(), OutputError> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_fmt(args)?;
    stdout.flush()?;
    Ok(())
}

/// Returns `status` when the output was written or its reader went away,
/// else prints the write error and returns exit status 1.
///
/// Commands whose work is done before they print (a committed sync, for
/// example) use it so a closed pipe does not change their exit status.
pub fn status_after_output(written: Result<(), OutputError>, status: ExitCode) -> ExitCode {
    match written {
        Ok(()) => status,
        Err(error) if error.is_broken_pipe() => status,
        Err(error) => {
            errln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
