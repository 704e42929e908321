//! Named endpoints (PROTOCOL.md §4.5): a node's registry of the endpoints it serves,
//! each with a bounded queue of received messages, and the sessions waiting to be told
//! that a full queue has room again.
//!
//! The registry holds state only; the node decides when to consult it (after a packet,
//! on an application call) and sessions own the sending side (`session/messages.rs`).
//! A full queue never grows and never drops: the sender is told (ENDPOINT_REFUSE).

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use bytes::Bytes;

use crate::frame::{EndpointId, ErrorCode};
use crate::identity::NodeId;
pub use crate::ids::RouteId;
use crate::ids::SessionHandle;

/// What a route does when the peer's endpoint queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMode {
    /// Report it: the route ends with `EndpointEvent::Refused` and `BUFFER_OVERFLOW`.
    Refuse,
    /// Wait: the message stays in this session's window and is re-sent when the peer
    /// says the queue has room again; it ends only when accepted, when the endpoint is
    /// withdrawn, or with the session.
    Wait,
}

/// A message the peer routed to one of this node's endpoints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointMessage {
    /// The endpoint it was sent to.
    pub endpoint: EndpointId,
    /// The session it arrived on.
    pub session: SessionHandle,
    /// The sender's authenticated id.
    pub peer: NodeId,
    /// The message.
    pub payload: Bytes,
}

/// What the registry did with an offered message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Offer {
    /// Appended to the queue.
    Accepted,
    /// Refused with this code.
    Refused(ErrorCode),
}

#[derive(Debug, Clone)]
struct Served {
    capacity: usize,
    queue: VecDeque<EndpointMessage>,
    /// Sessions refused for a full queue: told when there is room again.
    waiting: Vec<SessionHandle>,
}

/// The endpoints one node serves.
#[derive(Debug, Clone, Default)]
pub(crate) struct Registry {
    served: BTreeMap<EndpointId, Served>,
}

impl Registry {
    /// Number of served endpoints.
    pub(crate) fn len(&self) -> usize {
        self.served.len()
    }

    /// True if `id` is served here.
    pub(crate) fn contains(&self, id: &EndpointId) -> bool {
        self.served.contains_key(id)
    }

    /// Every served endpoint.
    pub(crate) fn ids(&self) -> impl Iterator<Item = EndpointId> + '_ {
        self.served.keys().copied()
    }

    /// Starts serving `id` with a queue of `capacity` messages; false if served already.
    pub(crate) fn insert(&mut self, id: EndpointId, capacity: usize) -> bool {
        if self.served.contains_key(&id) {
            return false;
        }
        self.served.insert(
            id,
            Served {
                capacity,
                queue: VecDeque::new(),
                waiting: Vec::new(),
            },
        );
        true
    }

    /// Stops serving `id`; returns the sessions that were waiting for room.
    pub(crate) fn remove(&mut self, id: &EndpointId) -> Option<Vec<SessionHandle>> {
        self.served.remove(id).map(|s| s.waiting)
    }

    /// Offers a message from `session`: queued, or refused (unknown endpoint, full
    /// queue; a refused session is remembered for the "room again" signal).
    pub(crate) fn offer(&mut self, msg: EndpointMessage) -> Offer {
        let Some(s) = self.served.get_mut(&msg.endpoint) else {
            return Offer::Refused(ErrorCode::ENDPOINT_NOT_FOUND);
        };
        if s.queue.len() >= s.capacity {
            if !s.waiting.contains(&msg.session) {
                s.waiting.push(msg.session);
            }
            return Offer::Refused(ErrorCode::BUFFER_OVERFLOW);
        }
        s.queue.push_back(msg);
        Offer::Accepted
    }

    /// Takes the oldest message of `id`. When that makes room, also returns the
    /// sessions that were refused for a full queue (and forgets them).
    pub(crate) fn pop(&mut self, id: &EndpointId) -> Option<(EndpointMessage, Vec<SessionHandle>)> {
        let s = self.served.get_mut(id)?;
        let msg = s.queue.pop_front()?;
        Some((msg, core::mem::take(&mut s.waiting)))
    }

    /// Messages queued for `id`.
    pub(crate) fn queued(&self, id: &EndpointId) -> Option<usize> {
        self.served.get(id).map(|s| s.queue.len())
    }

    /// A session ended: it waits for nothing any more.
    pub(crate) fn forget_session(&mut self, session: SessionHandle) {
        for s in self.served.values_mut() {
            s.waiting.retain(|h| *h != session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(endpoint: EndpointId, session: SessionHandle, n: u8) -> EndpointMessage {
        EndpointMessage {
            endpoint,
            session,
            peer: NodeId([0; 32]),
            payload: Bytes::from(alloc::vec![n]),
        }
    }

    #[test]
    fn full_queue_refuses_and_remembers_the_session_until_room() {
        let id = EndpointId::from_name("sensor.telemetry");
        let s = SessionHandle::test(1);
        let mut r = Registry::default();
        assert!(r.insert(id, 2));
        assert!(!r.insert(id, 5), "a name is registered once");
        assert_eq!(r.offer(msg(id, s, 1)), Offer::Accepted);
        assert_eq!(r.offer(msg(id, s, 2)), Offer::Accepted);
        for _ in 0..3 {
            assert_eq!(
                r.offer(msg(id, s, 3)),
                Offer::Refused(ErrorCode::BUFFER_OVERFLOW)
            );
        }
        assert_eq!(r.queued(&id), Some(2), "a full queue never grows");
        let (m, waiting) = r.pop(&id).unwrap();
        assert_eq!(m.payload[..], [1]);
        assert_eq!(waiting, [s], "the refused session is told once");
        let (m, waiting) = r.pop(&id).unwrap();
        assert_eq!(m.payload[..], [2]);
        assert!(waiting.is_empty());
        assert!(r.pop(&id).is_none());
    }

    #[test]
    fn unknown_endpoint_is_not_found() {
        let mut r = Registry::default();
        let id = EndpointId::from_name("nobody");
        assert_eq!(
            r.offer(msg(id, SessionHandle::test(1), 0)),
            Offer::Refused(ErrorCode::ENDPOINT_NOT_FOUND)
        );
        assert!(r.remove(&id).is_none());
    }
}
