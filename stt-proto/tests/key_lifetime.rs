//! Session-key lifetime: old receive keys are kept about 3 PTO after a key update (not a
//! fixed time), key updates happen by default, and the periodic re-handshake replaces the
//! keys with ones from a fresh DH while streams keep flowing. Two Nodes back to back in
//! memory (`stt_testkit::pair`), virtual time.

use stt_testkit::pair as common;

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

fn pattern(stream: usize, len: usize) -> Vec<u8> {
    let mut x = (stream as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Moves `streams` × `len` bytes from node 0 to node 1 and checks them byte for byte.
fn transfer(pair: &mut Pair, a: SessionHandle, b: SessionHandle, streams: usize, len: usize) {
    use std::collections::HashMap;
    use stt_proto::frame::{Dir, StreamId};
    let now = pair.now;
    let mut out: Vec<(StreamId, Vec<u8>, usize, bool)> = (0..streams)
        .map(|i| {
            let mut s = pair.peers[0].node.session(a).unwrap();
            let id = s.open_stream(now, Dir::Uni, 0, Some(len as u64)).unwrap();
            (id, pattern(i, len), 0, false)
        })
        .collect();
    let expected: HashMap<StreamId, Vec<u8>> =
        out.iter().map(|(id, d, _, _)| (*id, d.clone())).collect();
    let mut got: HashMap<StreamId, (Vec<u8>, bool)> = HashMap::new();
    let done = pair.run_until(Duration::from_secs(120), |p| {
        p.write_streams(0, a, &mut out);
        p.read_streams(1, b, &mut got);
        p.peers[0].events.clear();
        p.peers[1].events.clear();
        got.len() == streams && got.values().all(|(_, fin)| *fin)
    });
    assert!(done, "transfer did not complete by {:?}", pair.now);
    for (id, data) in expected {
        assert!(got[&id].0 == data, "stream {id} differs");
    }
}

/// Re-handshakes run while streams flow, and each one really changes the keys: an
/// eavesdropper that copied node 1 whole (keys and RNG state) just after the handshake,
/// and sees every packet node 0 sends, stops opening them after the first re-handshake
/// (node 1's RNG got fresh entropy since, as adapters reseed it every minute). With key
/// updates alone it would follow every phase. Plain key updates run every 15 ms too, so
/// the two interleave.
#[test]
fn rehandshakes_change_keys_while_streams_flow() {
    let mut config = NodeConfig::default();
    config.transport.rekey_interval = Some(Duration::from_millis(10));
    config.transport.key_update_interval = Some(Duration::from_millis(15));
    let mut pair = Pair::new(config.clone(), config);
    pair.latency = Duration::from_millis(2);
    let (a, b) = pair.connect();
    let spy = Rc::new(RefCell::new(pair.peers[1].node.clone()));
    pair.peers[1].node.reseed(&[9; 32]);
    let tap = spy.clone();
    let mut scratch = vec![0u8; 65_536];
    pair.path_hook = Some(Box::new(move |from, _, now, data| {
        if from == 0 {
            let mut spy = tap.borrow_mut();
            spy.handle_datagram(now, stt_proto::PathId(1), BytesMut::from(data));
            while spy.poll_transmit(now, &mut scratch).is_some() {}
            while spy.poll_event().is_some() {}
        }
        Fate::Deliver
    }));
    let start = pair.now;
    transfer(&mut pair, a, b, 2, 8 << 20);
    let took = pair.now.saturating_duration_since(start);
    let sa = pair.peers[0].node.session(a).unwrap().stats();
    let sb = pair.peers[1].node.session(b).unwrap().stats();
    assert!(
        sa.rekeys >= 5 && sb.rekeys >= 5,
        "re-handshakes in {took:?}: {} / {}",
        sa.rekeys,
        sb.rekeys
    );
    // The responder counts a re-handshake when it answers, the initiator when the
    // answer arrives: at most one apart.
    assert!(sb.rekeys == sa.rekeys || sb.rekeys == sa.rekeys + 1);
    assert_eq!(pair.peers[1].node.stats().dropped_unauthenticated, 0);
    let spied = spy
        .borrow_mut()
        .session(b)
        .unwrap()
        .stats()
        .packets_received;
    assert!(
        spied * 4 < sb.packets_received,
        "the eavesdropper opened {spied} of {} packets",
        sb.packets_received
    );
}

/// With re-handshakes on volume only, the session initiator re-handshakes after every
/// `rekey_bytes` sent and received.
#[test]
fn rehandshakes_on_volume() {
    let mut config = NodeConfig::default();
    config.transport.rekey_interval = None;
    config.transport.rekey_bytes = Some(1 << 20);
    let mut pair = Pair::new(config.clone(), config);
    pair.latency = Duration::from_millis(2);
    let (a, b) = pair.connect();
    transfer(&mut pair, a, b, 1, 8 << 20);
    let sa = pair.peers[0].node.session(a).unwrap().stats();
    // About 8.3 MiB crossed (data, headers, acks): at most one re-handshake per MiB;
    // fewer, as each takes a few round trips during which this fast link moves more.
    assert!((3..=9).contains(&sa.rekeys), "{} re-handshakes", sa.rekeys);
}
