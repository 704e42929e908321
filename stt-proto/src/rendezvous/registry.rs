//! The rendezvous's registry (PROTOCOL.md §12.2): which session each registered member
//! is reachable on and the address it is observed at. Keyed by the NodeId that
//! authenticated the session, which the caller takes from the session, never from a
//! frame. It holds no packets and decides nothing about relaying.

use alloc::collections::BTreeMap;

use crate::handshake::admission::RemoteAddr;
use crate::identity::NodeId;
use crate::ids::SessionHandle;

/// A registered member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub session: SessionHandle,
    pub addr: RemoteAddr,
}

/// Members by NodeId and back.
#[derive(Debug, Clone, Default)]
pub(crate) struct Registry {
    by_node: BTreeMap<NodeId, Entry>,
    by_session: BTreeMap<SessionHandle, NodeId>,
    /// The last RDV_CONNECT request id handled per session: repeats are ignored.
    connects: BTreeMap<SessionHandle, u64>,
}

/// The registry is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Full;

impl Registry {
    /// Registers `node` (the session's authenticated peer) as reachable on `session`
    /// at `addr`. A newer session of the same node replaces the older one.
    pub fn register(
        &mut self,
        node: NodeId,
        session: SessionHandle,
        addr: RemoteAddr,
        max: usize,
    ) -> Result<(), Full> {
        if !self.by_node.contains_key(&node) && self.by_node.len() >= max {
            return Err(Full);
        }
        if let Some(old) = self.by_node.insert(node, Entry { session, addr })
            && old.session != session
        {
            self.by_session.remove(&old.session);
        }
        self.by_session.insert(session, node);
        Ok(())
    }

    /// The registered member `node`, if any.
    pub fn lookup(&self, node: &NodeId) -> Option<Entry> {
        self.by_node.get(node).copied()
    }

    /// The member registered on `session`, if any.
    pub fn node_of(&self, session: SessionHandle) -> Option<NodeId> {
        self.by_session.get(&session).copied()
    }

    /// A packet on the session's current path came from `addr`: keep it as observed.
    pub fn observe(&mut self, session: SessionHandle, addr: &RemoteAddr) {
        if let Some(node) = self.by_session.get(&session)
            && let Some(e) = self.by_node.get_mut(node)
        {
            e.addr = *addr;
        }
    }

    /// Whether the CONNECT `request_id` on `session` is new (and notes it).
    pub fn fresh_connect(&mut self, session: SessionHandle, request_id: u64) -> bool {
        // Ids start at 1 and increase (PROTOCOL.md §12.2); 0 is never fresh.
        let last = self.connects.entry(session).or_insert(0);
        if request_id <= *last {
            return false;
        }
        *last = request_id;
        true
    }

    /// The session ended: its registration and request memory go.
    pub fn forget(&mut self, session: SessionHandle) {
        self.connects.remove(&session);
        if let Some(node) = self.by_session.remove(&session) {
            self.by_node.remove(&node);
        }
    }

    /// Members registered.
    pub fn len(&self) -> usize {
        self.by_node.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(n: u8) -> RemoteAddr {
        RemoteAddr::new(&[4, 10, 0, 0, n, 0, 80]).unwrap()
    }

    #[test]
    fn a_newer_session_replaces_and_forgetting_the_old_one_keeps_it() {
        let mut r = Registry::default();
        let node = NodeId([1; 32]);
        let (s1, s2) = (SessionHandle::test(1), SessionHandle::test(2));
        r.register(node, s1, addr(1), 8).unwrap();
        r.register(node, s2, addr(2), 8).unwrap();
        assert_eq!(r.lookup(&node).map(|e| e.session), Some(s2));
        r.forget(s1);
        assert_eq!(r.lookup(&node).map(|e| e.addr), Some(addr(2)));
        r.observe(s2, &addr(3));
        assert_eq!(r.lookup(&node).map(|e| e.addr), Some(addr(3)));
        r.forget(s2);
        assert_eq!(r.lookup(&node), None);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn the_limit_refuses_new_members_only() {
        let mut r = Registry::default();
        let s = SessionHandle::test;
        r.register(NodeId([1; 32]), s(1), addr(1), 1).unwrap();
        assert_eq!(r.register(NodeId([2; 32]), s(2), addr(2), 1), Err(Full));
        assert_eq!(r.register(NodeId([1; 32]), s(3), addr(3), 1), Ok(()));
    }

    #[test]
    fn repeated_connect_ids_are_not_fresh() {
        let mut r = Registry::default();
        let s = SessionHandle::test(1);
        assert!(!r.fresh_connect(s, 0));
        assert!(r.fresh_connect(s, 1));
        assert!(!r.fresh_connect(s, 1));
        assert!(r.fresh_connect(s, 2));
        assert!(!r.fresh_connect(s, 1));
    }
}
