//! The two halves of a stream, runtime-free: [`SendStream`] and [`RecvStream`], with
//! `futures-io`'s `AsyncWrite`/`AsyncRead`. A runtime whose users expect other IO
//! traits wraps them (see [`crate::Runtime::SendStream`]). Each call locks the node,
//! calls the engine, records a waker if it must wait and wakes the driver. A read
//! takes up to [`READ_AHEAD`] bytes more than it returns, so the reads after it are
//! served without the lock until they run out.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::StreamIoError;
use crate::state::dispatch::register;
use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use stt_proto::error::{ReadError, StreamError, WriteError};
use stt_proto::frame::{ErrorCode, StreamId};
use stt_proto::{SessionHandle, SessionRef};

use crate::session::{SessionInner, gone};
use crate::shared::State;

/// The sending half of a stream. Implements [`AsyncWrite`]; `close` finishes the
/// stream and completes once the peer acknowledged every byte. Dropping it without
/// finishing finishes it implicitly.
pub struct SendStream {
    session: Arc<SessionInner>,
    id: StreamId,
    finish_sent: bool,
    done: bool,
}

impl std::fmt::Debug for SendStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendStream").field("id", &self.id).finish()
    }
}

fn write_error(st: &State, h: SessionHandle, e: WriteError) -> StreamIoError {
    match e {
        WriteError::Stopped(c) => StreamIoError::Stopped(c),
        WriteError::Closed => StreamIoError::Closed,
        WriteError::TooLong => StreamIoError::TooLong,
        WriteError::SessionClosed | WriteError::Blocked => StreamIoError::Session(gone(st, h)),
    }
}

impl SendStream {
    pub(crate) fn new(session: Arc<SessionInner>, id: StreamId) -> Self {
        Self {
            session,
            id,
            finish_sent: false,
            done: false,
        }
    }

    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Writes some bytes, waiting for room; returns how many were taken.
    pub fn poll_write_some(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<Result<usize, StreamIoError>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let h = self.session.handle;
        let (mut st, now) = self.session.shared.lock_now();
        let r = match st.node.session(h) {
            Some(mut s) => s.write(now, self.id, buf),
            None => return Poll::Ready(Err(StreamIoError::Session(gone(&st, h)))),
        };
        st.drain_events(now);
        let out = match r {
            Ok(0) | Err(WriteError::Blocked) => {
                if let Some(s) = st.dispatch.get_mut(h) {
                    if let Some(code) = s.stream(self.id).stopped {
                        return Poll::Ready(Err(StreamIoError::Stopped(code)));
                    }
                    register(&mut s.stream(self.id).write, cx.waker());
                }
                Poll::Pending
            }
            Ok(n) => Poll::Ready(Ok(n)),
            Err(e) => Poll::Ready(Err(write_error(&st, h, e))),
        };
        st.wake_driver();
        out
    }

    /// Writes all of `data`.
    pub async fn write_all(&mut self, mut data: &[u8]) -> Result<(), StreamIoError> {
        while !data.is_empty() {
            let n = poll_fn(|cx| self.poll_write_some(cx, data)).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Finishes the stream and waits until the peer acknowledged everything.
    pub fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), StreamIoError>> {
        let h = self.session.handle;
        let (mut st, now) = self.session.shared.lock_now();
        if !self.finish_sent {
            let r = match st.node.session(h) {
                Some(mut s) => s.finish(now, self.id),
                None => return Poll::Ready(Err(StreamIoError::Session(gone(&st, h)))),
            };
            if let Err(e) = r {
                return Poll::Ready(Err(match e {
                    // The session ended first: say why, not just "stream closed".
                    StreamError::SessionClosed => StreamIoError::Session(gone(&st, h)),
                    _ => StreamIoError::Closed,
                }));
            }
            self.finish_sent = true;
            if let Some(s) = st.dispatch.get_mut(h) {
                s.stream(self.id).finishing = true;
            }
            st.drain_events(now);
            st.wake_driver();
        }
        let Some(s) = st.dispatch.get_mut(h) else {
            return Poll::Ready(Err(StreamIoError::Session(gone(&st, h))));
        };
        if s.closed.is_some() {
            return Poll::Ready(Err(StreamIoError::Session(gone(&st, h))));
        }
        let ss = s.stream(self.id);
        if ss.finished {
            self.done = true;
            return Poll::Ready(Ok(()));
        }
        if let Some(code) = ss.stopped {
            return Poll::Ready(Err(StreamIoError::Stopped(code)));
        }
        register(&mut ss.write, cx.waker());
        Poll::Pending
    }

    /// Finishes the stream and waits until the peer acknowledged every byte.
    pub async fn finished(&mut self) -> Result<(), StreamIoError> {
        poll_fn(|cx| self.poll_finish(cx)).await
    }

    /// Abandons the stream with an application error code.
    pub fn reset(&mut self, code: u64) {
        let h = self.session.handle;
        let (mut st, now) = self.session.shared.lock_now();
        if let Some(mut s) = st.node.session(h) {
            let _ = s.reset(now, self.id, ErrorCode(code));
        }
        self.done = true;
        st.drain_events(now);
        st.wake_driver();
    }
}

impl Drop for SendStream {
    fn drop(&mut self) {
        let h = self.session.handle;
        let (mut st, now) = self.session.shared.lock_now();
        if !self.finish_sent
            && !self.done
            && let Some(mut s) = st.node.session(h)
        {
            let _ = s.finish(now, self.id);
        }
        if let Some(s) = st.dispatch.get_mut(h) {
            s.release_stream(self.id, true);
        }
        st.drain_events(now);
        st.wake_driver();
    }
}

impl AsyncWrite for SendStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.get_mut().poll_write_some(cx, buf).map_err(Into::into)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_finish(cx).map_err(Into::into)
    }
}

/// Bytes a read takes from the engine at once, beyond its first chunk: one lock then
/// serves a run of reads (a 64 KiB message is about 47 chunks) instead of each taking
/// the node's lock, draining events and waking the driver. Bounds what a stream holds
/// outside the engine's receive window.
pub(crate) const READ_AHEAD: usize = 64 << 10;

/// The receiving half of a stream. Implements [`AsyncRead`]; end of stream is the
/// peer's finish. Dropping it before the end asks the peer to stop sending.
pub struct RecvStream {
    session: Arc<SessionInner>,
    id: StreamId,
    eof: bool,
    /// Chunks taken from the engine and not yet returned, in order.
    ahead: VecDeque<Bytes>,
    /// How the engine's stream ended while taking `ahead`, reported once it is empty:
    /// `None` the peer's finish, `Some(code)` its reset.
    ended: Option<Option<ErrorCode>>,
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream").field("id", &self.id).finish()
    }
}

/// The first `max` bytes of `chunk`; the rest goes back to the front of `ahead`.
fn cut(ahead: &mut VecDeque<Bytes>, mut chunk: Bytes, max: usize) -> Bytes {
    if chunk.len() > max {
        ahead.push_front(chunk.split_off(max));
    }
    chunk
}

/// Takes what the engine holds ready for stream `id` after a first chunk, up to
/// [`READ_AHEAD`] bytes, into `ahead`; returns how the stream ended if that was met on
/// the way (`Some(None)` finished, `Some(Some(code))` reset). An error other than a
/// reset is left for the next read to meet again.
fn read_ahead(
    s: &mut SessionRef<'_>,
    now: stt_proto::Instant,
    id: StreamId,
    ahead: &mut VecDeque<Bytes>,
) -> Option<Option<ErrorCode>> {
    let mut room = READ_AHEAD;
    while room > 0 {
        match s.read(now, id, room) {
            Ok(Some(b)) => {
                room = room.saturating_sub(b.len());
                ahead.push_back(b);
            }
            Ok(None) | Err(ReadError::Closed) => return Some(None),
            Err(ReadError::Reset(code)) => return Some(Some(code)),
            Err(ReadError::Blocked | ReadError::SessionClosed) => return None,
        }
    }
    None
}

impl RecvStream {
    pub(crate) fn new(session: Arc<SessionInner>, id: StreamId) -> Self {
        Self {
            session,
            id,
            eof: false,
            ahead: VecDeque::new(),
            ended: None,
        }
    }

    /// The stream id.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Reads the next chunk of at most `max` bytes; `None` at the end of the stream.
    pub fn poll_read_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<Result<Option<Bytes>, StreamIoError>> {
        if self.eof {
            return Poll::Ready(Ok(None));
        }
        if max == 0 {
            // Nothing asked for is not the end of the stream.
            return Poll::Ready(Ok(Some(Bytes::new())));
        }
        if let Some(chunk) = self.ahead.pop_front() {
            return Poll::Ready(Ok(Some(cut(&mut self.ahead, chunk, max))));
        }
        match self.ended {
            Some(None) => {
                self.eof = true;
                return Poll::Ready(Ok(None));
            }
            Some(Some(code)) => {
                self.eof = true;
                return Poll::Ready(Err(StreamIoError::Reset(code)));
            }
            None => {}
        }
        let h = self.session.handle;
        let (mut st, now) = self.session.shared.lock_now();
        let r = match st.node.session(h) {
            Some(mut s) => {
                let r = s.read(now, self.id, max);
                if let Ok(Some(_)) = &r {
                    self.ended = read_ahead(&mut s, now, self.id, &mut self.ahead);
                }
                r
            }
            None => return Poll::Ready(Err(StreamIoError::Session(gone(&st, h)))),
        };
        st.drain_events(now);
        let out = match r {
            Ok(Some(b)) => Poll::Ready(Ok(Some(b))),
            Ok(None) | Err(ReadError::Closed) => {
                self.eof = true;
                Poll::Ready(Ok(None))
            }
            Err(ReadError::Blocked) => {
                if let Some(s) = st.dispatch.get_mut(h) {
                    register(&mut s.stream(self.id).read, cx.waker());
                }
                Poll::Pending
            }
            Err(ReadError::Reset(code)) => Poll::Ready(Err(StreamIoError::Reset(code))),
            Err(ReadError::SessionClosed) => Poll::Ready(Err(StreamIoError::Session(gone(&st, h)))),
        };
        st.wake_driver();
        out
    }

    /// Reads the next chunk; `None` at the end of the stream.
    pub async fn read_chunk(&mut self, max: usize) -> Result<Option<Bytes>, StreamIoError> {
        poll_fn(|cx| self.poll_read_chunk(cx, max)).await
    }

    /// Reads everything up to the end of the stream, failing past `limit` bytes.
    pub async fn read_to_vec(&mut self, limit: usize) -> Result<Vec<u8>, StreamIoError> {
        let mut out = Vec::new();
        while let Some(b) = self.read_chunk(usize::MAX).await? {
            if out.len() + b.len() > limit {
                return Err(StreamIoError::TooLong);
            }
            out.extend_from_slice(&b);
        }
        Ok(out)
    }

    /// Asks the peer to stop sending, with an application error code.
    pub fn stop(&mut self, code: u64) {
        let h = self.session.handle;
        let (mut st, now) = self.session.shared.lock_now();
        if self.ended.is_none()
            && let Some(mut s) = st.node.session(h)
        {
            let _ = s.stop(now, self.id, ErrorCode(code));
        }
        self.ahead.clear();
        self.eof = true;
        st.drain_events(now);
        st.wake_driver();
    }
}

impl Drop for RecvStream {
    fn drop(&mut self) {
        if !self.eof {
            self.stop(0);
        }
        let mut st = self.session.shared.lock();
        if let Some(s) = st.dispatch.get_mut(self.session.handle) {
            s.release_stream(self.id, false);
        }
    }
}

impl AsyncRead for RecvStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.get_mut()
            .poll_read_chunk(cx, buf.len())
            .map_ok(|chunk| {
                let chunk = chunk.unwrap_or_default();
                buf[..chunk.len()].copy_from_slice(&chunk);
                chunk.len()
            })
            .map_err(Into::into)
    }
}
