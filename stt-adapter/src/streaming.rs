//! Live and bounded streaming modes in the async adapters (semantics in
//! docs/PRIMITIVES.md):
//!
//! * **bounded** — [`Session::send_bytes`] / [`Session::send_reader`] with a known
//!   length: the receiver learns the total up front ([`Session::recv_progress`]) and
//!   the engine refuses a stream that ends short or runs long;
//! * **live** — [`Session::send_reader`] without a length: open-ended until finished;
//! * **live, freshest first** — [`LiveSender`] / [`LiveReceiver`]: each segment (a
//!   video frame) is its own stream with a deadline; a segment not delivered by then
//!   is dropped (reset with `STREAM_EXPIRED`) instead of stalling the ones after it.
//!
//! `segment_size` is how much the sender reads from its source and writes at once,
//! and the most a receiver's `read_chunk` yields; packets are cut to the path MTU
//! independently. Built on the session's own stream calls; no protocol logic here.

use std::time::Duration;

use crate::error::{ConnectionError, StreamIoError};
use bytes::Bytes;
use futures_io::AsyncRead;
use stt_proto::frame::{Dir, ErrorCode, StreamId};

use crate::access::with;
use crate::runtime::Runtime;
use crate::session::Session;
use crate::stream::{RecvStream, SendStream};

/// Default segment size of [`Session::send_reader`]: 64 KiB.
pub const DEFAULT_SEGMENT_SIZE: usize = 64 * 1024;

/// Why a send helper failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The stream failed (reset, stopped, session gone).
    #[error(transparent)]
    Stream(#[from] StreamIoError),
    /// Reading the source failed; the stream was reset.
    #[error("reading the source: {0}")]
    Source(std::io::Error),
    /// Bounded mode: the source gave another length than announced; the stream was
    /// reset and the receiver sees the reset, never a short object.
    #[error("announced {announced} bytes, the source had {got}")]
    LengthMismatch {
        /// The announced total.
        announced: u64,
        /// What the source gave (at least this much).
        got: u64,
    },
}

impl From<ConnectionError> for SendError {
    fn from(e: ConnectionError) -> Self {
        Self::Stream(StreamIoError::Session(e))
    }
}

/// Application error code a send helper resets a stream with when its source fails.
pub const SOURCE_FAILED: u64 = ErrorCode::APPLICATION_MIN;

/// Fills `buf` from `r` as far as the source goes; returns the bytes read.
async fn fill<Rd: AsyncRead + Unpin>(r: &mut Rd, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let m = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *r).poll_read(cx, &mut buf[n..]))
            .await?;
        if m == 0 {
            break;
        }
        n += m;
    }
    Ok(n)
}

impl<R: Runtime> Session<R> {
    /// A new unidirectional stream as the adapter's own send half.
    async fn open_send(
        &self,
        priority: u8,
        total: Option<u64>,
    ) -> Result<SendStream, ConnectionError> {
        let id = self.open(Dir::Uni, priority, total).await?;
        Ok(SendStream::new(self.inner.clone(), id))
    }

    /// Bounded mode: sends `data` on a new unidirectional stream that announces its
    /// length, and waits until the peer has acknowledged every byte.
    pub async fn send_bytes(&self, data: Bytes) -> Result<(), SendError> {
        let mut s = self.open_send(0, Some(data.len() as u64)).await?;
        s.write_all(&data).await?;
        s.finished().await?;
        Ok(())
    }

    /// Sends everything `reader` yields on a new unidirectional stream, `segment_size`
    /// bytes at a time. With `total` the stream is bounded (the receiver sees the
    /// length up front; a source of another length resets the stream); without, it is
    /// live. Returns the bytes sent once the peer acknowledged them all. The reader is
    /// a `futures-io` one (tokio users wrap theirs with `stt_tokio::compat_reader`).
    pub async fn send_reader<Rd: AsyncRead + Unpin>(
        &self,
        mut reader: Rd,
        total: Option<u64>,
        segment_size: usize,
    ) -> Result<u64, SendError> {
        let mut s = self.open_send(0, total).await?;
        let mut buf = vec![0u8; segment_size.max(1)];
        let mut sent = 0u64;
        loop {
            let n = match fill(&mut reader, &mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    s.reset(SOURCE_FAILED);
                    return Err(SendError::Source(e));
                }
            };
            if n == 0 {
                break;
            }
            if let Some(t) = total
                && sent + n as u64 > t
            {
                s.reset(SOURCE_FAILED);
                return Err(SendError::LengthMismatch {
                    announced: t,
                    got: sent + n as u64,
                });
            }
            s.write_all(&buf[..n]).await?;
            sent += n as u64;
        }
        if let Some(t) = total
            && sent != t
        {
            s.reset(SOURCE_FAILED);
            return Err(SendError::LengthMismatch {
                announced: t,
                got: sent,
            });
        }
        s.finished().await?;
        Ok(sent)
    }

    /// A receiving stream's progress (by its id): bytes read so far and, in bounded
    /// mode, the announced total.
    pub fn recv_progress(&self, stream: StreamId) -> Option<(u64, Option<u64>)> {
        let mut st = self.inner.shared.lock();
        st.node.session(self.inner.handle)?.recv_progress(stream)
    }

    /// A sender of live segments, each dropped if not delivered within `deadline`.
    pub fn live_sender(&self, deadline: Duration) -> LiveSender<R> {
        LiveSender {
            session: self.clone(),
            deadline,
            priority: 0,
            next_seq: 0,
        }
    }

    /// The receiving side of a peer's [`LiveSender`] on this session (it takes every
    /// unidirectional stream the peer opens).
    pub fn live_receiver(&self, max_segment: usize) -> LiveReceiver<R> {
        LiveReceiver {
            session: self.clone(),
            max_segment,
            skipped: 0,
        }
    }
}

/// Length of a live segment's header: its sequence number.
const SEGMENT_HEADER: usize = 8;

/// Sends live segments, freshest first: each on its own stream with a deadline.
#[derive(Debug)]
pub struct LiveSender<R: Runtime> {
    session: Session<R>,
    deadline: Duration,
    priority: u8,
    next_seq: u64,
}

impl<R: Runtime> LiveSender<R> {
    /// Sets the priority of later segments' streams (higher sends first).
    pub fn set_priority(&mut self, priority: u8) {
        self.priority = priority;
    }

    /// Queues one segment and returns its sequence number without waiting for
    /// delivery. If it is not delivered within the deadline it is dropped: the peer's
    /// [`LiveReceiver`] skips it. Waits only for stream credit and buffer room.
    pub async fn send_segment(&mut self, data: Bytes) -> Result<u64, SendError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let total = (SEGMENT_HEADER + data.len()) as u64;
        let mut s = self.session.open_send(self.priority, Some(total)).await?;
        let (shared, h, id) = (
            &self.session.inner.shared,
            self.session.inner.handle,
            s.id(),
        );
        let deadline = self.deadline;
        with(shared, |st, now| {
            if let Some(mut session) = st.node.session(h) {
                let _ = session.set_deadline(now, id, now + deadline);
            }
        });
        let expired = StreamIoError::Stopped(ErrorCode::STREAM_EXPIRED);
        for part in [&seq.to_be_bytes()[..], &data[..]] {
            match s.write_all(part).await {
                Ok(()) => {}
                // Dropped at its deadline while waiting for room: that is the point.
                Err(e) if e == expired => return Ok(seq),
                Err(e) => return Err(e.into()),
            }
        }
        // Dropping the stream finishes it; delivery (or expiry) goes on without us.
        drop(s);
        Ok(seq)
    }
}

/// One received live segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// The sender's sequence number (gaps are segments dropped at their deadline).
    pub seq: u64,
    /// The segment's bytes.
    pub data: Bytes,
}

/// Receives live segments in order, skipping those the sender dropped.
#[derive(Debug)]
pub struct LiveReceiver<R: Runtime> {
    session: Session<R>,
    max_segment: usize,
    skipped: u64,
}

impl<R: Runtime> LiveReceiver<R> {
    /// Segments dropped by the sender at their deadline so far.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }

    /// The next segment; waits at most until the sender delivers or drops it.
    pub async fn next_segment(&mut self) -> Result<Segment, StreamIoError> {
        loop {
            let id = self.session.accept(Dir::Uni).await?;
            let mut r = RecvStream::new(self.session.inner.clone(), id);
            match r.read_to_vec(SEGMENT_HEADER + self.max_segment).await {
                Ok(buf) if buf.len() >= SEGMENT_HEADER => {
                    let mut seq = [0u8; SEGMENT_HEADER];
                    seq.copy_from_slice(&buf[..SEGMENT_HEADER]);
                    let data = Bytes::from(buf).slice(SEGMENT_HEADER..);
                    return Ok(Segment {
                        seq: u64::from_be_bytes(seq),
                        data,
                    });
                }
                Ok(_) => return Err(StreamIoError::Closed),
                Err(StreamIoError::Reset(ErrorCode::STREAM_EXPIRED)) => self.skipped += 1,
                Err(e) => return Err(e),
            }
        }
    }
}
