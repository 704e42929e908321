//! Engine tests: two Nodes back to back in memory (no IO, virtual time).
#![allow(clippy::needless_range_loop, clippy::field_reassign_with_default)]

use stt_testkit::pair as common;

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use common::{Fate, Pair};
use stt_proto::StreamEvent;
use stt_proto::config::NodeConfig;
use stt_proto::error::{ReadError, SessionError, WriteError};
use stt_proto::frame::{DEFAULT_MAX_PACKET, Dir, ErrorCode, HEADER_LEN, StreamId, TAG_LEN};
use stt_proto::{Event, PathId, SessionHandle};

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
/// Opens a unidirectional stream on peer 0's session `s`.
fn open_uni(pair: &mut Pair, s: SessionHandle) -> StreamId {
    let now = pair.now;
    pair.peers[0]
        .node
        .session(s)
        .unwrap()
        .open_stream(now, Dir::Uni, 0, None)
        .unwrap()
}

fn transfer(pair: &mut Pair, a: SessionHandle, b: SessionHandle, streams: usize, len: usize) {
    let now = pair.now;
    let mut out: Vec<(StreamId, Vec<u8>, usize, bool)> = (0..streams)
        .map(|i| {
            let id = pair.peers[0]
                .node
                .session(a)
                .unwrap()
                .open_stream(now, Dir::Uni, 0, Some(len as u64))
                .unwrap();
            (id, pattern(i, len), 0, false)
        })
        .collect();
    let mut got: HashMap<StreamId, (Vec<u8>, bool)> = HashMap::new();
    let expected: HashMap<StreamId, Vec<u8>> = out
        .iter()
        .map(|(id, data, _, _)| (*id, data.clone()))
        .collect();
    let done = pair.run_until(Duration::from_secs(600), |p| {
        p.write_streams(0, a, &mut out);
        p.read_streams(1, b, &mut got);
        p.peers[1].events.clear();
        p.peers[0].events.clear();
        got.len() == streams && got.values().all(|(_, fin)| *fin)
    });
    assert!(done, "transfer did not complete by {:?}", pair.now);
    for (id, data) in expected {
        let (buf, _) = &got[&id];
        assert_eq!(buf.len(), data.len(), "stream {id} length");
        assert!(buf == &data, "stream {id} content differs");
    }
}

#[test]
fn handshake_authenticates_both_sides() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let id_a = pair.peers[0].node.node_id();
    let id_b = pair.peers[1].node.node_id();
    assert_eq!(pair.peers[0].node.session(a).unwrap().peer(), Some(id_b));
    assert_eq!(pair.peers[1].node.session(b).unwrap().peer(), Some(id_a));
    assert_eq!(pair.peers[1].node.half_open_count(), 0);
}

#[test]
fn one_mib_on_one_stream() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    transfer(&mut pair, a, b, 1, 1 << 20);
}

#[test]
fn one_mib_on_100_streams() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    transfer(&mut pair, a, b, 100, (1 << 20) / 100);
}

#[test]
fn sixty_four_mib_on_one_stream() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    transfer(&mut pair, a, b, 1, 64 << 20);
}

#[test]
fn sixty_four_mib_on_100_streams() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    transfer(&mut pair, a, b, 100, (64 << 20) / 100);
}

#[test]
fn reordered_and_duplicated_delivery() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let mut x = 12345u64;
    pair.hook = Some(Box::new(move |_, _, _| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        match (x >> 33) % 10 {
            0 | 1 => Fate::Duplicate,
            2..=4 => Fate::Delay(Duration::from_micros((x >> 40) % 20_000)),
            _ => Fate::Deliver,
        }
    }));
    transfer(&mut pair, a, b, 4, 256 << 10);
}

#[test]
fn loss_of_any_single_packet() {
    // Count the packets of a small transfer, then drop each one in turn, both ways.
    let mut probe = Pair::default_pair();
    let (a, b) = probe.connect();
    let base = probe.sent;
    transfer(&mut probe, a, b, 2, 20_000);
    let counts = [probe.sent[0] - base[0], probe.sent[1] - base[1]];
    for dir in 0..2 {
        for victim in 1..=counts[dir] {
            let mut pair = Pair::default_pair();
            let (a, b) = pair.connect();
            let start = pair.sent[dir];
            pair.hook = Some(Box::new(move |from, seq, _| {
                if from == dir && seq == start + victim {
                    Fate::Drop
                } else {
                    Fate::Deliver
                }
            }));
            transfer(&mut pair, a, b, 2, 20_000);
        }
    }
}

#[test]
fn loss_of_any_handshake_packet() {
    for dir in 0..2 {
        for victim in 1..=3 {
            let mut pair = Pair::default_pair();
            pair.hook = Some(Box::new(move |from, seq, _| {
                if from == dir && seq == victim {
                    Fate::Drop
                } else {
                    Fate::Deliver
                }
            }));
            let (a, b) = pair.connect();
            transfer(&mut pair, a, b, 1, 10_000);
        }
    }
}

fn closed_reason(events: &[Event], s: SessionHandle) -> Option<SessionError> {
    events.iter().find_map(|e| match e {
        Event::Closed { session, reason } if *session == s => Some(reason.clone()),
        _ => None,
    })
}

#[test]
fn idle_timeout_closes_both_sides() {
    let mut config = NodeConfig::default();
    config.transport.keepalive_interval = None;
    config.transport.idle_timeout = Duration::from_secs(5);
    let mut pair = Pair::new(config.clone(), config);
    let (a, b) = pair.connect();
    let start = pair.now;
    let mut ev = [Vec::new(), Vec::new()];
    pair.run_until(Duration::from_secs(20), |p| {
        for i in 0..2 {
            ev[i].append(&mut p.peers[i].events);
        }
        closed_reason(&ev[0], a).is_some() && closed_reason(&ev[1], b).is_some()
    });
    assert_eq!(closed_reason(&ev[0], a), Some(SessionError::TimedOut));
    assert_eq!(closed_reason(&ev[1], b), Some(SessionError::TimedOut));
    assert!(pair.now >= start + Duration::from_secs(5));
    assert!(pair.peers[0].node.session(a).is_none());
}

#[test]
fn keepalive_holds_an_idle_session_open() {
    let mut config = NodeConfig::default();
    config.transport.keepalive_interval = Some(Duration::from_secs(2));
    config.transport.idle_timeout = Duration::from_secs(5);
    let mut pair = Pair::new(config.clone(), config);
    let (a, b) = pair.connect();
    let end = pair.now + Duration::from_secs(60);
    pair.run_until(Duration::from_secs(60), |p| p.now >= end);
    assert!(pair.peers[0].node.session(a).is_some());
    assert!(pair.peers[1].node.session(b).is_some());
}

#[test]
fn disconnect_carries_code_and_reason_both_ways() {
    for closer in 0..2 {
        let mut pair = Pair::default_pair();
        let (a, b) = pair.connect();
        let handles = [a, b];
        let now = pair.now;
        let code = ErrorCode(0x1_0042);
        pair.peers[closer]
            .node
            .session(handles[closer])
            .unwrap()
            .close(now, code, b"bye");
        let mut ev = [Vec::new(), Vec::new()];
        pair.run_until(Duration::from_secs(10), |p| {
            for i in 0..2 {
                ev[i].append(&mut p.peers[i].events);
            }
            closed_reason(&ev[0], a).is_some() && closed_reason(&ev[1], b).is_some()
        });
        let other = 1 - closer;
        assert_eq!(
            closed_reason(&ev[other], handles[other]),
            Some(SessionError::ClosedByPeer {
                code,
                reason: b"bye".to_vec()
            })
        );
        assert_eq!(
            closed_reason(&ev[closer], handles[closer]),
            Some(SessionError::LocallyClosed { code })
        );
    }
}

#[test]
fn a_close_reaches_the_peer_even_if_its_linger_passes_before_the_next_transmit() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    // Enough traffic for a tiny RTT estimate, so 3 PTO is short.
    transfer(&mut pair, a, b, 1, 256 << 10);
    let now = pair.now;
    pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .close(now, ErrorCode(0x1_0042), b"bye");
    // The application's driver handles a late timer before it transmits.
    pair.peers[0]
        .node
        .handle_timeout(now + Duration::from_secs(1));
    let mut ev = [Vec::new(), Vec::new()];
    pair.run_until(Duration::from_secs(5), |p| {
        for i in 0..2 {
            ev[i].append(&mut p.peers[i].events);
        }
        closed_reason(&ev[1], b).is_some()
    });
    assert_eq!(
        closed_reason(&ev[1], b),
        Some(SessionError::ClosedByPeer {
            code: ErrorCode(0x1_0042),
            reason: b"bye".to_vec()
        }),
        "the peer learns of the close from the DISCONNECT, not its idle timeout"
    );
}

#[test]
fn stream_reset_and_stop_sending() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let now = pair.now;
    let (s1, s2) = {
        let mut s = pair.peers[0].node.session(a).unwrap();
        let s1 = s.open_stream(now, Dir::Bi, 0, None).unwrap();
        let s2 = s.open_stream(now, Dir::Bi, 0, None).unwrap();
        s.write(now, s1, b"hello").unwrap();
        s.write(now, s2, b"world").unwrap();
        (s1, s2)
    };
    pair.run_until(Duration::from_secs(1), |_| false);
    let now = pair.now;
    pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .reset(now, s1, ErrorCode(0x1_0001))
        .unwrap();
    pair.peers[1]
        .node
        .session(b)
        .unwrap()
        .stop(now, s2, ErrorCode(0x1_0002))
        .unwrap();
    pair.run_until(Duration::from_secs(1), |_| false);
    let ev_b = std::mem::take(&mut pair.peers[1].events);
    assert!(ev_b.iter().any(|e| matches!(e,
        Event::Stream { event: StreamEvent::Reset { id, code }, .. } if *id == s1 && *code == ErrorCode(0x1_0001))));
    let ev_a = std::mem::take(&mut pair.peers[0].events);
    assert!(ev_a.iter().any(|e| matches!(e,
        Event::Stream { event: StreamEvent::Stopped { id, code }, .. } if *id == s2 && *code == ErrorCode(0x1_0002))));
    let now = pair.now;
    let mut sb = pair.peers[1].node.session(b).unwrap();
    let mut saw_reset = false;
    for _ in 0..3 {
        match sb.read(now, s1, 100) {
            Err(ReadError::Reset(code)) => {
                assert_eq!(code, ErrorCode(0x1_0001));
                saw_reset = true;
                break;
            }
            Ok(Some(_)) => continue,
            other => panic!("unexpected read result {other:?}"),
        }
    }
    assert!(saw_reset);
    let mut sa = pair.peers[0].node.session(a).unwrap();
    assert_eq!(
        sa.write(now, s2, b"more"),
        Err(WriteError::Stopped(ErrorCode(0x1_0002)))
    );
}

#[test]
fn flow_control_blocks_and_resumes() {
    const WINDOW: usize = 16 << 10;
    const TOTAL: usize = 256 << 10;
    let mut config = NodeConfig::default();
    config.transport.stream_receive_window = WINDOW as u64;
    config.transport.max_stream_receive_window = WINDOW as u64;
    config.transport.send_buffer = WINDOW as u64;
    let mut pair = Pair::new(config.clone(), config);
    let (a, b) = pair.connect();
    let data = pattern(0, TOTAL);
    let id = open_uni(&mut pair, a);
    let mut written = 0;
    let write = |p: &mut Pair, written: &mut usize| {
        let now = p.now;
        let mut s = p.peers[0].node.session(a).unwrap();
        while *written < TOTAL {
            match s.write(now, id, &data[*written..]) {
                Ok(n) => *written += n,
                Err(WriteError::Blocked) => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        if *written == TOTAL {
            let _ = s.finish(now, id);
        }
    };
    // The receiver does not read: the writer fills one window in flight plus one send
    // buffer, then stays blocked.
    pair.run_until(Duration::from_secs(3), |p| {
        write(p, &mut written);
        false
    });
    assert!(
        written <= 2 * WINDOW,
        "wrote {written} without the reader reading"
    );
    let blocked_at = written;
    assert_eq!(
        pair.peers[0]
            .node
            .session(a)
            .unwrap()
            .write(pair.now, id, b"x"),
        Err(WriteError::Blocked)
    );
    // Reading returns credit: the writer is woken and everything arrives in order.
    let mut got = Vec::new();
    let mut woken = false;
    let done = pair.run_until(Duration::from_secs(30), |p| {
        woken |= p.peers[0].events.iter().any(
            |e| matches!(e, Event::Stream { event: StreamEvent::Writable(w), .. } if *w == id),
        );
        p.peers[0].events.clear();
        write(p, &mut written);
        let now = p.now;
        let mut s = p.peers[1].node.session(b).unwrap();
        s.accept_stream(Dir::Uni);
        loop {
            match s.read(now, id, usize::MAX) {
                Ok(Some(bytes)) => got.extend_from_slice(&bytes),
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    });
    assert!(done, "transfer did not finish");
    assert!(woken, "writer never got Writable");
    assert!(written > blocked_at);
    assert!(got == data);
}

#[test]
fn datagrams_are_delivered() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let now = pair.now;
    let max = pair.peers[0].node.session(a).unwrap().max_datagram_size();
    assert!(max > 1000);
    for i in 0..10u8 {
        pair.peers[0]
            .node
            .session(a)
            .unwrap()
            .send_datagram(now, Bytes::from(vec![i; 100]))
            .unwrap();
    }
    assert!(
        pair.peers[0]
            .node
            .session(a)
            .unwrap()
            .send_datagram(now, Bytes::from(vec![0; max + 1]))
            .is_err()
    );
    pair.run_until(Duration::from_secs(1), |_| false);
    let mut got = Vec::new();
    let mut s = pair.peers[1].node.session(b).unwrap();
    while let Some(d) = s.recv_datagram() {
        got.push(d[0]);
    }
    assert_eq!(got, (0..10).collect::<Vec<u8>>());
}

#[test]
fn migration_to_a_new_path_is_validated() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    // Node 0's address changes: node 1 now sees its packets arrive on path 99.
    pair.peers[1].path_to_other = PathId(99);
    let now = pair.now;
    pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .send_datagram(now, Bytes::from_static(b"after the move"))
        .unwrap();
    let changed = pair.run_until(Duration::from_secs(5), |p| {
        p.peers[1]
            .events
            .iter()
            .any(|e| matches!(e, Event::PathChanged { path, .. } if *path == PathId(99)))
    });
    assert!(changed, "responder never validated the new path");
    assert_eq!(pair.peers[1].node.session(b).unwrap().path(), PathId(99));
    transfer(&mut pair, a, b, 1, 100_000);
}

#[test]
fn local_migration_moves_both_sides_and_late_packets_do_not_pull_it_back() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    // Node 1 has packets in flight towards node 0's old path when node 0 moves.
    let now = pair.now;
    {
        let mut s = pair.peers[1].node.session(b).unwrap();
        let id = s.open_stream(now, Dir::Uni, 0, None).unwrap();
        s.write(now, id, &pattern(7, 200_000)).unwrap();
    }
    pair.step();
    // Node 0 moves to a new path (say a WebSocket it opened): it sends on 20, node 1
    // sees that as path 10, and node 1's answers on 10 reach node 0 on 20.
    pair.routes.push((0, PathId(20), PathId(10)));
    pair.routes.push((1, PathId(10), PathId(20)));
    let now = pair.now;
    pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .migrate(now, PathId(20))
        .unwrap();
    assert_eq!(pair.peers[0].node.session(a).unwrap().path(), PathId(20));
    let moved = pair.run_until(Duration::from_secs(5), |p| {
        p.peers[1]
            .events
            .iter()
            .any(|e| matches!(e, Event::PathChanged { path, .. } if *path == PathId(10)))
    });
    assert!(moved, "node 1 never validated the new path");
    pair.run_until(Duration::from_secs(1), |_| false);
    // Node 1's late packets on the old path had newer packet numbers; node 0 stays.
    assert_eq!(pair.peers[0].node.session(a).unwrap().path(), PathId(20));
    assert_eq!(pair.peers[1].node.session(b).unwrap().path(), PathId(10));
    transfer(&mut pair, a, b, 1, 100_000);
    assert_eq!(pair.peers[0].node.session(a).unwrap().path(), PathId(20));
}

#[test]
fn same_seeds_same_datagrams() {
    fn run() -> Vec<u8> {
        let mut pair = Pair::default_pair();
        let trace = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let t = trace.clone();
        pair.hook = Some(Box::new(move |from, _, data| {
            t.borrow_mut().push(from as u8);
            t.borrow_mut().extend_from_slice(data);
            Fate::Deliver
        }));
        let (a, b) = pair.connect();
        transfer(&mut pair, a, b, 2, 50_000);
        trace.take()
    }
    assert_eq!(run(), run());
}

#[test]
fn wrong_network_fails_on_timeout_and_leaves_no_state() {
    let a = common::node(1, &[7u8; 32], NodeConfig::default());
    let b = common::node(2, &[8u8; 32], NodeConfig::default());
    let mut pair = Pair::with_nodes(a, b);
    let path = pair.peers[0].path_to_other;
    let s = pair.peers[0].node.connect(pair.now, path).unwrap();
    let mut ev = Vec::new();
    pair.run_until(Duration::from_secs(30), |p| {
        ev.append(&mut p.peers[0].events);
        closed_reason(&ev, s).is_some()
    });
    assert_eq!(closed_reason(&ev, s), Some(SessionError::HandshakeTimeout));
    let stats = pair.peers[1].node.stats();
    assert!(stats.dropped_handshake >= 1);
    // Each retried INIT is reported as a wrong-network attempt on the path it came on,
    // the record bounded however many arrive.
    assert!(stats.handshakes_failed_auth >= 2, "{stats:?}");
    let mut rejected = 0;
    while let Some(r) = pair.peers[1].node.poll_rejected_handshake() {
        assert_eq!(r.cause, stt_proto::RejectCause::WrongNetwork);
        assert_eq!(r.path, pair.peers[1].path_to_other);
        rejected += 1;
    }
    assert_eq!(rejected, stats.handshakes_failed_auth.min(16));
    assert_eq!(pair.peers[1].node.half_open_count(), 0);
    assert_eq!(pair.peers[1].node.session_count(), 0);
}

#[test]
fn peer_policy_refuses_a_node_id() {
    let net = [7u8; 32];
    let a = common::node(1, &net, NodeConfig::default());
    let refused = a.node_id();
    let mut config = NodeConfig::default();
    config.peer_policy = Some(std::sync::Arc::new(move |id: &stt_proto::NodeId| {
        *id != refused
    }));
    let b = common::node(2, &net, config);
    let mut pair = Pair::with_nodes(a, b);
    let path = pair.peers[0].path_to_other;
    let _ = pair.peers[0].node.connect(pair.now, path).unwrap();
    pair.run_until(Duration::from_secs(30), |_| false);
    assert_eq!(pair.peers[1].node.stats().refused_peers, 1);
    assert_eq!(pair.peers[1].node.session_count(), 0);
}

#[test]
fn stream_limit_blocks_opening_until_the_peer_grants_more() {
    let mut config = NodeConfig::default();
    config.transport.max_streams_uni = 4;
    let mut pair = Pair::new(config.clone(), config);
    let (a, b) = pair.connect();
    let now = pair.now;
    let mut ids = Vec::new();
    {
        let mut s = pair.peers[0].node.session(a).unwrap();
        for _ in 0..4 {
            let id = s.open_stream(now, Dir::Uni, 0, None).unwrap();
            s.write(now, id, b"x").unwrap();
            s.finish(now, id).unwrap();
            ids.push(id);
        }
        assert_eq!(
            s.open_stream(now, Dir::Uni, 0, None),
            Err(stt_proto::error::OpenStreamError::Blocked)
        );
    }
    // The receiver consumes the streams: their slots are granted again.
    let available = pair.run_until(Duration::from_secs(5), |p| {
        let now = p.now;
        let mut s = p.peers[1].node.session(b).unwrap();
        while let Some(id) = s.accept_stream(Dir::Uni) {
            while let Ok(Some(_)) = s.read(now, id, usize::MAX) {}
            let _ = s.read(now, id, usize::MAX);
        }
        for id in &ids {
            let _ = s.read(now, *id, usize::MAX);
        }
        p.peers[0].events.iter().any(|e| {
            matches!(
                e,
                Event::Stream {
                    event: StreamEvent::Available(Dir::Uni),
                    ..
                }
            )
        })
    });
    assert!(available, "no Available event");
    let now = pair.now;
    assert!(
        pair.peers[0]
            .node
            .session(a)
            .unwrap()
            .open_stream(now, Dir::Uni, 0, None)
            .is_ok()
    );
}

#[test]
fn higher_priority_stream_is_sent_first() {
    let mut config = NodeConfig::default();
    config.transport.pacing = false;
    let mut pair = Pair::new(config.clone(), config);
    let (a, b) = pair.connect();
    let now = pair.now;
    let (low, high) = {
        let mut s = pair.peers[0].node.session(a).unwrap();
        let low = s.open_stream(now, Dir::Uni, 1, None).unwrap();
        let high = s.open_stream(now, Dir::Uni, 200, None).unwrap();
        s.write(now, low, &[1u8; 200_000]).unwrap();
        s.write(now, high, &[2u8; 200_000]).unwrap();
        s.finish(now, low).unwrap();
        s.finish(now, high).unwrap();
        (low, high)
    };
    let mut order = Vec::new();
    let mut done = [false, false];
    pair.run_until(Duration::from_secs(10), |p| {
        let now = p.now;
        let mut s = p.peers[1].node.session(b).unwrap();
        while s.accept_stream(Dir::Uni).is_some() {}
        for (i, id) in [low, high].into_iter().enumerate() {
            while !done[i] {
                match s.read(now, id, usize::MAX) {
                    Ok(Some(_)) => {}
                    Ok(None) => {
                        done[i] = true;
                        order.push(id);
                    }
                    Err(_) => break,
                }
            }
        }
        done == [true, true]
    });
    assert_eq!(
        order,
        [high, low],
        "the high-priority stream should finish first"
    );
}

#[test]
fn bounded_mode_reports_total_and_progress() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let now = pair.now;
    let id = {
        let mut s = pair.peers[0].node.session(a).unwrap();
        let id = s.open_stream(now, Dir::Uni, 0, Some(10)).unwrap();
        assert_eq!(s.write(now, id, &[0u8; 11]), Err(WriteError::TooLong));
        s.write(now, id, &[7u8; 4]).unwrap();
        id
    };
    let mut opened = None;
    pair.run_until(Duration::from_secs(2), |p| {
        for e in p.peers[1].events.drain(..) {
            if let Event::Stream {
                event: StreamEvent::Opened { id, total_len },
                ..
            } = e
            {
                opened = Some((id, total_len));
            }
        }
        opened.is_some()
    });
    assert_eq!(opened, Some((id, Some(10))));
    pair.run_until(Duration::from_millis(200), |_| false);
    let now = pair.now;
    let mut s = pair.peers[1].node.session(b).unwrap();
    s.accept_stream(Dir::Uni);
    let got = s.read(now, id, 100).unwrap().unwrap();
    assert_eq!(got.len(), 4);
    assert_eq!(s.recv_progress(id), Some((4, Some(10))));
}

#[test]
fn cubic_moves_data_like_new_reno() {
    let mut config = NodeConfig::default();
    config.transport.congestion =
        std::sync::Arc::new(stt_proto::congestion::CubicConfig::default());
    let mut pair = Pair::new(config.clone(), config);
    let (a, b) = pair.connect();
    let mut lossy = 0u64;
    pair.hook = Some(Box::new(move |_, _, _| {
        lossy += 1;
        if lossy.is_multiple_of(50) {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    transfer(&mut pair, a, b, 2, 1 << 20);
    assert!(pair.peers[0].node.session(a).unwrap().stats().packets_lost > 0);
}

#[test]
fn periodic_key_updates_keep_data_flowing() {
    let mut config = NodeConfig::default();
    config.transport.key_update_interval = Some(Duration::from_millis(50));
    let mut pair = Pair::new(config.clone(), config);
    pair.latency = Duration::from_millis(2);
    let (a, b) = pair.connect();
    let mut updates = [0, 0];
    let mut x = 7u64;
    // Reorder a little so packets of the old phase arrive after the switch.
    pair.hook = Some(Box::new(move |_, _, _| {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        if (x >> 60) == 0 {
            Fate::Delay(Duration::from_millis(3))
        } else {
            Fate::Deliver
        }
    }));
    transfer(&mut pair, a, b, 1, 8 << 20);
    let sa = pair.peers[0].node.session(a).unwrap().stats();
    let sb = pair.peers[1].node.session(b).unwrap().stats();
    updates[0] = sa.key_updates;
    updates[1] = sb.key_updates;
    assert!(
        updates[0] >= 2 && updates[1] >= 2,
        "key updates: {updates:?}"
    );
    assert_eq!(pair.peers[1].node.stats().dropped_unauthenticated, 0);
}

#[test]
fn one_server_many_clients_and_the_session_limit() {
    use bytes::BytesMut;
    let mut config = NodeConfig::default();
    config.max_sessions = 20;
    let net = [7u8; 32];
    let mut server = common::node(1, &net, config);
    let mut clients: Vec<_> = (0..25)
        .map(|i| common::node(10 + i as u8, &net, NodeConfig::default()))
        .collect();
    let mut now = stt_proto::Instant::from_micros(1);
    let handles: Vec<_> = clients
        .iter_mut()
        .map(|c| c.connect(now, PathId(1)).unwrap())
        .collect();
    let mut buf = vec![0u8; 65536];
    let mut connected = vec![false; clients.len()];
    for _ in 0..2000 {
        for (i, c) in clients.iter_mut().enumerate() {
            while let Some(t) = c.poll_transmit(now, &mut buf) {
                server.handle_datagram(now, PathId(100 + i as u64), BytesMut::from(&buf[..t.len]));
            }
            while let Some(e) = c.poll_event() {
                if matches!(e, Event::Connected { .. }) {
                    connected[i] = true;
                }
            }
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            let i = (t.path.0 - 100) as usize;
            clients[i].handle_datagram(now, PathId(1), BytesMut::from(&buf[..t.len]));
        }
        while server.poll_event().is_some() {}
        now = now + Duration::from_millis(5);
        server.handle_timeout(now);
        for c in clients.iter_mut() {
            c.handle_timeout(now);
        }
    }
    assert_eq!(server.session_count(), 20);
    assert!(server.stats().dropped_over_limit > 0);
    // Every client the server admitted has a live, authenticated session.
    let up = connected.iter().filter(|c| **c).count();
    assert!(up >= 20, "{up} clients connected");
    for (c, h) in clients.iter_mut().zip(&handles) {
        if let Some(mut s) = c.session(*h)
            && s.is_established()
        {
            assert_eq!(s.peer(), Some(server.node_id()));
        }
    }
}

/// Regression (found by the `session_established` fuzz target): bytes of a stream the
/// peer reset were charged to the session window but never released, because only
/// reading releases credit. Two stopped streams used up the session window and a third
/// stream stalled for good with both sessions up.
#[test]
fn reset_streams_release_their_session_credit() {
    const SESSION_WINDOW: u64 = 8192;
    let mut config = NodeConfig::default();
    config.transport.stream_receive_window = 4096;
    config.transport.max_stream_receive_window = 4096;
    config.transport.receive_window = SESSION_WINDOW;
    config.transport.max_receive_window = SESSION_WINDOW;
    let mut pair = Pair::new(config.clone(), config);
    let (a, b) = pair.connect();
    let now = pair.now;
    let mut ids = Vec::new();
    {
        let mut s = pair.peers[0].node.session(a).unwrap();
        for _ in 0..3 {
            ids.push(s.open_stream(now, Dir::Uni, 0, None).unwrap());
        }
        // Two streams fill the session window between them; nobody reads them.
        for &id in &ids[..2] {
            assert_eq!(s.write(now, id, &[1u8; 4000]), Ok(4000));
        }
    }
    pair.run_until(Duration::from_secs(2), |_| false);
    {
        // The receiver stops both without reading; the sender resets them.
        let now = pair.now;
        let mut s = pair.peers[1].node.session(b).unwrap();
        for &id in &ids[..2] {
            s.stop(now, id, ErrorCode(0x1_0001)).unwrap();
        }
    }
    pair.run_until(Duration::from_secs(2), |_| false);
    // The third stream must still get its bytes through.
    let data = pattern(3, 6000);
    let mut written = 0;
    let mut got = Vec::new();
    let done = pair.run_until(Duration::from_secs(30), |p| {
        let now = p.now;
        let mut s = p.peers[0].node.session(a).unwrap();
        while written < data.len() {
            match s.write(now, ids[2], &data[written..]) {
                Ok(n) => written += n,
                Err(_) => break,
            }
        }
        if written == data.len() {
            let _ = s.finish(now, ids[2]);
        }
        let mut r = p.peers[1].node.session(b).unwrap();
        while r.accept_stream(Dir::Uni).is_some() {}
        loop {
            match r.read(now, ids[2], usize::MAX) {
                Ok(Some(bytes)) => got.extend_from_slice(&bytes),
                Ok(None) => return true,
                Err(_) => return false,
            }
        }
    });
    assert!(
        done,
        "third stream stalled after {} of 6000 bytes",
        got.len()
    );
    assert!(got == data);
}

#[test]
fn a_trickling_writer_does_not_inflate_the_window() {
    // A writer that never fills its window (RFC 9002 §7.8): hundreds of small writes,
    // each acknowledged before the next, prove nothing about capacity. Without the
    // app-limited rule every ACK would grow the slow-start window by its bytes.
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let id = open_uni(&mut pair, a);
    let initial = pair.peers[0].node.session(a).unwrap().stats().cwnd;
    let (mut writes, mut got) = (0, 0);
    pair.run_until(Duration::from_secs(60), |p| {
        let now = p.now;
        if writes < 1000 {
            let mut s = p.peers[0].node.session(a).unwrap();
            assert_eq!(s.write(now, id, &[7u8; 200]), Ok(200));
            writes += 1;
        }
        let mut r = p.peers[1].node.session(b).unwrap();
        r.accept_stream(Dir::Uni);
        while let Ok(Some(bytes)) = r.read(now, id, usize::MAX) {
            got += bytes.len();
        }
        got == 200 * 1000
    });
    assert_eq!(got, 200 * 1000, "the trickle must arrive");
    let cwnd = pair.peers[0].node.session(a).unwrap().stats().cwnd;
    assert!(
        cwnd <= 2 * initial,
        "window grew from {initial} to {cwnd} on an application-limited flight"
    );
}

/// Bulk data goes out in packets whose plaintext is a whole number of 16-byte AEAD
/// blocks (1460-byte datagrams with the default 1472 limit), batched for GSO at that
/// segment size; a DATAGRAM frame as large as the limit allows still goes out (in a
/// full 1472-byte packet) while the stream is busy.
#[test]
fn bulk_packets_end_on_aead_blocks_and_batch_for_gso() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let now = pair.now;
    let mut s = pair.peers[0].node.session(a).unwrap();
    let id = s.open_stream(now, Dir::Uni, 0, None).unwrap();
    s.write(now, id, &pattern(0, 256 << 10)).unwrap();
    let max = s.max_datagram_size();
    s.send_datagram(now, Bytes::from(vec![7u8; max])).unwrap();
    let mut buf = vec![0u8; 64 * DEFAULT_MAX_PACKET];
    let mut sizes = Vec::new();
    let mut batches = 0;
    while let Some(t) = pair.peers[0].node.poll_transmit(now, &mut buf) {
        let seg = t.segment_size.unwrap_or(t.len);
        if t.segment_size == Some(1460) {
            batches += 1;
        }
        let mut off = 0;
        while off < t.len {
            let end = (off + seg).min(t.len);
            sizes.push(end - off);
            pair.peers[1].node.handle_datagram(
                now,
                pair.peers[1].path_to_other,
                BytesMut::from(&buf[off..end]),
            );
            off = end;
        }
    }
    let dropped = pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .stats()
        .datagrams_dropped;
    assert_eq!(dropped, 0, "{sizes:?}");
    assert!(batches > 0, "no GSO batch: {sizes:?}");
    // Full data packets (the initial window's worth) and, among the first two (the
    // first may carry a due ACK, beside which the datagram does not fit), the
    // datagram's own full-size packet.
    let big = sizes.iter().position(|&l| l == DEFAULT_MAX_PACKET);
    assert!(big.is_some_and(|i| i < 2), "{sizes:?}");
    assert_eq!(
        sizes.iter().filter(|&&l| l == 1460).count(),
        sizes.len() - 1
    );
    assert!(sizes.len() >= 9, "{sizes:?}");
    assert_eq!((1460 - HEADER_LEN - TAG_LEN) % 16, 0);
    let mut r = pair.peers[1].node.session(b).unwrap();
    assert_eq!(r.recv_datagram().map(|d| d.len()), Some(max));
}

/// Drains node `i`'s metric records.
fn metrics(pair: &mut Pair, i: usize) -> Vec<stt_proto::MetricRecord> {
    std::iter::from_fn(|| pair.peers[i].node.poll_metric()).collect()
}

#[test]
fn metrics_record_recovery_losses_and_data_only_when_on() {
    use stt_proto::metrics::{DataKind, Metric, SendLimit};
    let mut on = NodeConfig::default();
    on.transport.metrics = true;
    let mut pair = Pair::new(on, NodeConfig::default());
    // Every 40th packet from the sender is lost.
    pair.hook = Some(Box::new(|from, n, _| {
        if from == 0 && n % 40 == 0 {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    let (a, b) = pair.connect();
    let mut records = metrics(&mut pair, 0);
    let len = 1 << 20;
    transfer(&mut pair, a, b, 1, len);
    // The last ACKs are still on their way when the receiver has read everything.
    pair.run_until(Duration::from_secs(1), |_| false);
    records.extend(metrics(&mut pair, 0));
    assert!(
        metrics(&mut pair, 1).is_empty(),
        "a node with metrics off recorded some"
    );
    assert!(records.iter().all(|r| r.session == a));
    assert!(records.windows(2).all(|w| w[0].time <= w[1].time));
    let sum = |kind: DataKind| -> u64 {
        records
            .iter()
            .filter_map(|r| match r.metric {
                Metric::StreamData { len, kind: k, .. } if k == kind => Some(len),
                _ => None,
            })
            .sum()
    };
    assert_eq!(sum(DataKind::Sent), len as u64, "first transmissions");
    assert!(sum(DataKind::Resent) > 0, "losses were resent");
    assert!(sum(DataKind::Acked) >= len as u64);
    let lost = records
        .iter()
        .filter(|r| matches!(r.metric, Metric::PacketLost { .. }))
        .count() as u64;
    let stats = pair.peers[0].node.session(a).unwrap().stats();
    assert_eq!(lost, stats.packets_lost);
    assert!(
        records
            .iter()
            .any(|r| matches!(r.metric, Metric::CongestionEvent { .. }))
    );
    let samples: Vec<_> = records
        .iter()
        .filter_map(|r| match r.metric {
            Metric::Recovery(s) => Some(s),
            _ => None,
        })
        .collect();
    assert!(samples.len() > 10);
    assert!(samples.windows(2).all(|w| w[0] != w[1]), "only changes");
    let last = samples[samples.len() - 1];
    assert_eq!(last.cwnd, stats.cwnd);
    assert!(last.smoothed_rtt >= Duration::from_millis(10) && last.pacing_rate > 0);
    let limits: Vec<SendLimit> = records
        .iter()
        .filter_map(|r| match r.metric {
            Metric::SendLimit(l) => Some(l),
            _ => None,
        })
        .collect();
    assert!(limits.contains(&SendLimit::Sending));
    assert!(limits.windows(2).all(|w| w[0] != w[1]), "only changes");
}

#[test]
fn metrics_record_flow_control_blocks_on_both_sides() {
    use stt_proto::metrics::{Metric, SendLimit};
    let mut cfg = NodeConfig::default();
    cfg.transport.metrics = true;
    let mut small = cfg.clone();
    // A receiver whose windows stay small: the sender waits for credit.
    small.transport.stream_receive_window = 64 << 10;
    small.transport.max_stream_receive_window = 64 << 10;
    let mut pair = Pair::new(cfg, small);
    let (a, b) = pair.connect();
    transfer(&mut pair, a, b, 1, 1 << 20);
    let sender = metrics(&mut pair, 0);
    let receiver = metrics(&mut pair, 1);
    assert!(sender.iter().any(|r| matches!(
        r.metric,
        Metric::FlowBlocked {
            stream: Some(_),
            peer: false,
            ..
        }
    )));
    assert!(
        sender
            .iter()
            .any(|r| r.metric == Metric::SendLimit(SendLimit::FlowControl))
    );
    assert!(receiver.iter().any(|r| matches!(
        r.metric,
        Metric::FlowBlocked {
            stream: Some(_),
            peer: true,
            ..
        }
    )));
}
