//! Regression tests of the binary against hostile or mistyped input.
//! They cover unchecked instance names, a mistyped `--db` that created an
//! empty database, and `edit` taking an exported `QUALYS_PASSWORD`. They also
//! cover control characters and spreadsheet formulas that reached the output
//! raw, and error messages that repeated their cause.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

#[path = "../../query/tests/common/mod.rs"]
mod query_common;

use std::process::{Command, Output};

use common::{SIM_PASSWORD, TempDir, open_store, sim_config, start_sim};
use qgraph_cli::instances::{CheckOptions, InstanceError, add_instance};
use qgraph_cli::sync::{SyncRequest, sync_instance};
use qgraph_integration::{InstanceNameError, NoProgress};
use qgraph_model::RunStatus;
use qgraph_store::{GraphStore, InstanceKind, NewInstance, Password};

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
/// that nothing serves.
fn add_args<'a>(db: &'a str, name: &'a str, password_file: &'a str) -> Vec<&'a str> {
    vec![
        "integration",
        "add",
        "--db",
        db,
        "--account-name",
        "ok",
        "--qualys-username",
        "exmpl3aw",
        "--qualys-api-url",
        "http://127.0.0.1:9",
        "--allow-loopback-api-url",
        "--no-verify",
        "--password-file",
        password_file,
        // `--` lets a name that starts with `-` reach the name check.
        "--",
        name,
    ]
}

fn has_raw_control(text: &str) -> bool {
    text.chars().any(|c| c.is_control() && c != '\n')
}

/// Stores an instance without the name check, like the instances in a
/// database written before names were checked.
fn store_legacy_instance(store: &impl GraphStore, name: &str, api_url: &str) {
    let mut raw = sim_config(api_url, SIM_PASSWORD);
    raw.account_name = Some("legacy".to_owned());
    let config = raw.validate().unwrap();
    store
        .create_instance(NewInstance {
            name: name.to_owned(),
            kind: InstanceKind::Qualys,
            config: serde_json::to_value(config.to_raw()).unwrap(),
            password: Some(Password::new(SIM_PASSWORD)),
        })
        .unwrap();
}

// Instance names were not checked.

#[test]
fn bad_instance_names_are_rejected() {
    let dir = TempDir::new("hostile-names");
    let db = dir.db().display().to_string();
    let password = write_file(&dir, "password.txt", "s3cret-value\n");
    let huge = "n".repeat(100_000);
    let cases: [(&str, &str); 6] = [
        ("", "the name is empty"),
        (&huge, "it has 100000 characters"),
        ("two\nlines", r"character '\n' at position 4"),
        (
            "evil\u{1b}[31mRED\u{1b}[0m\rprod",
            r"character '\u{1b}' at position 5",
        ),
        ("-rf", "it starts with '-'"),
        (".hidden", "it starts with '.'"),
    ];

    for (name, problem) in cases {
        let add = qgraph(&dir, &add_args(&db, name, &password));
        let message = stderr(&add);

        assert!(!add.status.success(), "{name:?} was accepted");
        assert!(message.contains("invalid instance name"), "{message}");
        assert!(message.contains(problem), "{message}");
        assert!(
            message.contains("1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'"),
            "{message}"
        );
        assert!(
            !has_raw_control(&message),
            "raw control character: {message:?}"
        );
        assert!(message.len() < 600, "{} bytes: {message}", message.len());
        assert!(!dir.db().exists(), "{name:?} created the database");
    }
}

#[test]
fn escaped_name_is_shown_in_message() {
    let dir = TempDir::new("hostile-escaped-name");
    let db = dir.db().display().to_string();
    let password = write_file(&dir, "password.txt", "s3cret-value\n");

    let add = qgraph(
        &dir,
        &add_args(&db, "evil\u{1b}[31mRED\u{1b}[0m\rprod", &password),
    );

    assert!(
        stderr(&add).contains(r#"invalid instance name "evil\u{1b}[31mRED\u{1b}[0m\rprod""#),
        "{}",
        stderr(&add)
    );
}

#[test]
fn huge_name_is_cut_in_message() {
    let dir = TempDir::new("hostile-huge-name");
    let db = dir.db().display().to_string();
    let password = write_file(&dir, "password.txt", "s3cret-value\n");
    let huge = "n".repeat(100_000);

    let add = qgraph(&dir, &add_args(&db, &huge, &password));
    let message = stderr(&add);

    assert!(
        message.contains(&format!("\"{}\"…", "n".repeat(60))),
        "{message}"
    );
    assert!(!message.contains(&"n".repeat(61)), "{message}");
}

#[tokio::test]
async fn library_add_rejects_bad_name() {
    let dir = TempDir::new("hostile-library-name");
    let store = open_store(&dir);

    let error = add_instance(
        &store,
        "a b",
        sim_config("http://127.0.0.1:9", SIM_PASSWORD),
        CheckOptions {
            allow_loopback: true,
            verify: false,
        },
    )
    .await
    .unwrap_err();

    assert!(
        matches!(
            error,
            InstanceError::InvalidName(InstanceNameError::InvalidCharacter {
                character: ' ',
                position: 2,
                ..
            })
        ),
        "{error:?}"
    );
    assert!(store.list_instances().unwrap().is_empty());
}

#[test]
fn valid_edge_names_are_accepted() {
    let dir = TempDir::new("hostile-good-names");
    let db = dir.db().display().to_string();
    let password = write_file(&dir, "password.txt", "s3cret-value\n");
    let longest = "x".repeat(64);

    for name in ["Prod-EU_2.qg3", "a", longest.as_str()] {
        let add = qgraph(&dir, &add_args(&db, name, &password));

        assert!(add.status.success(), "{name:?}: {}", stderr(&add));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_name_still_lists_shows_and_runs() {
    let sim = start_sim(3).await;
    let dir = TempDir::new("hostile-legacy-name");
    let db = dir.db().display().to_string();
    let legacy = "old name\u{1b}[2J\u{9b}x";
    let store = open_store(&dir);
    store_legacy_instance(&store, legacy, &sim.base_url());

    let summary = sync_instance(
        &store,
        legacy,
        &SyncRequest::new(qgraph_cli::now_ms(), &NoProgress),
    )
    .await;
    sim.shutdown().await;
    let list = qgraph(&dir, &["integration", "list", "--db", &db]);
    let show = qgraph(&dir, &["integration", "show", legacy, "--db", &db]);
    let jobs = qgraph(&dir, &["jobs", "--db", &db]);

    assert_eq!(summary.unwrap().status, RunStatus::Success);
    for (command, output) in [("list", &list), ("show", &show), ("jobs", &jobs)] {
        let text = stdout(output);
        assert!(output.status.success(), "{command}: {}", stderr(output));
        assert!(
            text.contains(r"old name\u{1b}[2J\u{9b}x"),
            "{command}: {text:?}"
        );
        assert!(!has_raw_control(&text), "{command}: {text:?}");
    }
    assert!(stdout(&jobs).contains("SUCCESS"), "{}", stdout(&jobs));
}

// A mistyped --db created an empty database.

#[test]
fn missing_db_is_not_created() {
    let dir = TempDir::new("hostile-missing-db");
    let missing = dir.path().join("some").join("missing.db");
    let db = missing.display().to_string();
    let commands: [&[&str]; 7] = [
        &["integration", "list"],
        &["integration", "run", "prod"],
        &["integration", "show", "prod"],
        &["integration", "edit", "prod", "--description", "x"],
        &["integration", "remove", "prod"],
        &["jobs"],
        &["query", "FIND Host"],
    ];

    for args in commands {
        let mut args = args.to_vec();
        args.extend(["--db", &db]);
        let output = qgraph(&dir, &args);
        let message = stderr(&output);

        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(
            message.contains(&format!("graph database {db} not found")),
            "{args:?}: {message}"
        );
        assert!(
            message.contains("qgraph integration add"),
            "{args:?}: {message}"
        );
        assert!(message.contains("QGRAPH_DB"), "{args:?}: {message}");
        assert!(!missing.exists(), "{args:?} created {db}");
        assert!(
            !missing.parent().unwrap().exists(),
            "{args:?} created the folder"
        );
    }
}

#[test]
fn missing_default_db_is_not_created() {
    let dir = TempDir::new("hostile-missing-default");
    let default = dir.path().join(".local/share/qgraph/qgraph.db");

    let list = qgraph(&dir, &["integration", "list"]);

    assert!(!list.status.success());
    assert!(
        stderr(&list).contains(&format!("graph database {} not found", default.display())),
        "{}",
        stderr(&list)
    );
    assert!(!default.exists());
}

#[test]
fn env_db_path_is_checked_too() {
    let dir = TempDir::new("hostile-env-db");
    let missing = dir.path().join("typo.db");
    let db = missing.display().to_string();

    let list = qgraph_env(&dir, &["integration", "list"], &[("QGRAPH_DB", &db)]);

    assert!(!list.status.success());
    assert!(stderr(&list).contains(&db), "{}", stderr(&list));
    assert!(!missing.exists());
}

#[test]
fn add_still_creates_db() {
    let dir = TempDir::new("hostile-add-creates");
    let db = dir.db().display().to_string();
    let password = write_file(&dir, "password.txt", "s3cret-value\n");

    let add = qgraph(&dir, &add_args(&db, "prod", &password));
    let list = qgraph(&dir, &["integration", "list", "--db", &db]);

    assert!(add.status.success(), "{}", stderr(&add));
    assert!(list.status.success(), "{}", stderr(&list));
    assert!(stdout(&list).contains("prod"), "{}", stdout(&list));
}

// `edit` replaced the stored password with an exported QUALYS_PASSWORD.

#[test]
fn edit_ignores_exported_password() {
    let dir = TempDir::new("hostile-edit-password");
    let db = dir.db().display().to_string();
    let password = write_file(&dir, "password.txt", "first-secret\n");
    let add = qgraph(&dir, &add_args(&db, "prod", &password));
    assert!(add.status.success(), "{}", stderr(&add));

    let edit = qgraph_env(
        &dir,
        &[
            "integration",
            "edit",
            "prod",
            "--db",
            &db,
            "--description",
            "edited",
        ],
        &[("QUALYS_PASSWORD", "other-instance-secret")],
    );
    let message = stderr(&edit);
    let store = qgraph_store::SqliteStore::open(dir.db()).unwrap();
    let instance = store.instance_by_name("prod").unwrap().unwrap();
    let stored = store.password(instance.id).unwrap().unwrap();

    assert!(edit.status.success(), "{message}");
    assert_eq!(stored.expose(), "first-secret");
    assert_eq!(instance.config["description"], "edited");
    assert!(message.contains("ignoring QUALYS_PASSWORD"), "{message}");
    assert!(!message.contains("other-instance-secret"), "{message}");
}

#[test]
fn edit_reads_password_variable_when_named() {
    let dir = TempDir::new("hostile-edit-password-env");
    let db = dir.db().display().to_string();
    let password = write_file(&dir, "password.txt", "first-secret\n");
    let add = qgraph(&dir, &add_args(&db, "prod", &password));
    assert!(add.status.success(), "{}", stderr(&add));

    let edit = qgraph_env(
        &dir,
        &[
            "integration",
            "edit",
            "prod",
            "--db",
            &db,
            "--no-verify",
            "--password-env",
            "QUALYS_PASSWORD",
        ],
        &[("QUALYS_PASSWORD", "second-secret")],
    );
    let store = qgraph_store::SqliteStore::open(dir.db()).unwrap();
    let instance = store.instance_by_name("prod").unwrap().unwrap();

    assert!(edit.status.success(), "{}", stderr(&edit));
    assert!(!stderr(&edit).contains("ignoring"), "{}", stderr(&edit));
    assert_eq!(
        store.password(instance.id).unwrap().unwrap().expose(),
        "second-secret"
    );
}

#[test]
fn edit_help_says_password_variable_is_ignored() {
    let dir = TempDir::new("hostile-edit-help");

    let help = qgraph(&dir, &["integration", "edit", "--help"]);
    let text = stdout(&help).replace('\n', " ");

    assert!(help.status.success());
    assert!(
        text.contains("never reads QUALYS_PASSWORD on its own"),
        "{text}"
    );
}

// Control characters and formulas reached the output raw.

/// Writes a graph with hostile host names to a database in `dir`.
fn hostile_graph_db(dir: &TempDir) -> String {
    let graph = serde_json::json!({
        "entities": [
            {"_key": "h1", "_type": "qualys_host", "_class": ["Host"],
             "displayName": "csi\u{9b}2J", "hostname": "esc\u{1b}]0;title\u{7}",
             "tags": ["t\u{9b}"]},
            {"_key": "h2", "_type": "qualys_host", "_class": ["Host"],
             "displayName": "=HYPERLINK(\"http://127.0.0.1/x\")", "hostname": "-2+3",
             "tags": ["=t"]},
            {"_key": "h3", "_type": "qualys_host", "_class": ["Host"],
             "displayName": "@SUM(A1)", "hostname": "\tcmd", "tags": []},
            {"_key": "h4", "_type": "qualys_host", "_class": ["Host"],
             "displayName": "+1", "hostname": "plain", "tags": []}
        ],
        "relationships": []
    });
    let store = qgraph_store::SqliteStore::open(dir.db()).unwrap();
    drop(query_common::load_graph(store, graph));
    dir.db().display().to_string()
}

fn query(dir: &TempDir, db: &str, text: &str, format: &str) -> String {
    let output = qgraph(dir, &["query", text, "--db", db, "--format", format]);
    assert!(output.status.success(), "{}", stderr(&output));
    stdout(&output)
}

#[test]
fn table_escapes_control_characters() {
    let dir = TempDir::new("hostile-table");
    let db = hostile_graph_db(&dir);

    let list = query(&dir, &db, "FIND Host", "table");
    let returned = query(
        &dir,
        &db,
        "FIND Host AS h RETURN h.hostname, h.tags ORDER BY h._key",
        "table",
    );

    assert!(list.contains(r"csi\u{9b}2J"), "{list:?}");
    assert!(!has_raw_control(&list), "{list:?}");
    assert!(returned.contains(r"esc\u{1b}]0;title\u{7}"), "{returned:?}");
    assert!(returned.contains(r"\tcmd"), "{returned:?}");
    assert!(!has_raw_control(&returned), "{returned:?}");
}

#[test]
fn csv_quotes_formula_cells() {
    let dir = TempDir::new("hostile-csv");
    let db = hostile_graph_db(&dir);

    let csv = query(
        &dir,
        &db,
        "FIND Host AS h RETURN h.displayName, h.hostname ORDER BY h._key",
        "csv",
    );
    let lines: Vec<&str> = csv.split("\r\n").collect();

    assert_eq!(lines[0], "h.displayName,h.hostname");
    assert_eq!(lines[1], "csi\u{9b}2J,esc\u{1b}]0;title\u{7}");
    assert_eq!(
        lines[2],
        "\"'=HYPERLINK(\"\"http://127.0.0.1/x\"\")\",'-2+3"
    );
    assert_eq!(lines[3], "'@SUM(A1),'\tcmd");
    assert_eq!(lines[4], "'+1,plain");
}

#[test]
fn csv_list_quotes_formula_cells() {
    let dir = TempDir::new("hostile-csv-list");
    let db = hostile_graph_db(&dir);

    let csv = query(&dir, &db, "FIND Host WITH _key = 'h2'", "csv");

    assert!(
        csv.contains(",'-2+3,"),
        "the hostname cell lacks its quote: {csv}"
    );
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
}

#[test]
fn json_keeps_values_as_stored() {
    let dir = TempDir::new("hostile-json");
    let db = hostile_graph_db(&dir);

    let json = query(
        &dir,
        &db,
        "FIND Host AS h RETURN h.displayName, h.hostname ORDER BY h._key",
        "json",
    );
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();

    assert_eq!(value["data"][0]["h.displayName"], "csi\u{9b}2J");
    assert_eq!(value["data"][0]["h.hostname"], "esc\u{1b}]0;title\u{7}");
    assert_eq!(
        value["data"][1]["h.displayName"],
        "=HYPERLINK(\"http://127.0.0.1/x\")"
    );
    assert_eq!(value["data"][1]["h.hostname"], "-2+3");
}

#[test]
fn query_help_documents_csv_quote() {
    let dir = TempDir::new("hostile-query-help");

    let help = qgraph(&dir, &["query", "--help"]);
    let text = stdout(&help).replace('\n', " ");

    assert!(help.status.success());
    assert!(text.contains("gets a ' in front"), "{text}");
}

// Error messages repeated their cause.

#[test]
fn missing_password_file_names_cause_once() {
    let dir = TempDir::new("hostile-password-cause");
    let db = dir.db().display().to_string();
    let missing = dir.path().join("b").join("nonexist").display().to_string();

    let add = qgraph(&dir, &add_args(&db, "prod", &missing));
    let message = stderr(&add);

    assert!(!add.status.success());
    assert!(
        message.contains(&format!("failed to read the password file {missing}")),
        "{message}"
    );
    assert_eq!(
        message.matches("No such file or directory").count(),
        1,
        "{message}"
    );
    assert!(!dir.db().exists(), "a failed add created the database");
}

#[test]
fn directory_db_is_named_as_directory() {
    let dir = TempDir::new("hostile-db-directory");
    let folder = dir.path().display().to_string();
    let password = write_file(&dir, "password.txt", "s3cret-value\n");
    let commands: [Vec<&str>; 3] = [
        vec!["integration", "list", "--db", &folder],
        vec!["query", "FIND Host", "--db", &folder],
        add_args(&folder, "prod", &password),
    ];

    for args in commands {
        let output = qgraph(&dir, &args);
        let message = stderr(&output);

        assert!(!output.status.success(), "{args:?}");
        assert!(
            message.contains(&format!("the graph database path {folder} is a directory")),
            "{args:?}: {message}"
        );
        assert!(
            !message.contains("unable to open database file"),
            "{args:?}: {message}"
        );
    }
}

#[test]
fn store_error_is_printed_once() {
    let dir = TempDir::new("hostile-store-cause");
    let path = dir.path().join("not-a-database.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    let db = path.display().to_string();

    let list = qgraph(&dir, &["integration", "list", "--db", &db]);
    let message = stderr(&list);

    assert!(!list.status.success());
    assert!(
        message.starts_with(&format!("error: failed to open the graph database {db}: ")),
        "{message}"
    );
    assert_eq!(
        message.matches("file is not a database").count(),
        1,
        "a cause repeats: {message}"
    );
    assert!(message.contains("pass --db PATH"), "{message}");
}
