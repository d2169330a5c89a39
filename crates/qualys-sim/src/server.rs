//! The HTTP side: routes, authentication, limits, faults and response assembly.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::watch;

use crate::config::{Credentials, Limits};
use crate::fault::{Endpoint, FaultKind, FaultRule, FaultTable};
use crate::limits::{LimitHeaders, Limiter, Rejection};
use crate::params::{ParamError, Params, parse_service_request};
use crate::render::qps::QpsError;
use crate::render::{self, Ctx, service_error, simple_return};
use crate::source::Source;
use crate::stream::{Producer, stream_body};

const V2_CONTENT_TYPE: &str = "text/xml;charset=UTF-8";
const QPS_CONTENT_TYPE: &str = "application/xml";
/// Schema path Qualys names in QPS authentication errors, whatever the endpoint.
const AUTH_ERROR_XSD: &str = "/qps/xsd/2.0/am/hostasset.xsd";

/// State shared by every request.
pub(crate) struct AppState {
    pub source: Source,
    pub credentials: Credentials,
    pub faults: FaultTable,
    pub limiter: Limiter,
    pub base_url: Arc<str>,
    pub shutdown: watch::Receiver<bool>,
    pub requests: [AtomicU64; Endpoint::ALL.len()],
}

impl AppState {
    pub(crate) fn inject(&self, rule: FaultRule) {
        self.faults.push(rule);
    }

    pub(crate) fn clear_faults(&self) {
        self.faults.clear();
    }

    pub(crate) fn set_limits(&self, limits: Limits) {
        self.limiter.set_limits(limits);
    }

    pub(crate) fn request_count(&self, endpoint: Endpoint) -> u64 {
        self.requests[endpoint_slot(endpoint)].load(Ordering::Relaxed)
    }
}

fn endpoint_slot(endpoint: Endpoint) -> usize {
    Endpoint::ALL
        .iter()
        .position(|e| *e == endpoint)
        .unwrap_or_default()
}

/// The parts of a request the simulator reads.
struct Incoming {
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
}

macro_rules! endpoint_handler {
    ($name:ident, $endpoint:expr) => {
        async fn $name(
            axum::extract::State(state): axum::extract::State<Arc<AppState>>,
            headers: HeaderMap,
            uri: Uri,
            body: Bytes,
        ) -> Response {
            dispatch(&state, $endpoint, Incoming { headers, uri, body }).await
        }
    };
}

endpoint_handler!(portal_version, Endpoint::PortalVersion);
endpoint_handler!(host_list, Endpoint::HostList);
endpoint_handler!(host_asset, Endpoint::HostAsset);
endpoint_handler!(host_detection, Endpoint::HostDetection);
endpoint_handler!(knowledge_base, Endpoint::KnowledgeBase);
endpoint_handler!(web_app, Endpoint::WebApp);
endpoint_handler!(web_app_finding, Endpoint::WebAppFinding);

/// Builds the router; paths are accepted with and without their trailing slash.
pub(crate) fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/qps/rest/portal/version",
            get(portal_version).post(portal_version),
        )
        .route(
            "/qps/rest/portal/version/",
            get(portal_version).post(portal_version),
        )
        .route("/api/2.0/fo/asset/host/", get(host_list).post(host_list))
        .route("/api/2.0/fo/asset/host", get(host_list).post(host_list))
        .route("/qps/rest/2.0/search/am/hostasset", post(host_asset))
        .route("/qps/rest/2.0/search/am/hostasset/", post(host_asset))
        .route(
            "/api/2.0/fo/asset/host/vm/detection/",
            get(host_detection).post(host_detection),
        )
        .route(
            "/api/2.0/fo/asset/host/vm/detection",
            get(host_detection).post(host_detection),
        )
        .route(
            "/api/2.0/fo/knowledge_base/vuln/",
            get(knowledge_base).post(knowledge_base),
        )
        .route(
            "/api/2.0/fo/knowledge_base/vuln",
            get(knowledge_base).post(knowledge_base),
        )
        .route("/qps/rest/3.0/search/was/webapp", post(web_app))
        .route("/qps/rest/3.0/search/was/webapp/", post(web_app))
        .route("/qps/rest/3.0/search/was/finding/", post(web_app_finding))
        .route("/qps/rest/3.0/search/was/finding", post(web_app_finding))
        .with_state(state)
}

async fn dispatch(state: &AppState, endpoint: Endpoint, request: Incoming) -> Response {
    state.requests[endpoint_slot(endpoint)].fetch_add(1, Ordering::Relaxed);
    let ctx = Ctx {
        base_url: Arc::clone(&state.base_url),
        now_secs: state.source.now_secs(),
    };
    if let Some(rejected) = check_auth(state, endpoint, &request.headers, &ctx) {
        return rejected;
    }

    let fault = state.faults.take(endpoint);
    if let Some(kind) = fault.filter(|kind| !kind.is_body_fault()) {
        tracing::debug!(endpoint = endpoint.name(), fault = ?kind, "injecting fault");
        return fault_response(state, endpoint, kind, &ctx);
    }

    let (permit, limit_headers) = if endpoint.is_api_v2() {
        let (outcome, headers) = state.limiter.admit();
        match outcome {
            Ok(permit) => (Some(permit), Some(headers)),
            Err(rejection) => return rejection_response(rejection, headers, &ctx),
        }
    } else {
        (None, None)
    };

    let producer = match build_producer(state, endpoint, &request, &ctx) {
        Ok(producer) => producer,
        Err(response) => return with_limit_headers(*response, limit_headers),
    };
    let body = stream_body(producer, fault, permit, state.shutdown.clone());
    let content_type = if endpoint.is_api_v2() {
        V2_CONTENT_TYPE
    } else {
        QPS_CONTENT_TYPE
    };
    with_limit_headers(
        xml_response(StatusCode::OK, content_type, body),
        limit_headers,
    )
}

fn build_producer(
    state: &AppState,
    endpoint: Endpoint,
    request: &Incoming,
    ctx: &Ctx,
) -> Result<Producer, Box<Response>> {
    if endpoint.is_api_v2() {
        let params = Params::parse(request.uri.query(), &request.body);
        return state
            .source
            .api_v2(endpoint, ctx.clone(), params)
            .map_err(|error| Box::new(param_error_response(&error, ctx)));
    }
    if endpoint == Endpoint::PortalVersion {
        return Ok(state.source.portal_version(ctx.clone()));
    }
    let xsd = qps_xsd(endpoint);
    let service_request = parse_service_request(&request.body).map_err(|message| {
        let body = service_error(
            &ctx.base_url,
            xsd,
            "INVALID_REQUEST",
            &message,
            "Send a valid ServiceRequest XML body.",
        );
        Box::new(fixed(StatusCode::OK, QPS_CONTENT_TYPE, body))
    })?;
    state
        .source
        .qps(endpoint, ctx.clone(), service_request)
        .map_err(|error| Box::new(qps_error_response(&error, xsd, ctx)))
}

fn qps_xsd(endpoint: Endpoint) -> &'static str {
    match endpoint {
        Endpoint::WebApp => render::was::WEB_APP_XSD,
        Endpoint::WebAppFinding => render::was::FINDING_XSD,
        _ => render::assets::XSD,
    }
}

/// Checks Basic authentication, and `X-Requested-With` on API 2.0 calls.
fn check_auth(
    state: &AppState,
    endpoint: Endpoint,
    headers: &HeaderMap,
    ctx: &Ctx,
) -> Option<Response> {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(decode_basic)
        .is_some_and(|(user, password)| {
            user == state.credentials.username && password == state.credentials.password
        });
    if !authorized {
        return Some(bad_credentials(endpoint, ctx));
    }
    if endpoint.is_api_v2() && !headers.contains_key("x-requested-with") {
        // NOTE: no recording shows Qualys' response to a missing X-Requested-With, so this uses
        // the documented missing-parameter code 1903.
        let body = simple_return(
            &ctx.base_url,
            ctx.now_secs,
            1903,
            "Missing required parameter(s): X-Requested-With header",
            &[],
        );
        return Some(fixed(StatusCode::BAD_REQUEST, V2_CONTENT_TYPE, body));
    }
    None
}

/// Builds the bad-credentials response: API 2.0 returns 401 with code 2000, QPS returns HTTP
/// 200 with `INVALID_CREDENTIALS`.
fn bad_credentials(endpoint: Endpoint, ctx: &Ctx) -> Response {
    if endpoint.is_api_v2() {
        let body = simple_return(&ctx.base_url, ctx.now_secs, 2000, "Bad Login/Password", &[]);
        fixed(StatusCode::UNAUTHORIZED, V2_CONTENT_TYPE, body)
    } else {
        let body = service_error(
            &ctx.base_url,
            AUTH_ERROR_XSD,
            "INVALID_CREDENTIALS",
            "Authentication failed",
            "Verify both, user and password credentials.",
        );
        fixed(StatusCode::OK, QPS_CONTENT_TYPE, body)
    }
}

fn decode_basic(value: &str) -> Option<(String, String)> {
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = crate::base64::decode(encoded.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn fault_response(state: &AppState, endpoint: Endpoint, kind: FaultKind, ctx: &Ctx) -> Response {
    match kind {
        FaultKind::ConcurrencyLimit { calls_to_finish } => {
            let mut headers = state.limiter.peek();
            headers.running = headers.concurrency_limit + calls_to_finish - 1;
            rejection_response(Rejection::Concurrency { calls_to_finish }, headers, ctx)
        }
        FaultKind::RateLimit { seconds_to_wait } => {
            let mut headers = state.limiter.peek();
            headers.remaining = 0;
            headers.to_wait_secs = seconds_to_wait;
            rejection_response(Rejection::Rate { seconds_to_wait }, headers, ctx)
        }
        FaultKind::ServerError { status } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let body = format!("<html><body><h1>{status}</h1></body></html>\n");
            fixed(status, "text/html", body.into_bytes())
        }
        FaultKind::AccountExpired => {
            let body = simple_return(
                &ctx.base_url,
                ctx.now_secs,
                2001,
                "This account has expired.",
                &[],
            );
            fixed(StatusCode::OK, V2_CONTENT_TYPE, body)
        }
        FaultKind::InvalidCredentials => {
            let body = service_error(
                &ctx.base_url,
                AUTH_ERROR_XSD,
                "INVALID_CREDENTIALS",
                "Authentication failed",
                "Verify both, user and password credentials.",
            );
            fixed(StatusCode::OK, QPS_CONTENT_TYPE, body)
        }
        FaultKind::BadLogin => bad_credentials(Endpoint::HostList, ctx),
        // Body faults never reach here. Respond as for bad credentials rather than panic.
        _ => bad_credentials(endpoint, ctx),
    }
}

/// Builds a 409 `SIMPLE_RETURN` with code 1960 or 1965 and the limit headers.
fn rejection_response(rejection: Rejection, headers: LimitHeaders, ctx: &Ctx) -> Response {
    let body = match rejection {
        Rejection::Concurrency { calls_to_finish } => simple_return(
            &ctx.base_url,
            ctx.now_secs,
            1960,
            &format!(
                "This API cannot be run again until {calls_to_finish} currently running API instance has finished."
            ),
            &[("CALLS_TO_FINISH", calls_to_finish.to_string())],
        ),
        Rejection::Rate { seconds_to_wait } => simple_return(
            &ctx.base_url,
            ctx.now_secs,
            1965,
            &format!("This API cannot be run again for another {seconds_to_wait} seconds."),
            &[("SECONDS_TO_WAIT", seconds_to_wait.to_string())],
        ),
    };
    with_limit_headers(
        fixed(StatusCode::CONFLICT, V2_CONTENT_TYPE, body),
        Some(headers),
    )
}

fn param_error_response(error: &ParamError, ctx: &Ctx) -> Response {
    let body = simple_return(
        &ctx.base_url,
        ctx.now_secs,
        error.code(),
        &error.text(),
        &[],
    );
    fixed(StatusCode::BAD_REQUEST, V2_CONTENT_TYPE, body)
}

fn qps_error_response(error: &QpsError, xsd: &str, ctx: &Ctx) -> Response {
    let body = service_error(
        &ctx.base_url,
        xsd,
        "INVALID_REQUEST",
        &error.message,
        &error.resolution,
    );
    fixed(StatusCode::OK, QPS_CONTENT_TYPE, body)
}

fn fixed(status: StatusCode, content_type: &'static str, body: Vec<u8>) -> Response {
    xml_response(status, content_type, Body::from(body))
}

fn xml_response(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn with_limit_headers(mut response: Response, headers: Option<LimitHeaders>) -> Response {
    let Some(values) = headers else {
        return response;
    };
    let map = response.headers_mut();
    let pairs = [
        ("x-ratelimit-limit", u64::from(values.limit)),
        ("x-ratelimit-window-sec", values.window_secs),
        ("x-ratelimit-remaining", u64::from(values.remaining)),
        ("x-ratelimit-towait-sec", values.to_wait_secs),
        (
            "x-concurrency-limit-limit",
            u64::from(values.concurrency_limit),
        ),
        ("x-concurrency-limit-running", u64::from(values.running)),
    ];
    for (name, value) in pairs {
        map.insert(name, HeaderValue::from(value));
    }
    response
}
