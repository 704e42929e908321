//! The adapter's map between the opaque [`PathId`]s the engine sees and the remote
//! endpoints (UDP socket addresses, WebSocket connections) the adapter sends to, and
//! the rule that keeps it bounded.
//!
//! One id per remote; ids are never reused, so a late packet cannot reach a new owner.
//! Any datagram from a new source address makes a path before the engine has looked at
//! it, so unauthenticated traffic must not make the table grow without bound: a path is
//! *pinned* while something needs it (a session's current path, a live WebSocket
//! connection) and *idle* otherwise. Idle paths are kept in least-recently-used order
//! and the oldest are forgotten beyond [`PathTable::idle_limit`]. Forgetting an idle
//! path is harmless: a later datagram from that remote simply gets a fresh id (cookies
//! and INIT limits are bound to the remote's address bytes, not to the id). An idle path
//! the engine still uses — a half-open handshake's, an accepted session's, one with a
//! reply queued ([`Node::path_in_use`]) — is never forgotten: [`PathTable::path_for_node`]
//! skips it.
//! No IO and no protocol decisions here.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;

use stt_proto::{Event, Node, PathId, SessionHandle};

/// Idle (unpinned) paths kept by default. Handshakes, probes of a migrating peer and
/// recently closed sessions live here; a flood of new source addresses evicts the
/// least recently used first.
pub const DEFAULT_IDLE_PATHS: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Entry {
    id: PathId,
    /// Holders that need this path (sessions on it, a live connection).
    pins: u32,
    /// Last use, in table ticks; the key in `idle` while `pins == 0`.
    used: u64,
}

/// A bidirectional PathId ⇄ remote table with bounded idle entries.
#[derive(Debug, Clone)]
pub struct PathTable<A> {
    by_addr: HashMap<A, Entry>,
    by_id: HashMap<PathId, A>,
    /// Unpinned paths by last use, oldest first.
    idle: BTreeMap<u64, PathId>,
    /// The path each session pins (its current one).
    sessions: HashMap<SessionHandle, PathId>,
    next: u64,
    tick: u64,
    idle_limit: usize,
}

impl<A> Default for PathTable<A> {
    fn default() -> Self {
        Self::new(DEFAULT_IDLE_PATHS)
    }
}

impl<A> PathTable<A> {
    /// An empty table keeping at most `idle_limit` unpinned paths (at least 1).
    pub fn new(idle_limit: usize) -> Self {
        Self {
            by_addr: HashMap::new(),
            by_id: HashMap::new(),
            idle: BTreeMap::new(),
            sessions: HashMap::new(),
            next: 1,
            tick: 0,
            idle_limit: idle_limit.max(1),
        }
    }

    /// Most unpinned paths kept.
    pub fn idle_limit(&self) -> usize {
        self.idle_limit
    }

    /// Number of known paths (pinned and idle).
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Number of idle (unpinned) paths.
    pub fn idle_len(&self) -> usize {
        self.idle.len()
    }

    /// True when no path is known.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

impl<A: Eq + Hash + Clone> PathTable<A> {
    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// The id of `addr`, allocating a fresh (idle) one the first time it is seen.
    /// Marks an idle path as recently used; may forget the oldest idle path.
    pub fn path_for(&mut self, addr: &A) -> PathId {
        let (id, new) = self.touch_or_insert(addr);
        if new {
            self.evict();
        }
        id
    }

    /// The id of `addr` (fresh and idle the first time), marked as recently used; says
    /// whether it is new. Forgets nothing.
    fn touch_or_insert(&mut self, addr: &A) -> (PathId, bool) {
        self.tick += 1;
        let tick = self.tick;
        if let Some(e) = self.by_addr.get_mut(addr) {
            if e.pins == 0 {
                self.idle.remove(&e.used);
                self.idle.insert(tick, e.id);
                e.used = tick;
            }
            return (e.id, false);
        }
        let id = PathId(self.next);
        self.next += 1;
        self.by_addr.insert(
            addr.clone(),
            Entry {
                id,
                pins: 0,
                used: tick,
            },
        );
        self.by_id.insert(id, addr.clone());
        self.idle.insert(tick, id);
        (id, true)
    }

    /// As [`PathTable::path_for`], but an idle path that `node` still uses
    /// ([`Node::path_in_use`]) is kept rather than forgotten: the adapters call this one for
    /// received datagrams. Those kept paths are bounded by the engine's own limits (half-open
    /// handshakes, sessions, queued replies).
    pub fn path_for_node(&mut self, addr: &A, node: &Node) -> PathId {
        self.path_for_in_use(addr, |id| node.path_in_use(id))
    }

    /// As [`PathTable::path_for`], never forgetting an idle path for which `in_use` is true.
    pub fn path_for_in_use(&mut self, addr: &A, in_use: impl Fn(PathId) -> bool) -> PathId {
        let (id, new) = self.touch_or_insert(addr);
        if new {
            self.evict_skipping(&in_use);
        }
        id
    }

    /// The id of `addr`, if it has one.
    pub fn get(&self, addr: &A) -> Option<PathId> {
        self.by_addr.get(addr).map(|e| e.id)
    }

    /// Where packets for `id` go.
    pub fn addr(&self, id: PathId) -> Option<&A> {
        self.by_id.get(&id)
    }

    /// True when `id` is known and pinned.
    pub fn is_pinned(&self, id: PathId) -> bool {
        self.entry(id).is_some_and(|e| e.pins > 0)
    }

    fn entry(&self, id: PathId) -> Option<&Entry> {
        self.by_id.get(&id).and_then(|a| self.by_addr.get(a))
    }

    fn entry_mut(&mut self, id: PathId) -> Option<&mut Entry> {
        let a = self.by_id.get(&id)?;
        self.by_addr.get_mut(a)
    }

    /// Keeps `id` from being forgotten until a matching [`PathTable::unpin`].
    /// Unknown ids are ignored.
    pub fn pin(&mut self, id: PathId) {
        let Some(e) = self.entry_mut(id) else {
            return;
        };
        e.pins += 1;
        if e.pins == 1 {
            let used = e.used;
            self.idle.remove(&used);
        }
    }

    /// Drops one pin of `id`; with none left it becomes idle (most recently used).
    /// Unknown or unpinned ids are ignored.
    pub fn unpin(&mut self, id: PathId) {
        let tick = self.next_tick();
        let Some(e) = self.entry_mut(id) else {
            return;
        };
        if e.pins == 0 {
            return;
        }
        e.pins -= 1;
        if e.pins == 0 {
            e.used = tick;
            self.idle.insert(tick, id);
            self.evict();
        }
    }

    /// Makes `path` the one `session` pins, releasing the one it pinned before.
    pub fn set_session_path(&mut self, session: SessionHandle, path: PathId) {
        match self.sessions.insert(session, path) {
            Some(old) if old == path => {}
            Some(old) => {
                self.pin(path);
                self.unpin(old);
            }
            None => self.pin(path),
        }
    }

    /// Releases whatever `session` pinned (it closed).
    pub fn release_session(&mut self, session: SessionHandle) {
        if let Some(old) = self.sessions.remove(&session) {
            self.unpin(old);
        }
    }

    /// Follows the engine: a connected session pins its path, a path change moves the
    /// pin, a closed session releases it. Call for every event `node` emits.
    pub fn on_event(&mut self, event: &Event, node: &mut Node) {
        match event {
            Event::Connected { session, .. } => {
                if let Some(path) = node.session(*session).map(|mut s| s.path()) {
                    self.set_session_path(*session, path);
                }
            }
            Event::PathChanged { session, path } => self.set_session_path(*session, *path),
            Event::Closed { session, .. } => self.release_session(*session),
            _ => {}
        }
    }

    /// Forgets `id` (its remote went away), pinned or not.
    pub fn remove(&mut self, id: PathId) -> Option<A> {
        let addr = self.by_id.remove(&id)?;
        if let Some(e) = self.by_addr.remove(&addr)
            && e.pins == 0
        {
            self.idle.remove(&e.used);
        }
        Some(addr)
    }

    /// Keeps only the ids for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(PathId, &A) -> bool) {
        let gone: Vec<PathId> = self
            .by_id
            .iter()
            .filter(|(id, a)| !keep(**id, a))
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            self.remove(id);
        }
    }

    /// Forgets the least recently used idle paths beyond the limit, except those in use,
    /// which become most recently used (each is looked at once per call).
    fn evict_skipping(&mut self, in_use: &impl Fn(PathId) -> bool) {
        let mut looked = 0;
        while self.idle.len() > self.idle_limit && looked < self.idle.len() {
            looked += 1;
            let Some((_, id)) = self.idle.pop_first() else {
                return;
            };
            if in_use(id) {
                let tick = self.next_tick();
                if let Some(e) = self.entry_mut(id) {
                    e.used = tick;
                }
                self.idle.insert(tick, id);
            } else if let Some(addr) = self.by_id.remove(&id) {
                self.by_addr.remove(&addr);
            }
        }
    }

    /// Forgets the least recently used idle paths beyond the limit.
    fn evict(&mut self) {
        while self.idle.len() > self.idle_limit {
            let Some((_, id)) = self.idle.pop_first() else {
                return;
            };
            if let Some(addr) = self.by_id.remove(&id) {
                self.by_addr.remove(&addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::test_handle as handle;

    /// Every id maps to an address that maps back to it; idle holds exactly the
    /// unpinned entries under their last-use tick; the idle bound holds.
    fn check<A: Eq + Hash + Clone + std::fmt::Debug>(t: &PathTable<A>) {
        assert_eq!(t.by_id.len(), t.by_addr.len());
        for (id, a) in &t.by_id {
            let e = t.by_addr.get(a).expect("address without entry");
            assert_eq!(e.id, *id);
            if e.pins == 0 {
                assert_eq!(t.idle.get(&e.used), Some(id));
            }
        }
        let unpinned = t.by_addr.values().filter(|e| e.pins == 0).count();
        assert_eq!(t.idle.len(), unpinned);
        assert!(t.idle.len() <= t.idle_limit);
    }

    #[test]
    fn ids_are_stable() {
        let mut t = PathTable::default();
        let a = t.path_for(&"a");
        assert_eq!(t.path_for(&"a"), a);
        let b = t.path_for(&"b");
        assert_ne!(a, b);
        assert_eq!(t.addr(a), Some(&"a"));
        assert_eq!(t.get(&"b"), Some(b));
        check(&t);
        t.retain(|id, _| id != a && id != b);
        assert!(t.is_empty());
        let c = t.path_for(&"c");
        assert_eq!(t.remove(c), Some("c"));
        assert!(t.is_empty());
        check(&t);
    }

    #[test]
    fn a_flood_of_new_addresses_stays_bounded_and_spares_pinned_paths() {
        let mut t = PathTable::new(64);
        let live = t.path_for(&0u32);
        t.set_session_path(handle(1), live);
        let conn = t.path_for(&1u32);
        t.pin(conn);
        for a in 2..100_000u32 {
            t.path_for(&a);
            assert!(t.len() <= 64 + 2);
        }
        check(&t);
        assert_eq!(t.len(), 66);
        assert_eq!(t.addr(live), Some(&0));
        assert_eq!(t.path_for(&0), live);
        assert_eq!(t.addr(conn), Some(&1));
        // The flood's newest sources are the ones kept.
        assert!(t.get(&99_999).is_some());
        assert!(t.get(&2).is_none());
    }

    /// A half-open handshake's path is idle in the table (no session pins it yet) but the
    /// engine still uses it: a flood of new sources must not make it forget the id.
    #[test]
    fn a_flood_spares_idle_paths_the_engine_uses() {
        use stt_proto::{Identity, Instant, NetworkKey, RemoteAddr, config::NodeConfig};
        let node_at = |seed: u8| {
            Node::new(
                std::sync::Arc::new(NodeConfig::default()),
                Identity::from_node_seed(&[seed; 32]).unwrap(),
                NetworkKey::from_shared_seed(&[7; 32]).unwrap(),
                [seed; 32],
            )
            .unwrap()
        };
        let (mut client, mut server) = (node_at(1), node_at(2));
        let now = Instant::from_micros(1);
        client.connect(now, PathId(1)).unwrap();
        let mut buf = vec![0u8; 2048];
        let init = client.poll_transmit(now, &mut buf).unwrap();
        let mut t: PathTable<u32> = PathTable::new(64);
        let half_open = t.path_for_node(&0, &server);
        let remote = RemoteAddr::new(&[0]).unwrap();
        let d = bytes::BytesMut::from(&buf[..init.len]);
        server.handle_datagram_from(now, half_open, &remote, d);
        while server.poll_transmit(now, &mut buf).is_some() {}
        assert_eq!(server.half_open_count(), 1);
        for a in 1..10_000u32 {
            t.path_for_node(&a, &server);
            assert!(t.len() <= 64 + 1);
        }
        assert_eq!(
            t.addr(half_open),
            Some(&0),
            "the half-open path was forgotten"
        );
        // Once the handshake is gone the path is an idle one like any other.
        server.handle_timeout(Instant::from_micros(60_000_000));
        for a in 10_000..10_100u32 {
            t.path_for_node(&a, &server);
        }
        assert_eq!(t.addr(half_open), None);
        check(&t);
    }

    #[test]
    fn recently_used_idle_paths_outlive_older_ones() {
        let mut t = PathTable::new(4);
        let probe = t.path_for(&"probe");
        for a in ["a", "b", "c"] {
            t.path_for(&a);
        }
        // The probe keeps receiving: it is the most recent, "a" is the oldest.
        assert_eq!(t.path_for(&"probe"), probe);
        t.path_for(&"d");
        assert_eq!(t.get(&"a"), None);
        assert_eq!(t.get(&"probe"), Some(probe));
        check(&t);
    }

    #[test]
    fn sessions_move_and_release_their_pins() {
        let mut t = PathTable::new(2);
        let p1 = t.path_for(&"p1");
        let p2 = t.path_for(&"p2");
        // Two sessions on one path (same peer address), one migrates away.
        t.set_session_path(handle(1), p1);
        t.set_session_path(handle(2), p1);
        t.set_session_path(handle(2), p1);
        assert!(t.is_pinned(p1));
        t.set_session_path(handle(2), p2);
        assert!(t.is_pinned(p1) && t.is_pinned(p2));
        t.release_session(handle(1));
        assert!(!t.is_pinned(p1));
        assert!(t.is_pinned(p2));
        check(&t);
        // p1 is idle now and can be evicted by newer idle paths; p2 cannot.
        for a in ["x", "y", "z"] {
            t.path_for(&a);
        }
        assert_eq!(t.addr(p1), None);
        assert_eq!(t.addr(p2), Some(&"p2"));
        t.release_session(handle(2));
        t.release_session(handle(2));
        check(&t);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn unknown_ids_are_ignored() {
        let mut t: PathTable<u8> = PathTable::new(0);
        assert_eq!(t.idle_limit(), 1);
        t.pin(PathId(9));
        t.unpin(PathId(9));
        t.set_session_path(handle(1), PathId(9));
        t.release_session(handle(1));
        assert!(t.is_empty());
        let a = t.path_for(&1);
        t.unpin(a);
        assert!(!t.is_pinned(a));
        check(&t);
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            See(u8),
            Pin(u8),
            Unpin(u8),
            Session(u8, u8),
            Release(u8),
            Remove(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => any::<u8>().prop_map(Op::See),
                1 => any::<u8>().prop_map(Op::Pin),
                1 => any::<u8>().prop_map(Op::Unpin),
                2 => (0u8..8, any::<u8>()).prop_map(|(s, p)| Op::Session(s, p)),
                1 => (0u8..8).prop_map(Op::Release),
                1 => any::<u8>().prop_map(Op::Remove),
            ]
        }

        proptest! {
            /// Any sequence of operations keeps the two maps and the idle order
            /// consistent, and never exceeds the idle bound; a session's current path
            /// is never evicted while the session holds it.
            #[test]
            fn table_invariants(limit in 1usize..16, ops in proptest::collection::vec(op(), 0..300)) {
                let mut t = PathTable::new(limit);
                // Explicit pins the test holds, as a connection would.
                let mut held: Vec<PathId> = Vec::new();
                for op in ops {
                    match op {
                        Op::See(a) => { t.path_for(&a); }
                        Op::Pin(a) => {
                            let p = t.path_for(&a);
                            t.pin(p);
                            held.push(p);
                        }
                        Op::Unpin(i) => {
                            if !held.is_empty() {
                                let p = held.swap_remove(i as usize % held.len());
                                t.unpin(p);
                            }
                        }
                        Op::Session(s, a) => {
                            let p = t.path_for(&a);
                            t.set_session_path(handle(s as u32), p);
                        }
                        Op::Release(s) => t.release_session(handle(s as u32)),
                        Op::Remove(i) => { t.remove(PathId(i as u64)); }
                    }
                    check(&t);
                    for p in t.sessions.values().chain(&held) {
                        // Removed explicitly (a closed connection) or still pinned.
                        if t.addr(*p).is_some() {
                            prop_assert!(t.is_pinned(*p), "{p:?} lost its pin");
                        }
                    }
                }
            }
        }
    }
}
