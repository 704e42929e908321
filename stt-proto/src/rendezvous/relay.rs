//! The relay's forwarding table (PROTOCOL.md §12.3, §12.7): route ids issued in pairs
//! to two sessions, the limits on routes and bytes (token buckets per route-owning
//! session and for the whole relay) and the decision for one datagram. It never reads
//! past a relay datagram's header and never touches a session: the node supplies the
//! owning session's current path for the source check.

use alloc::collections::BTreeMap;

use crate::ids::SessionHandle;
use crate::time::Instant;

/// One direction of a relayed pair.
#[derive(Debug, Clone, Copy)]
struct Route {
    owner: SessionHandle,
    peer_route: u64,
}

/// A byte-rate token bucket with a burst of one second's worth.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: u64,
    last: Option<Instant>,
}

impl Bucket {
    fn full(rate: u64) -> Self {
        Self {
            tokens: rate,
            last: None,
        }
    }

    fn refill(&mut self, now: Instant, rate: u64) {
        if let Some(last) = self.last {
            let us = u128::from(now.saturating_duration_since(last).as_micros() as u64);
            let add = u64::try_from(us * u128::from(rate) / 1_000_000).unwrap_or(u64::MAX);
            if add > 0 {
                self.tokens = self.tokens.saturating_add(add).min(rate);
                self.last = Some(now);
            }
        } else {
            self.last = Some(now);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Owner {
    routes: usize,
    bucket: Bucket,
}

/// Why a relay datagram was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drop {
    /// No such route.
    UnknownRoute,
    /// Over the per-peer or the total byte rate.
    Rate,
}

/// Where a relay datagram goes: the session whose path it is sent to, and the route id
/// written into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Forward {
    /// The session that owns the route the datagram came on (its path is checked).
    pub from: SessionHandle,
    /// The session it is forwarded to.
    pub to: SessionHandle,
    /// The route id the receiving side knows the pair by.
    pub to_route: u64,
}

/// Routes by id, route counts and buckets by owning session.
#[derive(Debug, Clone)]
pub(crate) struct RelayTable {
    routes: BTreeMap<u64, Route>,
    owners: BTreeMap<SessionHandle, Owner>,
    total: Bucket,
}

/// A limit refused new routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refused;

impl RelayTable {
    /// An empty table whose total bucket starts full.
    pub fn new(total_rate: u64) -> Self {
        Self {
            routes: BTreeMap::new(),
            owners: BTreeMap::new(),
            total: Bucket::full(total_rate),
        }
    }

    /// Issues a pair of routes between sessions `a` and `b` with the ids `ids` (random,
    /// non-zero, drawn by the caller). Refused over `max_routes` in total or
    /// `max_per_peer` for either session, or when an id is taken.
    pub fn allocate(
        &mut self,
        a: SessionHandle,
        b: SessionHandle,
        ids: (u64, u64),
        limits: &crate::config::RendezvousConfig,
    ) -> Result<(), Refused> {
        let count = |s: SessionHandle| self.owners.get(&s).map_or(0, |o| o.routes);
        if ids.0 == 0
            || ids.1 == 0
            || ids.0 == ids.1
            || self.routes.contains_key(&ids.0)
            || self.routes.contains_key(&ids.1)
            || self.routes.len() + 2 > limits.max_routes
            || count(a) + 1 > limits.max_routes_per_peer
            || count(b) + 1 > limits.max_routes_per_peer
        {
            return Err(Refused);
        }
        for (owner, id, peer) in [(a, ids.0, ids.1), (b, ids.1, ids.0)] {
            self.routes.insert(
                id,
                Route {
                    owner,
                    peer_route: peer,
                },
            );
            self.owners
                .entry(owner)
                .or_insert(Owner {
                    routes: 0,
                    bucket: Bucket::full(limits.per_peer_rate),
                })
                .routes += 1;
        }
        Ok(())
    }

    /// Decides one relay datagram of `len` bytes on `route`: where it goes, or why it
    /// is dropped. Spends the byte budgets when it goes. The caller still checks that
    /// it arrived on `Forward::from`'s current path, before calling [`Self::spend`].
    pub fn lookup(&self, route: u64) -> Result<Forward, Drop> {
        let r = self.routes.get(&route).ok_or(Drop::UnknownRoute)?;
        let peer = self.routes.get(&r.peer_route).ok_or(Drop::UnknownRoute)?;
        Ok(Forward {
            from: r.owner,
            to: peer.owner,
            to_route: r.peer_route,
        })
    }

    /// Spends `len` bytes of `owner`'s and the relay's budgets, or refuses (`Rate`)
    /// without spending when either is short.
    pub fn spend(
        &mut self,
        now: Instant,
        owner: SessionHandle,
        len: usize,
        limits: &crate::config::RendezvousConfig,
    ) -> Result<(), Drop> {
        let len = len as u64;
        self.total.refill(now, limits.total_rate);
        let o = self.owners.get_mut(&owner).ok_or(Drop::UnknownRoute)?;
        o.bucket.refill(now, limits.per_peer_rate);
        if o.bucket.tokens < len || self.total.tokens < len {
            return Err(Drop::Rate);
        }
        o.bucket.tokens -= len;
        self.total.tokens -= len;
        Ok(())
    }

    /// The session ended: every route it owns goes, with each one's partner.
    pub fn forget(&mut self, session: SessionHandle) {
        if self.owners.remove(&session).is_none() {
            return;
        }
        let mine: alloc::vec::Vec<(u64, u64)> = self
            .routes
            .iter()
            .filter(|(_, r)| r.owner == session)
            .map(|(id, r)| (*id, r.peer_route))
            .collect();
        for (id, peer) in mine {
            self.routes.remove(&id);
            if let Some(p) = self.routes.remove(&peer)
                && let Some(o) = self.owners.get_mut(&p.owner)
            {
                o.routes = o.routes.saturating_sub(1);
                if o.routes == 0 {
                    self.owners.remove(&p.owner);
                }
            }
        }
    }

    /// Routes held.
    pub fn len(&self) -> usize {
        self.routes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RendezvousConfig;
    use core::time::Duration;

    fn s(n: u32) -> SessionHandle {
        SessionHandle::test(n)
    }

    #[test]
    fn a_pair_forwards_both_ways_and_dies_with_either_session() {
        let limits = RendezvousConfig::default();
        let mut t = RelayTable::new(limits.total_rate);
        t.allocate(s(1), s(2), (10, 20), &limits).unwrap();
        assert_eq!(
            t.lookup(10),
            Ok(Forward {
                from: s(1),
                to: s(2),
                to_route: 20
            })
        );
        assert_eq!(t.lookup(20).map(|f| f.to), Ok(s(1)));
        assert_eq!(t.lookup(30), Err(Drop::UnknownRoute));
        t.forget(s(2));
        assert_eq!(t.lookup(10), Err(Drop::UnknownRoute));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn route_limits_refuse() {
        let limits = RendezvousConfig {
            max_routes: 4,
            max_routes_per_peer: 1,
            ..RendezvousConfig::default()
        };
        let mut t = RelayTable::new(limits.total_rate);
        t.allocate(s(1), s(2), (1, 2), &limits).unwrap();
        assert_eq!(t.allocate(s(1), s(3), (3, 4), &limits), Err(Refused));
        t.allocate(s(3), s(4), (3, 4), &limits).unwrap();
        assert_eq!(t.allocate(s(5), s(6), (5, 6), &limits), Err(Refused));
        assert_eq!(t.allocate(s(7), s(8), (0, 9), &limits), Err(Refused));
    }

    #[test]
    fn the_per_peer_bucket_limits_bytes_per_second_and_refills() {
        let limits = RendezvousConfig {
            per_peer_rate: 10_000,
            ..RendezvousConfig::default()
        };
        let mut t = RelayTable::new(limits.total_rate);
        t.allocate(s(1), s(2), (1, 2), &limits).unwrap();
        let t0 = Instant::from_micros(1_000_000);
        for _ in 0..10 {
            t.spend(t0, s(1), 1000, &limits).unwrap();
        }
        assert_eq!(t.spend(t0, s(1), 1000, &limits), Err(Drop::Rate));
        // The other direction has its own bucket.
        t.spend(t0, s(2), 1000, &limits).unwrap();
        let later = t0 + Duration::from_millis(100);
        t.spend(later, s(1), 1000, &limits).unwrap();
        assert_eq!(t.spend(later, s(1), 1000, &limits), Err(Drop::Rate));
    }

    #[test]
    fn the_total_bucket_limits_everyone() {
        let limits = RendezvousConfig {
            total_rate: 3000,
            ..RendezvousConfig::default()
        };
        let mut t = RelayTable::new(limits.total_rate);
        t.allocate(s(1), s(2), (1, 2), &limits).unwrap();
        let t0 = Instant::from_micros(5);
        t.spend(t0, s(1), 2000, &limits).unwrap();
        assert_eq!(t.spend(t0, s(2), 2000, &limits), Err(Drop::Rate));
    }
}
