//! Descriptive host attributes: addresses, names, operating system and cloud identifiers.

use super::{Host, HostKind, Subscription};
use crate::rng::pick;

const OPERATING_SYSTEMS: [&str; 6] = [
    "Amazon Linux 2",
    "Ubuntu 22.04.3 LTS",
    "Windows Server 2019 Datacenter",
    "Red Hat Enterprise Linux 8.9",
    "CentOS Linux 7.9.2009",
    "Debian GNU/Linux 12",
];
const AWS_REGIONS: [&str; 4] = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"];
const AZURE_LOCATIONS: [&str; 3] = ["westus2", "centralindia", "northeurope"];
const AZURE_GROUPS: [&str; 3] = ["rg-payments", "rg-platform", "sample_resourcegroup"];
const GCP_ZONES: [&str; 3] = ["us-central1-a", "europe-west1-b", "asia-east1-c"];
const GCP_PROJECTS: [&str; 3] = ["qgraph-sim-prod", "qgraph-sim-dev", "test_account"];

/// Fields of [`Subscription::host_attr`] hashes.
mod field {
    pub const ACCOUNT: u64 = 1;
    pub const INSTANCE: u64 = 2;
    pub const REGION: u64 = 3;
    pub const OS: u64 = 4;
    pub const SUBSCRIPTION: u64 = 5;
    pub const VM_ID: u64 = 6;
    pub const AGENT: u64 = 7;
    pub const EC2_TAG: u64 = 8;
}

/// Cloud provider details of a host.
#[derive(Debug, Clone)]
pub(crate) enum Cloud {
    Ec2 {
        /// Twelve digits; about a quarter start with `0`.
        account_id: String,
        region: &'static str,
        instance_id: String,
        state: &'static str,
    },
    Azure {
        subscription_id: String,
        resource_group: &'static str,
        name: String,
        vm_id: String,
        location: &'static str,
    },
    Gcp {
        project_id: &'static str,
        project_number: u64,
        zone: &'static str,
        /// Above 2^53, so a JSON number would lose precision.
        instance_id: u64,
    },
    None,
}

/// Descriptive attributes of a host.
#[derive(Debug, Clone)]
pub(crate) struct HostAttrs {
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
    pub dns: String,
    pub netbios: String,
    pub os: &'static str,
    pub tracking_method: &'static str,
    pub asset_tracking_method: &'static str,
    pub agent_id: Option<String>,
    pub cloud: Cloud,
}

impl HostAttrs {
    /// The host's main address: IPv4 when it has one, otherwise IPv6.
    pub(crate) fn address(&self) -> &str {
        self.ipv4
            .as_deref()
            .or(self.ipv6.as_deref())
            .unwrap_or_default()
    }
}

/// Offset between a host id and its asset id; asset ids ascend with host ids.
pub(crate) const ASSET_ID_OFFSET: u64 = 5_000_000_000;

pub(crate) fn uuid(h: u64, low: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 52) & 0xfff,
        low & 0xffff_ffff_ffff
    )
}

impl Subscription {
    pub(crate) fn host_attrs(&self, host: &Host) -> HostAttrs {
        let i = host.index;
        let octets = format!("{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255);
        let ipv4 = (!host.ipv6).then(|| format!("10.{octets}"));
        let ipv6 = host
            .ipv6
            .then(|| format!("fd00:5157::{:x}:{:x}", i >> 16, i & 0xffff));
        let dns = match host.kind {
            HostKind::Ec2 => format!("ip-10-{}.ec2.internal", octets.replace('.', "-")),
            HostKind::Azure => format!("vm-{i}.internal.cloudapp.net"),
            HostKind::Gcp => format!("gce-{i}.c.qgraph-sim.internal"),
            HostKind::Agent => format!("host-{i}.corp.example.com"),
            HostKind::OnPremises => format!("srv-{i}.example.com"),
        };
        let agent = matches!(host.kind, HostKind::Agent | HostKind::Azure | HostKind::Gcp);
        HostAttrs {
            ipv4,
            ipv6,
            dns,
            netbios: format!("HOST{i}"),
            os: pick(self.host_attr(i, field::OS), &OPERATING_SYSTEMS),
            tracking_method: match host.kind {
                HostKind::Ec2 => "EC2",
                HostKind::OnPremises => "IP",
                _ => "AGENT",
            },
            asset_tracking_method: match host.kind {
                HostKind::Ec2 | HostKind::Gcp => "INSTANCE_ID",
                HostKind::Azure => "VIRTUAL_MACHINE_ID",
                HostKind::Agent => "QAGENT",
                HostKind::OnPremises => "IP",
            },
            agent_id: agent.then(|| uuid(self.host_attr(i, field::AGENT), i)),
            cloud: self.cloud(host),
        }
    }

    fn cloud(&self, host: &Host) -> Cloud {
        let i = host.index;
        match host.kind {
            HostKind::Ec2 => {
                let h = self.host_attr(i, field::ACCOUNT);
                // A few accounts, a quarter of them with a leading zero that numeric parsing drops.
                let account = 100_000_000_000 + (h % 5) * 11_111_111_111;
                let account_id = if (h >> 8).is_multiple_of(4) {
                    format!("0{:011}", account % 100_000_000_000)
                } else {
                    format!("{account:012}")
                };
                Cloud::Ec2 {
                    account_id,
                    region: pick(self.host_attr(i, field::REGION), &AWS_REGIONS),
                    instance_id: format!("i-0{:016x}", self.host_attr(i, field::INSTANCE)),
                    state: if h.is_multiple_of(10) {
                        "STOPPED"
                    } else {
                        "RUNNING"
                    },
                }
            }
            HostKind::Azure => {
                let h = self.host_attr(i, field::SUBSCRIPTION);
                Cloud::Azure {
                    subscription_id: uuid(crate::rng::mix(h % 3), h % 3),
                    resource_group: pick(h >> 8, &AZURE_GROUPS),
                    name: format!("vm-{i}"),
                    vm_id: uuid(self.host_attr(i, field::VM_ID), i),
                    location: pick(h >> 16, &AZURE_LOCATIONS),
                }
            }
            HostKind::Gcp => {
                let h = self.host_attr(i, field::INSTANCE);
                Cloud::Gcp {
                    project_id: pick(h, &GCP_PROJECTS),
                    project_number: 100_000_000_000 + h % 3,
                    zone: pick(h >> 8, &GCP_ZONES),
                    instance_id: (1u64 << 53) + 1 + (h >> 2) % (1u64 << 62),
                }
            }
            HostKind::Agent | HostKind::OnPremises => Cloud::None,
        }
    }

    /// EC2 tags of a host, including a numeric-looking value.
    pub(crate) fn ec2_tags(&self, host: &Host) -> Vec<(&'static str, String)> {
        let h = self.host_attr(host.index, field::EC2_TAG);
        let mut tags = vec![("Name", format!("sim-{}", host.index))];
        if h.is_multiple_of(2) {
            tags.push(("Lifecycle", format!("{}", 20_240_101 + h % 300)));
        }
        if h.is_multiple_of(3) {
            tags.push(("Owner", "owner@example.com".to_owned()));
        }
        tags
    }
}
