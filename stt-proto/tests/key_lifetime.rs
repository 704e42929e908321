//! Session-key lifetime: old receive keys are kept about 3 PTO after a key update (not a
//! fixed time), key updates happen by default, and the periodic re-handshake replaces the
//! keys with ones from a fresh DH while streams keep flowing. Two Nodes back to back in
//! memory (tests/common), virtual time.

mod common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{Fate, Pair};
use stt_proto::config::NodeConfig;
use stt_proto::{Event, Instant, SessionHandle};

/// Packet type byte of DATA (PROTOCOL.md §2.2).
const DATA: u8 = 0x10;

/// Runs until node 1 reports a key update, node 0 sending a datagram every step.
fn until_key_update(pair: &mut Pair, a: SessionHandle) -> Option<Instant> {
    let deadline = pair.now + Duration::from_secs(10);
    while pair.now < deadline {
        let now = pair.now;
        let _ = pair.peers[0]
            .node
            .session(a)
            .unwrap()
            .send_datagram(now, Bytes::from_static(b"tick"));
        pair.step();
        if pair.peers[1]
            .events
            .drain(..)
            .any(|e| matches!(e, Event::KeyUpdated { .. }))
        {
            return Some(pair.now);
        }
    }
    None
}

/// An old-phase packet is opened shortly after the update and dropped once about 3 PTO
/// have passed (well before the 1 s the record layer keeps keys by default).
#[test]
fn old_receive_keys_live_about_three_ptos() {
    let mut config = NodeConfig::default();
    config.transport.key_update_interval = Some(Duration::from_millis(500));
    let mut pair = Pair::new(config, NodeConfig::default());
    pair.latency = Duration::from_millis(5);
    let (a, b) = pair.connect();
    // Both sides get RTT samples: node 1 sends data too.
    for (from, s) in [(0, a), (1, b)] {
        let now = pair.now;
        for _ in 0..20 {
            let _ = pair.peers[from]
                .node
                .session(s)
                .unwrap()
                .send_datagram(now, Bytes::from_static(b"warm up"));
            pair.step();
        }
    }
    let rtt = pair.peers[1].node.session(b).unwrap().stats().rtt;
    assert!(rtt < Duration::from_millis(20), "rtt {rtt:?}");
    // Hold back two of node 0's DATA packets of the current phase.
    let held: Rc<RefCell<Vec<Vec<u8>>>> = Rc::default();
    let stash = held.clone();
    pair.path_hook = Some(Box::new(move |from, _, _, data| {
        if from == 0 && data[2] == DATA && stash.borrow().len() < 2 {
            stash.borrow_mut().push(data.to_vec());
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    let rotated = until_key_update(&mut pair, a).expect("no key update");
    assert_eq!(held.borrow().len(), 2);
    let path = pair.peers[1].path_to_other;
    let dropped = |pair: &mut Pair| pair.peers[1].node.stats().dropped_unauthenticated;
    // Within the retention: the old keys still open it.
    let before = dropped(&mut pair);
    let packet = held.borrow_mut().remove(0);
    pair.peers[1]
        .node
        .handle_datagram(pair.now, path, BytesMut::from(&packet[..]));
    assert_eq!(dropped(&mut pair), before, "old keys gone too early");
    // 3 PTO here is about 3 × (10 + 20 + 25) ms: 400 ms after the update they are gone.
    pair.run_until(Duration::from_millis(400), |_| false);
    assert!(pair.now >= rotated + Duration::from_millis(400));
    let packet = held.borrow_mut().remove(0);
    pair.peers[1]
        .node
        .handle_datagram(pair.now, path, BytesMut::from(&packet[..]));
    assert_eq!(
        dropped(&mut pair),
        before + 1,
        "old keys still held 400 ms after the update"
    );
}

/// Key updates are on by default: a session updates its keys every 2 minutes.
#[test]
fn key_updates_happen_by_default() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let deadline = pair.now + Duration::from_secs(250);
    while pair.now < deadline {
        let now = pair.now;
        let _ = pair.peers[0]
            .node
            .session(a)
            .unwrap()
            .send_datagram(now, Bytes::from_static(b"tick"));
        pair.run_until(Duration::from_secs(5), |_| false);
    }
    let updates = pair.peers[1].node.session(b).unwrap().stats().key_updates;
    assert!(updates >= 2, "{updates} key updates in 250 s");
}
