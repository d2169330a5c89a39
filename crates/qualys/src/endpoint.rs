//! The Qualys endpoints this client calls, with their API family and defaults.

use std::fmt;

/// A Qualys API family; each has its own limits and its own governor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiFamily {
    /// VM/PC API 2.0 (`/api/2.0/fo/…`): rate and concurrency limited by headers.
    Vm,
    /// Qualys Platform Services (`/qps/rest/…`): asset management, WAS and portal.
    Qps,
}

/// One endpoint of the Qualys API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// `GET /qps/rest/portal/version`.
    PortalVersion,
    /// `GET /api/2.0/fo/asset/host/` (scanned host ids).
    HostIds,
    /// `POST /qps/rest/2.0/search/am/hostasset`.
    HostAssets,
    /// `POST /api/2.0/fo/asset/host/vm/detection/`.
    HostDetections,
    /// `POST /api/2.0/fo/knowledge_base/vuln/`.
    KnowledgeBase,
    /// `POST /qps/rest/3.0/search/was/webapp`.
    WebApps,
    /// `POST /qps/rest/3.0/search/was/finding/`.
    WebAppFindings,
}

impl Endpoint {
    /// Path below the API URL.
    pub fn path(self) -> &'static str {
        match self {
            Self::PortalVersion => "/qps/rest/portal/version",
            Self::HostIds => "/api/2.0/fo/asset/host/",
            Self::HostAssets => "/qps/rest/2.0/search/am/hostasset",
            Self::HostDetections => "/api/2.0/fo/asset/host/vm/detection/",
            Self::KnowledgeBase => "/api/2.0/fo/knowledge_base/vuln/",
            Self::WebApps => "/qps/rest/3.0/search/was/webapp",
            Self::WebAppFindings => "/qps/rest/3.0/search/was/finding/",
        }
    }

    /// API family whose governor paces this endpoint.
    pub fn family(self) -> ApiFamily {
        match self {
            Self::HostIds | Self::HostDetections | Self::KnowledgeBase => ApiFamily::Vm,
            Self::PortalVersion | Self::HostAssets | Self::WebApps | Self::WebAppFindings => {
                ApiFamily::Qps
            }
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.path())
    }
}
