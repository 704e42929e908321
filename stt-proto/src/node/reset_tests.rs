//! Stateless reset (PROTOCOL.md §5.5, §5.7.7): a restarted responder (same node seed,
//! no state) makes the initiator end its session on the first packet it sends, within
//! one round trip (and a restarted initiator the responder's); RESETs not made from the
//! peer's seed are ignored; RESETs are smaller than their trigger and rate-limited; a
//! half-open handshake's early data is not reset. All in memory, milliseconds.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};

use super::reset::{RESET_LEN, RESETS_PER_SECOND};
use super::test_pair::{connected, node_with_rng as node, pump};
use crate::error::SessionError;
use crate::event::Event;
use crate::frame::{Flags, Header, PacketType, ResetBody, SessionId, StreamId};
use crate::identity::Identity;
use crate::{Instant, Node, PathId, SessionHandle};

/// A node with identity `id_seed`; `rng` picks its random stream (a restart differs).
/// `a` (seen by `b` on path 1) connected to `b` (seen by `a` on path 2).
fn pair(now: Instant) -> (Node, Node, SessionHandle) {
    let (mut a, mut b) = (node(1, 101), node(2, 102));
    let h = a.connect(now, PathId(2)).unwrap();
    let (ea, eb) = pump(&mut a, PathId(1), &mut b, PathId(2), now, 20);
    assert!(connected(&ea) && connected(&eb));
    (a, b, h)
}

fn reset_reason(events: &[Event]) -> Option<SessionError> {
    events.iter().find_map(|e| match e {
        Event::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// The id `a`'s session sends to (its peer's receive id).
fn peer_session(a: &Node) -> SessionId {
    a.slots
        .iter()
        .find_map(|s| s.session.as_ref()?.peer_session())
        .unwrap()
}

fn reset_packet(id: SessionId, token: [u8; 16]) -> BytesMut {
    let header = Header {
        packet_type: PacketType::Reset,
        session_id: id,
        stream_id: StreamId::CONTROL,
        sequence: 0,
        flags: Flags::new(false),
    };
    let mut out = [0u8; RESET_LEN];
    out[..20].copy_from_slice(&header.to_bytes());
    ResetBody { token }.encode(&mut out[20..]).unwrap();
    BytesMut::from(&out[..])
}

#[test]
fn a_restarted_responder_resets_the_session_within_one_round_trip() {
    let t0 = Instant::from_micros(1_000_000);
    let (mut a, b, h) = pair(t0);
    drop(b);
    // The responder restarts: same node seed, a fresh node with no sessions.
    let mut b2 = node(2, 202);
    let t1 = t0 + Duration::from_secs(1);
    a.session(h)
        .unwrap()
        .send_datagram(t1, Bytes::from_static(b"are you still there?"))
        .unwrap();
    // One exchange at one instant: a's packet out, b2's RESET back. No timer runs.
    let (ea, _) = pump(&mut a, PathId(1), &mut b2, PathId(2), t1, 1);
    assert_eq!(reset_reason(&ea), Some(SessionError::Reset), "{ea:?}");
    assert_eq!(b2.stats().resets_sent, 1);
    assert_eq!(a.stats().resets_received, 1);
    assert!(a.session(h).is_none(), "the reset session is gone");
}

#[test]
fn a_reset_not_made_from_the_peers_seed_is_ignored() {
    let t0 = Instant::from_micros(1_000_000);
    let (mut a, _b, h) = pair(t0);
    let id = peer_session(&a);
    let bystander = Identity::from_node_seed(&[9; 32]).unwrap();
    let genuine = Identity::from_node_seed(&[2; 32]).unwrap();
    for forged in [
        reset_packet(id, [0x55; 16]),
        reset_packet(id, bystander.reset_token(id)),
        reset_packet(
            SessionId(id.0 ^ 1),
            genuine.reset_token(SessionId(id.0 ^ 1)),
        ),
    ] {
        a.handle_datagram(t0, PathId(3), forged);
        assert!(a.poll_event().is_none());
        assert!(a.session(h).is_some(), "a forged RESET ended the session");
    }
    assert_eq!(a.stats().resets_received, 0);
    // The genuine token, from any path (the restarted peer may have a new address).
    a.handle_datagram(t0, PathId(3), reset_packet(id, genuine.reset_token(id)));
    let events: Vec<Event> = core::iter::from_fn(|| a.poll_event()).collect();
    assert_eq!(reset_reason(&events), Some(SessionError::Reset));
}

/// A DATA-typed datagram of `len` bytes for session `id` (contents are never opened).
fn junk(id: u64, len: usize) -> BytesMut {
    let header = Header {
        packet_type: PacketType::Data,
        session_id: SessionId(id),
        stream_id: StreamId::CONTROL,
        sequence: 0,
        flags: Flags::new(false),
    };
    let mut out = vec![0xa5u8; len];
    out[..20].copy_from_slice(&header.to_bytes());
    BytesMut::from(&out[..])
}

#[test]
fn resets_are_smaller_than_their_trigger_and_rate_limited() {
    let mut b = node(2, 102);
    let t0 = Instant::from_micros(5_000_000);
    b.handle_datagram(t0, PathId(1), junk(7, RESET_LEN));
    assert_eq!(b.stats().resets_sent, 0, "a trigger not larger than RESET");
    for i in 0..100 {
        b.handle_datagram(t0, PathId(1), junk(1000 + i, RESET_LEN + 1));
    }
    let n = RESETS_PER_SECOND as u64;
    assert_eq!(b.stats().resets_sent, n);
    assert_eq!(b.stats().resets_limited, 100 - n);
    let mut buf = vec![0u8; 2048];
    let mut sent = 0;
    while let Some(t) = b.poll_transmit(t0, &mut buf) {
        assert_eq!(t.len, RESET_LEN);
        assert_eq!(buf[2], PacketType::Reset as u8);
        sent += 1;
    }
    assert_eq!(sent, n);
    // The next second allows more.
    b.handle_datagram(t0 + Duration::from_secs(1), PathId(1), junk(5, 100));
    assert_eq!(b.stats().resets_sent, n + 1);
}

#[test]
fn early_data_of_a_half_open_handshake_is_not_reset() {
    let now = Instant::from_micros(1_000_000);
    let (mut a, mut b) = (node(1, 101), node(2, 102));
    let h = a.connect(now, PathId(2)).unwrap();
    let mut buf = vec![0u8; 65536];
    let t = a.poll_transmit(now, &mut buf).unwrap();
    b.handle_datagram(now, PathId(1), BytesMut::from(&buf[..t.len]));
    let t = b.poll_transmit(now, &mut buf).unwrap();
    a.handle_datagram(now, PathId(2), BytesMut::from(&buf[..t.len]));
    a.session(h)
        .unwrap()
        .send_datagram(now, Bytes::from_static(b"1-RTT data"))
        .unwrap();
    // RESPONSE is lost; the data that follows reaches b first.
    let mut data = 0;
    while let Some(t) = a.poll_transmit(now, &mut buf) {
        if buf[2] != PacketType::Response as u8 {
            b.handle_datagram(now, PathId(1), BytesMut::from(&buf[..t.len]));
            data += 1;
        }
    }
    assert!(data > 0, "the initiator sent no early data");
    assert_eq!(b.stats().resets_sent, 0);
    assert!(b.poll_transmit(now, &mut buf).is_none());
}

#[test]
fn a_restarted_initiator_resets_the_responders_session_too() {
    let t0 = Instant::from_micros(1_000_000);
    let (a, mut b, _) = pair(t0);
    drop(a);
    let mut a2 = node(1, 201);
    let hb = b.sessions()[0];
    let t1 = t0 + Duration::from_secs(1);
    b.session(hb)
        .unwrap()
        .send_datagram(t1, Bytes::from_static(b"still there?"))
        .unwrap();
    // Two shuttle rounds (a2 polls first, so its RESET goes in the second): one exchange.
    let (_, eb) = pump(&mut a2, PathId(1), &mut b, PathId(2), t1, 2);
    assert_eq!(reset_reason(&eb), Some(SessionError::Reset), "{eb:?}");
}
