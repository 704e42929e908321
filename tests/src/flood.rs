//! Shared set-up of the in-memory attack suite (`tests/tests/attacks.rs`), on top of
//! [`crate::mem`]: floods of forged datagrams, an on-path attacker that counts what it
//! injected, and the anti-amplification check over the addresses an attacker made up.

use std::cell::Cell;
use std::rc::Rc;

use stt_proto::PathId;
use stt_proto::frame::Header;

use crate::mem::{Pair, XorShift};

/// A forged datagram: `header`, then `body_len` random bytes.
pub fn forged(header: Header, rng: &mut XorShift, body_len: usize) -> Vec<u8> {
    let mut bytes = header.to_bytes().to_vec();
    bytes.extend(rng.bytes(body_len));
    bytes
}

/// Injects `n` datagrams into node `to`, each made by `make(i, rng)` (its source path
/// and bytes) from one generator seeded with `seed`.
pub fn flood(
    p: &mut Pair,
    to: usize,
    n: u64,
    seed: u64,
    mut make: impl FnMut(u64, &mut XorShift) -> (PathId, Vec<u8>),
) {
    let mut rng = XorShift(seed);
    for i in 0..n {
        let (path, bytes) = make(i, &mut rng);
        p.inject(to, path, &bytes);
    }
}

/// Puts an attacker on node 0's outgoing datagrams: `extra(bytes, rng)` gives the
/// copies that arrive before each genuine datagram (which still arrives). Node 1's
/// datagrams pass untouched. Returns the running count of copies injected.
pub fn tamper_node0(
    p: &mut Pair,
    seed: u64,
    mut extra: impl FnMut(&[u8], &mut XorShift) -> Vec<Vec<u8>> + 'static,
) -> Rc<Cell<u64>> {
    let injected = Rc::new(Cell::new(0u64));
    let count = injected.clone();
    let mut rng = XorShift(seed);
    p.tamper = Some(Box::new(move |from, bytes| {
        let mut out = if from == 0 {
            extra(bytes, &mut rng)
        } else {
            Vec::new()
        };
        count.set(count.get() + out.len() as u64);
        out.push(bytes.to_vec());
        out
    }));
    injected
}

/// Asserts that node `node` sent every made-up path numbered `from` or above at most
/// `factor` times the bytes it received from there; returns how many it sent to.
pub fn assert_amplification_within(p: &Pair, node: usize, from: u64, factor: u64) -> usize {
    let mut answered = 0;
    for (&(n, path), &sent) in &p.sent_to {
        if n == node && path >= from {
            let got = p.received_from.get(&(n, path)).copied().unwrap_or(0);
            assert!(
                sent <= factor * got,
                "path {path}: sent {sent} > {factor} x {got} received"
            );
            answered += 1;
        }
    }
    answered
}
