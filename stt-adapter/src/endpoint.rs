//! Named endpoints in the async adapters: [`Node::endpoint`] gives an [`EndpointReceiver`], an async
//! receiver of what peers route to the name; [`Session::route`] (refuse when the
//! peer's queue is full) and [`Session::route_wait`] (wait for room) send to a peer's
//! endpoint and complete when the peer has queued the message.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::error::ConnectionError;
use crate::state::Pending;
use bytes::Bytes;
use stt_proto::error::{EndpointError, RouteError as EngineRouteError};
use stt_proto::frame::ErrorCode;
use stt_proto::{EndpointId, EndpointMessage, RouteId, RouteMode, SessionHandle};

use crate::access::{dead, with};
use crate::node::Node;
use crate::runtime::Runtime;
use crate::session::Session;
use crate::shared::Shared;

/// Queue capacity of [`Node::endpoint`].
pub const DEFAULT_ENDPOINT_QUEUE: usize = 64;

/// Why a routed message did not reach the peer's endpoint queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The peer's queue for that endpoint is full ([`Session::route`] only;
    /// [`Session::route_wait`] waits for room instead).
    #[error("the peer's endpoint queue is full")]
    QueueFull,
    /// The peer serves no endpoint of that name.
    #[error("the peer serves no such endpoint")]
    NotFound,
    /// The peer refused with another code.
    #[error("refused by peer: {0}")]
    Refused(ErrorCode),
    /// Larger than one packet can carry.
    #[error("message of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The session ended before the peer answered.
    #[error(transparent)]
    Session(#[from] ConnectionError),
}

/// Why [`Session::resolve`] has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Too many resolves of this session are unanswered already.
    #[error("too many unanswered resolves")]
    TooMany,
    /// The session ended first.
    #[error(transparent)]
    Session(#[from] ConnectionError),
}

/// Receives the messages peers route to one of this node's endpoints. Dropping it
/// stops serving the endpoint.
pub struct EndpointReceiver {
    shared: Arc<Shared>,
    id: EndpointId,
    name: String,
}

impl std::fmt::Debug for EndpointReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndpointReceiver")
            .field("name", &self.name)
            .finish()
    }
}

impl<R: Runtime> Node<R> {
    /// Serves the endpoint `name` (id SHA3-256(name)) with a queue of 64 messages.
    pub fn endpoint(&self, name: &str) -> Result<EndpointReceiver, EndpointError> {
        self.endpoint_with_capacity(name, DEFAULT_ENDPOINT_QUEUE)
    }

    /// Serves the endpoint `name` with a queue of `capacity` messages: when it is full,
    /// senders are refused (or wait, as they choose); nothing is dropped.
    pub fn endpoint_with_capacity(
        &self,
        name: &str,
        capacity: usize,
    ) -> Result<EndpointReceiver, EndpointError> {
        let shared = self.inner.shared.clone();
        let id = with(&shared, |st, now| {
            st.node.register_endpoint(now, name, capacity)
        })?;
        Ok(EndpointReceiver {
            shared,
            id,
            name: name.to_string(),
        })
    }
}

impl EndpointReceiver {
    /// The endpoint's id.
    pub fn id(&self) -> EndpointId {
        self.id
    }

    /// The endpoint's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Messages waiting in the queue.
    pub fn queued(&self) -> usize {
        self.shared
            .lock()
            .node
            .endpoint_queued(self.id)
            .unwrap_or(0)
    }

    /// Polls for the next message; `None` once the node has shut down.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<EndpointMessage>> {
        let (mut st, now) = self.shared.lock_now();
        if let Some(m) = st.node.endpoint_recv(now, self.id) {
            // Taking a message may tell waiting senders there is room: send that.
            st.drain_events(now);
            st.wake_driver();
            return Poll::Ready(Some(m));
        }
        if st.driver_done {
            return Poll::Ready(None);
        }
        st.dispatch
            .apps
            .endpoints
            .insert(self.id, cx.waker().clone());
        Poll::Pending
    }

    /// Waits for the next message; `None` once the node has shut down.
    pub async fn recv(&mut self) -> Option<EndpointMessage> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// The next message if one is queued.
    pub fn try_recv(&mut self) -> Option<EndpointMessage> {
        with(&self.shared, |st, now| st.node.endpoint_recv(now, self.id))
    }
}

impl Drop for EndpointReceiver {
    fn drop(&mut self) {
        with(&self.shared, |st, now| {
            st.dispatch.apps.endpoints.remove(&self.id);
            st.node.unregister_endpoint(now, self.id);
        });
    }
}

/// Forgets a route's waiting entry when its future ends or is dropped.
struct RouteGuard<'a> {
    shared: &'a Shared,
    key: (SessionHandle, RouteId),
}

impl Drop for RouteGuard<'_> {
    fn drop(&mut self) {
        self.shared.lock().dispatch.apps.routes.remove(&self.key);
    }
}

impl<R: Runtime> Session<R> {
    /// Sends `payload` to the peer's endpoint `name` and waits until the peer queued
    /// it. A full queue is [`RouteError::QueueFull`]. Waits while this session's own
    /// window of unresolved messages is full.
    pub async fn route(&self, name: &str, payload: impl Into<Bytes>) -> Result<(), RouteError> {
        self.route_to(
            EndpointId::from_name(name),
            payload.into(),
            RouteMode::Refuse,
        )
        .await
    }

    /// Like [`Session::route`], but a full queue makes the message wait (held by this
    /// session, re-sent when the peer has room) instead of failing.
    pub async fn route_wait(
        &self,
        name: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), RouteError> {
        self.route_to(EndpointId::from_name(name), payload.into(), RouteMode::Wait)
            .await
    }

    /// Sends `payload` to the peer's endpoint `endpoint` in `mode`.
    pub async fn route_to(
        &self,
        endpoint: EndpointId,
        payload: Bytes,
        mode: RouteMode,
    ) -> Result<(), RouteError> {
        let shared = &*self.inner.shared;
        let h = self.inner.handle;
        let route = poll_fn(|cx| {
            with(shared, |st, now| {
                let r = match st.node.session(h) {
                    Some(mut s) => s.route(now, endpoint, payload.clone(), mode),
                    None => return Poll::Ready(Err(crate::session::gone(st, h).into())),
                };
                match r {
                    Ok(route) => {
                        st.dispatch
                            .apps
                            .routes
                            .insert((h, route), Pending::default());
                        Poll::Ready(Ok(route))
                    }
                    Err(EngineRouteError::Blocked) => {
                        st.dispatch.apps.wait_writable(h, cx.waker());
                        Poll::Pending
                    }
                    Err(EngineRouteError::TooLarge { len, max }) => {
                        Poll::Ready(Err(RouteError::TooLarge { len, max }))
                    }
                    Err(EngineRouteError::NotConnected) => {
                        Poll::Ready(Err(crate::session::gone(st, h).into()))
                    }
                }
            })
        })
        .await?;
        let guard = RouteGuard {
            shared,
            key: (h, route),
        };
        let outcome = poll_fn(|cx| {
            let mut st = shared.lock();
            let result = st
                .dispatch
                .apps
                .routes
                .get_mut(&guard.key)
                .and_then(|p| p.result.take());
            match result {
                Some(r) => Poll::Ready(Ok(r)),
                None => match dead(&st, h) {
                    Some(e) => Poll::Ready(Err(e)),
                    None => {
                        if let Some(p) = st.dispatch.apps.routes.get_mut(&guard.key) {
                            crate::state::dispatch::register(&mut p.waker, cx.waker());
                        }
                        Poll::Pending
                    }
                },
            }
        })
        .await?;
        match outcome {
            Ok(()) => Ok(()),
            Err(ErrorCode::BUFFER_OVERFLOW) => Err(RouteError::QueueFull),
            Err(ErrorCode::ENDPOINT_NOT_FOUND) => Err(RouteError::NotFound),
            Err(code) => Err(RouteError::Refused(code)),
        }
    }

    /// Asks the peer whether it serves the endpoint `name`.
    pub async fn resolve(&self, name: &str) -> Result<bool, ResolveError> {
        let shared = &*self.inner.shared;
        let h = self.inner.handle;
        let endpoint = EndpointId::from_name(name);
        let request = poll_fn(|_| {
            with(shared, |st, now| {
                let r = match st.node.session(h) {
                    Some(mut s) => s.resolve(now, endpoint),
                    None => return Poll::Ready(Err(crate::session::gone(st, h).into())),
                };
                match r {
                    Ok(q) => {
                        st.dispatch.apps.resolves.insert((h, q), Pending::default());
                        Poll::Ready(Ok(q))
                    }
                    Err(stt_proto::error::ResolveError::TooMany) => {
                        Poll::Ready(Err(ResolveError::TooMany))
                    }
                    Err(stt_proto::error::ResolveError::NotConnected) => {
                        Poll::Ready(Err(crate::session::gone(st, h).into()))
                    }
                }
            })
        })
        .await?;
        let key = (h, request);
        let r = poll_fn(|cx| {
            let mut st = shared.lock();
            if let Some(found) = st
                .dispatch
                .apps
                .resolves
                .get_mut(&key)
                .and_then(|p| p.result.take())
            {
                return Poll::Ready(Ok(found));
            }
            if let Some(e) = dead(&st, h) {
                return Poll::Ready(Err(e.into()));
            }
            if let Some(p) = st.dispatch.apps.resolves.get_mut(&key) {
                crate::state::dispatch::register(&mut p.waker, cx.waker());
            }
            Poll::Pending
        })
        .await;
        shared.lock().dispatch.apps.resolves.remove(&key);
        r
    }

    /// The endpoints the peer has announced.
    pub fn peer_endpoints(&self) -> Vec<EndpointId> {
        let mut st = self.inner.shared.lock();
        st.node
            .session(self.inner.handle)
            .map(|mut s| s.peer_endpoints())
            .unwrap_or_default()
    }
}
