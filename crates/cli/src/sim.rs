//! `qgraph sim`: runs the Qualys API simulator on loopback, or prints its ground truth.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use qgraph_qualys_sim::{
    Credentials, DetectionStatus, FaultRule, GeneratedConfig, Limits, SimConfig, Simulator,
    SummaryFilter, parse_timestamp, summary,
};

use crate::output::{errln, outln};

/// Options of `qgraph sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Loopback address to bind (127.0.0.0/8 or ::1).
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// TCP port; 0 picks a free one. The base URL is printed on start.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve the recorded bodies of this fixtures directory instead of generated data.
    #[arg(long, value_name = "DIR", conflicts_with = "summary")]
    replay: Option<PathBuf>,
    /// Seed of the generated subscription.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Hosts on day 0.
    #[arg(long, default_value_t = 100)]
    hosts: u64,
    /// Mean detections per host (heavy-tailed).
    #[arg(long, default_value_t = 20)]
    detections_per_host: u32,
    /// Days of churn since the start date.
    #[arg(long, default_value_t = 0)]
    day: u32,
    /// Size of each RESULTS text, in bytes, sent with show_results=1.
    #[arg(long, default_value_t = 256)]
    results_bytes: usize,
    /// Vulnerabilities in the knowledge base.
    #[arg(long, default_value_t = 4_000)]
    kb_vulns: u64,
    /// WAS web applications.
    #[arg(long, default_value_t = 10)]
    web_apps: u64,
    /// Mean findings per scanned web application.
    #[arg(long, default_value_t = 8)]
    findings_per_web_app: u32,
    /// Day 0 of the subscription, as YYYY-MM-DD (UTC).
    #[arg(long, default_value = "2026-01-01")]
    start_date: String,
    /// Username the simulator accepts.
    #[arg(long, default_value = qgraph_qualys_sim::DEFAULT_USERNAME)]
    username: String,
    /// Password the simulator accepts.
    #[arg(long, env = "QGRAPH_SIM_PASSWORD", hide_env_values = true, default_value = qgraph_qualys_sim::DEFAULT_PASSWORD)]
    password: String,
    /// API 2.0 calls accepted per rate-limit window.
    #[arg(long, default_value_t = Limits::default().rate_limit_calls)]
    rate_limit_calls: u32,
    /// Length of the rate-limit window, in seconds.
    #[arg(long, default_value_t = Limits::default().rate_window_secs)]
    rate_window_secs: u64,
    /// API 2.0 calls allowed to run at once.
    #[arg(long, default_value_t = Limits::default().concurrency_limit)]
    concurrency_limit: u32,
    /// Fault to arm, as ENDPOINT:KIND[=VALUE][:COUNT|always], such as host-list:rate-limit=3:2.
    /// Endpoints: portal-version, host-list, host-asset, host-detection, knowledge-base, web-app,
    /// web-app-finding. Kinds: concurrency[=CALLS], rate-limit[=SECS], 500..599, reset,
    /// stall[=SECS], truncate, invalid-utf8, control-chars, expired, invalid-credentials, bad-login.
    #[arg(long = "fault", value_name = "SPEC")]
    faults: Vec<String>,
    /// Print the generated subscription's counts as JSON and exit without serving.
    #[arg(long)]
    summary: bool,
    /// Summary filter: hosts processed after this time (vm_processed_after).
    #[arg(long, requires = "summary")]
    vm_processed_after: Option<String>,
    /// Summary filter: hosts processed before this time (vm_processed_before).
    #[arg(long, requires = "summary")]
    vm_processed_before: Option<String>,
    /// Summary filter: detections updated since this time (detection_updated_since).
    #[arg(long, requires = "summary")]
    detection_updated_since: Option<String>,
    /// Summary filter: detections updated before this time (detection_updated_before).
    #[arg(long, requires = "summary")]
    detection_updated_before: Option<String>,
    /// Summary filter: detection severities, such as 3,4,5.
    #[arg(long, requires = "summary", value_delimiter = ',')]
    severities: Option<Vec<u8>>,
    /// Summary filter: detection statuses, such as New,Active,Fixed,Re-Opened.
    #[arg(long, requires = "summary", value_delimiter = ',')]
    status: Option<Vec<String>>,
    /// Summary filter: leave information-gathered detections out (show_igs=0).
    #[arg(long, requires = "summary")]
    no_info: bool,
    /// Summary filter: count ignored detections (include_ignored=1).
    #[arg(long, requires = "summary")]
    include_ignored: bool,
    /// Summary filter: hosts carrying any of these tag names.
    #[arg(long, requires = "summary", value_delimiter = ',')]
    tags: Option<Vec<String>>,
    /// Summary filter: web apps last scanned after this time.
    #[arg(long, requires = "summary")]
    web_apps_scanned_after: Option<String>,
    /// Summary filter: web-app findings detected after this time.
    #[arg(long, requires = "summary")]
    findings_detected_after: Option<String>,
}

/// Runs `qgraph sim`.
pub fn run(args: SimArgs) -> ExitCode {
    match run_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            errln!(
                "error: {}",
                qgraph_cli::errors::error_chain_text(error.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}

fn run_inner(args: SimArgs) -> anyhow::Result<()> {
    if args.summary {
        let json = serde_json::to_string_pretty(&summary(
            &generated_config(&args)?,
            &summary_filter(&args)?,
        ))?;
        return print_line(&json);
    }
    let config = sim_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(serve(config))
}

async fn serve(config: SimConfig) -> anyhow::Result<()> {
    let sim = Simulator::start(config).await?;
    print_line(&sim.base_url())?;
    errln!(
        "Qualys simulator listening on {}; press Ctrl-C to stop.",
        sim.base_url()
    );
    tokio::signal::ctrl_c()
        .await
        .context("failed to wait for Ctrl-C")?;
    sim.shutdown().await;
    Ok(())
}

/// Prints a line to standard output. A closed pipe (as with `| head`) is not
/// an error, because the simulator goes on serving.
fn print_line(text: &str) -> anyhow::Result<()> {
    match outln!("{text}") {
        Err(error) if !error.is_broken_pipe() => Err(error.into()),
        _ => Ok(()),
    }
}

fn sim_config(args: &SimArgs) -> anyhow::Result<SimConfig> {
    let mut config = match &args.replay {
        Some(dir) => SimConfig::replay(dir),
        None => SimConfig::generated(generated_config(args)?),
    };
    config.bind_ip = args.bind;
    config.port = args.port;
    config.credentials = Credentials {
        username: args.username.clone(),
        password: args.password.clone(),
    };
    config.limits = Limits {
        rate_limit_calls: args.rate_limit_calls,
        rate_window_secs: args.rate_window_secs,
        concurrency_limit: args.concurrency_limit,
    };
    config.faults = args
        .faults
        .iter()
        .map(|spec| spec.parse::<FaultRule>())
        .collect::<Result<_, _>>()?;
    config.validate()?;
    Ok(config)
}

fn generated_config(args: &SimArgs) -> anyhow::Result<GeneratedConfig> {
    let config = GeneratedConfig {
        seed: args.seed,
        hosts: args.hosts,
        detections_per_host: args.detections_per_host,
        day: args.day,
        results_bytes: args.results_bytes,
        knowledge_base_vulns: args.kb_vulns,
        web_apps: args.web_apps,
        findings_per_web_app: args.findings_per_web_app,
        start_secs: time_arg("--start-date", &args.start_date)?,
    };
    config.validate()?;
    Ok(config)
}

fn time_arg(flag: &str, text: &str) -> anyhow::Result<i64> {
    parse_timestamp(text).with_context(|| {
        format!("invalid {flag} {text:?}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ")
    })
}

fn optional_time(flag: &str, text: Option<&String>) -> anyhow::Result<Option<i64>> {
    text.map(|t| time_arg(flag, t)).transpose()
}

fn summary_filter(args: &SimArgs) -> anyhow::Result<SummaryFilter> {
    let statuses = match &args.status {
        Some(names) => Some(
            names
                .iter()
                .map(|name| match DetectionStatus::parse(name) {
                    Some(status) => Ok(status),
                    None => {
                        bail!("invalid --status {name:?}: expected New, Active, Fixed or Re-Opened")
                    }
                })
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        None => None,
    };
    Ok(SummaryFilter {
        vm_processed_after_secs: optional_time(
            "--vm-processed-after",
            args.vm_processed_after.as_ref(),
        )?,
        vm_processed_before_secs: optional_time(
            "--vm-processed-before",
            args.vm_processed_before.as_ref(),
        )?,
        detection_updated_since_secs: optional_time(
            "--detection-updated-since",
            args.detection_updated_since.as_ref(),
        )?,
        detection_updated_before_secs: optional_time(
            "--detection-updated-before",
            args.detection_updated_before.as_ref(),
        )?,
        severities: args.severities.clone(),
        statuses,
        include_info: !args.no_info,
        include_ignored: args.include_ignored,
        tags: args.tags.clone(),
        web_apps_scanned_after_secs: optional_time(
            "--web-apps-scanned-after",
            args.web_apps_scanned_after.as_ref(),
        )?,
        findings_detected_after_secs: optional_time(
            "--findings-detected-after",
            args.findings_detected_after.as_ref(),
        )?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail by panicking")]

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Wrapper {
        #[command(flatten)]
        args: SimArgs,
    }

    fn parse(argv: &[&str]) -> SimArgs {
        Wrapper::try_parse_from(std::iter::once("sim").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn sim_args_build_config_with_faults() {
        let args = parse(&[
            "--hosts",
            "5",
            "--seed",
            "9",
            "--fault",
            "host-list:rate-limit=3:2",
            "--fault",
            "knowledge-base:500:always",
        ]);
        let config = sim_config(&args).unwrap();
        assert_eq!(config.faults.len(), 2);
        assert_eq!(config.port, 0);
        let qgraph_qualys_sim::DataSource::Generated(generated) = config.source else {
            panic!("expected generated data")
        };
        assert_eq!((generated.hosts, generated.seed), (5, 9));
    }

    #[test]
    fn sim_args_reject_bad_values() {
        assert!(sim_config(&parse(&["--fault", "host-list:nonsense"])).is_err());
        assert!(sim_config(&parse(&["--bind", "10.0.0.1"])).is_err());
        assert!(sim_config(&parse(&["--start-date", "yesterday"])).is_err());
        assert!(summary_filter(&parse(&["--summary", "--status", "Closed"])).is_err());
    }

    #[test]
    fn summary_filter_reads_flags() {
        let args = parse(&[
            "--summary",
            "--severities",
            "4,5",
            "--status",
            "New,Re-Opened",
            "--no-info",
            "--tags",
            "pci",
        ]);
        let filter = summary_filter(&args).unwrap();
        assert_eq!(filter.severities, Some(vec![4, 5]));
        assert_eq!(
            filter.statuses,
            Some(vec![DetectionStatus::New, DetectionStatus::ReOpened])
        );
        assert!(!filter.include_info);
        assert_eq!(filter.tags, Some(vec!["pci".to_owned()]));
    }
}
