//! Host detections to `qualys_host_finding` entities.

use qgraph_model::{Entity, ModelError, Value};
use qgraph_qualys::{Detection, HostDetections};

use super::hosts::HostTargets;
use super::{
    MAX_DETAILS_CHARS, non_empty, numeric_severity, push_unique, severity_word, truncate_chars,
};
use crate::steps::types;

/// Options of the finding converter taken from the instance configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct FindingOptions<'a> {
    /// QIDs whose results are kept in `details`, sorted ascending.
    pub result_qids: &'a [u64],
}

/// Builds the `_key` of a host finding from the host, QID, port and protocol.
///
/// The detection type and the SSL flag are left out on purpose: a detection
/// that Qualys moves from Potential to Confirmed, or rescans over TLS, is
/// the same finding and keeps its identity and history.
pub fn host_finding_key(host_id: u64, detection: &Detection) -> String {
    finding_key_from_parts(
        host_id,
        detection.port,
        detection.protocol.as_deref(),
        detection.qid,
    )
}

/// Builds a host finding `_key` from its parts; see [`host_finding_key`].
pub fn finding_key_from_parts(
    host_id: u64,
    port: Option<u16>,
    protocol: Option<&str>,
    qid: u64,
) -> String {
    let mut key = format!("hostId:{host_id}");
    if let Some(port) = port {
        key.push_str(&format!("|port:{port}"));
    }
    if let Some(protocol) = non_empty(protocol) {
        key.push_str("|protocol:");
        key.push_str(&protocol.to_ascii_lowercase());
    }
    key.push_str(&format!("|qid:{qid}"));
    key
}

/// Returns true unless the status is `Fixed`.
pub(crate) fn is_open(status: Option<&str>) -> bool {
    !status.is_some_and(|s| s.trim().eq_ignore_ascii_case("fixed"))
}

/// Builds the `qualys_host_finding` entity of one detection. `targets` are
/// the identifiers of the host from Asset Management, when known.
pub fn host_finding_entity(
    host: &HostDetections,
    detection: &Detection,
    targets: Option<&HostTargets>,
    options: FindingOptions<'_>,
) -> Result<Entity, ModelError> {
    let mut entity = Entity::new(
        host_finding_key(host.host_id, detection),
        types::HOST_FINDING,
        &["Finding"],
    )?;
    let name = format!("QID {}", detection.qid);
    entity.display_name = Some(name.clone());
    entity.set("name", name);
    entity.set("qid", Value::from_u64(detection.qid));
    entity.set("hostId", Value::from_u64(host.host_id));
    entity.set("category", "system-scan");
    set_text(&mut entity, "type", Some(&detection.detection_type));
    if let Some(id) = detection.unique_vuln_id {
        entity.set("id", id.to_string());
        entity.set("uniqueVulnId", Value::from_u64(id));
    }

    set_severity_properties(&mut entity, detection.severity);
    set_status(&mut entity, detection);
    set_location(&mut entity, host, detection);
    set_times(&mut entity, detection);
    set_host_identity(&mut entity, host, targets);
    set_details(&mut entity, detection, options);
    Ok(entity)
}

fn set_text(entity: &mut Entity, name: &str, value: Option<&str>) {
    entity.set_opt(name, non_empty(value).map(str::to_owned));
}

pub(crate) fn set_severity_properties(entity: &mut Entity, severity: Option<u8>) {
    entity.set("severity", severity_word(severity));
    entity.set("numericSeverity", numeric_severity(severity));
    entity.set_opt("qualysSeverity", severity.map(u32::from));
}

fn set_status(entity: &mut Entity, detection: &Detection) {
    set_text(entity, "status", detection.status.as_deref());
    entity.set("open", is_open(detection.status.as_deref()));
    entity.set_opt("isIgnored", detection.is_ignored);
    entity.set_opt("isDisabled", detection.is_disabled);
    entity.set_opt("numTimesFound", detection.times_found.map(Value::from_u64));
}

fn set_location(entity: &mut Entity, host: &HostDetections, detection: &Detection) {
    entity.set_opt("port", detection.port.map(u32::from));
    set_text(entity, "protocol", detection.protocol.as_deref());
    entity.set_opt("ssl", detection.ssl);
    set_text(entity, "instance", detection.instance.as_deref());
    set_text(entity, "ipAddress", host.ip.as_deref());
    set_text(entity, "ipv6Address", host.ipv6.as_deref());
}

fn set_times(entity: &mut Entity, detection: &Detection) {
    entity.set_opt("createdOn", detection.first_found);
    entity.set_opt("firstFoundOn", detection.first_found);
    entity.set_opt("updatedOn", detection.last_found);
    entity.set_opt("lastFoundOn", detection.last_found);
    entity.set_opt("lastTestedOn", detection.last_test);
    entity.set_opt("lastUpdatedOn", detection.last_update);
    entity.set_opt("lastProcessedOn", detection.last_processed);
    entity.set_opt("lastFixedOn", detection.last_fixed);
}

/// Sets the host identifiers and `targets`, the values that global mapping
/// rules match against Host properties.
fn set_host_identity(entity: &mut Entity, host: &HostDetections, targets: Option<&HostTargets>) {
    let empty = HostTargets::default();
    let t = targets.unwrap_or(&empty);
    let fqdn = t.fqdn.clone().or_else(|| {
        non_empty(host.dns.as_deref())
            .filter(|dns| dns.contains('.'))
            .map(str::to_lowercase)
    });

    entity.set_opt("fqdn", fqdn.clone());
    entity.set_opt("ec2InstanceArn", t.ec2_instance_arn.clone());
    entity.set_opt("awsAccountId", t.aws_account_id.clone());
    entity.set_opt("gcpInstanceSelfLink", t.gcp_instance_self_link.clone());
    entity.set_opt("gcpProjectId", t.gcp_project_id.clone());
    entity.set_opt("azureVmSourceId", t.azure_vm_source_id.clone());
    entity.set_opt("azureSubscriptionId", t.azure_subscription_id.clone());
    set_text(entity, "ec2InstanceId", host.ec2_instance_id.as_deref());

    let mut target_values = Vec::new();
    let host_id = host.host_id.to_string();
    for value in [
        host.ip.as_deref(),
        host.ipv6.as_deref(),
        Some(host_id.as_str()),
        fqdn.as_deref(),
        t.ec2_instance_arn.as_deref(),
        host.ec2_instance_id.as_deref(),
        t.gcp_instance_self_link.as_deref(),
        t.azure_vm_source_id.as_deref(),
    ] {
        push_unique(&mut target_values, value);
    }
    entity.set("targets", target_values);

    let mut tags = Vec::new();
    for tag in &host.tags {
        push_unique(&mut tags, Some(&tag.name));
    }
    if !tags.is_empty() {
        entity.set("tags", tags);
    }
}

fn set_details(entity: &mut Entity, detection: &Detection, options: FindingOptions<'_>) {
    if options.result_qids.binary_search(&detection.qid).is_err() {
        return;
    }
    if let Some(results) = non_empty(detection.results.as_deref()) {
        entity.set("details", truncate_chars(results, MAX_DETAILS_CHARS));
    }
}
