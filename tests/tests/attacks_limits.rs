//! Limits where exactly one check stands between a malicious peer and the receiver's
//! memory, in memory (tests/src/mem.rs), each checked at its edge: a stream window
//! smaller than the session window and the reverse (so neither flow-control check masks
//! the other), DATA that starts inside a window and ends past it, stream limits at the
//! boundary (uni, bidi, and after closed streams gave credit back), an honest sender
//! held by the session-wide MAX_DATA when the stream window is larger, and a node
//! moved to an unproven address while it has bulk data to send (anti-amplification).
//! Each test takes well under a second.

use std::time::Duration;

use stt_proto::config::NodeConfig;
use stt_proto::error::{OpenStreamError, SessionError, WriteError};
use stt_proto::frame::{DataFrame, Dir, ErrorCode, Frame, Side, StreamId, StreamOpen};
use stt_proto::{PathId, SessionHandle};
use stt_tests::flood::assert_amplification_within;
use stt_tests::mem::{Pair, path_of};

/// A receiver (node 1) whose stream window is `stream` and session window `session`,
/// neither growing.
fn receiver(stream: u64, session: u64) -> NodeConfig {
    let mut cfg = NodeConfig::default();
    cfg.transport.stream_receive_window = stream;
    cfg.transport.max_stream_receive_window = stream;
    cfg.transport.receive_window = session;
    cfg.transport.max_receive_window = session;
    cfg
}

/// Node 0 seals exactly `frames` on `stream` with its session keys and node 1 gets them.
fn malicious(p: &mut Pair, a: SessionHandle, stream: StreamId, frames: &[Frame<'_>]) {
    let buf = p.sealed_by(0, a, stream, frames);
    p.inject(1, path_of(0), &buf);
    p.run_for(Duration::from_millis(50));
}

fn data(offset: u64, bytes: &[u8]) -> Frame<'_> {
    Frame::Data(DataFrame {
        offset,
        fin: false,
        data: bytes,
    })
}

/// Connects node 0 to a receiver with these windows and opens `n` uni streams on it.
fn setup(
    stream: u64,
    session: u64,
    n: usize,
) -> (Pair, SessionHandle, SessionHandle, Vec<StreamId>) {
    let mut p = Pair::new(NodeConfig::default(), receiver(stream, session));
    let (a, b) = p.connect();
    let now = p.now;
    let ids = (0..n)
        .map(|_| {
            p.nodes[0]
                .session(a)
                .unwrap()
                .open_stream(now, Dir::Uni, 0, None)
                .unwrap()
        })
        .collect();
    p.run_for(Duration::from_millis(50));
    (p, a, b, ids)
}

fn assert_flow_violation(p: &mut Pair, b: SessionHandle, what: &str) {
    let reason = p.closed_reason(1, b);
    assert_eq!(
        reason,
        Some(SessionError::ProtocolViolation(
            ErrorCode::FLOW_CONTROL_VIOLATION
        )),
        "{what}"
    );
}

#[test]
fn data_past_the_stream_window_inside_the_session_window_is_refused() {
    let (mut p, a, b, ids) = setup(16 << 10, 1 << 20, 1);
    // Ends exactly at the stream window: allowed.
    malicious(&mut p, a, ids[0], &[data((16 << 10) - 1000, &[1; 1000])]);
    assert!(p.is_up(1, b), "data ending at the window edge refused");
    // One byte further: only the stream check can refuse it.
    malicious(&mut p, a, ids[0], &[data(16 << 10, &[1; 1])]);
    assert_flow_violation(&mut p, b, "one byte past the stream window");
}

#[test]
fn data_past_the_session_window_inside_the_stream_windows_is_refused() {
    let (mut p, a, b, ids) = setup(1 << 20, 16 << 10, 2);
    // 10 000 bytes' worth of offsets on each stream: each far inside its stream window,
    // together past the 16 KiB session window.
    malicious(&mut p, a, ids[0], &[data(9_000, &[1; 1000])]);
    assert!(p.is_up(1, b), "10 000 bytes of 16 KiB refused");
    malicious(&mut p, a, ids[1], &[data(9_000, &[1; 1000])]);
    assert_flow_violation(&mut p, b, "two streams together past the session window");
}

#[test]
fn data_starting_inside_the_stream_window_and_ending_past_it_is_refused() {
    let (mut p, a, b, ids) = setup(16 << 10, 1 << 20, 1);
    malicious(&mut p, a, ids[0], &[data((16 << 10) - 500, &[1; 1000])]);
    assert_flow_violation(&mut p, b, "DATA straddling the stream window");
}

#[test]
fn data_starting_inside_the_session_window_and_ending_past_it_is_refused() {
    let (mut p, a, b, ids) = setup(1 << 20, 16 << 10, 1);
    // Ends exactly at the session window: allowed.
    malicious(&mut p, a, ids[0], &[data((16 << 10) - 1000, &[1; 1000])]);
    assert!(p.is_up(1, b), "data ending at the session window refused");
    let (mut p, a, b, ids) = setup(1 << 20, 16 << 10, 1);
    malicious(&mut p, a, ids[0], &[data((16 << 10) - 500, &[1; 1000])]);
    assert_flow_violation(&mut p, b, "DATA straddling the session window");
}

/// Opens `dir` streams from node 0 until the peer's limit blocks; returns the last id.
fn open_until_blocked(p: &mut Pair, a: SessionHandle, dir: Dir) -> (usize, StreamId) {
    let now = p.now;
    let mut s = p.nodes[0].session(a).unwrap();
    let mut last = None;
    let mut n = 0;
    loop {
        match s.open_stream(now, dir, 0, None) {
            Ok(id) => {
                last = Some(id);
                n += 1;
            }
            Err(OpenStreamError::Blocked) => break,
            Err(e) => panic!("open: {e}"),
        }
    }
    (n, last.expect("no stream could be opened"))
}

fn open_frame(id: StreamId) -> Frame<'static> {
    Frame::StreamOpen(StreamOpen {
        stream_id: id,
        priority: 0,
        total_len: None,
    })
}

#[test]
fn stream_limits_hold_exactly_uni_and_bidi() {
    for (dir, limit) in [(Dir::Uni, 5u64), (Dir::Bi, 3)] {
        let mut cfg = NodeConfig::default();
        cfg.transport.max_streams_uni = limit;
        cfg.transport.max_streams_bidi = limit;
        let mut p = Pair::new(NodeConfig::default(), cfg);
        let (a, b) = p.connect();
        let (n, last) = open_until_blocked(&mut p, a, dir);
        assert_eq!(n as u64, limit, "{dir:?}: the honest API opened {n}");
        p.run_for(Duration::from_millis(50));
        assert!(p.is_up(1, b));
        let next = StreamId::new(Side::Initiator, dir, last.index() + 1).unwrap();
        malicious(&mut p, a, StreamId::CONTROL, &[open_frame(next)]);
        assert_eq!(
            p.closed_reason(1, b),
            Some(SessionError::ProtocolViolation(ErrorCode::TOO_MANY_STREAMS)),
            "{dir:?}: stream {} of a limit of {limit} accepted",
            limit + 1
        );
    }
}

#[test]
fn closed_streams_give_back_exactly_their_credit() {
    let mut cfg = NodeConfig::default();
    cfg.transport.max_streams_uni = 4;
    let mut p = Pair::new(NodeConfig::default(), cfg);
    let (a, b) = p.connect();
    let now = p.now;
    let (n, _) = open_until_blocked(&mut p, a, Dir::Uni);
    assert_eq!(n, 4);
    // Finish every stream empty; the receiver accepts and reads them to the end, which
    // closes them and gives their credit back.
    let ids: Vec<StreamId> = (1..=4)
        .map(|i| StreamId::new(Side::Initiator, Dir::Uni, i).unwrap())
        .collect();
    for id in &ids {
        let _ = p.nodes[0].session(a).unwrap().finish(now, *id);
    }
    p.run_until(Duration::from_secs(5), |p| {
        let now = p.now;
        let mut s = p.nodes[1].session(b).unwrap();
        while let Some(id) = s.accept_stream(Dir::Uni) {
            while let Ok(Some(_)) = s.read(now, id, usize::MAX) {}
        }
        false
    });
    let (n, last) = open_until_blocked(&mut p, a, Dir::Uni);
    assert_eq!(n, 4, "credit given back for 4 closed streams");
    p.run_for(Duration::from_millis(50));
    assert!(p.is_up(1, b));
    let next = StreamId::new(Side::Initiator, Dir::Uni, last.index() + 1).unwrap();
    malicious(&mut p, a, StreamId::CONTROL, &[open_frame(next)]);
    assert_eq!(
        p.closed_reason(1, b),
        Some(SessionError::ProtocolViolation(ErrorCode::TOO_MANY_STREAMS))
    );
}

#[test]
fn an_honest_sender_stops_at_the_session_window_when_the_stream_window_is_larger() {
    // The receiver never reads. Only MAX_DATA (32 KiB) limits the sender: if it ignored
    // it, the receiver would hold more than it advertised (and close the session).
    let mut p = Pair::new(NodeConfig::default(), receiver(1 << 20, 32 << 10));
    let (a, b) = p.connect();
    let now = p.now;
    let ids: Vec<StreamId> = (0..2)
        .map(|_| {
            p.nodes[0]
                .session(a)
                .unwrap()
                .open_stream(now, Dir::Uni, 0, None)
                .unwrap()
        })
        .collect();
    let chunk = vec![3u8; 64 << 10];
    p.run_until(Duration::from_secs(5), |p| {
        let now = p.now;
        let mut s = p.nodes[0].session(a).unwrap();
        for id in &ids {
            while let Ok(n) = s.write(now, *id, &chunk) {
                if n == 0 {
                    break;
                }
            }
        }
        false
    });
    assert!(p.is_up(0, a) && p.is_up(1, b), "session ended");
    let tx = p.nodes[0].session(a).unwrap().stats();
    let rx = p.nodes[1].session(b).unwrap().stats();
    // Stream bytes sent, retransmissions aside, never pass the session window.
    let fresh = tx.bytes_sent.saturating_sub(tx.bytes_retransmitted);
    assert!(
        rx.bytes_received < (32 << 10) + (8 << 10),
        "receiver got {} bytes against a 32 KiB window ({fresh} sent)",
        rx.bytes_received
    );
    assert!(
        rx.bytes_received > 16 << 10,
        "the window was not used: {rx:?}"
    );
    let w = p.nodes[0].session(a).unwrap().write(p.now, ids[0], &chunk);
    assert!(matches!(w, Err(WriteError::Blocked) | Ok(_)));
}

#[test]
fn bulk_data_to_an_unproven_address_stays_within_3x() {
    // Node 1 streams 4 MiB to node 0; a packet of node 0 then arrives from a new
    // address, which node 1 cannot answer through yet (the attacker drops its answers).
    // With a full window of data to send, node 1 must still send that address at most
    // 3x what came from it.
    let mut p = Pair::new(NodeConfig::default(), NodeConfig::default());
    let (a, b) = p.connect();
    let now = p.now;
    let id = p.nodes[1]
        .session(b)
        .unwrap()
        .open_stream(now, Dir::Uni, 0, None)
        .unwrap();
    let chunk = vec![9u8; 256 << 10];
    let mut rid = None;
    let mut pump = |p: &mut Pair| {
        let now = p.now;
        let mut s = p.nodes[1].session(b).unwrap();
        while let Ok(n) = s.write(now, id, &chunk) {
            if n == 0 {
                break;
            }
        }
        let mut r = p.nodes[0].session(a).unwrap();
        if rid.is_none() {
            rid = r.accept_stream(Dir::Uni);
        }
        if let Some(rid) = rid {
            while let Ok(Some(_)) = r.read(now, rid, usize::MAX) {}
        }
    };
    p.run_until(Duration::from_millis(300), |p| {
        pump(p);
        false
    });
    // A full-size packet of node 0 arrives from a new address; nothing node 1 sends
    // gets through any more.
    p.deliver = false;
    let start = p.captured.len();
    let now = p.now;
    let up = p.nodes[0]
        .session(a)
        .unwrap()
        .open_stream(now, Dir::Uni, 0, None)
        .unwrap();
    p.nodes[0]
        .session(a)
        .unwrap()
        .write(now, up, &[5u8; 1200])
        .unwrap();
    p.flush();
    let fresh: Vec<Vec<u8>> = p.captured[start..]
        .iter()
        .filter(|s| s.from == 0)
        .map(|s| s.bytes.clone())
        .collect();
    let victim = PathId(4242);
    for bytes in &fresh {
        p.inject(1, victim, bytes);
    }
    for _ in 0..50 {
        pump(&mut p);
        p.now = p.now + Duration::from_millis(10);
        p.nodes[1].handle_timeout(p.now);
        p.flush();
    }
    let sent = p.sent_to.get(&(1, victim.0)).copied().unwrap_or(0);
    let got = p.received_from.get(&(1, victim.0)).copied().unwrap_or(0);
    println!("unproven address: {got} bytes in, {sent} bytes out");
    assert!(got >= 1000, "node 0's packet was small: {got} bytes");
    assert!(sent > got, "node 1 did not use its budget: {sent} bytes");
    assert_amplification_within(&p, 1, victim.0, 3);
}
