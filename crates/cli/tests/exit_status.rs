//! Exit statuses of the binary when standard output fails (a closed pipe,
//! a full disk) and on usage errors.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use std::process::{Command, Output, Stdio};

use common::{SIM_PASSWORD, TempDir, start_sim};

/// Where the test sends the binary's standard output.
#[derive(Debug, Clone, Copy)]
enum Stdout {
    /// A pipe whose read end is closed before the binary starts, so every
    /// write fails with a broken pipe.
    ClosedPipe,
    /// `/dev/full`, where every write fails with "no space left on device".
    FullDisk,
}

/// Runs the binary with a clean environment and `HOME` in the test
/// directory, with standard output sent to `stdout`.
fn qgraph_to(dir: &TempDir, args: &[&str], stdout: Stdout) -> Output {
    let target = match stdout {
        Stdout::ClosedPipe => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            Stdio::from(writer)
        }
        Stdout::FullDisk => Stdio::from(std::fs::File::create("/dev/full").unwrap()),
    };
    let mut command = Command::new(env!("CARGO_BIN_EXE_qgraph"));
    command
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .stdout(target)
        .stderr(Stdio::piped());
    let child = command.spawn().unwrap();
    child.wait_with_output().unwrap()
}

fn qgraph(dir: &TempDir, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_qgraph"))
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit status and that the binary did not panic. A closed pipe
/// prints nothing; a full disk prints the write error.
fn assert_output_failure(output: &Output, stdout: Stdout, status: i32, command: &str) {
    let stderr = stderr(output);
    assert!(!stderr.contains("panicked"), "{command}: {stderr}");
    match stdout {
        Stdout::ClosedPipe => {
            assert_eq!(output.status.code(), Some(status), "{command}: {stderr}");
            assert!(!stderr.contains("error:"), "{command}: {stderr}");
        }
        Stdout::FullDisk => {
            assert_eq!(output.status.code(), Some(1), "{command}: {stderr}");
            assert!(
                stderr.contains("error: failed to write the output: "),
                "{command}: {stderr}"
            );
        }
    }
}

/// The readers of the graph and the demo stop quietly on a closed pipe and
/// report a full disk with exit status 1. Each used to panic with status 101.
#[test]
#[cfg(target_os = "linux")]
fn failed_stdout_of_readers_is_no_panic() {
    let dir = TempDir::new("stdout-readers");
    let db = dir.db().display().to_string();
    let demo = qgraph(&dir, &["demo", "--hosts", "3", "--quiet", "--db", &db]);
    assert_eq!(demo.status.code(), Some(0), "{}", stderr(&demo));

    let commands: [&[&str]; 6] = [
        &["query", "--db", &db, "FIND qualys_host"],
        &["jobs", "--db", &db],
        &["integration", "list", "--db", &db],
        &["integration", "show", "demo", "--db", &db],
        &["sim", "--summary", "--hosts", "3"],
        &["--help"],
    ];
    for stdout in [Stdout::ClosedPipe, Stdout::FullDisk] {
        for args in commands {
            let output = qgraph_to(&dir, args, stdout);
            assert_output_failure(&output, stdout, 0, &format!("{args:?} to {stdout:?}"));
        }
        let args = ["demo", "--hosts", "3", "--quiet", "--db", &db];
        let output = qgraph_to(&dir, &args, stdout);
        assert_output_failure(&output, stdout, 0, &format!("demo to {stdout:?}"));
    }
}

/// `integration run` keeps the exit status of the committed sync when the
/// reader of its output has gone away, so cron gets 0 and not a panic's 101.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg(target_os = "linux")]
async fn failed_stdout_of_run_keeps_sync() {
    let sim = start_sim(5).await;
    let dir = TempDir::new("stdout-run");
    let db = dir.db().display().to_string();
    let password_file = dir.path().join("password.txt");
    std::fs::write(&password_file, format!("{SIM_PASSWORD}\n")).unwrap();
    let password_file = password_file.display().to_string();
    let url = sim.base_url();
    let home = TempDir::new("stdout-run-home");

    let outputs = tokio::task::spawn_blocking(move || {
        let add = qgraph(
            &home,
            &[
                "integration",
                "add",
                "r",
                "--db",
                &db,
                "--qualys-username",
                qgraph_qualys_sim::DEFAULT_USERNAME,
                "--qualys-api-url",
                &url,
                "--password-file",
                &password_file,
                "--allow-loopback-api-url",
            ],
        );
        let run = ["integration", "run", "r", "--quiet", "--db", &db];
        let closed = qgraph_to(&home, &run, Stdout::ClosedPipe);
        let full = qgraph_to(&home, &run, Stdout::FullDisk);
        let jobs = qgraph(&home, &["jobs", "r", "--db", &db]);
        (add, closed, full, jobs)
    })
    .await
    .unwrap();
    let (add, closed, full, jobs) = outputs;

    assert_eq!(add.status.code(), Some(0), "{}", stderr(&add));
    assert_output_failure(&closed, Stdout::ClosedPipe, 0, "run to a closed pipe");
    assert_output_failure(&full, Stdout::FullDisk, 1, "run to a full disk");
    let history = String::from_utf8_lossy(&jobs.stdout);
    let succeeded = history
        .lines()
        .filter(|line| line.starts_with("  job ") && line.contains(" SUCCESS"))
        .count();
    assert_eq!(succeeded, 2, "both runs committed: {history}");
    sim.shutdown().await;
}

/// Usage errors exit with 1, because 2 means a partial sync; help and the
/// version exit with 0.
#[test]
fn usage_error_exits_one() {
    let dir = TempDir::new("usage");
    let cases: [(&[&str], i32); 7] = [
        (&["integration", "run"], 1),
        (&["no-such-command"], 1),
        (&["jobs", "--no-such-flag"], 1),
        (&[], 1),
        (&["--help"], 0),
        (&["jobs", "--help"], 0),
        (&["--version"], 0),
    ];
    for (args, status) in cases {
        let output = qgraph(&dir, args);
        assert_eq!(
            output.status.code(),
            Some(status),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

/// `jobs --limit 0` used to print "no jobs" for instances that have jobs.
#[test]
fn jobs_limit_zero_is_rejected() {
    let dir = TempDir::new("jobs-limit");
    let output = qgraph(&dir, &["jobs", "--limit", "0"]);
    let stderr = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("'--limit <LIMIT>'"), "{stderr}");
    assert!(stderr.contains("must be 1 or more"), "{stderr}");
}

#[test]
fn failed_stderr_is_no_panic() {
    let dir = TempDir::new("exit-stderr");
    let missing = dir.path().join("no").join("such").join("graph.db");
    let missing = missing.display().to_string();
    let cases: [&[&str]; 3] = [
        &["nosuch"],
        &["query", "--db", &missing, "FIND Host"],
        &["integration", "list", "--db", &missing],
    ];
    for args in cases {
        for full_disk in [false, true] {
            let target = if full_disk {
                Stdio::from(std::fs::File::create("/dev/full").unwrap())
            } else {
                let (reader, writer) = std::io::pipe().unwrap();
                drop(reader);
                Stdio::from(writer)
            };
            let output = Command::new(env!("CARGO_BIN_EXE_qgraph"))
                .args(args)
                .env_clear()
                .env("HOME", dir.path())
                .stdout(Stdio::null())
                .stderr(target)
                .output()
                .unwrap();
            // A panic would exit with 101; its message is lost with stderr.
            assert_eq!(
                output.status.code(),
                Some(1),
                "{args:?}, full disk {full_disk}"
            );
        }
    }
}
