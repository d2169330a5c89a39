//! Streaming response bodies: a producer thread writes XML into 64 KiB chunks that flow through
//! a bounded channel, so memory stays flat whatever the body size.

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::{mpsc, watch};

use crate::fault::FaultKind;
use crate::limits::ConcurrencyPermit;

/// Size at which the sink hands a chunk to the connection.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks buffered between the producer and the connection.
const CHANNEL_CHUNKS: usize = 4;

/// Pause before a simulated reset, so the bytes before it reach the socket.
const RESET_DELAY: Duration = Duration::from_millis(50);

/// Bytes inserted by the [`FaultKind::InvalidUtf8`] fault.
pub(crate) const INVALID_UTF8_BYTES: &[u8] = b"\xff\xfe\xc3(";
/// Bytes inserted by the [`FaultKind::ControlCharacters`] fault.
pub(crate) const CONTROL_BYTES: &[u8] = b"\x01\x08\x0b\x1b";

/// Elements after whose start tag the corrupting faults insert their bytes, most specific first,
/// so the damage lands in a record's text.
const CORRUPTION_MARKERS: [&[u8]; 6] = [
    b"<DNS><![CDATA[",
    b"<TITLE><![CDATA[",
    b"<name><![CDATA[",
    b"<name>",
    b"<DATETIME>",
    b"<WEB-VERSION>",
];

/// What travels from the producer to the connection.
#[derive(Debug)]
pub(crate) enum Piece {
    Data(Bytes),
    Stall(Duration),
    Reset,
}

/// The client went away, or a fault ended the body; the producer stops.
#[derive(Debug)]
pub(crate) struct Closed;

/// Writes a body XML piece by piece; the producer calls [`ChunkSink::boundary`] between
/// records so chunks never split a record's start tags.
pub(crate) struct ChunkSink {
    buf: Vec<u8>,
    tx: mpsc::Sender<Piece>,
    fault: Option<FaultKind>,
    chunks_sent: u32,
}

impl ChunkSink {
    fn new(tx: mpsc::Sender<Piece>, fault: Option<FaultKind>) -> Self {
        Self {
            buf: Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 4),
            tx,
            fault,
            chunks_sent: 0,
        }
    }

    /// The buffer to append XML to.
    pub(crate) fn out(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// Hands the buffer over once it contains a full chunk.
    pub(crate) fn boundary(&mut self) -> Result<(), Closed> {
        if self.buf.len() >= CHUNK_BYTES {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Appends a large text in chunk-sized slices.
    pub(crate) fn write_large(&mut self, mut text: &[u8]) -> Result<(), Closed> {
        while !text.is_empty() {
            let room = CHUNK_BYTES.saturating_sub(self.buf.len()).max(1);
            let (head, tail) = text.split_at(room.min(text.len()));
            self.buf.extend_from_slice(head);
            self.boundary()?;
            text = tail;
        }
        Ok(())
    }

    /// Sends what remains; a cutting fault still armed cuts this last chunk.
    pub(crate) fn finish(mut self) -> Result<(), Closed> {
        if self.buf.is_empty() {
            return Ok(());
        }
        // The last chunk is the first or second one: a cutting fault not yet applied cuts it.
        let cut_here = self.chunks_sent <= 1;
        self.flush_with(cut_here)
    }

    fn flush(&mut self) -> Result<(), Closed> {
        // Cutting faults cut the second chunk, so the client has already parsed a first part.
        self.flush_with(self.chunks_sent == 1)
    }

    fn flush_with(&mut self, cut_here: bool) -> Result<(), Closed> {
        let mut data = std::mem::take(&mut self.buf);
        self.buf.reserve(CHUNK_BYTES + CHUNK_BYTES / 4);
        self.corrupt(&mut data);
        self.chunks_sent += 1;
        match self.fault {
            Some(
                kind @ (FaultKind::ResetMidBody
                | FaultKind::TruncatedXml
                | FaultKind::StallMidBody { .. }),
            ) if cut_here => {
                self.fault = None;
                self.cut(data, kind)
            }
            _ => self.send(Piece::Data(Bytes::from(data))),
        }
    }

    fn cut(&mut self, mut data: Vec<u8>, kind: FaultKind) -> Result<(), Closed> {
        let tail = data.split_off(data.len() / 2);
        self.send(Piece::Data(Bytes::from(data)))?;
        match kind {
            FaultKind::StallMidBody { secs } => {
                self.send(Piece::Stall(Duration::from_secs(secs)))?;
                self.send(Piece::Data(Bytes::from(tail)))
            }
            FaultKind::ResetMidBody => {
                self.send(Piece::Reset)?;
                Err(Closed)
            }
            _ => Err(Closed),
        }
    }

    fn corrupt(&mut self, data: &mut Vec<u8>) {
        let insert = match self.fault {
            Some(FaultKind::InvalidUtf8) => INVALID_UTF8_BYTES,
            Some(FaultKind::ControlCharacters) => CONTROL_BYTES,
            _ => return,
        };
        let position = CORRUPTION_MARKERS
            .iter()
            .find_map(|marker| find(data, marker).map(|at| at + marker.len()));
        if let Some(at) = position {
            data.splice(at..at, insert.iter().copied());
            self.fault = None;
        }
    }

    fn send(&mut self, piece: Piece) -> Result<(), Closed> {
        self.tx.blocking_send(piece).map_err(|_| Closed)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// A body producer, run on a blocking thread.
pub(crate) type Producer = Box<dyn FnOnce(&mut ChunkSink) -> Result<(), Closed> + Send>;

/// Starts `producer` on a blocking thread and returns the body that streams its output.
/// The concurrency permit is released when the body is finished or dropped.
pub(crate) fn stream_body(
    producer: Producer,
    fault: Option<FaultKind>,
    permit: Option<ConcurrencyPermit>,
    shutdown: watch::Receiver<bool>,
) -> Body {
    let (tx, rx) = mpsc::channel(CHANNEL_CHUNKS);
    tokio::task::spawn_blocking(move || {
        let mut sink = ChunkSink::new(tx, fault);
        if producer(&mut sink).is_ok() {
            // An error here means the client left; there is no one to report it to.
            let _ = sink.finish();
        }
    });
    let state = BodyState {
        rx,
        _permit: permit,
        shutdown,
    };
    Body::from_stream(futures_util::stream::unfold(state, next_piece))
}

struct BodyState {
    rx: mpsc::Receiver<Piece>,
    _permit: Option<ConcurrencyPermit>,
    shutdown: watch::Receiver<bool>,
}

async fn next_piece(mut state: BodyState) -> Option<(Result<Bytes, std::io::Error>, BodyState)> {
    loop {
        match state.rx.recv().await? {
            Piece::Data(bytes) => return Some((Ok(bytes), state)),
            Piece::Stall(duration) => {
                // Ends early on shutdown, so a stalled body never blocks stopping the server.
                tokio::select! {
                    () = tokio::time::sleep(duration) => {}
                    _ = state.shutdown.wait_for(|stopped| *stopped) => return None,
                }
            }
            Piece::Reset => {
                // Hyper drops bytes still in its write buffer when the body fails, so give it
                // time to write the first part before the connection is aborted.
                tokio::time::sleep(RESET_DELAY).await;
                let error = std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "simulated connection reset",
                );
                return Some((Err(error), state));
            }
        }
    }
}
