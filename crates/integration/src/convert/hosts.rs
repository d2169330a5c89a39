//! Host assets: the vulnerability manager `SCANS` host mapped relationships
//! and the per-host targets that enrich findings.

use std::net::IpAddr;

use qgraph_model::{
    Direction, MappedRelationship, ModelError, Properties, RelationshipClass, Value,
};
use qgraph_qualys::{AzureSource, Ec2Source, GcpSource, HostAsset, KeyValue};

use super::account::VMDR_SERVICE_KEY;
use super::{non_empty, push_unique, tag_property};
use crate::steps::types;

/// Identifiers of one host that findings carry so they can be joined to the
/// host entity from any source (AWS, GCP, Azure inventories or Qualys itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostTargets {
    /// Lower-case `dnsHostName`, or `fqdn` when that is missing.
    pub fqdn: Option<String>,
    pub ec2_instance_arn: Option<String>,
    /// AWS account id, left-padded with zeros to 12 digits when numeric.
    pub aws_account_id: Option<String>,
    pub gcp_instance_self_link: Option<String>,
    pub gcp_project_id: Option<String>,
    /// Lower-case Azure resource id of the VM.
    pub azure_vm_source_id: Option<String>,
    pub azure_subscription_id: Option<String>,
}

impl HostTargets {
    /// Fills the fields that are unset here from `other`, so two asset
    /// records of one host add up instead of the later one replacing the first.
    pub fn merge(&mut self, other: HostTargets) {
        fn fill(slot: &mut Option<String>, value: Option<String>) {
            if slot.is_none() {
                *slot = value;
            }
        }
        fill(&mut self.fqdn, other.fqdn);
        fill(&mut self.ec2_instance_arn, other.ec2_instance_arn);
        fill(&mut self.aws_account_id, other.aws_account_id);
        fill(
            &mut self.gcp_instance_self_link,
            other.gcp_instance_self_link,
        );
        fill(&mut self.gcp_project_id, other.gcp_project_id);
        fill(&mut self.azure_vm_source_id, other.azure_vm_source_id);
        fill(&mut self.azure_subscription_id, other.azure_subscription_id);
    }
}

/// Computes the targets of a host asset.
pub fn host_targets(asset: &HostAsset) -> HostTargets {
    let ec2 = asset.ec2_sources.first();
    let gcp = asset.gcp_sources.first();
    let azure = asset.azure_sources.first();
    HostTargets {
        fqdn: asset_fqdn(asset),
        ec2_instance_arn: ec2.and_then(ec2_arn),
        aws_account_id: ec2
            .and_then(|s| non_empty(s.account_id.as_deref()))
            .map(pad_aws_account_id),
        gcp_instance_self_link: gcp.and_then(|s| gcp_self_link(asset, s)),
        gcp_project_id: gcp
            .and_then(|s| non_empty(s.project_id.as_deref()))
            .map(str::to_owned),
        azure_vm_source_id: azure.and_then(azure_resource_id),
        azure_subscription_id: azure
            .and_then(|s| non_empty(s.subscription_id.as_deref()))
            .map(str::to_owned),
    }
}

fn asset_fqdn(asset: &HostAsset) -> Option<String> {
    non_empty(asset.dns_host_name.as_deref())
        .or_else(|| non_empty(asset.fqdn.as_deref()))
        .map(str::to_lowercase)
}

/// Restores the leading zeros of a numeric AWS account id.
fn pad_aws_account_id(id: &str) -> String {
    if id.len() < 12 && id.bytes().all(|b| b.is_ascii_digit()) {
        format!("{id:0>12}")
    } else {
        id.to_owned()
    }
}

fn ec2_arn(source: &Ec2Source) -> Option<String> {
    let region = non_empty(source.region.as_deref())?;
    let account = pad_aws_account_id(non_empty(source.account_id.as_deref())?);
    let instance = non_empty(source.instance_id.as_deref())?;
    Some(format!(
        "arn:aws:ec2:{region}:{account}:instance/{instance}"
    ))
}

fn gcp_self_link(asset: &HostAsset, source: &GcpSource) -> Option<String> {
    let project = non_empty(source.project_id.as_deref())?;
    let zone = non_empty(source.zone.as_deref())?;
    let name = non_empty(asset.name.as_deref())?;
    Some(format!(
        "https://www.googleapis.com/compute/v1/projects/{project}/zones/{zone}/instances/{name}"
    ))
}

fn azure_resource_id(source: &AzureSource) -> Option<String> {
    let subscription = non_empty(source.subscription_id.as_deref())?;
    let group = non_empty(source.resource_group_name.as_deref())?;
    let name = non_empty(source.name.as_deref())?;
    Some(
        format!("/subscriptions/{subscription}/resourcegroups/{group}/providers/microsoft.compute/virtualmachines/{name}")
            .to_lowercase(),
    )
}

/// Builds the one `SCANS` mapped relationship of a host asset: to the
/// `aws_instance`, `google_compute_instance` or `azure_vm` it is, in that
/// order, and otherwise to a `discovered_host`. Returns `None` for an asset
/// with neither a cloud identity nor a VM host id to join on.
pub fn host_scans_relationship(
    asset: &HostAsset,
) -> Result<Option<MappedRelationship>, ModelError> {
    let targets = host_targets(asset);
    let mut target = common_host_properties(asset);

    let (filter_keys, skip_creation) = if let (Some(arn), Some(source)) = (
        targets.ec2_instance_arn.as_deref(),
        asset.ec2_sources.first(),
    ) {
        add_aws_properties(&mut target, arn, source);
        (vec![vec!["_type", "_key"]], false)
    } else if let (Some(link), Some(source)) = (
        targets.gcp_instance_self_link.as_deref(),
        asset.gcp_sources.first(),
    ) {
        add_gcp_properties(&mut target, link, asset, source);
        (vec![vec!["_type", "_key"]], false)
    } else if let (Some(id), Some(source)) = (
        targets.azure_vm_source_id.as_deref(),
        asset.azure_sources.first(),
    ) {
        add_azure_properties(&mut target, id, asset, source);
        // An Azure VM is created only by an Azure inventory, never as a placeholder.
        (vec![vec!["_type", "_key"]], true)
    } else if let Some(host_id) = asset.qweb_host_id {
        target.insert("_type".into(), "discovered_host".into());
        target.insert("_key".into(), format!("Host:{host_id}").into());
        let ids = [asset.id.to_string(), host_id.to_string()];
        let ids: Vec<String> = if ids[0] == ids[1] {
            vec![ids[0].clone()]
        } else {
            ids.to_vec()
        };
        target.insert("id".into(), ids.into());
        // Any Host with this VM host id matches, whichever source created it.
        (vec![vec!["_class", "qualysQwebHostId"]], false)
    } else {
        return Ok(None);
    };

    let filter_keys = filter_keys
        .into_iter()
        .map(|set| set.into_iter().map(str::to_owned).collect())
        .collect();
    let scans = RelationshipClass::new(RelationshipClass::SCANS)?;
    MappedRelationship::new(
        VMDR_SERVICE_KEY,
        types::VMDR_SERVICE,
        &scans,
        target,
        filter_keys,
        Direction::Forward,
        skip_creation,
    )
    .map(Some)
}

fn insert_opt(target: &mut Properties, name: &str, value: Option<&str>) {
    if let Some(value) = non_empty(value) {
        target.insert(name.to_owned(), value.into());
    }
}

fn insert_time(target: &mut Properties, name: &str, value: Option<i64>) {
    if let Some(ms) = value {
        target.insert(name.to_owned(), Value::Int(ms));
    }
}

fn common_host_properties(asset: &HostAsset) -> Properties {
    let mut target = Properties::new();
    let fqdn = asset_fqdn(asset);
    let hostname = non_empty(asset.hostname.as_deref())
        .map(str::to_owned)
        .or_else(|| fqdn.clone())
        .or_else(|| non_empty(asset.address.as_deref()).map(str::to_owned))
        .unwrap_or_else(|| asset.id.to_string());
    let name = non_empty(asset.name.as_deref()).map_or_else(|| hostname.clone(), str::to_owned);

    target.insert("_class".into(), vec!["Host"].into());
    target.insert("name".into(), name.clone().into());
    target.insert("displayName".into(), name.into());
    target.insert("hostname".into(), hostname.into());
    insert_opt(&mut target, "fqdn", fqdn.as_deref());
    insert_opt(&mut target, "os", asset.os.as_deref());
    if let Some(platform) = asset.os.as_deref().and_then(platform_of) {
        target.insert("platform".into(), platform.into());
    }
    target.insert("qualysAssetId".into(), Value::from_u64(asset.id));
    if let Some(host_id) = asset.qweb_host_id {
        target.insert("qualysQwebHostId".into(), Value::from_u64(host_id));
    }
    insert_time(&mut target, "qualysCreatedOn", asset.created);
    insert_time(&mut target, "lastScannedOn", asset.last_vuln_scan);
    target.insert("scannedBy".into(), "qualys".into());
    insert_address(&mut target, asset.address.as_deref());

    let mut tags = Vec::new();
    for tag in &asset.tags {
        push_unique(&mut tags, Some(&tag.name));
    }
    if !tags.is_empty() {
        target.insert("tags".into(), tags.into());
    }
    target
}

fn platform_of(os: &str) -> Option<&'static str> {
    let lower = os.to_ascii_lowercase();
    if lower.contains("linux") {
        Some("linux")
    } else if lower.contains("windows") {
        Some("windows")
    } else {
        None
    }
}

fn insert_address(target: &mut Properties, address: Option<&str>) {
    let Some(address) = non_empty(address) else {
        return;
    };
    target.insert("ipAddress".into(), address.into());
    match address.parse::<IpAddr>() {
        Ok(ip) if is_private(ip) => {
            target.insert("privateIpAddress".into(), address.into());
        }
        Ok(_) => {
            target.insert("publicIpAddress".into(), address.into());
        }
        Err(_) => {}
    }
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            // 100.64.0.0/10 is carrier-grade NAT space, not routable on the internet.
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (a == 100 && (64..128).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback() || (first & 0xfe00) == 0xfc00 || (first & 0xffc0) == 0xfe80
        }
    }
}

/// Adds cloud tags as `tag.<key>` text values. Keys whose value is empty or
/// `true` also go into `tags`. `Name`, `owner`, `email` and `classification`
/// tags fill the properties of the same name.
fn add_cloud_tags(target: &mut Properties, cloud_tags: &[KeyValue]) {
    let mut tags: Vec<String> = match target.get("tags") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    };
    for KeyValue { key, value } in cloud_tags {
        let Some(property) = tag_property(key) else {
            continue;
        };
        target.insert(property, value.as_str().into());
        if value.is_empty() || value.eq_ignore_ascii_case("true") {
            push_unique(&mut tags, Some(key));
        }
        match key.to_ascii_lowercase().as_str() {
            "name" if !value.trim().is_empty() => {
                target.insert("displayName".into(), value.as_str().into());
            }
            field @ ("owner" | "email" | "classification") => {
                target.insert(field.to_owned(), value.to_lowercase().into());
            }
            _ => {}
        }
    }
    if !tags.is_empty() {
        target.insert("tags".into(), tags.into());
    }
}

fn add_aws_properties(target: &mut Properties, arn: &str, source: &Ec2Source) {
    target.insert("_type".into(), "aws_instance".into());
    target.insert("_key".into(), arn.into());
    insert_opt(target, "id", source.instance_id.as_deref());
    insert_opt(target, "instanceId", source.instance_id.as_deref());
    if let Some(account) = non_empty(source.account_id.as_deref()) {
        target.insert("accountId".into(), pad_aws_account_id(account).into());
    }
    insert_opt(target, "region", source.region.as_deref());
    if let Some(state) = non_empty(source.instance_state.as_deref()) {
        target.insert("state".into(), state.to_lowercase().into());
    }

    insert_opt(target, "reservationId", source.reservation_id.as_deref());
    insert_opt(
        target,
        "availabilityZone",
        source.availability_zone.as_deref(),
    );
    insert_opt(target, "subnetId", source.subnet_id.as_deref());
    insert_opt(target, "vpcId", source.vpc_id.as_deref());
    insert_opt(target, "instanceType", source.instance_type.as_deref());
    insert_opt(target, "imageId", source.image_id.as_deref());
    insert_opt(target, "privateDnsName", source.private_dns_name.as_deref());
    insert_opt(target, "publicDnsName", source.public_dns_name.as_deref());
    override_ip(
        target,
        "privateIpAddress",
        source.private_ip_address.as_deref(),
    );
    override_ip(
        target,
        "publicIpAddress",
        source.public_ip_address.as_deref(),
    );
    insert_time(target, "qualysFirstDiscoveredOn", source.first_discovered);
    insert_time(target, "qualysLastUpdatedOn", source.last_updated);

    add_cloud_tags(target, &source.tags);
}

/// Sets an address from the cloud source, which is more exact than the
/// guess from the primary address. An absent value removes the guess.
fn override_ip(target: &mut Properties, name: &str, value: Option<&str>) {
    match non_empty(value) {
        Some(ip) => {
            target.insert(name.to_owned(), ip.into());
        }
        None => {
            target.remove(name);
        }
    }
}

fn add_gcp_properties(
    target: &mut Properties,
    self_link: &str,
    asset: &HostAsset,
    source: &GcpSource,
) {
    target.insert("_type".into(), "google_compute_instance".into());
    target.insert("_key".into(), self_link.into());
    insert_opt(target, "id", source.instance_id.as_deref());
    insert_opt(target, "instanceId", source.instance_id.as_deref());
    insert_opt(target, "instanceName", asset.name.as_deref());
    insert_opt(target, "projectId", source.project_id.as_deref());
    insert_opt(target, "projectIdNo", source.project_number.as_deref());
    insert_opt(target, "zone", source.zone.as_deref());
    insert_opt(target, "hostname", source.hostname.as_deref());
    insert_opt(target, "machineType", source.machine_type.as_deref());
    insert_opt(target, "imageId", source.image_id.as_deref());
    insert_opt(target, "state", source.state.as_deref());
    insert_opt(target, "network", source.network.as_deref());
    insert_opt(target, "macAddress", source.mac_address.as_deref());
    override_ip(
        target,
        "privateIpAddress",
        source.private_ip_address.as_deref(),
    );
    override_ip(
        target,
        "publicIpAddress",
        source.public_ip_address.as_deref(),
    );
    insert_time(target, "qualysFirstDiscoveredOn", source.first_discovered);
    insert_time(target, "qualysLastUpdatedOn", source.last_updated);
}

fn add_azure_properties(
    target: &mut Properties,
    resource_id: &str,
    asset: &HostAsset,
    source: &AzureSource,
) {
    target.insert("_type".into(), "azure_vm".into());
    target.insert("_key".into(), resource_id.into());
    insert_opt(target, "id", source.vm_id.as_deref());
    insert_opt(target, "vmId", source.vm_id.as_deref());
    insert_opt(target, "name", source.name.as_deref());
    insert_opt(target, "displayName", asset.name.as_deref());

    insert_opt(target, "location", source.location.as_deref());
    insert_opt(target, "vmSize", source.vm_size.as_deref());
    insert_opt(target, "offer", source.offer.as_deref());
    insert_opt(target, "publisher", source.publisher.as_deref());
    insert_opt(target, "version", source.version.as_deref());
    insert_opt(target, "osType", source.os_type.as_deref());
    insert_opt(target, "state", source.state.as_deref());
    insert_opt(target, "subnet", source.subnet.as_deref());
    insert_opt(target, "subscriptionId", source.subscription_id.as_deref());
    insert_opt(
        target,
        "resourceGroupName",
        source.resource_group_name.as_deref(),
    );
    insert_opt(target, "macAddress", source.mac_address.as_deref());
    override_ip(
        target,
        "privateIpAddress",
        source.private_ip_address.as_deref(),
    );
    override_ip(
        target,
        "publicIpAddress",
        source.public_ip_address.as_deref(),
    );
    insert_time(target, "qualysFirstDiscoveredOn", source.first_discovered);
    insert_time(target, "qualysLastUpdatedOn", source.last_updated);

    add_cloud_tags(target, &source.tags);
}
