//! Dead-peer detection: a peer that vanishes mid-transfer is reported as
//! `PeerUnresponsive` within `max(UNRESPONSIVE_PTOS · PTO, UNRESPONSIVE_FLOOR)`, far below
//! the idle timeout, while a slow (800 ms RTT) path never trips it. Two nodes back to back
//! in memory, virtual time; each test runs in well under a second of wall time.

use stt_testkit::pair as common;

use std::time::Duration;

use common::{Fate, Pair};
use stt_proto::config::{NodeConfig, UNRESPONSIVE_FLOOR};
use stt_proto::error::{ReadError, SessionError, WriteError};
use stt_proto::frame::{Dir, StreamId};
use stt_proto::{Event, Instant, SessionHandle};

/// Keeps node 0 writing on `id` and node 1 reading everything; returns bytes read.
fn pump(pair: &mut Pair, a: SessionHandle, b: SessionHandle, id: StreamId, chunk: &[u8]) -> u64 {
    let now = pair.now;
    let mut read = 0u64;
    if let Some(mut s) = pair.peers[0].node.session(a) {
        loop {
            match s.write(now, id, chunk) {
                Ok(0) | Err(WriteError::Blocked) => break,
                Ok(_) => {}
                Err(e) => panic!("write: {e}"),
            }
        }
    }
    if let Some(mut s) = pair.peers[1].node.session(b) {
        while s.accept_stream(Dir::Uni).is_some() {}
        loop {
            match s.read(now, id, usize::MAX) {
                Ok(Some(bytes)) => read += bytes.len() as u64,
                Ok(None) | Err(ReadError::Blocked) | Err(ReadError::Closed) => break,
                Err(e) => panic!("read: {e}"),
            }
        }
    }
    read
}

fn closed(events: &[Event], s: SessionHandle) -> Option<SessionError> {
    events.iter().find_map(|e| match e {
        Event::Closed { session, reason } if *session == s => Some(reason.clone()),
        _ => None,
    })
}

/// Starts a transfer over a pair with one-way `latency`, lets it run `warm`, then drops
/// every packet both ways from then on. Returns (close reason, silence until the close,
/// probe timeouts during the silence).
fn vanish(latency: Duration, warm: Duration) -> (Option<SessionError>, Duration, u64) {
    let config = NodeConfig::default(); // idle timeout 30 s, keepalive 10 s
    let mut pair = Pair::new(config.clone(), config);
    pair.latency = latency;
    let (a, b) = pair.connect();
    let now = pair.now;
    let id = pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .open_stream(now, Dir::Uni, 0, None)
        .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut read = 0;
    pair.run_until(warm, |p| {
        read += pump(p, a, b, id, &chunk);
        false
    });
    assert!(read > 0, "no data moved before the blackhole");
    let cut = pair.now;
    let ptos_before = pair.peers[0].node.session(a).unwrap().stats().pto_count;
    let mut ptos = 0;
    pair.path_hook = Some(Box::new(move |_, _, now: Instant, _| {
        if now >= cut {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    let mut reason = None;
    pair.run_until(Duration::from_secs(60), |p| {
        pump(p, a, b, id, &chunk);
        if let Some(mut s) = p.peers[0].node.session(a) {
            ptos = s.stats().pto_count - ptos_before;
        }
        reason = reason.take().or_else(|| closed(&p.peers[0].events, a));
        p.peers[0].events.clear();
        p.peers[1].events.clear();
        reason.is_some()
    });
    (reason, pair.now - cut, ptos)
}

#[test]
fn peer_vanishing_mid_transfer_is_noticed_within_the_floor() {
    // 10 ms RTT: 8 PTO is far below the floor, so the floor is the bound.
    let (reason, after, ptos) = vanish(Duration::from_millis(5), Duration::from_millis(300));
    // The probe timeout backs off (doubling from about 60 ms): a handful of probes in
    // 4 s, not one per PTO.
    assert!(
        (3..=10).contains(&ptos),
        "{ptos} probe timeouts in {after:?}"
    );
    assert!(
        matches!(reason, Some(SessionError::PeerUnresponsive { .. })),
        "{reason:?} after {after:?}"
    );
    assert!(
        after >= UNRESPONSIVE_FLOOR - Duration::from_millis(100),
        "gave up after only {after:?}"
    );
    assert!(
        after <= UNRESPONSIVE_FLOOR + Duration::from_millis(300),
        "noticed only after {after:?}"
    );
}

#[test]
fn peer_vanishing_on_a_slow_path_is_noticed_within_eight_ptos() {
    // 800 ms RTT: PTO ≈ 0.8 s + 4·rttvar + 25 ms, so about 8 PTO, well under the 30 s
    // idle timeout.
    let (reason, after, _) = vanish(Duration::from_millis(400), Duration::from_secs(10));
    assert!(
        matches!(reason, Some(SessionError::PeerUnresponsive { .. })),
        "{reason:?} after {after:?}"
    );
    assert!(
        after >= Duration::from_secs(6) && after <= Duration::from_secs(15),
        "noticed after {after:?}"
    );
}

#[test]
fn a_slow_path_does_not_trip_it() {
    // 800 ms RTT, 8 MiB on one stream: many round trips with data outstanding, none of
    // them silent long enough to count as a dead peer.
    let config = NodeConfig::default();
    let mut pair = Pair::new(config.clone(), config);
    pair.latency = Duration::from_millis(400);
    let (a, b) = pair.connect();
    let now = pair.now;
    let id = pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .open_stream(now, Dir::Uni, 0, None)
        .unwrap();
    let chunk = vec![7u8; 64 * 1024];
    let mut read = 0u64;
    let mut ended = None;
    pair.run_until(Duration::from_secs(120), |p| {
        read += pump(p, a, b, id, &chunk);
        for i in 0..2 {
            for e in p.peers[i].events.drain(..) {
                if let Event::Closed { reason, .. } = e {
                    ended = Some(reason);
                }
            }
        }
        ended.is_some() || read >= 8 << 20
    });
    assert_eq!(ended, None, "session ended on a slow path");
    assert!(read >= 8 << 20, "only {read} bytes in 120 s");
}
