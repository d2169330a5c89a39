//! The synthetic findings of the store's sync benchmark and of
//! `examples/sync_profile.rs`, so both measure the same rows.

#![allow(clippy::expect_used, reason = "benchmark data fails loudly")]

use qgraph_model::Entity;

/// Hosts the findings are spread over.
const HOSTS: u64 = 10_000;

/// A host finding shaped like the Qualys converter's output (about 700 bytes of JSON).
pub fn finding(i: u64) -> Entity {
    let host_id = i % HOSTS;
    let qid = 38_000 + i / HOSTS;
    let mut e = Entity::new(
        format!("qualys-host-finding-{host_id}-{qid}"),
        "qualys_host_finding",
        &["Finding"],
    )
    .expect("the benchmark key and type are valid");
    e.display_name = Some(format!("QID {qid} on host {host_id}"));
    e.set("qid", qid)
        .set("hostId", host_id)
        .set("type", "Confirmed")
        .set("severity", "high")
        .set("numericSeverity", 8)
        .set("qualysSeverity", 4)
        .set("status", "Active")
        .set("open", true)
        .set("category", "system-scan")
        .set("port", 443)
        .set("protocol", "tcp")
        .set("ssl", true)
        .set("firstFoundOn", 1_690_000_000_000_i64)
        .set("lastFoundOn", 1_700_000_000_000_i64)
        .set("lastTestedOn", 1_700_000_000_000_i64)
        .set("fqdn", format!("host-{host_id}.example.test"))
        .set("targets", vec![format!("10.0.{}.{}", host_id / 256, host_id % 256), host_id.to_string()])
        .set("details", "TLSv1.0 is supported on port 443; the server accepts connections with weak cipher suites such as RC4 and 3DES.")
        .set("production", true)
        .set("public", true);
    e
}
