//! Request parameters: API 2.0 form and query parameters, and QPS `ServiceRequest` bodies.

use crate::model::DetectionStatus;
use crate::time::parse_timestamp;

/// A rejected API 2.0 parameter, answered with HTTP 400 and a `SIMPLE_RETURN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ParamError {
    /// Code 1903.
    Missing(&'static str),
    /// Code 1905.
    Invalid {
        name: &'static str,
        value: String,
        detail: &'static str,
    },
}

impl ParamError {
    pub(crate) fn code(&self) -> u32 {
        match self {
            ParamError::Missing(_) => 1903,
            ParamError::Invalid { .. } => 1905,
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            ParamError::Missing(name) => format!("Missing required parameter(s): {name}"),
            ParamError::Invalid {
                name,
                value,
                detail,
            } => {
                format!("parameter {name} has invalid value: {value} ({detail})")
            }
        }
    }
}

/// API 2.0 parameters from the query string and a form body, in request order.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub(crate) fn parse(query: Option<&str>, form_body: &[u8]) -> Self {
        let mut pairs = Vec::new();
        for source in [query.unwrap_or_default().as_bytes(), form_body] {
            for pair in source.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
                let (name, value) = match pair.iter().position(|b| *b == b'=') {
                    Some(at) => (&pair[..at], &pair[at + 1..]),
                    None => (pair, &[][..]),
                };
                pairs.push((percent_decode(name), percent_decode(value)));
            }
        }
        Self { pairs }
    }

    /// The last value of a parameter, as Qualys keeps the last of repeated parameters.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The parameters as a query string with `name` set to `value`, for the next-page URL.
    pub(crate) fn query_with(&self, name: &str, value: &str) -> String {
        let mut parts: Vec<String> = self
            .pairs
            .iter()
            .filter(|(n, _)| n != name)
            .map(|(n, v)| format!("{}={}", percent_encode(n), percent_encode(v)))
            .collect();
        parts.push(format!(
            "{}={}",
            percent_encode(name),
            percent_encode(value)
        ));
        parts.join("&")
    }

    pub(crate) fn require_action_list(&self) -> Result<(), ParamError> {
        match self.get("action") {
            None | Some("") => Err(ParamError::Missing("action")),
            Some("list") => Ok(()),
            Some(other) => Err(invalid("action", other, "only list is supported")),
        }
    }

    pub(crate) fn u64(&self, name: &'static str) -> Result<Option<u64>, ParamError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                v.parse()
                    .map_err(|_| invalid(name, v, "not a non-negative integer"))
            })
            .transpose()
    }

    pub(crate) fn flag(&self, name: &'static str) -> Result<bool, ParamError> {
        match self.get(name) {
            None | Some("") | Some("0") => Ok(false),
            Some("1") => Ok(true),
            Some(other) => Err(invalid(name, other, "expected 0 or 1")),
        }
    }

    pub(crate) fn date(&self, name: &'static str) -> Result<Option<i64>, ParamError> {
        self.get(name)
            .filter(|v| !v.is_empty())
            .map(|v| {
                parse_timestamp(v)
                    .ok_or_else(|| invalid(name, v, "expected YYYY-MM-DD[THH:MM:SSZ]"))
            })
            .transpose()
    }

    /// Comma-separated ids and `a-b` ranges, such as `ids` and `qids`.
    pub(crate) fn ids(&self, name: &'static str) -> Result<Option<Vec<(u64, u64)>>, ParamError> {
        let Some(value) = self.get(name).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let ranges = value
            .split(',')
            .map(|item| {
                parse_id_or_range(item.trim())
                    .ok_or_else(|| invalid(name, value, "neither a positive integer nor a range"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(ranges))
    }

    /// `severities`, such as `3,4,5` or `1-5`, as a bit mask over severities 1 to 5.
    pub(crate) fn severities(&self) -> Result<Option<u8>, ParamError> {
        let Some(ranges) = self.ids("severities")? else {
            return Ok(None);
        };
        let mut mask = 0u8;
        for (lo, hi) in ranges {
            if lo < 1 || hi > 5 {
                return Err(invalid(
                    "severities",
                    self.get("severities").unwrap_or_default(),
                    "severities are 1 to 5",
                ));
            }
            for severity in lo..=hi {
                mask |= 1 << severity;
            }
        }
        Ok(Some(mask))
    }

    /// `status`, such as `New,Active,Fixed,Re-Opened`.
    pub(crate) fn statuses(&self) -> Result<Option<[bool; 4]>, ParamError> {
        let Some(value) = self.get("status").filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let mut statuses = [false; 4];
        for item in value.split(',') {
            let status = DetectionStatus::parse(item.trim()).ok_or_else(|| {
                invalid("status", value, "expected New, Active, Fixed or Re-Opened")
            })?;
            statuses[DetectionStatus::ALL
                .iter()
                .position(|s| *s == status)
                .unwrap_or_default()] = true;
        }
        Ok(Some(statuses))
    }
}

fn invalid(name: &'static str, value: &str, detail: &'static str) -> ParamError {
    ParamError::Invalid {
        name,
        value: value.to_owned(),
        detail,
    }
}

fn parse_id_or_range(item: &str) -> Option<(u64, u64)> {
    let parse = |text: &str| -> Option<u64> {
        (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
            .then(|| text.parse().ok())
            .flatten()
    };
    match item.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            (lo <= hi).then_some((lo, hi))
        }
        None => parse(item).map(|id| (id, id)),
    }
}

fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// One `Criteria` element of a QPS search.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Criterion {
    pub field: String,
    pub operator: String,
    pub value: String,
}

/// The parts of a QPS `ServiceRequest` the simulator honours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServiceRequest {
    pub limit_results: Option<u64>,
    pub start_from_offset: Option<u64>,
    pub criteria: Vec<Criterion>,
}

/// Reads a `ServiceRequest` body; an empty body is a request without preferences or filters.
pub(crate) fn parse_service_request(body: &[u8]) -> Result<ServiceRequest, String> {
    let text = std::str::from_utf8(body).map_err(|_| "request body is not UTF-8".to_owned())?;
    if text.trim().is_empty() {
        return Ok(ServiceRequest::default());
    }
    if !text.contains("<ServiceRequest") {
        return Err("request body is not a ServiceRequest".to_owned());
    }
    let number = |name: &str| -> Result<Option<u64>, String> {
        element_text(text, name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| format!("invalid value for {name}: {}", v.trim()))
            })
            .transpose()
    };
    let mut request = ServiceRequest {
        limit_results: number("limitResults")?,
        start_from_offset: number("startFromOffset")?,
        criteria: Vec::new(),
    };
    let mut rest = text;
    while let Some(at) = rest.find("<Criteria") {
        rest = &rest[at + "<Criteria".len()..];
        let tag_end = rest.find('>').ok_or("unterminated Criteria element")?;
        let attributes = &rest[..tag_end];
        let close = rest[tag_end..]
            .find("</Criteria>")
            .map(|at| tag_end + at)
            .ok_or("unterminated Criteria element")?;
        let value = unescape(rest[tag_end + 1..close].trim());
        let field = attribute(attributes, "field").ok_or("Criteria without field")?;
        let operator = attribute(attributes, "operator").unwrap_or_else(|| "EQUALS".to_owned());
        request.criteria.push(Criterion {
            field,
            operator,
            value,
        });
        rest = &rest[close..];
    }
    Ok(request)
}

fn element_text<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let open = format!("<{name}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{name}>"))? + start;
    Some(&text[start..end])
}

fn attribute(attributes: &str, name: &str) -> Option<String> {
    let key = format!("{name}=");
    let at = attributes.find(&key)? + key.len();
    let quote = attributes[at..]
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'')?;
    let rest = &attributes[at + 1..];
    let end = rest.find(quote)?;
    Some(unescape(&rest[..end]))
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_merge_query_and_form() {
        let params = Params::parse(
            Some("action=list&ids=1%2C2"),
            b"truncation_limit=5&ids=3-4&x=a+b",
        );
        assert_eq!(params.get("action"), Some("list"));
        assert_eq!(params.get("ids"), Some("3-4"));
        assert_eq!(params.get("x"), Some("a b"));
        assert_eq!(params.ids("ids").unwrap(), Some(vec![(3, 4)]));
        assert!(params.query_with("id_min", "9").ends_with("&id_min=9"));
    }

    #[test]
    fn ids_reject_words() {
        let params = Params::parse(Some("ids=abc123"), b"");
        let error = params.ids("ids").unwrap_err();
        assert_eq!(error.code(), 1905);
        assert!(error.text().contains("abc123"), "{}", error.text());
    }

    #[test]
    fn severities_and_statuses_parse() {
        let params = Params::parse(Some("severities=1-2,5&status=Fixed,Re-Opened"), b"");
        assert_eq!(params.severities().unwrap(), Some(0b10_0110));
        assert_eq!(params.statuses().unwrap(), Some([false, false, true, true]));
        assert!(
            Params::parse(Some("severities=0-9"), b"")
                .severities()
                .is_err()
        );
    }

    #[test]
    fn service_request_reads_criteria() {
        let body = br#"<ServiceRequest><preferences><limitResults>250</limitResults><startFromOffset>3</startFromOffset></preferences>
          <filters><Criteria field="qwebHostId" operator="IN">1,2</Criteria><Criteria field='id' operator="GREATER"> 7 </Criteria></filters></ServiceRequest>"#;
        let request = parse_service_request(body).unwrap();
        assert_eq!(request.limit_results, Some(250));
        assert_eq!(request.start_from_offset, Some(3));
        assert_eq!(request.criteria.len(), 2);
        assert_eq!(request.criteria[1].value, "7");
        assert_eq!(request.criteria[1].operator, "GREATER");
        assert!(
            parse_service_request(b"<ServiceRequest><preferences><limitResults>x</limitResults>")
                .is_err()
        );
    }

    #[test]
    fn service_request_rejects_garbage_without_panic() {
        let bodies: [&[u8]; 6] = [
            b"<ServiceRequest><Criteria</Criteria> field=\"id\">",
            b"<ServiceRequest><Criteria field=\xc3\xa9id\xc3\xa9>1</Criteria>",
            "<ServiceRequest><Criteria field=\u{e9}id\u{e9}>1</Criteria>".as_bytes(),
            b"<ServiceRequest><Criteria field=\"id\" operator=\"IN\">1",
            b"\xff\xfe",
            b"plain text",
        ];
        for body in bodies {
            assert!(
                parse_service_request(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
