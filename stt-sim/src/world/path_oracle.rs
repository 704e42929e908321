//! The path invariants, checked on every datagram and every path event, from what the
//! world sees on the wire (the payloads are encrypted, so only sizes, addresses and
//! times count):
//! - anti-amplification: bytes a node sends to an address it has not proven stay within
//!   3× the bytes that address delivered to it (PROTOCOL.md §4.4, DESIGN §3). Proven:
//!   the address it connected to, its session's address at `Connected`, and any address
//!   the engine reported validated (`PathChanged`). The engine counts fewer received
//!   bytes than the world does (only authenticated, newest-path packets), so a correct
//!   engine can never trip this.
//! - validation after a round trip: a node reports a new address validated only after
//!   one of its datagrams to that address reached the address's owner and a datagram
//!   that owner sent at or after that moment came back to it (its challenge cannot
//!   have been answered sooner).
//!
//! State only; the world calls in and raises the violations returned.

use std::collections::{BTreeMap, BTreeSet};

use stt_proto::Instant;

use crate::invariant::Violation;

/// Anti-amplification factor (PROTOCOL.md §4.4).
const FACTOR: u64 = 3;

/// Wire-level knowledge about every (node, remote address) pair.
#[derive(Debug, Default)]
pub(super) struct PathOracle {
    /// (node, address) → (bytes sent there, bytes received from there).
    bytes: BTreeMap<(usize, u64), (u64, u64)>,
    /// Addresses each node has proven (see the module doc).
    proven: BTreeSet<(usize, u64)>,
    /// (node, address) → when a datagram from the node to that address first reached
    /// the address's owner, and that owner (an address may change hands later: the
    /// owner moves on, and the validation of its old address may complete after that).
    reached: BTreeMap<(usize, u64), (Instant, usize)>,
    /// (receiver, sender) → the latest send time of a datagram from the sender that
    /// the receiver got.
    heard: BTreeMap<(usize, usize), Instant>,
}

impl PathOracle {
    /// `node` chose `addr` itself (it connected there): no budget applies.
    pub(super) fn prove(&mut self, node: usize, addr: u64) {
        self.proven.insert((node, addr));
    }

    /// `node` lost its state (crash): it has proven nothing any more.
    pub(super) fn forget(&mut self, node: usize) {
        self.proven.retain(|&(n, _)| n != node);
        self.bytes.retain(|&(n, _), _| n != node);
        self.reached.retain(|&(n, _), _| n != node);
        self.heard.retain(|&(n, _), _| n != node);
    }

    /// `node` put `len` bytes on the wire to `addr`.
    pub(super) fn on_send(&mut self, node: usize, addr: u64, len: usize) -> Option<Violation> {
        let e = self.bytes.entry((node, addr)).or_default();
        e.0 += len as u64;
        let (sent, received) = *e;
        let over = !self.proven.contains(&(node, addr)) && sent > received.saturating_mul(FACTOR);
        over.then_some(Violation::Amplification {
            node,
            path: addr,
            sent,
            received,
        })
    }

    /// A datagram of `len` bytes that `from` (`None`: an attacker) sent to `to_addr` at
    /// `sent_at`, from `from_addr`, reached `to` at `now`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn on_deliver(
        &mut self,
        from: Option<usize>,
        from_addr: u64,
        to: usize,
        to_addr: u64,
        sent_at: Instant,
        len: usize,
        now: Instant,
    ) {
        self.bytes.entry((to, from_addr)).or_default().1 += len as u64;
        if let Some(from) = from {
            self.reached.entry((from, to_addr)).or_insert((now, to));
            let h = self.heard.entry((to, from)).or_insert(sent_at);
            *h = (*h).max(sent_at);
        }
    }

    /// `node` reported `addr` validated.
    pub(super) fn on_validated(&mut self, node: usize, addr: u64) -> Option<Violation> {
        if !self.proven.insert((node, addr)) {
            return None;
        }
        let round_trip = self
            .reached
            .get(&(node, addr))
            .is_some_and(|&(at, owner)| self.heard.get(&(node, owner)).is_some_and(|&h| h >= at));
        (!round_trip).then_some(Violation::ValidatedTooSoon { node, path: addr })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(ms: u64) -> Instant {
        Instant::from_micros(ms * 1000)
    }

    #[test]
    fn sending_beyond_three_times_what_arrived_is_caught_until_proven() {
        let mut o = PathOracle::default();
        o.on_deliver(Some(1), 7, 0, 1, t(0), 100, t(5));
        assert!(o.on_send(0, 7, 300).is_none());
        assert!(matches!(
            o.on_send(0, 7, 1),
            Some(Violation::Amplification {
                sent: 301,
                received: 100,
                ..
            })
        ));
        o.prove(0, 7);
        assert!(o.on_send(0, 7, 10_000).is_none());
    }

    #[test]
    fn validation_needs_a_completed_round_trip() {
        let mut o = PathOracle::default();
        // Node 0 hears node 1 from address 7, sends there; it reaches node 1 at 10 ms.
        o.on_deliver(Some(1), 7, 0, 1, t(0), 100, t(5));
        o.on_deliver(Some(0), 1, 1, 7, t(6), 60, t(10));
        // Validated before anything node 1 sent after 10 ms came back: too soon.
        assert!(o.on_validated(0, 7).is_some());
        let mut o = PathOracle::default();
        o.on_deliver(Some(0), 1, 1, 7, t(6), 60, t(10));
        o.on_deliver(Some(1), 7, 0, 1, t(11), 60, t(15));
        assert!(o.on_validated(0, 7).is_none());
        // A second report of a proven address is not checked again.
        assert!(o.on_validated(0, 7).is_none());
    }
}
