//! The fast path of [`PageParser`]: hold back one whole record, then parse it
//! with quick-xml's slice reader, whose events borrow the held bytes instead
//! of being copied into a read buffer.

use quick_xml::Reader;
use quick_xml::events::Event;
use tokio::io::AsyncBufRead;

use super::record_scan::{RecordScanner, ScanOutcome};
use super::{PageParser, PageState, RecordBuilder, Step, configure};
use crate::error::ParseError;

/// Whether the held bytes start a record.
enum RecordStart {
    /// They start a record with this element name.
    Yes(&'static str),
    No,
    /// The held bytes are too short to tell.
    Unknown,
}

impl<R: AsyncBufRead + Unpin, B: RecordBuilder> PageParser<R, B> {
    /// Reads the next record from one held-back slice when the body is at a record's start tag.
    ///
    /// Returns `None` when the event reader must go on. That happens when the
    /// spec sets no maximum or the next bytes do not start a record. It also
    /// happens when the record does not end within `max_record_bytes`, the
    /// body ends inside it, or the held slice is not one well-formed record.
    /// The event reader then reads the same bytes, so every malformed or cut
    /// record is reported by one code path.
    pub(super) async fn read_held_record(&mut self) -> Option<Step<B::Output>> {
        let max_bytes = self.state.spec.max_record_bytes?;
        if !self.at_markup_end || self.state.record.is_some() {
            return None;
        }
        let step = match self.hold_record(max_bytes).await {
            Ok(Some(end)) => self.parse_held_record(end),
            Ok(None) => None,
            Err(error) => Some(Step::Fail(ParseError::Io {
                message: error.to_string(),
            })),
        };
        if step.is_none() {
            // The event reader takes the next event; after the next markup it is worth looking again.
            self.at_markup_end = false;
        }
        step
    }

    /// Holds back bytes until one whole record is held and returns its length.
    async fn hold_record(&mut self, max_bytes: usize) -> std::io::Result<Option<usize>> {
        let Some(name) = self.skip_to_record_start().await? else {
            return Ok(None);
        };
        let mut scanner = RecordScanner::new(name);
        loop {
            let buffer = self.reader.get_mut();
            if let ScanOutcome::Complete(end) = scanner.scan(buffer.held_bytes()) {
                return Ok(Some(end));
            }
            if buffer.held_bytes().len() > max_bytes || !buffer.hold_more().await? {
                return Ok(None);
            }
        }
    }

    /// Drops the whitespace before the next markup and returns the record name when that markup starts a record.
    async fn skip_to_record_start(&mut self) -> std::io::Result<Option<&'static str>> {
        loop {
            let buffer = self.reader.get_mut();
            let blank = buffer
                .held_bytes()
                .iter()
                .take_while(|byte| matches!(byte, b' ' | b'\t' | b'\n' | b'\r'))
                .count();
            buffer.discard(blank);
            self.held_bytes_consumed += blank as u64;
            match self.state.record_start(buffer.held_bytes()) {
                RecordStart::Yes(name) => return Ok(Some(name)),
                RecordStart::No => return Ok(None),
                RecordStart::Unknown => {
                    if !buffer.hold_more().await? {
                        return Ok(None);
                    }
                }
            }
        }
    }

    /// Parses the first `end` held bytes as one record and consumes them.
    ///
    /// Returns `None`, with the bytes left in place and the builder reset,
    /// when they fail as a whole: malformed markup, or a record that does not
    /// end exactly at `end`. A record error is returned like a record, because
    /// the event reader would report the same error for the same bytes.
    fn parse_held_record(&mut self, end: usize) -> Option<Step<B::Output>> {
        let offset = self.reader.buffer_position() + self.held_bytes_consumed;
        let record = &self.reader.get_ref().held_bytes()[..end];
        let mut reader = Reader::from_reader(record);
        configure(reader.config_mut());
        let step = loop {
            let position = offset + reader.buffer_position();
            let step = match reader.read_event() {
                Ok(Event::Eof) => break None,
                Ok(event) => self.state.on_event(event, position),
                Err(error) => self.state.on_read_error(error, position),
            };
            let at_end = reader.buffer_position() == end as u64;
            match step {
                Step::Continue => {}
                Step::Record(record) if at_end => break Some(Step::Record(record)),
                Step::Fail(ParseError::Record(error)) if at_end => {
                    break Some(Step::Fail(ParseError::Record(error)));
                }
                // A record that closes before `end` means the scan and the parser disagree on the markup.
                Step::Record(_) | Step::Fail(_) | Step::Finished => break None,
            }
        };
        match step {
            Some(step) => {
                self.reader.get_mut().discard(end);
                self.held_bytes_consumed += end as u64;
                self.held_records += 1;
                Some(step)
            }
            None => {
                self.state.abandon_record();
                None
            }
        }
    }
}

impl<B: RecordBuilder> PageState<B> {
    /// Tells whether `next_bytes`, which start at markup or are empty, start a record here.
    fn record_start(&self, next_bytes: &[u8]) -> RecordStart {
        let Some(parent) = self.path.last() else {
            return RecordStart::No;
        };
        let mut places = self
            .spec
            .records
            .iter()
            .filter(|place| place.parent == parent)
            .peekable();
        // Checked before looking at the bytes, so that no chunk is held back outside record lists.
        if places.peek().is_none() || self.meta.root.as_deref() == Some("SIMPLE_RETURN") {
            return RecordStart::No;
        }
        let Some((&first, rest)) = next_bytes.split_first() else {
            return RecordStart::Unknown;
        };
        if first != b'<' {
            return RecordStart::No;
        }
        let mut start = RecordStart::No;
        for place in places {
            let name = place.name.as_bytes();
            match rest.get(name.len()) {
                Some(&after) if rest.starts_with(name) && ends_name(after) => {
                    return RecordStart::Yes(place.name);
                }
                None if name.starts_with(rest) => start = RecordStart::Unknown,
                _ => {}
            }
        }
        start
    }

    /// Drops a record read partly from a held slice, so that the event reader can read it again.
    fn abandon_record(&mut self) {
        if self.record.take().is_some() {
            // `finish` resets the builder; the partial record it returns is not wanted.
            let _partial = self.builder.finish(None);
        }
    }
}

/// True for a byte that may follow an element name in a start tag.
fn ends_name(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | b'>' | b'/')
}
