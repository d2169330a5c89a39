//! XML writing: element helpers, the Qualys envelopes and the error bodies.

pub(crate) mod assets;
pub(crate) mod detections;
pub(crate) mod hosts;
pub(crate) mod kb;
pub(crate) mod qps;
pub(crate) mod was;

use std::sync::Arc;

use crate::time::push_timestamp;

/// Per-request values every body needs.
#[derive(Debug, Clone)]
pub(crate) struct Ctx {
    /// `http://127.0.0.1:PORT`, used in DOCTYPEs and next-page URLs.
    pub base_url: Arc<str>,
    /// The simulated current time.
    pub now_secs: i64,
}

/// Comment Qualys writes around evaluation-subscription reports.
const EVALUATION_COMMENT: &str =
    "<!-- This report was generated with an evaluation version of Qualys //--> \n";
/// Comment Qualys writes after every API 2.0 report.
const CONFIDENTIAL_COMMENT: &str = "<!-- CONFIDENTIAL AND PROPRIETARY INFORMATION. Qualys provides the QualysGuard Service \"As Is,\" without any warranty of any kind. Qualys makes no warranty that the information contained in this report is complete or error-free. Copyright 2026, Qualys, Inc. //--> \n";

pub(crate) fn push(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(text.as_bytes());
}

pub(crate) fn push_u64(out: &mut Vec<u8>, value: u64) {
    let mut buf = [0u8; 20];
    let mut position = buf.len();
    let mut v = value;
    loop {
        position -= 1;
        buf[position] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[position..]);
}

/// Appends text with the five XML special characters escaped.
pub(crate) fn push_escaped(out: &mut Vec<u8>, text: &str) {
    for byte in text.bytes() {
        match byte {
            b'<' => push(out, "&lt;"),
            b'>' => push(out, "&gt;"),
            b'&' => push(out, "&amp;"),
            b'"' => push(out, "&quot;"),
            b'\'' => push(out, "&apos;"),
            _ => out.push(byte),
        }
    }
}

/// Appends `<![CDATA[text]]>`, splitting any `]]>` inside the text across two sections.
pub(crate) fn push_cdata(out: &mut Vec<u8>, text: &str) {
    push(out, "<![CDATA[");
    push(out, &text.replace("]]>", "]]]]><![CDATA[>"));
    push(out, "]]>");
}

fn open(out: &mut Vec<u8>, indent: usize, name: &str) {
    out.push(b'\n');
    out.extend(std::iter::repeat_n(b' ', indent));
    out.push(b'<');
    push(out, name);
    out.push(b'>');
}

fn close(out: &mut Vec<u8>, name: &str) {
    push(out, "</");
    push(out, name);
    out.push(b'>');
}

/// Appends a start tag on a new line.
pub(crate) fn start(out: &mut Vec<u8>, indent: usize, name: &str) {
    open(out, indent, name);
}

/// Appends an end tag on a new line.
pub(crate) fn end(out: &mut Vec<u8>, indent: usize, name: &str) {
    out.push(b'\n');
    out.extend(std::iter::repeat_n(b' ', indent));
    close(out, name);
}

pub(crate) fn elem_u64(out: &mut Vec<u8>, indent: usize, name: &str, value: u64) {
    open(out, indent, name);
    push_u64(out, value);
    close(out, name);
}

pub(crate) fn elem_text(out: &mut Vec<u8>, indent: usize, name: &str, text: &str) {
    open(out, indent, name);
    push_escaped(out, text);
    close(out, name);
}

pub(crate) fn elem_cdata(out: &mut Vec<u8>, indent: usize, name: &str, text: &str) {
    open(out, indent, name);
    push_cdata(out, text);
    close(out, name);
}

pub(crate) fn elem_time(out: &mut Vec<u8>, indent: usize, name: &str, secs: i64) {
    open(out, indent, name);
    push_timestamp(out, secs);
    close(out, name);
}

pub(crate) fn elem_bool(out: &mut Vec<u8>, indent: usize, name: &str, value: bool) {
    elem_text(out, indent, name, if value { "true" } else { "false" });
}

/// Appends a score given in tenths, such as `7.5`.
pub(crate) fn elem_tenths(out: &mut Vec<u8>, indent: usize, name: &str, tenths: u64) {
    open(out, indent, name);
    push_u64(out, tenths / 10);
    out.push(b'.');
    push_u64(out, tenths % 10);
    close(out, name);
}

/// Opens an API 2.0 report: declaration, DOCTYPE, evaluation comment, root, `RESPONSE` and
/// `DATETIME`.
pub(crate) fn open_v2_report(
    out: &mut Vec<u8>,
    base_url: &str,
    root: &str,
    dtd_path: &str,
    now_secs: i64,
) {
    push(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE ",
    );
    push(out, root);
    push(out, " SYSTEM \"");
    push(out, base_url);
    push(out, dtd_path);
    push(out, "\">\n");
    push(out, EVALUATION_COMMENT);
    out.push(b'<');
    push(out, root);
    out.push(b'>');
    start(out, 2, "RESPONSE");
    elem_time(out, 4, "DATETIME", now_secs);
}

/// Appends the truncation `WARNING` with code 1980 and the next page's URL in CDATA.
pub(crate) fn warning_1980(out: &mut Vec<u8>, limit: u64, next_url: &str) {
    start(out, 4, "WARNING");
    elem_u64(out, 6, "CODE", 1980);
    open(out, 6, "TEXT");
    push_u64(out, limit);
    push(
        out,
        " record limit exceeded. Use URL to get next batch of results.",
    );
    close(out, "TEXT");
    elem_cdata(out, 6, "URL", next_url);
    end(out, 4, "WARNING");
}

/// Closes `RESPONSE` and the root, then writes the trailing comments.
pub(crate) fn close_v2_report(out: &mut Vec<u8>, root: &str, keep_alive: bool) {
    end(out, 2, "RESPONSE");
    end(out, 0, root);
    out.push(b'\n');
    push(out, EVALUATION_COMMENT);
    push(out, CONFIDENTIAL_COMMENT);
    if keep_alive {
        push(out, "<!-- keep-alive for ");
        push(out, root);
        push(out, "  -->\n");
    }
}

/// Opens a QPS `ServiceResponse` with `responseCode` SUCCESS.
pub(crate) fn open_service_response(out: &mut Vec<u8>, base_url: &str, xsd_path: &str) {
    push(
        out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServiceResponse xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:noNamespaceSchemaLocation=\"",
    );
    push(out, base_url);
    push(out, xsd_path);
    push(out, "\">");
    elem_text(out, 2, "responseCode", "SUCCESS");
}

/// The paging elements of a QPS search page, before `data`.
pub(crate) struct QpsPage {
    pub count: u64,
    pub has_more: bool,
    pub last_id: Option<u64>,
    /// Writes an empty page as `hasMoreRecords=false` and an empty `<data/>`, as the WAS web
    /// app search without an id criterion does, instead of leaving both out.
    pub empty_data: bool,
}

/// Writes `count`, `hasMoreRecords` and `lastId` as Qualys does: an empty page has neither
/// `hasMoreRecords` nor `data`, unless `empty_data` asks for the other recorded shape.
pub(crate) fn qps_page_header(out: &mut Vec<u8>, page: &QpsPage) {
    elem_u64(out, 2, "count", page.count);
    if page.count == 0 && page.empty_data {
        elem_bool(out, 2, "hasMoreRecords", false);
        push(out, "\n  <data/>");
    }
    if page.count > 0 {
        elem_bool(out, 2, "hasMoreRecords", page.has_more);
        if let (true, Some(id)) = (page.has_more, page.last_id) {
            elem_u64(out, 2, "lastId", id);
        }
        start(out, 2, "data");
    }
}

pub(crate) fn qps_page_footer(out: &mut Vec<u8>, page: &QpsPage) {
    if page.count > 0 {
        end(out, 2, "data");
    }
    end(out, 0, "ServiceResponse");
}

/// A `SIMPLE_RETURN` body; `items` become `ITEM_LIST/ITEM{KEY,VALUE}`.
pub(crate) fn simple_return(
    base_url: &str,
    now_secs: i64,
    code: u32,
    text: &str,
    items: &[(&str, String)],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    push(
        &mut out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<!DOCTYPE SIMPLE_RETURN SYSTEM \"",
    );
    push(&mut out, base_url);
    push(&mut out, "/api/2.0/simple_return.dtd\">\n<SIMPLE_RETURN>");
    start(&mut out, 2, "RESPONSE");
    elem_time(&mut out, 4, "DATETIME", now_secs);
    elem_u64(&mut out, 4, "CODE", u64::from(code));
    elem_text(&mut out, 4, "TEXT", text);
    if !items.is_empty() {
        start(&mut out, 4, "ITEM_LIST");
        for (key, value) in items {
            start(&mut out, 6, "ITEM");
            elem_text(&mut out, 8, "KEY", key);
            elem_text(&mut out, 8, "VALUE", value);
            end(&mut out, 6, "ITEM");
        }
        end(&mut out, 4, "ITEM_LIST");
    }
    end(&mut out, 2, "RESPONSE");
    end(&mut out, 0, "SIMPLE_RETURN");
    out.push(b'\n');
    out
}

/// A QPS error `ServiceResponse`, such as `INVALID_REQUEST` or `INVALID_CREDENTIALS`.
pub(crate) fn service_error(
    base_url: &str,
    xsd_path: &str,
    code: &str,
    message: &str,
    resolution: &str,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    push(
        &mut out,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ServiceResponse xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:noNamespaceSchemaLocation=\"",
    );
    push(&mut out, base_url);
    push(&mut out, xsd_path);
    push(&mut out, "\">");
    elem_text(&mut out, 2, "responseCode", code);
    start(&mut out, 2, "responseErrorDetails");
    elem_text(&mut out, 4, "errorMessage", message);
    elem_text(&mut out, 4, "errorResolution", resolution);
    end(&mut out, 2, "responseErrorDetails");
    end(&mut out, 0, "ServiceResponse");
    out
}

/// The portal version body, with the 2020 element set (`VM-VERSION` and `WAS-VERSION`).
pub(crate) fn portal_version(base_url: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    open_service_response(&mut out, base_url, "/qps/xsd/version.xsd");
    elem_u64(&mut out, 2, "count", 1);
    start(&mut out, 2, "data");
    start(&mut out, 4, "Portal-Version");
    for (name, version) in [
        ("PortalApplication-VERSION", "3.1.2.0-2 SIMULATED"),
        ("WAS-VERSION", "6.13.1.0"),
        ("VM-VERSION", "1.0.3"),
        ("QUESTIONNAIRE__V2-VERSION", "1.10.1.0"),
        ("CA-VERSION", "2.23.0.0"),
    ] {
        elem_text(&mut out, 6, name, version);
    }
    end(&mut out, 4, "Portal-Version");
    start(&mut out, 4, "QWeb-Version");
    elem_text(&mut out, 6, "WEB-VERSION", "10.3.0.2-2");
    elem_text(&mut out, 6, "SCANNER-VERSION", "12.1.67-1");
    elem_text(&mut out, 6, "VULNSIGS-VERSION", "2.4.993-2");
    end(&mut out, 4, "QWeb-Version");
    end(&mut out, 2, "data");
    end(&mut out, 0, "ServiceResponse");
    out
}
