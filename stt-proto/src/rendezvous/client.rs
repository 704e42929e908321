//! A member's side of rendezvous (PROTOCOL.md §12.2–§12.4): its request ids, the relay
//! routes it was issued (route id ⇄ the relayed [`PathId`] its sessions see) and the
//! punch candidates waiting for a direct path and a session. Bounded: a rendezvous
//! cannot make a member hold more than [`MAX_CLIENT_ROUTES`] routes or candidates.

use alloc::collections::{BTreeMap, BTreeSet};

use crate::identity::NodeId;
use crate::ids::{PathId, SessionHandle};
use crate::time::Instant;

use super::RequestKind;

/// Most relay routes (and punch candidates) a member holds at once; more are refused.
pub(crate) const MAX_CLIENT_ROUTES: usize = 256;

/// A relay route issued to this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientRoute {
    /// The session with the relay that issued it: relay datagrams go to its path.
    pub relay: SessionHandle,
    /// The peer at the other end.
    pub peer: NodeId,
    /// The relayed path sessions use for it.
    pub path: PathId,
}

/// A direct path to try for a peer, from an RDV_PEER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Candidate {
    /// The adapter's path for the peer's observed address, once it named one.
    pub path: Option<PathId>,
    /// When punching starts.
    pub start: Instant,
}

/// Routes, candidates and request numbering.
#[derive(Debug, Clone, Default)]
pub(crate) struct Client {
    routes: BTreeMap<u64, ClientRoute>,
    by_path: BTreeMap<PathId, u64>,
    next_path: u64,
    candidates: BTreeMap<NodeId, Candidate>,
    last_request: u64,
    /// Requests waiting for their answer, by session with the rendezvous and id.
    requests: BTreeMap<(SessionHandle, u64), RequestKind>,
    /// Sessions on which a rendezvous accepted this node's registration: the only
    /// ones whose unrequested introductions (RDV_PEER with request id 0) count.
    registered: BTreeSet<SessionHandle>,
}

impl Client {
    /// Numbers a new request on `session` (ids from 1, increasing: PROTOCOL.md §12.2)
    /// and remembers it until answered; `None` when [`MAX_CLIENT_ROUTES`] wait already.
    pub fn start_request(&mut self, session: SessionHandle, kind: RequestKind) -> Option<u64> {
        if self.requests.len() >= MAX_CLIENT_ROUTES {
            return None;
        }
        self.last_request += 1;
        self.requests.insert((session, self.last_request), kind);
        Some(self.last_request)
    }

    /// The answer to a request arrived: what it was, if it was still waiting.
    pub fn finish_request(&mut self, session: SessionHandle, id: u64) -> Option<RequestKind> {
        self.requests.remove(&(session, id))
    }

    /// The request `id` on `session` waits for its answer and is of `kind`.
    pub fn awaits(&self, session: SessionHandle, id: u64, kind: RequestKind) -> bool {
        self.requests.get(&(session, id)) == Some(&kind)
    }

    /// The rendezvous at the other end of `session` accepted this node's registration.
    pub fn set_registered(&mut self, session: SessionHandle) {
        self.registered.insert(session);
    }

    /// Whether this node is registered on `session`.
    pub fn is_registered(&self, session: SessionHandle) -> bool {
        self.registered.contains(&session)
    }

    /// Records a route; returns its relayed path (the same one for a repeated route),
    /// or `None` when full.
    pub fn add_route(&mut self, route: u64, relay: SessionHandle, peer: NodeId) -> Option<PathId> {
        if let Some(r) = self.routes.get(&route) {
            return Some(r.path);
        }
        if self.routes.len() >= MAX_CLIENT_ROUTES {
            return None;
        }
        let path = PathId::relayed(self.next_path);
        self.next_path = (self.next_path + 1) & !PathId::RELAYED_BIT;
        self.routes.insert(route, ClientRoute { relay, peer, path });
        self.by_path.insert(path, route);
        Some(path)
    }

    /// The route a relayed path stands for, and its id.
    pub fn route_of(&self, path: PathId) -> Option<(u64, ClientRoute)> {
        let id = *self.by_path.get(&path)?;
        Some((id, *self.routes.get(&id)?))
    }

    /// The route with this id.
    pub fn route(&self, id: u64) -> Option<ClientRoute> {
        self.routes.get(&id).copied()
    }

    /// Notes a peer's punch start (the direct path follows from the adapter).
    pub fn expect_candidate(&mut self, peer: NodeId, start: Instant) {
        if self.candidates.len() >= MAX_CLIENT_ROUTES && !self.candidates.contains_key(&peer) {
            return;
        }
        let c = self
            .candidates
            .entry(peer)
            .or_insert(Candidate { path: None, start });
        c.start = start;
    }

    /// The adapter's direct path for `peer`; returns the candidate when one is known
    /// (punching was arranged), else keeps it with a start of `now`.
    pub fn set_candidate_path(&mut self, peer: NodeId, path: PathId, now: Instant) -> Candidate {
        if self.candidates.len() >= MAX_CLIENT_ROUTES && !self.candidates.contains_key(&peer) {
            return Candidate {
                path: Some(path),
                start: now,
            };
        }
        let c = self.candidates.entry(peer).or_insert(Candidate {
            path: None,
            start: now,
        });
        c.path = Some(path);
        *c
    }

    /// The candidate for `peer`, if its direct path is known.
    pub fn candidate(&self, peer: &NodeId) -> Option<(PathId, Instant)> {
        let c = self.candidates.get(peer)?;
        Some((c.path?, c.start))
    }

    /// The session with a relay ended: its routes go.
    pub fn forget_relay(&mut self, relay: SessionHandle) {
        let gone: alloc::vec::Vec<u64> = self
            .routes
            .iter()
            .filter(|(_, r)| r.relay == relay)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            if let Some(r) = self.routes.remove(&id) {
                self.by_path.remove(&r.path);
            }
        }
        self.requests.retain(|(s, _), _| *s != relay);
        self.registered.remove(&relay);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_map_to_relayed_paths_both_ways_and_go_with_their_relay() {
        let mut c = Client::default();
        let relay = SessionHandle::test(1);
        let p = c.add_route(77, relay, NodeId([2; 32])).unwrap();
        assert!(p.is_relayed());
        assert_eq!(c.add_route(77, relay, NodeId([2; 32])), Some(p));
        assert_eq!(c.route_of(p).map(|(id, _)| id), Some(77));
        let q = c
            .add_route(78, SessionHandle::test(2), NodeId([3; 32]))
            .unwrap();
        assert_ne!(p, q);
        c.forget_relay(relay);
        assert_eq!(c.route_of(p), None);
        assert!(c.route(78).is_some());
    }

    #[test]
    fn routes_are_bounded() {
        let mut c = Client::default();
        for i in 1..=MAX_CLIENT_ROUTES as u64 {
            assert!(
                c.add_route(i, SessionHandle::test(1), NodeId([0; 32]))
                    .is_some()
            );
        }
        assert_eq!(
            c.add_route(9999, SessionHandle::test(1), NodeId([0; 32])),
            None
        );
    }

    #[test]
    fn request_ids_start_at_one_increase_and_are_answered_once() {
        let mut c = Client::default();
        let s = SessionHandle::test(1);
        assert_eq!(c.start_request(s, RequestKind::Register), Some(1));
        assert_eq!(c.start_request(s, RequestKind::Lookup), Some(2));
        assert_eq!(c.finish_request(s, 2), Some(RequestKind::Lookup));
        assert_eq!(c.finish_request(s, 2), None);
        assert_eq!(c.finish_request(SessionHandle::test(2), 1), None);
    }
}
