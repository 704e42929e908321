//! The user handle for one session: [`Session`] (streams, datagrams, close, stats).
//! Each call locks the node, calls the engine, records a waker if it must wait and
//! wakes the driver; no protocol logic lives here, and no runtime: the futures only
//! need wakers, so they run on any executor.

use std::future::poll_fn;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;

use crate::error::{ConnectionError, SendDatagramError};
use crate::state::dispatch::register;
use bytes::Bytes;
use stt_proto::SessionStats;
use stt_proto::error::OpenStreamError;
use stt_proto::frame::{Dir, ErrorCode, StreamId};
use stt_proto::{NodeId, SessionHandle};

use crate::runtime::Runtime;
use crate::shared::{Remote, Shared, State};
use crate::stream::{RecvStream, SendStream};

/// Owner of one session; the session closes when the last handle to it is dropped.
pub(crate) struct SessionInner {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handle: SessionHandle,
    pub(crate) peer: NodeId,
    /// The handshake was hybrid (X25519 + ML-KEM-768; PROTOCOL.md §5.7.10).
    pub(crate) hybrid: bool,
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
            // Still draining: the engine already knows why (a peer's DISCONNECT…).
            None => match st.node.close_reason(h) {
                Some(reason) => ConnectionError::Closed(reason),
                None => ConnectionError::Closing,
            },
        },
        None => ConnectionError::NodeShutDown,
    }
}

/// An established session with one peer. Cheap to clone. `R` is the runtime whose
/// stream types [`Session::open_bi`] and friends hand out.
pub struct Session<R: Runtime> {
    pub(crate) inner: Arc<SessionInner>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> Clone for Session<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            runtime: PhantomData,
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Session<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("handle", &self.inner.handle)
            .field("peer", &self.inner.peer)
            .finish()
    }
}

impl<R: Runtime> Session<R> {
    pub(crate) fn new(shared: Arc<Shared>, handle: SessionHandle, peer: NodeId) -> Self {
        let hybrid = {
            let mut st = shared.lock();
            st.dispatch.acquire(handle);
            st.node.session(handle).is_some_and(|mut s| s.is_hybrid())
        };
        Self {
            inner: Arc::new(SessionInner {
                shared,
                handle,
                peer,
                hybrid,
            }),
            runtime: PhantomData,
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

    /// Whether the session's handshake was the post-quantum hybrid one (X25519 +
    /// ML-KEM-768, `NodeConfig::pq`); false for the classic X25519 handshake.
    pub fn is_hybrid(&self) -> bool {
        self.inner.hybrid
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

    pub(crate) async fn open(
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
    pub async fn open_bi(&self) -> Result<(R::SendStream, R::RecvStream), ConnectionError> {
        let id = self.open(Dir::Bi, 0, None).await?;
        Ok((self.send_stream(id), self.recv_stream(id)))
    }

    /// Opens a unidirectional stream (live mode: open-ended until finished).
    pub async fn open_uni(&self) -> Result<R::SendStream, ConnectionError> {
        let id = self.open(Dir::Uni, 0, None).await?;
        Ok(self.send_stream(id))
    }

    /// Opens a unidirectional stream with a priority (higher sends first) and, for
    /// bounded mode, the total length the receiver learns up front.
    pub async fn open_uni_with(
        &self,
        priority: u8,
        total_len: Option<u64>,
    ) -> Result<R::SendStream, ConnectionError> {
        let id = self.open(Dir::Uni, priority, total_len).await?;
        Ok(self.send_stream(id))
    }

    fn send_stream(&self, id: StreamId) -> R::SendStream {
        SendStream::new(self.inner.clone(), id).into()
    }

    fn recv_stream(&self, id: StreamId) -> R::RecvStream {
        RecvStream::new(self.inner.clone(), id).into()
    }

    pub(crate) async fn accept(&self, dir: Dir) -> Result<StreamId, ConnectionError> {
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
    pub async fn accept_bi(&self) -> Result<(R::SendStream, R::RecvStream), ConnectionError> {
        let id = self.accept(Dir::Bi).await?;
        Ok((self.send_stream(id), self.recv_stream(id)))
    }

    /// Waits for the peer to open a unidirectional stream.
    pub async fn accept_uni(&self) -> Result<R::RecvStream, ConnectionError> {
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
