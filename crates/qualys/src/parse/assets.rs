//! `POST /qps/rest/2.0/search/am/hostasset`: host assets with cloud source info and tags.

use super::{Fields, RecordKind};
use crate::error::RecordError;
use crate::records::{AgentInfo, AzureSource, Ec2Source, GcpSource, HostAsset, KeyValue, Tag};
use crate::xml::{Node, PageSpec, RecordPlace};

/// Record kind of host asset search pages.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostAssetKind;

impl RecordKind for HostAssetKind {
    type Record = HostAsset;
    super::tree_builder!();

    fn spec(&self) -> PageSpec {
        PageSpec {
            roots: &["ServiceResponse"],
            records: &[RecordPlace {
                parent: "data",
                name: "HostAsset",
            }],
            // Software and vuln lists run to thousands of entries per asset and are not used.
            skip: vec![
                "software",
                "vuln",
                "openPort",
                "volume",
                "account",
                "processor",
                "networkInterface",
            ],
            id_element: "id",
            ..PageSpec::default()
        }
    }

    fn convert(&self, node: Node) -> Result<HostAsset, RecordError> {
        let fields = Fields::of(&node);
        let sources = node.path(&["sourceInfo", "list"]);
        let sources_named = |name| {
            sources
                .into_iter()
                .flat_map(move |list| list.children_named(name))
        };
        Ok(HostAsset {
            id: fields.id("id")?,
            qweb_host_id: fields.integer("qwebHostId")?,
            name: fields.text("name"),
            hostname: fields.text("hostname"),
            dns_host_name: fields.text("dnsHostName"),
            fqdn: fields.text("fqdn"),
            netbios_name: fields.text("netbiosName"),
            address: fields.text("address"),
            os: fields.text("os"),
            tracking_method: fields.text("trackingMethod"),
            asset_type: fields.text("type"),
            agent_info: node.child("agentInfo").map(agent_info),
            ec2_sources: sources_named("Ec2AssetSourceSimple")
                .map(ec2_source)
                .collect(),
            azure_sources: sources_named("AzureAssetSourceSimple")
                .map(azure_source)
                .collect(),
            gcp_sources: sources_named("GcpAssetSourceSimple")
                .map(gcp_source)
                .collect(),
            tags: tags(&node)?,
            created: fields.date("created"),
            modified: fields.date("modified"),
            last_vuln_scan: fields.date("lastVulnScan"),
        })
    }

    fn key(record: &HostAsset) -> u64 {
        record.id
    }
}

/// Reads `tags/list/TagSimple{id,name}` and the older `tags/TAG{TAG_ID,NAME}`.
fn tags(node: &Node) -> Result<Vec<Tag>, RecordError> {
    let Some(tags) = node.child("tags") else {
        return Ok(Vec::new());
    };
    let simple = tags
        .child("list")
        .into_iter()
        .flat_map(|list| list.children_named("TagSimple"));
    let mut result = Vec::new();
    for tag in simple {
        let fields = Fields::of(tag);
        result.push(Tag {
            id: fields.integer("id")?,
            name: fields.text("name").unwrap_or_default(),
        });
    }
    for tag in tags.children_named("TAG") {
        let fields = Fields::of(tag);
        result.push(Tag {
            id: fields.integer("TAG_ID")?,
            name: fields.text("NAME").unwrap_or_default(),
        });
    }
    Ok(result)
}

fn agent_info(node: &Node) -> AgentInfo {
    let fields = Fields::of(node);
    AgentInfo {
        // Some bodies wrap the agent UUID over two lines.
        agent_id: fields
            .text("agentId")
            .map(|id| id.chars().filter(|c| !c.is_whitespace()).collect()),
        agent_version: fields.text("agentVersion"),
        status: fields.text("status"),
        last_checked_in: fields.date("lastCheckedIn"),
        connected_from: fields.text("connectedFrom"),
        platform: fields.text("platform"),
        chirp_status: fields.text("chirpStatus"),
        configuration_name: node
            .path(&["agentConfiguration", "name"])
            .map(|n| n.text.clone()),
    }
}

fn cloud_tags(node: &Node, container: &str, element: &str) -> Vec<KeyValue> {
    node.path(&[container, "tags", "list"])
        .into_iter()
        .flat_map(|list| list.children_named(element))
        .map(|tag| KeyValue {
            key: tag.text_of("key").unwrap_or_default().to_owned(),
            value: tag
                .child("value")
                .map(|value| value.text.clone())
                .unwrap_or_default(),
        })
        .collect()
}

fn ec2_source(node: &Node) -> Ec2Source {
    let fields = Fields::of(node);
    Ec2Source {
        asset_id: fields.text("assetId"),
        instance_id: fields.text("instanceId"),
        account_id: fields.text("accountId"),
        region: fields.text("region"),
        availability_zone: fields.text("availabilityZone"),
        instance_type: fields.text("instanceType"),
        instance_state: fields.text("instanceState"),
        image_id: fields.text("imageId"),
        vpc_id: fields.text("vpcId"),
        subnet_id: fields.text("subnetId"),
        group_id: fields.text("groupId"),
        group_name: fields.text("groupName"),
        reservation_id: fields.text("reservationId"),
        zone: fields.text("zone"),
        private_ip_address: fields.text("privateIpAddress"),
        public_ip_address: fields.text("publicIpAddress"),
        private_dns_name: fields.text("privateDnsName"),
        public_dns_name: fields.text("publicDnsName"),
        spot_instance: fields.flag("spotInstance"),
        monitoring_enabled: fields.flag("monitoringEnabled"),
        tags: cloud_tags(node, "ec2InstanceTags", "EC2Tags"),
        first_discovered: fields.date("firstDiscovered"),
        last_updated: fields.date("lastUpdated"),
        created: fields.date("createdDate"),
    }
}

fn azure_source(node: &Node) -> AzureSource {
    let fields = Fields::of(node);
    AzureSource {
        asset_id: fields.text("assetId"),
        vm_id: fields.text("vmId"),
        name: fields.text("name"),
        subscription_id: fields.text("subscriptionId"),
        resource_group_name: fields.text("resourceGroupName"),
        location: fields.text("location"),
        vm_size: fields.text("vmSize"),
        offer: fields.text("offer"),
        publisher: fields.text("publisher"),
        version: fields.text("version"),
        os_type: fields.text("osType"),
        state: fields.text("state"),
        subnet: fields.text("subnet"),
        mac_address: fields.text("macAddress"),
        private_ip_address: fields.text("privateIpAddress"),
        public_ip_address: fields.text("publicIpAddress"),
        tags: cloud_tags(node, "azureVmTags", "AzureTags"),
        first_discovered: fields.date("firstDiscovered"),
        last_updated: fields.date("lastUpdated"),
    }
}

fn gcp_source(node: &Node) -> GcpSource {
    let fields = Fields::of(node);
    GcpSource {
        asset_id: fields.text("assetId"),
        instance_id: fields.text("instanceId"),
        project_id: fields.text("projectId"),
        project_number: fields.text("projectIdNo"),
        zone: fields.text("zone"),
        hostname: fields.text("hostname"),
        machine_type: fields.text("machineType"),
        image_id: fields.text("imageId"),
        state: fields.text("state"),
        network: fields.text("network"),
        mac_address: fields.text("macAddress"),
        private_ip_address: fields.text("privateIpAddress"),
        public_ip_address: fields.text("publicIpAddress"),
        first_discovered: fields.date("firstDiscovered"),
        last_updated: fields.date("lastUpdated"),
    }
}
