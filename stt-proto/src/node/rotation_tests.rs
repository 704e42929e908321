//! Network-seed rotation (PROTOCOL.md §5.7.9): a node holding the current and the next
//! seed accepts initiators of either, also through the cookie round, and still refuses a
//! node holding neither.

use alloc::sync::Arc;

use super::test_pair::{connected, pump};
use crate::config::NodeConfig;
use crate::identity::{Identity, NetworkKey};
use crate::{Instant, Node, PathId};

fn net(seed: u8) -> NetworkKey {
    NetworkKey::from_shared_seed(&[seed; 32]).unwrap()
}

fn node_with(seed: u8, network: NetworkKey, config: NodeConfig) -> Node {
    Node::new(
        Arc::new(config),
        Identity::from_node_seed(&[seed; 32]).unwrap(),
        network,
        [seed.wrapping_add(100); 32],
    )
    .unwrap()
}

/// Whether `initiator` completes a handshake with `hub`.
fn reaches(initiator: &mut Node, hub: &mut Node) -> bool {
    let now = Instant::from_micros(0);
    initiator.connect(now, PathId(2)).unwrap();
    let (ei, eh) = pump(initiator, PathId(1), hub, PathId(2), now, 20);
    connected(&ei) && connected(&eh)
}

fn rotation(under_load: bool) {
    const OLD: u8 = 0x10;
    const NEW: u8 = 0x20;
    let mut config = NodeConfig::default();
    if under_load {
        // Every INIT must first go through a COOKIE, sealed with the matching seed's key.
        config.cookie_threshold = 0;
    }
    let mut hub = node_with(1, net(OLD).with_next(&net(NEW)), config);
    let mut old = node_with(2, net(OLD), NodeConfig::default());
    let mut new = node_with(3, net(NEW), NodeConfig::default());
    let mut neither = node_with(4, net(0x30), NodeConfig::default());
    assert!(reaches(&mut old, &mut hub), "current-seed node refused");
    assert!(reaches(&mut new, &mut hub), "next-seed node refused");
    let failed = hub.stats().handshakes_failed_auth;
    assert!(!reaches(&mut neither, &mut hub), "a non-member got in");
    if !under_load {
        assert_eq!(hub.stats().handshakes_failed_auth, failed + 1);
    }
    if under_load {
        assert!(hub.stats().cookies_sent >= 3, "{:?}", hub.stats());
    }
    // The hub initiates with its current seed only: a next-seed-only node refuses it,
    // a node that has moved on (current = new, next = old) accepts it.
    let mut moved = node_with(5, net(NEW).with_next(&net(OLD)), NodeConfig::default());
    assert!(reaches(&mut hub, &mut moved));
    let mut new_only = node_with(6, net(NEW), NodeConfig::default());
    assert!(!reaches(&mut hub, &mut new_only));
}

#[test]
fn a_node_holding_both_seeds_accepts_either_and_refuses_neither() {
    rotation(false);
}

#[test]
fn the_cookie_round_works_for_either_seed() {
    rotation(true);
}
