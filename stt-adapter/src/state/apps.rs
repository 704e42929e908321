//! What the adapters' primitive handles wait for, and which engine [`Event`] ends the
//! wait: endpoint receivers, route outcomes, resolves, fetch outcomes, the message
//! window reopening, and the queue of peer storage requests for a serving task.
//!
//! Edge events become stored results here, so a future polled late still finds its
//! outcome. Entries exist only while a handle waits; a closed session wakes them all.
//! Plain `std` and `Waker`s; no runtime, no protocol decisions.

use std::collections::{HashMap, VecDeque};
use std::task::Waker;

use bytes::Bytes;

use stt_proto::error::FetchError;
use stt_proto::frame::ErrorCode;
use stt_proto::{
    ContentHash, EndpointEvent, EndpointId, Event, FetchId, RouteId, ServeId, SessionHandle,
    StorageEvent,
};

use super::dispatch::register;

fn wake(slot: &mut Option<Waker>) {
    if let Some(w) = slot.take() {
        w.wake();
    }
}

/// A result some handle waits for, and its waker.
#[derive(Debug)]
pub struct Pending<T> {
    /// Set once the outcome is known.
    pub result: Option<T>,
    /// The waiting task.
    pub waker: Option<Waker>,
}

impl<T> Default for Pending<T> {
    fn default() -> Self {
        Self {
            result: None,
            waker: None,
        }
    }
}

impl<T> Pending<T> {
    fn set(&mut self, v: T) {
        self.result = Some(v);
        wake(&mut self.waker);
    }
}

/// A peer storage request for the serving task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeRequest {
    /// The session it came on.
    pub session: SessionHandle,
    /// The request to answer.
    pub request: ServeId,
    /// The object wanted.
    pub hash: ContentHash,
}

/// The waiting table of the primitives.
#[derive(Debug, Default)]
pub struct AppWaiters {
    /// Endpoint receivers waiting for a message.
    pub endpoints: HashMap<EndpointId, Waker>,
    /// Route outcomes: `Ok` delivered, `Err(code)` refused.
    pub routes: HashMap<(SessionHandle, RouteId), Pending<Result<(), ErrorCode>>>,
    /// Resolve answers: found or not.
    pub resolves: HashMap<(SessionHandle, u64), Pending<bool>>,
    /// Fetch outcomes.
    pub fetches: HashMap<(SessionHandle, FetchId), Pending<Result<Bytes, FetchError>>>,
    /// Senders waiting for the message window of a session to reopen.
    pub writable: HashMap<SessionHandle, Vec<Waker>>,
    /// Peer storage requests not yet taken by the serving task.
    pub serve_queue: VecDeque<ServeRequest>,
    /// The serving task, waiting for requests.
    pub serve_waker: Option<Waker>,
}

impl AppWaiters {
    /// Adds a waiter for the session's message window.
    pub fn wait_writable(&mut self, session: SessionHandle, waker: &Waker) {
        let list = self.writable.entry(session).or_default();
        if !list.iter().any(|w| w.will_wake(waker)) {
            list.push(waker.clone());
        }
    }

    /// Registers the serving task's waker.
    pub fn wait_serve(&mut self, waker: &Waker) {
        register(&mut self.serve_waker, waker);
    }

    fn wake_session(&mut self, session: SessionHandle) {
        for ((s, _), p) in self.routes.iter_mut() {
            if *s == session {
                wake(&mut p.waker);
            }
        }
        for ((s, _), p) in self.resolves.iter_mut() {
            if *s == session {
                wake(&mut p.waker);
            }
        }
        for ((s, _), p) in self.fetches.iter_mut() {
            if *s == session {
                wake(&mut p.waker);
            }
        }
        for w in self.writable.remove(&session).unwrap_or_default() {
            w.wake();
        }
        self.serve_queue.retain(|r| r.session != session);
    }

    /// Wakes every waiter (the node is shutting down).
    pub fn wake_all(&mut self) {
        for w in self.endpoints.values() {
            w.wake_by_ref();
        }
        let sessions: Vec<SessionHandle> = self
            .routes
            .keys()
            .map(|k| k.0)
            .chain(self.resolves.keys().map(|k| k.0))
            .chain(self.fetches.keys().map(|k| k.0))
            .chain(self.writable.keys().copied())
            .collect();
        for s in sessions {
            self.wake_session(s);
        }
        wake(&mut self.serve_waker);
    }

    /// Applies one engine event.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Endpoint { session, event } => match event {
                EndpointEvent::Message { endpoint } => {
                    if let Some(w) = self.endpoints.get(endpoint) {
                        w.wake_by_ref();
                    }
                }
                EndpointEvent::Delivered { route } => {
                    if let Some(p) = self.routes.get_mut(&(*session, *route)) {
                        p.set(Ok(()));
                    }
                }
                EndpointEvent::Refused { route, code } => {
                    if let Some(p) = self.routes.get_mut(&(*session, *route)) {
                        p.set(Err(*code));
                    }
                }
                EndpointEvent::Resolved { request, found, .. } => {
                    if let Some(p) = self.resolves.get_mut(&(*session, *request)) {
                        p.set(*found);
                    }
                }
                EndpointEvent::PeerRegistered(_) | EndpointEvent::PeerWithdrawn(_) => {}
            },
            Event::Storage { session, event } => match event {
                StorageEvent::Fetched { fetch, data, .. } => {
                    if let Some(p) = self.fetches.get_mut(&(*session, *fetch)) {
                        p.set(Ok(data.clone()));
                    }
                }
                StorageEvent::FetchFailed { fetch, error, .. } => {
                    if let Some(p) = self.fetches.get_mut(&(*session, *fetch)) {
                        p.set(Err(*error));
                    }
                }
                StorageEvent::Requested { request, hash, .. } => {
                    self.serve_queue.push_back(ServeRequest {
                        session: *session,
                        request: *request,
                        hash: *hash,
                    });
                    wake(&mut self.serve_waker);
                }
                StorageEvent::Hit { .. } | StorageEvent::Miss { .. } => {}
            },
            Event::MessagesWritable { session } => {
                for w in self.writable.remove(session).unwrap_or_default() {
                    w.wake();
                }
            }
            Event::Closed { session, .. } => self.wake_session(*session),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_are_kept_for_late_pollers_and_unknown_ones_ignored() {
        let s = crate::state::test_handle(1);
        let mut w = AppWaiters::default();
        w.routes.insert((s, RouteId(3)), Pending::default());
        let refused = Event::Endpoint {
            session: s,
            event: EndpointEvent::Refused {
                route: RouteId(3),
                code: ErrorCode::BUFFER_OVERFLOW,
            },
        };
        w.on_event(&refused);
        let other = Event::Endpoint {
            session: s,
            event: EndpointEvent::Delivered { route: RouteId(4) },
        };
        w.on_event(&other);
        assert_eq!(
            w.routes[&(s, RouteId(3))].result,
            Some(Err(ErrorCode::BUFFER_OVERFLOW))
        );
        assert_eq!(w.routes.len(), 1, "nobody waited for route 4");
    }
}
