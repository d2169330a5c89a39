//! J1QL tokens, produced on demand so the parser can switch to raw scanning
//! where the token grammar does not apply (regex literals, `date(…)` values).

use std::cell::Cell;

use crate::error::QueryError;
use crate::span::{Span, line_column};

/// One token kind. Keywords are identifiers; the parser recognises them case-insensitively.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    /// A number as written, so integers keep all their digits.
    Number(String),
    Str(String),
    /// A `[raw name]` property name, without the brackets.
    Bracketed(String),
    Symbol(&'static str),
    End,
}

impl Tok {
    /// Describes the token for an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Number(s) => format!("number {s}"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Bracketed(s) => format!("`[{s}]`"),
            Tok::Symbol(s) => format!("`{s}`"),
            Tok::End => "end of query".to_owned(),
        }
    }
}

/// A token with its position.
#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    pub(crate) span: Span,
    /// True when whitespace or a comment came right before the token.
    pub(crate) spaced: bool,
}

/// Longest symbols first so `!~=` wins over `!`.
const SYMBOLS: &[&str] = &[
    "!~=", "!^=", "!$=", "!=", "~=", "^=", "$=", "<=", ">=", ">>", "<<", "=", "<", ">", "!", "(",
    ")", "|", ",", ".", "*", "+", "-", "/", "^", "?", "#", "$", "{", "}",
];

/// Splits a query into tokens.
pub(crate) struct Lexer<'a> {
    source: &'a str,
    pos: usize,
    /// The last position a span was made for, as (byte offset, line, column).
    /// Spans mostly move forward, so the next one counts only the text in
    /// between; counting from the start each time made lexing quadratic.
    last_position: Cell<(usize, usize, usize)>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(source: &'a str) -> Self {
        Lexer {
            source,
            pos: 0,
            last_position: Cell::new((0, 1, 1)),
        }
    }

    /// Returns the byte offset where the next token scan starts.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Moves the scan position back, used after a raw scan is abandoned.
    pub(crate) fn seek(&mut self, pos: usize) {
        self.pos = pos;
    }

    pub(crate) fn span(&self, start: usize, end: usize) -> Span {
        let (line, column) = self.line_column(start);
        Span {
            start,
            end,
            line,
            column,
        }
    }

    /// Returns the line and column of `offset`, counting on from the last
    /// span when `offset` is at or after it.
    fn line_column(&self, offset: usize) -> (usize, usize) {
        let (last_offset, mut line, mut column) = self.last_position.get();
        let between = (offset >= last_offset)
            .then(|| self.source.get(last_offset..offset))
            .flatten();
        match between {
            Some(text) => {
                for c in text.chars() {
                    if c == '\n' {
                        line += 1;
                        column = 1;
                    } else {
                        column += 1;
                    }
                }
            }
            None => (line, column) = line_column(self.source, offset),
        }
        self.last_position.set((offset, line, column));
        (line, column)
    }

    fn rest(&self) -> &'a str {
        self.source.get(self.pos..).unwrap_or("")
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn unterminated(&self, start: usize, what: &'static str) -> QueryError {
        let span = self.span(start, start);
        QueryError::Unterminated {
            line: span.line,
            column: span.column,
            what,
        }
    }

    /// Skips whitespace and `/* … */` comments; returns whether anything was skipped.
    pub(crate) fn skip_trivia(&mut self) -> Result<bool, QueryError> {
        let begin = self.pos;
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if !trimmed.starts_with("/*") {
                break;
            }
            let start = self.pos;
            match trimmed.get(2..).and_then(|body| body.find("*/")) {
                Some(close) => self.pos += close + 4,
                None => return Err(self.unterminated(start, "comment")),
            }
        }
        Ok(self.pos > begin)
    }

    /// Scans the next token.
    pub(crate) fn next_token(&mut self) -> Result<Token, QueryError> {
        let spaced = self.skip_trivia()? || self.pos == 0;
        let start = self.pos;
        let tok = match self.peek_char() {
            None => Tok::End,
            Some(c) if c == '\'' || c == '"' => Tok::Str(self.scan_string(c)?),
            Some('[') => Tok::Bracketed(self.scan_bracketed()?),
            Some(c) if c.is_ascii_digit() => Tok::Number(self.scan_number()),
            Some(c) if c.is_alphabetic() || c == '_' => Tok::Ident(self.scan_ident()),
            Some(c) => self.scan_symbol(c)?,
        };
        Ok(Token {
            tok,
            span: self.span(start, self.pos),
            spaced,
        })
    }

    fn scan_ident(&mut self) -> String {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.pos += len;
        rest.get(..len).unwrap_or("").to_owned()
    }

    fn scan_number(&mut self) -> String {
        let rest = self.rest();
        let mut len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        // A fraction needs a digit after the dot so `1.` stays a number followed by a dot.
        let after = rest.get(len..).unwrap_or("");
        if after.starts_with('.') && after[1..].starts_with(|c: char| c.is_ascii_digit()) {
            let fraction = after[1..]
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after.len() - 1);
            len += 1 + fraction;
        }
        self.pos += len;
        rest.get(..len).unwrap_or("").to_owned()
    }

    fn scan_string(&mut self, quote: char) -> Result<String, QueryError> {
        let start = self.pos;
        self.pos += 1;
        let mut text = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.pos += i + 1;
                return Ok(text);
            }
            if c == '\\' {
                // A backslash keeps the next character literally, so quotes can be escaped.
                match chars.next() {
                    Some((_, escaped)) => text.push(escaped),
                    None => break,
                }
            } else {
                text.push(c);
            }
        }
        Err(self.unterminated(start, "string"))
    }

    fn scan_bracketed(&mut self) -> Result<String, QueryError> {
        let start = self.pos;
        match self.rest().find(']') {
            Some(close) => {
                let name = self.rest().get(1..close).unwrap_or("").to_owned();
                self.pos += close + 1;
                Ok(name)
            }
            None => Err(self.unterminated(start, "bracketed property name")),
        }
    }

    fn scan_symbol(&mut self, c: char) -> Result<Tok, QueryError> {
        let rest = self.rest();
        match SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            Some(symbol) => {
                self.pos += symbol.len();
                Ok(Tok::Symbol(symbol))
            }
            None => {
                let span = self.span(self.pos, self.pos);
                Err(QueryError::Syntax {
                    line: span.line,
                    column: span.column,
                    found: format!("`{c}`"),
                    expected: "a keyword, name, value or operator".to_owned(),
                })
            }
        }
    }

    /// Scans a regex literal whose opening `/` starts at `start`; returns pattern and flags.
    pub(crate) fn scan_regex(&mut self, start: usize) -> Result<(String, String), QueryError> {
        self.pos = start + 1;
        let mut pattern = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '/' => {
                    self.pos += i + 1;
                    let flags = self.scan_ident();
                    return Ok((pattern, flags));
                }
                '\\' => {
                    // An escaped slash belongs to the pattern; other escapes stay for the regex engine.
                    pattern.push('\\');
                    if let Some((_, escaped)) = chars.next() {
                        if escaped == '/' {
                            pattern.pop();
                        }
                        pattern.push(escaped);
                    }
                }
                _ => pattern.push(c),
            }
        }
        Err(self.unterminated(start, "regex"))
    }

    /// Scans raw text up to the next `)`; used for `date(…)` whose ISO text is not made of tokens.
    pub(crate) fn scan_until_paren(&mut self) -> Result<(String, Span), QueryError> {
        let start = self.pos;
        match self.rest().find(')') {
            Some(close) => {
                let text = self.rest().get(..close).unwrap_or("").trim().to_owned();
                self.pos += close + 1;
                Ok((text, self.span(start, start + close)))
            }
            None => Err(self.unterminated(start, "date(")),
        }
    }
}
