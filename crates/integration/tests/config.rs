//! Configuration validation: defaults, environment variables and the
//! message of every rejected value.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::collections::HashMap;

use qgraph_integration::config::{FIELDS, ListInput, ScalarInput};
use qgraph_integration::{ConfigError, DetectionType, PollingInterval, RawConfig, Secret};

fn minimal() -> RawConfig {
    RawConfig {
        account_name: Some("Prod".to_owned()),
        qualys_username: Some("exmpl3aw".to_owned()),
        qualys_password: Some(Secret::new("s3cret-value")),
        qualys_api_url: Some("https://qualysapi.qg3.apps.qualys.com/".to_owned()),
        ..Default::default()
    }
}

fn text(value: &str) -> Option<ScalarInput> {
    Some(ScalarInput::Text(value.to_owned()))
}

fn list(value: &str) -> Option<ListInput> {
    Some(ListInput::Text(value.to_owned()))
}

/// Returns the errors of a configuration that must be invalid.
fn errors(raw: RawConfig) -> Vec<ConfigError> {
    match raw.validate() {
        Ok(config) => panic!("expected errors, got {config:?}"),
        Err(errors) => errors.0,
    }
}

#[test]
fn defaults_apply_to_a_minimal_config() {
    let config = minimal().validate().unwrap();

    assert_eq!(
        config.api_url.as_string(),
        "https://qualysapi.qg3.apps.qualys.com"
    );
    assert_eq!(config.polling_interval, PollingInterval::OneDay);
    assert_eq!(config.min_scanned_since_days, 7.0);
    assert_eq!(config.min_findings_since_days, 7.0);
    assert_eq!(config.finding_severities, vec![3, 4, 5]);
    assert_eq!(
        config.finding_types,
        vec![DetectionType::Potential, DetectionType::Confirmed]
    );
    assert!(config.result_qids.is_empty());
    assert!(config.include_only_tags.is_empty());
    assert!(!config.ingest_web_app_scans);
    assert!(!config.tag_with_account_name);
    assert_eq!(config.findings_retention_days, 90);
    assert!(!config.wants_info_detections());
}

#[test]
fn missing_required_fields_name_their_variable() {
    let found = errors(RawConfig::default());
    let fields: Vec<&str> = found.iter().map(ConfigError::field).collect();

    assert_eq!(
        fields,
        vec![
            "accountName",
            "qualysUsername",
            "qualysPassword",
            "qualysApiUrl"
        ]
    );
    assert!(
        found[1].to_string().contains("QUALYS_USERNAME"),
        "{}",
        found[1]
    );
    assert!(
        found[2].to_string().contains("QUALYS_PASSWORD"),
        "{}",
        found[2]
    );
}

#[test]
fn invalid_values_name_field_and_range() {
    type Edit = fn(&mut RawConfig);
    let cases: &[(&str, Edit, &str, &str)] = &[
        (
            "minScannedSinceDays",
            |r| r.min_scanned_since_days = text("0"),
            "\"0\"",
            "from 0.01 to 3650",
        ),
        (
            "minScannedSinceDays",
            |r| r.min_scanned_since_days = text("-3"),
            "\"-3\"",
            "from 0.01 to 3650",
        ),
        (
            "minFindingsSinceDays",
            |r| r.min_findings_since_days = text("abc"),
            "\"abc\"",
            "number of days",
        ),
        (
            "minFindingsSinceDays",
            |r| r.min_findings_since_days = text("NaN"),
            "\"NaN\"",
            "number of days",
        ),
        (
            "minFindingsSinceDays",
            |r| r.min_findings_since_days = text("99999"),
            "\"99999\"",
            "from 0.01 to 3650",
        ),
        (
            "vmdrFindingSeverities",
            |r| r.vmdr_finding_severities = list("3,6"),
            "\"6\"",
            "from 1 to 5",
        ),
        (
            "vmdrFindingSeverities",
            |r| r.vmdr_finding_severities = list("high"),
            "\"high\"",
            "from 1 to 5",
        ),
        (
            "vmdrFindingTypes",
            |r| r.vmdr_finding_types = list("Confirmed,Suspected"),
            "\"Suspected\"",
            "Info, Potential or Confirmed",
        ),
        (
            "vmdrFindingResultQids",
            |r| r.vmdr_finding_result_qids = list("38739,x"),
            "\"x\"",
            "positive whole numbers",
        ),
        (
            "webAppScanApplicationIDFilter",
            |r| r.web_app_scan_application_id_filter = list("0"),
            "\"0\"",
            "positive whole numbers",
        ),
        (
            "ingestWebAppScans",
            |r| r.ingest_web_app_scans = text("maybe"),
            "\"maybe\"",
            "true or false",
        ),
        (
            "tagWithAccountName",
            |r| r.tag_with_account_name = text("2"),
            "\"2\"",
            "true or false",
        ),
        (
            "pollingInterval",
            |r| r.polling_interval = Some("HOURLY".to_owned()),
            "\"HOURLY\"",
            "ONE_HOUR",
        ),
        (
            "qualysApiUrl",
            |r| r.qualys_api_url = Some("https://qualysguard.qg3.apps.qualys.com".to_owned()),
            "qualysguard",
            "platform-identification",
        ),
        (
            "qualysApiUrl",
            |r| r.qualys_api_url = Some("http://169.254.169.254/latest".to_owned()),
            "169.254",
            "loopback",
        ),
        (
            "qualysUsername",
            |r| r.qualys_username = Some("a:b".to_owned()),
            "\"a:b\"",
            "without ':'",
        ),
        (
            "findingsRetentionDays",
            |r| r.findings_retention_days = text("3"),
            "\"3\"",
            "from 7",
        ),
        (
            "accountName",
            |r| r.account_name = Some("x".repeat(101)),
            "xxxx",
            "1 to 100 characters",
        ),
    ];
    for (field, edit, value, allowed) in cases {
        let mut raw = minimal();
        edit(&mut raw);
        let found = errors(raw);
        assert_eq!(found.len(), 1, "{field}: {found:?}");
        assert_eq!(found[0].field(), *field);
        let message = found[0].to_string();
        assert!(message.contains(field), "{message}");
        assert!(
            message.contains(value),
            "{field}: value missing in {message}"
        );
        assert!(
            message.contains(allowed),
            "{field}: allowed range missing in {message}"
        );
    }
}

#[test]
fn password_never_appears_in_errors_or_debug() {
    let mut raw = minimal();
    raw.qualys_api_url = Some("wut".to_owned());
    let found = errors(raw.clone());
    let shown = format!("{found:?} {} {raw:?}", found[0]);
    assert!(!shown.contains("s3cret-value"), "{shown}");

    let config = minimal().validate().unwrap();
    assert!(!format!("{config:?}").contains("s3cret-value"));
    let json = serde_json::to_string(&config.to_raw()).unwrap();
    assert!(!json.contains("s3cret-value"), "{json}");
    assert!(!json.contains("qualysPassword"), "{json}");
}

#[test]
fn lists_accept_json_arrays_and_comma_text() {
    let json = r#"{
        "accountName": "Prod", "qualysUsername": "u", "qualysPassword": "p",
        "qualysApiUrl": "http://127.0.0.1:8080",
        "vmdrFindingSeverities": [5, "4", 4],
        "vmdrFindingTypes": "confirmed, Info,",
        "vmdrFindingResultQids": [38739],
        "includeOnlyDetectionTags": "prod, pci ,prod",
        "ingestWebAppScans": "false",
        "webAppScanApplicationIDFilter": "251316904",
        "minFindingsSinceDays": 0.25,
        "findingsRetentionDays": 30
    }"#;
    let raw: RawConfig = serde_json::from_str(json).unwrap();
    let config = raw.validate().unwrap();

    assert_eq!(config.finding_severities, vec![4, 5]);
    assert_eq!(
        config.finding_types,
        vec![DetectionType::Info, DetectionType::Confirmed]
    );
    assert_eq!(config.result_qids, vec![38739]);
    assert_eq!(
        config.include_only_tags,
        vec!["prod".to_owned(), "pci".to_owned()]
    );
    // A quoted "false" is false.
    assert!(!config.ingest_web_app_scans);
    assert_eq!(config.web_app_ids, vec![251316904]);
    assert_eq!(config.min_findings_since_days, 0.25);
    assert_eq!(config.findings_retention_days, 30);
    assert!(config.api_url.is_loopback());
}

#[test]
fn unknown_json_fields_are_rejected() {
    let result: Result<RawConfig, _> =
        serde_json::from_str(r#"{"accountName": "x", "qualysPasword": "typo"}"#);
    let message = result.unwrap_err().to_string();
    assert!(message.contains("qualysPasword"), "{message}");
}

#[test]
fn environment_fills_unset_fields_and_flags_win() {
    let env: HashMap<&str, &str> = [
        ("QUALYS_USERNAME", "env-user"),
        ("QUALYS_PASSWORD", "env-password"),
        ("QUALYS_API_URL", "https://qualysapi.qualys.eu"),
        ("MIN_FINDINGS_SINCE_DAYS", "14"),
        ("VMDR_FINDING_SEVERITIES", "4,5"),
        ("INGEST_WEB_APP_SCANS", "true"),
        ("QUALYS_ACCOUNT_NAME", "   "),
    ]
    .into_iter()
    .collect();
    let from_env = RawConfig::from_env(|name| env.get(name).map(|v| (*v).to_owned()));
    assert_eq!(from_env.account_name, None, "blank values count as unset");

    let flags = RawConfig {
        account_name: Some("From flags".to_owned()),
        qualys_username: Some("flag-user".to_owned()),
        ..Default::default()
    };
    let config = flags.or(from_env).validate().unwrap();

    assert_eq!(config.account_name, "From flags");
    assert_eq!(config.username, "flag-user");
    assert_eq!(config.password.expose(), "env-password");
    assert_eq!(config.api_url.as_string(), "https://qualysapi.qualys.eu");
    assert_eq!(config.min_findings_since_days, 14.0);
    assert_eq!(config.finding_severities, vec![4, 5]);
    assert!(config.ingest_web_app_scans);
}

#[test]
fn every_field_has_an_environment_variable() {
    let names: Vec<&str> = FIELDS.iter().map(|f| f.name).collect();
    assert_eq!(names.len(), 16);
    for field in FIELDS {
        let expected: String = field
            .name
            .chars()
            .flat_map(|c| {
                let upper = c.is_ascii_uppercase().then_some('_');
                upper
                    .into_iter()
                    .chain(std::iter::once(c.to_ascii_uppercase()))
            })
            .collect();
        // IDFilter is one word in the spec name.
        let mut expected = expected.replace("I_D_FILTER", "ID_FILTER");
        // Generic names get the QUALYS_ prefix.
        if ["accountName", "description"].contains(&field.name) {
            expected = format!("QUALYS_{expected}");
        }
        assert_eq!(field.env, expected, "{}", field.name);

        let env: HashMap<&str, &str> = [(field.env, "1")].into_iter().collect();
        let raw = RawConfig::from_env(|name| env.get(name).map(|v| (*v).to_owned()));
        assert_ne!(
            raw,
            RawConfig::default(),
            "{} is not read from {}",
            field.name,
            field.env
        );
        assert_eq!(raw.set_fields(), vec![field.name]);
    }
}

#[test]
fn config_round_trips_through_its_raw_form() {
    let mut raw = minimal();
    raw.vmdr_finding_types = list("Info,Confirmed");
    raw.include_only_detection_tags = list("prod");
    raw.polling_interval = Some("four-hours".to_owned());
    let config = raw.validate().unwrap();

    assert_eq!(config.polling_interval, PollingInterval::FourHours);
    assert_eq!(config.to_raw().validate().unwrap(), config);
}

/// Validates a config with one field changed and returns the one error it must raise.
fn single_error(edit: impl FnOnce(&mut RawConfig)) -> ConfigError {
    let mut raw = minimal();
    edit(&mut raw);
    let mut found = errors(raw);
    assert_eq!(found.len(), 1, "{found:?}");
    found.remove(0)
}

#[test]
fn absurd_window_days_are_rejected() {
    // `f64` parsing took every one of these.
    for value in [
        "1e-300", "1e3", "-7", "+7", "NaN", "inf", "-inf", "0.001", "0x10", "7.5.1", "7 days", ".",
    ] {
        let error = single_error(|r| r.min_findings_since_days = text(value));
        let message = error.to_string();

        assert_eq!(error.field(), "minFindingsSinceDays", "{value}");
        assert!(message.contains(&format!("{value:?}")), "{message}");
        assert!(message.contains("from 0.01 to 3650"), "{message}");
    }
}

#[test]
fn json_number_window_in_exponent_form_is_rejected() {
    let raw: RawConfig = serde_json::from_str(r#"{"minScannedSinceDays": 1e-300}"#).unwrap();
    let raw = RawConfig {
        min_scanned_since_days: raw.min_scanned_since_days,
        ..minimal()
    };

    let found = errors(raw);

    assert_eq!(found[0].field(), "minScannedSinceDays");
}

#[test]
fn plain_window_days_are_accepted() {
    for (value, days) in [
        ("0.01", 0.01),
        ("0.25", 0.25),
        (".5", 0.5),
        ("7", 7.0),
        (" 3650 ", 3650.0),
    ] {
        let mut raw = minimal();
        raw.min_scanned_since_days = text(value);
        let config = raw.validate().unwrap();

        assert_eq!(config.min_scanned_since_days, days, "{value}");
    }
}

#[test]
fn empty_severity_list_is_rejected() {
    let cases = [
        list(""),
        list(","),
        list(" , ,"),
        Some(ListInput::Items(Vec::new())),
    ];
    for severities in cases {
        let error = single_error(|r| r.vmdr_finding_severities = severities.clone());
        let message = error.to_string();

        assert_eq!(error.field(), "vmdrFindingSeverities");
        assert!(message.contains("at least one"), "{message}");
        assert!(message.contains("from 1 to 5"), "{message}");
    }
}

#[test]
fn empty_detection_type_list_is_rejected() {
    let error = single_error(|r| r.vmdr_finding_types = list(","));

    assert_eq!(error.field(), "vmdrFindingTypes");
    assert!(
        error.to_string().contains("at least one of Info"),
        "{error}"
    );
}

#[test]
fn empty_id_and_tag_lists_mean_no_filter() {
    let mut raw = minimal();
    raw.vmdr_finding_result_qids = list("");
    raw.include_only_detection_tags = list(",");
    raw.web_app_scan_application_id_filter = list("");
    let config = raw.validate().unwrap();

    assert!(config.result_qids.is_empty());
    assert!(config.include_only_tags.is_empty());
    assert!(config.web_app_ids.is_empty());
}

#[test]
fn over_long_text_fields_are_rejected() {
    type Edit = Box<dyn Fn(&mut RawConfig)>;
    let cases: Vec<(&str, Edit, &str)> = vec![
        (
            "qualysUsername",
            Box::new(|r| r.qualys_username = Some("u".repeat(100_000))),
            "1 to 100 characters",
        ),
        (
            "accountName",
            Box::new(|r| r.account_name = Some("a".repeat(100_000))),
            "1 to 100 characters",
        ),
        (
            "description",
            Box::new(|r| r.description = Some("d".repeat(100_000))),
            "at most 1000 characters",
        ),
        (
            "qualysApiUrl",
            Box::new(|r| {
                r.qualys_api_url = Some(format!("https://qualysapi.{}.com", "q".repeat(100_000)))
            }),
            "at most 300 characters",
        ),
        (
            "includeOnlyDetectionTags",
            Box::new(|r| r.include_only_detection_tags = list(&"t".repeat(100_000))),
            "1 to 255 characters",
        ),
        (
            "pollingInterval",
            Box::new(|r| r.polling_interval = Some("p".repeat(100_000))),
            "ONE_DAY",
        ),
    ];
    for (field, edit, allowed) in cases {
        let error = single_error(edit);
        let message = error.to_string();

        assert_eq!(error.field(), field);
        assert!(message.contains(allowed), "{field}: {message}");
        assert!(
            message.contains("100"),
            "{field}: length missing in {message}"
        );
        // The message repeats the start of the value, not all of it.
        assert!(message.len() < 600, "{field}: {} bytes", message.len());
    }
}

#[test]
fn over_long_lists_are_rejected() {
    let qids: Vec<String> = (1..=1001).map(|qid| qid.to_string()).collect();
    let error = single_error(|r| r.vmdr_finding_result_qids = list(&qids.join(",")));
    let message = error.to_string();

    assert_eq!(error.field(), "vmdrFindingResultQids");
    assert!(message.contains("1001 items"), "{message}");
    assert!(message.contains("at most 1000 items"), "{message}");
}

#[test]
fn password_with_line_break_is_rejected_unshown() {
    for secret in ["first-line\nsecond-line", "tab\there", &"p".repeat(257)] {
        let error = single_error(|r| r.qualys_password = Some(Secret::new(secret)));
        let message = format!("{error} {error:?}");

        assert_eq!(error.field(), "qualysPassword");
        assert!(message.contains("value not shown"), "{message}");
        assert!(message.contains("1 to 256 characters"), "{message}");
        assert!(
            !message.contains("second-line"),
            "password shown: {message}"
        );
        assert!(!message.contains("tab"), "password shown: {message}");
        assert!(!message.contains("ppp"), "password shown: {message}");
    }
}

#[test]
fn blank_password_is_missing() {
    let error = single_error(|r| r.qualys_password = Some(Secret::new(" \t ")));

    assert_eq!(
        error,
        ConfigError::Missing {
            field: "qualysPassword",
            env: "QUALYS_PASSWORD"
        }
    );
}

#[test]
fn generic_environment_names_are_ignored() {
    let env: HashMap<&str, &str> = [
        ("ACCOUNT_NAME", "generic"),
        ("DESCRIPTION", "generic"),
        ("QUALYS_ACCOUNT_NAME", "Prod"),
        ("QUALYS_DESCRIPTION", "EU platform"),
    ]
    .into_iter()
    .collect();

    let raw = RawConfig::from_env(|name| env.get(name).map(|v| (*v).to_owned()));

    assert_eq!(raw.account_name.as_deref(), Some("Prod"));
    assert_eq!(raw.description.as_deref(), Some("EU platform"));
    assert_eq!(raw.set_fields(), vec!["accountName", "description"]);
}
