//! Rendezvous, punching and relay through the node (PROTOCOL.md §12): relay datagrams
//! in (forwarded when this node relays, unwrapped when they are for one of its own
//! routes) and out (`wrap_relayed`: packets for a relayed path), the rendezvous
//! requests sessions queued (answered here, since they need other sessions), and the
//! member's calls. The tables are `crate::rendezvous`'s; the probes are `session`'s.

use bytes::BytesMut;
use core::time::Duration;

use super::{Node, SessionRef};
use crate::error::RendezvousError;
use crate::frame::{RELAY_OVERHEAD, RdvStatus, relay_route, write_relay_header};
use crate::handshake::admission::RemoteAddr;
use crate::identity::NodeId;
use crate::ids::{PathId, SessionHandle};
use crate::rendezvous::{RdvInbound, RequestKind};
use crate::session::Control;
use crate::time::Instant;

/// Least extra wait added to both punch start times (PROTOCOL.md §12.2); the margin
/// is a quarter of the larger RTT above it.
const PUNCH_MARGIN: Duration = Duration::from_millis(1);
/// RTTs above this count as this much when timing a punch: the start stays within
/// a few hundred milliseconds.
const MAX_PUNCH_RTT: Duration = Duration::from_millis(400);

impl Node {
    /// A datagram starting "SR" (PROTOCOL.md §12.3). Never an error: what cannot be
    /// forwarded or unwrapped is counted and dropped.
    pub(super) fn handle_relay_datagram(&mut self, now: Instant, path: PathId, datagram: BytesMut) {
        let Some(route) = relay_route(&datagram) else {
            self.stats.relay_dropped_unknown_route += 1;
            return;
        };
        if let Some(r) = self.rdv_client.route(route) {
            // One of this node's routes: the packet inside is for a session here, and it
            // must come from the relay that issued the route, where it was proven to be.
            if self.proven_path(r.relay) != Some(path) {
                self.stats.relay_dropped_wrong_source += 1;
                return;
            }
            let mut inner = datagram;
            bytes::Buf::advance(&mut inner, RELAY_OVERHEAD);
            if crate::frame::is_relay_datagram(&inner) {
                self.stats.dropped_malformed += 1;
                return;
            }
            self.stats.relayed_received += 1;
            self.dispatch_datagram(now, r.path, &RemoteAddr::from_path_id(r.path.0), inner);
            return;
        }
        if !self.config.rendezvous.serve {
            self.stats.relay_dropped_unknown_route += 1;
            return;
        }
        self.forward(now, path, route, datagram);
    }

    /// The relay's part: checks the route, its source binding and the limits, then
    /// queues the datagram, route id rewritten, for the other side's path.
    fn forward(&mut self, now: Instant, path: PathId, route: u64, mut datagram: BytesMut) {
        let fwd = match self.relay.lookup(route) {
            Ok(f) => f,
            Err(_) => {
                self.stats.relay_dropped_unknown_route += 1;
                return;
            }
        };
        // The source binding holds for the owner's proven path only: a spoofed copy of
        // one of its packets moves its session's current path, not its proof.
        if self.proven_path(fwd.from) != Some(path) {
            self.stats.relay_dropped_wrong_source += 1;
            return;
        }
        let Some(dest) = self.live(fwd.to) else {
            self.stats.relay_dropped_unknown_route += 1;
            return;
        };
        // Never to an address the other side's session has not proven: one spoofed copy
        // of its packet would otherwise aim the whole route at a third party.
        let Some(to) = dest.proven_path().filter(|p| !p.is_relayed()) else {
            self.stats.relay_dropped_unproven += 1;
            return;
        };
        if self.relay_queue.len() >= self.config.rendezvous.forward_queue {
            self.stats.relay_dropped_queue_full += 1;
            return;
        }
        let len = datagram.len();
        if self
            .relay
            .spend(now, fwd.from, len, &self.config.rendezvous)
            .is_err()
        {
            self.stats.relay_dropped_rate += 1;
            return;
        }
        if write_relay_header(&mut datagram, fwd.to_route).is_err() {
            self.stats.relay_dropped_unknown_route += 1;
            return;
        }
        self.stats.relay_forwarded_packets += 1;
        self.stats.relay_forwarded_bytes += len as u64;
        self.relay_queue.push_back((to, datagram));
    }

    /// The current path of a live session.
    fn live_path(&self, handle: SessionHandle) -> Option<PathId> {
        self.live(handle).map(|s| s.path_id())
    }

    /// The proven path of a live session (its current one once validated, else the one
    /// it is moving from): where relay datagrams of its routes go and may come from.
    /// Never a relayed path: relay datagrams are not relayed again (a session that
    /// itself runs through a relay cannot carry routes), and a relayed path id must not
    /// reach the adapter.
    fn proven_path(&self, handle: SessionHandle) -> Option<PathId> {
        self.live(handle)?.proven_path().filter(|p| !p.is_relayed())
    }

    /// A packet of `len` bytes at the start of `buf` is for the relayed `path`: makes it
    /// a relay datagram in place and returns where it goes (the relay session's proven
    /// path) and its length. `None`: the route or its relay session is gone, the relay
    /// session has no proven path, or `buf` has no room; the packet is dropped (loss
    /// recovery resends what it carried).
    pub(super) fn wrap_relayed(
        &mut self,
        path: PathId,
        buf: &mut [u8],
        len: usize,
    ) -> Option<(PathId, usize)> {
        let (route, r) = self.rdv_client.route_of(path)?;
        // As the relay does (`forward`): only to where the relay was proven to be.
        let to = self.proven_path(r.relay)?;
        let total = len + RELAY_OVERHEAD;
        if total > buf.len() {
            return None;
        }
        buf.copy_within(..len, RELAY_OVERHEAD);
        write_relay_header(buf, route).ok()?;
        Some((to, total))
    }

    /// Takes the rendezvous frames a session queued, for [`Node::answer_rendezvous`].
    pub(super) fn collect_rendezvous(&mut self, index: u32) {
        let Some(s) = self.slots[index as usize].session.as_mut() else {
            return;
        };
        let items = s.take_rendezvous();
        if items.is_empty() {
            return;
        }
        let handle = s.handle();
        self.rdv_pending
            .extend(items.into_iter().map(|item| (handle, item)));
    }

    /// Answers what sessions queued: requests (when serving) and, on a member, the
    /// rendezvous's answers and introductions.
    pub(super) fn answer_rendezvous(&mut self) {
        for (handle, item) in core::mem::take(&mut self.rdv_pending) {
            let Some(peer) = self.live(handle).and_then(|s| s.peer()) else {
                continue;
            };
            match item {
                RdvInbound::Register { request_id } => {
                    let reply = self.on_register(handle, peer);
                    self.answer(handle, request_id, reply);
                }
                RdvInbound::Lookup { request_id, node } => {
                    let reply = if !self.config.rendezvous.serve {
                        Err(RdvStatus::NotServed)
                    } else {
                        self.stats.rendezvous_lookups += 1;
                        self.registry
                            .lookup(&node)
                            .map(|e| e.addr)
                            .ok_or(RdvStatus::NotFound)
                    };
                    self.answer(handle, request_id, reply);
                }
                RdvInbound::Connect { request_id, node } => {
                    if let Err(status) = self.on_connect(handle, peer, request_id, node) {
                        self.answer(handle, request_id, Err(status));
                    }
                }
                RdvInbound::Answer {
                    request_id,
                    status,
                    addr,
                } => self.on_answer(handle, request_id, status, addr),
                RdvInbound::Peer {
                    request_id,
                    initiator,
                    node,
                    route,
                    start,
                    addr,
                } => {
                    // Only a rendezvous this node uses may introduce a peer: the
                    // answer to its own CONNECT, or, unrequested (id 0), one where it
                    // registered. Any other member would otherwise steer it through
                    // itself (PROTOCOL.md §12.2).
                    let solicited = if request_id == 0 {
                        self.rdv_client.is_registered(handle)
                    } else {
                        self.rdv_client
                            .awaits(handle, request_id, RequestKind::Connect)
                    };
                    if !solicited {
                        self.stats.rendezvous_unsolicited += 1;
                        continue;
                    }
                    // A route already known is not announced again: a rendezvous
                    // repeating RDV_PEER cannot make the adapter map address after
                    // address.
                    if self.rdv_client.route(route).is_some() {
                        continue;
                    }
                    let Some(path) = self.rdv_client.add_route(route, handle, node) else {
                        continue;
                    };
                    if request_id != 0 {
                        self.rdv_client.finish_request(handle, request_id);
                    }
                    self.rdv_client.expect_candidate(node, start);
                    self.events.push_back(crate::event::Event::Rendezvous(
                        crate::RendezvousEvent::Peer {
                            session: handle,
                            request: request_id,
                            peer: node,
                            initiator,
                            path,
                            addr,
                            start,
                        },
                    ));
                }
            }
        }
    }

    fn live(&self, handle: SessionHandle) -> Option<&crate::session::Session> {
        let slot = self.slots.get(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.session.as_ref()
    }

    /// RDV_REGISTER: binds the NodeId that authenticated the session (`peer`), never
    /// one named by the frame (PROTOCOL.md §12.2).
    fn on_register(
        &mut self,
        handle: SessionHandle,
        peer: NodeId,
    ) -> Result<RemoteAddr, RdvStatus> {
        if !self.config.rendezvous.serve {
            return Err(RdvStatus::NotServed);
        }
        let addr = self.observed(handle);
        self.registry
            .register(peer, handle, addr, self.config.rendezvous.max_registrations)
            .map_err(|_| RdvStatus::Refused)?;
        self.stats.rendezvous_registered += 1;
        Ok(addr)
    }

    /// Where the session's peer is observed: the address of the datagram being handled
    /// when it came on the session's current path, else what the registry last saw.
    fn observed(&self, handle: SessionHandle) -> RemoteAddr {
        let path = self.live_path(handle);
        match self.last_remote {
            Some((p, addr)) if Some(p) == path => addr,
            _ => self
                .registry
                .node_of(handle)
                .and_then(|n| self.registry.lookup(&n))
                .map_or(RemoteAddr::from_path_id(path.map_or(0, |p| p.0)), |e| {
                    e.addr
                }),
        }
    }

    /// RDV_CONNECT: issues a route pair and introduces both peers (PROTOCOL.md §12.2).
    fn on_connect(
        &mut self,
        handle: SessionHandle,
        peer: NodeId,
        request_id: u64,
        node: NodeId,
    ) -> Result<(), RdvStatus> {
        let rc = self.config.rendezvous;
        if !rc.serve {
            return Err(RdvStatus::NotServed);
        }
        if !self.registry.fresh_connect(handle, request_id) {
            return Ok(());
        }
        let me = self.registry.lookup(&peer).filter(|e| e.session == handle);
        let (Some(me), Some(target)) = (me, self.registry.lookup(&node)) else {
            return Err(RdvStatus::NotFound);
        };
        if target.session == handle {
            return Err(RdvStatus::NotFound);
        }
        let ids = loop {
            let (a, b) = (self.rng_public.u64(), self.rng_public.u64());
            if a != 0 && b != 0 && a != b {
                break (a, b);
            }
        };
        if self
            .relay
            .allocate(handle, target.session, ids, &rc)
            .is_err()
        {
            self.stats.relay_routes_refused += 1;
            return Err(RdvStatus::Refused);
        }
        // Both start at about the same moment: each one's delay is the common lead
        // less the half round trip its RDV_PEER takes to arrive.
        // A session without an RTT sample yet counts as 0: starting early costs a few
        // probes, while the initial 333 ms guess would hold the punch back for nothing.
        let rtt = |h| {
            self.live(h)
                .and_then(|s| s.measured_rtt())
                .unwrap_or(Duration::ZERO)
                .min(MAX_PUNCH_RTT)
        };
        let (rtt_a, rtt_b) = (rtt(handle), rtt(target.session));
        let lead = rtt_a.max(rtt_b) * 3 / 4 + PUNCH_MARGIN;
        // `rtt / 2` is below `lead` (both RTTs are at most their maximum); saturating
        // keeps it so should the timing rule change.
        let delay =
            |rtt: Duration| u64::try_from(lead.saturating_sub(rtt / 2).as_millis()).unwrap_or(0);
        self.queue_on(
            handle,
            Control::RdvPeer {
                request_id,
                initiator: true,
                node: node.0,
                route: ids.0,
                start_delay_ms: delay(rtt_a),
                addr: target.addr,
            },
        );
        self.queue_on(
            target.session,
            Control::RdvPeer {
                request_id: 0,
                initiator: false,
                node: peer.0,
                route: ids.1,
                start_delay_ms: delay(rtt_b),
                addr: me.addr,
            },
        );
        Ok(())
    }

    fn answer(
        &mut self,
        handle: SessionHandle,
        request_id: u64,
        reply: Result<RemoteAddr, RdvStatus>,
    ) {
        let (status, addr) = match reply {
            Ok(addr) => (RdvStatus::Ok, addr),
            Err(status) => (
                status,
                RemoteAddr::new(&[]).unwrap_or(RemoteAddr::from_path_id(0)),
            ),
        };
        self.queue_on(
            handle,
            Control::RdvAnswer {
                request_id,
                status,
                addr,
            },
        );
    }

    /// A member's request was answered: the event the application waits for.
    fn on_answer(
        &mut self,
        handle: SessionHandle,
        request: u64,
        status: RdvStatus,
        addr: RemoteAddr,
    ) {
        use crate::RendezvousEvent as E;
        let Some(kind) = self.rdv_client.finish_request(handle, request) else {
            return;
        };
        if (status, kind) == (RdvStatus::Ok, RequestKind::Register) {
            self.rdv_client.set_registered(handle);
        }
        let event = match (status, kind) {
            (RdvStatus::Ok, RequestKind::Register) => E::Registered {
                session: handle,
                request,
                observed: addr,
            },
            (RdvStatus::Ok, RequestKind::Lookup) => E::Found {
                session: handle,
                request,
                addr,
            },
            // A CONNECT succeeds with RDV_PEER, never with an OK answer.
            (status, _) => E::Failed {
                session: handle,
                request,
                status: if status == RdvStatus::Ok {
                    RdvStatus::NotFound
                } else {
                    status
                },
            },
        };
        self.events
            .push_back(crate::event::Event::Rendezvous(event));
    }

    /// Queues a control frame on a session and schedules it for sending.
    fn queue_on(&mut self, handle: SessionHandle, control: Control) {
        let index = handle.index;
        let Some(slot) = self.slots.get_mut(index as usize) else {
            return;
        };
        if slot.generation != handle.generation {
            return;
        }
        let Some(s) = slot.session.as_mut() else {
            return;
        };
        s.queue_control(control);
        if !slot.queued {
            slot.queued = true;
            self.dirty.push_back(index);
        }
        self.mark_timer(index);
    }

    /// The direct path to `peer` (the adapter's path for the address in
    /// [`RendezvousEvent::Peer`](crate::RendezvousEvent::Peer)): every session with
    /// `peer` that started relayed starts probing it at the punch start time
    /// (PROTOCOL.md §12.4); a session that comes up later starts when it does.
    pub fn punch(&mut self, now: Instant, peer: NodeId, path: PathId) {
        if path.is_relayed() || !self.config.rendezvous.punch {
            return;
        }
        let c = self.rdv_client.set_candidate_path(peer, path, now);
        for handle in self.sessions() {
            let Node {
                slots, rng_public, ..
            } = self;
            let Some(s) = slots[handle.index as usize].session.as_mut() else {
                continue;
            };
            if s.peer() == Some(peer) && s.standby().is_some() {
                s.set_punch(path, c.start, rng_public);
                self.mark_timer(handle.index);
            }
        }
    }

    /// A session just came up: if it started relayed and its peer's direct path is
    /// known, it starts punching.
    pub(super) fn start_punch_if_known(&mut self, index: u32) {
        let Node {
            slots,
            rng_public,
            rdv_client,
            ..
        } = self;
        let Some(s) = slots[index as usize].session.as_mut() else {
            return;
        };
        if s.standby().is_none() {
            return;
        }
        if let Some(peer) = s.peer()
            && let Some((path, start)) = rdv_client.candidate(&peer)
        {
            s.set_punch(path, start, rng_public);
        }
    }

    /// Whether `path` is one of this node's relayed paths whose route is still held.
    pub fn is_relayed_path(&self, path: PathId) -> bool {
        self.rdv_client.route_of(path).is_some()
    }

    /// Rendezvous counters: members registered and relay routes held (when serving).
    pub fn rendezvous_counts(&self) -> (usize, usize) {
        (self.registry.len(), self.relay.len())
    }
}

impl SessionRef<'_> {
    /// Registers this node with the rendezvous at the other end of this session
    /// (RDV_REGISTER, PROTOCOL.md §12.2). The answer is
    /// [`RendezvousEvent::Registered`](crate::RendezvousEvent::Registered) or `Failed`.
    pub fn rendezvous_register(&mut self, now: Instant) -> Result<u64, RendezvousError> {
        self.rendezvous_request(now, RequestKind::Register, [0; 32])
    }

    /// Asks the rendezvous for `node`'s observed address (RDV_LOOKUP). The answer is
    /// [`RendezvousEvent::Found`](crate::RendezvousEvent::Found) or `Failed`.
    pub fn rendezvous_lookup(
        &mut self,
        now: Instant,
        node: NodeId,
    ) -> Result<u64, RendezvousError> {
        self.rendezvous_request(now, RequestKind::Lookup, node.0)
    }

    /// Asks the rendezvous to introduce this node to `node` (RDV_CONNECT; this node must
    /// be registered). The answer is [`RendezvousEvent::Peer`](crate::RendezvousEvent::Peer)
    /// (then connect on its path) or `Failed`.
    pub fn rendezvous_connect(
        &mut self,
        now: Instant,
        node: NodeId,
    ) -> Result<u64, RendezvousError> {
        self.rendezvous_request(now, RequestKind::Connect, node.0)
    }

    fn rendezvous_request(
        &mut self,
        now: Instant,
        kind: RequestKind,
        node: [u8; 32],
    ) -> Result<u64, RendezvousError> {
        if !self.session().is_established() {
            return Err(RendezvousError::NotConnected);
        }
        let handle = self.handle;
        let request_id = self
            .node
            .rdv_client
            .start_request(handle, kind)
            .ok_or(RendezvousError::TooManyRequests)?;
        self.session().queue_control(Control::RdvRequest {
            kind,
            request_id,
            node,
        });
        self.done(now, Ok(request_id))
    }
}
