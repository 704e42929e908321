//! Handshake behaviour at the node level: retransmission and give-up, cookies under
//! load, replays, bounded half-open state and the anti-amplification budget.
#![allow(clippy::field_reassign_with_default)]

use stt_testkit::pair as common;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use common::{Fate, Pair};
use stt_proto::config::NodeConfig;
use stt_proto::error::SessionError;
use stt_proto::{Event, Instant, PathId};

fn packet_type(data: &[u8]) -> u8 {
    data[2]
}

#[test]
fn init_is_retransmitted_with_backoff_then_gives_up() {
    let mut pair = Pair::default_pair();
    let log = Rc::new(RefCell::new(Vec::new()));
    let l = log.clone();
    // Node 1 hears nothing: every INIT is lost.
    pair.hook = Some(Box::new(move |from, _, data| {
        if from == 0 {
            l.borrow_mut().push(data.to_vec());
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    let start = pair.now;
    let path = pair.peers[0].path_to_other;
    let s = pair.peers[0].node.connect(start, path).unwrap();
    let mut times = Vec::new();
    let mut closed = None;
    let mut seen = 0;
    pair.run_until(Duration::from_secs(30), |p| {
        let n = log.borrow().len();
        if n > seen {
            times.push(p.now.saturating_duration_since(start));
            seen = n;
        }
        for e in p.peers[0].events.drain(..) {
            if let Event::Closed { session, reason } = e {
                assert_eq!(session, s);
                closed = Some((reason, p.now.saturating_duration_since(start)));
            }
        }
        closed.is_some()
    });
    let log = log.borrow();
    assert!(
        log.iter().all(|p| packet_type(p) == 0x01 && *p == log[0]),
        "INIT bytes change"
    );
    // Sent at 0, 0.5, 1.5, 3.5 and 7.5 s: the gaps double. (The harness notices the
    // first INIT only after its first step, so compare gaps from the second on.)
    assert_eq!(log.len(), 5);
    let ms: Vec<u128> = times.iter().map(|t| t.as_millis()).collect();
    let gaps: Vec<u128> = ms.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps[gaps.len() - 3..], [1000, 2000, 4000]);
    let (reason, at) = closed.expect("no give-up");
    assert_eq!(reason, SessionError::HandshakeTimeout);
    assert_eq!(at, Duration::from_secs(10));
}

#[test]
fn lost_challenge_and_response_are_recovered() {
    for victim in [0x02u8, 0x03] {
        let mut pair = Pair::default_pair();
        let mut dropped = false;
        pair.hook = Some(Box::new(move |_, _, data| {
            if !dropped && packet_type(data) == victim {
                dropped = true;
                Fate::Drop
            } else {
                Fate::Deliver
            }
        }));
        pair.connect();
        assert_eq!(pair.peers[1].node.session_count(), 1);
    }
}

#[test]
fn cookie_round_under_load_then_session() {
    let mut config = NodeConfig::default();
    config.cookie_threshold = 0;
    let mut pair = Pair::new(NodeConfig::default(), config);
    let types = Rc::new(RefCell::new(Vec::new()));
    let t = types.clone();
    pair.hook = Some(Box::new(move |from, _, data| {
        t.borrow_mut().push((from, packet_type(data)));
        Fate::Deliver
    }));
    pair.connect();
    let types = types.borrow();
    let handshake: Vec<(usize, u8)> = types.iter().copied().filter(|(_, t)| *t < 0x04).collect();
    assert_eq!(types[0], (0, 0x01), "INIT first");
    assert_eq!(types[1], (1, 0x05), "COOKIE answers the INIT");
    assert!(
        handshake.contains(&(1, 0x02)),
        "CHALLENGE after the cookie INIT"
    );
    assert_eq!(pair.peers[1].node.stats().cookies_sent, 1);
    assert_eq!(pair.peers[1].node.session_count(), 1);
}

#[test]
fn replayed_init_and_response_create_no_second_session() {
    let mut pair = Pair::default_pair();
    let captured = Rc::new(RefCell::new(Vec::new()));
    let c = captured.clone();
    pair.hook = Some(Box::new(move |from, _, data| {
        if from == 0 && matches!(packet_type(data), 0x01 | 0x03) {
            c.borrow_mut().push(data.to_vec());
        }
        Fate::Deliver
    }));
    pair.connect();
    pair.run_until(Duration::from_secs(1), |_| false);
    let before = pair.peers[1].node.stats();
    let now = pair.now;
    for p in captured.borrow().iter() {
        for _ in 0..3 {
            pair.peers[1]
                .node
                .handle_datagram(now, PathId(1), BytesMut::from(&p[..]));
        }
    }
    pair.run_until(Duration::from_secs(1), |_| false);
    assert_eq!(pair.peers[1].node.session_count(), 1);
    assert_eq!(
        pair.peers[1].node.stats().sessions_accepted,
        before.sessions_accepted
    );
}

#[test]
fn half_open_handshakes_are_bounded() {
    let mut config = NodeConfig::default();
    config.max_half_open = 8;
    config.cookie_threshold = 8;
    let mut pair = Pair::new(NodeConfig::default(), config);
    // Only INITs reach node 1; its CHALLENGEs are lost, so nothing completes.
    pair.hook = Some(Box::new(
        |from, _, _| if from == 0 { Fate::Deliver } else { Fate::Drop },
    ));
    for _ in 0..50 {
        let path = pair.peers[0].path_to_other;
        pair.peers[0].node.connect(pair.now, path).unwrap();
    }
    pair.run_until(Duration::from_secs(2), |p| {
        assert!(p.peers[1].node.half_open_count() <= 8);
        false
    });
    assert_eq!(pair.peers[1].node.half_open_count(), 8);
    assert_eq!(pair.peers[1].node.session_count(), 0);
}

#[test]
fn responder_never_sends_more_than_three_times_what_it_received() {
    // Account bytes per direction before the responder has a session (address not
    // validated): lose CHALLENGEs so INITs are retransmitted and answered again.
    let mut pair = Pair::default_pair();
    let bytes = Rc::new(RefCell::new([0u64; 2]));
    let b = bytes.clone();
    let mut challenges = 0;
    pair.hook = Some(Box::new(move |from, _, data| {
        if packet_type(data) <= 0x05 {
            b.borrow_mut()[from] += data.len() as u64;
        }
        if from == 1 && packet_type(data) == 0x02 {
            challenges += 1;
            if challenges <= 2 {
                return Fate::Drop;
            }
        }
        Fate::Deliver
    }));
    pair.connect();
    let [received, sent] = *bytes.borrow();
    assert!(
        sent > 0 && sent <= 3 * received,
        "sent {sent} for {received} received"
    );
}

#[test]
fn garbage_never_panics_and_is_counted() {
    let mut pair = Pair::default_pair();
    pair.connect();
    let now = pair.now;
    let mut x = 99u64;
    let node = &mut pair.peers[1].node;
    for len in 0..400usize {
        let mut d = vec![0u8; len];
        for b in d.iter_mut() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            *b = (x >> 56) as u8;
        }
        if len >= 20 && len % 2 == 0 {
            d[0] = b'S';
            d[1] = b'T';
            d[2] = [0x01, 0x02, 0x03, 0x04, 0x10][len % 5];
            d[19] = 1;
        }
        node.handle_datagram(now, PathId(7), BytesMut::from(&d[..]));
    }
    let s = node.stats();
    let dropped = s.dropped_malformed
        + s.dropped_unknown_session
        + s.dropped_handshake
        + s.dropped_unauthenticated
        + s.dropped_unexpected
        + s.dropped_version;
    assert_eq!(dropped, 400, "{s:?}");
    assert_eq!(node.session_count(), 1);
    let _ = Instant::ZERO;
}

/// Node 0 connects pinned to `expected`; returns its close reason (None if it connected)
/// and the packet types it sent.
fn pinned_connect(expected: Vec<stt_proto::NodeId>) -> (Option<SessionError>, Vec<u8>, usize) {
    let mut pair = Pair::default_pair();
    let sent = Rc::new(RefCell::new(Vec::new()));
    let s = sent.clone();
    pair.hook = Some(Box::new(move |from, _, data| {
        if from == 0 {
            s.borrow_mut().push(packet_type(data));
        }
        Fate::Deliver
    }));
    let path = pair.peers[0].path_to_other;
    let now = pair.now;
    let h = pair.peers[0]
        .node
        .connect_to(
            now,
            path,
            expected.into_iter().collect::<stt_proto::AllowList>(),
        )
        .unwrap();
    let mut outcome = None;
    pair.run_until(Duration::from_secs(15), |p| {
        for e in p.peers[0].events.drain(..) {
            match e {
                Event::Connected { session, .. } if session == h => outcome = Some(None),
                Event::Closed { session, reason } if session == h => outcome = Some(Some(reason)),
                _ => {}
            }
        }
        outcome.is_some()
    });
    pair.run_until(Duration::from_secs(1), |_| false);
    let accepted = pair.peers[1].node.stats().sessions_accepted as usize;
    let sent = sent.borrow().clone();
    (
        outcome.expect("neither connected nor closed"),
        sent,
        accepted,
    )
}

#[test]
fn pinned_connect_to_another_member_fails_before_response() {
    let responder = common::node(2, &[7u8; 32], NodeConfig::default()).node_id();
    let stranger = common::node(3, &[7u8; 32], NodeConfig::default()).node_id();
    let (reason, sent, accepted) = pinned_connect(vec![stranger]);
    assert_eq!(
        reason,
        Some(SessionError::PeerMismatch {
            expected: vec![stranger],
            actual: responder,
        })
    );
    let text = reason.map(|r| r.to_string()).unwrap_or_default();
    assert!(text.contains(&stranger.to_string()) && text.contains(&responder.to_string()));
    // Only INITs left: RESPONSE (0x03), which would authenticate us, never did.
    assert!(sent.iter().all(|&t| t == 0x01), "sent {sent:02x?}");
    assert_eq!(accepted, 0);
}

#[test]
fn pinned_connect_to_the_right_member_or_a_set_holding_it_connects() {
    let responder = common::node(2, &[7u8; 32], NodeConfig::default()).node_id();
    let stranger = common::node(3, &[7u8; 32], NodeConfig::default()).node_id();
    for expected in [vec![responder], vec![stranger, responder]] {
        let (reason, sent, accepted) = pinned_connect(expected);
        assert_eq!(reason, None);
        assert!(sent.contains(&0x03));
        assert_eq!(accepted, 1);
    }
}

#[test]
fn a_cloned_node_replays_its_ephemeral_keys_and_reseed_makes_them_fresh() {
    let init_of = |node: &mut stt_proto::Node| -> Vec<u8> {
        let now = Instant::from_micros(1_000_000);
        node.connect(now, PathId(1)).unwrap();
        let mut buf = vec![0u8; 2048];
        let t = node.poll_transmit(now, &mut buf).expect("INIT");
        assert_eq!(packet_type(&buf[..t.len]), 0x01);
        // The ephemeral public key: bytes 20..52 of INIT.
        buf[20..52].to_vec()
    };
    let original = common::node(1, &[7u8; 32], NodeConfig::default());
    let (mut a, mut b, mut c) = (original.clone(), original.clone(), original);
    // Why a clone must never go on the network: it draws the very same ephemeral key.
    assert_eq!(init_of(&mut a), init_of(&mut b));
    c.reseed(&[9u8; 32]);
    let fresh = init_of(&mut c);
    assert_ne!(fresh, init_of(&mut b));
    assert_ne!(fresh, init_of(&mut a));
}
