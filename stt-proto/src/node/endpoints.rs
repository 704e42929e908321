//! Named endpoints through the node: registering and withdrawing the endpoints this
//! node serves, reading messages routed to them, and routing or resolving through a
//! session to the peer's (PROTOCOL.md §4.5, docs/PRIMITIVES.md). The registry itself
//! is `crate::endpoint`; per-session message windows are in `session`.

use alloc::vec::Vec;
use bytes::Bytes;

use super::session_ref::VARINT_MAX_LEN;
use super::{Node, SessionRef};
use crate::endpoint::{EndpointMessage, RouteId, RouteMode};
use crate::error::{EndpointError, ResolveError, RouteError};
use crate::frame::{ENDPOINT_ID_LEN, EndpointId, HEADER_LEN, TAG_LEN};
use crate::session::Control;
use crate::time::Instant;

/// Largest routed-message payload in a packet of `max_packet` bytes (type, endpoint
/// id, message id, 2-byte length).
pub fn max_route_payload(max_packet: usize) -> usize {
    max_packet.saturating_sub(HEADER_LEN + TAG_LEN + 1 + ENDPOINT_ID_LEN + VARINT_MAX_LEN + 2)
}

impl Node {
    /// Serves the endpoint called `name` (id SHA3-256(name)) with a queue of
    /// `capacity` messages, and announces it to every session (and to later ones).
    pub fn register_endpoint(
        &mut self,
        now: Instant,
        name: &str,
        capacity: usize,
    ) -> Result<EndpointId, EndpointError> {
        let id = EndpointId::from_name(name);
        self.register_endpoint_id(now, id, capacity)?;
        Ok(id)
    }

    /// [`Node::register_endpoint`] by id.
    pub fn register_endpoint_id(
        &mut self,
        now: Instant,
        id: EndpointId,
        capacity: usize,
    ) -> Result<(), EndpointError> {
        let max = self.config.max_endpoint_queue;
        if capacity == 0 || capacity > max {
            return Err(EndpointError::Capacity { capacity, max });
        }
        if self.endpoints.contains(&id) {
            return Err(EndpointError::AlreadyRegistered(id));
        }
        if self.endpoints.len() >= self.config.max_endpoints {
            return Err(EndpointError::TooMany {
                max: self.config.max_endpoints,
            });
        }
        self.endpoints.insert(id, capacity);
        self.announce(now, id, true);
        Ok(())
    }

    /// Stops serving an endpoint: its queued messages are discarded, peers are told,
    /// and routes waiting for room fail with `ENDPOINT_NOT_FOUND`. False if not served.
    pub fn unregister_endpoint(&mut self, now: Instant, id: EndpointId) -> bool {
        if self.endpoints.remove(&id).is_none() {
            return false;
        }
        self.announce(now, id, false);
        true
    }

    /// Sends ENDPOINT_REGISTER for `id` on every established session.
    fn announce(&mut self, now: Instant, endpoint: EndpointId, registered: bool) {
        for index in 0..self.slots.len() {
            let Some(s) = self.slots[index].session.as_mut() else {
                continue;
            };
            if s.queue_control(Control::EndpointRegister {
                endpoint,
                registered,
            }) {
                self.touch(index as u32, now);
            }
        }
    }

    /// Takes the oldest message queued for a served endpoint. Making room tells the
    /// sessions whose messages were refused for a full queue.
    pub fn endpoint_recv(&mut self, now: Instant, id: EndpointId) -> Option<EndpointMessage> {
        let (msg, waiting) = self.endpoints.pop(&id)?;
        for h in waiting {
            if let Some(mut s) = self.session(h) {
                let room = Control::EndpointRegister {
                    endpoint: id,
                    registered: true,
                };
                s.session().queue_control(room);
                s.done(now, ());
            }
        }
        Some(msg)
    }

    /// Messages queued for a served endpoint (`None` if not served).
    pub fn endpoint_queued(&self, id: EndpointId) -> Option<usize> {
        self.endpoints.queued(&id)
    }

    /// Every endpoint this node serves.
    pub fn endpoints(&self) -> Vec<EndpointId> {
        self.endpoints.ids().collect()
    }
}

impl SessionRef<'_> {
    /// Largest payload [`SessionRef::route`] accepts.
    pub fn max_route_size(&self) -> usize {
        max_route_payload(self.node.config.max_packet_size)
    }

    /// Sends `payload` to the peer's endpoint `endpoint`. The outcome arrives as
    /// `EndpointEvent::Delivered` (queued at the peer) or `Refused` (not served there,
    /// or its queue is full and `mode` is [`RouteMode::Refuse`]). Never dropped
    /// silently: until its outcome, the message holds a place in the session's window.
    pub fn route(
        &mut self,
        now: Instant,
        endpoint: EndpointId,
        payload: Bytes,
        mode: RouteMode,
    ) -> Result<RouteId, RouteError> {
        let max = self.max_route_size();
        if payload.len() > max {
            return Err(RouteError::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let t = self.node.config.clone();
        let r = self
            .session()
            .send_route(&t.transport, endpoint, payload, mode);
        self.done(now, r)
    }

    /// Asks whether the peer serves `endpoint`; the answer arrives as
    /// `EndpointEvent::Resolved` with the returned request number.
    pub fn resolve(&mut self, now: Instant, endpoint: EndpointId) -> Result<u64, ResolveError> {
        let t = self.node.config.clone();
        let r = self.session().resolve(&t.transport, endpoint);
        self.done(now, r)
    }

    /// Application messages not yet resolved: routes awaiting their outcome and
    /// custom frames not yet acknowledged. Zero means closing now loses none of them.
    pub fn messages_in_flight(&mut self) -> usize {
        self.session().messages_in_flight()
    }

    /// Endpoints the peer has announced (registered and not withdrawn).
    pub fn peer_endpoints(&mut self) -> Vec<EndpointId> {
        self.session().peer_endpoints()
    }
}
