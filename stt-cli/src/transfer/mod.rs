//! `stt send` and `stt listen`: a file or a directory tree, confirmed by the receiver
//! only once it is written, synced, checked by SHA3-256 and renamed into place; an
//! interrupted transfer resumes from what the receiver holds. The protocol is in
//! `wire` (docs/PRIMITIVES.md §7); this module holds the stream plumbing both sides
//! share.

pub mod disk;
pub mod hash;
pub mod receive;
pub mod send;
pub mod tree;
pub mod wire;

use bytes::Bytes;
use stt_tokio::{RecvStream, SendStream, StreamIoError};

use crate::error::{CliError, Side};
use wire::Message;

/// A stream error as the user should read it: a session the peer closed carries the
/// peer's reason.
pub fn stream_error(e: StreamIoError, peer: Side) -> CliError {
    match e {
        StreamIoError::Session(c) => CliError::from_connection(c, peer),
        StreamIoError::Reset(code) => {
            CliError::Protocol(format!("{peer} abandoned the stream ({code})"))
        }
        StreamIoError::Stopped(code) => {
            CliError::Protocol(format!("{peer} stopped reading the stream ({code})"))
        }
        other => CliError::Other(other.to_string()),
    }
}

/// Reads a stream in pieces of any size the caller asks for.
pub struct ChunkReader {
    stream: RecvStream,
    pending: Bytes,
    peer: Side,
}

impl ChunkReader {
    /// Wraps a receive stream whose far end is `peer`.
    pub fn new(stream: RecvStream, peer: Side) -> Self {
        Self {
            stream,
            pending: Bytes::new(),
            peer,
        }
    }

    /// The next piece of at most `max` bytes; `None` at the end of the stream.
    pub async fn take(&mut self, max: usize) -> Result<Option<Bytes>, CliError> {
        while self.pending.is_empty() {
            match self.stream.read_chunk(usize::MAX).await {
                Ok(Some(b)) => self.pending = b,
                Ok(None) => return Ok(None),
                Err(e) => return Err(stream_error(e, self.peer)),
            }
        }
        let n = max.min(self.pending.len());
        Ok(Some(self.pending.split_to(n)))
    }

    /// Fills `out` exactly; the end of the stream first is a protocol error.
    pub async fn read_exact(&mut self, out: &mut [u8], what: &str) -> Result<(), CliError> {
        let mut at = 0;
        while at < out.len() {
            match self.take(out.len() - at).await? {
                Some(b) if !b.is_empty() => {
                    out[at..at + b.len()].copy_from_slice(&b);
                    at += b.len();
                }
                _ => {
                    return Err(CliError::Protocol(format!(
                        "{} ended the stream in the middle of {what}",
                        self.peer
                    )));
                }
            }
        }
        Ok(())
    }

    /// True once the stream has ended (nothing left to read).
    pub async fn at_end(&mut self) -> Result<bool, CliError> {
        Ok(self.take(0).await?.is_none())
    }
}

/// The control stream: length-prefixed JSON messages both ways.
pub struct Control {
    send: SendStream,
    recv: ChunkReader,
    peer: Side,
}

impl Control {
    /// Wraps the bidirectional control stream; `peer` is the far end.
    pub fn new(send: SendStream, recv: RecvStream, peer: Side) -> Self {
        Self {
            send,
            recv: ChunkReader::new(recv, peer),
            peer,
        }
    }

    /// Sends one message.
    pub async fn write(&mut self, m: &Message) -> Result<(), CliError> {
        self.send
            .write_all(&wire::encode(m))
            .await
            .map_err(|e| stream_error(e, self.peer))
    }

    /// Finishes our half and waits until the peer has every byte of it.
    pub async fn finish(&mut self) -> Result<(), CliError> {
        self.send
            .finished()
            .await
            .map_err(|e| stream_error(e, self.peer))
    }

    /// Reads one message.
    pub async fn read(&mut self) -> Result<Message, CliError> {
        let mut prefix = [0u8; 4];
        self.recv
            .read_exact(&mut prefix, "a control message")
            .await?;
        let len = wire::body_len(prefix).map_err(|e| CliError::Protocol(e.to_string()))?;
        let mut body = vec![0u8; len];
        self.recv.read_exact(&mut body, "a control message").await?;
        wire::decode(&body).map_err(|e| CliError::Protocol(e.to_string()))
    }
}
