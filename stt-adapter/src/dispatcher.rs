//! Custom frames (types 0x80–0xFF) in the async adapters: [`Session::send_custom_frame`]
//! and [`FrameDispatcher`], which calls one registered handler per frame type.
//!
//! The dispatcher reads a filtered event subscription in its own task, so a slow
//! handler can never block the driver; if handlers fall more than the subscription's
//! capacity behind, frames are skipped and counted in [`FrameDispatcher::lagged`].

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;

use crate::error::ConnectionError;
use crate::state::SubscriberId;
use bytes::Bytes;
use stt_proto::error::CustomFrameError;
use stt_proto::frame::CUSTOM_MIN;
use stt_proto::{Event, NodeId, SessionHandle};

use crate::access::with;
use crate::events::RecvError;
use crate::node::Node;
use crate::runtime::Runtime;
use crate::session::Session;
use crate::shared::Shared;

/// A custom frame handed to a handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomFrame {
    /// The session it arrived on (reply with [`Node::session_by_handle`]).
    pub session: SessionHandle,
    /// The sender's authenticated id (`None` if the session ended meanwhile).
    pub peer: Option<NodeId>,
    /// The type, 0x80–0xFF.
    pub frame_type: u8,
    /// The payload.
    pub payload: Bytes,
}

/// Why a custom frame was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendFrameError {
    /// Types below 0x80 belong to STT.
    #[error("frame type {0:#04x} is reserved for STT (custom types are 0x80-0xFF)")]
    ReservedType(u8),
    /// Larger than one packet can carry.
    #[error("custom frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The session ended.
    #[error(transparent)]
    Session(#[from] ConnectionError),
}

/// Why a handler could not be registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DispatcherError {
    /// Types below 0x80 belong to STT.
    #[error("frame type {0:#04x} is reserved for STT (custom types are 0x80-0xFF)")]
    ReservedType(u8),
    /// A handler for this type is registered already.
    #[error("frame type {0:#04x} already has a handler")]
    AlreadyRegistered(u8),
}

type Handler = Arc<dyn Fn(CustomFrame) + Send + Sync>;

#[derive(Default)]
struct Counters {
    handled: AtomicU64,
    unhandled: AtomicU64,
    lagged: AtomicU64,
}

/// Calls a handler per custom frame type for every session of a node. Dropping it
/// stops dispatching.
pub struct FrameDispatcher {
    handlers: Arc<Mutex<HashMap<u8, Handler>>>,
    counters: Arc<Counters>,
    shared: Arc<Shared>,
    subscription: SubscriberId,
}

impl std::fmt::Debug for FrameDispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameDispatcher")
            .field("handled", &self.handled())
            .field("lagged", &self.lagged())
            .finish_non_exhaustive()
    }
}

fn is_custom(e: &Event) -> bool {
    matches!(e, Event::CustomFrame { .. })
}

impl FrameDispatcher {
    /// Starts dispatching `node`'s custom frames on a task of the node's runtime; up to
    /// 1024 may wait for handlers.
    pub fn new<R: Runtime>(node: &Node<R>) -> Self {
        Self::with_capacity(node, crate::state::DEFAULT_SUBSCRIBER_CAPACITY)
    }

    /// Like [`FrameDispatcher::new`], with `capacity` frames waiting at most.
    pub fn with_capacity<R: Runtime>(node: &Node<R>, capacity: usize) -> Self {
        let handlers: Arc<Mutex<HashMap<u8, Handler>>> = Arc::default();
        let counters: Arc<Counters> = Arc::default();
        let mut events = node.events_with(capacity, Some(is_custom));
        let subscription = events.id();
        let shared = node.inner.shared.clone();
        let (h, c, s) = (handlers.clone(), counters.clone(), shared.clone());
        node.inner.rt.spawn(async move {
            loop {
                let (session, frame_type, payload) = match events.recv().await {
                    Ok(Event::CustomFrame {
                        session,
                        frame_type,
                        payload,
                    }) => (session, frame_type, payload),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(n)) => {
                        c.lagged.fetch_add(n, Ordering::Relaxed);
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                };
                let handler = h
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&frame_type)
                    .cloned();
                let Some(handler) = handler else {
                    c.unhandled.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                let peer = s.lock().dispatch.get(session).and_then(|s| s.peer);
                handler(CustomFrame {
                    session,
                    peer,
                    frame_type,
                    payload,
                });
                c.handled.fetch_add(1, Ordering::Relaxed);
            }
        });
        Self {
            handlers,
            counters,
            shared,
            subscription,
        }
    }

    /// Calls `handler` for every frame of `frame_type` (0x80–0xFF). Handlers run on
    /// the dispatcher's task and should return quickly (hand work to a channel).
    pub fn register_handler(
        &self,
        frame_type: u8,
        handler: impl Fn(CustomFrame) + Send + Sync + 'static,
    ) -> Result<(), DispatcherError> {
        if frame_type < CUSTOM_MIN {
            return Err(DispatcherError::ReservedType(frame_type));
        }
        let mut h = self.handlers.lock().unwrap_or_else(|p| p.into_inner());
        if h.contains_key(&frame_type) {
            return Err(DispatcherError::AlreadyRegistered(frame_type));
        }
        h.insert(frame_type, Arc::new(handler));
        Ok(())
    }

    /// Removes the handler of `frame_type`; false if there was none.
    pub fn unregister_handler(&self, frame_type: u8) -> bool {
        self.handlers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&frame_type)
            .is_some()
    }

    /// Frames passed to a handler.
    pub fn handled(&self) -> u64 {
        self.counters.handled.load(Ordering::Relaxed)
    }

    /// Frames of a type with no handler.
    pub fn unhandled(&self) -> u64 {
        self.counters.unhandled.load(Ordering::Relaxed)
    }

    /// Frames skipped because handlers fell behind (the lag indicator).
    pub fn lagged(&self) -> u64 {
        self.counters.lagged.load(Ordering::Relaxed)
    }
}

impl Drop for FrameDispatcher {
    fn drop(&mut self) {
        // Ending the subscription wakes the task, which then finds it gone and ends.
        self.shared
            .lock()
            .dispatch
            .bus
            .unsubscribe(self.subscription);
    }
}

impl<R: Runtime> Node<R> {
    /// A handle to a session the application already holds (accepted or connected and
    /// not dropped), e.g. to reply from a [`FrameDispatcher`] handler.
    pub fn session_by_handle(&self, handle: SessionHandle) -> Option<Session<R>> {
        let shared = &self.inner.shared;
        let (peer, held) = {
            let st = shared.lock();
            let s = st.dispatch.get(handle)?;
            (s.peer?, s.handles > 0 && s.closed.is_none())
        };
        // Only a session with a live handle: creating the first handle here would
        // close the session again when it is dropped.
        held.then(|| Session::new(shared.clone(), handle, peer))
    }
}

impl<R: Runtime> Session<R> {
    /// Sends a custom frame of type `frame_type` (0x80–0xFF): encrypted, retransmitted
    /// until acknowledged, delivered once. Waits while the session's window of
    /// unacknowledged messages is full.
    pub async fn send_custom_frame(
        &self,
        frame_type: u8,
        payload: &[u8],
    ) -> Result<(), SendFrameError> {
        let shared = &*self.inner.shared;
        let h = self.inner.handle;
        poll_fn(|cx| {
            with(shared, |st, now| {
                let r = match st.node.session(h) {
                    Some(mut s) => s.send_custom_frame(now, frame_type, payload),
                    None => return Poll::Ready(Err(crate::session::gone(st, h).into())),
                };
                match r {
                    Ok(()) => Poll::Ready(Ok(())),
                    Err(CustomFrameError::Blocked) => {
                        st.dispatch.apps.wait_writable(h, cx.waker());
                        Poll::Pending
                    }
                    Err(CustomFrameError::ReservedType(t)) => {
                        Poll::Ready(Err(SendFrameError::ReservedType(t)))
                    }
                    Err(CustomFrameError::TooLarge { len, max }) => {
                        Poll::Ready(Err(SendFrameError::TooLarge { len, max }))
                    }
                    Err(CustomFrameError::NotConnected) => {
                        Poll::Ready(Err(crate::session::gone(st, h).into()))
                    }
                }
            })
        })
        .await
    }

    /// Application messages (routes, custom frames) not yet resolved. Wait for zero
    /// before closing to be sure none is abandoned.
    pub fn messages_in_flight(&self) -> usize {
        let mut st = self.inner.shared.lock();
        st.node
            .session(self.inner.handle)
            .map_or(0, |mut s| s.messages_in_flight())
    }
}
