//! One streaming parser per endpoint, each turning a body into typed records.
//!
//! Every parser works over any [`AsyncBufRead`], so the same code reads an HTTP
//! body, a file or an in-memory buffer.

mod assets;
mod detections;
mod host_ids;
mod knowledge_base;
mod portal;
mod was;

use tokio::io::AsyncBufRead;

pub use detections::ResultsOptions;

use crate::error::{ParseError, RecordError};
use crate::records::{
    EpochMillis, HostAsset, HostDetections, HostIdRange, PortalVersion, Vuln, WebApp, WebAppFinding,
};
use crate::xml::{Node, PageMeta, PageParser, PageSpec, RecordBuilder};

/// How one endpoint's records are found in a page and converted.
pub trait RecordKind {
    /// Record type yielded.
    type Record;
    /// Builds each record from its events: an element tree, or the record itself.
    type Builder: RecordBuilder;
    /// Where the records are and what to keep of them.
    fn spec(&self) -> PageSpec;
    /// Creates the builder for a page read with `spec`.
    fn builder(&self, spec: &PageSpec) -> Self::Builder;
    /// Converts one built record.
    fn convert(
        &self,
        built: <Self::Builder as RecordBuilder>::Output,
    ) -> Result<Self::Record, RecordError>;
    /// Key that identifies a record within a page, used to skip records already yielded when a page is retried.
    fn key(record: &Self::Record) -> u64;
}

/// Records of one page, read as the body streams in.
pub struct RecordStream<R, K: RecordKind> {
    parser: PageParser<R, K::Builder>,
    kind: K,
}

impl<R: AsyncBufRead + Unpin, K: RecordKind> RecordStream<R, K> {
    /// Creates a record stream of `kind` over `reader`.
    pub fn new(reader: R, kind: K) -> Self {
        let spec = kind.spec();
        let builder = kind.builder(&spec);
        Self {
            parser: PageParser::with_builder(reader, spec, builder),
            kind,
        }
    }

    /// Reads the next record.
    ///
    /// Returns `Ok(None)` at the end of a complete page. After a
    /// [`ParseError::Record`] the caller may go on; any other error ends the page.
    pub async fn next(&mut self) -> Result<Option<K::Record>, ParseError> {
        let Some(node) = self.parser.next_record().await? else {
            return Ok(None);
        };
        self.kind
            .convert(node)
            .map(Some)
            .map_err(ParseError::Record)
    }

    /// Page metadata (truncation URL, `hasMoreRecords`, `lastId`); complete after the last record.
    pub fn meta(&self) -> &PageMeta {
        self.parser.meta()
    }
}

/// Parses a `GET /qps/rest/portal/version` body, which contains one record.
pub fn portal_version<R: AsyncBufRead + Unpin>(reader: R) -> RecordStream<R, portal::PortalKind> {
    RecordStream::new(reader, portal::PortalKind)
}

/// Parses a host list page (`ID_SET/ID`, `ID_SET/ID_RANGE` or `HOST_LIST/HOST/ID`).
pub fn host_ids<R: AsyncBufRead + Unpin>(reader: R) -> RecordStream<R, host_ids::HostIdKind> {
    RecordStream::new(reader, host_ids::HostIdKind)
}

/// Parses an Asset Management host asset search page.
pub fn host_assets<R: AsyncBufRead + Unpin>(reader: R) -> RecordStream<R, assets::HostAssetKind> {
    RecordStream::new(reader, assets::HostAssetKind)
}

/// Parses a host list detection page; `RESULTS` are kept as the `results` options request.
pub fn host_detections<R: AsyncBufRead + Unpin>(
    reader: R,
    results: ResultsOptions,
) -> RecordStream<R, detections::DetectionKind> {
    RecordStream::new(reader, detections::DetectionKind { results })
}

/// Parses a knowledge-base vuln list page.
pub fn knowledge_base<R: AsyncBufRead + Unpin>(
    reader: R,
) -> RecordStream<R, knowledge_base::VulnKind> {
    RecordStream::new(reader, knowledge_base::VulnKind)
}

/// Parses a WAS web app search page.
pub fn web_apps<R: AsyncBufRead + Unpin>(reader: R) -> RecordStream<R, was::WebAppKind> {
    RecordStream::new(reader, was::WebAppKind)
}

/// Parses a WAS finding search page.
pub fn web_app_findings<R: AsyncBufRead + Unpin>(reader: R) -> RecordStream<R, was::FindingKind> {
    RecordStream::new(reader, was::FindingKind)
}

/// Type names the record kinds yield, so callers can name the streams.
pub type PortalVersionStream<R> = RecordStream<R, portal::PortalKind>;
/// Host id page stream.
pub type HostIdStream<R> = RecordStream<R, host_ids::HostIdKind>;
/// Host asset page stream.
pub type HostAssetStream<R> = RecordStream<R, assets::HostAssetKind>;
/// Host detection page stream.
pub type HostDetectionStream<R> = RecordStream<R, detections::DetectionKind>;
/// Knowledge-base page stream.
pub type VulnStream<R> = RecordStream<R, knowledge_base::VulnKind>;
/// Web app page stream.
pub type WebAppStream<R> = RecordStream<R, was::WebAppKind>;
/// Web app finding page stream.
pub type WebAppFindingStream<R> = RecordStream<R, was::FindingKind>;

// Compile-time check that every kind yields the record type the crate documents.
const _: fn() = || {
    fn yields<K: RecordKind<Record = T>, T>() {}
    yields::<portal::PortalKind, PortalVersion>();
    yields::<host_ids::HostIdKind, HostIdRange>();
    yields::<assets::HostAssetKind, HostAsset>();
    yields::<detections::DetectionKind, HostDetections>();
    yields::<knowledge_base::VulnKind, Vuln>();
    yields::<was::WebAppKind, WebApp>();
    yields::<was::FindingKind, WebAppFinding>();
};

/// Implements the tree-building part of [`RecordKind`] for a kind that converts element trees.
macro_rules! tree_builder {
    () => {
        type Builder = crate::xml::TreeBuilder;

        fn builder(&self, spec: &crate::xml::PageSpec) -> crate::xml::TreeBuilder {
            crate::xml::TreeBuilder::new(spec)
        }
    };
}
pub(crate) use tree_builder;

/// Field readers shared by the record converters.
pub(crate) struct Fields<'a> {
    node: &'a Node,
}

impl<'a> Fields<'a> {
    pub(crate) fn of(node: &'a Node) -> Self {
        Self { node }
    }

    fn error(&self, reason: String) -> RecordError {
        let id = ["ID", "QID", "id"]
            .iter()
            .find_map(|name| self.node.text_of(name));
        RecordError {
            element: self.node.name.clone(),
            id: id.map(str::to_owned),
            reason,
        }
    }

    /// Text of child `name`, when present and not empty.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.node.text_of(name).map(str::to_owned)
    }

    /// Required integer id; absent or non-numeric fails the record.
    pub(crate) fn id(&self, name: &str) -> Result<u64, RecordError> {
        match self.node.text_of(name) {
            None => Err(self.error(format!("missing <{name}>"))),
            Some(text) => text
                .parse()
                .map_err(|_| self.error(format!("<{name}> is not an integer: {text:?}"))),
        }
    }

    /// Optional integer; present but non-numeric fails the record, because these are ids or counts.
    pub(crate) fn integer<T: std::str::FromStr>(
        &self,
        name: &str,
    ) -> Result<Option<T>, RecordError> {
        match self.node.text_of(name) {
            None => Ok(None),
            Some(text) => text
                .parse()
                .map(Some)
                .map_err(|_| self.error(format!("<{name}> is not an integer: {text:?}"))),
        }
    }

    /// Optional flag written `1`/`0` or `true`/`false`; anything else is `None`.
    pub(crate) fn flag(&self, name: &str) -> Option<bool> {
        parse_flag(self.node.text_of(name)?)
    }

    /// Optional ISO-8601 timestamp; unreadable text is `None`.
    pub(crate) fn date(&self, name: &str) -> Option<EpochMillis> {
        crate::dates::parse_iso8601(self.node.text_of(name)?)
    }
}

pub(crate) fn parse_flag(text: &str) -> Option<bool> {
    match text {
        "1" | "true" | "TRUE" | "True" => Some(true),
        "0" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}
