//! Reads the generated detection list over loopback and reports MB/s and peak memory.
//!
//! Run with `cargo bench -p qgraph-qualys-sim --bench detection_throughput`. Set
//! `SIM_BENCH_HOSTS`, `SIM_BENCH_DETECTIONS` or `SIM_BENCH_RESULTS_BYTES` to change the size;
//! `SIM_BENCH_RESULTS_BYTES=0` leaves `RESULTS` out (`show_results=0`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a benchmark aborts on setup failure"
)]

use std::time::Instant;

use qgraph_qualys_sim::client::{BodyMode, Client};
use qgraph_qualys_sim::{GeneratedConfig, SimConfig, Simulator};

const FORM: &str =
    "action=list&show_tags=1&show_igs=1&status=New,Active,Fixed,Re-Opened&truncation_limit=0";
const RUNS: usize = 3;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Peak resident memory of this process (server and client), in MiB, from /proc.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and expects no work.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let config = GeneratedConfig {
        hosts: env_number("SIM_BENCH_HOSTS", 20_000),
        detections_per_host: u32::try_from(env_number("SIM_BENCH_DETECTIONS", 40)).unwrap(),
        results_bytes: usize::try_from(env_number("SIM_BENCH_RESULTS_BYTES", 512)).unwrap(),
        ..GeneratedConfig::default()
    };
    let form = format!("{FORM}&show_results={}", u8::from(config.results_bytes > 0));
    let sim = Simulator::start(SimConfig::generated(config.clone()))
        .await
        .unwrap();
    let client = Client::with_defaults(&sim.base_url());
    println!(
        "detection list: {} hosts, {} detections per host (mean), RESULTS {} bytes",
        config.hosts, config.detections_per_host, config.results_bytes
    );
    let rss_before = peak_rss_mib().unwrap_or(0.0);
    let mut rates = Vec::new();
    for run in 1..=RUNS {
        let started = Instant::now();
        let response = client
            .send(
                "POST",
                "/api/2.0/fo/asset/host/vm/detection/",
                Some("application/x-www-form-urlencoded"),
                form.as_bytes(),
                BodyMode::Count,
            )
            .await
            .unwrap();
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(response.status, 200);
        let megabytes = response.wire_bytes as f64 / 1e6;
        let rate = megabytes / secs;
        rates.push(rate);
        println!("run {run}: {megabytes:.0} MB in {secs:.2} s = {rate:.0} MB/s");
    }
    rates.sort_by(f64::total_cmp);
    println!("median: {:.0} MB/s", rates[RUNS / 2]);
    println!(
        "peak RSS: {:.0} MiB before the first request, {:.0} MiB after all runs",
        rss_before,
        peak_rss_mib().unwrap_or(0.0)
    );
    sim.shutdown().await;
}
