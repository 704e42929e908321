//! One session's application messages (PROTOCOL.md §4.8): message ids and the sender
//! window, exactly-once receipt, routed messages awaiting their outcome (and those
//! parked until the peer's queue has room), custom frames, endpoint resolves and the
//! peer's endpoint set. Storage requests share the ids; their state is `fetch.rs`.
//!
//! What arrives for the node (routes, resolve queries, storage requests) is queued in
//! `inbound` for the node to answer from its registry: this module never sees it.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use bytes::Bytes;

use crate::config::TransportConfig;
use crate::crypto::ReplayWindow;
use crate::endpoint::RouteMode;
use crate::error::{CustomFrameError, ResolveError, RouteError};
use crate::event::{EndpointEvent, Event};
use crate::frame::{EndpointId, ErrorCode, ResolveKind};
use crate::ids::RouteId;
use crate::ids::SessionHandle;
use crate::rendezvous::{MAX_RDV_INBOUND, RdvInbound};
use crate::storage::ContentHash;

use super::control::Control;
use super::fetch::Fetches;

use crate::config::MESSAGE_WINDOW;

/// Answers (accept/refuse, resolve answers, storage refusals) queued or in flight
/// beyond which a peer is flooding: an honest one has at most `MESSAGE_WINDOW`
/// unresolved messages and a few resolves outstanding.
const MAX_ANSWERS: usize = 4 * MESSAGE_WINDOW as usize;

/// Something that arrived for the node to decide.
#[derive(Debug, Clone)]
pub(crate) enum Inbound {
    Route {
        message_id: u64,
        endpoint: EndpointId,
        payload: Bytes,
    },
    Resolve {
        request_id: u64,
        endpoint: EndpointId,
    },
    Get {
        request_id: u64,
        hash: ContentHash,
        max_len: u64,
    },
}

#[derive(Debug, Clone)]
struct PendingRoute {
    route: RouteId,
    endpoint: EndpointId,
    payload: Bytes,
    mode: RouteMode,
    /// The peer said "room" (registered the endpoint) since this copy was sent.
    room_seen: bool,
}

/// Application-message state of one session. Boxed and created on first use, so idle
/// sessions that never use the primitives stay small.
#[derive(Debug, Clone)]
pub(crate) struct Messages {
    handle: SessionHandle,
    /// Events for the session to pass on.
    pub(crate) events: VecDeque<Event>,
    next_id: u64,
    /// Ids of messages whose frame has not been acknowledged yet.
    unacked: BTreeSet<u64>,
    /// Unresolved messages held: routes awaiting an outcome (sent or parked) and
    /// unacknowledged custom frames; and their payload bytes.
    held: usize,
    held_bytes: usize,
    /// The limits last checked against (from the transport configuration).
    limits: (usize, usize),
    want_writable: bool,
    seen: ReplayWindow,
    routes: BTreeMap<u64, PendingRoute>,
    parked: Vec<PendingRoute>,
    peer_endpoints: BTreeSet<EndpointId>,
    resolves: BTreeMap<u64, EndpointId>,
    next_resolve: u64,
    answers: usize,
    pub(crate) inbound: Vec<Inbound>,
    /// Rendezvous frames for the node (PROTOCOL.md §12.2), at most `MAX_RDV_INBOUND`.
    pub(crate) rendezvous: Vec<RdvInbound>,
    pub(crate) fetches: Fetches,
}

impl Messages {
    pub(crate) fn new(handle: SessionHandle) -> Self {
        Self {
            handle,
            events: VecDeque::new(),
            next_id: 0,
            unacked: BTreeSet::new(),
            held: 0,
            held_bytes: 0,
            limits: (usize::MAX, usize::MAX),
            want_writable: false,
            seen: ReplayWindow::new(),
            routes: BTreeMap::new(),
            parked: Vec::new(),
            peer_endpoints: BTreeSet::new(),
            resolves: BTreeMap::new(),
            next_resolve: 0,
            answers: 0,
            inbound: Vec::new(),
            rendezvous: Vec::new(),
            fetches: Fetches::default(),
        }
    }

    fn endpoint(&mut self, event: EndpointEvent) {
        self.events.push_back(Event::Endpoint {
            session: self.handle,
            event,
        });
    }

    /// A rendezvous frame arrived: queued for the node, or dropped when a flood filled
    /// the queue (requests are retransmitted; a flood's are not worth keeping).
    pub(crate) fn on_rendezvous(&mut self, item: RdvInbound) {
        if self.rendezvous.len() < MAX_RDV_INBOUND {
            self.rendezvous.push(item);
        }
    }

    /// Queues a storage event.
    pub(crate) fn storage(&mut self, event: crate::event::StorageEvent) {
        self.events.push_back(Event::Storage {
            session: self.handle,
            event,
        });
    }

    /// Unresolved messages held (routes awaiting an outcome, unacknowledged custom
    /// frames).
    pub(crate) fn held(&self) -> usize {
        self.held
    }

    /// True if a new id may be assigned (PROTOCOL.md §4.8 sender window).
    fn id_window_open(&self) -> bool {
        self.unacked
            .first()
            .is_none_or(|&oldest| self.next_id - oldest < MESSAGE_WINDOW)
    }

    /// True if one more message of `len` bytes may be held.
    fn room(&mut self, len: usize, t: &TransportConfig) -> bool {
        self.limits = (t.max_messages_in_flight, t.message_send_buffer);
        self.id_window_open() && self.held < self.limits.0 && self.held_bytes + len <= self.limits.1
    }

    /// Assigns the next message id; the caller checked the window.
    pub(crate) fn alloc_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.unacked.insert(id);
        id
    }

    /// True if a storage request may take a new id now.
    pub(crate) fn request_room(&mut self) -> bool {
        let ok = self.id_window_open();
        if !ok {
            self.want_writable = true;
        }
        ok
    }

    /// Queues a custom frame.
    pub(crate) fn send_custom(
        &mut self,
        t: &TransportConfig,
        frame_type: u8,
        payload: Bytes,
        control: &mut VecDeque<Control>,
    ) -> Result<(), CustomFrameError> {
        if !self.room(payload.len(), t) {
            self.want_writable = true;
            return Err(CustomFrameError::Blocked);
        }
        let message_id = self.alloc_id();
        self.held += 1;
        self.held_bytes += payload.len();
        control.push_back(Control::Custom {
            frame_type,
            message_id,
            payload,
        });
        Ok(())
    }

    /// Queues a message for the peer's endpoint.
    pub(crate) fn send_route(
        &mut self,
        t: &TransportConfig,
        endpoint: EndpointId,
        payload: Bytes,
        mode: RouteMode,
        control: &mut VecDeque<Control>,
    ) -> Result<RouteId, RouteError> {
        if !self.room(payload.len(), t) {
            self.want_writable = true;
            return Err(RouteError::Blocked);
        }
        self.held += 1;
        self.held_bytes += payload.len();
        let message_id = self.alloc_id();
        let route = RouteId(message_id);
        self.send_copy(
            message_id,
            PendingRoute {
                route,
                endpoint,
                payload,
                mode,
                room_seen: false,
            },
            control,
        );
        Ok(route)
    }

    fn send_copy(&mut self, message_id: u64, mut r: PendingRoute, control: &mut VecDeque<Control>) {
        r.room_seen = false;
        control.push_back(Control::Route {
            endpoint: r.endpoint,
            message_id,
            payload: r.payload.clone(),
        });
        self.routes.insert(message_id, r);
    }

    /// Asks whether the peer serves `endpoint`.
    pub(crate) fn resolve(
        &mut self,
        t: &TransportConfig,
        endpoint: EndpointId,
        control: &mut VecDeque<Control>,
    ) -> Result<u64, ResolveError> {
        if self.resolves.len() >= t.max_pending_resolves {
            return Err(ResolveError::TooMany);
        }
        let request_id = self.next_resolve;
        self.next_resolve += 1;
        self.resolves.insert(request_id, endpoint);
        control.push_back(Control::EndpointResolve {
            request_id,
            kind: ResolveKind::Query,
            endpoint,
        });
        Ok(request_id)
    }

    /// Endpoints the peer announced.
    pub(crate) fn peer_endpoints(&self) -> impl Iterator<Item = EndpointId> + '_ {
        self.peer_endpoints.iter().copied()
    }

    /// Queues an answer frame (counted until acknowledged).
    pub(crate) fn answer(&mut self, c: Control, control: &mut VecDeque<Control>) {
        self.answers += 1;
        control.push_back(c);
    }

    /// True for the first receipt of message id `id`; false for a repeat.
    fn first_receipt(&mut self, id: u64) -> bool {
        if self.seen.check(id).is_err() {
            return false;
        }
        self.seen.mark(id);
        true
    }

    /// Before accepting a message that needs an answer: refuse a flooding peer.
    fn check_answers(&self) -> Result<(), ErrorCode> {
        if self.answers >= MAX_ANSWERS {
            return Err(ErrorCode::RESOURCE_EXHAUSTED);
        }
        Ok(())
    }

    /// ENDPOINT_ROUTE from the peer.
    pub(crate) fn on_route(
        &mut self,
        message_id: u64,
        endpoint: EndpointId,
        payload: Bytes,
    ) -> Result<(), ErrorCode> {
        self.check_answers()?;
        if self.first_receipt(message_id) {
            self.inbound.push(Inbound::Route {
                message_id,
                endpoint,
                payload,
            });
        }
        Ok(())
    }

    /// A custom frame from the peer: true if it is new (deliver it).
    pub(crate) fn on_custom(&mut self, message_id: u64) -> bool {
        self.first_receipt(message_id)
    }

    /// STORAGE_GET from the peer.
    pub(crate) fn on_get(
        &mut self,
        request_id: u64,
        hash: ContentHash,
        max_len: u64,
    ) -> Result<(), ErrorCode> {
        self.check_answers()?;
        if self.first_receipt(request_id) {
            self.inbound.push(Inbound::Get {
                request_id,
                hash,
                max_len,
            });
        }
        Ok(())
    }

    /// ENDPOINT_RESOLVE from the peer.
    pub(crate) fn on_resolve(
        &mut self,
        request_id: u64,
        kind: ResolveKind,
        endpoint: EndpointId,
    ) -> Result<(), ErrorCode> {
        match kind {
            ResolveKind::Query => {
                self.check_answers()?;
                self.inbound.push(Inbound::Resolve {
                    request_id,
                    endpoint,
                });
            }
            ResolveKind::Found | ResolveKind::NotFound => {
                if self.resolves.get(&request_id) == Some(&endpoint) {
                    self.resolves.remove(&request_id);
                    self.endpoint(EndpointEvent::Resolved {
                        request: request_id,
                        endpoint,
                        found: kind == ResolveKind::Found,
                    });
                }
            }
        }
        Ok(())
    }

    /// ENDPOINT_REGISTER from the peer.
    pub(crate) fn on_register(
        &mut self,
        t: &TransportConfig,
        endpoint: EndpointId,
        registered: bool,
        control: &mut VecDeque<Control>,
    ) {
        if registered {
            let known = self.peer_endpoints.contains(&endpoint);
            if !known && self.peer_endpoints.len() < t.max_peer_endpoints {
                self.peer_endpoints.insert(endpoint);
                self.endpoint(EndpointEvent::PeerRegistered(endpoint));
            }
            // "Room again": copies in flight re-send on a refusal; parked ones now.
            for r in self.routes.values_mut() {
                if r.endpoint == endpoint {
                    r.room_seen = true;
                }
            }
            for r in self.parked.iter_mut() {
                if r.endpoint == endpoint {
                    r.room_seen = true;
                }
            }
            self.pump(control);
        } else {
            if self.peer_endpoints.remove(&endpoint) {
                self.endpoint(EndpointEvent::PeerWithdrawn(endpoint));
            }
            let (gone, keep): (Vec<_>, Vec<_>) = core::mem::take(&mut self.parked)
                .into_iter()
                .partition(|r| r.endpoint == endpoint);
            self.parked = keep;
            for r in gone {
                self.resolve_route(r, Some(ErrorCode::ENDPOINT_NOT_FOUND));
            }
        }
    }

    /// ENDPOINT_ACCEPT / ENDPOINT_REFUSE from the peer.
    pub(crate) fn on_route_answer(
        &mut self,
        message_id: u64,
        code: Option<ErrorCode>,
        control: &mut VecDeque<Control>,
    ) {
        let Some(r) = self.routes.remove(&message_id) else {
            return;
        };
        if code == Some(ErrorCode::BUFFER_OVERFLOW) && r.mode == RouteMode::Wait {
            if r.room_seen && self.id_window_open() {
                // Room was announced after this copy went out: try again at once.
                let id = self.alloc_id();
                self.send_copy(id, r, control);
            } else {
                self.parked.push(r);
            }
            return;
        }
        self.resolve_route(r, code);
    }

    fn resolve_route(&mut self, r: PendingRoute, code: Option<ErrorCode>) {
        self.held -= 1;
        self.held_bytes -= r.payload.len();
        self.endpoint(match code {
            None => EndpointEvent::Delivered { route: r.route },
            Some(code) => EndpointEvent::Refused {
                route: r.route,
                code,
            },
        });
        self.maybe_writable();
    }

    /// Re-sends parked routes the peer made room for, as the id window allows.
    fn pump(&mut self, control: &mut VecDeque<Control>) {
        let mut i = 0;
        while i < self.parked.len() {
            if self.parked[i].room_seen && self.id_window_open() {
                let r = self.parked.remove(i);
                let id = self.alloc_id();
                self.send_copy(id, r, control);
            } else {
                i += 1;
            }
        }
    }

    fn maybe_writable(&mut self) {
        let (max_held, max_bytes) = self.limits;
        if self.want_writable
            && self.id_window_open()
            && self.held < max_held
            && self.held_bytes < max_bytes
        {
            self.want_writable = false;
            self.events.push_back(Event::MessagesWritable {
                session: self.handle,
            });
        }
    }

    /// A packet carrying `c` was acknowledged.
    pub(crate) fn on_acked(&mut self, c: &Control, control: &mut VecDeque<Control>) {
        match c {
            Control::Custom {
                message_id,
                payload,
                ..
            } => {
                if self.unacked.remove(message_id) {
                    self.held -= 1;
                    self.held_bytes -= payload.len();
                }
            }
            Control::Route { message_id, .. }
            | Control::StorageGet {
                request_id: message_id,
                ..
            } => {
                self.unacked.remove(message_id);
            }
            Control::RouteAnswer { .. } | Control::StorageRefuse { .. } => {
                self.answers = self.answers.saturating_sub(1);
            }
            Control::EndpointResolve { kind, .. } if *kind != ResolveKind::Query => {
                self.answers = self.answers.saturating_sub(1);
            }
            _ => return,
        }
        self.pump(control);
        self.maybe_writable();
    }

    /// A packet carrying `c` was lost: false if the frame is no longer worth sending
    /// (its id then counts as done).
    pub(crate) fn on_lost(&mut self, c: &Control) -> bool {
        let done = match c {
            Control::Route { message_id, .. } => !self.routes.contains_key(message_id),
            Control::StorageGet { request_id, .. } => !self.fetches.is_fetching(*request_id),
            _ => false,
        };
        if done
            && let Control::Route { message_id, .. }
            | Control::StorageGet {
                request_id: message_id,
                ..
            } = c
        {
            self.unacked.remove(message_id);
        }
        !done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages() -> Messages {
        Messages::new(SessionHandle::test(0))
    }

    #[test]
    fn repeated_message_ids_are_received_once() {
        let mut a = messages();
        assert!(a.on_custom(5));
        assert!(!a.on_custom(5));
        assert!(a.on_custom(4), "out of order is fine");
        assert!(a.on_custom(5000));
        assert!(!a.on_custom(5), "below the window counts as seen");
    }

    #[test]
    fn the_id_window_stops_new_ids_behind_an_unacknowledged_one() {
        let t = TransportConfig {
            max_messages_in_flight: 1024,
            message_send_buffer: 1 << 30,
            ..TransportConfig::default()
        };
        let mut a = messages();
        let mut ctl = VecDeque::new();
        for _ in 0..MESSAGE_WINDOW {
            a.send_custom(&t, 0x80, Bytes::from_static(b"x"), &mut ctl)
                .unwrap();
        }
        assert_eq!(
            a.send_custom(&t, 0x80, Bytes::from_static(b"x"), &mut ctl),
            Err(CustomFrameError::Blocked)
        );
        // Acknowledging any but the oldest does not open the window.
        let mut sent: Vec<Control> = ctl.drain(..).collect();
        let oldest = sent.remove(0);
        for c in &sent[..10] {
            a.on_acked(c, &mut ctl);
        }
        assert!(a.events.is_empty());
        a.on_acked(&oldest, &mut ctl);
        assert!(matches!(
            a.events.pop_front(),
            Some(Event::MessagesWritable { .. })
        ));
        a.send_custom(&t, 0x80, Bytes::from_static(b"x"), &mut ctl)
            .unwrap();
    }

    #[test]
    fn wait_mode_parks_on_overflow_and_resends_on_room() {
        let t = TransportConfig::default();
        let e = EndpointId::from_name("q");
        let mut a = messages();
        let mut ctl = VecDeque::new();
        let r = a
            .send_route(&t, e, Bytes::from_static(b"m"), RouteMode::Wait, &mut ctl)
            .unwrap();
        let Some(Control::Route { message_id, .. }) = ctl.pop_front() else {
            panic!("no route frame");
        };
        a.on_route_answer(message_id, Some(ErrorCode::BUFFER_OVERFLOW), &mut ctl);
        assert!(
            a.events.is_empty() && ctl.is_empty(),
            "parked, nothing reported"
        );
        a.on_register(&t, e, true, &mut ctl);
        assert!(matches!(
            a.events.pop_front(),
            Some(Event::Endpoint {
                event: EndpointEvent::PeerRegistered(_),
                ..
            })
        ));
        let Some(Control::Route {
            message_id: again, ..
        }) = ctl.pop_front()
        else {
            panic!("not re-sent");
        };
        assert_ne!(again, message_id, "a re-send is a new message");
        a.on_route_answer(again, None, &mut ctl);
        assert_eq!(
            a.events.pop_front(),
            Some(Event::Endpoint {
                session: SessionHandle::test(0),
                event: EndpointEvent::Delivered { route: r }
            })
        );
    }

    #[test]
    fn room_signal_overtaking_the_refusal_is_not_missed() {
        let t = TransportConfig::default();
        let e = EndpointId::from_name("q");
        let mut a = messages();
        let mut ctl = VecDeque::new();
        a.send_route(&t, e, Bytes::from_static(b"m"), RouteMode::Wait, &mut ctl)
            .unwrap();
        ctl.clear();
        a.on_register(&t, e, true, &mut ctl);
        a.on_route_answer(0, Some(ErrorCode::BUFFER_OVERFLOW), &mut ctl);
        assert!(
            matches!(ctl.pop_front(), Some(Control::Route { message_id: 1, .. })),
            "re-sent at once"
        );
    }

    #[test]
    fn refuse_mode_reports_overflow_and_withdrawal_fails_parked_routes() {
        let t = TransportConfig::default();
        let e = EndpointId::from_name("q");
        let mut a = messages();
        let mut ctl = VecDeque::new();
        let r1 = a
            .send_route(&t, e, Bytes::from_static(b"1"), RouteMode::Refuse, &mut ctl)
            .unwrap();
        let r2 = a
            .send_route(&t, e, Bytes::from_static(b"2"), RouteMode::Wait, &mut ctl)
            .unwrap();
        a.on_route_answer(0, Some(ErrorCode::BUFFER_OVERFLOW), &mut ctl);
        a.on_route_answer(1, Some(ErrorCode::BUFFER_OVERFLOW), &mut ctl);
        let refused = |route, code| Event::Endpoint {
            session: SessionHandle::test(0),
            event: EndpointEvent::Refused { route, code },
        };
        assert_eq!(
            a.events.pop_front(),
            Some(refused(r1, ErrorCode::BUFFER_OVERFLOW))
        );
        assert!(a.events.is_empty());
        a.on_register(&t, e, false, &mut ctl);
        assert_eq!(
            a.events.pop_front(),
            Some(refused(r2, ErrorCode::ENDPOINT_NOT_FOUND))
        );
        assert_eq!((a.held, a.held_bytes), (0, 0));
    }
}
