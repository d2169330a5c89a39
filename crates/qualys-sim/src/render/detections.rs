//! `POST /api/2.0/fo/asset/host/vm/detection/`: hosts with their detections, paged with
//! `id_min`; `truncation_limit` counts hosts.

use std::sync::{Arc, OnceLock};

use super::hosts::{host_filter, truncation_limit};
use super::{
    Ctx, close_v2_report, elem_cdata, elem_text, elem_time, elem_u64, end, open_v2_report, push,
    push_u64, start, warning_1980,
};
use crate::model::{Detection, DetectionFilter, Host, HostFilter, Subscription, TAG_NAMES};
use crate::params::{ParamError, Params};
use crate::stream::{ChunkSink, Closed, Producer};

/// Path of the detection endpoint.
pub(crate) const PATH: &str = "/api/2.0/fo/asset/host/vm/detection/";
const ROOT: &str = "HOST_LIST_VM_DETECTION_OUTPUT";

/// Output switches of a detection request.
#[derive(Debug, Clone, Copy)]
struct Show {
    results: bool,
    tags: bool,
}

/// Detection filters from `detection_updated_*`, `severities`, `status`, `show_igs` and
/// `include_ignored`, with Qualys' defaults for the rest.
pub(crate) fn detection_filter(params: &Params) -> Result<DetectionFilter, ParamError> {
    let defaults = DetectionFilter::default();
    Ok(DetectionFilter {
        updated_since: params.date("detection_updated_since")?,
        updated_before: params.date("detection_updated_before")?,
        severities: params.severities()?.unwrap_or(defaults.severities),
        statuses: params.statuses()?.unwrap_or(defaults.statuses),
        include_info: params.flag("show_igs")?,
        include_ignored: params.flag("include_ignored")?,
    })
}

pub(crate) fn detection_list(
    sub: Arc<Subscription>,
    ctx: Ctx,
    params: Params,
) -> Result<Producer, ParamError> {
    params.require_action_list()?;
    let hosts = host_filter(&params)?;
    let detections = detection_filter(&params)?;
    let limit = truncation_limit(&params)?;
    let show = Show {
        results: params.flag("show_results")?,
        tags: params.flag("show_tags")?,
    };
    Ok(Box::new(move |sink| {
        open_v2_report(
            sink.out(),
            &ctx.base_url,
            ROOT,
            "/api/2.0/fo/asset/host/vm/detection/host_list_vm_detection_output.dtd",
            ctx.now_secs,
        );
        let next_id = write_hosts(&sub, sink, &hosts, &detections, limit, show)?;
        let out = sink.out();
        if let Some(id) = next_id {
            let url = format!(
                "{}{PATH}?{}",
                ctx.base_url,
                params.query_with("id_min", &id.to_string())
            );
            warning_1980(out, limit, &url);
        }
        close_v2_report(out, ROOT, false);
        Ok(())
    }))
}

/// Writes up to `limit` hosts that have matching detections; returns the id of the next such
/// host when the page is full.
fn write_hosts(
    sub: &Subscription,
    sink: &mut ChunkSink,
    hosts: &HostFilter,
    filter: &DetectionFilter,
    limit: u64,
    show: Show,
) -> Result<Option<u64>, Closed> {
    let mut index = hosts.id_min.map_or(0, |id| sub.first_index_at_or_above(id));
    let mut count = 0;
    let mut matching: Vec<Detection> = Vec::new();
    let mut next_id = None;
    while let Some(host) = sub.next_host(index, hosts) {
        index = host.index + 1;
        matching.clear();
        matching.extend(sub.detections(&host).filter(|d| filter.matches(d)));
        // Qualys leaves out hosts without a matching detection.
        if matching.is_empty() {
            continue;
        }
        if limit != 0 && count == limit {
            next_id = Some(host.id);
            break;
        }
        if count == 0 {
            start(sink.out(), 4, "HOST_LIST");
        }
        write_host(sub, sink, &host, &matching, show)?;
        count += 1;
    }
    if count > 0 {
        end(sink.out(), 4, "HOST_LIST");
    }
    Ok(next_id)
}

fn write_host(
    sub: &Subscription,
    sink: &mut ChunkSink,
    host: &Host,
    detections: &[Detection],
    show: Show,
) -> Result<(), Closed> {
    let attrs = sub.host_attrs(host);
    let out = sink.out();
    start(out, 6, "HOST");
    elem_u64(out, 8, "ID", host.id);
    if let Some(ip) = &attrs.ipv4 {
        elem_text(out, 8, "IP", ip);
    }
    if let Some(ip) = &attrs.ipv6 {
        elem_text(out, 8, "IPV6", ip);
    }
    elem_text(out, 8, "TRACKING_METHOD", attrs.tracking_method);
    elem_cdata(out, 8, "OS", attrs.os);
    elem_cdata(out, 8, "DNS", &attrs.dns);
    elem_cdata(out, 8, "NETBIOS", &attrs.netbios);
    if let Some(agent_id) = &attrs.agent_id {
        elem_text(out, 8, "QG_HOSTID", agent_id);
    }
    if let crate::model::attrs::Cloud::Ec2 { instance_id, .. } = &attrs.cloud {
        elem_text(out, 8, "EC2_INSTANCE_ID", instance_id);
    }
    elem_time(out, 8, "LAST_SCAN_DATETIME", host.last_scan_secs + 41);
    elem_time(out, 8, "LAST_VM_SCANNED_DATE", host.last_scan_secs);
    elem_u64(out, 8, "LAST_VM_SCANNED_DURATION", 60 + host.id % 900);
    if attrs.agent_id.is_some() {
        elem_time(out, 8, "LAST_VM_AUTH_SCANNED_DATE", host.last_scan_secs);
    }
    if show.tags {
        write_tags(out, host);
    }
    start(out, 8, "DETECTION_LIST");
    for detection in detections {
        write_detection(sub, sink, host, detection, show)?;
        sink.boundary()?;
    }
    let out = sink.out();
    end(out, 8, "DETECTION_LIST");
    end(out, 6, "HOST");
    sink.boundary()
}

fn write_tags(out: &mut Vec<u8>, host: &Host) {
    start(out, 8, "TAGS");
    for (t, name) in TAG_NAMES.iter().enumerate() {
        if host.tags & (1 << t) != 0 {
            start(out, 10, "TAG");
            elem_u64(out, 12, "TAG_ID", Subscription::tag_id(t));
            elem_cdata(out, 12, "NAME", name);
            end(out, 10, "TAG");
        }
    }
    end(out, 8, "TAGS");
}

fn write_detection(
    sub: &Subscription,
    sink: &mut ChunkSink,
    host: &Host,
    d: &Detection,
    show: Show,
) -> Result<(), Closed> {
    let out = sink.out();
    start(out, 10, "DETECTION");
    elem_u64(out, 12, "QID", d.qid);
    elem_text(out, 12, "TYPE", d.detection_type.as_str());
    elem_u64(out, 12, "SEVERITY", u64::from(d.severity));
    if let Some(port) = d.port {
        elem_u64(out, 12, "PORT", u64::from(port));
        elem_text(out, 12, "PROTOCOL", d.protocol);
    }
    elem_u64(out, 12, "SSL", u64::from(d.ssl));
    if show.results {
        write_results(sub, sink, host, d)?;
    }
    let out = sink.out();
    elem_text(out, 12, "STATUS", d.status.as_str());
    elem_time(out, 12, "FIRST_FOUND_DATETIME", d.first_found_secs);
    elem_time(out, 12, "LAST_FOUND_DATETIME", d.last_found_secs);
    elem_u64(out, 12, "TIMES_FOUND", d.times_found);
    elem_time(out, 12, "LAST_TEST_DATETIME", d.last_found_secs);
    elem_time(out, 12, "LAST_UPDATE_DATETIME", d.last_update_secs);
    elem_u64(out, 12, "IS_IGNORED", u64::from(d.ignored));
    elem_u64(out, 12, "IS_DISABLED", 0);
    elem_time(
        out,
        12,
        "LAST_PROCESSED_DATETIME",
        d.last_update_secs.max(d.last_found_secs),
    );
    end(out, 10, "DETECTION");
    Ok(())
}

/// Writes a `RESULTS` CDATA section of exactly the configured size: a line naming the QID and
/// host, then tab-separated filler that contains `&apos;` as real results do.
fn write_results(
    sub: &Subscription,
    sink: &mut ChunkSink,
    host: &Host,
    d: &Detection,
) -> Result<(), Closed> {
    let size = sub.config.results_bytes;
    let out = sink.out();
    push(out, "\n            <RESULTS><![CDATA[");
    let start_len = out.len();
    push(out, "QID ");
    push_u64(out, d.qid);
    push(out, " on host ");
    push_u64(out, host.id);
    out.push(b'\n');
    let written = out.len() - start_len;
    if written > size {
        out.truncate(start_len + size);
    } else {
        let mut remaining = size - written;
        let filler = results_filler();
        while remaining > 0 {
            let take = remaining.min(filler.len());
            sink.write_large(&filler[..take])?;
            remaining -= take;
        }
    }
    push(sink.out(), "]]></RESULTS>");
    Ok(())
}

/// 64 KiB of result-like text, built once.
fn results_filler() -> &'static [u8] {
    static FILLER: OnceLock<Vec<u8>> = OnceLock::new();
    FILLER.get_or_init(|| {
        let lines = [
            "Name\tProgram\tVersion\tProtocol\tPort\n",
            "portmap/rpcbind\t100000\t2-4\ttcp\t111\n",
            "HTTP/1.1 200 OK\r\nServer: Apache\r\nX-Frame-Options: SAMEORIGIN\n",
            "key exchange\tdiffie-hellman-group1-sha1\n",
            "It&apos;s reported as vulnerable <version> 1.0.2k\n",
        ];
        let mut text = Vec::with_capacity(64 * 1024);
        let mut i = 0;
        while text.len() < 64 * 1024 {
            text.extend_from_slice(lines[i % lines.len()].as_bytes());
            i += 1;
        }
        text.truncate(64 * 1024);
        text
    })
}
