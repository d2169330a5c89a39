//! A reader adapter that replaces invalid UTF-8 with a marker character, so
//! one corrupt record cannot stop the XML parser for the rest of the page.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncBufRead, AsyncRead, ReadBuf};

/// Stands in for each invalid byte sequence. It is a Unicode noncharacter,
/// which text from Qualys has no reason to contain, so the parser can tell a
/// replaced sequence from real data.
pub(crate) const INVALID_UTF8_MARKER: char = '\u{FDD0}';

/// Passes valid UTF-8 through and replaces each invalid sequence with [`INVALID_UTF8_MARKER`].
pub(crate) struct Utf8Sanitizer<R> {
    inner: R,
    /// Sanitised bytes not yet consumed.
    out: Vec<u8>,
    position: usize,
    /// Bytes of a sequence cut by a chunk boundary, completed by the next chunk.
    carry: Vec<u8>,
    /// Unconsumed bytes at the front of the inner buffer already found valid,
    /// served from there without copying; almost every chunk is valid.
    passthrough: usize,
}

impl<R> Utf8Sanitizer<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            out: Vec::new(),
            position: 0,
            carry: Vec::new(),
            passthrough: 0,
        }
    }
}

/// Appends `input` to `out`, replacing invalid sequences; returns the length of
/// an incomplete sequence at the end, which the caller keeps for the next chunk.
fn sanitize_into(mut input: &[u8], out: &mut Vec<u8>) -> usize {
    let mut marker = [0_u8; 4];
    let marker = INVALID_UTF8_MARKER.encode_utf8(&mut marker).as_bytes();
    loop {
        match std::str::from_utf8(input) {
            Ok(_) => {
                out.extend_from_slice(input);
                return 0;
            }
            Err(error) => {
                let valid = error.valid_up_to();
                out.extend_from_slice(&input[..valid]);
                match error.error_len() {
                    Some(len) => {
                        out.extend_from_slice(marker);
                        input = &input[valid + len..];
                    }
                    None => return input.len() - valid,
                }
            }
        }
    }
}

impl<R: AsyncBufRead + Unpin> AsyncBufRead for Utf8Sanitizer<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let Self {
            inner,
            out,
            position,
            carry,
            passthrough,
        } = self.get_mut();
        while *passthrough == 0 && *position >= out.len() {
            out.clear();
            *position = 0;
            let chunk = ready!(Pin::new(&mut *inner).poll_fill_buf(cx))?;
            if chunk.is_empty() {
                if !carry.is_empty() {
                    // The body ended inside a multi-byte sequence.
                    carry.clear();
                    out.extend_from_slice(INVALID_UTF8_MARKER.encode_utf8(&mut [0; 4]).as_bytes());
                }
                break;
            }
            let consumed = chunk.len();
            if carry.is_empty() {
                if std::str::from_utf8(chunk).is_ok() {
                    *passthrough = consumed;
                    break;
                }
                let pending = sanitize_into(chunk, out);
                carry.extend_from_slice(&chunk[consumed - pending..]);
            } else {
                carry.extend_from_slice(chunk);
                let joined = std::mem::take(carry);
                let pending = sanitize_into(&joined, out);
                carry.extend_from_slice(&joined[joined.len() - pending..]);
            }
            Pin::new(&mut *inner).consume(consumed);
        }
        if *passthrough > 0 {
            let valid = *passthrough;
            return Pin::new(inner)
                .poll_fill_buf(cx)
                .map_ok(|chunk| &chunk[..valid.min(chunk.len())]);
        }
        Poll::Ready(Ok(&out[*position..]))
    }

    fn consume(self: Pin<&mut Self>, amount: usize) {
        let this = self.get_mut();
        if this.passthrough > 0 {
            let amount = amount.min(this.passthrough);
            this.passthrough -= amount;
            Pin::new(&mut this.inner).consume(amount);
            return;
        }
        this.position = (this.position + amount).min(this.out.len());
    }
}

impl<R: AsyncBufRead + Unpin> AsyncRead for Utf8Sanitizer<R> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let available = ready!(Pin::new(&mut *this).poll_fill_buf(cx))?;
        let count = available.len().min(buf.remaining());
        buf.put_slice(&available[..count]);
        Pin::new(this).consume(count);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    async fn sanitize(chunks: &[&[u8]]) -> String {
        let stream = futures_util::stream::iter(
            chunks
                .iter()
                .map(|chunk| Ok::<_, io::Error>(bytes::Bytes::copy_from_slice(chunk)))
                .collect::<Vec<_>>(),
        );
        let mut reader = Utf8Sanitizer::new(tokio_util::io::StreamReader::new(stream));
        let mut text = String::new();
        let read = reader.read_to_string(&mut text).await;
        assert!(read.is_ok(), "{read:?}");
        text
    }

    #[tokio::test]
    async fn valid_text_passes_through() {
        assert_eq!(sanitize(&[b"caf\xc3\xa9 ok"]).await, "café ok");
    }

    #[tokio::test]
    async fn sequence_split_across_chunks_kept() {
        assert_eq!(sanitize(&[b"caf\xc3", b"\xa9", b"!"]).await, "café!");
        assert_eq!(sanitize(&[b"\xe2", b"\x82", b"\xac"]).await, "€");
    }

    #[tokio::test]
    async fn invalid_bytes_replaced() {
        let marker = INVALID_UTF8_MARKER;
        assert_eq!(sanitize(&[b"a\xffb"]).await, format!("a{marker}b"));
        assert_eq!(sanitize(&[b"a\xc3"]).await, format!("a{marker}"));
        assert_eq!(sanitize(&[b"a\xc3", b"(b"]).await, format!("a{marker}(b"));
    }
}
