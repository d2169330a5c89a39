//! Finds where one buffered record ends without parsing it, so that the whole
//! record can then be parsed from one contiguous slice.
//!
//! The scan looks for the record's end tag and skips comments and CDATA
//! sections on the way, because either may contain that end tag. It does not
//! follow nesting, attribute quotes or processing instructions. So a record
//! with its own name nested inside, or with the end tag in a quoted value or
//! a processing instruction, gives a slice that does not parse as one whole
//! record. The caller then reads that record event by event instead.

use memchr::memchr;
use memchr::memmem::Finder;

/// Result of scanning the bytes buffered so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScanOutcome {
    /// The record ends just before this offset.
    Complete(usize),
    /// The record goes on past the buffered bytes.
    NeedMore,
}

/// Incremental search for the end of the record element that starts at offset 0.
///
/// Each call to [`RecordScanner::scan`] gets the same bytes extended by newly
/// read ones and resumes where the previous call stopped, so scanning a record
/// that arrives in many small chunks takes time linear in its size.
pub(crate) struct RecordScanner {
    /// `</` and the record name.
    end_tag: Finder<'static>,
    end_tag_len: usize,
    /// Offset where scanning resumes.
    cursor: usize,
    /// Offset of an end tag candidate found at or after `cursor`, kept so that
    /// skipping many CDATA sections does not search the rest of the record again.
    end_tag_at: Option<usize>,
    mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Inside the record's start tag, looking for its `>`; `quote` is the open attribute quote.
    StartTag { quote: Option<u8> },
    /// In the record's content, looking for its end tag.
    Content,
    /// At a `<!` whose kind is not known yet.
    MarkupDeclaration,
    /// Inside a comment or CDATA section, looking for its terminator.
    Until(&'static [u8]),
    /// Inside the record's end tag, looking for its `>`.
    EndTag,
}

enum Step {
    Continue,
    NeedMore,
    Complete,
}

impl RecordScanner {
    /// Creates a scanner for a record element named `name`.
    pub(crate) fn new(name: &str) -> Self {
        let end_tag = format!("</{name}");
        Self {
            end_tag_len: end_tag.len(),
            end_tag: Finder::new(end_tag.as_bytes()).into_owned(),
            cursor: 0,
            end_tag_at: None,
            mode: Mode::StartTag { quote: None },
        }
    }

    /// Scans `bytes`, which start with the record's `<` and extend the bytes of the previous call.
    pub(crate) fn scan(&mut self, bytes: &[u8]) -> ScanOutcome {
        loop {
            let step = match self.mode {
                Mode::StartTag { quote } => self.finish_start_tag(bytes, quote),
                Mode::Content => self.find_end_tag(bytes),
                Mode::MarkupDeclaration => self.classify_declaration(bytes),
                Mode::Until(terminator) => self.skip_until(bytes, terminator),
                Mode::EndTag => self.finish_end_tag(bytes),
            };
            match step {
                Step::Continue => {}
                Step::NeedMore => return ScanOutcome::NeedMore,
                Step::Complete => return ScanOutcome::Complete(self.cursor),
            }
        }
    }

    fn finish_start_tag(&mut self, bytes: &[u8], quote: Option<u8>) -> Step {
        let rest = bytes.get(self.cursor..).unwrap_or_default();
        let found = match quote {
            Some(quote) => memchr(quote, rest),
            None => rest
                .iter()
                .position(|&byte| matches!(byte, b'>' | b'"' | b'\'')),
        };
        let Some(index) = found else {
            self.cursor = bytes.len();
            return Step::NeedMore;
        };
        let at = self.cursor + index;
        self.cursor = at + 1;
        self.mode = match (quote, bytes[at]) {
            (Some(_), _) => Mode::StartTag { quote: None },
            (None, b'>') if at > 0 && bytes[at - 1] == b'/' => return Step::Complete,
            (None, b'>') => Mode::Content,
            (None, quote) => Mode::StartTag { quote: Some(quote) },
        };
        Step::Continue
    }

    fn find_end_tag(&mut self, bytes: &[u8]) -> Step {
        let rest = bytes.get(self.cursor..).unwrap_or_default();
        let end_tag_at = match self.end_tag_at.filter(|at| *at >= self.cursor) {
            Some(at) => Some(at),
            None => self.end_tag.find(rest).map(|index| self.cursor + index),
        };
        self.end_tag_at = end_tag_at;
        let before_end_tag = &rest[..end_tag_at.map_or(rest.len(), |at| at - self.cursor)];
        if let Some(index) = find_markup_declaration(before_end_tag) {
            self.cursor += index;
            self.mode = Mode::MarkupDeclaration;
            return Step::Continue;
        }
        let Some(at) = end_tag_at else {
            // Keep the bytes that may begin an end tag or a `<!` cut by the end of the buffer.
            self.cursor = bytes
                .len()
                .saturating_sub(self.end_tag_len - 1)
                .max(self.cursor);
            return Step::NeedMore;
        };
        let Some(&after) = bytes.get(at + self.end_tag_len) else {
            self.cursor = at;
            return Step::NeedMore;
        };
        self.cursor = at + self.end_tag_len;
        if matches!(after, b'>' | b' ' | b'\t' | b'\n' | b'\r') {
            self.mode = Mode::EndTag;
        }
        Step::Continue
    }

    fn classify_declaration(&mut self, bytes: &[u8]) -> Step {
        let rest = bytes.get(self.cursor..).unwrap_or_default();
        let (terminator, skip): (&'static [u8], usize) = if rest.starts_with(b"<!--") {
            (b"-->", 4)
        } else if rest.starts_with(b"<![CDATA[") {
            (b"]]>", 9)
        } else if is_partial(rest, b"<!--") || is_partial(rest, b"<![CDATA[") {
            return Step::NeedMore;
        } else {
            // Not a comment or CDATA section, so it cannot hide an end tag.
            (b">", 2)
        };
        self.mode = Mode::Until(terminator);
        self.cursor += skip;
        Step::Continue
    }

    fn skip_until(&mut self, bytes: &[u8], terminator: &'static [u8]) -> Step {
        let rest = bytes.get(self.cursor..).unwrap_or_default();
        let found = if terminator.len() == 1 {
            memchr(terminator[0], rest)
        } else {
            memchr::memmem::find(rest, terminator)
        };
        match found {
            Some(index) => {
                self.cursor += index + terminator.len();
                self.mode = Mode::Content;
                Step::Continue
            }
            None => {
                // Keep the bytes that may begin a terminator cut by the end of the buffer.
                let keep = terminator.len() - 1;
                self.cursor = bytes.len().saturating_sub(keep).max(self.cursor);
                Step::NeedMore
            }
        }
    }

    fn finish_end_tag(&mut self, bytes: &[u8]) -> Step {
        let rest = bytes.get(self.cursor..).unwrap_or_default();
        match memchr(b'>', rest) {
            Some(index) => {
                self.cursor += index + 1;
                Step::Complete
            }
            None => {
                self.cursor = bytes.len();
                Step::NeedMore
            }
        }
    }
}

/// Finds `<!`, searching for the `!` because it is rare in XML while `<` is everywhere.
fn find_markup_declaration(bytes: &[u8]) -> Option<usize> {
    let mut from = 1;
    while let Some(index) = bytes.get(from..).and_then(|rest| memchr(b'!', rest)) {
        let bang = from + index;
        if bytes[bang - 1] == b'<' {
            return Some(bang - 1);
        }
        from = bang + 1;
    }
    None
}

/// True when `rest` is shorter than `pattern` and could still grow into it.
fn is_partial(rest: &[u8], pattern: &[u8]) -> bool {
    rest.len() < pattern.len() && pattern.starts_with(rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scans `body` fed in chunks of `chunk` bytes and returns the record end found.
    fn scan_in_chunks(body: &[u8], chunk: usize) -> Option<usize> {
        let mut scanner = RecordScanner::new("HOST");
        let mut end = 0;
        while end < body.len() {
            end = (end + chunk).min(body.len());
            if let ScanOutcome::Complete(at) = scanner.scan(&body[..end]) {
                return Some(at);
            }
        }
        None
    }

    fn assert_ends_at(body: &str, record_len: usize) {
        for chunk in [1, 2, 3, 5, 7, 64, body.len()] {
            assert_eq!(
                scan_in_chunks(body.as_bytes(), chunk),
                Some(record_len),
                "chunk size {chunk}, body {body:?}"
            );
        }
    }

    #[test]
    fn end_tag_found_past_similar_names() {
        let record = "<HOST><HOSTNAME>a</HOSTNAME><ID>1</ID></HOST >";
        assert_ends_at(&format!("{record}<HOST>next</HOST>"), record.len());
    }

    #[test]
    fn end_tag_in_cdata_or_comment_skipped() {
        let record =
            "<HOST><A><![CDATA[a > b </HOST></A>]]]]></A><!-- c > d </HOST> --><B/></HOST>";
        assert_ends_at(&format!("{record}  </HOST_LIST>"), record.len());
    }

    #[test]
    fn many_cdata_sections_before_end_tag() {
        let record = format!("<HOST>{}</HOST>", "<A><![CDATA[x]]></A>".repeat(50));
        assert_ends_at(&format!("{record}</HOST_LIST>"), record.len());
    }

    #[test]
    fn quoted_start_tag_attribute_may_contain_markup() {
        let record = r#"<HOST a="/>" b='">'><C/></HOST>"#;
        assert_ends_at(&format!("{record}</HOST_LIST>"), record.len());
    }

    #[test]
    fn empty_record_element_ends_at_its_tag() {
        assert_ends_at("<HOST/><HOST></HOST>", 7);
        assert_ends_at("<HOST a=\"1\" /> ", 14);
    }

    #[test]
    fn unfinished_record_needs_more() {
        for body in [
            "<HOST><ID>1</ID>",
            "<HOST><![CDATA[</HOST>",
            "<HOST><!-- </HOST>",
            "<HOST a=\"></HOST>",
            "<HOST><ID>1</ID></HOST",
            "<HOST><ID>1</ID></HOSTX>",
            "<HOST><!",
            "<",
            "",
        ] {
            assert_eq!(scan_in_chunks(body.as_bytes(), 1), None, "{body:?}");
            assert_eq!(
                RecordScanner::new("HOST").scan(body.as_bytes()),
                ScanOutcome::NeedMore,
                "{body:?}"
            );
        }
    }

    #[test]
    fn nested_record_name_ends_early() {
        // The slice parser then finds the outer record still open, and the record is read event by event.
        assert_ends_at("<HOST><X><HOST>a</HOST></X></HOST>", 23);
    }

    #[test]
    fn terminator_split_across_calls_found() {
        let record = "<HOST><![CDATA[a]]]]]><!--x--></HOST>";
        for split in 0..record.len() {
            let mut scanner = RecordScanner::new("HOST");
            let first = scanner.scan(&record.as_bytes()[..split]);
            assert_eq!(first, ScanOutcome::NeedMore, "split {split}");
            let second = scanner.scan(record.as_bytes());
            assert_eq!(second, ScanOutcome::Complete(record.len()), "split {split}");
        }
    }
}
