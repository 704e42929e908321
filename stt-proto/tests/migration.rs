//! Migration under loss: node 0's NAT rebinds mid-transfer (node 1 sees its packets
//! arrive on a new path, and node 1's packets to the old one are lost), combined with
//! the loss of the packets that matter: the PATH_CHALLENGE, its answer, packets right
//! at the rebinding, and enough earlier losses that node 1's ACK frames carry many
//! ranges. Two Nodes back to back in memory (`stt_testkit::pair`), virtual time.

use stt_testkit::pair as common;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use common::{Fate, Pair};
use stt_proto::error::{MigrateError, ReadError, WriteError};
use stt_proto::frame::Dir;
use stt_proto::{Event, Instant, PathId};

/// Node 1's path to node 0 before the rebinding.
const OLD: PathId = PathId(1);
/// The path node 0's packets arrive on at node 1 after it.
const NEW: PathId = PathId(99);

/// What a run saw.
#[derive(Debug)]
struct Outcome {
    /// Every byte arrived, in order, and the stream finished.
    delivered: bool,
    /// Node 1's session path at the end.
    path: PathId,
    /// Virtual time from the rebinding to node 1's `PathChanged` to the new path.
    validated_after: Option<Duration>,
    /// Packets node 1 sent on the new path before it was validated.
    sent_while_unvalidated: u64,
    /// Node 1's congestion window when it moved to the new path, and the smallest it
    /// had afterwards.
    cwnd_at_move: Option<u64>,
    min_cwnd_after_move: u64,
}

/// Per-packet decisions of a test on top of the rebinding itself: (from peer, path,
/// now, index of that packet among node 1's on the new path — or node 0's packet
/// count for node 0's) → fate.
type Rule = Box<dyn FnMut(usize, PathId, Instant, u64) -> Fate>;

/// Node 0 sends `len` bytes on one stream to node 1; node 0's NAT rebinds after node
/// 0 has sent `rebind_after` datagrams. `rule` drops what the test wants dropped.
fn rebinding_transfer(len: usize, rebind_after: u64, rule: Rule) -> Outcome {
    rebinding_transfer_from(0, len, rebind_after, rule)
}

/// As [`rebinding_transfer`], with node `sender` sending. Fails if a node's timer
/// keeps firing without virtual time advancing.
fn rebinding_transfer_from(
    sender: usize,
    len: usize,
    rebind_after: u64,
    mut rule: Rule,
) -> Outcome {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let rebound = Rc::new(Cell::new(false));
    let on_new = Rc::new(Cell::new(0u64));
    let sent0 = Rc::new(Cell::new(0u64));
    {
        let (rebound, on_new, sent0) = (rebound.clone(), on_new.clone(), sent0.clone());
        pair.path_hook = Some(Box::new(move |from, path, now, _| {
            if from == 1 && path == OLD && rebound.get() {
                // The NAT forgot the old mapping.
                return Fate::Drop;
            }
            if from == 1 && path == NEW {
                on_new.set(on_new.get() + 1);
                return rule(from, path, now, on_new.get());
            }
            if from == 0 {
                sent0.set(sent0.get() + 1);
                return rule(from, path, now, sent0.get());
            }
            Fate::Deliver
        }));
    }
    let data: Vec<u8> = (0..len).map(|i| (i * 7 + i / 251) as u8).collect();
    let now = pair.now;
    let (tx, rx) = if sender == 0 { (a, b) } else { (b, a) };
    let id = pair.peers[sender]
        .node
        .session(tx)
        .unwrap()
        .open_stream(now, Dir::Uni, 0, Some(len as u64))
        .unwrap();
    let mut same_instant = (now, 0u32);
    let (mut written, mut finished, mut got, mut fin) = (0, false, Vec::new(), false);
    let mut accepted = None;
    let mut rebound_at = None;
    let mut validated_at = None;
    let mut sent_while_unvalidated = 0;
    let (mut cwnd_at_move, mut min_cwnd_after_move) = (None, u64::MAX);
    pair.run_until(Duration::from_secs(60), |p| {
        let now = p.now;
        if same_instant.0 == now {
            same_instant.1 += 1;
            assert!(same_instant.1 < 100_000, "timer loop at {now:?}");
        } else {
            same_instant = (now, 0);
        }
        if rebound_at.is_none() && sent0.get() >= rebind_after {
            p.peers[1].path_to_other = NEW;
            rebound.set(true);
            rebound_at = Some(now);
        }
        if validated_at.is_none()
            && p.peers[1]
                .events
                .iter()
                .any(|e| matches!(e, Event::PathChanged { path, .. } if *path == NEW))
        {
            validated_at = Some(now);
            sent_while_unvalidated = on_new.get();
        }
        if let Some((path, cwnd)) = p.peers[1]
            .node
            .session(b)
            .map(|mut s| (s.path(), s.stats().cwnd))
            && path == NEW
        {
            cwnd_at_move.get_or_insert(cwnd);
            min_cwnd_after_move = min_cwnd_after_move.min(cwnd);
        }
        p.peers[0].events.clear();
        p.peers[1].events.clear();
        let Some(mut s) = p.peers[sender].node.session(tx) else {
            return true;
        };
        while written < len {
            match s.write(now, id, &data[written..(written + 64 * 1024).min(len)]) {
                Ok(n) => written += n,
                Err(WriteError::Blocked) => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        if written == len && !finished {
            s.finish(now, id).unwrap();
            finished = true;
        }
        let Some(mut s) = p.peers[1 - sender].node.session(rx) else {
            return true;
        };
        if accepted.is_none() {
            accepted = s.accept_stream(Dir::Uni);
        }
        while let Some(rid) = accepted.filter(|_| !fin) {
            match s.read(now, rid, usize::MAX) {
                Ok(Some(bytes)) => got.extend_from_slice(&bytes),
                Ok(None) => fin = true,
                Err(ReadError::Blocked) => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        fin && validated_at.is_some()
    });
    let path = pair.peers[1]
        .node
        .session(b)
        .map_or(PathId(u64::MAX), |mut s| s.path());
    Outcome {
        delivered: fin && got == data,
        path,
        validated_after: rebound_at
            .zip(validated_at)
            .map(|(r, v)| v.saturating_duration_since(r)),
        sent_while_unvalidated,
        cwnd_at_move,
        min_cwnd_after_move,
    }
}

fn assert_survived(o: &Outcome) {
    assert!(o.delivered, "transfer did not complete: {o:?}");
    assert_eq!(o.path, NEW, "node 1 does not send on the new path: {o:?}");
    assert!(o.validated_after.is_some(), "node 1 never validated: {o:?}");
}

/// The bug of issue 17: packets lost before the rebinding leave gaps, so node 1's ACK
/// frame has many ranges; it no longer fitted beside the PATH_CHALLENGE in the small
/// probe packet, and node 1 then sent nothing at all, on any path, until both sides
/// timed out.
#[test]
fn rebinding_after_losses_that_leave_many_ack_ranges() {
    let o = rebinding_transfer(
        1 << 20,
        300,
        Box::new(|from, _, _, n| match from {
            0 if (220..300).contains(&n) && n % 2 == 0 => Fate::Drop,
            _ => Fate::Deliver,
        }),
    );
    assert_survived(&o);
}

/// The first packets node 0 sends from its new address are lost, as is every other
/// one for a while: the rebinding happens in the middle of a loss burst.
#[test]
fn loss_right_at_the_rebinding() {
    let o = rebinding_transfer(
        1 << 20,
        300,
        Box::new(|from, _, _, n| match from {
            0 if (300..303).contains(&n) || ((303..360).contains(&n) && n % 3 == 0) => Fate::Drop,
            _ => Fate::Deliver,
        }),
    );
    assert_survived(&o);
}

/// Node 1's first PATH_CHALLENGE is lost: it is sent again on the retry timer, and
/// meanwhile node 1 keeps acknowledging node 0 on the new path (within 3× what arrived
/// there), so node 0's transfer does not stall behind the validation.
#[test]
fn lost_path_challenge_is_retried_while_acks_flow_on_the_new_path() {
    let o = rebinding_transfer(
        1 << 20,
        300,
        Box::new(|from, _, _, n| match (from, n) {
            (1, 1) => Fate::Drop,
            _ => Fate::Deliver,
        }),
    );
    assert_survived(&o);
    assert!(
        o.sent_while_unvalidated >= 20,
        "node 1 sent only {} packets on the new path before validating it: {o:?}",
        o.sent_while_unvalidated
    );
}

/// Node 0's answer to the PATH_CHALLENGE (the first packet it sends after the
/// challenge reaches it) is lost: node 1's retry gets a new answer.
#[test]
fn lost_path_response_is_recovered_by_the_retry() {
    let arrives = Rc::new(Cell::new(None::<Instant>));
    let dropped = Rc::new(Cell::new(false));
    let o = rebinding_transfer(
        1 << 20,
        300,
        Box::new(move |from, _, now, n| {
            if from == 1 && n == 1 {
                // Pair latency: 5 ms.
                arrives.set(Some(now + Duration::from_millis(5)));
            }
            if from == 0 && !dropped.get() && arrives.get().is_some_and(|t| now >= t) {
                dropped.set(true);
                return Fate::Drop;
            }
            Fate::Deliver
        }),
    );
    assert_survived(&o);
}

/// Everything node 1 sends on the new path is lost for two seconds (many challenge
/// retries, far beyond a fixed try count): validation keeps retrying on its own timer
/// and succeeds once the path carries packets again.
#[test]
fn validation_retries_until_the_new_path_works() {
    let start = Rc::new(Cell::new(None::<Instant>));
    let o = rebinding_transfer(
        1 << 20,
        300,
        Box::new(move |from, _, now, _| {
            if from != 1 {
                return Fate::Deliver;
            }
            let t0 = *start.get().get_or_insert(now);
            start.set(Some(t0));
            if now < t0 + Duration::from_secs(2) {
                Fate::Drop
            } else {
                Fate::Deliver
            }
        }),
    );
    assert_survived(&o);
    let after = o.validated_after.unwrap_or_default();
    assert!(
        after >= Duration::from_secs(2) && after < Duration::from_secs(12),
        "validated {after:?} after the rebinding: {o:?}"
    );
}

/// Node 0, the one that moved, receives: node 1 must send data to the new path while
/// it validates it, within 3× the (small) ACK traffic that arrives there. Its first
/// challenge is lost, so validation takes a retry; while the budget is spent, timers
/// that only lead to sending (a delayed ACK, pacing) must not fire in a loop.
#[test]
fn moved_receiver_is_served_within_the_budget_without_a_timer_loop() {
    let o = rebinding_transfer_from(
        1,
        1 << 20,
        60,
        Box::new(|from, _, _, n| match (from, n) {
            (1, 1) => Fate::Drop,
            _ => Fate::Deliver,
        }),
    );
    assert_survived(&o);
    assert!(o.sent_while_unvalidated >= 20, "{o:?}");
}

/// Node 1 sends and node 0 moves: what node 1 sent to the old address between the
/// rebinding and the first packet from the new one is lost, and is resent, but those
/// losses say nothing about the new path: the congestion window keeps its size (no
/// other loss here), instead of halving or collapsing as persistent congestion.
#[test]
fn losses_on_the_abandoned_path_are_not_congestion() {
    let o = rebinding_transfer_from(1, 4 << 20, 200, Box::new(|_, _, _, _| Fate::Deliver));
    assert_survived(&o);
    let at_move = o.cwnd_at_move.unwrap_or(0);
    assert!(
        o.min_cwnd_after_move * 10 >= at_move * 9,
        "window {at_move} at the move fell to {}: {o:?}",
        o.min_cwnd_after_move
    );
}

/// A RESPONSE arriving on another path than its INIT (a rebinding between messages, or a
/// copy replayed from a spoofed address) must not make that path validated: the session
/// starts on the INIT's path and the other one goes through path validation.
#[test]
fn a_response_from_another_path_is_not_taken_as_validated() {
    use std::cell::RefCell;
    const ELSEWHERE: PathId = PathId(77);
    let mut pair = Pair::default_pair();
    let held: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let stash = held.clone();
    // Node 0's RESPONSE (type 0x03) is taken off the link; the test delivers it on
    // another path.
    pair.path_hook = Some(Box::new(move |from, _, _, data| {
        if from == 0 && data[2] == 0x03 && stash.borrow().is_none() {
            *stash.borrow_mut() = Some(data.to_vec());
            Fate::Drop
        } else {
            Fate::Deliver
        }
    }));
    let now = pair.now;
    let path = pair.peers[0].path_to_other;
    pair.peers[0].node.connect(now, path).unwrap();
    assert!(pair.run_until(Duration::from_secs(5), |_| held.borrow().is_some()));
    let response = held.borrow_mut().take().unwrap();
    let now = pair.now;
    pair.peers[1]
        .node
        .handle_datagram(now, ELSEWHERE, bytes::BytesMut::from(&response[..]));
    let mut b = None;
    while let Some(e) = pair.peers[1].node.poll_event() {
        if let Event::Connected { session, .. } = e {
            b = Some(session);
        }
    }
    let b = b.expect("the RESPONSE authenticated");
    let mut s = pair.peers[1].node.session(b).unwrap();
    assert_eq!(s.path(), ELSEWHERE);
    assert!(!s.path_validated(), "a RESPONSE's path was taken as proven");
    // Node 0's next packets arrive on the INIT's path, the validated fallback: the
    // session returns there without a new challenge.
    pair.run_until(Duration::from_secs(2), |_| false);
    let mut s = pair.peers[1].node.session(b).unwrap();
    assert_eq!(s.path(), PathId(1));
    assert!(s.path_validated());
}

/// This side's own move (`SessionRef::migrate`): refused before the handshake completes;
/// a move to the path in use changes nothing; a move elsewhere takes effect at once,
/// validated (this side chose the path), and is reported once.
#[test]
fn migrate_is_refused_before_the_handshake_and_moves_at_once_after_it() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    let early = pair.peers[0].node.connect(now, OLD).unwrap();
    let mut s = pair.peers[0].node.session(early).unwrap();
    assert_eq!(s.migrate(now, PathId(5)), Err(MigrateError::NotConnected));
    assert_eq!(s.path(), OLD);

    let mut pair = Pair::default_pair();
    let (a, _) = pair.connect();
    let now = pair.now;
    let node = &mut pair.peers[0].node;
    while node.poll_event().is_some() {}
    let mut s = node.session(a).unwrap();
    let start = s.path();
    s.migrate(now, start).unwrap();
    assert_eq!(s.path(), start);
    s.migrate(now, NEW).unwrap();
    assert_eq!(s.path(), NEW);
    assert!(s.path_validated());
    let mut moves = Vec::new();
    while let Some(e) = node.poll_event() {
        if let Event::PathChanged { path, .. } = e {
            moves.push(path);
        }
    }
    assert_eq!(moves, vec![NEW], "one move, to the new path");
}
