//! Validation of the Qualys API URL against the platform allow-list.

use std::fmt;

use reqwest::Url;

use crate::error::QualysError;

/// Registrable domains of the Qualys shared platforms; the API host is
/// `qualysapi.` followed by one of these or a subdomain of one
/// (`qualysapi.qg3.apps.qualys.com`, `qualysapi.qualys.eu`).
const PLATFORM_DOMAINS: &[&str] = &[
    "qualys.com",
    "qualys.eu",
    "qualys.in",
    "qualys.ca",
    "qualys.ae",
    "qualys.co.uk",
    "qualys.com.au",
    "qualysksa.com",
];

/// Whether loopback URLs (the simulator) are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Loopback {
    /// Only Qualys platform hosts over HTTPS.
    #[default]
    Reject,
    /// Also `http(s)://` with any 127.0.0.0/8 address, `localhost` or `[::1]`
    /// and a port, for the simulator.
    Allow,
}

/// A validated Qualys API base URL without a trailing slash.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiUrl {
    url: Url,
}

impl ApiUrl {
    /// Validates `text` as a Qualys platform API URL.
    ///
    /// Accepts `https://qualysapi.<platform domain>` with an optional trailing
    /// slash, and loopback URLs only with [`Loopback::Allow`].
    ///
    /// NOTE: private cloud platforms with customer-specific domains are
    /// rejected; supporting them needs an explicit extra allow-list entry.
    pub fn parse(text: &str, loopback: Loopback) -> Result<Self, QualysError> {
        let reject = |reason: &str| QualysError::InvalidApiUrl {
            url: text.to_owned(),
            reason: reason.to_owned(),
        };
        let url =
            Url::parse(text.trim()).map_err(|error| reject(&format!("not a URL ({error})")))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(reject("credentials in the URL are not allowed"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(reject("a query or fragment is not allowed"));
        }
        if !matches!(url.path(), "" | "/") {
            return Err(reject("a path is not allowed"));
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        if is_loopback(&host) {
            if loopback == Loopback::Reject {
                return Err(reject("loopback hosts are only allowed for the simulator"));
            }
            if !matches!(url.scheme(), "http" | "https") {
                return Err(reject("the scheme must be http or https"));
            }
        } else {
            if url.scheme() != "https" {
                return Err(reject("the scheme must be https"));
            }
            if !is_platform_host(&host) {
                return Err(reject("the host is not a Qualys platform API host"));
            }
            if url.port().is_some_and(|port| port != 443) {
                return Err(reject("a port other than 443 is not allowed"));
            }
        }
        Ok(Self { url })
    }

    /// Base URL without a trailing slash.
    pub fn as_str(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// Joins an absolute path (`/api/2.0/…`) to the base URL.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.as_str())
    }

    /// True when `url` points at the same scheme, host and port, so credentials may be sent to it.
    pub fn is_same_origin(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|other| {
            other.scheme() == self.url.scheme()
                && other.host_str().map(str::to_ascii_lowercase)
                    == self.url.host_str().map(str::to_ascii_lowercase)
                && other.port_or_known_default() == self.url.port_or_known_default()
        })
    }
}

impl fmt::Debug for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ApiUrl").field(&self.as_str()).finish()
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// True for `localhost`, `[::1]` and any IPv4 address in 127.0.0.0/8, the
/// addresses the simulator may bind.
fn is_loopback(host: &str) -> bool {
    matches!(host, "localhost" | "[::1]")
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|address| address.is_loopback())
}

fn is_platform_host(host: &str) -> bool {
    let Some(rest) = host.strip_prefix("qualysapi.") else {
        return false;
    };
    let labels_valid = rest.split('.').all(|label| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    });
    labels_valid
        && PLATFORM_DOMAINS.iter().any(|domain| {
            rest == *domain
                || rest
                    .strip_suffix(domain)
                    .is_some_and(|prefix| prefix.ends_with('.'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted(text: &str, loopback: Loopback) -> bool {
        ApiUrl::parse(text, loopback).is_ok()
    }

    #[test]
    fn platform_hosts_accepted() {
        for url in [
            "https://qualysapi.qualys.com",
            "https://qualysapi.qg3.apps.qualys.com/",
            "https://qualysapi.qg1.apps.qualys.co.uk",
            "https://qualysapi.qualys.eu",
        ] {
            assert!(accepted(url, Loopback::Reject), "{url}");
        }
    }

    #[test]
    fn trailing_slash_normalised() {
        let url = ApiUrl::parse("https://qualysapi.qg3.apps.qualys.com/", Loopback::Reject);
        assert_eq!(
            url.map(|url| url.join("/api/2.0/fo/asset/host/"))
                .ok()
                .as_deref(),
            Some("https://qualysapi.qg3.apps.qualys.com/api/2.0/fo/asset/host/")
        );
    }

    #[test]
    fn lookalike_hosts_rejected() {
        for url in [
            "wut",
            "https://qualysguard.qg3.apps.qualys.com",
            "http://qualysapi.qualys.com",
            "https://qualysapi.qualys.com.evil.example",
            "https://evil.example/?x=https://qualysapi.qualys.com",
            "https://qualysapi.evilqualys.com",
            "https://user:pw@qualysapi.qualys.com",
            "https://qualysapi.qualys.com/api",
            "https://qualysapi.qualys.com:8443",
            "https://169.254.169.254",
        ] {
            assert!(!accepted(url, Loopback::Allow), "{url}");
        }
    }

    #[test]
    fn loopback_needs_opt_in() {
        for url in [
            "http://127.0.0.1:8080",
            "http://127.0.0.2:9",
            "http://127.255.255.254:8080",
            "http://localhost:8080/",
            "http://[::1]:9000",
        ] {
            assert!(!accepted(url, Loopback::Reject), "{url}");
            assert!(accepted(url, Loopback::Allow), "{url}");
        }
    }

    #[test]
    fn rejection_names_url_and_accepted_forms() {
        let message = ApiUrl::parse("https://qualysguard.qg3.apps.qualys.com", Loopback::Reject)
            .err()
            .map(|error| error.to_string())
            .unwrap_or_default();
        assert!(
            message.contains("https://qualysguard.qg3.apps.qualys.com"),
            "{message}"
        );
        assert!(message.contains("https://qualysapi."), "{message}");
    }
}
