//! The Qualys API base URL: an anchored check and a normal form.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The accepted forms of an API URL, for error messages.
pub(crate) const API_URL_ALLOWED: &str = "an https URL of a Qualys API server with no path, such as \
https://qualysapi.qg3.apps.qualys.com (find yours at https://www.qualys.com/platform-identification/), \
or an http or https URL on a loopback address such as http://127.0.0.1:8080 for a simulator";

/// A validated Qualys API base URL, lower-cased and without a trailing `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiUrl {
    scheme: &'static str,
    host: String,
    /// The `:port` suffix, or empty.
    port: String,
    kind: HostKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostKind {
    /// `qualysapi.<platform>`.
    Qualys,
    /// `localhost`, `127.0.0.0/8` or `[::1]`.
    Loopback,
}

impl ApiUrl {
    /// Parses and checks an API URL. Returns the reason on failure.
    pub fn parse(input: &str) -> Result<Self, &'static str> {
        let text = input.trim();
        let (scheme, rest) = split_scheme(text).ok_or("the scheme must be https:// or http://")?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if !matches!(path, "" | "/") {
            return Err("the URL must not have a path, query or fragment");
        }
        if authority.contains(['@', '?', '#']) {
            return Err("the URL must not carry a user name, query or fragment");
        }

        let (host, port) = split_port(authority)?;
        let host = host.to_ascii_lowercase();
        let kind = classify_host(&host)?;
        if kind == HostKind::Qualys && scheme != "https" {
            return Err("a Qualys API server URL must use https");
        }
        Ok(ApiUrl {
            scheme,
            host,
            port: port.map(|p| format!(":{p}")).unwrap_or_default(),
            kind,
        })
    }

    /// Returns the base URL in normal form, such as `https://qualysapi.qg3.apps.qualys.com`.
    pub fn as_string(&self) -> String {
        format!("{}://{}{}", self.scheme, self.host, self.port)
    }

    /// Returns the base URL of the Qualys web UI: `https://qualysguard.<platform>`
    /// for a Qualys server, and the API URL itself for a loopback simulator.
    pub fn web_ui_base(&self) -> String {
        match self.kind {
            HostKind::Qualys => {
                let platform = self.host.strip_prefix("qualysapi.").unwrap_or(&self.host);
                format!("https://qualysguard.{platform}{}", self.port)
            }
            HostKind::Loopback => self.as_string(),
        }
    }

    /// Returns the Qualys web UI page of a knowledge-base entry.
    pub fn vuln_web_link(&self, qid: u64) -> String {
        format!("{}/fo/common/vuln_info.php?id={qid}", self.web_ui_base())
    }

    /// Returns true for a loopback host (a simulator or a test server).
    pub fn is_loopback(&self) -> bool {
        self.kind == HostKind::Loopback
    }
}

impl fmt::Display for ApiUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_string())
    }
}

fn split_scheme(text: &str) -> Option<(&'static str, &str)> {
    // Compares bytes, because slicing the text at 8 would panic or fail
    // inside a multibyte character such as the é of `http://é:8080`.
    for (scheme, prefix) in [("https", "https://"), ("http", "http://")] {
        let head = text.as_bytes().get(..prefix.len());
        if head.is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes())) {
            return Some((scheme, &text[prefix.len()..]));
        }
    }
    None
}

fn split_port(authority: &str) -> Result<(&str, Option<u16>), &'static str> {
    const BAD_PORT: &str = "the port must be a number from 1 to 65535";
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let end = rest.find(']').ok_or("an IPv6 address must end with ]")?;
        let after = &rest[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(BAD_PORT),
        };
        (&authority[..end + 2], port)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => None,
        // `u16::from_str` accepts a leading '+', which a URL port must not have.
        Some(text) if !text.bytes().all(|b| b.is_ascii_digit()) => return Err(BAD_PORT),
        Some(text) => match text.parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => return Err(BAD_PORT),
        },
    };
    Ok((host, port))
}

fn classify_host(host: &str) -> Result<HostKind, &'static str> {
    if host == "localhost" || host == "[::1]" {
        return Ok(HostKind::Loopback);
    }
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return if ip.is_loopback() {
            Ok(HostKind::Loopback)
        } else {
            Err("an IP address is accepted only on loopback (127.0.0.0/8)")
        };
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        return match inner.parse::<Ipv6Addr>() {
            Ok(ip) if ip.is_loopback() => Ok(HostKind::Loopback),
            _ => Err("an IP address is accepted only on loopback (::1)"),
        };
    }
    match host.strip_prefix("qualysapi.") {
        Some(platform) if is_dns_name(platform) => Ok(HostKind::Qualys),
        _ => Err("the host must be qualysapi.<platform>, the API server of the Qualys platform"),
    }
}

fn is_dns_name(name: &str) -> bool {
    name.contains('.')
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::ApiUrl;

    #[test]
    fn accepts_and_normalises_valid_urls() {
        let cases = [
            (
                "https://qualysapi.qg3.apps.qualys.com",
                "https://qualysapi.qg3.apps.qualys.com",
            ),
            (
                "https://QUALYSAPI.qg3.apps.qualys.com/",
                "https://qualysapi.qg3.apps.qualys.com",
            ),
            ("http://localhost:8080", "http://localhost:8080"),
            ("http://127.0.0.1:41234/", "http://127.0.0.1:41234"),
            ("http://[::1]:9000", "http://[::1]:9000"),
        ];
        for (input, normal) in cases {
            let url = ApiUrl::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(url.as_string(), normal);
        }
    }

    #[test]
    fn rejects_lookalike_and_foreign_urls() {
        for input in [
            "wut",
            "https://qualysguard.qg3.apps.qualys.com",
            "https://evil.example/https://qualysapi.qg3.apps.qualys.com",
            "https://qualysapi.qg3.apps.qualys.com/api/2.0",
            "http://qualysapi.qg3.apps.qualys.com",
            "https://user@qualysapi.qg3.apps.qualys.com",
            "https://qualysapi.",
            "https://qualysapi.com",
            "http://169.254.169.254",
            "http://10.0.0.1:8080",
            "http://localhost:0",
            "http://localhost:99999",
            "ftp://localhost",
        ] {
            assert!(ApiUrl::parse(input).is_err(), "{input} was accepted");
        }
    }

    #[test]
    fn multibyte_host_is_a_host_error() {
        let reason = ApiUrl::parse("http://\u{e9}:8080").unwrap_err();
        assert!(reason.contains("host"), "{reason}");
        let reason = ApiUrl::parse("HTTPS://\u{e9}").unwrap_err();
        assert!(reason.contains("host"), "{reason}");
    }

    #[test]
    fn signed_port_is_rejected() {
        for input in [
            "http://localhost:+443",
            "http://localhost:-1",
            "http://[::1]:+80",
        ] {
            let reason = ApiUrl::parse(input).unwrap_err();
            assert!(reason.contains("port"), "{input}: {reason}");
        }
    }

    #[test]
    fn web_link_points_at_the_qualysguard_host() {
        let url = ApiUrl::parse("https://qualysapi.qg3.apps.qualys.com").unwrap();
        assert_eq!(
            url.vuln_web_link(38739),
            "https://qualysguard.qg3.apps.qualys.com/fo/common/vuln_info.php?id=38739"
        );

        let local = ApiUrl::parse("http://127.0.0.1:8080").unwrap();
        assert_eq!(
            local.vuln_web_link(1),
            "http://127.0.0.1:8080/fo/common/vuln_info.php?id=1"
        );
    }
}
