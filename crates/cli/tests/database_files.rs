//! Which database files the binary opens, creates and leaves behind: another
//! application's SQLite file, a path in a missing folder, and a rejected add.

#![allow(clippy::unwrap_used, reason = "tests")]
#![allow(clippy::panic, reason = "tests")]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::TempDir;

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

/// Returns the names of the files in `dir`, sorted.
fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every command given another application's SQLite file used to migrate it
/// and switch it to WAL, and the demo synced into it.
#[test]
fn foreign_database_is_left_unchanged() {
    let dir = TempDir::new("foreign-db");
    let path = dir.path().join("other.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('keep');")
            .unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let db = path.display().to_string();

    let commands: [&[&str]; 5] = [
        &["integration", "list", "--db", &db],
        &["jobs", "--db", &db],
        &["query", "--db", &db, "FIND qualys_host"],
        &["integration", "remove", "x", "--db", &db],
        &["demo", "--hosts", "2", "--quiet", "--db", &db],
    ];
    for args in commands {
        let output = qgraph(&dir, args);
        let stderr = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(stderr.contains(&db), "{args:?}: {stderr}");
        assert!(
            stderr.contains("is not a qgraph database"),
            "{args:?}: {stderr}"
        );
        assert_eq!(std::fs::read(&path).unwrap(), before, "{args:?}");
    }
    assert_eq!(file_names(dir.path()), ["other.db"]);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let journal_mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(journal_mode, "delete");
}

/// A path in a missing folder used to print the path three times and not
/// say that the folder is missing.
#[test]
fn missing_folder_is_named() {
    let dir = TempDir::new("missing-folder");
    let password = dir.path().join("password.txt");
    std::fs::write(&password, "secret\n").unwrap();
    let db = dir.path().join("no").join("such").join("graph.db");
    let db = db.display().to_string();
    let folder = dir.path().join("no").join("such").display().to_string();

    let output = qgraph(
        &dir,
        &[
            "integration",
            "add",
            "lab",
            "--db",
            &db,
            "--qualys-username",
            "user",
            "--qualys-api-url",
            "http://127.0.0.1:9",
            "--allow-loopback-api-url",
            "--no-verify",
            "--password-file",
            &password.display().to_string(),
        ],
    );
    let stderr = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.matches(&db).count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!("the folder {folder} does not exist")),
        "{stderr}"
    );

    // The demo opens its database the same way.
    let demo = qgraph(&dir, &["demo", "--quiet", "--db", &db]);
    let message = String::from_utf8_lossy(&demo.stderr).into_owned();
    assert_eq!(demo.status.code(), Some(1), "{message}");
    assert_eq!(message.matches(&db).count(), 1, "{message}");
    assert!(
        message.contains(&format!("the folder {folder} does not exist")),
        "{message}"
    );
}

/// A rejected add used to leave a new empty database (and its key file)
/// behind, so the next command found a database without instances.
#[test]
fn rejected_add_leaves_no_database() {
    let dir = TempDir::new("rejected-add");
    let password = dir.path().join("password.txt");
    std::fs::write(&password, "secret\n").unwrap();
    let password = password.display().to_string();
    let db = dir.db().display().to_string();
    let base = [
        "integration",
        "add",
        "lab",
        "--db",
        &db,
        "--qualys-username",
        "user",
        "--allow-loopback-api-url",
        "--password-file",
        &password,
    ];

    // An invalid field value.
    let mut invalid = base.to_vec();
    invalid.extend(["--qualys-api-url", "http://127.0.0.1:9", "--no-verify"]);
    invalid.extend(["--polling-interval", "HOURLY"]);
    // A failed credential check: nothing listens on the discard port.
    let mut unverified = base.to_vec();
    unverified.extend(["--qualys-api-url", "http://127.0.0.1:9"]);

    for args in [invalid, unverified] {
        let output = qgraph(&dir, &args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
        assert_eq!(
            file_names(dir.path()),
            ["password.txt"],
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

/// Without HOME and XDG_DATA_HOME, the demo used to suggest QGRAPH_DB,
/// which it does not read.
#[test]
fn demo_without_home_suggests_only_db() {
    let dir = TempDir::new("no-home");
    let output = Command::new(env!("CARGO_BIN_EXE_qgraph"))
        .args(["demo", "--quiet"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("QGRAPH_DB", dir.db())
        .output()
        .unwrap();
    let stderr = stderr(&output);

    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pass --db PATH"), "{stderr}");
    assert!(!stderr.contains("QGRAPH_DB"), "{stderr}");
    assert!(!dir.db().exists());
}

/// Registers `name` in `db` without a credential check, with `extra` flags.
fn add_unchecked(
    dir: &TempDir,
    db: &str,
    name: &str,
    password_file: &str,
    extra: &[&str],
) -> Output {
    let mut args = vec![
        "integration",
        "add",
        name,
        "--db",
        db,
        "--qualys-username",
        "exmpl3aw",
        "--qualys-api-url",
        "https://qualysapi.qg3.apps.qualys.com",
        "--password-file",
        password_file,
        "--no-verify",
    ];
    args.extend_from_slice(extra);
    qgraph(dir, &args)
}

#[test]
fn lost_key_passwords_forgotten_on_request() {
    let dir = TempDir::new("lost-key");
    let db = dir.path().join("graph.db").display().to_string();
    let password_file = dir.path().join("password.txt");
    std::fs::write(&password_file, "s3cret-value\n").unwrap();
    let password_file = password_file.display().to_string();
    for name in ["a", "b"] {
        let added = add_unchecked(&dir, &db, name, &password_file, &[]);
        assert!(added.status.success(), "{}", stderr(&added));
    }
    let edit = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "integration",
            "edit",
            name,
            "--db",
            &db,
            "--no-verify",
            "--password-file",
            &password_file,
        ];
        args.extend_from_slice(extra);
        qgraph(&dir, &args)
    };

    // With the key present there is nothing to forget.
    let present = edit("a", &["--forget-lost-passwords"]);
    assert_eq!(present.status.code(), Some(1));
    assert!(
        stderr(&present).contains("no password was cleared"),
        "{}",
        stderr(&present)
    );

    std::fs::remove_file(format!("{db}.key")).unwrap();
    let blocked = edit("a", &[]);
    assert_eq!(blocked.status.code(), Some(1));
    let message = stderr(&blocked);
    assert!(
        message.contains("the instances b cannot be decrypted"),
        "{message}"
    );
    assert!(message.contains("--forget-lost-passwords"), "{message}");

    let typo = edit("c", &["--forget-lost-passwords"]);
    assert_eq!(typo.status.code(), Some(1));
    assert!(
        stderr(&typo).contains("\"c\" not found"),
        "{}",
        stderr(&typo)
    );

    // A rejected edit clears nothing, because the key may only be away.
    let rejected = edit(
        "a",
        &["--forget-lost-passwords", "--polling-interval", "NEVER"],
    );
    assert_eq!(rejected.status.code(), Some(1), "{}", stderr(&rejected));
    assert!(
        !stderr(&rejected).contains("cleared"),
        "{}",
        stderr(&rejected)
    );
    let show = qgraph(&dir, &["integration", "show", "b", "--db", &db]);
    let show_output = String::from_utf8_lossy(&show.stdout).to_string();
    assert!(
        !show_output.contains("qualysPassword: (not set)"),
        "{show_output}"
    );

    let forgotten = edit("a", &["--forget-lost-passwords"]);
    assert!(forgotten.status.success(), "{}", stderr(&forgotten));
    assert!(
        stderr(&forgotten).contains("cleared the passwords of b"),
        "{}",
        stderr(&forgotten)
    );
    assert!(Path::new(&format!("{db}.key")).exists());

    // b needs its password again, and can get it under the new key.
    let show = qgraph(&dir, &["integration", "show", "b", "--db", &db]);
    let show_output = String::from_utf8_lossy(&show.stdout).to_string();
    assert!(
        show_output.contains("qualysPassword: (not set)"),
        "{show_output}"
    );
    let again = edit("b", &[]);
    assert!(again.status.success(), "{}", stderr(&again));
    for name in ["a", "b"] {
        let show = qgraph(&dir, &["integration", "show", name, "--db", &db]);
        let show_output = String::from_utf8_lossy(&show.stdout).to_string();
        assert!(
            !show_output.contains("qualysPassword: (not set)"),
            "{show_output}"
        );
    }
}

#[test]
fn forget_lost_passwords_needs_edit() {
    let dir = TempDir::new("forget-add");
    let db = dir.path().join("graph.db").display().to_string();
    let password_file = dir.path().join("password.txt");
    std::fs::write(&password_file, "s3cret-value\n").unwrap();
    let password_file = password_file.display().to_string();
    let output = add_unchecked(&dir, &db, "a", &password_file, &["--forget-lost-passwords"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is for `qgraph integration edit`"),
        "{}",
        stderr(&output)
    );
}
