//! The direct paths the adapter pins for hole punching (PROTOCOL.md §12.4). When a
//! rendezvous introduces a peer, the adapter makes a path for the peer's observed
//! address and pins it so the table does not recycle it while probes may use it. This
//! module owns when that pin is released: a later introduction of the same peer
//! replaces it, and it goes when the last session with that peer closes or when the
//! session with the rendezvous that made the introduction ends. At most
//! [`MAX_PUNCH_PINS`] are held; beyond that a path is punched unpinned.
//! No IO and no protocol decisions here.

use std::collections::HashMap;
use std::hash::Hash;

use stt_proto::{Event, NodeId, PathId, SessionHandle};

use super::PathTable;

/// Most punch paths pinned at once (as many as the core keeps punch candidates).
pub const MAX_PUNCH_PINS: usize = 256;

/// One pinned punch path.
#[derive(Debug, Clone, Copy)]
struct Pin {
    /// The session with the rendezvous that introduced the peer.
    relay: SessionHandle,
    path: PathId,
}

/// Punch paths pinned per introduced peer, and the peers of live sessions.
#[derive(Debug, Default)]
pub struct PunchPins {
    by_peer: HashMap<NodeId, Pin>,
    peers: HashMap<SessionHandle, NodeId>,
}

impl PunchPins {
    /// Number of punch paths pinned.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.by_peer.len()
    }

    /// True when none is pinned.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.by_peer.is_empty()
    }

    /// `relay` introduced `peer` at `path`: pins it, releasing the path pinned for an
    /// earlier introduction of `peer`.
    pub fn introduced<A: Eq + Hash + Clone>(
        &mut self,
        relay: SessionHandle,
        peer: NodeId,
        path: PathId,
        paths: &mut PathTable<A>,
    ) {
        if self.by_peer.len() >= MAX_PUNCH_PINS && !self.by_peer.contains_key(&peer) {
            return;
        }
        paths.pin(path);
        if let Some(old) = self.by_peer.insert(peer, Pin { relay, path }) {
            paths.unpin(old.path);
        }
    }

    /// Follows the engine: remembers each session's peer, and releases a peer's pin
    /// when its last session closes and every pin a closed rendezvous session made.
    /// Call for every event.
    pub fn on_event<A: Eq + Hash + Clone>(&mut self, event: &Event, paths: &mut PathTable<A>) {
        match event {
            Event::Connected { session, peer, .. } => {
                self.peers.insert(*session, *peer);
            }
            Event::Closed { session, .. } => {
                let peer = self.peers.remove(session);
                let gone: Vec<NodeId> = self
                    .by_peer
                    .iter()
                    .filter(|(p, pin)| {
                        pin.relay == *session
                            || (Some(**p) == peer && !self.peers.values().any(|q| q == *p))
                    })
                    .map(|(p, _)| *p)
                    .collect();
                for p in gone {
                    if let Some(pin) = self.by_peer.remove(&p) {
                        paths.unpin(pin.path);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_handle;
    use stt_proto::error::SessionError;

    fn closed(session: SessionHandle) -> Event {
        Event::Closed {
            session,
            reason: SessionError::TimedOut,
        }
    }

    fn connected(session: SessionHandle, peer: NodeId) -> Event {
        Event::Connected {
            session,
            peer,
            initiator: false,
        }
    }

    #[test]
    fn a_pin_goes_with_the_last_session_of_its_peer() {
        let mut paths = PathTable::<u32>::new(8);
        let mut pins = PunchPins::default();
        let (relay, a, b) = (test_handle(0), test_handle(1), test_handle(2));
        let peer = NodeId([5; 32]);
        let p = paths.path_for(&1);
        pins.introduced(relay, peer, p, &mut paths);
        assert!(paths.is_pinned(p));
        pins.on_event(&connected(a, peer), &mut paths);
        pins.on_event(&connected(b, peer), &mut paths);
        pins.on_event(&closed(a), &mut paths);
        assert!(paths.is_pinned(p), "another session with the peer lives");
        pins.on_event(&closed(b), &mut paths);
        assert!(!paths.is_pinned(p));
        assert!(pins.is_empty());
    }

    #[test]
    fn a_new_introduction_replaces_the_pin_and_the_relay_session_releases_all() {
        let mut paths = PathTable::<u32>::new(8);
        let mut pins = PunchPins::default();
        let relay = test_handle(0);
        let (p1, p2, q) = (paths.path_for(&1), paths.path_for(&2), paths.path_for(&3));
        pins.introduced(relay, NodeId([5; 32]), p1, &mut paths);
        pins.introduced(relay, NodeId([5; 32]), p2, &mut paths);
        pins.introduced(relay, NodeId([6; 32]), q, &mut paths);
        assert!(!paths.is_pinned(p1) && paths.is_pinned(p2) && paths.is_pinned(q));
        assert_eq!(pins.len(), 2);
        pins.on_event(&closed(test_handle(3)), &mut paths);
        assert_eq!(pins.len(), 2, "an unrelated session");
        pins.on_event(&closed(relay), &mut paths);
        assert!(!paths.is_pinned(p2) && !paths.is_pinned(q));
        assert!(pins.is_empty());
    }

    #[test]
    fn pins_are_bounded() {
        let mut paths = PathTable::<u32>::new(8);
        let mut pins = PunchPins::default();
        for i in 0..(MAX_PUNCH_PINS as u32 + 10) {
            let p = paths.path_for(&i);
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_le_bytes());
            pins.introduced(test_handle(0), NodeId(id), p, &mut paths);
        }
        assert_eq!(pins.len(), MAX_PUNCH_PINS);
        assert_eq!(paths.len() - paths.idle_len(), MAX_PUNCH_PINS);
    }
}
