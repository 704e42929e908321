//! The application calls of the seed's primitives on [`Node`] and [`SessionRef`]:
//! named endpoints (register, route, resolve, receive), custom frames, storage fetch
//! and serve, and live-mode stream deadlines. docs/PRIMITIVES.md describes their
//! semantics; the wire is PROTOCOL.md §4.5–§4.8.
//!
//! Each call checks its arguments, updates the session or registry and schedules the
//! session for transmission; the protocol state machines live in `session/apps.rs`,
//! `session/fetch.rs` and `endpoint.rs`.

use alloc::vec::Vec;
use bytes::Bytes;

use crate::endpoint::{EndpointMessage, RouteId, RouteMode};
use crate::error::{
    CustomFrameError, EndpointError, FetchStartError, ResolveError, RouteError, ServeError,
    StreamError,
};
use crate::event::StorageEvent;
use crate::frame::{CUSTOM_MIN, ENDPOINT_ID_LEN, EndpointId, HEADER_LEN, StreamId, TAG_LEN};
use crate::node::{Node, SessionRef};
use crate::session::{Answer, Control, Session};
use crate::storage::{ContentHash, FetchId, ServeId};
use crate::time::Instant;

/// Largest varint a message id or length field can take in these frames.
const VARINT_MAX_LEN: usize = 8;

/// Largest custom-frame payload in a packet of `max_packet` bytes: the frame must fit
/// an otherwise empty packet (type, message id, 2-byte length).
pub fn max_custom_payload(max_packet: usize) -> usize {
    max_packet.saturating_sub(HEADER_LEN + TAG_LEN + 1 + VARINT_MAX_LEN + 2)
}

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

    /// Lets peer storage requests reach the application as
    /// `StorageEvent::Requested` (answered with [`SessionRef::serve_object`]). Off
    /// (the default), the node answers every request "not found".
    pub fn set_storage_serving(&mut self, on: bool) {
        self.serve_storage = on;
    }

    /// True if peer storage requests reach the application.
    pub fn storage_serving(&self) -> bool {
        self.serve_storage
    }
}

impl SessionRef<'_> {
    /// Sends an application-defined frame (type 0x80–0xFF): encrypted like every
    /// frame, retransmitted until acknowledged, delivered to the peer exactly once as
    /// `Event::CustomFrame` (not ordered relative to other messages).
    pub fn send_custom_frame(
        &mut self,
        now: Instant,
        frame_type: u8,
        payload: &[u8],
    ) -> Result<(), CustomFrameError> {
        if frame_type < CUSTOM_MIN {
            return Err(CustomFrameError::ReservedType(frame_type));
        }
        let max = max_custom_payload(self.node.config.max_packet_size);
        if payload.len() > max {
            return Err(CustomFrameError::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let t = self.node.config.clone();
        let handle = self.handle;
        let s = self.session();
        let Some(conn) = established(s) else {
            return Err(CustomFrameError::NotConnected);
        };
        let payload = Bytes::copy_from_slice(payload);
        let crate::session::Conn { apps, control, .. } = conn;
        let r = crate::session::apps_of(apps, handle).send_custom(
            &t.transport,
            frame_type,
            payload,
            control,
        );
        self.done(now, r)
    }

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
        let handle = self.handle;
        let Some(conn) = established(self.session()) else {
            return Err(RouteError::NotConnected);
        };
        let crate::session::Conn { apps, control, .. } = conn;
        let r = crate::session::apps_of(apps, handle).send_route(
            &t.transport,
            endpoint,
            payload,
            mode,
            control,
        );
        self.done(now, r)
    }

    /// Asks whether the peer serves `endpoint`; the answer arrives as
    /// `EndpointEvent::Resolved` with the returned request number.
    pub fn resolve(&mut self, now: Instant, endpoint: EndpointId) -> Result<u64, ResolveError> {
        let t = self.node.config.clone();
        let handle = self.handle;
        let Some(conn) = established(self.session()) else {
            return Err(ResolveError::NotConnected);
        };
        let crate::session::Conn { apps, control, .. } = conn;
        let r = crate::session::apps_of(apps, handle).resolve(&t.transport, endpoint, control);
        self.done(now, r)
    }

    /// Application messages not yet resolved: routes awaiting their outcome and
    /// custom frames not yet acknowledged. Zero means closing now loses none of them.
    pub fn messages_in_flight(&mut self) -> usize {
        self.session()
            .conn
            .as_ref()
            .and_then(|c| c.apps.as_ref())
            .map_or(0, |a| a.held())
    }

    /// Endpoints the peer has announced (registered and not withdrawn).
    pub fn peer_endpoints(&mut self) -> Vec<EndpointId> {
        match self.session().conn.as_ref().and_then(|c| c.apps.as_ref()) {
            Some(apps) => apps.peer_endpoints().collect(),
            None => Vec::new(),
        }
    }

    /// Fetches the object `hash` from the peer, accepting at most `max_len` bytes. The
    /// outcome arrives as `StorageEvent::Fetched` (verified against `hash`) or
    /// `FetchFailed`.
    pub fn fetch(
        &mut self,
        now: Instant,
        hash: ContentHash,
        max_len: u64,
    ) -> Result<FetchId, FetchStartError> {
        let t = self.node.config.clone();
        if max_len > t.transport.max_object_size {
            return Err(FetchStartError::TooLarge {
                max_len,
                limit: t.transport.max_object_size,
            });
        }
        let handle = self.handle;
        let Some(conn) = established(self.session()) else {
            return Err(FetchStartError::NotConnected);
        };
        let crate::session::Conn { apps, control, .. } = conn;
        let apps = crate::session::apps_of(apps, handle);
        if apps.fetches.fetching() >= t.transport.max_fetches {
            return Err(FetchStartError::TooMany {
                max: t.transport.max_fetches,
            });
        }
        if !apps.request_room() {
            return Err(FetchStartError::Blocked);
        }
        let request_id = apps.alloc_id();
        apps.fetches.start(request_id, hash, max_len);
        control.push_back(Control::StorageGet {
            request_id,
            max_len,
            hash: hash.0,
        });
        self.done(now, Ok(FetchId(request_id)))
    }

    /// Abandons a fetch: no outcome event follows, and the peer stops sending. False
    /// if it had already ended.
    pub fn cancel_fetch(&mut self, now: Instant, fetch: FetchId) -> bool {
        let Some(conn) = established(self.session()) else {
            return false;
        };
        let Some(apps) = conn.apps.as_mut() else {
            return false;
        };
        if apps.fetches.cancel(fetch.0).is_none() {
            return false;
        }
        conn.control.push_back(Control::StorageCancel {
            request_id: fetch.0,
        });
        self.done(now, true)
    }

    /// Answers a `StorageEvent::Requested`: the object's bytes, or `None` if it is not
    /// stored here. Reported as `StorageEvent::Hit` or `Miss`.
    pub fn serve_object(
        &mut self,
        now: Instant,
        request: ServeId,
        data: Option<Bytes>,
    ) -> Result<(), ServeError> {
        let Some(conn) = established(self.session()) else {
            return Err(ServeError::UnknownRequest);
        };
        let Some(apps) = conn.apps.as_mut() else {
            return Err(ServeError::UnknownRequest);
        };
        let found = data.is_some();
        let Some((hash, answer)) = apps.fetches.answer(request.0, data) else {
            return Err(ServeError::UnknownRequest);
        };
        if let Answer::Refuse(code) = answer {
            let c = Control::StorageRefuse {
                request_id: request.0,
                code,
            };
            apps.answer(c, &mut conn.control);
        }
        apps.storage(match found {
            true => StorageEvent::Hit { request, hash },
            false => StorageEvent::Miss { request, hash },
        });
        self.done(now, Ok(()))
    }

    /// Live mode, freshest first: if the sending side of `id` is not fully delivered
    /// (every byte and the FIN acknowledged) by `deadline`, it is reset with
    /// `STREAM_EXPIRED` and `StreamEvent::Expired` reported, instead of being
    /// retransmitted after it stopped mattering.
    pub fn set_deadline(
        &mut self,
        now: Instant,
        id: StreamId,
        deadline: Instant,
    ) -> Result<(), StreamError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.set_deadline(id, deadline),
            None => Err(StreamError::SessionClosed),
        };
        self.done(now, r)
    }
}

/// The connection state of an established session.
fn established(s: &mut Session) -> Option<&mut crate::session::Conn> {
    if !s.is_established() {
        return None;
    }
    s.conn.as_deref_mut()
}
