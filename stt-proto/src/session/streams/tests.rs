//! The send scheduler: priority first, then round-robin in turns of `TURN_BYTES`.

use super::schedule::TURN_BYTES;
use super::*;
use alloc::vec;

fn streams() -> Streams {
    with_send_buffers(1 << 30, 1 << 30)
}

/// Limits that never bind: large windows and send buffers, 16 streams each way. Tests
/// change the one limit they exercise with struct update syntax.
pub(super) fn open_limits() -> StreamLimits {
    let big = 1 << 30;
    StreamLimits {
        local_stream_window: big,
        max_local_stream_window: big,
        local_window: big,
        max_local_window: big,
        local_max_streams: [16, 16],
        peer_stream_window: big,
        peer_max_data: big,
        peer_max_streams: [16, 16],
        send_buffer: big,
        session_send_buffer: big,
    }
}

/// Streams with large windows and the given stream and session send buffers.
fn with_send_buffers(send_buffer: u64, session_send_buffer: u64) -> Streams {
    Streams::new(
        Side::Initiator,
        StreamLimits {
            send_buffer,
            session_send_buffer,
            ..open_limits()
        },
    )
}

/// Opens `n` unidirectional streams at `priority` with `len` bytes each.
fn loaded(s: &mut Streams, n: usize, priority: u8, len: usize) -> Vec<StreamId> {
    (0..n)
        .map(|_| {
            let id = s.open(Dir::Uni, priority, None).unwrap();
            assert_eq!(s.write(id, &vec![7u8; len]).unwrap(), len);
            id
        })
        .collect()
}

/// The stream of each of the next `packets` chunks of at most `max` bytes.
fn order(s: &mut Streams, packets: usize, max: usize) -> Vec<StreamId> {
    (0..packets)
        .map_while(|_| s.next_chunk(max).map(|(id, _)| id))
        .collect()
}

#[test]
fn equal_priorities_take_turns_of_turn_bytes() {
    let mut s = streams();
    let ids = loaded(&mut s, 3, 0, 3 * TURN_BYTES);
    let per_turn = TURN_BYTES.div_ceil(1000);
    let got = order(&mut s, 3 * per_turn * 2, 1000);
    let mut expected = Vec::new();
    for _ in 0..2 {
        for id in &ids {
            expected.extend(core::iter::repeat_n(*id, per_turn));
        }
    }
    assert_eq!(got, expected);
}

#[test]
fn a_stream_that_runs_dry_ends_its_turn() {
    let mut s = streams();
    let ids = loaded(&mut s, 2, 0, 2500);
    // 1000 + 1000 + 500 from the first, then the second.
    let got = order(&mut s, 6, 1000);
    assert_eq!(got, [ids[0], ids[0], ids[0], ids[1], ids[1], ids[1]]);
    assert!(s.next_chunk(1000).is_none());
}

#[test]
fn higher_priority_preempts_a_turn() {
    let mut s = streams();
    let ids = loaded(&mut s, 2, 0, 64 << 10);
    assert_eq!(order(&mut s, 2, 1000), [ids[0], ids[0]]);
    s.set_priority(ids[1], 9).unwrap();
    let whole = (64usize << 10).div_ceil(1000);
    let got = order(&mut s, whole + 1, 1000);
    assert!(got[..whole].iter().all(|id| *id == ids[1]), "{got:?}");
    assert_eq!(
        got[whole], ids[0],
        "the first resumes once the second is done"
    );
}

#[test]
fn a_new_higher_priority_stream_goes_first() {
    let mut s = streams();
    let low = loaded(&mut s, 1, 1, 10_000)[0];
    assert_eq!(order(&mut s, 1, 1000), [low]);
    let high = loaded(&mut s, 1, 200, 3000)[0];
    assert_eq!(order(&mut s, 4, 1000), [high, high, high, low]);
}

/// Streams with a 2,000-byte stream send buffer and a 3,000-byte session one.
fn small_buffers() -> Streams {
    with_send_buffers(2000, 3000)
}

/// Sends and acknowledges everything pending on `s`.
fn send_and_ack_all(s: &mut Streams) {
    while let Some((id, chunk)) = s.next_chunk(1000) {
        s.on_chunk_acked(id, &chunk);
    }
}

fn writable(s: &mut Streams) -> Vec<StreamId> {
    s.events
        .drain(..)
        .filter_map(|e| match e {
            StreamEvent::Writable(id) => Some(id),
            _ => None,
        })
        .collect()
}

#[test]
fn the_session_send_buffer_bounds_all_streams_together() {
    let mut s = small_buffers();
    let a = s.open(Dir::Uni, 0, None).unwrap();
    let b = s.open(Dir::Uni, 0, None).unwrap();
    let c = s.open(Dir::Uni, 0, None).unwrap();
    assert_eq!(
        s.write(a, &[1; 2500]).unwrap(),
        2000,
        "the stream's own limit"
    );
    assert_eq!(
        s.write(b, &[2; 2500]).unwrap(),
        1000,
        "the session's room left"
    );
    assert_eq!(s.write(c, &[3; 10]), Err(WriteError::Blocked));
    assert_eq!(s.write(b, &[2; 10]), Err(WriteError::Blocked));
    assert!(writable(&mut s).is_empty());
    // Acknowledging a's bytes frees session room: both waiting writers are told.
    while let Some((id, chunk)) = s.next_chunk(1000) {
        if id == a {
            s.on_chunk_acked(id, &chunk);
        }
    }
    let mut woken = writable(&mut s);
    woken.sort();
    assert_eq!(woken, vec![b, c]);
    assert_eq!(s.write(c, &[3; 2500]).unwrap(), 2000);
}

#[test]
fn a_writer_is_woken_only_when_both_its_stream_and_the_session_have_room() {
    let mut s = small_buffers();
    let a = s.open(Dir::Uni, 0, None).unwrap();
    let b = s.open(Dir::Uni, 0, None).unwrap();
    assert_eq!(s.write(a, &[1; 2000]).unwrap(), 2000);
    assert_eq!(s.write(b, &[2; 1000]).unwrap(), 1000);
    assert_eq!(
        s.write(a, &[1; 10]),
        Err(WriteError::Blocked),
        "a: both full"
    );
    assert_eq!(
        s.write(b, &[2; 10]),
        Err(WriteError::Blocked),
        "b: the session"
    );
    // b's bytes acknowledged: session room again, but a's own buffer is still full.
    let chunks: Vec<_> = core::iter::from_fn(|| s.next_chunk(1000)).collect();
    for (id, chunk) in chunks.iter().filter(|(id, _)| *id == b) {
        s.on_chunk_acked(*id, chunk);
    }
    assert_eq!(s.send_held, 2000);
    assert_eq!(writable(&mut s), vec![b]);
    assert_eq!(s.write(a, &[1; 10]), Err(WriteError::Blocked));
    for (id, chunk) in chunks.iter().filter(|(id, _)| *id == a) {
        s.on_chunk_acked(*id, chunk);
    }
    assert_eq!(s.send_held, 0);
    assert_eq!(writable(&mut s), vec![a]);
    assert_eq!(s.write(a, &[1; 2500]).unwrap(), 2000);
    send_and_ack_all(&mut s);
    assert_eq!(s.send_held, 0);
}

#[test]
fn a_reset_releases_its_bytes_to_the_session() {
    let mut s = small_buffers();
    let a = s.open(Dir::Uni, 0, None).unwrap();
    let b = s.open(Dir::Uni, 0, None).unwrap();
    assert_eq!(s.write(a, &[1; 2000]).unwrap(), 2000);
    assert_eq!(s.write(b, &[2; 2000]).unwrap(), 1000);
    assert_eq!(s.write(b, &[2; 10]), Err(WriteError::Blocked));
    s.reset(a, ErrorCode(7)).unwrap();
    assert_eq!(s.send_held, 1000);
    assert_eq!(writable(&mut s), vec![b]);
    assert_eq!(s.write(b, &[2; 2000]).unwrap(), 1000, "b's own limit now");
}

/// A turn ends when it has sent exactly `TURN_BYTES`, not one chunk later. (Mutant: the
/// turn test `served < TURN_BYTES` spelled `<=`.)
#[test]
fn a_turn_ends_at_exactly_turn_bytes() {
    let mut s = streams();
    let ids = loaded(&mut s, 2, 0, 2 * TURN_BYTES);
    let per_turn = TURN_BYTES / 1024;
    assert_eq!(per_turn * 1024, TURN_BYTES);
    let got = order(&mut s, per_turn + 1, 1024);
    assert!(got[..per_turn].iter().all(|id| *id == ids[0]), "{got:?}");
    assert_eq!(got[per_turn], ids[1]);
}

/// A stream stopped by its credit in the middle of its turn hands over a whole turn: the
/// next stream's turn does not count the bytes of the one before. (Mutant: the match
/// guard `t == id` replaced with `true`.)
#[test]
fn a_turn_cut_short_by_credit_does_not_shorten_the_next() {
    let big = 1 << 30;
    let mut s = with_send_buffers(big, big);
    let a = loaded(&mut s, 1, 0, 10_000)[0];
    // a's peer gives it 5,000 bytes of credit only; b and c have plenty.
    s.streams
        .get_mut(&a)
        .unwrap()
        .send
        .as_mut()
        .unwrap()
        .max_data = 5_000;
    let bc = loaded(&mut s, 2, 0, 2 * TURN_BYTES);
    let per_turn = TURN_BYTES.div_ceil(1000);
    let got = order(&mut s, 5 + per_turn + 1, 1000);
    assert!(got[..5].iter().all(|id| *id == a), "{got:?}");
    assert!(
        got[5..5 + per_turn].iter().all(|id| *id == bc[0]),
        "{got:?}"
    );
    assert_eq!(got[5 + per_turn], bc[1]);
}

/// Which chunks are sent again (the metrics tell new bytes from resent ones): new data is
/// not, data sent again after a loss is, a FIN alone is not. (Mutants in the
/// `last_chunk_resent` expression.)
#[test]
fn a_chunk_is_marked_resent_only_when_its_bytes_went_before() {
    let mut s = streams();
    let id = loaded(&mut s, 1, 0, 1500)[0];
    let (_, first) = s.next_chunk(1000).unwrap();
    assert!(!s.last_chunk_resent, "new bytes");
    s.on_chunk_lost(id, &first);
    let (_, again) = s.next_chunk(1000).unwrap();
    assert_eq!((again.offset, again.len), (first.offset, first.len));
    assert!(s.last_chunk_resent, "sent before");
    let (_, rest) = s.next_chunk(1000).unwrap();
    assert_eq!((rest.offset, rest.len), (1000, 500));
    assert!(!s.last_chunk_resent);
    s.finish(id).unwrap();
    let (_, fin) = s.next_chunk(1000).unwrap();
    assert!(fin.fin && fin.len == 0);
    assert!(
        !s.last_chunk_resent,
        "a FIN alone carries no bytes sent before"
    );
}

/// Once nothing is left to send, the per-priority queues are pruned (an idle session
/// holds no empty queues). (Mutant: `!` deleted in the final `retain`.)
#[test]
fn nothing_to_send_leaves_no_queues_behind() {
    let mut s = streams();
    for p in [1, 5, 9] {
        loaded(&mut s, 1, p, 300);
    }
    assert_eq!(order(&mut s, 10, 1000).len(), 3);
    assert!(s.next_chunk(1000).is_none());
    assert!(s.ready.is_empty(), "{:?}", s.ready);
}
