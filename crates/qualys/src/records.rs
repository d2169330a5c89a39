//! Typed records that the streaming parsers yield, one per Qualys list element.
//!
//! Identifiers that Qualys defines as integers (host ids, asset ids, QIDs, web
//! app and finding ids) are `u64`. Identifiers owned by other systems (AWS
//! account ids, GCP instance and project numbers, Azure ids), names, tag values
//! and versions stay text exactly as sent, so leading zeros and digits beyond
//! 2^53 survive. Timestamps are epoch milliseconds in UTC.
//!
//! Every record derives `Default`, so code that builds records (tests, the
//! simulator) can write `..Default::default()` and keep compiling when fields
//! are added.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Milliseconds since 1970-01-01T00:00:00Z.
pub type EpochMillis = i64;

/// Versions reported by `GET /qps/rest/portal/version`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalVersion {
    /// Every `Portal-Version` child, element name to text (`WAS-VERSION` → `1.1.0.0-2`).
    pub versions: BTreeMap<String, String>,
    /// Every `QWeb-Version` child (`WEB-VERSION`, `SCANNER-VERSION`, `VULNSIGS-VERSION`).
    pub qweb_versions: BTreeMap<String, String>,
    /// VM module version: `VM-VERSION`, or `QWEB__VM-VERSION` on pods that dropped the former.
    pub vm_version: Option<String>,
    /// Web Application Scanning module version (`WAS-VERSION`).
    pub was_version: Option<String>,
}

/// A run of scanned host ids from the host list API (`ID` or `ID_RANGE`).
///
/// A single `<ID>` gives a range whose `first` and `last` are equal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HostIdRange {
    /// First host id, inclusive.
    pub first: u64,
    /// Last host id, inclusive.
    pub last: u64,
}

impl HostIdRange {
    /// Builds a range holding one id.
    pub fn single(id: u64) -> Self {
        Self {
            first: id,
            last: id,
        }
    }

    /// Number of ids in the range.
    pub fn len(&self) -> u64 {
        self.last.saturating_sub(self.first).saturating_add(1)
    }

    /// Always false, because a range contains at least one id.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Iterates over every id in the range, in ascending order.
    pub fn ids(&self) -> std::ops::RangeInclusive<u64> {
        self.first..=self.last
    }
}

/// A Qualys tag attached to a host asset, detection host or web app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    /// Tag id (`TagSimple/id` or `TAG/TAG_ID`); absent when Qualys sends only a name.
    pub id: Option<u64>,
    /// Tag name, as text.
    pub name: String,
}

/// A cloud provider tag (`EC2Tags`, `AzureTags`): key and value as text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// Tag key.
    pub key: String,
    /// Tag value, never coerced to a number.
    pub value: String,
}

/// A host from Asset Management (`POST /qps/rest/2.0/search/am/hostasset`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostAsset {
    /// Asset Management asset id (`id`).
    pub id: u64,
    /// VM host id (`qwebHostId`), the key that joins assets to detections.
    pub qweb_host_id: Option<u64>,
    /// Asset name.
    pub name: Option<String>,
    /// Host name (`hostname`), sent by some pods.
    pub hostname: Option<String>,
    /// DNS host name (`dnsHostName`).
    pub dns_host_name: Option<String>,
    /// Fully qualified domain name (`fqdn`).
    pub fqdn: Option<String>,
    /// NetBIOS name (`netbiosName`).
    pub netbios_name: Option<String>,
    /// Primary IP address (`address`).
    pub address: Option<String>,
    /// Operating system text (`os`).
    pub os: Option<String>,
    /// Tracking method (`trackingMethod`: `IP`, `QAGENT`, `INSTANCE_ID`, …).
    pub tracking_method: Option<String>,
    /// Asset type (`type`, usually `HOST`).
    pub asset_type: Option<String>,
    /// Cloud agent details, when the host runs one.
    pub agent_info: Option<AgentInfo>,
    /// AWS EC2 source records (`Ec2AssetSourceSimple`).
    pub ec2_sources: Vec<Ec2Source>,
    /// Azure source records (`AzureAssetSourceSimple`).
    pub azure_sources: Vec<AzureSource>,
    /// Google Cloud source records (`GcpAssetSourceSimple`).
    pub gcp_sources: Vec<GcpSource>,
    /// Tags (`tags/list/TagSimple`, or the older `tags/TAG`).
    pub tags: Vec<Tag>,
    /// Creation time (`created`).
    pub created: Option<EpochMillis>,
    /// Last modification time (`modified`).
    pub modified: Option<EpochMillis>,
    /// Last vulnerability scan (`lastVulnScan`).
    pub last_vuln_scan: Option<EpochMillis>,
}

/// Cloud agent details of a host asset (`agentInfo`). The activation key is left out on purpose.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Agent id, as text with any embedded whitespace removed.
    pub agent_id: Option<String>,
    /// Agent version (`agentVersion`).
    pub agent_version: Option<String>,
    /// Agent status (`status`, e.g. `STATUS_ACTIVE`).
    pub status: Option<String>,
    /// Last check-in time (`lastCheckedIn`).
    pub last_checked_in: Option<EpochMillis>,
    /// Address the agent last connected from (`connectedFrom`).
    pub connected_from: Option<String>,
    /// Agent platform (`platform`).
    pub platform: Option<String>,
    /// Manifest download status (`chirpStatus`).
    pub chirp_status: Option<String>,
    /// Name of the agent configuration profile (`agentConfiguration/name`).
    pub configuration_name: Option<String>,
}

/// AWS EC2 source information of a host asset. Every field is text as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ec2Source {
    /// Asset id of this source record (`assetId`).
    pub asset_id: Option<String>,
    /// EC2 instance id (`instanceId`, e.g. `i-023b166432b1c7afc`).
    pub instance_id: Option<String>,
    /// AWS account id (`accountId`), kept as text so leading zeros survive.
    pub account_id: Option<String>,
    /// AWS region (`region`).
    pub region: Option<String>,
    /// Availability zone (`availabilityZone`).
    pub availability_zone: Option<String>,
    /// Instance type (`instanceType`).
    pub instance_type: Option<String>,
    /// Instance state (`instanceState`, e.g. `RUNNING`, `STOPPED`).
    pub instance_state: Option<String>,
    /// AMI id (`imageId`).
    pub image_id: Option<String>,
    /// VPC id (`vpcId`).
    pub vpc_id: Option<String>,
    /// Subnet id (`subnetId`).
    pub subnet_id: Option<String>,
    /// Security group id (`groupId`).
    pub group_id: Option<String>,
    /// Security group name (`groupName`).
    pub group_name: Option<String>,
    /// Reservation id (`reservationId`).
    pub reservation_id: Option<String>,
    /// Qualys zone text (`zone`, e.g. `VPC`).
    pub zone: Option<String>,
    /// Private IP address (`privateIpAddress`).
    pub private_ip_address: Option<String>,
    /// Public IP address (`publicIpAddress`).
    pub public_ip_address: Option<String>,
    /// Private DNS name (`privateDnsName`).
    pub private_dns_name: Option<String>,
    /// Public DNS name (`publicDnsName`).
    pub public_dns_name: Option<String>,
    /// Whether the instance is a spot instance (`spotInstance`).
    pub spot_instance: Option<bool>,
    /// Whether detailed monitoring is on (`monitoringEnabled`).
    pub monitoring_enabled: Option<bool>,
    /// Instance tags (`ec2InstanceTags/tags/list/EC2Tags`).
    pub tags: Vec<KeyValue>,
    /// First discovery time (`firstDiscovered`).
    pub first_discovered: Option<EpochMillis>,
    /// Last update time (`lastUpdated`).
    pub last_updated: Option<EpochMillis>,
    /// Instance creation time (`createdDate`).
    pub created: Option<EpochMillis>,
}

/// Azure source information of a host asset. Every field is text as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AzureSource {
    /// Asset id of this source record (`assetId`).
    pub asset_id: Option<String>,
    /// Azure VM id (`vmId`).
    pub vm_id: Option<String>,
    /// VM name (`name`).
    pub name: Option<String>,
    /// Subscription id (`subscriptionId`).
    pub subscription_id: Option<String>,
    /// Resource group (`resourceGroupName`).
    pub resource_group_name: Option<String>,
    /// Region (`location`).
    pub location: Option<String>,
    /// VM size (`vmSize`).
    pub vm_size: Option<String>,
    /// Image offer (`offer`).
    pub offer: Option<String>,
    /// Image publisher (`publisher`).
    pub publisher: Option<String>,
    /// Image version (`version`), text.
    pub version: Option<String>,
    /// OS type (`osType`).
    pub os_type: Option<String>,
    /// Provisioning state (`state`).
    pub state: Option<String>,
    /// Subnet name (`subnet`).
    pub subnet: Option<String>,
    /// MAC address (`macAddress`).
    pub mac_address: Option<String>,
    /// Private IP address (`privateIpAddress`).
    pub private_ip_address: Option<String>,
    /// Public IP address (`publicIpAddress`).
    pub public_ip_address: Option<String>,
    /// VM tags (`azureVmTags/tags/list/AzureTags`).
    pub tags: Vec<KeyValue>,
    /// First discovery time (`firstDiscovered`).
    pub first_discovered: Option<EpochMillis>,
    /// Last update time (`lastUpdated`).
    pub last_updated: Option<EpochMillis>,
}

/// Google Cloud source information of a host asset. Every field is text as sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GcpSource {
    /// Asset id of this source record (`assetId`).
    pub asset_id: Option<String>,
    /// Instance id (`instanceId`), text because it exceeds 2^53.
    pub instance_id: Option<String>,
    /// Project id (`projectId`).
    pub project_id: Option<String>,
    /// Project number (`projectIdNo`), text.
    pub project_number: Option<String>,
    /// Zone (`zone`).
    pub zone: Option<String>,
    /// Host name (`hostname`).
    pub hostname: Option<String>,
    /// Machine type (`machineType`).
    pub machine_type: Option<String>,
    /// Image (`imageId`).
    pub image_id: Option<String>,
    /// Instance state (`state`).
    pub state: Option<String>,
    /// Network name (`network`).
    pub network: Option<String>,
    /// MAC address (`macAddress`).
    pub mac_address: Option<String>,
    /// Private IP address (`privateIpAddress`).
    pub private_ip_address: Option<String>,
    /// Public IP address (`publicIpAddress`).
    pub public_ip_address: Option<String>,
    /// First discovery time (`firstDiscovered`).
    pub first_discovered: Option<EpochMillis>,
    /// Last update time (`lastUpdated`).
    pub last_updated: Option<EpochMillis>,
}

/// A host and its detections from the host list detection API (`HOST`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HostDetections {
    /// VM host id (`ID`), equal to `HostAsset::qweb_host_id`.
    pub host_id: u64,
    /// IPv4 address (`IP`).
    pub ip: Option<String>,
    /// IPv6 address (`IPV6`).
    pub ipv6: Option<String>,
    /// Tracking method (`TRACKING_METHOD`).
    pub tracking_method: Option<String>,
    /// DNS name (`DNS`).
    pub dns: Option<String>,
    /// NetBIOS name (`NETBIOS`).
    pub netbios: Option<String>,
    /// Operating system text (`OS`).
    pub os: Option<String>,
    /// Qualys host UUID of agent hosts (`QG_HOSTID`).
    pub qg_host_id: Option<String>,
    /// EC2 instance id (`EC2_INSTANCE_ID`), when Qualys sends it.
    pub ec2_instance_id: Option<String>,
    /// Last scan of any kind (`LAST_SCAN_DATETIME`).
    pub last_scan: Option<EpochMillis>,
    /// Last VM scan (`LAST_VM_SCANNED_DATE`).
    pub last_vm_scanned: Option<EpochMillis>,
    /// Duration of the last VM scan in seconds (`LAST_VM_SCANNED_DURATION`).
    pub last_vm_scanned_duration_secs: Option<u64>,
    /// Last authenticated VM scan (`LAST_VM_AUTH_SCANNED_DATE`).
    pub last_vm_auth_scanned: Option<EpochMillis>,
    /// Last policy compliance scan (`LAST_PC_SCANNED_DATE`).
    pub last_pc_scanned: Option<EpochMillis>,
    /// Tags (`TAGS/TAG`), present when the request set `show_tags=1`.
    pub tags: Vec<Tag>,
    /// Detections on this host, in document order.
    pub detections: Vec<Detection>,
}

/// One detection of one QID on one host (`DETECTION`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Qualys vulnerability id (`QID`).
    pub qid: u64,
    /// Detection id (`UNIQUE_VULN_ID`), when Qualys sends it.
    pub unique_vuln_id: Option<u64>,
    /// Detection type (`TYPE`: `Confirmed`, `Potential`, `Info`).
    pub detection_type: String,
    /// Severity 1–5 (`SEVERITY`).
    pub severity: Option<u8>,
    /// Port (`PORT`); absent for host-level detections.
    pub port: Option<u16>,
    /// Protocol (`PROTOCOL`, e.g. `tcp`).
    pub protocol: Option<String>,
    /// Fully qualified domain name the detection applies to (`FQDN`).
    pub fqdn: Option<String>,
    /// Whether the service was found over SSL/TLS (`SSL`).
    pub ssl: Option<bool>,
    /// Instance text (`INSTANCE`), e.g. an Oracle instance.
    pub instance: Option<String>,
    /// Scan results (`RESULTS`), kept only when requested and cut to the configured length.
    pub results: Option<String>,
    /// True when `results` was cut to the configured length.
    pub results_truncated: bool,
    /// Status (`STATUS`: `New`, `Active`, `Fixed`, `Re-Opened`).
    pub status: Option<String>,
    /// First found (`FIRST_FOUND_DATETIME`).
    pub first_found: Option<EpochMillis>,
    /// Last found (`LAST_FOUND_DATETIME`).
    pub last_found: Option<EpochMillis>,
    /// Number of scans that found it (`TIMES_FOUND`).
    pub times_found: Option<u64>,
    /// Last test (`LAST_TEST_DATETIME`).
    pub last_test: Option<EpochMillis>,
    /// Last update (`LAST_UPDATE_DATETIME`).
    pub last_update: Option<EpochMillis>,
    /// Last fixed (`LAST_FIXED_DATETIME`).
    pub last_fixed: Option<EpochMillis>,
    /// Whether the detection is ignored (`IS_IGNORED`).
    pub is_ignored: Option<bool>,
    /// Whether the QID is disabled (`IS_DISABLED`).
    pub is_disabled: Option<bool>,
    /// Last processed (`LAST_PROCESSED_DATETIME`).
    pub last_processed: Option<EpochMillis>,
}

/// A reference with an id and a URL (`CVE`, `BUGTRAQ`, `VENDOR_REFERENCE`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    /// Identifier text, e.g. `CVE-2008-4250` or `MS08-067`.
    pub id: String,
    /// Link, when sent.
    pub url: Option<String>,
}

/// A CVSS score: the parsed number and the text Qualys sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CvssScore {
    /// Score parsed from the leading number; `None` for `-` or other text without one.
    pub value: Option<f64>,
    /// Original text, e.g. `7.8 (AV:N/AC:L/Au:N/C:C/I:C/A:C)` or `-`.
    pub text: String,
}

/// A CVSS block (`CVSS` for v2, `CVSS_V3` for v3) of a knowledge-base vuln.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cvss {
    /// Base score (`BASE`).
    pub base: Option<CvssScore>,
    /// Temporal score (`TEMPORAL`).
    pub temporal: Option<CvssScore>,
    /// Vector (`VECTOR_STRING`, or the parenthesised part of `BASE`).
    pub vector: Option<String>,
}

/// A threat-intelligence marker of a vuln (`THREAT_INTEL`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreatIntel {
    /// The `id` attribute, as text.
    pub id: String,
    /// The element text, e.g. `Easy_Exploit`.
    pub text: String,
}

/// A product affected by a vuln (`SOFTWARE`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    /// Product name (`PRODUCT`).
    pub product: String,
    /// Vendor name (`VENDOR`).
    pub vendor: Option<String>,
}

/// How Qualys discovers a vuln (`DISCOVERY`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discovery {
    /// Whether it is remotely discoverable (`REMOTE`).
    pub remote: Option<bool>,
    /// Authentication types (`AUTH_TYPE_LIST/AUTH_TYPE`).
    pub auth_types: Vec<String>,
    /// Additional information text (`ADDITIONAL_INFO`).
    pub additional_info: Option<String>,
}

/// A knowledge-base vulnerability (`VULN`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Vuln {
    /// Qualys vulnerability id (`QID`).
    pub qid: u64,
    /// Vuln type (`VULN_TYPE`, e.g. `Vulnerability`, `Information Gathered`).
    pub vuln_type: Option<String>,
    /// Severity 1–5 (`SEVERITY_LEVEL`).
    pub severity: Option<u8>,
    /// Title (`TITLE`).
    pub title: Option<String>,
    /// Category (`CATEGORY`).
    pub category: Option<String>,
    /// Publication time (`PUBLISHED_DATETIME`).
    pub published: Option<EpochMillis>,
    /// Last service modification (`LAST_SERVICE_MODIFICATION_DATETIME`).
    pub last_modified: Option<EpochMillis>,
    /// Whether a patch exists (`PATCHABLE`).
    pub patchable: Option<bool>,
    /// Whether it fails PCI compliance (`PCI_FLAG`).
    pub pci_flag: Option<bool>,
    /// CVEs (`CVE_LIST/CVE`).
    pub cves: Vec<Reference>,
    /// Vendor references (`VENDOR_REFERENCE_LIST/VENDOR_REFERENCE`).
    pub vendor_references: Vec<Reference>,
    /// Bugtraq ids (`BUGTRAQ_LIST/BUGTRAQ`).
    pub bugtraqs: Vec<Reference>,
    /// Affected software (`SOFTWARE_LIST/SOFTWARE`).
    pub software: Vec<Software>,
    /// CVSS v2 (`CVSS`).
    pub cvss_v2: Option<Cvss>,
    /// CVSS v3 (`CVSS_V3`).
    pub cvss_v3: Option<Cvss>,
    /// Threat-intelligence markers (`THREAT_INTELLIGENCE/THREAT_INTEL`).
    pub threat_intel: Vec<ThreatIntel>,
    /// Diagnosis, HTML as sent (`DIAGNOSIS`).
    pub diagnosis: Option<String>,
    /// Consequence, HTML as sent (`CONSEQUENCE`).
    pub consequence: Option<String>,
    /// Solution, HTML as sent (`SOLUTION`).
    pub solution: Option<String>,
    /// Discovery details (`DISCOVERY`).
    pub discovery: Option<Discovery>,
}

/// A WAS web application (`WebApp`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebApp {
    /// Web app id (`id`).
    pub id: u64,
    /// Name (`name`).
    pub name: Option<String>,
    /// Start URL (`url`).
    pub url: Option<String>,
    /// Owner user id (`owner/id`).
    pub owner_id: Option<u64>,
    /// Tags (`tags/list/Tag`), when the response lists them.
    pub tags: Vec<Tag>,
    /// Tag count (`tags/count`).
    pub tag_count: Option<u64>,
    /// Creation time (`createdDate`).
    pub created: Option<EpochMillis>,
    /// Last update (`updatedDate`).
    pub updated: Option<EpochMillis>,
}

/// The web app a WAS finding belongs to (`Finding/webApp`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAppRef {
    /// Web app id (`id`).
    pub id: Option<u64>,
    /// Name (`name`).
    pub name: Option<String>,
    /// URL (`url`).
    pub url: Option<String>,
}

/// An OWASP Top 10 category of a WAS finding (`owasp/list/OWASP`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owasp {
    /// Category name (`name`).
    pub name: String,
    /// Category code (`code`), as text.
    pub code: Option<String>,
    /// Reference URL (`url`).
    pub url: Option<String>,
}

/// CVSS v3 of a WAS finding (`cvssV3`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FindingCvss {
    /// Base score (`base`).
    pub base: Option<CvssScore>,
    /// Temporal score (`temporal`).
    pub temporal: Option<CvssScore>,
    /// Attack vector (`attackVector`).
    pub attack_vector: Option<String>,
}

/// A WAS finding (`Finding`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WebAppFinding {
    /// Finding id (`id`).
    pub id: u64,
    /// Finding UUID (`uniqueId`).
    pub unique_id: Option<String>,
    /// Qualys vulnerability id (`qid`).
    pub qid: Option<u64>,
    /// Name (`name`).
    pub name: Option<String>,
    /// Type (`type`: `VULNERABILITY`, `SENSITIVE_CONTENT`, `INFORMATION_GATHERED`).
    pub finding_type: Option<String>,
    /// Whether it is a potential vulnerability (`potential`).
    pub potential: Option<bool>,
    /// Source of the finding (`findingType`: `QUALYS`, `BURP`, `BUGCROWD`).
    pub source: Option<String>,
    /// Severity 1–5 (`severity`).
    pub severity: Option<u8>,
    /// Status (`status`: `NEW`, `ACTIVE`, `REOPENED`, `FIXED`, `PROTECTED`); absent for information gathered.
    pub status: Option<String>,
    /// URL where it was found (`url`).
    pub url: Option<String>,
    /// Parameter (`param`).
    pub param: Option<String>,
    /// Number of detections (`timesDetected`).
    pub times_detected: Option<u64>,
    /// Whether it is ignored (`isIgnored`).
    pub is_ignored: Option<bool>,
    /// First detection (`firstDetectedDate`).
    pub first_detected: Option<EpochMillis>,
    /// Last detection (`lastDetectedDate`).
    pub last_detected: Option<EpochMillis>,
    /// Last test (`lastTestedDate`).
    pub last_tested: Option<EpochMillis>,
    /// The web app it belongs to (`webApp`).
    pub web_app: WebAppRef,
    /// CWE ids (`cwe/list/long`).
    pub cwe: Vec<u32>,
    /// OWASP categories (`owasp/list/OWASP`).
    pub owasp: Vec<Owasp>,
    /// CVSS v3, when present (`cvssV3`).
    pub cvss_v3: Option<FindingCvss>,
}
