//! Receive-side limits of one session's streams, each checked on its own and at its
//! exact edge: the stream window, the session window (a stream window larger than the
//! session's and the reverse), what a reset counts and releases, the peer's stream-count
//! limit, the edge-triggered Readable event, window auto-tuning, and the room a write
//! may take. Each test names the cargo-mutants survivors it kills.

use super::tests::open_limits;
use super::*;
use alloc::vec;

const PEER: Side = Side::Initiator;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn t0() -> Instant {
    Instant::from_micros(1_000_000)
}

/// A responder's streams with these receive windows (no auto-tuning) and a limit of two
/// peer streams per direction.
fn receiver(stream_window: u64, session_window: u64) -> Streams {
    Streams::new(
        Side::Responder,
        StreamLimits {
            local_stream_window: stream_window,
            max_local_stream_window: stream_window,
            local_window: session_window,
            max_local_window: session_window,
            local_max_streams: [2, 2],
            ..open_limits()
        },
    )
}

/// The peer's `index`-th unidirectional stream.
fn uni(index: u32) -> StreamId {
    StreamId::new(PEER, Dir::Uni, index).unwrap()
}

fn data(s: &mut Streams, id: StreamId, offset: u64, len: usize) -> Result<(), Violation> {
    s.on_data(id, offset, Bytes::from(vec![9u8; len]), false)
}

fn readable(s: &mut Streams) -> Vec<StreamId> {
    s.events
        .drain(..)
        .filter_map(|e| match e {
            StreamEvent::Readable(id) => Some(id),
            _ => None,
        })
        .collect()
}

/// Data up to the stream window is taken, one byte past it closes the session; the
/// session window is far larger. (Mutants: `on_data` → `Ok(())`, the end `offset + len`
/// spelled `-`/`*`, the stream check `>` spelled `==`/`<`/`>=`.)
#[test]
fn the_stream_window_binds_at_its_exact_edge() {
    let mut s = receiver(1000, 1 << 20);
    assert_eq!(data(&mut s, uni(1), 0, 600), Ok(()));
    assert_eq!(data(&mut s, uni(1), 600, 400), Ok(()), "up to the window");
    assert_eq!(
        data(&mut s, uni(1), 1000, 1),
        Err(ErrorCode::FLOW_CONTROL_VIOLATION)
    );
    assert_eq!(
        data(&mut s, uni(1), 2, 999),
        Err(ErrorCode::FLOW_CONTROL_VIOLATION),
        "ends past the window though it starts inside"
    );
    assert_eq!(s.received_data, 1000);
}

/// The session window binds on its own: each stream is within its window, together
/// they may not pass the session's. And a single stream whose window is larger than the
/// session's is held to the session's. (Mutants: the session check `>` spelled
/// `==`/`<`/`>=`, `received_data + grown` spelled `-`/`*`, `received_data += grown`
/// spelled `*=`.)
#[test]
fn the_session_window_binds_across_streams_at_its_exact_edge() {
    let mut s = receiver(1000, 1500);
    assert_eq!(data(&mut s, uni(1), 0, 1000), Ok(()));
    assert_eq!(
        data(&mut s, uni(2), 0, 500),
        Ok(()),
        "up to the session window"
    );
    assert_eq!(s.received_data, 1500);
    assert_eq!(
        data(&mut s, uni(2), 500, 1),
        Err(ErrorCode::FLOW_CONTROL_VIOLATION),
        "stream 2 is within its own window"
    );

    let mut s = receiver(4000, 1500);
    assert_eq!(data(&mut s, uni(1), 0, 1500), Ok(()));
    assert_eq!(
        data(&mut s, uni(1), 1500, 1),
        Err(ErrorCode::FLOW_CONTROL_VIOLATION),
        "a stream window larger than the session's"
    );
}

/// Bytes sent again (a retransmission, or an overlapping frame) count once against the
/// session window; only what extends a stream's highest offset does.
#[test]
fn resent_bytes_count_once_against_the_session_window() {
    let mut s = receiver(1000, 1500);
    assert_eq!(data(&mut s, uni(1), 0, 1000), Ok(()));
    assert_eq!(data(&mut s, uni(1), 0, 1000), Ok(()));
    assert_eq!(data(&mut s, uni(1), 500, 500), Ok(()));
    assert_eq!(s.received_data, 1000);
    assert_eq!(data(&mut s, uni(2), 0, 500), Ok(()));
    assert_eq!(
        data(&mut s, uni(2), 500, 1),
        Err(ErrorCode::FLOW_CONTROL_VIOLATION)
    );
}

/// A FIN must match the total the peer announced when it opened the stream; without
/// one, any FIN is taken. (Mutants: `fin && total != end` spelled `||` or `==`.)
#[test]
fn a_fin_must_match_the_announced_total() {
    let mut s = receiver(1000, 1 << 20);
    assert_eq!(
        s.on_data(uni(1), 0, Bytes::from(vec![1u8; 10]), true),
        Ok(())
    );
    assert_eq!(s.on_stream_open(uni(2), 0, Some(20)), Ok(()));
    assert_eq!(
        data(&mut s, uni(2), 0, 10),
        Ok(()),
        "no FIN: the total is not checked"
    );
    assert_eq!(
        s.on_data(uni(2), 10, Bytes::from(vec![1u8; 5]), true),
        Err(ErrorCode::FINAL_SIZE_ERROR)
    );
    assert_eq!(
        s.on_data(uni(2), 10, Bytes::from(vec![1u8; 10]), true),
        Ok(())
    );
}

/// Readable is announced once when a stream goes from nothing to read to something (or
/// to its end), not for data behind a gap, not again while unread data waits. (Mutants
/// in `on_data`'s event condition: `&&`/`||` swapped, `!` deleted; and `on_data`'s
/// `!live_peer_recv` with `!` deleted, which drops live data.)
#[test]
fn readable_is_edge_triggered() {
    let mut s = receiver(1000, 1 << 20);
    assert_eq!(data(&mut s, uni(1), 100, 100), Ok(()));
    assert!(readable(&mut s).is_empty(), "behind a gap");
    assert_eq!(data(&mut s, uni(1), 0, 100), Ok(()));
    assert_eq!(readable(&mut s), vec![uni(1)]);
    assert_eq!(data(&mut s, uni(1), 200, 100), Ok(()));
    assert!(readable(&mut s).is_empty(), "unread data already announced");
    let mut got = 0;
    while let Ok(Some(bytes)) = s.read(uni(1), usize::MAX, t0(), ms(10)) {
        got += bytes.len();
    }
    assert_eq!(got, 300);
    // A FIN alone on a stream read to its end makes it readable again (to report the end).
    assert_eq!(s.on_data(uni(1), 300, Bytes::new(), true), Ok(()));
    assert_eq!(readable(&mut s), vec![uni(1)]);
}

/// STREAM_CLOSE's final size may not be below what arrived, nor differ from a FIN's, nor
/// pass either window; at the edges it is taken. (Mutants in `on_reset`'s checks.)
#[test]
fn a_reset_final_size_is_checked_at_its_edges() {
    let code = ErrorCode(5);
    let (now, rtt) = (t0(), ms(10));
    let mut s = receiver(1000, 1 << 20);
    assert_eq!(data(&mut s, uni(1), 0, 100), Ok(()));
    assert_eq!(
        s.on_reset(uni(1), code, 99, now, rtt),
        Err(ErrorCode::FINAL_SIZE_ERROR),
        "below what arrived"
    );
    assert_eq!(s.on_reset(uni(1), code, 100, now, rtt), Ok(()));

    let mut s = receiver(1000, 1 << 20);
    assert_eq!(
        s.on_data(uni(1), 0, Bytes::from(vec![1u8; 100]), true),
        Ok(())
    );
    assert_eq!(
        s.on_reset(uni(1), code, 101, now, rtt),
        Err(ErrorCode::FINAL_SIZE_ERROR),
        "differs from the FIN"
    );
    assert_eq!(
        s.on_reset(uni(1), code, 100, now, rtt),
        Ok(()),
        "equals the FIN"
    );

    let mut s = receiver(1000, 1 << 20);
    assert_eq!(
        s.on_reset(uni(1), code, 1001, now, rtt),
        Err(ErrorCode::FLOW_CONTROL_VIOLATION),
        "past the stream window"
    );
    assert_eq!(s.on_reset(uni(1), code, 1000, now, rtt), Ok(()));

    let mut s = receiver(4000, 1500);
    assert_eq!(data(&mut s, uni(1), 0, 1000), Ok(()));
    assert_eq!(
        s.on_reset(uni(2), code, 501, now, rtt),
        Err(ErrorCode::FLOW_CONTROL_VIOLATION),
        "past the session window"
    );
    assert_eq!(s.on_reset(uni(2), code, 500, now, rtt), Ok(()));
}

/// A reset counts its whole final size against the session window (once) and releases
/// its unread bytes to the session's credit at once. (Mutants: `grown = final - highest`,
/// `received += grown`, `consumed += final - read_offset` spelled otherwise; `on_reset`
/// → `Ok(())`; `!live_peer_recv` with `!` deleted.)
#[test]
fn a_reset_counts_its_final_size_and_releases_its_unread_bytes() {
    let (now, rtt) = (t0(), ms(10));
    let mut s = receiver(4000, 1500);
    assert_eq!(data(&mut s, uni(1), 0, 100), Ok(()));
    let got = s.read(uni(1), 40, now, rtt).unwrap().unwrap();
    assert_eq!(got.len(), 40);
    assert_eq!((s.received_data, s.consumed_data), (100, 40));
    assert_eq!(s.on_reset(uni(1), ErrorCode(5), 1000, now, rtt), Ok(()));
    assert_eq!(s.received_data, 1000, "the final size counts, once");
    assert_eq!(s.consumed_data, 1000, "40 read, 960 released");
    assert!(s.events.iter().any(|e| matches!(
        e,
        StreamEvent::Reset { id, .. } if *id == uni(1)
    )));
    // Under half the session window is left: a new limit goes out at once.
    assert_eq!(s.window.advertised, 2500);
    assert!(
        s.control
            .iter()
            .any(|c| matches!(c, Control::MaxData(2500)))
    );
    // A repeated reset of a stream already reset changes nothing.
    assert_eq!(s.on_reset(uni(1), ErrorCode(5), 1000, now, rtt), Ok(()));
    assert_eq!((s.received_data, s.consumed_data), (1000, 1000));
}

/// The peer may open streams up to the limit this side advertised, implicitly opening
/// the ones below; one more closes the session. A frame for a stream of ours that we
/// have not opened is a conflict. (Mutants in `ensure_stream`.)
#[test]
fn the_peer_stream_limit_binds_at_its_exact_edge() {
    let mut s = receiver(1000, 1 << 20);
    assert_eq!(data(&mut s, uni(2), 0, 1), Ok(()), "index 2 of 2");
    assert_eq!(s.accept(Dir::Uni), Some(uni(1)), "opened implicitly");
    assert_eq!(s.accept(Dir::Uni), Some(uni(2)));
    assert_eq!(s.accept(Dir::Uni), None);
    assert_eq!(s.remote_opened[1], 2);
    assert_eq!(data(&mut s, uni(3), 0, 1), Err(ErrorCode::TOO_MANY_STREAMS));
    assert_eq!(s.accept(Dir::Uni), None);

    let mine = StreamId::new(Side::Responder, Dir::Bi, 1).unwrap();
    assert_eq!(data(&mut s, mine, 0, 1), Err(ErrorCode::STREAM_ID_CONFLICT));
    assert_eq!(s.open(Dir::Bi, 0, None), Ok(mine));
    assert_eq!(data(&mut s, mine, 0, 1), Ok(()), "ours, opened");
}

/// The receive window's update: a new limit once half the window is used (not
/// before), the window doubling only when updates come faster than two RTTs, capped.
/// (Mutants in `RecvWindow::update`.)
#[test]
fn the_receive_window_updates_at_half_and_doubles_when_updates_come_fast() {
    let rtt = ms(100);
    let t = t0();
    let mut w = RecvWindow::new(1000, 3000);
    assert_eq!(w.update(499, t, rtt), None, "under half used");
    assert_eq!(w.update(500, t, rtt), Some(1500), "half used");
    assert_eq!((w.advertised, w.window), (1500, 1000));
    // The next update 150 ms later (< 2 RTTs): the window doubles.
    assert_eq!(w.update(999, t + ms(150), rtt), None);
    assert_eq!(w.update(1000, t + ms(150), rtt), Some(3000));
    assert_eq!(w.window, 2000);
    // 199 ms later: doubles again, capped at 3000.
    assert_eq!(w.update(2000, t + ms(349), rtt), Some(5000));
    assert_eq!(w.window, 3000);
    // Exactly two RTTs later: no doubling (the window did not limit throughput).
    let mut w = RecvWindow::new(1000, 1 << 20);
    assert_eq!(w.update(500, t, rtt), Some(1500));
    assert_eq!(w.update(1000, t + ms(200), rtt), Some(2000));
    assert_eq!(w.window, 1000);
}

/// A bounded stream's writes may not pass its announced total (exactly up to it is
/// fine); a zero-length write never blocks; a finished or reset stream is closed, even
/// when its send buffer is full. (Mutants in `write_room`.)
#[test]
fn write_room_at_the_announced_total_and_for_empty_writes() {
    let mut s = Streams::new(
        Side::Initiator,
        StreamLimits {
            send_buffer: 100,
            ..open_limits()
        },
    );
    let id = s.open(Dir::Uni, 0, Some(70)).unwrap();
    assert_eq!(s.write(id, &[1; 60]), Ok(60));
    assert_eq!(s.write(id, &[1; 11]), Err(WriteError::TooLong));
    assert_eq!(s.write(id, &[1; 10]), Ok(10), "exactly the total");
    let other = s.open(Dir::Uni, 0, None).unwrap();
    assert_eq!(s.write(other, &[2; 30]), Ok(30));
    assert_eq!(s.write(other, &[2; 80]), Ok(70), "the stream's send buffer");
    assert_eq!(s.write(other, &[]), Ok(0), "an empty write does not block");
    assert_eq!(s.write(other, &[2]), Err(WriteError::Blocked));
    let third = s.open(Dir::Uni, 0, None).unwrap();
    s.finish(third).unwrap();
    assert_eq!(s.write(third, &[3]), Err(WriteError::Closed));
    // Finished with its send buffer full: still closed, not "blocked" (a writer told
    // Blocked would wait for a Writable that never comes).
    let full = s.open(Dir::Uni, 0, None).unwrap();
    assert_eq!(s.write(full, &[5; 100]), Ok(100));
    s.finish(full).unwrap();
    assert_eq!(s.write(full, &[5]), Err(WriteError::Closed));
    let fourth = s.open(Dir::Uni, 0, None).unwrap();
    s.reset(fourth, ErrorCode(1)).unwrap();
    assert!(matches!(
        s.write(fourth, &[4]),
        Err(WriteError::Closed | WriteError::Stopped(_))
    ));
}

/// A sender whose peer granted these stream and session windows and stream counts.
fn sender(stream_credit: u64, session_credit: u64, streams: u64) -> Streams {
    Streams::new(
        Side::Initiator,
        StreamLimits {
            peer_stream_window: stream_credit,
            peer_max_data: session_credit,
            peer_max_streams: [streams, streams],
            ..open_limits()
        },
    )
}

/// New bytes sent until nothing more may go, per stream.
fn drain(s: &mut Streams) -> BTreeMap<StreamId, u64> {
    let mut sent = BTreeMap::new();
    while let Some((id, chunk)) = s.next_chunk(400) {
        *sent.entry(id).or_default() += chunk.len as u64;
    }
    sent
}

fn blocked(s: &mut Streams) -> Vec<Control> {
    s.control
        .drain(..)
        .filter(|c| {
            matches!(
                c,
                Control::DataBlocked(_) | Control::StreamDataBlocked { .. }
            )
        })
        .collect()
}

/// The session-wide credit (MAX_DATA) binds the sender across streams, each stream well
/// within its own; a larger MAX_DATA opens exactly the difference, a smaller or equal one
/// changes nothing. (Issue #17's "sender ignoring the session-wide MAX_DATA credit";
/// mutants in `next_chunk`'s credit and `on_max_data`.)
#[test]
fn the_session_credit_binds_the_sender_across_streams() {
    let mut s = sender(1000, 1500, 16);
    let a = s.open(Dir::Uni, 0, None).unwrap();
    let b = s.open(Dir::Uni, 0, None).unwrap();
    assert_eq!(s.write(a, &[1; 1000]), Ok(1000));
    assert_eq!(s.write(b, &[2; 1000]), Ok(1000));
    let sent = drain(&mut s);
    assert_eq!(sent.values().sum::<u64>(), 1500, "{sent:?}");
    assert_eq!(s.sent_data, 1500);
    assert_eq!(blocked(&mut s), vec![Control::DataBlocked(1500)]);
    assert!(drain(&mut s).is_empty());
    assert!(blocked(&mut s).is_empty(), "reported once per limit");
    s.on_max_data(1400);
    s.on_max_data(1500);
    assert!(drain(&mut s).is_empty(), "no new credit");
    assert!(blocked(&mut s).is_empty());
    s.on_max_data(1700);
    assert_eq!(drain(&mut s).values().sum::<u64>(), 200);
    assert_eq!(blocked(&mut s), vec![Control::DataBlocked(1700)]);
    s.on_max_data(5000);
    assert_eq!(drain(&mut s).values().sum::<u64>(), 300, "the rest");
    assert_eq!(s.sent_data, 2000);
}

/// A stream's credit (MAX_STREAM_DATA) binds it alone: a larger one opens exactly the
/// difference and wakes a blocked writer; a smaller or equal one changes nothing.
/// (Mutants in `next_chunk`'s credit and `on_max_stream_data`.)
#[test]
fn the_stream_credit_binds_one_stream() {
    let mut s = sender(1000, 1 << 20, 16);
    let a = s.open(Dir::Uni, 0, None).unwrap();
    assert_eq!(s.write(a, &[1; 1500]), Ok(1500));
    assert_eq!(drain(&mut s).get(&a), Some(&1000));
    assert_eq!(
        blocked(&mut s),
        vec![Control::StreamDataBlocked { id: a, limit: 1000 }]
    );
    assert_eq!(s.on_max_stream_data(a, 900), Ok(()));
    assert_eq!(s.on_max_stream_data(a, 1000), Ok(()));
    assert!(drain(&mut s).is_empty());
    assert!(blocked(&mut s).is_empty());
    assert_eq!(s.on_max_stream_data(a, 1200), Ok(()));
    assert_eq!(drain(&mut s).get(&a), Some(&200));
    assert_eq!(
        blocked(&mut s),
        vec![Control::StreamDataBlocked { id: a, limit: 1200 }]
    );
    // The peer may not give credit for its own unidirectional stream, nor for one of
    // ours not yet opened.
    let theirs = StreamId::new(Side::Responder, Dir::Uni, 1).unwrap();
    assert_eq!(
        s.on_max_stream_data(theirs, 10),
        Err(ErrorCode::STREAM_ID_CONFLICT)
    );
    let unopened = StreamId::new(Side::Initiator, Dir::Uni, 9).unwrap();
    assert_eq!(
        s.on_max_stream_data(unopened, 10),
        Err(ErrorCode::STREAM_ID_CONFLICT)
    );
}

/// MAX_STREAMS raises the count of streams this side may open, only upward, announced
/// once. (Mutants in `on_max_streams`.)
#[test]
fn the_peer_stream_count_rises_only_upward() {
    let mut s = sender(1000, 1 << 20, 1);
    assert!(s.open(Dir::Uni, 0, None).is_ok());
    assert_eq!(s.open(Dir::Uni, 0, None), Err(OpenStreamError::Blocked));
    s.events.clear();
    s.on_max_streams(Dir::Uni, 1);
    s.on_max_streams(Dir::Uni, 0);
    assert!(s.events.is_empty());
    assert_eq!(s.open(Dir::Uni, 0, None), Err(OpenStreamError::Blocked));
    s.on_max_streams(Dir::Uni, 2);
    assert!(matches!(
        s.events.pop_front(),
        Some(StreamEvent::Available(Dir::Uni))
    ));
    assert!(s.open(Dir::Uni, 0, None).is_ok());
    assert_eq!(s.open(Dir::Uni, 0, None), Err(OpenStreamError::Blocked));
    s.on_max_streams(Dir::Uni, 2);
    assert!(s.events.is_empty(), "announced once");
    assert_eq!(
        s.open(Dir::Bi, 0, None).map(|_| ()),
        Ok(()),
        "per direction"
    );
}

/// A writer waiting for session-wide send room is listed once however often it retries,
/// and a writer short only of its own stream's room is not listed at all (its own acks
/// wake it). (Mutant: `session_room == 0 && !listed` spelled `||`, which grows the list
/// by one entry per blocked write.)
#[test]
fn a_blocked_writer_is_listed_once_and_only_when_the_session_blocks_it() {
    let mut s = Streams::new(
        Side::Initiator,
        StreamLimits {
            send_buffer: 100,
            session_send_buffer: 150,
            ..open_limits()
        },
    );
    let a = s.open(Dir::Uni, 0, None).unwrap();
    let b = s.open(Dir::Uni, 0, None).unwrap();
    assert_eq!(s.write(a, &[1; 200]), Ok(100));
    for _ in 0..5 {
        assert_eq!(s.write(a, &[1]), Err(WriteError::Blocked));
    }
    assert!(
        s.session_blocked.is_empty(),
        "a is short of its own room only"
    );
    assert_eq!(s.write(b, &[2; 200]), Ok(50));
    for _ in 0..5 {
        assert_eq!(s.write(b, &[2]), Err(WriteError::Blocked));
    }
    assert_eq!(s.session_blocked, vec![b]);
}

/// A sender blocked by the session credit reports DATA_BLOCKED once per limit, however
/// many writes later wake its streams. (Mutant: `session_room == 0 && not yet reported`
/// spelled `||`.)
#[test]
fn data_blocked_is_reported_once_per_limit_across_later_writes() {
    let mut s = sender(1 << 20, 1000, 16);
    let a = s.open(Dir::Uni, 0, None).unwrap();
    assert_eq!(s.write(a, &[1; 1500]), Ok(1500));
    assert_eq!(drain(&mut s).get(&a), Some(&1000));
    assert_eq!(blocked(&mut s), vec![Control::DataBlocked(1000)]);
    for _ in 0..3 {
        assert_eq!(s.write(a, &[1; 10]), Ok(10));
        assert!(drain(&mut s).is_empty());
        assert!(blocked(&mut s).is_empty(), "reported again");
    }
}
