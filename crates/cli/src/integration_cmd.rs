//! `qgraph integration`: add, list, show, edit, remove and run Qualys instances.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use qgraph_cli::db::{DEFAULT_DB_FILE, DbArgs, open_path, with_lock_advice};
use qgraph_cli::escape::escape_controls;
use qgraph_cli::instances::{self, CheckOptions};
use qgraph_cli::password::{PasswordError, password_from_env, read_password_file};
use qgraph_cli::progress::{Progress, ProgressMode, describe_error, describe_step};
use qgraph_cli::sync::{SyncRequest, SyncSummary, stored_raw_config, sync_instance};
use qgraph_integration::config::{FIELDS, ListInput, ScalarInput};
use qgraph_integration::{RawConfig, Secret};
use qgraph_store::{GraphStore, KeySource, SqliteStore};

use crate::output::{OutputError, errln, outln, status_after_output};

/// Arguments of `qgraph integration`.
#[derive(Debug, Args)]
pub struct IntegrationArgs {
    #[command(subcommand)]
    command: IntegrationCommand,
}

#[derive(Debug, Subcommand)]
enum IntegrationCommand {
    /// Register a Qualys account as an integration instance.
    ///
    /// Each field comes from its flag, else from its environment variable
    /// (shown as [env: NAME] below), else from its default. The password comes
    /// from --password-file or --password-env, else from QUALYS_PASSWORD, else
    /// from a prompt on the terminal.
    Add(Box<AddArgs>),
    /// List the registered instances with their last job.
    List(DbOnly),
    /// Print an instance's configuration, with the password masked.
    Show(NameArgs),
    /// Change the given fields of an instance; the others stay as they are.
    ///
    /// Each field comes from its flag, else from its environment variable
    /// (shown as [env: NAME] below, the same variables `add` reads), else it
    /// keeps its stored value. The password changes only when
    /// --password-file, --password-env or --prompt-password gives one: edit
    /// never reads QUALYS_PASSWORD on its own (pass --password-env
    /// QUALYS_PASSWORD to use it). A list flag given as '' clears the list,
    /// except the severities and types, which need at least one value.
    Edit(Box<AddArgs>),
    /// Remove an instance with its credentials, job history and every entity and relationship it owns.
    Remove(NameArgs),
    /// Sync an instance now. Exit status: 0 success, 2 partial success, 1 failure.
    Run(RunArgs),
}

#[derive(Debug, Args)]
struct DbOnly {
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Args)]
struct NameArgs {
    /// Instance name.
    name: String,
    #[command(flatten)]
    db: DbArgs,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Instance name.
    name: String,
    #[command(flatten)]
    db: DbArgs,
    /// Print no progress, only the result.
    #[arg(long, short)]
    quiet: bool,
}

#[derive(Debug, Args)]
struct AddArgs {
    /// Instance name. A new name has 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-', and does not start with '-' or '.'.
    name: String,
    #[command(flatten)]
    db: DbArgs,
    #[command(flatten)]
    fields: ConfigFlags,
    #[command(flatten)]
    password: PasswordArgs,
    /// Accept an API URL on a loopback address, such as a `qgraph sim` simulator.
    #[arg(long)]
    allow_loopback_api_url: bool,
    /// Store the credentials without checking them against the Qualys API.
    #[arg(long)]
    no_verify: bool,
}

/// One flag per configuration field except the password. Lists are
/// comma-separated, with at most 1000 items.
#[derive(Debug, Args)]
struct ConfigFlags {
    /// Account name shown in the graph, at most 100 characters [default: the instance name] [env: QUALYS_ACCOUNT_NAME].
    #[arg(long)]
    account_name: Option<String>,
    /// Free text describing the instance, at most 1000 characters [env: QUALYS_DESCRIPTION].
    #[arg(long)]
    description: Option<String>,
    /// Sync schedule: DISABLED, THIRTY_MINUTES, ONE_HOUR, FOUR_HOURS, EIGHT_HOURS, TWELVE_HOURS, ONE_DAY or ONE_WEEK [default: ONE_DAY] [env: POLLING_INTERVAL].
    #[arg(long)]
    polling_interval: Option<String>,
    /// Set tag.AccountName on every entity: true or false [default: false] [env: TAG_WITH_ACCOUNT_NAME].
    #[arg(long, value_name = "BOOL")]
    tag_with_account_name: Option<String>,
    /// Qualys API user name, at most 100 characters [env: QUALYS_USERNAME].
    #[arg(long)]
    qualys_username: Option<String>,
    /// Qualys API server URL, such as https://qualysapi.qg3.apps.qualys.com [env: QUALYS_API_URL].
    #[arg(long, value_name = "URL")]
    qualys_api_url: Option<String>,
    /// Sync hosts scanned in this many days, a decimal from 0.01 to 3650 such as 0.25 [default: 7] [env: MIN_SCANNED_SINCE_DAYS].
    #[arg(long, value_name = "DAYS")]
    min_scanned_since_days: Option<String>,
    /// Sync findings updated in this many days, a decimal from 0.01 to 3650 such as 0.25 [default: 7] [env: MIN_FINDINGS_SINCE_DAYS].
    #[arg(long, value_name = "DAYS")]
    min_findings_since_days: Option<String>,
    /// Detection severities to sync, at least one of 1 to 5 [default: 3,4,5] [env: VMDR_FINDING_SEVERITIES].
    #[arg(long, value_name = "LIST")]
    vmdr_finding_severities: Option<String>,
    /// Detection types to sync, at least one of Info, Potential, Confirmed [default: Potential,Confirmed] [env: VMDR_FINDING_TYPES].
    #[arg(long, value_name = "LIST")]
    vmdr_finding_types: Option<String>,
    /// QIDs whose detection results text is kept [env: VMDR_FINDING_RESULT_QIDS].
    #[arg(long, value_name = "LIST")]
    vmdr_finding_result_qids: Option<String>,
    /// Sync only detections of hosts with one of these Qualys tag names [env: INCLUDE_ONLY_DETECTION_TAGS].
    #[arg(long, value_name = "LIST")]
    include_only_detection_tags: Option<String>,
    /// Sync web apps and web-app findings: true or false [default: false] [env: INGEST_WEB_APP_SCANS].
    #[arg(long, value_name = "BOOL")]
    ingest_web_app_scans: Option<String>,
    /// Sync only these web app ids [env: WEB_APP_SCAN_APPLICATION_ID_FILTER].
    #[arg(long, value_name = "LIST")]
    web_app_scan_application_id_filter: Option<String>,
    /// Delete findings Qualys has not returned for this many days [default: 90] [env: FINDINGS_RETENTION_DAYS].
    #[arg(long, value_name = "DAYS")]
    findings_retention_days: Option<String>,
}

impl ConfigFlags {
    /// Rejects a flag of one value given as empty or white space. Left out,
    /// such a field keeps its stored value (edit) or gets its default (add),
    /// so an empty value would do one of those silently. The description
    /// may be emptied, and an empty list clears the list.
    fn reject_blank_values(&self) -> anyhow::Result<()> {
        let single_values = [
            ("--account-name", &self.account_name),
            ("--polling-interval", &self.polling_interval),
            ("--tag-with-account-name", &self.tag_with_account_name),
            ("--qualys-username", &self.qualys_username),
            ("--qualys-api-url", &self.qualys_api_url),
            ("--min-scanned-since-days", &self.min_scanned_since_days),
            ("--min-findings-since-days", &self.min_findings_since_days),
            ("--ingest-web-app-scans", &self.ingest_web_app_scans),
            ("--findings-retention-days", &self.findings_retention_days),
        ];
        for (flag, value) in single_values {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                anyhow::bail!(
                    "{flag} is empty: give it a value, or leave the flag out to keep the \
                     stored value (edit) or use the default (add)"
                );
            }
        }
        Ok(())
    }

    fn to_raw(&self) -> RawConfig {
        let scalar = |v: &Option<String>| v.clone().map(ScalarInput::Text);
        let list = |v: &Option<String>| v.clone().map(ListInput::Text);
        RawConfig {
            account_name: self.account_name.clone(),
            description: self.description.clone(),
            polling_interval: self.polling_interval.clone(),
            tag_with_account_name: scalar(&self.tag_with_account_name),
            qualys_username: self.qualys_username.clone(),
            qualys_password: None,
            qualys_api_url: self.qualys_api_url.clone(),
            min_scanned_since_days: scalar(&self.min_scanned_since_days),
            min_findings_since_days: scalar(&self.min_findings_since_days),
            vmdr_finding_severities: list(&self.vmdr_finding_severities),
            vmdr_finding_types: list(&self.vmdr_finding_types),
            vmdr_finding_result_qids: list(&self.vmdr_finding_result_qids),
            include_only_detection_tags: list(&self.include_only_detection_tags),
            ingest_web_app_scans: scalar(&self.ingest_web_app_scans),
            web_app_scan_application_id_filter: list(&self.web_app_scan_application_id_filter),
            findings_retention_days: scalar(&self.findings_retention_days),
        }
    }
}

/// The password source. It is never a flag value, which would
/// show in the process list and the shell history.
#[derive(Debug, Args)]
struct PasswordArgs {
    /// Read the Qualys password from this file: one line, a final line break allowed.
    #[arg(long, value_name = "FILE", conflicts_with = "password_env")]
    password_file: Option<PathBuf>,
    /// Read the Qualys password from this environment variable.
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// Prompt for a new password on the terminal (edit only; add prompts when no other source is given).
    #[arg(long, conflicts_with_all = ["password_file", "password_env"])]
    prompt_password: bool,
    /// Edit only, after the secret key file is lost: clear every stored password, which the
    /// lost key encrypted, before storing the new one under a new key file. Each instance
    /// whose password is cleared needs its password entered again.
    #[arg(long)]
    forget_lost_passwords: bool,
}

impl PasswordArgs {
    /// Returns true when an option names the password source.
    fn is_given(&self) -> bool {
        self.password_file.is_some() || self.password_env.is_some() || self.prompt_password
    }
}

/// Runs `qgraph integration`.
pub fn run(args: IntegrationArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        IntegrationCommand::Add(args) => add(&args).map(|()| ExitCode::SUCCESS),
        IntegrationCommand::List(args) => list(&args.db).map(|()| ExitCode::SUCCESS),
        IntegrationCommand::Show(args) => show(&args).map(|()| ExitCode::SUCCESS),
        IntegrationCommand::Edit(args) => edit(&args).map(|()| ExitCode::SUCCESS),
        IntegrationCommand::Remove(args) => remove(&args).map(|()| ExitCode::SUCCESS),
        IntegrationCommand::Run(args) => run_now(&args),
    }
}

/// Opens the existing database the `--db` option names. A missing file is
/// an error, so a mistyped path never creates an empty database.
pub fn open_store(db: &DbArgs) -> anyhow::Result<SqliteStore> {
    open_path(&db.resolve_existing(DEFAULT_DB_FILE)?)
}

/// Builds the runtime the async parts of a command run on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

fn check_options(args: &AddArgs) -> CheckOptions {
    CheckOptions {
        allow_loopback: args.allow_loopback_api_url,
        verify: !args.no_verify,
    }
}

/// Whether `QUALYS_PASSWORD` may supply the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PasswordVariable {
    /// `add` reads it when no password option is given.
    Read,
    /// `edit` never reads it: a variable exported for another instance would
    /// silently replace the stored password of the one being edited.
    Ignore,
}

/// Returns the flags with unset fields filled from their environment
/// variables, and prints to standard error which variables were used (names
/// only, because values may be secret). A password option given on the
/// command line wins over `QUALYS_PASSWORD`.
fn flags_with_env(
    flags: &ConfigFlags,
    password: &PasswordArgs,
    password_variable: PasswordVariable,
) -> RawConfig {
    let flags = flags.to_raw();
    let mut env = RawConfig::from_env(|name| std::env::var(name).ok());
    if password_variable == PasswordVariable::Ignore
        && env.qualys_password.is_some()
        && !password.is_given()
    {
        errln!(
            "ignoring QUALYS_PASSWORD: edit keeps the stored password unless --password-file, --password-env or --prompt-password is given"
        );
    }
    if password.is_given() || password_variable == PasswordVariable::Ignore {
        env.qualys_password = None;
    }
    let from_flags = flags.set_fields();
    let from_env = env.set_fields();
    let used: Vec<&str> = FIELDS
        .iter()
        .filter(|field| from_env.contains(&field.name) && !from_flags.contains(&field.name))
        .map(|field| field.env)
        .collect();
    if !used.is_empty() {
        errln!("using the environment variables {}", used.join(", "));
    }
    flags.or(env)
}

fn add(args: &AddArgs) -> anyhow::Result<()> {
    // Check the name and read the password before the database file is
    // created. A later rejection deletes the files this command created.
    qgraph_integration::validate_instance_name(&args.name)?;
    args.fields.reject_blank_values()?;
    if args.password.forget_lost_passwords {
        bail!(
            "--forget-lost-passwords is for `qgraph integration edit`, after the secret key file \
             of an existing database is lost"
        );
    }
    let mut raw = flags_with_env(&args.fields, &args.password, PasswordVariable::Read);
    if let Some(password) = given_password(&args.password)? {
        raw.qualys_password = Some(password);
    }
    if raw.qualys_password.is_none() {
        raw.qualys_password = Some(prompt_password(&args.name)?);
    }
    let path = args.db.resolve_for_create(DEFAULT_DB_FILE)?;
    let new_files = NewDatabaseFiles::before_open(&path);
    let store = open_path(&path)?;
    let added = runtime().and_then(|runtime| {
        runtime
            .block_on(instances::add_instance(
                &store,
                &args.name,
                raw,
                check_options(args),
            ))
            .map_err(|error| with_lock_advice(error.into(), &path))
    });
    let instance = match added {
        Ok(instance) => instance,
        Err(error) => {
            drop(store);
            new_files.remove();
            return Err(error);
        }
    };
    outln!("added instance {} (id {})", instance.name, instance.id)?;
    Ok(())
}

/// The files of a database that `integration add` is about to create, so
/// a rejected add (an invalid field, a failed credential check) can delete
/// them again instead of leaving an empty database behind.
struct NewDatabaseFiles {
    paths: Vec<PathBuf>,
}

impl NewDatabaseFiles {
    /// Lists the database, its SQLite side files and its key file, each only
    /// when it does not exist yet. Nothing is listed for an existing database.
    fn before_open(database: &Path) -> Self {
        if database.exists() {
            return NewDatabaseFiles { paths: Vec::new() };
        }
        let mut paths = vec![database.to_path_buf()];
        for suffix in ["-wal", "-shm", "-journal"] {
            let mut name = database.as_os_str().to_owned();
            name.push(suffix);
            paths.push(PathBuf::from(name));
        }
        if let KeySource::File(key) = KeySource::default_for(database) {
            paths.push(key);
        }
        paths.retain(|path| !path.exists());
        NewDatabaseFiles { paths }
    }

    /// Deletes the listed files that now exist. A file that cannot be
    /// deleted is named on standard error, because the add failed anyway.
    fn remove(&self) {
        for path in &self.paths {
            match std::fs::remove_file(path) {
                Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                    errln!(
                        "failed to delete {}, which this rejected add created: {error}",
                        path.display()
                    );
                }
                _ => {}
            }
        }
    }
}

fn edit(args: &AddArgs) -> anyhow::Result<()> {
    args.fields.reject_blank_values()?;
    let store = open_store(&args.db)?;
    let mut changes = flags_with_env(&args.fields, &args.password, PasswordVariable::Ignore);
    if let Some(password) = given_password(&args.password)? {
        changes.qualys_password = Some(password);
    }
    if args.password.prompt_password {
        changes.qualys_password = Some(prompt_password(&args.name)?);
    }
    if args.password.forget_lost_passwords && changes.qualys_password.is_none() {
        bail!(
            "--forget-lost-passwords needs the new password of {:?}: pass --password-file FILE, \
             --password-env VAR or --prompt-password",
            args.name
        );
    }
    // The passwords of a lost key are cleared only once every check of the
    // edit passed, right before the new password is stored.
    let mut cleared: Vec<String> = Vec::new();
    let forget = || {
        if args.password.forget_lost_passwords {
            cleared = store.forget_passwords_of_lost_key()?;
        }
        Ok(())
    };
    let instance = runtime()?
        .block_on(instances::edit_instance_with(
            &store,
            &args.name,
            changes,
            check_options(args),
            forget,
        ))
        .map_err(|error| with_lock_advice(error.into(), store.path()))?;
    let others: Vec<&str> = cleared
        .iter()
        .map(String::as_str)
        .filter(|name| *name != args.name)
        .collect();
    if !others.is_empty() {
        errln!(
            "cleared the passwords of {}: enter each again with `qgraph integration edit NAME \
             --password-file FILE`",
            others.join(", ")
        );
    }
    outln!("updated instance {} (id {})", instance.name, instance.id)?;
    Ok(())
}

/// Reads the password from `--password-file` or `--password-env`, if given.
fn given_password(args: &PasswordArgs) -> Result<Option<Secret>, PasswordError> {
    if let Some(path) = &args.password_file {
        read_password_file(path).map(Some)
    } else if let Some(var) = &args.password_env {
        password_from_env(var).map(Some)
    } else {
        Ok(None)
    }
}

fn prompt_password(name: &str) -> anyhow::Result<Secret> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "missing Qualys password for instance {name:?}: standard input is not a terminal, so pass --password-file FILE or --password-env VAR (add also reads QUALYS_PASSWORD)"
        );
    }
    let text = rpassword::prompt_password(format!("Qualys password for instance {name}: "))
        .context("failed to read the password from the terminal")?;
    prompted_password(text)
}

/// Rejects a blank password typed at the prompt here, because the
/// configuration check would report it as a missing field with advice about
/// QUALYS_PASSWORD, which edit never reads.
fn prompted_password(text: String) -> anyhow::Result<Secret> {
    if text.trim().is_empty() {
        bail!(
            "the password typed at the prompt is empty or only white space: run the command again and type the Qualys password of the API user"
        );
    }
    Ok(Secret::new(text))
}

fn list(db: &DbArgs) -> anyhow::Result<()> {
    let store = open_store(db)?;
    let instances = store.list_instances()?;
    if instances.is_empty() {
        outln!("no instances: add one with `qgraph integration add NAME`")?;
        return Ok(());
    }
    outln!("{:<5} {:<24} {:<42} LAST JOB", "ID", "NAME", "API URL")?;
    for instance in instances {
        let api_url = instance
            .config
            .get("qualysApiUrl")
            .and_then(|v| v.as_str())
            .unwrap_or("-")
            .to_owned();
        let last_job = match store.jobs(instance.id, 1)?.first() {
            Some(job) => format!(
                "{} at {}",
                job.status.as_str(),
                qgraph_integration::time::format_iso_seconds(job.started_on)
            ),
            None => "never run".to_owned(),
        };
        // Names stored before names were checked, and URLs, may contain control characters.
        outln!(
            "{:<5} {:<24} {:<42} {}",
            instance.id.0,
            escape_controls(&instance.name),
            escape_controls(&api_url),
            last_job
        )?;
    }
    Ok(())
}

fn show(args: &NameArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db)?;
    let instance = instances::find(&store, &args.name)?;
    let raw = stored_raw_config(&instance)?;
    let stored = serde_json::to_value(&raw)?;
    outln!("id: {}", instance.id)?;
    outln!("name: {}", escape_controls(&instance.name))?;
    for field in FIELDS {
        let value = if field.name == "qualysPassword" {
            if instance.has_password {
                Secret::MASK.to_owned()
            } else {
                "(not set)".to_owned()
            }
        } else {
            match stored.get(field.name) {
                Some(serde_json::Value::String(text)) => text.clone(),
                Some(other) => other.to_string(),
                None => "(not set)".to_owned(),
            }
        };
        outln!("{}: {}", field.name, escape_controls(&value))?;
    }
    Ok(())
}

fn remove(args: &NameArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db)?;
    let report = instances::remove_instance(&store, &args.name, qgraph_cli::now_ms())
        .map_err(|error| with_lock_advice(error.into(), store.path()))?;
    outln!(
        "removed instance {}: deleted {} entities, {} relationships and {} jobs",
        escape_controls(&args.name),
        report.entities_deleted,
        report.relationships_deleted,
        report.jobs_deleted
    )?;
    Ok(())
}

fn run_now(args: &RunArgs) -> anyhow::Result<ExitCode> {
    let store = open_store(&args.db)?;
    let progress = Progress::new(ProgressMode::detect(args.quiet));
    let request = SyncRequest::new(qgraph_cli::now_ms(), &progress);
    let summary = runtime()?
        .block_on(sync_instance(&store, &args.name, &request))
        .map_err(|error| with_lock_advice(error.into(), store.path()))?;
    // The run is committed, so its exit status is kept even when the reader
    // of standard output has gone away.
    let status = ExitCode::from(summary.exit_code());
    Ok(status_after_output(print_summary(&summary), status))
}

/// Prints a sync's status, steps with their errors, and what the commit changed.
pub fn print_summary(summary: &SyncSummary) -> Result<(), OutputError> {
    let report = &summary.report;
    outln!(
        "sync of {} finished: {} (job {})",
        escape_controls(&summary.instance.name),
        serde_json::to_value(summary.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        report.job_id
    )?;
    for step in &summary.steps {
        outln!("  {}", escape_controls(&describe_step(step)))?;
        for error in &step.errors {
            outln!("    error: {}", escape_controls(&describe_error(error)))?;
        }
    }
    outln!(
        "  entities: {} created, {} updated, {} deleted; relationships: {} created, {} updated, {} deleted",
        report.entities_created,
        report.entities_updated,
        report.entities_deleted,
        report.relationships_created + report.mapper_relationships_created,
        report.relationships_updated + report.mapper_relationships_updated,
        report.relationships_deleted + report.mapper_relationships_deleted,
    )?;
    if report.findings_retired > 0 {
        outln!("  {}", retired_findings_text(report.findings_retired))?;
    }
    let mapper_changes = report.placeholders_created
        + report.placeholders_deleted
        + report.rule_relationships_created
        + report.rule_relationships_deleted;
    if mapper_changes > 0 {
        // These belong to the mapper scope, so the counts above leave them
        // out while the per-type counts of the graph include them.
        outln!(
            "  mapper: {} placeholder entities created, {} deleted; {} relationships of the global mapping rules created, {} deleted",
            report.placeholders_created,
            report.placeholders_deleted,
            report.rule_relationships_created,
            report.rule_relationships_deleted,
        )?;
    }
    if report.mapped_without_target > 0 {
        outln!(
            "  {} mapped relationships relate nothing: their targets are only linked, not created, \
             and no stored entity matches (Azure VMs, for example), or their source is missing",
            report.mapped_without_target
        )?;
    }
    if summary.status != qgraph_model::RunStatus::Success {
        outln!(
            "  kept, because a step failed or is incremental: {}",
            report.partial_types.join(", ")
        )?;
    }
    if !summary.unknown_qids.is_empty() {
        outln!(
            "  {} QIDs were not found in the knowledge base",
            summary.unknown_qids.len()
        )?;
    }
    Ok(())
}

/// Describes the findings a commit deleted by their lifecycle, apart from the
/// entity counts; their relationships went with them.
pub(crate) fn retired_findings_text(count: u64) -> String {
    format!(
        "findings retired: {count}, because their host is gone or they passed the retention; \
         their relationships were deleted with them"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_prompted_password_is_rejected() {
        for text in ["", " ", "   \t"] {
            let error = prompted_password(text.to_owned()).unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains("typed at the prompt"),
                "{text:?}: {message}"
            );
            assert!(!message.contains("QUALYS_PASSWORD"), "{text:?}: {message}");
        }
        assert!(prompted_password(" pass word ".to_owned()).is_ok());
    }
}
