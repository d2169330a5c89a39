//! Error taxonomy: API errors with Qualys codes, transport and parse failures,
//! per-record problems and pages that failed after their retries.

use std::fmt;
use std::time::Duration;

use crate::endpoint::Endpoint;

/// The error part of a Qualys body: `SIMPLE_RETURN` (VM API) or a QPS `ServiceResponse`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApiErrorBody {
    /// VM `CODE` (e.g. `1965`) or QPS `responseCode` (e.g. `INVALID_CREDENTIALS`).
    pub code: Option<String>,
    /// VM `TEXT` or QPS `errorMessage`.
    pub text: Option<String>,
    /// QPS `errorResolution`.
    pub resolution: Option<String>,
    /// VM `ITEM_LIST/ITEM` key and value pairs (`SECONDS_TO_WAIT`, `CALLS_TO_FINISH`).
    pub items: Vec<(String, String)>,
}

impl ApiErrorBody {
    /// Returns the value of an `ITEM` with key `key`.
    pub fn item(&self, key: &str) -> Option<&str> {
        self.items
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// VM `CODE` as a number.
    pub fn numeric_code(&self) -> Option<u32> {
        self.code
            .as_deref()
            .and_then(|code| code.trim().parse().ok())
    }
}

impl fmt::Display for ApiErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Qualys code {}",
            self.code.as_deref().unwrap_or("(none)")
        )?;
        if let Some(text) = &self.text {
            write!(f, ": {}", text.trim())?;
        }
        if let Some(resolution) = &self.resolution {
            write!(f, " (resolution: {})", resolution.trim())?;
        }
        Ok(())
    }
}

/// A problem confined to one record; the rest of the page is still read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid <{element}> record (id {}): {reason}", id.as_deref().unwrap_or("unknown"))]
pub struct RecordError {
    /// Record element name (`HOST`, `VULN`, `HostAsset`, …).
    pub element: String,
    /// Record id (host id, QID, asset id) when it could be read.
    pub id: Option<String>,
    /// What was wrong.
    pub reason: String,
}

/// Failure to read a page body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The XML is malformed at a byte position.
    #[error("malformed XML at byte {position}: {message}")]
    Xml {
        /// Byte offset in the body.
        position: u64,
        /// Parser message.
        message: String,
    },
    /// Reading the body failed (connection reset, timeout) before it ended.
    #[error("reading the response body failed: {message}")]
    Io {
        /// I/O error message.
        message: String,
    },
    /// The body ended before its root element closed.
    #[error("body ended early inside <{open_element}>")]
    Truncated {
        /// Innermost open element, empty when no element was seen.
        open_element: String,
    },
    /// The root element is not one this endpoint returns.
    #[error("unexpected root element <{found}>, expected <{expected}>")]
    UnexpectedRoot {
        /// Accepted root names.
        expected: String,
        /// Root name found.
        found: String,
    },
    /// The body is a Qualys error (`SIMPLE_RETURN` or a QPS `responseCode` other than `SUCCESS`).
    #[error("{0}")]
    Api(ApiErrorBody),
    /// One record was invalid; the page continues.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// Kind of transport failure, used by the retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// Connecting or reading timed out.
    Timeout,
    /// The connection could not be made or was reset.
    Connect,
    /// The request could not be built or sent for another reason.
    Other,
}

/// Any failure of the Qualys client.
#[derive(Debug, thiserror::Error)]
pub enum QualysError {
    /// The API URL is not an accepted Qualys platform URL.
    #[error(
        "invalid Qualys API URL {url:?}: {reason}; expected https://qualysapi.<platform> (for example https://qualysapi.qg3.apps.qualys.com, see https://www.qualys.com/platform-identification/), or http://127.0.0.1:<port>, http://localhost:<port> or http://[::1]:<port> when loopback is allowed"
    )]
    InvalidApiUrl {
        /// URL as given.
        url: String,
        /// Why it was rejected.
        reason: String,
    },
    /// A request parameter is invalid before anything is sent.
    #[error("invalid request parameter {name} = {value:?}: {reason}")]
    InvalidParameter {
        /// Parameter name.
        name: &'static str,
        /// Value given.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// The HTTP client could not be built.
    #[error("failed to build the HTTP client: {message}")]
    ClientBuild {
        /// reqwest message.
        message: String,
    },
    /// Qualys returned an error body (any HTTP status, including 200).
    #[error("{endpoint} failed with HTTP {status}: {body}{}", expired_advice(body))]
    Api {
        /// Endpoint called.
        endpoint: Endpoint,
        /// HTTP status.
        status: u16,
        /// Parsed error body.
        body: ApiErrorBody,
        /// Wait Qualys asked for before the next call, from headers or body.
        retry_after: Option<Duration>,
    },
    /// An HTTP error status without a parseable Qualys error body.
    #[error("{endpoint} failed with HTTP {status}")]
    Http {
        /// Endpoint called.
        endpoint: Endpoint,
        /// HTTP status.
        status: u16,
    },
    /// The response is not XML.
    #[error("{endpoint} returned HTTP {status} with content type {content_type:?}, expected XML")]
    ContentType {
        /// Endpoint called.
        endpoint: Endpoint,
        /// HTTP status.
        status: u16,
        /// Content type received.
        content_type: String,
    },
    /// Connecting, sending or receiving failed.
    #[error("{endpoint} request {}: {message}", kind.describe())]
    Transport {
        /// Endpoint called.
        endpoint: Endpoint,
        /// Failure kind.
        kind: TransportKind,
        /// Underlying message.
        message: String,
    },
    /// The body could not be parsed.
    #[error("{endpoint} body: {source}")]
    Parse {
        /// Endpoint called.
        endpoint: Endpoint,
        /// Parse failure.
        source: ParseError,
    },
    /// One record was invalid and skipped; the stream goes on.
    #[error("{endpoint}: {source}")]
    Record {
        /// Endpoint called.
        endpoint: Endpoint,
        /// Record problem.
        source: RecordError,
    },
    /// QPS reported more records but returned no cursor to reach them.
    #[error("{endpoint} reported hasMoreRecords without lastId or records to page from")]
    NoCursor {
        /// Endpoint called.
        endpoint: Endpoint,
    },
    /// A `WARNING/URL` chain named a page twice, went on past the page
    /// limit, or did not move `id_min` forward, so following it might never end.
    #[error("{endpoint} paging stopped: {reason}; the last next page was {url}")]
    RunawayPaging {
        /// Endpoint called.
        endpoint: Endpoint,
        /// The reason the chain was stopped.
        reason: String,
        /// The next-page URL that was not followed.
        url: String,
    },
    /// Qualys asked for a wait longer than the client's limit (a 409 code
    /// 1965 whose `SECONDS_TO_WAIT` runs into hours).
    #[error(
        "{endpoint}: Qualys asked to wait {requested_secs} s before the next call, longer than the {limit_secs} s a sync waits; run the sync again after that time"
    )]
    WaitTooLong {
        /// Endpoint called.
        endpoint: Endpoint,
        /// The wait Qualys asked for, in seconds.
        requested_secs: u64,
        /// Maximum wait the client accepts, in seconds.
        limit_secs: u64,
    },
    /// A page failed after its retries; its records may be incomplete.
    #[error("{source}; {} (page {})", describe_retries(*attempts), page.describe())]
    PageFailed {
        /// The page's request parameters.
        page: Box<PageRequest>,
        /// Attempts made.
        attempts: u32,
        /// Last failure.
        source: Box<QualysError>,
    },
}

impl TransportKind {
    /// Describes the failure after "request", as in "request timed out".
    pub fn describe(self) -> &'static str {
        match self {
            TransportKind::Timeout => "timed out",
            TransportKind::Connect => "failed because the connection could not be made or was cut",
            TransportKind::Other => "failed",
        }
    }
}

/// Qualys codes that mean the subscription or trial expired: QPS
/// `EVALUATION_EXPIRED` and VM API code 2001 ("This account has expired.").
pub const EXPIRED_CODES: &[&str] = &["EVALUATION_EXPIRED", "2001"];

/// True when `code` is one of [`EXPIRED_CODES`].
pub fn is_expired_code(code: &str) -> bool {
    EXPIRED_CODES.contains(&code.trim())
}

/// Note appended to an error body that reports an expired subscription,
/// because a bare `EVALUATION_EXPIRED` or "account expired" is easily read
/// as a wrong password.
fn expired_advice(body: &ApiErrorBody) -> &'static str {
    let mentions_expiry = body
        .text
        .as_deref()
        .is_some_and(|text| text.to_ascii_lowercase().contains("expired"));
    if body.code.as_deref().is_some_and(is_expired_code) && !mentions_expiry {
        " (the subscription has expired)"
    } else {
        ""
    }
}

/// Describes how often a failed page was retried.
fn describe_retries(attempts: u32) -> String {
    match attempts.saturating_sub(1) {
        0 => "not retried".to_owned(),
        1 => "retried once".to_owned(),
        retries => format!("retried {retries} times"),
    }
}

impl QualysError {
    /// True when Qualys reports that the subscription or trial expired.
    pub fn is_subscription_expired(&self) -> bool {
        match self {
            Self::Api { body, .. } => body.code.as_deref().is_some_and(is_expired_code),
            Self::PageFailed { source, .. } => source.is_subscription_expired(),
            _ => false,
        }
    }

    /// True when the error means the credentials were rejected or lack rights.
    pub fn is_authentication(&self) -> bool {
        match self {
            Self::Api { status, body, .. } => {
                matches!(*status, 401 | 403)
                    || matches!(
                        body.code.as_deref(),
                        Some(
                            "INVALID_CREDENTIALS"
                                | "UNAUTHORIZED"
                                | "EVALUATION_EXPIRED"
                                | "2000"
                                | "2001"
                        )
                    )
            }
            Self::Http { status, .. } => matches!(*status, 401 | 403),
            Self::PageFailed { source, .. } => source.is_authentication(),
            _ => false,
        }
    }

    /// The endpoint involved, when there is one.
    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            Self::Api { endpoint, .. }
            | Self::Http { endpoint, .. }
            | Self::ContentType { endpoint, .. }
            | Self::Transport { endpoint, .. }
            | Self::Parse { endpoint, .. }
            | Self::Record { endpoint, .. }
            | Self::NoCursor { endpoint }
            | Self::RunawayPaging { endpoint, .. }
            | Self::WaitTooLong { endpoint, .. } => Some(*endpoint),
            Self::PageFailed { page, .. } => Some(page.endpoint),
            Self::InvalidApiUrl { .. }
            | Self::InvalidParameter { .. }
            | Self::ClientBuild { .. } => None,
        }
    }

    /// True when only one record was lost and the stream continues.
    pub fn is_record_error(&self) -> bool {
        matches!(self, Self::Record { .. })
    }
}

/// HTTP method of a page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET with parameters in the URL.
    Get,
    /// POST with a form body.
    PostForm,
    /// POST with a `ServiceRequest` XML body.
    PostXml,
}

/// A page request: enough to repeat it and to say which page failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Endpoint called.
    pub endpoint: Endpoint,
    /// Method and body kind.
    pub method: Method,
    /// Absolute URL, including any query.
    pub url: String,
    /// Form or XML body.
    pub body: Option<String>,
}

impl PageRequest {
    /// Describes the page for messages: URL and body, the body cut to 200 bytes.
    pub fn describe(&self) -> String {
        match &self.body {
            None => self.url.clone(),
            Some(body) => {
                let mut end = body.len().min(200);
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                let ellipsis = if end < body.len() { "…" } else { "" };
                format!("{} body {}{ellipsis}", self.url, &body[..end])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_failed(attempts: u32, source: QualysError) -> QualysError {
        QualysError::PageFailed {
            page: Box::new(PageRequest {
                endpoint: Endpoint::KnowledgeBase,
                method: Method::PostForm,
                url: "http://127.0.0.1:9/api/2.0/fo/knowledge_base/vuln/".to_owned(),
                body: Some("action=list".to_owned()),
            }),
            attempts,
            source: Box::new(source),
        }
    }

    fn api(code: &str, text: &str) -> QualysError {
        QualysError::Api {
            endpoint: Endpoint::KnowledgeBase,
            status: 200,
            body: ApiErrorBody {
                code: Some(code.to_owned()),
                text: Some(text.to_owned()),
                ..ApiErrorBody::default()
            },
            retry_after: None,
        }
    }

    #[test]
    fn cut_body_reports_retries() {
        let cut = QualysError::Parse {
            endpoint: Endpoint::KnowledgeBase,
            source: ParseError::Io {
                message: "the connection was cut before the response ended".to_owned(),
            },
        };

        let message = page_failed(5, cut).to_string();

        assert!(
            message.contains("the connection was cut before the response ended"),
            "{message}"
        );
        assert!(message.contains("retried 4 times"), "{message}");
        assert!(message.contains("action=list"), "{message}");
    }

    #[test]
    fn retry_count_wording() {
        assert_eq!(describe_retries(1), "not retried");
        assert_eq!(describe_retries(2), "retried once");
        assert_eq!(describe_retries(20), "retried 19 times");
        assert_eq!(describe_retries(0), "not retried");
    }

    #[test]
    fn reset_before_headers_names_connection() {
        let reset = QualysError::Transport {
            endpoint: Endpoint::HostIds,
            kind: TransportKind::Connect,
            message: "connection reset by peer".to_owned(),
        };

        let message = page_failed(5, reset).to_string();

        assert!(
            message.contains("connection could not be made or was cut"),
            "{message}"
        );
        assert!(message.contains("retried 4 times"), "{message}");
    }

    #[test]
    fn expired_codes_name_expiry() {
        for code in ["EVALUATION_EXPIRED", "2001"] {
            let error = page_failed(1, api(code, "Evaluation period is over."));
            let message = error.to_string();

            assert!(error.is_subscription_expired(), "{code}");
            assert!(
                message.contains("(the subscription has expired)"),
                "{message}"
            );
            assert!(message.contains("not retried"), "{message}");
        }
    }

    #[test]
    fn expiry_is_not_repeated() {
        let message = api("2001", "This account has expired.").to_string();

        assert_eq!(message.matches("expired").count(), 1, "{message}");
    }

    #[test]
    fn wrong_password_is_not_expiry() {
        let error = api("INVALID_CREDENTIALS", "bad password");

        assert!(!error.is_subscription_expired());
        assert!(!error.to_string().contains("expired"), "{error}");
        assert!(error.is_authentication());
    }
}
