//! Parse throughput of host detection bodies on one core.
//!
//! The body is generated while it is read: a header, one host template
//! repeated until the body passes `BODY_BYTES`, and a footer. The whole body
//! is never in memory, so the process's memory use is the parser's.
#![allow(clippy::unwrap_used, reason = "benchmark setup fails loudly")]
#![allow(clippy::expect_used, reason = "benchmark setup fails loudly")]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group};
use qgraph_qualys::ResultsOptions;
use qgraph_qualys::parse;
use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

/// Smallest generated body, in bytes.
const BODY_BYTES: u64 = 100 * 1024 * 1024;
/// Bytes handed to the parser per read, like an HTTP body chunk.
const CHUNK_BYTES: usize = 16 * 1024;

const HEADER: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<!DOCTYPE HOST_LIST_VM_DETECTION_OUTPUT SYSTEM "https://qualysapi.qualys.com/api/2.0/fo/asset/host/vm/detection/host_list_vm_detection_output.dtd">
<HOST_LIST_VM_DETECTION_OUTPUT>
  <RESPONSE>
    <DATETIME>2026-01-01T00:00:00Z</DATETIME>
    <HOST_LIST>
"#;

const FOOTER: &str = "    </HOST_LIST>\n  </RESPONSE>\n</HOST_LIST_VM_DETECTION_OUTPUT>\n";

fn detection(qid: u32) -> String {
    format!(
        r#"          <DETECTION>
            <QID>{qid}</QID>
            <TYPE>Confirmed</TYPE>
            <SEVERITY>3</SEVERITY>
            <PORT>443</PORT>
            <PROTOCOL>tcp</PROTOCOL>
            <SSL>1</SSL>
            <RESULTS><![CDATA[X-Content-Type-Options HTTP Header missing on port 443.
GET / HTTP/1.0
Host: ip-10-55-46-210.ec2.internal

HTTP/1.0 200 OK
Cache-Control: no-cache, no-store, must-revalidate
Content-Type: text/html; charset=utf-8
Strict-Transport-Security: max-age=31536000]]></RESULTS>
            <STATUS>Active</STATUS>
            <FIRST_FOUND_DATETIME>2020-04-16T17:15:49Z</FIRST_FOUND_DATETIME>
            <LAST_FOUND_DATETIME>2020-04-17T19:30:37Z</LAST_FOUND_DATETIME>
            <TIMES_FOUND>3</TIMES_FOUND>
            <LAST_TEST_DATETIME>2020-04-17T19:30:37Z</LAST_TEST_DATETIME>
            <LAST_UPDATE_DATETIME>2020-04-17T19:33:23Z</LAST_UPDATE_DATETIME>
            <IS_IGNORED>0</IS_IGNORED>
            <IS_DISABLED>0</IS_DISABLED>
            <LAST_PROCESSED_DATETIME>2020-04-17T19:33:23Z</LAST_PROCESSED_DATETIME>
          </DETECTION>
"#
    )
}

fn host_template() -> String {
    let mut host = String::from(
        r#"      <HOST>
        <ID>92662027</ID>
        <IP>10.55.46.210</IP>
        <TRACKING_METHOD>IP</TRACKING_METHOD>
        <OS><![CDATA[Amazon Linux]]></OS>
        <DNS><![CDATA[ip-10-55-46-210.ec2.internal]]></DNS>
        <LAST_SCAN_DATETIME>2020-04-17T19:33:23Z</LAST_SCAN_DATETIME>
        <LAST_VM_SCANNED_DATE>2020-04-17T19:30:37Z</LAST_VM_SCANNED_DATE>
        <LAST_VM_SCANNED_DURATION>545</LAST_VM_SCANNED_DURATION>
        <TAGS><TAG><TAG_ID>7517812</TAG_ID><NAME><![CDATA[prod]]></NAME></TAG></TAGS>
        <DETECTION_LIST>
"#,
    );
    for qid in 0..20 {
        host.push_str(&detection(11_000 + qid));
    }
    host.push_str("        </DETECTION_LIST>\n      </HOST>\n");
    host
}

/// Serves header, `repeats` hosts and footer in chunks without building the body.
struct GeneratedBody {
    parts: [Vec<u8>; 3],
    repeats: u64,
    part: usize,
    offset: usize,
    emitted_hosts: u64,
}

impl GeneratedBody {
    fn new(host: &str, repeats: u64) -> Self {
        Self {
            parts: [
                HEADER.as_bytes().to_vec(),
                host.as_bytes().to_vec(),
                FOOTER.as_bytes().to_vec(),
            ],
            repeats,
            part: 0,
            offset: 0,
            emitted_hosts: 0,
        }
    }

    fn current(&self) -> &[u8] {
        match self.parts.get(self.part) {
            Some(part) => {
                let end = (self.offset + CHUNK_BYTES).min(part.len());
                &part[self.offset..end]
            }
            None => &[],
        }
    }

    fn advance(&mut self, amount: usize) {
        self.offset += amount;
        if self.part < self.parts.len() && self.offset >= self.parts[self.part].len() {
            self.offset = 0;
            if self.part == 1 {
                self.emitted_hosts += 1;
                if self.emitted_hosts < self.repeats {
                    return;
                }
            }
            self.part += 1;
        }
    }
}

impl AsyncRead for GeneratedBody {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let chunk = this.current();
        let count = chunk.len().min(buf.remaining());
        buf.put_slice(&chunk[..count]);
        this.advance(count);
        Poll::Ready(Ok(()))
    }
}

impl AsyncBufRead for GeneratedBody {
    fn poll_fill_buf(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        Poll::Ready(Ok(self.get_mut().current()))
    }

    fn consume(self: Pin<&mut Self>, amount: usize) {
        self.get_mut().advance(amount);
    }
}

async fn parse_body(host: &str, repeats: u64) -> u64 {
    let results = ResultsOptions {
        keep: true,
        max_bytes: 300,
        ..ResultsOptions::default()
    };
    let mut stream = parse::host_detections(GeneratedBody::new(host, repeats), results);
    let mut detections = 0;
    while let Some(host) = stream.next().await.unwrap() {
        detections += host.detections.len() as u64;
    }
    detections
}

/// Reads every XML event with the async reader, without building records, as a reference for `parse_body`.
async fn read_events(host: &str, repeats: u64) -> u64 {
    let mut reader = quick_xml::Reader::from_reader(GeneratedBody::new(host, repeats));
    let mut buf = Vec::new();
    let mut events = 0;
    loop {
        buf.clear();
        match reader.read_event_into_async(&mut buf).await.unwrap() {
            quick_xml::events::Event::Eof => return events,
            _ => events += 1,
        }
    }
}

fn detections(c: &mut Criterion) {
    let host = host_template();
    let repeats = BODY_BYTES.div_ceil(host.len() as u64);
    let body_bytes = (HEADER.len() + FOOTER.len()) as u64 + repeats * host.len() as u64;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("qualys_parse");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(body_bytes));
    group.bench_function("host_detections_100MB", |bench| {
        bench.iter(|| {
            let detections = runtime.block_on(parse_body(&host, repeats));
            assert_eq!(detections, repeats * 20);
        });
    });
    group.bench_function("xml_events_only_100MB", |bench| {
        bench.iter(|| runtime.block_on(read_events(&host, repeats)));
    });
    // On a shared machine the wall clock also counts time spent waiting for a
    // core, so these two report the CPU time of the benchmark thread instead.
    if thread_cpu_time().is_some() {
        group.bench_function("host_detections_100MB_cpu_time", |bench| {
            bench.iter_custom(|iterations| {
                cpu_time_of(|| {
                    for _ in 0..iterations {
                        let detections = runtime.block_on(parse_body(&host, repeats));
                        assert_eq!(detections, repeats * 20);
                    }
                })
            });
        });
        group.bench_function("xml_events_only_100MB_cpu_time", |bench| {
            bench.iter_custom(|iterations| {
                cpu_time_of(|| {
                    for _ in 0..iterations {
                        runtime.block_on(read_events(&host, repeats));
                    }
                })
            });
        });
    }
    group.finish();
}

/// CPU time the calling thread has run, from Linux's `/proc/thread-self/schedstat`.
fn thread_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanos = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(nanos))
}

/// Runs `work` and returns the CPU time the calling thread spent on it.
fn cpu_time_of(work: impl FnOnce()) -> Duration {
    let start = thread_cpu_time().expect("thread CPU time was readable before");
    work();
    let end = thread_cpu_time().expect("thread CPU time was readable before");
    end.saturating_sub(start)
}

criterion_group!(benches, detections);

/// Runs criterion, or with `QUALYS_PARSE_ONCE=parse` (or `events`) parses the
/// body once and exits, so `perf stat` or `/usr/bin/time` can report the CPU
/// time and peak memory of a single parse on a loaded machine.
/// `QUALYS_PARSE_MIB` sets the size of that one body in MiB (default 100), to
/// show that peak memory does not grow with the body.
fn main() {
    let once = std::env::var("QUALYS_PARSE_ONCE").ok();
    let Some(mode) = once else {
        benches();
        Criterion::default().configure_from_args().final_summary();
        return;
    };
    let body_bytes = std::env::var("QUALYS_PARSE_MIB")
        .ok()
        .map_or(BODY_BYTES, |mib| {
            mib.parse::<u64>()
                .expect("QUALYS_PARSE_MIB is a whole number")
                * 1024
                * 1024
        });
    let host = host_template();
    let repeats = body_bytes.div_ceil(host.len() as u64);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let count = match mode.as_str() {
        "events" => runtime.block_on(read_events(&host, repeats)),
        _ => runtime.block_on(parse_body(&host, repeats)),
    };
    println!("{mode}: {count}");
}
