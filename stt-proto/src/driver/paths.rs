//! The adapter's map between the opaque [`PathId`]s the engine sees and the remote
//! endpoints (UDP socket addresses, WebSocket connections) the adapter sends to.
//!
//! One id per remote; ids are never reused, so a late packet cannot reach a new owner.

use std::collections::HashMap;
use std::hash::Hash;

use crate::node::PathId;

/// A bidirectional PathId ⇄ remote table.
#[derive(Debug, Clone)]
pub struct PathTable<A> {
    by_addr: HashMap<A, PathId>,
    by_id: HashMap<PathId, A>,
    next: u64,
}

impl<A> Default for PathTable<A> {
    fn default() -> Self {
        Self {
            by_addr: HashMap::new(),
            by_id: HashMap::new(),
            next: 1,
        }
    }
}

impl<A: Eq + Hash + Clone> PathTable<A> {
    /// The id of `addr`, allocating a fresh one the first time it is seen.
    pub fn path_for(&mut self, addr: &A) -> PathId {
        if let Some(id) = self.by_addr.get(addr) {
            return *id;
        }
        let id = PathId(self.next);
        self.next += 1;
        self.by_addr.insert(addr.clone(), id);
        self.by_id.insert(id, addr.clone());
        id
    }

    /// The id of `addr`, if it has one.
    pub fn get(&self, addr: &A) -> Option<PathId> {
        self.by_addr.get(addr).copied()
    }

    /// Where packets for `id` go.
    pub fn addr(&self, id: PathId) -> Option<&A> {
        self.by_id.get(&id)
    }

    /// Points an existing id at another remote (the local side of a migration: the
    /// engine keeps sending on `id`, the adapter now delivers it elsewhere).
    pub fn repoint(&mut self, id: PathId, addr: A) {
        if let Some(old) = self.by_id.insert(id, addr.clone()) {
            self.by_addr.remove(&old);
        }
        if let Some(prev) = self.by_addr.insert(addr, id)
            && prev != id
        {
            self.by_id.remove(&prev);
        }
    }

    /// Forgets `id` (its remote went away).
    pub fn remove(&mut self, id: PathId) -> Option<A> {
        let addr = self.by_id.remove(&id)?;
        self.by_addr.remove(&addr);
        Some(addr)
    }

    /// Keeps only the ids for which `keep` returns true.
    pub fn retain(&mut self, mut keep: impl FnMut(PathId, &A) -> bool) {
        self.by_id.retain(|id, a| keep(*id, a));
        let by_id = &self.by_id;
        self.by_addr.retain(|_, id| by_id.contains_key(id));
    }

    /// Number of known paths.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when no path is known.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_repointable() {
        let mut t = PathTable::default();
        let a = t.path_for(&"a");
        assert_eq!(t.path_for(&"a"), a);
        let b = t.path_for(&"b");
        assert_ne!(a, b);
        t.repoint(a, "c");
        assert_eq!(t.addr(a), Some(&"c"));
        assert_eq!(t.get(&"a"), None);
        assert_eq!(t.get(&"c"), Some(a));
        t.retain(|id, _| id != b);
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(a), Some("c"));
        assert!(t.is_empty());
    }
}
