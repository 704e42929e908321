//! User handles for one session: [`Session`] (streams, datagrams, close, stats) and
//! the stream halves [`SendStream`] (`AsyncWrite`) and [`RecvStream`] (`AsyncRead`).
//! Each call locks the node, calls the engine, records a waker if it must wait and
//! wakes the driver; no protocol logic lives here.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use stt_proto::driver::dispatch::register;
use stt_proto::driver::{ConnectionError, SendDatagramError, StreamIoError};
use stt_proto::error::{OpenStreamError, ReadError, WriteError};
use stt_proto::frame::{Dir, ErrorCode, StreamId};
use stt_proto::session::SessionStats;
use stt_proto::{NodeId, SessionHandle};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::shared::{Remote, Shared, State};

/// Owner of one session; the session closes when the last handle to it is dropped.
pub(crate) struct SessionInner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handle: SessionHandle,
    pub(crate) peer: NodeId,
}

impl Drop for SessionInner {
    fn drop(&mut self) {
        let now = self.shared.now();
        let mut st = self.shared.lock();
        if st.dispatch.release(self.handle) {
            if let Some(mut s) = st.node.session(self.handle) {
                s.close(now, ErrorCode(0), b"");
            }
            st.drain_events(now);
            st.wake_driver();
        }
    }
}

/// The error for a session that is gone: its close reason if known.
pub(crate) fn gone(st: &State, h: SessionHandle) -> ConnectionError {
    if st.driver_done {
        return ConnectionError::NodeShutDown;
    }
    match st.dispatch.get(h) {
        Some(s) => match &s.closed {
            Some(reason) => ConnectionError::Closed(reason.clone()),
            None => ConnectionError::Closing,
        },
        None => ConnectionError::NodeShutDown,
    }
}

/// An established session with one peer. Cheap to clone.
#[derive(Clone)]
pub struct Session {
    pub(crate) inner: Arc<SessionInner>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("handle", &self.inner.handle)
            .field("peer", &self.inner.peer)
            .finish()
    }
}

impl Session {
    pub(crate) fn new(shared: Arc<Shared>, handle: SessionHandle, peer: NodeId) -> Self {
        shared.lock().dispatch.acquire(handle);
        Self {
            inner: Arc::new(SessionInner {
                shared,
                handle,
                peer,
            }),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut State, stt_proto::Instant) -> T) -> T {
        let (mut st, now) = self.inner.shared.lock_now();
        let r = f(&mut st, now);
        st.drain_events(now);
        st.wake_driver();
        r
    }

    /// The peer's authenticated node id.
    pub fn peer(&self) -> NodeId {
        self.inner.peer
    }

    /// The engine's handle of this session.
    pub fn handle(&self) -> SessionHandle {
        self.inner.handle
    }

    /// Statistics (RTT, congestion window, packets, retransmissions…), or `None`
    /// once the session is gone.
    pub fn stats(&self) -> Option<SessionStats> {
        let mut st = self.inner.shared.lock();
        st.node.session(self.inner.handle).map(|mut s| s.stats())
    }

    /// The UDP address the session currently sends to (`None` over WebSocket).
    pub fn remote_udp_addr(&self) -> Option<SocketAddr> {
        let mut st = self.inner.shared.lock();
        let path = st.node.session(self.inner.handle)?.path();
        match st.paths.addr(path) {
            Some(Remote::Udp(a)) => Some(*a),
            _ => None,
        }
    }

    /// Why the session ended, if it has.
    pub fn close_reason(&self) -> Option<ConnectionError> {
        let st = self.inner.shared.lock();
        if st
            .dispatch
            .get(self.inner.handle)
            .and_then(|s| s.closed.as_ref())
            .is_some()
            || st.driver_done
        {
            return Some(gone(&st, self.inner.handle));
        }
        None
    }

    async fn open(
        &self,
        dir: Dir,
        priority: u8,
        total_len: Option<u64>,
    ) -> Result<StreamId, ConnectionError> {
        let h = self.inner.handle;
        poll_fn(|cx| {
            self.with(|st, now| {
                let r = match st.node.session(h) {
                    Some(mut s) => s.open_stream(now, dir, priority, total_len),
                    None => return Poll::Ready(Err(gone(st, h))),
                };
                match r {
                    Ok(id) => {
                        if let Some(s) = st.dispatch.get_mut(h) {
                            let ss = s.stream(id);
                            ss.send_open = true;
                            ss.recv_open = dir == Dir::Bi;
                        }
                        Poll::Ready(Ok(id))
                    }
                    Err(OpenStreamError::Blocked) => {
                        if let Some(s) = st.dispatch.get_mut(h) {
                            register(s.open_slot(dir), cx.waker());
                        }
                        Poll::Pending
                    }
                    Err(OpenStreamError::NotConnected) => Poll::Ready(Err(gone(st, h))),
                }
            })
        })
        .await
    }

    /// Opens a bidirectional stream, waiting for stream credit if the peer's limit
    /// is reached.
    pub async fn open_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = self.open(Dir::Bi, 0, None).await?;
        Ok((self.send_stream(id), self.recv_stream(id)))
    }

    /// Opens a unidirectional stream (live mode: open-ended until finished).
    pub async fn open_uni(&self) -> Result<SendStream, ConnectionError> {
        let id = self.open(Dir::Uni, 0, None).await?;
        Ok(self.send_stream(id))
    }

    /// Opens a unidirectional stream with a priority (higher sends first) and, for
    /// bounded mode, the total length the receiver learns up front.
    pub async fn open_uni_with(
        &self,
        priority: u8,
        total_len: Option<u64>,
    ) -> Result<SendStream, ConnectionError> {
        let id = self.open(Dir::Uni, priority, total_len).await?;
        Ok(self.send_stream(id))
    }

    fn send_stream(&self, id: StreamId) -> SendStream {
        SendStream {
            session: self.inner.clone(),
            id,
            finish_sent: false,
            done: false,
        }
    }

    fn recv_stream(&self, id: StreamId) -> RecvStream {
        RecvStream {
            session: self.inner.clone(),
            id,
            eof: false,
        }
    }

    async fn accept(&self, dir: Dir) -> Result<StreamId, ConnectionError> {
        let h = self.inner.handle;
        poll_fn(|cx| {
            self.with(|st, _| {
                let Some(mut s) = st.node.session(h) else {
                    return Poll::Ready(Err(gone(st, h)));
                };
                match s.accept_stream(dir) {
                    Some(id) => {
                        if let Some(s) = st.dispatch.get_mut(h) {
                            let ss = s.stream(id);
                            ss.recv_open = true;
                            ss.send_open = dir == Dir::Bi;
                        }
                        Poll::Ready(Ok(id))
                    }
                    None => match st.dispatch.get_mut(h) {
                        Some(s) if s.closed.is_none() => {
                            register(s.accept_slot(dir), cx.waker());
                            Poll::Pending
                        }
                        _ => Poll::Ready(Err(gone(st, h))),
                    },
                }
            })
        })
        .await
    }

    /// Waits for the peer to open a bidirectional stream.
    pub async fn accept_bi(&self) -> Result<(SendStream, RecvStream), ConnectionError> {
        let id = self.accept(Dir::Bi).await?;
        Ok((self.send_stream(id), self.recv_stream(id)))
    }

    /// Waits for the peer to open a unidirectional stream.
    pub async fn accept_uni(&self) -> Result<RecvStream, ConnectionError> {
        let id = self.accept(Dir::Uni).await?;
        Ok(self.recv_stream(id))
    }

    /// Largest datagram payload [`Session::send_datagram`] accepts.
    pub fn max_datagram_size(&self) -> usize {
        let mut st = self.inner.shared.lock();
        st.node
            .session(self.inner.handle)
            .map_or(0, |mut s| s.max_datagram_size())
    }

    /// Queues an unreliable datagram (dropped, oldest first, under congestion).
    pub fn send_datagram(&self, data: Bytes) -> Result<(), SendDatagramError> {
        let h = self.inner.handle;
        self.with(|st, now| match st.node.session(h) {
            Some(mut s) => Ok(s.send_datagram(now, data)?),
            None => Err(gone(st, h).into()),
        })
    }

    /// Waits for the next datagram from the peer.
    pub async fn recv_datagram(&self) -> Result<Bytes, ConnectionError> {
        let h = self.inner.handle;
        poll_fn(|cx| {
            let (mut st, _) = self.inner.shared.lock_now();
            let Some(mut s) = st.node.session(h) else {
                return Poll::Ready(Err(gone(&st, h)));
            };
            if let Some(d) = s.recv_datagram() {
                return Poll::Ready(Ok(d));
            }
            match st.dispatch.get_mut(h) {
                Some(s) if s.closed.is_none() => {
                    register(&mut s.datagram, cx.waker());
                    Poll::Pending
                }
                _ => Poll::Ready(Err(gone(&st, h))),
            }
        })
        .await
    }

    /// Closes the session: the peer gets DISCONNECT with `code` and `reason`. Data
    /// not yet acknowledged is abandoned; finish streams and await
    /// [`SendStream::finished`] first for a clean end.
    pub fn close(&self, code: u64, reason: &[u8]) {
        let h = self.inner.handle;
        self.with(|st, now| {
            if let Some(mut s) = st.node.session(h) {
                s.close(now, ErrorCode(code), reason);
            }
        });
    }

    /// Waits until the session has ended and returns why.
    pub async fn closed(&self) -> ConnectionError {
        let h = self.inner.handle;
        poll_fn(|cx| {
            let (mut st, _) = self.inner.shared.lock_now();
            if st.driver_done {
                return Poll::Ready(ConnectionError::NodeShutDown);
            }
            match st.dispatch.get_mut(h) {
                Some(s) if s.closed.is_none() => {
                    register(&mut s.closed_waiter, cx.waker());
                    Poll::Pending
                }
                _ => Poll::Ready(gone(&st, h)),
            }
        })
        .await
    }
}

/// The sending half of a stream. Implements [`AsyncWrite`]; `shutdown` finishes the
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
            if r.is_err() {
                return Poll::Ready(Err(StreamIoError::Closed));
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

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_finish(cx).map_err(Into::into)
    }
}

/// The receiving half of a stream. Implements [`AsyncRead`]; end of stream is the
/// peer's finish. Dropping it before the end asks the peer to stop sending.
pub struct RecvStream {
    session: Arc<SessionInner>,
    id: StreamId,
    eof: bool,
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvStream").field("id", &self.id).finish()
    }
}

impl RecvStream {
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
        let h = self.session.handle;
        let (mut st, now) = self.session.shared.lock_now();
        let r = match st.node.session(h) {
            Some(mut s) => s.read(now, self.id, max),
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
        if let Some(mut s) = st.node.session(h) {
            let _ = s.stop(now, self.id, ErrorCode(code));
        }
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
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let max = buf.remaining();
        if max == 0 {
            return Poll::Ready(Ok(()));
        }
        match self.get_mut().poll_read_chunk(cx, max) {
            Poll::Ready(Ok(Some(b))) => {
                buf.put_slice(&b);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Ok(None)) => Poll::Ready(Ok(())),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Pending => Poll::Pending,
        }
    }
}
