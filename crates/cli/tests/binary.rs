//! The `qgraph` binary: instance commands, `run` exit statuses and the demo,
//! with the password kept out of every output.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{SIM_PASSWORD, TempDir, WRONG_PASSWORD, start_sim};
use qgraph_qualys_sim::{Endpoint, FaultKind, FaultRule};

/// Runs the binary with a clean environment: no `QGRAPH_DB`, no Qualys
/// variables, and `HOME` in the test directory.
fn qgraph(dir: &TempDir, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qgraph"));
    command
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command.output().unwrap()
}

/// Runs the binary on a blocking thread, so the simulator keeps serving.
async fn qgraph_async(dir: &TempDir, args: &[&str]) -> Output {
    qgraph_async_with_log(dir, args, "warn").await
}

/// Runs the binary like [`qgraph_async`] with `RUST_LOG` set to `log`.
async fn qgraph_async_with_log(dir: &TempDir, args: &[&str], log: &str) -> Output {
    let home = dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    let log = log.to_owned();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_qgraph"))
            .args(&args)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", log)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Checks that neither password appears, in plain text or as an HTTP Basic credential.
fn assert_no_secret(output: &Output) {
    let all = text(output);
    for password in [SIM_PASSWORD, WRONG_PASSWORD] {
        let user = qgraph_qualys_sim::DEFAULT_USERNAME;
        let basic = qgraph_qualys_sim::base64_encode(format!("{user}:{password}").as_bytes());
        assert!(!all.contains(password), "the password leaked: {all}");
        assert!(!all.contains(&basic), "the Basic credential leaked: {all}");
    }
}

fn write_password(dir: &TempDir, password: &str) -> String {
    let path = dir.path().join("password.txt");
    std::fs::write(&path, format!("{password}\n")).unwrap();
    path.display().to_string()
}

fn add_args<'a>(name: &'a str, db: &'a str, url: &'a str, password_file: &'a str) -> Vec<&'a str> {
    vec![
        "integration",
        "add",
        name,
        "--db",
        db,
        "--qualys-username",
        qgraph_qualys_sim::DEFAULT_USERNAME,
        "--qualys-api-url",
        url,
        "--password-file",
        password_file,
        "--allow-loopback-api-url",
    ]
}

fn db_text(dir: &TempDir) -> String {
    dir.db().display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_show_run_jobs_remove() {
    let sim = start_sim(10).await;
    let dir = TempDir::new("bin-flow");
    let db = db_text(&dir);
    let password_file = write_password(&dir, SIM_PASSWORD);
    let url = sim.base_url();

    let add = qgraph_async(&dir, &add_args("flow", &db, &url, &password_file)).await;
    assert!(add.status.success(), "{}", text(&add));
    assert_no_secret(&add);

    let show = qgraph(&dir, &["integration", "show", "flow", "--db", &db]);
    assert!(show.status.success(), "{}", text(&show));
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(shown.contains("qualysPassword: ********"), "{shown}");
    assert!(shown.contains(&format!("qualysApiUrl: {url}")), "{shown}");
    assert_no_secret(&show);

    let list = qgraph(&dir, &["integration", "list", "--db", &db]);
    assert!(
        String::from_utf8_lossy(&list.stdout).contains("flow"),
        "{}",
        text(&list)
    );

    let run = qgraph_async(&dir, &["integration", "run", "flow", "--db", &db]).await;
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    assert!(
        String::from_utf8_lossy(&run.stdout).contains("SUCCESS"),
        "{}",
        text(&run)
    );
    // Not a terminal, so progress comes as plain lines on standard error.
    let progress = String::from_utf8_lossy(&run.stderr);
    assert!(progress.contains("fetch-account: started"), "{progress}");
    assert_no_secret(&run);

    let jobs = qgraph(&dir, &["jobs", "flow", "--db", &db]);
    let history = String::from_utf8_lossy(&jobs.stdout);
    assert!(history.contains("SUCCESS"), "{history}");
    assert!(
        history.contains("fetch-scanned-host-detections: SUCCESS"),
        "{history}"
    );

    let edit = qgraph(
        &dir,
        &[
            "integration",
            "edit",
            "flow",
            "--db",
            &db,
            "--description",
            "lab",
        ],
    );
    assert!(edit.status.success(), "{}", text(&edit));
    let show = qgraph(&dir, &["integration", "show", "flow", "--db", &db]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("description: lab"));

    let remove = qgraph(&dir, &["integration", "remove", "flow", "--db", &db]);
    assert!(remove.status.success(), "{}", text(&remove));
    let removed = String::from_utf8_lossy(&remove.stdout);
    assert!(removed.contains("removed instance flow"), "{removed}");
    assert!(removed.contains("1 jobs"), "{removed}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exit_status_is_two_when_partial() {
    let sim = start_sim(40).await;
    sim.handle().inject(FaultRule::always(
        Endpoint::KnowledgeBase,
        FaultKind::TruncatedXml,
    ));
    let dir = TempDir::new("bin-partial");
    let db = db_text(&dir);
    let password_file = write_password(&dir, SIM_PASSWORD);
    let add = qgraph_async(&dir, &add_args("p", &db, &sim.base_url(), &password_file)).await;
    assert!(add.status.success(), "{}", text(&add));

    let run = qgraph_async(&dir, &["integration", "run", "p", "--db", &db, "--quiet"]).await;

    assert_eq!(run.status.code(), Some(2), "{}", text(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("PARTIAL_SUCCESS"), "{stdout}");
    assert!(stdout.contains("fetch-finding-vulns: FAILURE"), "{stdout}");
    assert!(stdout.contains("knowledge_base"), "{stdout}");
    // --quiet leaves only the warnings of the retried pages on stderr.
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr
            .lines()
            .all(|line| line.contains("retrying Qualys page")),
        "--quiet printed: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "colour codes in a log file: {stderr}"
    );
    sim.shutdown().await;
}

/// A subscription that expires in the middle of a sync ends it with exit
/// status 1 and an expiry message. Nothing of the run is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_expired_mid_run_exits_one() {
    let sim = start_sim(40).await;
    sim.handle().inject(FaultRule::always(
        Endpoint::KnowledgeBase,
        FaultKind::AccountExpired,
    ));
    let dir = TempDir::new("bin-expired");
    let db = db_text(&dir);
    let password_file = write_password(&dir, SIM_PASSWORD);
    let add = qgraph_async(&dir, &add_args("p", &db, &sim.base_url(), &password_file)).await;
    assert!(add.status.success(), "{}", text(&add));

    let run = qgraph_async(&dir, &["integration", "run", "p", "--db", &db, "--quiet"]).await;

    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("has expired"), "{stderr}");
    assert!(stderr.contains("not at fault"), "{stderr}");
    let count = qgraph_async(
        &dir,
        &[
            "query",
            "--db",
            &db,
            "FIND qualys_host_finding RETURN count(qualys_host_finding)",
            "--format",
            "csv",
        ],
    )
    .await;
    assert!(count.status.success(), "{}", text(&count));
    let counted = String::from_utf8_lossy(&count.stdout);
    assert!(
        counted.lines().any(|line| line.trim() == "0"),
        "nothing stored: {counted}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exit_status_is_one_on_bad_credentials() {
    let sim = start_sim(5).await;
    let dir = TempDir::new("bin-failure");
    let db = db_text(&dir);
    let password_file = write_password(&dir, WRONG_PASSWORD);
    let url = sim.base_url();
    let mut args = add_args("f", &db, &url, &password_file);

    let checked = qgraph_async(&dir, &args).await;
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked));
    assert!(String::from_utf8_lossy(&checked.stderr).contains("credential check"));
    assert_no_secret(&checked);

    args.push("--no-verify");
    let unchecked = qgraph_async(&dir, &args).await;
    assert!(unchecked.status.success(), "{}", text(&unchecked));
    // Trace logging shows every request, and still never the password.
    let run = qgraph_async_with_log(&dir, &["integration", "run", "f", "--db", &db], "trace").await;

    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("cannot verify the Qualys account"),
        "{stderr}"
    );
    assert_no_secret(&run);
    let jobs = qgraph(&dir, &["jobs", "f", "--db", &db]);
    assert!(
        String::from_utf8_lossy(&jobs.stdout).contains("FAILURE"),
        "{}",
        text(&jobs)
    );
    assert_no_secret(&jobs);
    sim.shutdown().await;
}

#[test]
fn loopback_url_without_flag_fails() {
    let dir = TempDir::new("bin-loopback");
    let db = db_text(&dir);
    let password_file = write_password(&dir, SIM_PASSWORD);
    let mut args = add_args("l", &db, "http://127.0.0.1:9", &password_file);
    args.retain(|a| *a != "--allow-loopback-api-url");

    let add = qgraph(&dir, &args);

    assert_eq!(add.status.code(), Some(1), "{}", text(&add));
    assert!(String::from_utf8_lossy(&add.stderr).contains("--allow-loopback-api-url"));
}

#[test]
fn add_without_password_source_fails() {
    let dir = TempDir::new("bin-no-password");
    let db = db_text(&dir);
    let args = [
        "integration",
        "add",
        "n",
        "--db",
        &db,
        "--qualys-username",
        "u",
        "--qualys-api-url",
        "https://qualysapi.qg3.apps.qualys.com",
        "--no-verify",
    ];

    let add = qgraph(&dir, &args);

    assert_eq!(add.status.code(), Some(1), "{}", text(&add));
    assert!(
        String::from_utf8_lossy(&add.stderr).contains("--password-file"),
        "{}",
        text(&add)
    );
}

#[test]
fn password_is_not_a_flag() {
    let dir = TempDir::new("bin-flag");
    let add = qgraph(&dir, &["integration", "add", "n", "--qualys-password", "x"]);

    // A usage error exits with 1; 2 is the status of a partial sync.
    assert_eq!(add.status.code(), Some(1), "{}", text(&add));
    assert!(
        text(&add).contains("unexpected argument '--qualys-password'"),
        "{}",
        text(&add)
    );
}

#[test]
fn default_db_is_in_the_user_data_directory() {
    let dir = TempDir::new("bin-default-db");
    let password = write_password(&dir, "s3cret-value");

    // Only `add` creates a database; `list` then finds it without --db.
    let add = qgraph(
        &dir,
        &[
            "integration",
            "add",
            "n",
            "--qualys-username",
            "exmpl3aw",
            "--qualys-api-url",
            "http://127.0.0.1:9",
            "--allow-loopback-api-url",
            "--no-verify",
            "--password-file",
            &password,
        ],
    );
    let list = qgraph(&dir, &["integration", "list"]);

    assert!(add.status.success(), "{}", text(&add));
    assert!(list.status.success(), "{}", text(&list));
    assert!(String::from_utf8_lossy(&list.stdout).contains(" n "));
    let data_dir = dir.path().join(".local/share/qgraph");
    assert!(data_dir.join("qgraph.db").is_file());
    assert_private(&data_dir);
}

#[cfg(unix)]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "{}", path.display());
}

#[cfg(not(unix))]
fn assert_private(_path: &Path) {}

#[test]
fn demo_runs_twice_on_one_database() {
    let dir = TempDir::new("bin-demo");
    let db = db_text(&dir);

    let first = qgraph(&dir, &["demo", "--db", &db, "--hosts", "40", "--quiet"]);
    let second = qgraph(&dir, &["demo", "--db", &db, "--hosts", "40", "--quiet"]);

    for run in [&first, &second] {
        assert_eq!(run.status.code(), Some(0), "{}", text(run));
        let stdout = String::from_utf8_lossy(&run.stdout);
        assert!(stdout.contains("qualys_host_finding"), "{stdout}");
        assert!(stdout.contains("Try next:"), "{stdout}");
        assert!(
            stdout.contains(&format!("qgraph integration run demo --db {db}")),
            "{stdout}"
        );
        assert!(!stdout.contains("query failed"), "{stdout}");
        assert_no_secret(run);
    }
    let counts = |run: &Output| {
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        let start = stdout.find("Entities by type:").unwrap();
        let end = stdout.find("Open findings").unwrap();
        stdout[start..end].to_owned()
    };
    assert_eq!(counts(&first), counts(&second));
}

#[test]
fn demo_replays_fixtures() {
    let dir = TempDir::new("bin-demo-fixtures");
    let db = db_text(&dir);

    let run = qgraph(&dir, &["demo", "--db", &db, "--fixtures", "--quiet"]);

    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("qualys_web_app_finding"), "{stdout}");
    assert!(stdout.contains("--replay"), "{stdout}");
    // The mapper's own objects are reported apart from the run's counts,
    // so the per-type tables that include them add up.
    let mapper_line = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("mapper:"))
        .unwrap_or_else(|| panic!("no mapper line: {stdout}"));
    assert!(
        mapper_line.contains("relationships of the global mapping rules created"),
        "{mapper_line}"
    );
}

#[test]
fn demo_with_missing_fixtures_dir_fails() {
    let dir = TempDir::new("bin-demo-missing");
    let db = db_text(&dir);
    let missing = dir.path().join("nowhere").display().to_string();

    let run = qgraph(&dir, &["demo", "--db", &db, "--fixtures", &missing]);

    assert_eq!(run.status.code(), Some(1), "{}", text(&run));
    assert!(String::from_utf8_lossy(&run.stderr).contains(&missing));
}

#[test]
fn add_reads_unset_fields_from_environment() {
    let dir = TempDir::new("bin-env");
    let db = db_text(&dir);

    let add = Command::new(env!("CARGO_BIN_EXE_qgraph"))
        .args(["integration", "add", "e", "--db", &db, "--no-verify"])
        .args(["--allow-loopback-api-url", "--min-findings-since-days", "3"])
        .env_clear()
        .env("HOME", dir.path())
        .env("QUALYS_USERNAME", "env-user")
        .env("QUALYS_API_URL", "http://127.0.0.1:9")
        .env("QUALYS_PASSWORD", SIM_PASSWORD)
        .env("MIN_FINDINGS_SINCE_DAYS", "30")
        .output()
        .unwrap();

    assert!(add.status.success(), "{}", text(&add));
    assert_no_secret(&add);
    let show = qgraph(&dir, &["integration", "show", "e", "--db", &db]);
    let shown = String::from_utf8_lossy(&show.stdout);
    assert!(shown.contains("qualysUsername: env-user"), "{shown}");
    assert!(
        shown.contains("qualysApiUrl: http://127.0.0.1:9"),
        "{shown}"
    );
    assert!(
        shown.contains("minFindingsSinceDays: 3\n"),
        "a flag wins over its variable: {shown}"
    );
    assert!(shown.contains("qualysPassword: ********"), "{shown}");
}

/// Starts a generated subscription that began 30 days ago, as it was on `day`.
async fn start_sim_on_day(day: u32) -> qgraph_qualys_sim::RunningSimulator {
    let today = qgraph_cli::now_ms() / 1000 / 86_400 * 86_400;
    let generated = qgraph_qualys_sim::GeneratedConfig {
        hosts: 300,
        seed: 9,
        detections_per_host: 8,
        day,
        start_secs: today - 30 * 86_400,
        ..qgraph_qualys_sim::GeneratedConfig::default()
    };
    qgraph_qualys_sim::Simulator::start(qgraph_qualys_sim::SimConfig::generated(generated))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_and_jobs_count_retired_findings() {
    let day0 = start_sim_on_day(0).await;
    let day10 = start_sim_on_day(10).await;
    let dir = TempDir::new("bin-retired");
    let db = db_text(&dir);
    let password_file = write_password(&dir, SIM_PASSWORD);
    let day0_url = day0.base_url();
    let mut add = add_args("r", &db, &day0_url, &password_file);
    add.extend([
        "--min-findings-since-days",
        "3650",
        "--min-scanned-since-days",
        "3650",
        "--findings-retention-days",
        "3650",
    ]);
    let added = qgraph_async(&dir, &add).await;
    assert!(added.status.success(), "{}", text(&added));
    let first = qgraph_async(&dir, &["integration", "run", "r", "--db", &db, "--quiet"]).await;
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    assert!(
        !text(&first).contains("findings retired"),
        "{}",
        text(&first)
    );

    let url = day10.base_url();
    let edit = [
        "integration",
        "edit",
        "r",
        "--db",
        &db,
        "--qualys-api-url",
        &url,
        "--allow-loopback-api-url",
        "--no-verify",
    ];
    let edited = qgraph_async(&dir, &edit).await;
    assert!(edited.status.success(), "{}", text(&edited));
    let second = qgraph_async(&dir, &["integration", "run", "r", "--db", &db, "--quiet"]).await;
    assert_eq!(second.status.code(), Some(0), "{}", text(&second));
    let stdout = String::from_utf8_lossy(&second.stdout).to_string();
    let line = stdout
        .lines()
        .find(|line| line.contains("findings retired: "))
        .unwrap_or_else(|| panic!("no retired findings in: {stdout}"));
    assert!(line.contains("their host is gone"), "{line}");

    let jobs = qgraph_async(&dir, &["jobs", "r", "--db", &db]).await;
    assert!(jobs.status.success(), "{}", text(&jobs));
    assert!(text(&jobs).contains(line.trim()), "{}", text(&jobs));
    day0.shutdown().await;
    day10.shutdown().await;
}
