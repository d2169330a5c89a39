//! Step ids, the `_type`s each step produces and their declarations.

use qgraph_model::{DeclaredType, StepDeclaration};

/// Entity and relationship `_type`s this integration emits.
pub mod types {
    pub const ACCOUNT: &str = "qualys_account";
    pub const VMDR_SERVICE: &str = "qualys_vulnerability_manager";
    pub const WAS_SERVICE: &str = "qualys_web_app_scanner";
    pub const HOST_FINDING: &str = "qualys_host_finding";
    pub const WEB_APP_FINDING: &str = "qualys_web_app_finding";
    pub const VULN: &str = "qualys_vuln";
    pub const CVE: &str = "cve";

    pub const ACCOUNT_HAS_VMDR: &str = "qualys_account_has_vulnerability_manager";
    pub const ACCOUNT_HAS_WAS: &str = "qualys_account_has_web_app_scanner";
    pub const WAS_IDENTIFIED_FINDING: &str = "qualys_web_app_scanner_identified_finding";
    pub const HOST_FINDING_IS_VULN: &str = "qualys_host_finding_is_vuln";
    pub const HOST_FINDING_IS_CVE: &str = "qualys_host_finding_is_cve";
    pub const WEB_APP_FINDING_IS_VULN: &str = "qualys_web_app_finding_is_vuln";
    pub const WEB_APP_FINDING_IS_CVE: &str = "qualys_web_app_finding_is_cve";

    pub const VMDR_SCANS_AWS_INSTANCE: &str = "qualys_vulnerability_manager_scans_aws_instance";
    pub const VMDR_SCANS_AZURE_VM: &str = "qualys_vulnerability_manager_scans_azure_vm";
    pub const VMDR_SCANS_GCP_INSTANCE: &str =
        "qualys_vulnerability_manager_scans_google_compute_instance";
    pub const VMDR_SCANS_DISCOVERED_HOST: &str =
        "qualys_vulnerability_manager_scans_discovered_host";
    pub const WAS_SCANS_WEB_APP: &str = "qualys_web_app_scanner_scans_web_app";
}

/// Step ids, in the order the runner executes them.
pub mod ids {
    pub const ACCOUNT: &str = "fetch-account";
    pub const SERVICES: &str = "fetch-services";
    pub const HOST_IDS: &str = "fetch-scanned-host-ids";
    pub const HOST_DETAILS: &str = "fetch-scanned-host-details";
    pub const HOST_DETECTIONS: &str = "fetch-scanned-host-detections";
    pub const WEB_APPS: &str = "fetch-scanned-webapps";
    pub const WEB_APP_FINDINGS: &str = "fetch-scanned-webapp-findings";
    pub const FINDING_VULNS: &str = "fetch-finding-vulns";
}

fn declared(types: &[(&str, bool)]) -> Vec<DeclaredType> {
    types
        .iter()
        .map(|(object_type, partial)| DeclaredType {
            object_type: (*object_type).to_owned(),
            partial: *partial,
        })
        .collect()
}

fn step(
    id: &str,
    name: &str,
    entity_types: &[(&str, bool)],
    relationship_types: &[(&str, bool)],
    depends_on: &[&str],
) -> StepDeclaration {
    StepDeclaration {
        id: id.to_owned(),
        name: name.to_owned(),
        entity_types: declared(entity_types),
        relationship_types: declared(relationship_types),
        depends_on: depends_on.iter().map(|d| (*d).to_owned()).collect(),
    }
}

/// Returns every step in execution order; each step comes after the steps it
/// depends on.
///
/// Findings, the scans of hosts and web apps, and everything built from the
/// knowledge base come from incremental windows, so their types are partial:
/// a run that did not see an object must not delete it.
pub fn step_declarations() -> Vec<StepDeclaration> {
    use types as t;
    vec![
        step(
            ids::ACCOUNT,
            "Fetch account details",
            &[(t::ACCOUNT, false)],
            &[],
            &[],
        ),
        step(
            ids::SERVICES,
            "Fetch services",
            &[(t::VMDR_SERVICE, false), (t::WAS_SERVICE, false)],
            &[(t::ACCOUNT_HAS_VMDR, false), (t::ACCOUNT_HAS_WAS, false)],
            &[ids::ACCOUNT],
        ),
        step(ids::HOST_IDS, "Fetch scanned host ids", &[], &[], &[]),
        step(
            ids::HOST_DETAILS,
            "Fetch scanned host details",
            &[],
            &[
                (t::VMDR_SCANS_AWS_INSTANCE, true),
                (t::VMDR_SCANS_AZURE_VM, true),
                (t::VMDR_SCANS_GCP_INSTANCE, true),
                (t::VMDR_SCANS_DISCOVERED_HOST, true),
            ],
            &[ids::SERVICES, ids::HOST_IDS],
        ),
        step(
            ids::HOST_DETECTIONS,
            "Fetch scanned host findings",
            &[(t::HOST_FINDING, true)],
            &[],
            &[ids::HOST_DETAILS],
        ),
        step(
            ids::WEB_APPS,
            "Fetch scanned web apps",
            &[],
            &[(t::WAS_SCANS_WEB_APP, true)],
            &[ids::SERVICES],
        ),
        step(
            ids::WEB_APP_FINDINGS,
            "Fetch scanned web app findings",
            &[(t::WEB_APP_FINDING, true)],
            &[(t::WAS_IDENTIFIED_FINDING, true)],
            &[ids::WEB_APPS],
        ),
        step(
            ids::FINDING_VULNS,
            "Fetch finding vulnerability details",
            &[(t::VULN, true), (t::CVE, true)],
            &[
                (t::HOST_FINDING_IS_VULN, true),
                (t::HOST_FINDING_IS_CVE, true),
                (t::WEB_APP_FINDING_IS_VULN, true),
                (t::WEB_APP_FINDING_IS_CVE, true),
            ],
            &[ids::HOST_DETECTIONS, ids::WEB_APP_FINDINGS],
        ),
    ]
}
