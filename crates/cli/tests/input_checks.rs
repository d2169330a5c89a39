//! Input checks and messages of `qgraph integration` and of a sync: absurd
//! numbers, empty lists, password files, over-long fields, environment
//! variables of `edit`, progress during long Qualys waits, and the messages
//! of a cut connection and an expired subscription.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;
mod e2e_support;

use std::process::{Command, Output};

use common::{SIM_PASSWORD, TempDir, open_store, sim_config, start_sim};
use qgraph_cli::instances::{InstanceError, add_instance};
use qgraph_cli::sync::{SyncError, SyncRequest, sync_instance};
use qgraph_integration::NoProgress;
use qgraph_integration::config::FIELDS;
use qgraph_model::{RunStatus, StepStatus};
use qgraph_qualys_sim::{Endpoint, FaultKind, FaultRule};

/// Runs the binary with only `HOME`, `PATH` and the given variables set.
fn qgraph_env(dir: &TempDir, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_qgraph"));
    command
        .args(args)
        .env_clear()
        .env("HOME", dir.path())
        .env("PATH", std::env::var_os("PATH").unwrap_or_default());
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().unwrap()
}

fn qgraph(dir: &TempDir, args: &[&str]) -> Output {
    qgraph_env(dir, args, &[])
}

/// Runs the binary on a blocking thread, so an in-process simulator keeps serving.
async fn qgraph_async(dir: &TempDir, args: &[&str]) -> Output {
    let home = dir.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_qgraph"))
            .args(&args)
            .env_clear()
            .env("HOME", &home)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn write_file(dir: &TempDir, name: &str, content: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

/// Arguments of an unchecked `add` of instance `name` on a loopback URL
/// that nothing serves, followed by `extra`.
fn add_args<'a>(
    db: &'a str,
    name: &'a str,
    password_file: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "integration",
        "add",
        name,
        "--db",
        db,
        "--qualys-username",
        "exmpl3aw",
        "--qualys-api-url",
        "http://127.0.0.1:9",
        "--allow-loopback-api-url",
        "--no-verify",
        "--password-file",
        password_file,
    ];
    args.extend_from_slice(extra);
    args
}

/// Returns the `field: value` line of `qgraph integration show`.
fn shown_field(dir: &TempDir, db: &str, name: &str, field: &str) -> String {
    let show = qgraph(dir, &["integration", "show", name, "--db", db]);
    assert!(show.status.success(), "{}", stderr(&show));
    let prefix = format!("{field}: ");
    stdout(&show)
        .lines()
        .find_map(|line| line.strip_prefix(&prefix).map(str::to_owned))
        .unwrap_or_else(|| panic!("no {field} in {}", stdout(&show)))
}

fn db_path(dir: &TempDir) -> String {
    dir.db().display().to_string()
}

#[test]
fn absurd_window_days_are_rejected() {
    let dir = TempDir::new("checks-days");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", "s3cret-value\n");
    for value in ["1e-300", "NaN", "inf", "-1", "0", "7.5.1"] {
        let flag = format!("--min-findings-since-days={value}");
        let add = qgraph(&dir, &add_args(&db, "days", &password, &[&flag]));
        let message = stderr(&add);

        assert!(!add.status.success(), "{value} was accepted");
        assert!(message.contains("minFindingsSinceDays"), "{message}");
        assert!(message.contains(&format!("{value:?}")), "{message}");
        assert!(message.contains("from 0.01 to 3650"), "{message}");
    }
}

#[test]
fn empty_severity_list_is_rejected() {
    let dir = TempDir::new("checks-severities");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", "s3cret-value\n");
    for value in ["", ","] {
        let add = qgraph(
            &dir,
            &add_args(&db, "sev", &password, &["--vmdr-finding-severities", value]),
        );
        let message = stderr(&add);

        assert!(!add.status.success(), "{value:?} was accepted");
        assert!(message.contains("vmdrFindingSeverities"), "{message}");
        assert!(message.contains("at least one"), "{message}");
    }
}

#[test]
fn two_line_password_file_is_rejected() {
    let dir = TempDir::new("checks-password");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", "first-secret\nsecond-secret\n");

    let add = qgraph(&dir, &add_args(&db, "pw", &password, &[]));
    let message = stderr(&add);

    assert!(
        !add.status.success(),
        "a two-line password file was accepted"
    );
    assert!(message.contains(&password), "{message}");
    assert!(message.contains("line 2"), "{message}");
    assert!(
        !message.contains("secret"),
        "the password leaked: {message}"
    );
    assert!(!stdout(&add).contains("secret"));
}

#[test]
fn empty_password_file_is_rejected() {
    let dir = TempDir::new("checks-empty-password");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", "\n");

    let add = qgraph(&dir, &add_args(&db, "pw", &password, &[]));
    let message = stderr(&add);

    assert!(!add.status.success());
    assert!(message.contains("contains no password"), "{message}");
    assert!(message.contains(&password), "{message}");
}

#[test]
fn two_line_password_variable_is_rejected() {
    let dir = TempDir::new("checks-password-env");
    let db = db_path(&dir);
    let mut args = add_args(&db, "pw", "unused", &[]);
    args.truncate(args.len() - 2);
    args.extend(["--password-env", "PW_UNDER_TEST"]);

    let add = qgraph_env(
        &dir,
        &args,
        &[("PW_UNDER_TEST", "first-secret\nsecond-secret")],
    );
    let message = stderr(&add);

    assert!(
        !add.status.success(),
        "a two-line password variable was accepted"
    );
    assert!(message.contains("PW_UNDER_TEST"), "{message}");
    assert!(message.contains("line 2"), "{message}");
    assert!(
        !message.contains("secret"),
        "the password leaked: {message}"
    );
}

#[test]
fn huge_username_is_rejected_briefly() {
    let dir = TempDir::new("checks-username");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", "s3cret-value\n");
    let long = "u".repeat(100_000);
    let mut args = add_args(&db, "long", &password, &[]);
    args[6] = &long;

    let add = qgraph(&dir, &args);
    let message = stderr(&add);

    assert!(
        !add.status.success(),
        "a 100 000-character user name was accepted"
    );
    assert!(message.contains("qualysUsername"), "{message}");
    assert!(message.contains("1 to 100 characters"), "{message}");
    assert!(message.contains("100000 characters"), "{message}");
    assert!(
        message.len() < 1000,
        "the message repeats the value: {} bytes",
        message.len()
    );
}

#[test]
fn edit_reads_environment_like_add() {
    let dir = TempDir::new("checks-edit-env");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", "s3cret-value\n");
    let add = qgraph(&dir, &add_args(&db, "env", &password, &[]));
    assert!(add.status.success(), "{}", stderr(&add));

    let env = [
        ("QUALYS_DESCRIPTION", "from the environment"),
        ("MIN_FINDINGS_SINCE_DAYS", "14"),
        ("VMDR_FINDING_TYPES", "Info"),
    ];
    let edit = qgraph_env(
        &dir,
        &[
            "integration",
            "edit",
            "env",
            "--db",
            &db,
            "--no-verify",
            "--vmdr-finding-types",
            "Confirmed",
        ],
        &env,
    );

    assert!(edit.status.success(), "{}", stderr(&edit));
    assert_eq!(
        shown_field(&dir, &db, "env", "description"),
        "from the environment"
    );
    assert_eq!(shown_field(&dir, &db, "env", "minFindingsSinceDays"), "14");
    assert_eq!(
        shown_field(&dir, &db, "env", "vmdrFindingTypes"),
        "Confirmed",
        "a flag wins over its variable"
    );
    assert_eq!(shown_field(&dir, &db, "env", "qualysUsername"), "exmpl3aw");
    assert!(
        stderr(&edit).contains(
            "using the environment variables QUALYS_DESCRIPTION, MIN_FINDINGS_SINCE_DAYS"
        ),
        "{}",
        stderr(&edit)
    );
}

#[test]
fn password_file_wins_over_password_variable() {
    let dir = TempDir::new("checks-password-order");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", "from-the-file\n");

    let add = qgraph_env(
        &dir,
        &add_args(&db, "order", &password, &[]),
        &[
            ("QUALYS_PASSWORD", "two\nlines"),
            ("QUALYS_USERNAME", "other"),
        ],
    );
    let message = stderr(&add);

    assert!(add.status.success(), "QUALYS_PASSWORD was read: {message}");
    assert!(!message.contains("QUALYS_PASSWORD"), "{message}");
    assert!(
        !message.contains("QUALYS_USERNAME"),
        "--qualys-username was given, so QUALYS_USERNAME is unused: {message}"
    );
}

#[test]
fn generic_account_name_variable_is_ignored() {
    let dir = TempDir::new("checks-account-env");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", "s3cret-value\n");

    let generic = qgraph_env(
        &dir,
        &add_args(&db, "first", &password, &[]),
        &[("ACCOUNT_NAME", "generic"), ("DESCRIPTION", "generic")],
    );
    let prefixed = qgraph_env(
        &dir,
        &add_args(&db, "second", &password, &[]),
        &[
            ("QUALYS_ACCOUNT_NAME", "Prod EU"),
            ("QUALYS_DESCRIPTION", "EU platform"),
        ],
    );

    assert!(generic.status.success(), "{}", stderr(&generic));
    assert!(prefixed.status.success(), "{}", stderr(&prefixed));
    assert_eq!(shown_field(&dir, &db, "first", "accountName"), "first");
    assert_eq!(shown_field(&dir, &db, "first", "description"), "(not set)");
    assert_eq!(shown_field(&dir, &db, "second", "accountName"), "Prod EU");
    assert_eq!(
        shown_field(&dir, &db, "second", "description"),
        "EU platform"
    );
}

#[test]
fn help_names_every_environment_variable() {
    let dir = TempDir::new("checks-help");
    for command in ["add", "edit"] {
        let help = qgraph(&dir, &["integration", command, "--help"]);
        let text = stdout(&help);

        assert!(help.status.success(), "{}", stderr(&help));
        assert!(text.contains("environment variable"), "{command}: {text}");
        for field in FIELDS {
            assert!(
                text.contains(field.env),
                "{command} --help lacks {}",
                field.env
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_rate_limit_prints_progress_line() {
    let sim = start_sim(5).await;
    sim.handle().inject(FaultRule::once(
        Endpoint::HostDetection,
        FaultKind::RateLimit { seconds_to_wait: 3 },
    ));
    let dir = TempDir::new("checks-wait");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", &format!("{SIM_PASSWORD}\n"));
    let url = sim.base_url();
    let mut args = add_args(&db, "wait", &password, &[]);
    args[6] = qgraph_qualys_sim::DEFAULT_USERNAME;
    args[8] = &url;
    let add = qgraph_async(&dir, &args).await;
    assert!(add.status.success(), "{}", stderr(&add));

    let run = qgraph_async(&dir, &["integration", "run", "wait", "--db", &db]).await;
    sim.shutdown().await;
    let progress = stderr(&run);

    assert!(run.status.success(), "{progress}");
    assert!(
        progress.contains("waiting for Qualys to lift its rate or concurrency limit: "),
        "{progress}"
    );
    assert!(
        progress.contains("s left before the next request"),
        "{progress}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_connection_reports_retries() {
    let sim = start_sim(5).await;
    sim.handle().inject(FaultRule::always(
        Endpoint::KnowledgeBase,
        FaultKind::ResetMidBody,
    ));
    let dir = TempDir::new("checks-reset");
    let store = open_store(&dir);
    e2e_support::add(&store, "reset", sim_config(&sim.base_url(), SIM_PASSWORD)).await;
    let mut request = SyncRequest::new(qgraph_cli::now_ms(), &NoProgress);
    request.client = e2e_support::fast_client();

    let summary = sync_instance(&store, "reset", &request).await.unwrap();
    sim.shutdown().await;

    assert_eq!(summary.status, RunStatus::PartialSuccess);
    let step = summary
        .steps
        .iter()
        .find(|step| step.id == "fetch-finding-vulns")
        .unwrap();
    assert_eq!(step.status, StepStatus::Failure);
    let message = &step.errors[0].message;
    assert!(
        message.contains("the connection was cut before the response body ended"),
        "{message}"
    );
    assert!(message.contains("retried 4 times"), "{message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_subscription_is_named() {
    let sim = start_sim(5).await;
    sim.handle().inject(FaultRule::always(
        Endpoint::PortalVersion,
        FaultKind::AccountExpired,
    ));
    let dir = TempDir::new("checks-expired");
    let store = open_store(&dir);
    let checked = qgraph_cli::instances::CheckOptions {
        allow_loopback: true,
        verify: true,
    };

    let added = add_instance(
        &store,
        "checked",
        sim_config(&sim.base_url(), SIM_PASSWORD),
        checked,
    )
    .await;
    e2e_support::add(
        &store,
        "unchecked",
        sim_config(&sim.base_url(), SIM_PASSWORD),
    )
    .await;
    let synced = sync_instance(
        &store,
        "unchecked",
        &SyncRequest::new(qgraph_cli::now_ms(), &NoProgress),
    )
    .await;
    sim.shutdown().await;

    let added = added.unwrap_err();
    assert!(
        matches!(added, InstanceError::SubscriptionExpired { .. }),
        "{added:?}"
    );
    assert!(added.to_string().contains("has expired"), "{added}");
    assert!(
        !added.to_string().contains("check the user name"),
        "{added}"
    );
    let synced = synced.unwrap_err();
    assert!(
        matches!(synced, SyncError::SubscriptionExpired { .. }),
        "{synced:?}"
    );
    assert!(
        synced.to_string().contains("renew it with Qualys"),
        "{synced}"
    );
}

#[test]
fn blank_single_value_flags_rejected() {
    let dir = TempDir::new("checks-blank");
    let db = db_path(&dir);
    let password = write_file(&dir, "password.txt", "s3cret-value\n");
    let add = qgraph(
        &dir,
        &add_args(
            &db,
            "blank",
            &password,
            &["--polling-interval", "FOUR_HOURS"],
        ),
    );
    assert!(add.status.success(), "{}", stderr(&add));

    for flag in [
        "--polling-interval",
        "--min-findings-since-days",
        "--tag-with-account-name",
        "--account-name",
        "--findings-retention-days",
    ] {
        for value in ["", "  "] {
            let edit = qgraph(
                &dir,
                &["integration", "edit", "blank", "--db", &db, flag, value],
            );
            let message = stderr(&edit);
            assert_eq!(edit.status.code(), Some(1), "{flag} {value:?}: {message}");
            assert!(message.contains(&format!("{flag} is empty")), "{message}");
        }
    }
    assert_eq!(
        shown_field(&dir, &db, "blank", "pollingInterval"),
        "FOUR_HOURS"
    );

    let add = qgraph(
        &dir,
        &add_args(&db, "other", &password, &["--min-scanned-since-days", ""]),
    );
    assert_eq!(add.status.code(), Some(1));
    assert!(
        stderr(&add).contains("--min-scanned-since-days is empty"),
        "{}",
        stderr(&add)
    );
}

#[test]
fn password_env_name_is_checked() {
    let dir = TempDir::new("checks-password-env-name");
    let db = db_path(&dir);
    for name in ["", " ", "A=B"] {
        let mut args = add_args(&db, "pw", "unused", &[]);
        args.truncate(args.len() - 2);
        args.extend(["--password-env", name]);
        let add = qgraph(&dir, &args);
        let message = stderr(&add);
        assert_eq!(add.status.code(), Some(1), "{name:?}: {message}");
        assert!(
            message.contains("--password-env needs the name of an environment variable"),
            "{name:?}: {message}"
        );
    }
}
