//! A minimal HTTP/1.1 client for loopback tests and the benchmark: one request per connection,
//! chunked bodies decoded, and a record of how the body ended (complete, cut or stalled).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A failed exchange.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The base URL is not `http://HOST:PORT`.
    #[error("invalid base URL {url:?}: expected http://HOST:PORT")]
    InvalidUrl {
        /// The URL given.
        url: String,
    },
    /// The connection could not be opened or the request not sent.
    #[error("failed to send the request to {url}: {source}")]
    Send {
        /// Base URL of the server.
        url: String,
        /// Underlying socket error.
        source: std::io::Error,
    },
    /// The response head is not HTTP/1.1.
    #[error("malformed response head: {head:?}")]
    MalformedHead {
        /// The bytes received before the first blank line, lossily decoded.
        head: String,
    },
}

/// A response as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawResponse {
    /// HTTP status code.
    pub status: u16,
    /// Header names in lower case, with their values, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked; in counting mode it stays empty.
    pub body: Vec<u8>,
    /// Body bytes received on the wire (after the head).
    pub wire_bytes: u64,
    /// Whether the body ended where its framing marks the end (last chunk or full content length).
    pub complete: bool,
    /// Whether reading stopped because no byte arrived within the idle timeout.
    pub stalled: bool,
}

impl RawResponse {
    /// The first value of a header, by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What to do with the body bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyMode {
    /// Keep and de-chunk the body.
    Keep,
    /// Only count wire bytes, for throughput measurements.
    Count,
}

/// A client that sends the simulator's credentials and `X-Requested-With` on every request.
#[derive(Debug, Clone)]
pub struct Client {
    base_url: String,
    authorization: Option<String>,
    requested_with: bool,
    /// Maximum wait for the next body byte; `None` waits until the server closes.
    pub idle_timeout: Option<Duration>,
}

impl Client {
    /// A client for `base_url` with the given credentials.
    pub fn new(base_url: &str, username: &str, password: &str) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_owned(),
            authorization: Some(format!(
                "Basic {}",
                crate::base64::encode(format!("{username}:{password}").as_bytes())
            )),
            requested_with: true,
            idle_timeout: None,
        }
    }

    /// A client with the simulator's default credentials.
    pub fn with_defaults(base_url: &str) -> Self {
        Self::new(base_url, crate::DEFAULT_USERNAME, crate::DEFAULT_PASSWORD)
    }

    /// The same client without an `Authorization` header.
    pub fn without_auth(mut self) -> Self {
        self.authorization = None;
        self
    }

    /// The same client without the `X-Requested-With` header.
    pub fn without_requested_with(mut self) -> Self {
        self.requested_with = false;
        self
    }

    /// Sends a GET to a path with its query string, such as `/api/2.0/fo/asset/host/?action=list`.
    pub async fn get(&self, path_and_query: &str) -> Result<RawResponse, ClientError> {
        self.send("GET", path_and_query, None, b"", BodyMode::Keep)
            .await
    }

    /// Sends a form POST, as the API 2.0 endpoints take.
    pub async fn post_form(&self, path: &str, form: &str) -> Result<RawResponse, ClientError> {
        self.send(
            "POST",
            path,
            Some("application/x-www-form-urlencoded"),
            form.as_bytes(),
            BodyMode::Keep,
        )
        .await
    }

    /// Sends an XML POST, as the QPS searches take.
    pub async fn post_xml(&self, path: &str, xml: &str) -> Result<RawResponse, ClientError> {
        self.send(
            "POST",
            path,
            Some("text/xml"),
            xml.as_bytes(),
            BodyMode::Keep,
        )
        .await
    }

    /// Sends one request on a new connection and reads the response until the server closes.
    pub async fn send(
        &self,
        method: &str,
        path_and_query: &str,
        content_type: Option<&str>,
        body: &[u8],
        mode: BodyMode,
    ) -> Result<RawResponse, ClientError> {
        let authority = self
            .base_url
            .strip_prefix("http://")
            .filter(|rest| !rest.is_empty() && !rest.contains('/'))
            .ok_or_else(|| ClientError::InvalidUrl {
                url: self.base_url.clone(),
            })?;
        let send_error = |source| ClientError::Send {
            url: self.base_url.clone(),
            source,
        };
        let mut stream = TcpStream::connect(authority).await.map_err(send_error)?;
        let mut head = format!(
            "{method} {path_and_query} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n"
        );
        if let Some(value) = &self.authorization {
            head.push_str(&format!("Authorization: {value}\r\n"));
        }
        if self.requested_with {
            head.push_str("X-Requested-With: qgraph-sim-client\r\n");
        }
        if let Some(value) = content_type {
            head.push_str(&format!("Content-Type: {value}\r\n"));
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        stream
            .write_all(head.as_bytes())
            .await
            .map_err(send_error)?;
        stream.write_all(body).await.map_err(send_error)?;
        self.read_response(&mut stream, mode).await
    }

    async fn read_response(
        &self,
        stream: &mut TcpStream,
        mode: BodyMode,
    ) -> Result<RawResponse, ClientError> {
        let mut received = Vec::new();
        let mut head_end = None;
        let mut wire_bytes = 0u64;
        let mut stalled = false;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let read = match self.idle_timeout {
                Some(idle) => match tokio::time::timeout(idle, stream.read(&mut buf)).await {
                    Ok(read) => read,
                    Err(_) => {
                        stalled = true;
                        break;
                    }
                },
                None => stream.read(&mut buf).await,
            };
            // A reset connection ends the body like a close does; `complete` distinguishes them.
            let Ok(n) = read else { break };
            if n == 0 {
                break;
            }
            match head_end {
                Some(_) if mode == BodyMode::Count => wire_bytes += n as u64,
                _ => received.extend_from_slice(&buf[..n]),
            }
            if head_end.is_none()
                && let Some(at) = received.windows(4).position(|w| w == b"\r\n\r\n")
            {
                head_end = Some(at + 4);
                if mode == BodyMode::Count {
                    wire_bytes += (received.len() - at - 4) as u64;
                }
            }
        }
        let Some(head_end) = head_end else {
            return Err(ClientError::MalformedHead {
                head: String::from_utf8_lossy(&received).into_owned(),
            });
        };
        let (status, headers) = parse_head(&received[..head_end])?;
        let raw_body = &received[head_end..];
        let chunked = headers
            .iter()
            .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
        let (body, complete) = match mode {
            BodyMode::Count => (Vec::new(), !stalled),
            BodyMode::Keep if chunked => dechunk(raw_body),
            BodyMode::Keep => {
                let expected = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .and_then(|(_, v)| v.parse().ok());
                (
                    raw_body.to_vec(),
                    expected.is_none_or(|len: usize| len == raw_body.len()),
                )
            }
        };
        if mode == BodyMode::Keep {
            wire_bytes = raw_body.len() as u64;
        }
        Ok(RawResponse {
            status,
            headers,
            body,
            wire_bytes,
            complete: complete && !stalled,
            stalled,
        })
    }
}

fn parse_head(head: &[u8]) -> Result<(u16, Vec<(String, String)>), ClientError> {
    let text = String::from_utf8_lossy(head);
    let malformed = || ClientError::MalformedHead {
        head: text.to_string(),
    };
    let mut lines = text.split("\r\n");
    let status_line = lines.next().ok_or_else(malformed)?;
    let status = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(malformed)?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    Ok((status, headers))
}

/// Decodes a chunked body; `false` when the terminating zero-size chunk never arrived.
fn dechunk(mut raw: &[u8]) -> (Vec<u8>, bool) {
    let mut body = Vec::with_capacity(raw.len());
    loop {
        let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") else {
            return (body, false);
        };
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let Ok(size) =
            usize::from_str_radix(size_text.split(';').next().unwrap_or_default().trim(), 16)
        else {
            return (body, false);
        };
        raw = &raw[line_end + 2..];
        if size == 0 {
            return (body, true);
        }
        if raw.len() < size {
            body.extend_from_slice(raw);
            return (body, false);
        }
        body.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or_default();
    }
}
