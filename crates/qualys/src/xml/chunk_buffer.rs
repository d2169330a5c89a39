//! A body reader that can hold back several chunks, so that one whole record
//! is available as a contiguous slice, while the event reader keeps reading
//! the same bytes in order.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, ReadBuf};

/// Serves the held-back bytes first and then the inner reader's chunks as they are.
pub(crate) struct ChunkBuffer<R> {
    inner: R,
    /// Bytes taken from `inner` and not yet consumed, from `start` on.
    bytes: Vec<u8>,
    start: usize,
}

impl<R: AsyncBufRead + Unpin> ChunkBuffer<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self {
            inner,
            bytes: Vec::new(),
            start: 0,
        }
    }

    /// Bytes held back and not yet consumed.
    pub(crate) fn held_bytes(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Capacity of the held-bytes buffer.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Drops the first `amount` held bytes, which the caller has read from [`Self::held_bytes`].
    pub(crate) fn discard(&mut self, amount: usize) {
        self.start = (self.start + amount).min(self.bytes.len());
        if self.start == self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        }
    }

    /// Appends the next chunk of the body to the held bytes; returns false at the end of the body.
    pub(crate) async fn hold_more(&mut self) -> io::Result<bool> {
        if self.start > 0 {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        let chunk = self.inner.fill_buf().await?;
        let read = chunk.len();
        if read == 0 {
            return Ok(false);
        }
        self.bytes.extend_from_slice(chunk);
        self.inner.consume(read);
        Ok(true)
    }
}

impl<R: AsyncBufRead + Unpin> AsyncBufRead for ChunkBuffer<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.start < this.bytes.len() {
            return Poll::Ready(Ok(&this.bytes[this.start..]));
        }
        Pin::new(&mut this.inner).poll_fill_buf(cx)
    }

    fn consume(self: Pin<&mut Self>, amount: usize) {
        let this = self.get_mut();
        // A reader consumes at most what the last fill returned, so the amount
        // never spans the held bytes and the inner chunk.
        if this.start < this.bytes.len() {
            this.discard(amount);
        } else {
            Pin::new(&mut this.inner).consume(amount);
        }
    }
}

impl<R: AsyncBufRead + Unpin> AsyncRead for ChunkBuffer<R> {
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
    use super::*;

    async fn read_rest<R: AsyncBufRead + Unpin>(buffer: &mut ChunkBuffer<R>) -> Vec<u8> {
        let mut rest = Vec::new();
        loop {
            let chunk = buffer.fill_buf().await.unwrap();
            if chunk.is_empty() {
                return rest;
            }
            rest.extend_from_slice(chunk);
            let read = chunk.len();
            buffer.consume(read);
        }
    }

    #[tokio::test]
    async fn held_bytes_served_before_inner_chunks() {
        let body = b"abcdefghij";
        let inner = tokio::io::BufReader::with_capacity(3, &body[..]);
        let mut buffer = ChunkBuffer::new(inner);
        assert!(buffer.hold_more().await.unwrap());
        assert!(buffer.hold_more().await.unwrap());
        assert_eq!(buffer.held_bytes(), b"abcdef");
        buffer.discard(2);
        assert!(buffer.hold_more().await.unwrap());
        assert_eq!(buffer.held_bytes(), b"cdefghi");

        assert_eq!(read_rest(&mut buffer).await, b"cdefghij");
        assert!(!buffer.hold_more().await.unwrap());
    }
}
