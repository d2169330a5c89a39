//! Helpers shared by the simulator's integration tests.
#![allow(dead_code, reason = "each test binary uses a different subset")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers fail the test on purpose"
)]

use qgraph_qualys_sim::client::{Client, RawResponse};
use qgraph_qualys_sim::{GeneratedConfig, RunningSimulator, SimConfig, Simulator};
use quick_xml::Reader;
use quick_xml::events::Event;

pub const HOST_LIST: &str = "/api/2.0/fo/asset/host/";
pub const DETECTION: &str = "/api/2.0/fo/asset/host/vm/detection/";
pub const KB: &str = "/api/2.0/fo/knowledge_base/vuln/";
pub const PORTAL: &str = "/qps/rest/portal/version";
pub const ASSETS: &str = "/qps/rest/2.0/search/am/hostasset";
pub const WEB_APPS: &str = "/qps/rest/3.0/search/was/webapp";
pub const FINDINGS: &str = "/qps/rest/3.0/search/was/finding/";

pub fn fixtures_dir() -> &'static str {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/fixtures/qualys"
    )
}

pub fn small_config() -> GeneratedConfig {
    GeneratedConfig {
        seed: 7,
        hosts: 120,
        detections_per_host: 6,
        day: 10,
        results_bytes: 64,
        knowledge_base_vulns: 400,
        web_apps: 12,
        findings_per_web_app: 5,
        ..GeneratedConfig::default()
    }
}

pub async fn start(config: GeneratedConfig) -> (RunningSimulator, Client) {
    let sim = Simulator::start(SimConfig::generated(config))
        .await
        .unwrap();
    let client = Client::with_defaults(&sim.base_url());
    (sim, client)
}

/// A parsed XML body: the root name and every text-bearing element by its slash path.
#[derive(Debug, Default)]
pub struct Doc {
    pub root: String,
    pub leaves: Vec<(String, String)>,
    pub comments: usize,
    pub doctype: bool,
}

impl Doc {
    /// Texts of elements whose path ends with `suffix`, such as `ID_SET/ID`.
    pub fn texts(&self, suffix: &str) -> Vec<&str> {
        let slash = format!("/{suffix}");
        self.leaves
            .iter()
            .filter(|(path, _)| path.ends_with(&slash) || path == suffix)
            .map(|(_, text)| text.as_str())
            .collect()
    }

    pub fn numbers(&self, suffix: &str) -> Vec<u64> {
        self.texts(suffix)
            .iter()
            .map(|t| t.parse().unwrap())
            .collect()
    }

    pub fn one(&self, suffix: &str) -> &str {
        let texts = self.texts(suffix);
        assert_eq!(texts.len(), 1, "expected one {suffix}, got {texts:?}");
        texts[0]
    }

    pub fn has(&self, suffix: &str) -> bool {
        let slash = format!("/{suffix}");
        self.leaves
            .iter()
            .any(|(path, _)| path.ends_with(&slash) || path.contains(&format!("{slash}/")))
    }
}

/// Parses a body, failing on any well-formedness error, unclosed element or second root.
pub fn parse(body: &[u8]) -> Result<Doc, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut reader = Reader::from_str(text);
    let mut doc = Doc::default();
    let mut stack: Vec<String> = Vec::new();
    let mut text_buf = String::new();
    let mut roots = 0;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| format!("at {}: {e}", reader.buffer_position()))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                if stack.is_empty() {
                    roots += 1;
                    doc.root = name.clone();
                }
                stack.push(name);
                text_buf.clear();
            }
            Event::Empty(e) => {
                if stack.is_empty() {
                    roots += 1;
                }
                let name = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                doc.leaves
                    .push((format!("{}/{name}", stack.join("/")), String::new()));
            }
            Event::End(_) => {
                let path = stack.join("/");
                stack.pop();
                let trimmed = text_buf.trim();
                if !trimmed.is_empty() {
                    doc.leaves.push((path, trimmed.to_owned()));
                }
                text_buf.clear();
            }
            Event::Text(t) => text_buf.push_str(&t.decode().map_err(|e| e.to_string())?),
            Event::CData(c) => text_buf.push_str(&String::from_utf8_lossy(&c)),
            Event::GeneralRef(r) => {
                let name = String::from_utf8_lossy(&r).into_owned();
                let resolved = match name.as_str() {
                    "lt" => "<",
                    "gt" => ">",
                    "amp" => "&",
                    "quot" => "\"",
                    "apos" => "'",
                    other => return Err(format!("unknown entity {other}")),
                };
                text_buf.push_str(resolved);
            }
            Event::Comment(_) => doc.comments += 1,
            Event::DocType(_) => doc.doctype = true,
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(format!("unclosed elements at end of body: {stack:?}"));
    }
    if roots != 1 {
        return Err(format!("expected one root element, found {roots}"));
    }
    Ok(doc)
}

pub fn parse_ok(response: &RawResponse) -> Doc {
    assert!(
        response.complete,
        "body incomplete: status {}",
        response.status
    );
    parse(&response.body).unwrap_or_else(|e| panic!("malformed XML ({e}):\n{}", response.text()))
}

/// Builds a QPS search body with the given preferences and criteria.
pub fn service_request(
    limit: Option<u64>,
    offset: Option<u64>,
    criteria: &[(&str, &str, &str)],
) -> String {
    let mut xml = String::from("<ServiceRequest><preferences>");
    if let Some(limit) = limit {
        xml.push_str(&format!("<limitResults>{limit}</limitResults>"));
    }
    if let Some(offset) = offset {
        xml.push_str(&format!("<startFromOffset>{offset}</startFromOffset>"));
    }
    xml.push_str("</preferences><filters>");
    for (field, operator, value) in criteria {
        xml.push_str(&format!(
            "<Criteria field=\"{field}\" operator=\"{operator}\">{value}</Criteria>"
        ));
    }
    xml.push_str("</filters></ServiceRequest>");
    xml
}

/// Follows `WARNING/URL` from a first request; returns every page's document.
pub async fn walk_v2(
    client: &Client,
    base_url: &str,
    first_path: &str,
    form: Option<&str>,
) -> Vec<Doc> {
    let mut docs = Vec::new();
    let mut response = match form {
        Some(form) => client.post_form(first_path, form).await.unwrap(),
        None => client.get(first_path).await.unwrap(),
    };
    loop {
        assert_eq!(response.status, 200, "{}", response.text());
        let doc = parse_ok(&response);
        let next = doc.texts("WARNING/URL").first().map(|url| url.to_string());
        if next.is_some() {
            assert_eq!(doc.one("WARNING/CODE"), "1980");
        }
        docs.push(doc);
        let Some(url) = next else { break };
        let path = url
            .strip_prefix(base_url)
            .expect("next-page URL points at the simulator");
        response = client.get(path).await.unwrap();
        assert!(docs.len() < 10_000, "page walk does not end");
    }
    docs
}

/// Walks a QPS search by `startFromOffset`; returns every page's document.
pub async fn walk_qps(
    client: &Client,
    path: &str,
    limit: u64,
    criteria: &[(&str, &str, &str)],
) -> Vec<Doc> {
    let mut docs = Vec::new();
    let mut offset = 1;
    loop {
        let response = client
            .post_xml(path, &service_request(Some(limit), Some(offset), criteria))
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        let doc = parse_ok(&response);
        assert_eq!(doc.one("responseCode"), "SUCCESS");
        let count: u64 = doc.one("ServiceResponse/count").parse().unwrap();
        let more = doc.texts("hasMoreRecords").first() == Some(&"true");
        docs.push(doc);
        if !more {
            break;
        }
        offset += count;
        assert!(docs.len() < 10_000, "page walk does not end");
    }
    docs
}
