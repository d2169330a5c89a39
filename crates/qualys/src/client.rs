//! The async Qualys client: one streaming method per endpoint.
//!
//! Each method returns a stream of records. One background task per stream
//! fetches the pages and parses each body as it arrives. A bounded channel
//! keeps at most `channel_capacity` records ahead of the caller. A page that fails after its retries appears in the stream as a
//! [`QualysError::PageFailed`] naming the page, and the stream goes on with
//! the next chunk where there is one.

use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use tokio::sync::mpsc;
use tokio_util::io::StreamReader;

use crate::api_url::ApiUrl;
use crate::credentials::Credentials;
use crate::endpoint::{ApiFamily, Endpoint};
use crate::error::{Method, PageRequest, ParseError, QualysError, TransportKind};
use crate::governor::{Governor, GovernorConfig};
use crate::parse::{self, RecordKind, RecordStream};
use crate::records::{
    HostAsset, HostDetections, HostIdRange, PortalVersion, Vuln, WebApp, WebAppFinding,
};
use crate::request::{
    self, Criterion, DetectionQuery, HostIdQuery, WebAppFindingQuery, WebAppQuery,
};
use crate::retry::{RetryDecision, RetryPolicy, Retryable};
use crate::xml::PageMeta;

/// Settings of a [`QualysClient`].
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Validated API base URL.
    pub api_url: ApiUrl,
    /// Basic-auth credentials.
    pub credentials: Credentials,
    /// Value of the `X-Requested-With` header Qualys requires on every call.
    pub requested_with: String,
    /// Time allowed to open a connection; `None` waits without limit.
    pub connect_timeout: Option<Duration>,
    /// Maximum wait for response headers or for the next body chunk on most endpoints; `None` waits without limit.
    pub read_timeout: Option<Duration>,
    /// Same as `read_timeout` for host detections and host assets, which Qualys computes slowly.
    pub long_read_timeout: Option<Duration>,
    /// How long an unused connection stays open for reuse; `None` keeps it open.
    pub pool_idle_timeout: Option<Duration>,
    /// Retry policy of every page.
    pub retry: RetryPolicy,
    /// Governor settings of the VM API 2.0 (host list, detections, knowledge base).
    pub vm_governor: GovernorConfig,
    /// Governor settings of QPS (portal, asset management, WAS), which sends no limit headers.
    pub qps_governor: GovernorConfig,
    /// Host ids per host asset request.
    pub host_asset_chunk_size: usize,
    /// QIDs per knowledge-base request.
    pub knowledge_base_chunk_size: usize,
    /// Records buffered between the fetching task and the caller.
    pub channel_capacity: usize,
}

impl ClientConfig {
    /// Creates a configuration with default timeouts, retries and chunk sizes.
    pub fn new(api_url: ApiUrl, credentials: Credentials) -> Self {
        Self {
            api_url,
            credentials,
            requested_with: "qgraph".to_owned(),
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(120)),
            long_read_timeout: Some(Duration::from_secs(600)),
            pool_idle_timeout: Some(Duration::from_secs(90)),
            retry: RetryPolicy::default(),
            vm_governor: GovernorConfig::default(),
            // NOTE: QPS sends no limit headers, so 4 parallel calls is a fixed guess.
            qps_governor: GovernorConfig {
                initial_concurrency: 4,
                ..GovernorConfig::default()
            },
            host_asset_chunk_size: 250,
            knowledge_base_chunk_size: 250,
            channel_capacity: 64,
        }
    }
}

/// Async, streaming Qualys API client. Clones share connections and governors.
#[derive(Debug, Clone)]
pub struct QualysClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    http: reqwest::Client,
    config: ClientConfig,
    vm_governor: Governor,
    qps_governor: Governor,
}

/// Item of every record stream.
pub type RecordResult<T> = Result<T, QualysError>;

type Sender<T> = mpsc::Sender<RecordResult<T>>;

/// Reason a page stopped early.
enum PageStop {
    /// The page failed after its retries; the error was sent to the stream.
    Failed,
    /// The caller dropped the stream.
    Closed,
}

impl QualysClient {
    /// Builds a client; connections are reused and gzip is accepted.
    pub fn new(config: ClientConfig) -> Result<Self, QualysError> {
        let mut headers = HeaderMap::new();
        let requested_with = HeaderValue::from_str(&config.requested_with).map_err(|_| {
            QualysError::InvalidParameter {
                name: "requested_with",
                value: config.requested_with.clone(),
                reason: "not a valid header value",
            }
        })?;
        headers.insert("X-Requested-With", requested_with);
        let mut builder = reqwest::Client::builder()
            .default_headers(headers)
            .gzip(true)
            .pool_idle_timeout(config.pool_idle_timeout)
            .redirect(reqwest::redirect::Policy::none());
        if let Some(timeout) = config.connect_timeout {
            builder = builder.connect_timeout(timeout);
        }
        let http = builder.build().map_err(|error| QualysError::ClientBuild {
            message: error.to_string(),
        })?;
        let inner = Inner {
            http,
            vm_governor: Governor::new(config.vm_governor.clone()),
            qps_governor: Governor::new(config.qps_governor.clone()),
            config,
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Governor of an API family, shared by every clone of this client.
    pub fn governor(&self, family: ApiFamily) -> &Governor {
        match family {
            ApiFamily::Vm => &self.inner.vm_governor,
            ApiFamily::Qps => &self.inner.qps_governor,
        }
    }

    /// Fetches the portal version; this is also the credential check.
    pub async fn portal_version(&self) -> Result<PortalVersion, QualysError> {
        let request = PageRequest {
            endpoint: Endpoint::PortalVersion,
            method: Method::Get,
            url: self
                .inner
                .config
                .api_url
                .join(Endpoint::PortalVersion.path()),
            body: None,
        };
        let (tx, mut rx) = mpsc::channel(1);
        let client = self.clone();
        let task = tokio::spawn(async move {
            let _ = client
                .inner
                .run_page(&request, &|body| parse::portal_version(body), &tx)
                .await;
        });
        let result = rx.recv().await;
        let _ = task.await;
        match result {
            Some(Ok(portal)) => Ok(portal),
            Some(Err(QualysError::PageFailed { source, .. })) => Err(*source),
            Some(Err(error)) => Err(error),
            None => Err(QualysError::Parse {
                endpoint: Endpoint::PortalVersion,
                source: ParseError::Truncated {
                    open_element: "data".to_owned(),
                },
            }),
        }
    }

    /// Streams scanned host ids, following every `WARNING/URL` page.
    pub fn host_ids(
        &self,
        query: &HostIdQuery,
    ) -> impl Stream<Item = RecordResult<HostIdRange>> + Send + 'static {
        let first = request::host_ids_request(&self.inner.config.api_url, query);
        self.spawn(move |inner, tx| async move {
            let _ = inner
                .follow_warning_chain(first, &|body| parse::host_ids(body), &tx)
                .await;
        })
    }

    /// Streams host assets of the given VM host ids, chunked, paging each chunk by `id GREATER lastId`.
    pub fn host_assets(
        &self,
        host_ids: Vec<u64>,
    ) -> impl Stream<Item = RecordResult<HostAsset>> + Send + 'static {
        self.spawn(move |inner, tx| async move {
            let chunk_size = inner.config.host_asset_chunk_size.max(1);
            for chunk in host_ids.chunks(chunk_size) {
                let criteria = vec![Criterion::new("qwebHostId", "IN", request::join_ids(chunk))];
                let limit = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
                let outcome = inner
                    .follow_cursor(
                        Endpoint::HostAssets,
                        limit,
                        criteria,
                        &|body| parse::host_assets(body),
                        &tx,
                    )
                    .await;
                if matches!(outcome, Err(PageStop::Closed)) {
                    return;
                }
            }
        })
    }

    /// Streams hosts with their detections, chunked by host id, following every `WARNING/URL` page.
    pub fn host_detections(
        &self,
        query: &DetectionQuery,
    ) -> impl Stream<Item = RecordResult<HostDetections>> + Send + 'static {
        let query = query.clone();
        self.spawn(move |inner, tx| async move {
            let results = query.results.clone();
            let make_parser = move |body| parse::host_detections(body, results.clone());
            // TODO: chunks run one after another; running them in parallel up to the
            // governor's slots would use the whole concurrency a subscription allows.
            for chunk in query.host_ids.chunks(query.chunk_size.max(1)) {
                let first = request::detections_request(&inner.config.api_url, &query, chunk);
                if matches!(
                    inner.follow_warning_chain(first, &make_parser, &tx).await,
                    Err(PageStop::Closed)
                ) {
                    return;
                }
            }
        })
    }

    /// Streams knowledge-base vulns for the given QIDs; unknown QIDs are left out by Qualys.
    pub fn knowledge_base(
        &self,
        qids: Vec<u64>,
    ) -> impl Stream<Item = RecordResult<Vuln>> + Send + 'static {
        self.spawn(move |inner, tx| async move {
            for chunk in qids.chunks(inner.config.knowledge_base_chunk_size.max(1)) {
                let first = request::knowledge_base_request(&inner.config.api_url, chunk);
                if matches!(
                    inner
                        .follow_warning_chain(first, &|body| parse::knowledge_base(body), &tx)
                        .await,
                    Err(PageStop::Closed)
                ) {
                    return;
                }
            }
        })
    }

    /// Streams WAS web apps, paging by `id GREATER lastId`.
    pub fn web_apps(
        &self,
        query: &WebAppQuery,
    ) -> impl Stream<Item = RecordResult<WebApp>> + Send + 'static {
        let query = query.clone();
        self.spawn(move |inner, tx| async move {
            let mut criteria = Vec::new();
            if query.scanned_only {
                criteria.push(Criterion::new("isScanned", "EQUALS", "true"));
            }
            if let Some(since) = query.scanned_since {
                criteria.push(Criterion::new(
                    "lastScan.date",
                    "GREATER",
                    crate::dates::format_iso8601(since),
                ));
            }
            if !query.ids.is_empty() {
                criteria.push(Criterion::new("id", "IN", request::join_ids(&query.ids)));
            }
            let _ = inner
                .follow_cursor(
                    Endpoint::WebApps,
                    query.page_size,
                    criteria,
                    &|body| parse::web_apps(body),
                    &tx,
                )
                .await;
        })
    }

    /// Streams WAS findings of the given web apps, chunked by app id, paging by `id GREATER lastId`.
    pub fn web_app_findings(
        &self,
        query: &WebAppFindingQuery,
    ) -> impl Stream<Item = RecordResult<WebAppFinding>> + Send + 'static {
        let query = query.clone();
        self.spawn(move |inner, tx| async move {
            for chunk in query.web_app_ids.chunks(query.chunk_size.max(1)) {
                let mut criteria = Vec::new();
                if let Some(since) = query.detected_since {
                    criteria.push(Criterion::new(
                        "lastDetectedDate",
                        "GREATER",
                        crate::dates::format_iso8601(since),
                    ));
                }
                criteria.push(Criterion::new("webApp.id", "IN", request::join_ids(chunk)));
                let outcome = inner
                    .follow_cursor(
                        Endpoint::WebAppFindings,
                        query.page_size,
                        criteria,
                        &|body| parse::web_app_findings(body),
                        &tx,
                    )
                    .await;
                if matches!(outcome, Err(PageStop::Closed)) {
                    return;
                }
            }
        })
    }

    /// Runs `work` on a task feeding a bounded channel, and returns the channel as a stream.
    fn spawn<T, F, Fut>(&self, work: F) -> impl Stream<Item = RecordResult<T>> + Send + 'static
    where
        T: Send + 'static,
        F: FnOnce(Arc<Inner>, Sender<T>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(self.inner.config.channel_capacity.max(1));
        let inner = Arc::clone(&self.inner);
        // The task ends by itself once the caller drops the stream, because every send then fails.
        tokio::spawn(work(inner, tx));
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
    }
}

/// Builds a record stream of one kind over a body reader.
trait ParserFactory<K: RecordKind>: Send + Sync {
    fn parser(&self, body: BodyReader) -> RecordStream<BodyReader, K>;
}

impl<K: RecordKind, F> ParserFactory<K> for F
where
    F: Fn(BodyReader) -> RecordStream<BodyReader, K> + Send + Sync,
{
    fn parser(&self, body: BodyReader) -> RecordStream<BodyReader, K> {
        self(body)
    }
}

type BodyStream = std::pin::Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;
/// Response body as an `AsyncBufRead`, with a timeout on every chunk.
type BodyReader = StreamReader<BodyStream, Bytes>;

/// Counts of records already sent from one page, so a retry skips them.
#[derive(Default)]
struct Delivered {
    records: HashMap<u64, u32>,
    record_errors: HashMap<String, u32>,
}

/// Counts of records seen in the current attempt.
#[derive(Default)]
struct Seen {
    records: HashMap<u64, u32>,
    record_errors: HashMap<String, u32>,
}

impl Inner {
    fn governor(&self, endpoint: Endpoint) -> &Governor {
        match endpoint.family() {
            ApiFamily::Vm => &self.vm_governor,
            ApiFamily::Qps => &self.qps_governor,
        }
    }

    fn read_timeout(&self, endpoint: Endpoint) -> Option<Duration> {
        match endpoint {
            Endpoint::HostDetections | Endpoint::HostAssets => self.config.long_read_timeout,
            _ => self.config.read_timeout,
        }
    }

    /// Fetches a VM list page and every page its `WARNING/URL` points to.
    async fn follow_warning_chain<K, P>(
        &self,
        first: PageRequest,
        parser: &P,
        tx: &Sender<K::Record>,
    ) -> Result<(), PageStop>
    where
        K: RecordKind,
        K::Record: Send,
        P: ParserFactory<K>,
    {
        let mut request = first;
        let mut followed: HashSet<String> = HashSet::new();
        loop {
            let (meta, _) = self.run_page(&request, parser, tx).await?;
            let Some(next_url) = meta.next_url() else {
                return Ok(());
            };
            // A form request carries its parameters, id_min among them, in the body.
            let current = format!("{}&{}", request.url, request.body.as_deref().unwrap_or(""));
            let repeated = !followed.insert(next_url.to_owned());
            if let Some(reason) = runaway_reason(&current, next_url, followed.len(), repeated) {
                let error = QualysError::RunawayPaging {
                    endpoint: request.endpoint,
                    reason,
                    url: next_url.to_owned(),
                };
                return Err(self.send_failure(&request, 1, error, tx).await);
            }
            // Credentials go only to the configured host, whatever URL a body names.
            if !self.config.api_url.is_same_origin(next_url) {
                let error = QualysError::InvalidApiUrl {
                    url: next_url.to_owned(),
                    reason: "the next-page URL points to another host".to_owned(),
                };
                return Err(self.send_failure(&request, 1, error, tx).await);
            }
            request = request::next_vm_page(&request, next_url);
        }
    }

    /// Fetches QPS search pages while `hasMoreRecords` is true, moving an `id GREATER` cursor.
    async fn follow_cursor<K, P>(
        &self,
        endpoint: Endpoint,
        limit: u32,
        criteria: Vec<Criterion>,
        parser: &P,
        tx: &Sender<K::Record>,
    ) -> Result<(), PageStop>
    where
        K: RecordKind,
        K::Record: Send,
        P: ParserFactory<K>,
    {
        let mut cursor: Option<u64> = None;
        loop {
            let mut page_criteria = criteria.clone();
            if let Some(last) = cursor {
                page_criteria.push(Criterion::new("id", "GREATER", last.to_string()));
            }
            let body = request::service_request(limit, &page_criteria);
            let request = request::post_xml(&self.config.api_url, endpoint, body);
            let (meta, last_key) = self.run_page(&request, parser, tx).await?;
            if !meta.has_more_records() {
                return Ok(());
            }
            // Pages without lastId are continued from the last record's id.
            let next = meta.last_id().or(last_key);
            match next {
                Some(next) if cursor.is_none_or(|current| next > current) => cursor = Some(next),
                _ => {
                    let error = QualysError::NoCursor { endpoint };
                    return Err(self.send_failure(&request, 1, error, tx).await);
                }
            }
        }
    }

    /// Fetches one page with retries, sending its records; returns the page metadata and the last record key.
    async fn run_page<K, P>(
        &self,
        request: &PageRequest,
        parser: &P,
        tx: &Sender<K::Record>,
    ) -> Result<(PageMeta, Option<u64>), PageStop>
    where
        K: RecordKind,
        K::Record: Send,
        P: ParserFactory<K>,
    {
        let mut delivered = Delivered::default();
        let mut attempts = 0;
        let mut throttled = 0;
        loop {
            attempts += 1;
            let error = match self.attempt_page(request, parser, tx, &mut delivered).await {
                Ok(done) => return Ok(done),
                Err(None) => return Err(PageStop::Closed),
                Err(Some(error)) => self.reject_long_wait(request.endpoint, error),
            };
            let retryable = RetryPolicy::classify(&error);
            if retryable == Retryable::Throttled {
                throttled += 1;
                self.apply_throttle(request.endpoint, &error);
            }
            match self.config.retry.decide(&error, attempts, throttled) {
                RetryDecision::Retry(delay) => {
                    tracing::warn!(endpoint = %request.endpoint, attempt = attempts, error = %error, "retrying Qualys page");
                    tokio::time::sleep(delay).await;
                }
                RetryDecision::GiveUp => {
                    return Err(self.send_failure(request, attempts, error, tx).await);
                }
            }
        }
    }

    async fn send_failure<T>(
        &self,
        request: &PageRequest,
        attempts: u32,
        error: QualysError,
        tx: &Sender<T>,
    ) -> PageStop {
        let failure = QualysError::PageFailed {
            page: Box::new(request.clone()),
            attempts,
            source: Box::new(error),
        };
        match tx.send(Err(failure)).await {
            Ok(()) => PageStop::Failed,
            Err(_) => PageStop::Closed,
        }
    }

    /// Replaces a throttle whose requested wait is over the retry policy's
    /// limit by [`QualysError::WaitTooLong`], before the wait reaches the
    /// governor and delays every request of the API family.
    fn reject_long_wait(&self, endpoint: Endpoint, error: QualysError) -> QualysError {
        let limit = self.config.retry.max_throttle_wait;
        match &error {
            QualysError::Api {
                retry_after: Some(wait),
                ..
            } if RetryPolicy::classify(&error) == Retryable::Throttled && *wait > limit => {
                // The response's own headers may already have set the wait.
                self.governor(endpoint).forget_waits_longer_than(limit);
                QualysError::WaitTooLong {
                    endpoint,
                    requested_secs: wait.as_secs(),
                    limit_secs: limit.as_secs(),
                }
            }
            _ => error,
        }
    }

    fn apply_throttle(&self, endpoint: Endpoint, error: &QualysError) {
        let QualysError::Api {
            body, retry_after, ..
        } = error
        else {
            return;
        };
        let governor = self.governor(endpoint);
        match body.numeric_code() {
            Some(1965) => {
                governor.observe_rate_limited(retry_after.unwrap_or(Duration::from_secs(1)))
            }
            Some(1960) => {
                let calls = body
                    .item("CALLS_TO_FINISH")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(1);
                governor.observe_concurrency_limited(calls);
            }
            _ => {}
        }
    }

    /// Makes one attempt at a page and sends its new records. `Err(None)` means the caller dropped the stream.
    async fn attempt_page<K, P>(
        &self,
        request: &PageRequest,
        parser: &P,
        tx: &Sender<K::Record>,
        delivered: &mut Delivered,
    ) -> Result<(PageMeta, Option<u64>), Option<QualysError>>
    where
        K: RecordKind,
        K::Record: Send,
        P: ParserFactory<K>,
    {
        let endpoint = request.endpoint;
        let governor = self.governor(endpoint);
        // A successful response can also ask for a long wait, through
        // `X-RateLimit-ToWait-Sec` or a spent budget of a long window.
        let limit = self.config.retry.max_throttle_wait;
        if let Some(wait) = governor.pending_wait().filter(|wait| *wait > limit) {
            governor.forget_waits_longer_than(limit);
            return Err(Some(QualysError::WaitTooLong {
                endpoint,
                requested_secs: wait.as_secs(),
                limit_secs: limit.as_secs(),
            }));
        }
        let permit = governor.acquire().await;
        let timeout = self.read_timeout(endpoint);

        let response = self.send(request, timeout).await?;
        governor.observe_headers(response.headers());
        let status = response.status().as_u16();
        let retry_after = header_wait(response.headers());
        check_content_type(endpoint, status, response.headers())?;

        let mut records = parser.parser(body_reader(response, timeout));
        let mut seen = Seen::default();
        let mut last_key = None;
        loop {
            match records.next().await {
                Ok(Some(record)) => {
                    let key = K::key(&record);
                    last_key = Some(key);
                    if status >= 400 {
                        continue;
                    }
                    if first_time(&mut seen.records, &mut delivered.records, key) {
                        tx.send(Ok(record)).await.map_err(|_| None)?;
                    }
                }
                Ok(None) => break,
                Err(ParseError::Record(record_error)) => {
                    let key = record_error.to_string();
                    if status < 400
                        && first_time(&mut seen.record_errors, &mut delivered.record_errors, key)
                    {
                        let error = QualysError::Record {
                            endpoint,
                            source: record_error,
                        };
                        tx.send(Err(error)).await.map_err(|_| None)?;
                    }
                }
                Err(ParseError::Api(body)) => {
                    // The permit goes first, so a concurrency throttle does not wait on this request.
                    drop(permit);
                    let retry_after = body
                        .item("SECONDS_TO_WAIT")
                        .and_then(|secs| secs.trim().parse().ok())
                        .map(Duration::from_secs)
                        .or(retry_after);
                    return Err(Some(QualysError::Api {
                        endpoint,
                        status,
                        body,
                        retry_after,
                    }));
                }
                Err(source) if status >= 400 => {
                    tracing::debug!(endpoint = %endpoint, status, error = %source, "unreadable error body");
                    return Err(Some(QualysError::Http { endpoint, status }));
                }
                Err(source) => return Err(Some(QualysError::Parse { endpoint, source })),
            }
        }
        if status >= 400 {
            return Err(Some(QualysError::Http { endpoint, status }));
        }
        Ok((records.meta().clone(), last_key))
    }

    async fn send(
        &self,
        request: &PageRequest,
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response, Option<QualysError>> {
        let credentials = &self.config.credentials;
        let builder = match request.method {
            Method::Get => self.http.get(&request.url),
            Method::PostForm => self
                .http
                .post(&request.url)
                .header(
                    CONTENT_TYPE,
                    "application/x-www-form-urlencoded;charset=UTF-8",
                )
                .body(request.body.clone().unwrap_or_default()),
            Method::PostXml => self
                .http
                .post(&request.url)
                .header(CONTENT_TYPE, "text/xml")
                .body(request.body.clone().unwrap_or_default()),
        };
        let builder =
            builder.basic_auth(&credentials.username, Some(credentials.password.expose()));
        let sent = match timeout {
            Some(timeout) => tokio::time::timeout(timeout, builder.send())
                .await
                .map_err(|_| timeout),
            None => Ok(builder.send().await),
        };
        match sent {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(Some(transport_error(request.endpoint, &error))),
            Err(timeout) => Err(Some(QualysError::Transport {
                endpoint: request.endpoint,
                kind: TransportKind::Timeout,
                message: format!("no response headers within {}s", timeout.as_secs()),
            })),
        }
    }
}

/// Returns true when a record was not sent by an earlier attempt of the same page.
///
/// Counting per key keeps genuine duplicates within a page (Qualys does send
/// two assets with one id) while skipping the copies a retry reads again.
fn first_time<K: std::hash::Hash + Eq + Clone>(
    seen: &mut HashMap<K, u32>,
    delivered: &mut HashMap<K, u32>,
    key: K,
) -> bool {
    let seen_count = seen.entry(key.clone()).or_insert(0);
    *seen_count += 1;
    let seen_count = *seen_count;
    let delivered_count = delivered.entry(key).or_insert(0);
    if seen_count > *delivered_count {
        *delivered_count += 1;
        true
    } else {
        false
    }
}

fn transport_error(endpoint: Endpoint, error: &reqwest::Error) -> QualysError {
    let kind = if error.is_timeout() {
        TransportKind::Timeout
    } else if error.is_connect() || error.is_request() || error.is_body() {
        TransportKind::Connect
    } else {
        TransportKind::Other
    };
    // The top-level message alone ("error sending request") hides the cause.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    QualysError::Transport {
        endpoint,
        kind,
        message,
    }
}

fn header_wait(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get("x-ratelimit-towait-sec")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// Rejects bodies that are not XML, naming the content type received.
fn check_content_type(
    endpoint: Endpoint,
    status: u16,
    headers: &HeaderMap,
) -> Result<(), Option<QualysError>> {
    let Some(value) = headers.get(CONTENT_TYPE) else {
        // NOTE: a missing content type is read as XML; Qualys always sends one.
        return Ok(());
    };
    let content_type = String::from_utf8_lossy(value.as_bytes()).into_owned();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if essence.ends_with("/xml") || essence.ends_with("+xml") {
        return Ok(());
    }
    if status >= 400 {
        return Err(Some(QualysError::Http { endpoint, status }));
    }
    Err(Some(QualysError::ContentType {
        endpoint,
        status,
        content_type,
    }))
}

/// Describes a failed body read with its causes. reqwest reports a connection
/// cut in the middle of a body only as "error decoding response body", which
/// reads like a data problem.
fn body_read_error(error: reqwest::Error) -> io::Error {
    let mut causes = Vec::new();
    let mut undecodable = false;
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        if let Some(io_error) = cause.downcast_ref::<io::Error>() {
            undecodable |= io_error.kind() == io::ErrorKind::InvalidData;
        }
        causes.push(cause.to_string());
        source = cause.source();
    }
    let summary = if undecodable {
        "the response body could not be decompressed"
    } else {
        "the connection was cut before the response body ended"
    };
    let mut message = format!("{summary} ({error}");
    for cause in causes {
        message.push_str(": ");
        message.push_str(&cause);
    }
    message.push(')');
    io::Error::new(io::ErrorKind::ConnectionAborted, message)
}

/// Wraps the response body as an `AsyncBufRead`; each chunk must arrive within `timeout`.
fn body_reader(response: reqwest::Response, timeout: Option<Duration>) -> BodyReader {
    let chunks = response.bytes_stream().map_err(body_read_error);
    let Some(timeout) = timeout else {
        let boxed: BodyStream = Box::pin(chunks);
        return StreamReader::new(boxed);
    };
    let timed = futures_util::stream::unfold(Box::pin(chunks), move |mut chunks| async move {
        match tokio::time::timeout(timeout, chunks.next()).await {
            Ok(Some(item)) => Some((item, chunks)),
            Ok(None) => None,
            Err(_) => Some((
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no body data within {}s", timeout.as_secs()),
                )),
                chunks,
            )),
        }
    });
    let boxed: BodyStream = Box::pin(timed);
    StreamReader::new(boxed)
}

/// Maximum pages of one `WARNING/URL` chain. At the VM list APIs' default
/// of 1 000 records per page, 10 million hosts need a tenth of this.
const MAX_CHAIN_PAGES: usize = 100_000;

/// Returns the reason a `WARNING/URL` chain must stop before fetching
/// `next_url`: a page named twice, too many pages, or an `id_min` that does
/// not move past the current page's.
fn runaway_reason(current: &str, next_url: &str, pages: usize, repeated: bool) -> Option<String> {
    if repeated {
        return Some("it named the same next page twice".to_owned());
    }
    if pages > MAX_CHAIN_PAGES {
        return Some(format!("more than {MAX_CHAIN_PAGES} pages"));
    }
    match (id_min(current), id_min(next_url)) {
        (Some(now), Some(next)) if next <= now => Some(format!(
            "the next page starts at id_min={next}, not after the current id_min={now}"
        )),
        _ => None,
    }
}

/// Returns the `id_min` parameter of a URL query or form body, if any.
fn id_min(text: &str) -> Option<u64> {
    text.split(['?', '&'])
        .find_map(|pair| pair.strip_prefix("id_min="))
        .and_then(|value| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runaway_reason_page_limit() {
        let next = "https://q.example/api/2.0/fo/asset/host/?action=list&id_min=9";
        assert_eq!(
            runaway_reason("x?action=list&id_min=8", next, MAX_CHAIN_PAGES, false),
            None
        );
        let reason = runaway_reason("x?action=list&id_min=8", next, MAX_CHAIN_PAGES + 1, false);
        assert_eq!(reason.as_deref(), Some("more than 100000 pages"));
    }

    #[test]
    fn runaway_reason_id_min() {
        let next = "https://q.example/api/2.0/fo/asset/host/?action=list&id_min=9";
        // A form request keeps id_min in its body.
        assert!(
            runaway_reason("https://q.example/&action=list&id_min=9", next, 2, false).is_some()
        );
        assert!(
            runaway_reason("https://q.example/&action=list&id_min=10", next, 2, false).is_some()
        );
        assert_eq!(
            runaway_reason("https://q.example/&action=list&id_min=8", next, 2, false),
            None
        );
        // Without id_min on either side only the page limit applies.
        assert_eq!(
            runaway_reason("https://q.example/&action=list", next, 2, false),
            None
        );
        assert_eq!(id_min("a?b=1&id_min=77&c=2"), Some(77));
        assert_eq!(id_min("a?truncated_id_min=5"), None);
    }
}
