//! Path validation on one session: the retry interval and the 3× budget as numbers, and
//! an established session (taken from two in-memory nodes) driven through a move to a new
//! path: which packets move it, when the challenge is sent again, where an answer to the
//! peer's challenge goes and whose budget pays for it. Plus two whole handshakes: a
//! reordered older packet from a new address, and a responder whose CHALLENGE went to two
//! paths. Each test names the cargo-mutants survivor of `paths.rs` it kills.

use alloc::vec;
use alloc::vec::Vec;

use bytes::BytesMut;

use super::*;
use crate::config::NodeConfig;
use crate::event::Event;
use crate::frame::{Dir, ErrorCode};
use crate::node::test_pair::{connected, node, pump};
use crate::{Node, SessionHandle};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The path the responder (node `b`) sees the initiator on.
const OLD: PathId = PathId(1);
/// The path the initiator's packets arrive on after it moved.
const NEW: PathId = PathId(99);
/// A path that is neither.
const ELSEWHERE: PathId = PathId(55);

fn t0() -> Instant {
    Instant::from_micros(1_000_000)
}

/// Node `a` (seen by `b` on [`OLD`]) connected to node `b` (seen by `a` on path 2).
fn nodes() -> (Node, Node, SessionHandle) {
    let (mut a, mut b) = (node(1), node(2));
    let h = a.connect(t0(), PathId(2)).unwrap();
    let (ea, eb) = pump(&mut a, OLD, &mut b, PathId(2), t0(), 20);
    assert!(connected(&ea) && connected(&eb));
    (a, b, h)
}

/// `b`'s session: established on [`OLD`], which the handshake proved.
fn established() -> Session {
    let (_, b, _) = nodes();
    let s = b.slots.iter().find_map(|s| s.session.clone()).unwrap();
    assert_eq!(s.path.id, OLD);
    assert!(s.path.validated);
    s
}

/// `established()` after a newest packet of `len` bytes arrived on [`NEW`]: the session
/// is there, unvalidated, with [`OLD`] as its fallback and a challenge due.
fn moved(len: usize) -> Session {
    let mut s = established();
    s.on_packet_path(t0(), NEW, len, true, &mut Rng::from_seed([5; 32]));
    assert_eq!(
        (s.path.id, s.path.validated, s.fallback),
        (NEW, false, Some(OLD))
    );
    assert_eq!(s.path.budget(), 3 * len as u64);
    s
}

fn sent_at(s: &Session) -> Option<Instant> {
    s.probe.as_ref().and_then(|p| p.sent_at)
}

#[test]
fn retry_interval_backs_off_and_is_capped_by_the_idle_timeout() {
    let mut p = Probe {
        challenge: [0; 8],
        sent_at: None,
        tries: 1,
    };
    let (pto, idle) = (ms(100), ms(30_000));
    let got: alloc::vec::Vec<Duration> = (1..=10)
        .map(|t| {
            p.tries = t;
            p.retry_interval(pto, idle)
        })
        .collect();
    assert_eq!(&got[..4], &[ms(200), ms(400), ms(800), ms(1600)]);
    assert_eq!(got[6], ms(7500), "capped at a quarter of the idle timeout");
    assert_eq!(got[9], ms(7500));
    // A PTO longer than the idle timeout's quarter: never below two PTOs.
    assert_eq!(p.retry_interval(ms(5_000), ms(3_000)), ms(10_000));
}

#[test]
fn unvalidated_budget_is_three_times_what_arrived() {
    let mut s = PathState::new(PathId(9), false);
    assert_eq!(s.budget(), 0);
    s.received = 100;
    s.sent = 250;
    assert_eq!(s.budget(), 50);
    s.sent = 400;
    assert_eq!(s.budget(), 0);
    s.validated = true;
    assert_eq!(s.budget(), u64::MAX);
}

/// An older packet (reordered, or still in flight from before the peer moved) that comes
/// from a new path carries no news about where the peer is: the session stays.
/// (Mutant: `!newest || left_path == Some(path)` with `&&`.)
#[test]
fn an_older_packet_from_a_new_path_does_not_move_the_session() {
    let mut s = established();
    s.on_packet_path(t0(), NEW, 1200, false, &mut Rng::from_seed([5; 32]));
    assert_eq!(s.path.id, OLD);
    assert!(s.path.validated);
    assert!(s.probe.is_none() && s.fallback.is_none());
}

/// The same through two nodes: `a` sends three packets of stream data; the third reaches
/// `b` on the usual path, then the first arrives late from another address. `b` takes the
/// data of both but stays where it is (no challenge, no `PathChanged`).
#[test]
fn a_reordered_older_packet_from_a_new_address_leaves_the_session_where_it_is() {
    let (mut a, mut b, h) = nodes();
    while b.poll_event().is_some() {}
    let now = t0() + ms(100);
    let mut s = a.session(h).unwrap();
    let id = s.open_stream(now, Dir::Uni, 0, None).unwrap();
    assert_eq!(s.write(now, id, &[7u8; 3000]).unwrap(), 3000);
    let mut buf = vec![0u8; 65536];
    let mut out: Vec<Vec<u8>> = Vec::new();
    while let Some(t) = a.poll_transmit(now, &mut buf) {
        let seg = t.segment_size.unwrap_or(t.len);
        out.extend(buf[..t.len].chunks(seg).map(<[u8]>::to_vec));
    }
    assert!(out.len() >= 3, "{} packets", out.len());
    let last = out.len() - 1;
    b.handle_datagram(now, OLD, BytesMut::from(&out[last][..]));
    b.handle_datagram(now + ms(1), NEW, BytesMut::from(&out[0][..]));
    let session = b.slots.iter().find_map(|s| s.session.as_ref()).unwrap();
    assert_eq!(session.path.id, OLD, "an older packet moved the session");
    assert!(session.path.validated && session.probe.is_none());
    assert!(
        session.stats.packets_received >= 2,
        "the late packet was dropped"
    );
    let mut events = Vec::new();
    while let Some(e) = b.poll_event() {
        events.push(e);
    }
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, Event::PathChanged { .. })),
        "{events:?}"
    );
}

/// A responder whose CHALLENGE went to two paths (the INIT arrived from [`OLD`] and, as a
/// copy, from [`ELSEWHERE`]) learns nothing from the RESPONSE about which one is real: the
/// session starts on the RESPONSE's path unvalidated, within 3× of the RESPONSE, with a
/// challenge of its own, and is validated once the initiator answers it.
/// (Mutant: `start_unproven` a no-op.)
#[test]
fn a_challenge_sent_to_two_paths_leaves_the_responders_path_unproven() {
    let (mut a, mut b) = (node(1), node(2));
    let now = t0();
    a.connect(now, PathId(2)).unwrap();
    let mut buf = vec![0u8; 65536];
    let t = a.poll_transmit(now, &mut buf).unwrap();
    let init = buf[..t.len].to_vec();
    b.handle_datagram(now, OLD, BytesMut::from(&init[..]));
    b.handle_datagram(now, ELSEWHERE, BytesMut::from(&init[..]));
    let mut challenges = 0;
    while let Some(t) = b.poll_transmit(now, &mut buf) {
        challenges += 1;
        if t.path == OLD {
            a.handle_datagram(now, PathId(2), BytesMut::from(&buf[..t.len]));
        }
    }
    assert_eq!(challenges, 2, "one CHALLENGE per path");
    let t = a.poll_transmit(now, &mut buf).unwrap();
    let response_len = t.len;
    b.handle_datagram(now, OLD, BytesMut::from(&buf[..t.len]));
    {
        let s = b.slots.iter().find_map(|s| s.session.as_ref()).unwrap();
        assert_eq!(s.path.id, OLD);
        assert!(
            !s.path.validated,
            "a RESPONSE after two CHALLENGEs proved a path"
        );
        assert_eq!(s.path.budget(), 3 * response_len as u64);
        assert!(s.probe.is_some() && s.fallback.is_none());
    }
    let (_, eb) = pump(&mut a, OLD, &mut b, PathId(2), now, 20);
    assert!(
        eb.iter()
            .any(|e| matches!(e, Event::PathChanged { path, .. } if *path == OLD)),
        "{eb:?}"
    );
    let s = b.slots.iter().find_map(|s| s.session.as_ref()).unwrap();
    assert!(s.path.validated && s.probe.is_none());
}

/// The challenge goes out once, then again only when its retry interval (two PTOs on the
/// first try) has passed since it was sent, not earlier.
/// (Mutant: `now >= sent + interval` with `-`.)
#[test]
fn the_challenge_is_sent_again_only_after_its_retry_interval() {
    let mut s = moved(1200);
    let t = t0() + ms(500);
    let mut buf = vec![0u8; 1500];
    let (path, _) = s.transmit_validation(t, &mut buf).unwrap();
    assert_eq!(path, NEW);
    assert_eq!(sent_at(&s), Some(t));
    assert_eq!(
        s.transmit_validation(t, &mut buf),
        None,
        "nothing else is due"
    );
    let (pto, idle) = (ms(100), ms(30_000));
    assert_eq!(s.probe_deadline(pto, idle), Some(t + ms(200)));
    s.probe_timeout(t, pto, idle);
    s.probe_timeout(t + ms(199), pto, idle);
    assert_eq!(
        sent_at(&s),
        Some(t),
        "the challenge was due again too early"
    );
    assert_eq!(s.transmit_validation(t + ms(199), &mut buf), None);
    s.probe_timeout(t + ms(200), pto, idle);
    assert_eq!(sent_at(&s), None, "the retry interval passed");
    let (path, _) = s.transmit_validation(t + ms(200), &mut buf).unwrap();
    assert_eq!(path, NEW);
    // The second try waits twice as long.
    assert_eq!(s.probe_deadline(pto, idle), Some(t + ms(600)));
}

/// An answer to the peer's challenge on the current, unvalidated path goes there and is
/// charged to its 3× budget, alone or beside this side's own challenge.
/// (Mutants in `transmit_validation`: the `path.sent` updates and the `rp == path` test.)
#[test]
fn an_answer_on_an_unvalidated_path_is_charged_to_its_budget() {
    let mut buf = vec![0u8; 1500];
    let t = t0() + ms(500);
    // Beside this side's own challenge.
    let mut s = moved(400);
    s.path_response = Some((NEW, [3; 8]));
    let (path, len) = s.transmit_validation(t, &mut buf).unwrap();
    assert_eq!(path, NEW);
    assert!(
        s.path_response.is_none(),
        "the answer went with the challenge"
    );
    assert_eq!(s.path.sent, len as u64);
    assert_eq!(s.path.budget(), 1200 - len as u64);
    // Alone: this side's challenge is out already.
    s.path_response = Some((NEW, [4; 8]));
    let (path, len2) = s.transmit_validation(t, &mut buf).unwrap();
    assert_eq!(path, NEW);
    assert!(s.path_response.is_none());
    assert_eq!(s.path.sent, (len + len2) as u64);
    // A budget short of a small packet: the answer waits (it is dropped, the peer asks
    // again) rather than exceed 3×.
    s.path.sent = s.path.received * 3 - (SMALL_PACKET as u64 - 1);
    s.path_response = Some((NEW, [5; 8]));
    assert_eq!(s.transmit_validation(t, &mut buf), None);
}

/// An answer to a challenge that came on the last validated path goes there, needs no
/// budget and is not charged to the unvalidated path's.
#[test]
fn an_answer_on_the_fallback_path_needs_no_budget() {
    let mut buf = vec![0u8; 1500];
    let t = t0() + ms(500);
    let mut s = moved(400);
    s.transmit_validation(t, &mut buf).unwrap();
    s.path.sent = s.path.received * 3;
    assert_eq!(s.path.budget(), 0);
    s.path_response = Some((OLD, [6; 8]));
    let (path, len) = s.transmit_validation(t, &mut buf).unwrap();
    assert_eq!(path, OLD);
    assert!(len >= SMALL_PACKET / 2);
    assert_eq!(s.path.sent, s.path.received * 3, "charged to the new path");
}

/// A challenge from a path that is neither the current one nor the fallback is not
/// answered: nothing bounds what may be sent there.
/// (Mutant: the fallback test `==` with `!=`.)
#[test]
fn a_challenge_from_any_other_path_goes_unanswered() {
    let mut buf = vec![0u8; 1500];
    let t = t0() + ms(500);
    let mut s = moved(400);
    s.transmit_validation(t, &mut buf).unwrap();
    s.path_response = Some((ELSEWHERE, [7; 8]));
    assert_eq!(s.transmit_validation(t, &mut buf), None);
    assert!(s.path_response.is_none(), "dropped, not kept");
    // And with no fallback at all (a validated session answers only on its own path).
    let mut s = established();
    s.path_response = Some((ELSEWHERE, [8; 8]));
    assert_eq!(s.transmit_validation(t, &mut buf), None);
    s.path_response = Some((OLD, [8; 8]));
    assert_eq!(
        s.transmit_validation(t, &mut buf).map(|(p, _)| p),
        Some(OLD)
    );
}

/// The smallest packet the moved peer can send (header, tag and a one-range ACK: about 42
/// bytes) earns a budget large enough for the challenge: validation starts on the first
/// packet from the new path, whatever it carries.
/// (Mutants: `SMALL_PACKET`'s spelling raised to 384 or 2,304 bytes.)
#[test]
fn one_small_packet_from_the_new_path_is_enough_to_challenge_it() {
    let mut buf = vec![0u8; 1500];
    let t = t0() + ms(500);
    let mut s = moved(42);
    let (path, len) = s.transmit_validation(t, &mut buf).unwrap();
    assert_eq!(path, NEW);
    assert!(len <= 126);
    assert_eq!(sent_at(&s), Some(t));
}

/// Only an answer carrying this side's own challenge data proves the path: any other
/// data leaves it unvalidated (the fallback kept, no event); the right data validates it,
/// forgets the fallback and reports the move once. (Issue #17's "PATH_RESPONSE with any
/// data accepted"; mutants: `on_path_response` a no-op, its `==` spelled `!=`.)
#[test]
fn only_the_challenge_data_proves_a_path() {
    let mut s = moved(1200);
    let challenge = s.probe.as_ref().unwrap().challenge;
    let mut wrong = challenge;
    wrong[7] ^= 1;
    s.events.clear();
    s.on_path_response(wrong);
    s.on_path_response([0; 8]);
    assert!(!s.path.validated && s.probe.is_some());
    assert_eq!(s.fallback, Some(OLD));
    assert!(s.events.is_empty());
    s.on_path_response(challenge);
    assert!(s.path.validated && s.probe.is_none() && s.fallback.is_none());
    assert_eq!(s.path.budget(), u64::MAX);
    let moves: Vec<PathId> = s
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PathChanged { path, .. } => Some(*path),
            _ => None,
        })
        .collect();
    assert_eq!(moves, vec![NEW]);
}

/// Every packet that arrives on the unvalidated path adds its own size to the budget
/// (3× the sum, less what was sent), older ones included: the budget grows by what
/// arrives, never faster. (Mutant: `received += len` spelled `*=`.)
#[test]
fn packets_on_the_unvalidated_path_add_their_size_to_its_budget() {
    let mut s = moved(100);
    let mut rng = Rng::from_seed([6; 32]);
    s.on_packet_path(t0(), NEW, 50, true, &mut rng);
    s.on_packet_path(t0(), NEW, 30, false, &mut rng);
    assert_eq!(s.path.received, 180);
    s.path.sent = 200;
    assert_eq!(s.path.budget(), 340);
}

/// This side's own move: refused before the handshake completes; to the path in use it
/// changes nothing; elsewhere it moves at once, validated, remembers the path it left and
/// reports the move once. (Mutants in `migrate`; `tests/migration.rs` checks the same
/// through the public API.)
#[test]
fn migrate_is_refused_before_the_handshake_and_moves_at_once_after_it() {
    let mut a = node(1);
    a.connect(t0(), PathId(2)).unwrap();
    let mut early = a.slots.iter().find_map(|s| s.session.clone()).unwrap();
    assert_eq!(
        early.migrate(t0(), NEW),
        Err(crate::error::MigrateError::NotConnected)
    );
    assert_eq!(early.path.id, PathId(2));

    let mut s = established();
    s.events.clear();
    assert_eq!(s.migrate(t0(), OLD), Ok(()));
    assert!(s.events.is_empty() && s.left_path.is_none());
    assert_eq!(s.migrate(t0(), NEW), Ok(()));
    assert_eq!((s.path.id, s.path.validated), (NEW, true));
    assert_eq!(s.left_path, Some(OLD));
    assert_eq!(s.events.len(), 1);
    // A late packet on the path left behind does not pull the session back.
    s.on_packet_path(t0(), OLD, 1200, true, &mut Rng::from_seed([7; 32]));
    assert_eq!(s.path.id, NEW);
    assert!(s.probe.is_none());
}

/// A session closing while its current path is unproven (a spoofed packet moved it)
/// sends its DISCONNECT to the last validated path, not to the unproven one, however
/// many stragglers ask for it again; with no validated path it stays within the 3x
/// budget. Found by the `rendezvous_relay` fuzz target (a member closing after a
/// spoofed copy of its relay's packet sent 249 bytes to an address that sent 37).
#[test]
fn a_disconnect_goes_to_the_proven_path_or_within_the_budget() {
    let mut buf = vec![0u8; 1500];
    let config = NodeConfig::default();
    let t = t0() + ms(500);
    let mut s = moved(40);
    s.close(t, ErrorCode(7), b"bye");
    let (path, _) = s.poll_transmit(t, &mut buf, &config).unwrap();
    assert_eq!(path, OLD, "the DISCONNECT went to the unproven path");
    assert_eq!(s.path.sent, 0);
    // No validated path to fall back to: the budget bounds every resend.
    let mut s = moved(40);
    s.fallback = None;
    s.close(t, ErrorCode(7), b"bye");
    let mut sent = 0;
    for _ in 0..10 {
        if let Some(c) = s.conn.as_mut() {
            c.close_sent = false;
        }
        if let Some((path, len)) = s.poll_transmit(t, &mut buf, &config) {
            assert_eq!(path, NEW);
            sent += len as u64;
        }
    }
    assert!(sent > 0, "the first DISCONNECT fits the budget");
    assert!(sent <= 3 * 40, "sent {sent} bytes to a path that sent 40");
    assert_eq!(s.path.sent, sent);
}
