//! Streaming page reader: walks a Qualys XML body event by event, collects
//! page metadata outside the records, and hands the events of each record to
//! a [`RecordBuilder`], so that memory is bounded by the largest record.
//! [`TreeBuilder`] builds one small element tree per record; hot endpoints
//! fill their record structs straight from the events instead.
//!
//! When [`PageSpec::max_record_bytes`] is set, a record is first held back
//! until its end tag has arrived and then parsed from that one slice, which
//! avoids copying every event into a read buffer.

mod buffered_record;
mod chunk_buffer;
mod record_scan;

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use tokio::io::AsyncBufRead;

use crate::error::{ApiErrorBody, ParseError, RecordError};
use crate::utf8::{INVALID_UTF8_MARKER, Utf8Sanitizer};
use chunk_buffer::ChunkBuffer;

/// Most metadata leaves kept per page; a body with more is not a Qualys list page.
const MAX_META_ENTRIES: usize = 256;
/// Maximum metadata text kept, in bytes.
const MAX_META_TEXT_BYTES: usize = 64 * 1024;

/// One element of a record, with its attributes, trimmed text and children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Node {
    /// Element name.
    pub name: String,
    /// Attributes in document order, values unescaped.
    pub attrs: Vec<(String, String)>,
    /// Concatenated text, CDATA and references of this element, trimmed.
    pub text: String,
    /// Child elements in document order.
    pub children: Vec<Node>,
    /// True when `text` was cut at the element's text limit.
    pub truncated: bool,
}

impl Node {
    /// Returns the first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|child| child.name == name)
    }

    /// Iterates over the children named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |child| child.name == name)
    }

    /// Follows a path of child names, taking the first match at each step.
    pub fn path(&self, names: &[&str]) -> Option<&Node> {
        names.iter().try_fold(self, |node, name| node.child(name))
    }

    /// Returns the text of child `name`, or `None` when it is absent or empty.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|child| child.text.as_str())
            .filter(|text| !text.is_empty())
    }

    /// Returns the value of attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Position of records in a page: an element named `name` whose parent is `parent`.
#[derive(Debug, Clone, Copy)]
pub struct RecordPlace {
    /// Parent element name.
    pub parent: &'static str,
    /// Record element name.
    pub name: &'static str,
}

/// Rules a page parser follows to find and keep records.
#[derive(Debug, Clone, Default)]
pub struct PageSpec {
    /// Root element names of a successful page.
    pub roots: &'static [&'static str],
    /// Positions of the records.
    pub records: &'static [RecordPlace],
    /// Elements inside a record whose whole subtree is skipped.
    pub skip: Vec<&'static str>,
    /// Elements inside a record whose text is cut at a byte length (at a char boundary).
    pub text_limits: Vec<(&'static str, usize)>,
    /// Child element of a record that names it in errors (`ID`, `QID`, `id`).
    pub id_element: &'static str,
    /// Largest record, in bytes, held back and parsed from one slice. A record
    /// that has not ended within this many bytes, and every record when this
    /// is `None`, is parsed event by event as it arrives, with `skip` and
    /// `text_limits` bounding its memory.
    pub max_record_bytes: Option<usize>,
}

/// Page metadata found outside the records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageMeta {
    /// Root element name.
    pub root: Option<String>,
    /// Leaf texts outside records, keyed by their path below the root (`RESPONSE/WARNING/URL`).
    pub leaves: Vec<(String, String)>,
}

impl PageMeta {
    /// Returns the first leaf text at `path`.
    pub fn leaf(&self, path: &str) -> Option<&str> {
        self.leaves
            .iter()
            .find(|(key, _)| key == path)
            .map(|(_, value)| value.as_str())
    }

    /// Truncation warning URL of a VM list page (`RESPONSE/WARNING/URL`).
    pub fn next_url(&self) -> Option<&str> {
        self.leaf("RESPONSE/WARNING/URL")
            .filter(|url| !url.is_empty())
    }

    /// QPS `hasMoreRecords`, true only when the page sends `true`.
    pub fn has_more_records(&self) -> bool {
        self.leaf("hasMoreRecords") == Some("true")
    }

    /// QPS `lastId`, the cursor for the next page.
    pub fn last_id(&self) -> Option<u64> {
        self.leaf("lastId").and_then(|text| text.parse().ok())
    }

    /// Returns the API error this page carries, if it is an error body.
    ///
    /// A `SIMPLE_RETURN` root is always an error in a list response; a QPS
    /// `responseCode` other than `SUCCESS` is an error too.
    pub fn api_error(&self) -> Option<ApiErrorBody> {
        match self.root.as_deref() {
            Some("SIMPLE_RETURN") => Some(self.simple_return()),
            Some("ServiceResponse") => self.qps_error(),
            _ => None,
        }
    }

    fn simple_return(&self) -> ApiErrorBody {
        let mut items = Vec::new();
        let mut pending_key: Option<String> = None;
        for (path, text) in &self.leaves {
            match path.as_str() {
                "RESPONSE/ITEM_LIST/ITEM/KEY" => pending_key = Some(text.clone()),
                "RESPONSE/ITEM_LIST/ITEM/VALUE" => {
                    items.push((pending_key.take().unwrap_or_default(), text.clone()));
                }
                _ => {}
            }
        }
        ApiErrorBody {
            code: self.leaf("RESPONSE/CODE").map(str::to_owned),
            text: self.leaf("RESPONSE/TEXT").map(str::to_owned),
            resolution: None,
            items,
        }
    }

    fn qps_error(&self) -> Option<ApiErrorBody> {
        let code = self.leaf("responseCode")?;
        if code == "SUCCESS" {
            return None;
        }
        Some(ApiErrorBody {
            code: Some(code.to_owned()),
            text: self
                .leaf("responseErrorDetails/errorMessage")
                .map(str::to_owned),
            resolution: self
                .leaf("responseErrorDetails/errorResolution")
                .map(str::to_owned),
            items: Vec::new(),
        })
    }
}

/// Receives the events of one record at a time and builds the record.
///
/// The page parser keeps the first problem of a record (bad UTF-8, control
/// characters, unknown entities) and passes it to [`RecordBuilder::finish`],
/// so the builder reports it under the record's name and id.
pub trait RecordBuilder {
    /// Value a finished record becomes.
    type Output;
    /// Handles an element start. The first call after a finished record is for the record element itself.
    fn open(&mut self, name: &str, start: &BytesStart<'_>, problem: &mut Option<String>);
    /// Handles the end of the innermost open element.
    fn close(&mut self);
    /// Handles text, CDATA or a resolved reference inside the innermost open element.
    fn text(&mut self, text: &str, problem: &mut Option<String>);
    /// Ends the record after its end tag and resets the builder for the next one.
    fn finish(&mut self, problem: Option<String>) -> Result<Self::Output, RecordError>;
}

/// Builds the element tree of one record while its events stream past.
#[derive(Debug, Default)]
pub struct TreeBuilder {
    /// Open elements, the record itself first.
    stack: Vec<Node>,
    /// The record element once closed, until `finish` takes it.
    finished: Option<Node>,
    /// Depth inside a skipped subtree; 0 when not skipping.
    skip_depth: usize,
    /// Byte limit of the innermost open element's text.
    text_limit: Option<usize>,
    /// Elements whose subtree is skipped, from [`PageSpec::skip`].
    skip: Vec<&'static str>,
    /// Text limits, from [`PageSpec::text_limits`].
    text_limits: Vec<(&'static str, usize)>,
    /// Child element naming the record in errors, from [`PageSpec::id_element`].
    id_element: &'static str,
}

impl TreeBuilder {
    /// Creates a builder that skips and cuts elements as `spec` sets.
    pub fn new(spec: &PageSpec) -> Self {
        Self {
            skip: spec.skip.clone(),
            text_limits: spec.text_limits.clone(),
            id_element: spec.id_element,
            ..Self::default()
        }
    }
}

/// Reads one Qualys page and yields its records as `B` builds them.
pub struct PageParser<R, B = TreeBuilder> {
    reader: Reader<ChunkBuffer<Utf8Sanitizer<R>>>,
    buf: Vec<u8>,
    state: PageState<B>,
    /// Body bytes consumed outside the event reader, which its position does not count.
    held_bytes_consumed: u64,
    /// Records read from held slices, so tests can tell which path read a body.
    held_records: u64,
    /// True when the event reader stopped right after markup, so that the
    /// next body bytes are not yet consumed and may start a held-back record.
    at_markup_end: bool,
    done: bool,
}

/// Everything the parser tracks besides the reader, split off so event
/// handlers can borrow it while an event still borrows the read buffer.
struct PageState<B> {
    spec: PageSpec,
    /// Open element names outside records, root first.
    path: Vec<String>,
    /// Text of the innermost open element outside records.
    meta_text: String,
    meta: PageMeta,
    builder: B,
    /// Open record, while one is being read.
    record: Option<OpenRecord>,
}

/// Position of the parser inside the record being read.
struct OpenRecord {
    /// Record element name, for truncation errors.
    name: &'static str,
    /// Open elements inside the record, the record element included.
    depth: usize,
    /// First problem found in the record; the record is reported as an error at its end.
    problem: Option<String>,
}

impl<R: AsyncBufRead + Unpin> PageParser<R, TreeBuilder> {
    /// Creates a parser over `reader` that keeps records as element trees as `spec` describes.
    pub fn new(reader: R, spec: PageSpec) -> Self {
        let builder = TreeBuilder::new(&spec);
        Self::with_builder(reader, spec, builder)
    }
}

impl<R: AsyncBufRead + Unpin, B: RecordBuilder> PageParser<R, B> {
    /// Creates a parser over `reader` that finds records as `spec` describes and builds them with `builder`.
    pub fn with_builder(reader: R, spec: PageSpec, builder: B) -> Self {
        let mut reader = Reader::from_reader(ChunkBuffer::new(Utf8Sanitizer::new(reader)));
        configure(reader.config_mut());
        Self {
            reader,
            held_bytes_consumed: 0,
            held_records: 0,
            at_markup_end: false,
            buf: Vec::with_capacity(8 * 1024),
            state: PageState {
                spec,
                path: Vec::new(),
                meta_text: String::new(),
                meta: PageMeta::default(),
                builder,
                record: None,
            },
            done: false,
        }
    }

    /// Metadata seen so far; complete once `next_record` has returned `Ok(None)`.
    pub fn meta(&self) -> &PageMeta {
        &self.state.meta
    }

    /// Records read from held slices so far.
    #[cfg(test)]
    pub(crate) fn held_records(&self) -> u64 {
        self.held_records
    }

    /// Capacity of the buffer that keeps records back, in bytes.
    #[cfg(test)]
    pub(crate) fn held_capacity(&self) -> usize {
        self.reader.get_ref().capacity()
    }

    /// Reads up to the end of the next record.
    ///
    /// Returns `Ok(None)` at the end of a complete page. A
    /// [`ParseError::Record`] concerns one record only and the caller may call
    /// again; any other error ends the page.
    pub async fn next_record(&mut self) -> Result<Option<B::Output>, ParseError> {
        if self.done {
            return Ok(None);
        }
        loop {
            let outcome = match self.read_held_record().await {
                Some(step) => step,
                None => self.read_event().await,
            };
            match outcome {
                Step::Continue => {}
                Step::Record(record) => return Ok(Some(record)),
                Step::Finished => {
                    self.done = true;
                    return Ok(None);
                }
                Step::Fail(error) => {
                    if !matches!(error, ParseError::Record(_)) {
                        self.done = true;
                    }
                    return Err(error);
                }
            }
        }
    }

    /// Reads one event from the body and hands it to the page state.
    async fn read_event(&mut self) -> Step<B::Output> {
        self.buf.clear();
        let position = self.reader.buffer_position() + self.held_bytes_consumed;
        match self.reader.read_event_into_async(&mut self.buf).await {
            Ok(event) => {
                self.at_markup_end = !matches!(event, Event::Text(_) | Event::GeneralRef(_));
                self.state.on_event(event, position)
            }
            Err(error) => self.state.on_read_error(error, position),
        }
    }
}

/// Sets the reader options every page and record reader shares.
fn configure(config: &mut quick_xml::reader::Config) {
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;
}

impl<B: RecordBuilder> PageState<B> {
    /// Handles one event that starts at byte `position` of the body.
    fn on_event(&mut self, event: Event<'_>, position: u64) -> Step<B::Output> {
        match event {
            Event::Start(start) => self.on_start(&start, false),
            Event::Empty(start) => self.on_start(&start, true),
            Event::End(_) => self.on_end(),
            Event::Text(text) => {
                self.on_text(&text.xml10_content());
                Step::Continue
            }
            Event::CData(data) => {
                self.on_text(&data.xml10_content());
                Step::Continue
            }
            Event::GeneralRef(reference) => self.on_reference(&reference, position),
            Event::Eof => self.on_eof(),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => Step::Continue,
        }
    }

    /// Handles a reader error at byte `position`: it fails the page unless it only spoils the open record.
    fn on_read_error(&mut self, error: quick_xml::Error, position: u64) -> Step<B::Output> {
        if let Some(record) = self.record.as_mut() {
            // quick-xml rejects invalid UTF-8 after consuming the text, so
            // the record can be finished and reported on its own.
            if is_recoverable(&error) {
                record.problem.get_or_insert_with(|| error.to_string());
                return Step::Continue;
            }
        }
        if let quick_xml::Error::Io(io) = &error {
            return Step::Fail(ParseError::Io {
                message: io.to_string(),
            });
        }
        Step::Fail(ParseError::Xml {
            position,
            message: error.to_string(),
        })
    }

    fn on_start(&mut self, start: &BytesStart<'_>, empty: bool) -> Step<B::Output> {
        let name = start.name();
        let name = name.as_ref();
        if let Some(record) = self.record.as_mut() {
            record.depth += 1;
            self.builder.open(name, start, &mut record.problem);
            return if empty { self.on_end() } else { Step::Continue };
        }
        if self.path.is_empty() && self.meta.root.is_none() {
            if !self.spec.roots.contains(&name) && !is_error_root(name) {
                return Step::Fail(ParseError::UnexpectedRoot {
                    expected: self.spec.roots.join(" or "),
                    found: name.to_owned(),
                });
            }
            self.meta.root = Some(name.to_owned());
        }
        if let Some(record_name) = self.record_place(name) {
            let mut record = OpenRecord {
                name: record_name,
                depth: 1,
                problem: None,
            };
            self.builder.open(name, start, &mut record.problem);
            self.record = Some(record);
            return if empty { self.on_end() } else { Step::Continue };
        }
        self.meta_text.clear();
        self.path.push(name.to_owned());
        if empty {
            return self.on_end();
        }
        Step::Continue
    }

    fn on_end(&mut self) -> Step<B::Output> {
        if let Some(record) = self.record.as_mut() {
            self.builder.close();
            record.depth -= 1;
            if record.depth > 0 {
                return Step::Continue;
            }
            let problem = record.problem.take();
            self.record = None;
            return match self.builder.finish(problem) {
                Ok(output) => Step::Record(output),
                Err(error) => Step::Fail(ParseError::Record(error)),
            };
        }
        if self.path.len() > 1 {
            self.store_meta_leaf();
        }
        self.path.pop();
        self.meta_text.clear();
        Step::Continue
    }

    fn on_text(&mut self, text: &str) {
        if let Some(record) = self.record.as_mut() {
            self.builder.text(text, &mut record.problem);
        } else if self.meta_text.len() < MAX_META_TEXT_BYTES {
            self.meta_text.push_str(text);
        }
    }

    fn on_reference(
        &mut self,
        reference: &quick_xml::events::BytesRef<'_>,
        position: u64,
    ) -> Step<B::Output> {
        let resolved = resolve_reference(reference);
        match resolved {
            Some(character) => {
                let mut utf8 = [0_u8; 4];
                self.on_text(character.encode_utf8(&mut utf8));
                Step::Continue
            }
            None => {
                let name = reference.xml10_content().into_owned();
                self.invalid_markup(&format!("unknown entity reference &{name};"), position)
            }
        }
    }

    fn on_eof(&mut self) -> Step<B::Output> {
        if self.record.is_some() || !self.path.is_empty() {
            let open = self
                .record
                .as_ref()
                .map(|record| record.name.to_owned())
                .or_else(|| self.path.last().cloned())
                .unwrap_or_default();
            return Step::Fail(ParseError::Truncated { open_element: open });
        }
        if self.meta.root.is_none() {
            return Step::Fail(ParseError::Truncated {
                open_element: String::new(),
            });
        }
        match self.meta.api_error() {
            Some(body) => Step::Fail(ParseError::Api(body)),
            None => Step::Finished,
        }
    }

    /// Marks the open record invalid, or fails the page when outside a record.
    fn invalid_markup(&mut self, reason: &str, position: u64) -> Step<B::Output> {
        match self.record.as_mut() {
            Some(record) => {
                record.problem.get_or_insert_with(|| reason.to_owned());
                Step::Continue
            }
            None => Step::Fail(ParseError::Xml {
                position,
                message: reason.to_owned(),
            }),
        }
    }

    /// Returns the record name when an element `name` opening here starts a record.
    fn record_place(&self, name: &str) -> Option<&'static str> {
        if self.meta.root.as_deref() == Some("SIMPLE_RETURN") {
            return None;
        }
        let parent = self.path.last().map(String::as_str);
        self.spec
            .records
            .iter()
            .find(|place| place.name == name && Some(place.parent) == parent)
            .map(|place| place.name)
    }

    fn store_meta_leaf(&mut self) {
        if self.meta.leaves.len() >= MAX_META_ENTRIES {
            return;
        }
        let key = self.path[1..].join("/");
        let text = self.meta_text.trim();
        if !text.is_empty()
            || !self
                .meta
                .leaves
                .iter()
                .any(|(existing, _)| *existing == key)
        {
            self.meta.leaves.push((key, text.to_owned()));
        }
    }
}

enum Step<T> {
    Continue,
    Record(T),
    /// The page ended complete.
    Finished,
    Fail(ParseError),
}

/// Reads the attributes of `start` as XML allows them, noting the first malformed one in `problem`.
pub(crate) fn read_attributes(
    name: &str,
    start: &BytesStart<'_>,
    problem: &mut Option<String>,
) -> Vec<(String, String)> {
    let mut attrs = Vec::new();
    for attribute in start.attributes().with_checks(false) {
        let Ok(attribute) = attribute else {
            problem.get_or_insert_with(|| format!("malformed attribute on <{name}>"));
            continue;
        };
        let key = attribute.key.as_ref().to_owned();
        match attribute.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
            Ok(value) => attrs.push((key, value.into_owned())),
            Err(error) => {
                problem.get_or_insert_with(|| format!("attribute {key} on <{name}>: {error}"));
            }
        }
    }
    attrs
}

/// Notes in `problem` a character XML forbids in `text`, if there is one.
pub(crate) fn check_text(text: &str, problem: &mut Option<String>) {
    if let Some(bad) = find_forbidden_char(text) {
        problem.get_or_insert_with(|| {
            if bad == INVALID_UTF8_MARKER {
                "invalid UTF-8 in text".to_owned()
            } else {
                format!("control character U+{:04X} in text", u32::from(bad))
            }
        });
    }
}

impl RecordBuilder for TreeBuilder {
    type Output = Node;

    fn open(&mut self, name: &str, start: &BytesStart<'_>, problem: &mut Option<String>) {
        if self.skip_depth > 0 || (!self.stack.is_empty() && self.skip.contains(&name)) {
            self.skip_depth += 1;
            return;
        }
        let attrs = read_attributes(name, start, problem);
        self.text_limit = self
            .text_limits
            .iter()
            .find(|(limited, _)| *limited == name)
            .map(|(_, limit)| *limit);
        self.stack.push(Node {
            name: name.to_owned(),
            attrs,
            ..Node::default()
        });
    }

    fn close(&mut self) {
        if self.skip_depth > 0 {
            self.skip_depth -= 1;
            return;
        }
        let Some(mut node) = self.stack.pop() else {
            return;
        };
        trim_in_place(&mut node.text);
        self.text_limit = None;
        match self.stack.last_mut() {
            Some(parent) => parent.children.push(node),
            None => self.finished = Some(node),
        }
    }

    fn text(&mut self, text: &str, problem: &mut Option<String>) {
        if self.skip_depth > 0 {
            return;
        }
        let Some(node) = self.stack.last_mut() else {
            return;
        };
        // Leading whitespace is trimmed anyway, and whitespace between child elements is not text of the parent.
        if (node.text.is_empty() || !node.children.is_empty()) && is_blank(text) {
            return;
        }
        check_text(text, problem);
        match self.text_limit {
            Some(limit) if node.text.len() + text.len() > limit => {
                let room = limit.saturating_sub(node.text.len());
                let cut = floor_char_boundary(text, room);
                node.text.push_str(&text[..cut]);
                node.truncated = true;
            }
            _ => node.text.push_str(text),
        }
    }

    fn finish(&mut self, problem: Option<String>) -> Result<Node, RecordError> {
        self.stack.clear();
        self.skip_depth = 0;
        self.text_limit = None;
        let node = self.finished.take().unwrap_or_default();
        match problem {
            None => Ok(node),
            Some(reason) => Err(RecordError {
                element: node.name.clone(),
                id: node.text_of(self.id_element).map(str::to_owned),
                reason,
            }),
        }
    }
}

pub(crate) fn is_blank(text: &str) -> bool {
    text.bytes()
        .all(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Finds a character XML forbids, scanning bytes first because almost all text is clean.
fn find_forbidden_char(text: &str) -> Option<char> {
    // 0xEF leads the UTF-8 encoding of U+FDD0, U+FFFE and U+FFFF. The scan
    // folds whole 64-byte chunks without stopping early, so the compiler can vectorise it.
    let suspicious = text.as_bytes().chunks(64).any(|chunk| {
        chunk.iter().fold(false, |found, &byte| {
            found
                | ((byte < 0x20) & (byte != b'\t') & (byte != b'\n') & (byte != b'\r'))
                | (byte == 0xEF)
        })
    });
    if !suspicious {
        return None;
    }
    text.chars().find(|c| is_forbidden_char(*c))
}

fn is_error_root(name: &str) -> bool {
    matches!(name, "SIMPLE_RETURN" | "ServiceResponse")
}

/// Characters XML 1.0 forbids in text: C0 controls other than tab, line feed and carriage return.
fn is_forbidden_char(c: char) -> bool {
    (c < '\u{20}' && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(c, '\u{FFFE}' | '\u{FFFF}' | INVALID_UTF8_MARKER)
}

fn is_recoverable(error: &quick_xml::Error) -> bool {
    matches!(error, quick_xml::Error::Encoding(_))
}

fn resolve_reference(reference: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    if reference.is_char_ref() {
        return reference
            .resolve_char_ref()
            .ok()
            .flatten()
            .filter(|c| !is_forbidden_char(*c));
    }
    match reference.xml10_content().as_ref() {
        "amp" => Some('&'),
        "lt" => Some('<'),
        "gt" => Some('>'),
        "quot" => Some('"'),
        "apos" => Some('\''),
        _ => None,
    }
}

pub(crate) fn trim_in_place(text: &mut String) {
    let end = text.trim_end().len();
    text.truncate(end);
    let start = text.len() - text.trim_start().len();
    if start > 0 {
        text.drain(..start);
    }
}

pub(crate) fn floor_char_boundary(text: &str, index: usize) -> usize {
    if index >= text.len() {
        return text.len();
    }
    (0..=index)
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0)
}
