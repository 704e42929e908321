//! Test helper: the nodes of stt-proto's unit tests (default configuration, one network
//! key) and two or more of them wired back to back in memory (no loss, no delay). Owns
//! nothing but node construction and the packet shuttle.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;

use bytes::BytesMut;

use crate::config::NodeConfig;
use crate::event::Event;
use crate::identity::{Identity, NetworkKey};
use crate::{Instant, Node, PathId};

/// A node with the default configuration, identity from `id_seed`, random generator
/// from `rng_seed`, on the network every test node shares.
pub(crate) fn node_with_rng(id_seed: u8, rng_seed: u8) -> Node {
    Node::new(
        Arc::new(NodeConfig::default()),
        Identity::from_node_seed(&[id_seed; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[42; 32]).unwrap(),
        [rng_seed; 32],
    )
    .unwrap()
}

/// [`node_with_rng`] with the generator seed derived from `seed`.
pub(crate) fn node(seed: u8) -> Node {
    node_with_rng(seed, seed.wrapping_add(100))
}

/// Moves every queued datagram between `a` (on path `a_path` as `b` sees it) and `b`
/// (on `b_path` as `a` sees it) until both are quiet or `rounds` runs out, and returns
/// the events each raised, in order.
pub(crate) fn pump(
    a: &mut Node,
    a_path: PathId,
    b: &mut Node,
    b_path: PathId,
    now: Instant,
    rounds: usize,
) -> (Vec<Event>, Vec<Event>) {
    let mut buf = vec![0u8; 65536];
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let mut moved = false;
        while let Some(t) = a.poll_transmit(now, &mut buf) {
            b.handle_datagram(now, a_path, BytesMut::from(&buf[..t.len]));
            moved = true;
        }
        while let Some(t) = b.poll_transmit(now, &mut buf) {
            a.handle_datagram(now, b_path, BytesMut::from(&buf[..t.len]));
            moved = true;
        }
        ea.extend(core::iter::from_fn(|| a.poll_event()));
        eb.extend(core::iter::from_fn(|| b.poll_event()));
        if !moved {
            break;
        }
    }
    (ea, eb)
}

/// Whether `events` hold a `Connected`.
pub(crate) fn connected(events: &[Event]) -> bool {
    events.iter().any(|e| matches!(e, Event::Connected { .. }))
}
