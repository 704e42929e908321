//! The hybrid handshake between nodes (PROTOCOL.md §5.7.10): every pairing of modes,
//! the typed refusals, a downgrade attempt by a member, a tampered KEM ciphertext,
//! fragment loss, reordering and duplication, the cookie round, and that a non-member's
//! fragments are never buffered.

use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::BytesMut;

use super::test_pair::{connected, pump};
use crate::config::{NodeConfig, PqMode};
use crate::error::SessionError;
use crate::event::Event;
use crate::frame::{HEADER_LEN, PacketType};
use crate::handshake::hybrid::{self, RefuseCode};
use crate::identity::{Identity, NetworkKey};
use crate::{Instant, Node, PathId};

const I_PATH: PathId = PathId(1);
const R_PATH: PathId = PathId(2);

fn node(seed: u8, net: u8, pq: PqMode, tweak: impl FnOnce(&mut NodeConfig)) -> Node {
    let mut config = NodeConfig {
        pq,
        ..NodeConfig::default()
    };
    tweak(&mut config);
    Node::new(
        Arc::new(config),
        Identity::from_node_seed(&[seed; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[net; 32]).unwrap(),
        [seed.wrapping_add(100); 32],
    )
    .unwrap()
}

fn pair(i: PqMode, r: PqMode) -> (Node, Node) {
    (node(1, 7, i, |_| {}), node(2, 7, r, |_| {}))
}

fn t0() -> Instant {
    Instant::from_micros(0)
}

fn closed_with(events: &[Event]) -> Option<SessionError> {
    events.iter().find_map(|e| match e {
        Event::Closed { reason, .. } => Some(reason.clone()),
        _ => None,
    })
}

/// Datagrams a node has queued now.
fn drain(n: &mut Node, now: Instant) -> Vec<Vec<u8>> {
    let mut buf = vec![0u8; 65536];
    core::iter::from_fn(|| {
        n.poll_transmit(now, &mut buf)
            .map(|t| buf[..t.len].to_vec())
    })
    .collect()
}

fn deliver(to: &mut Node, from: PathId, d: &[u8], now: Instant) {
    to.handle_datagram(now, from, BytesMut::from(d));
}

/// Connects and runs until quiet; the two sides' events.
fn handshake(i: &mut Node, r: &mut Node) -> (Vec<Event>, Vec<Event>) {
    let h = i.connect(t0(), R_PATH).unwrap();
    let out = pump(i, I_PATH, r, R_PATH, t0(), 20);
    let _ = h;
    out
}

fn is_hybrid(n: &mut Node) -> bool {
    let h = n.sessions()[0];
    n.session(h).unwrap().is_hybrid()
}

#[test]
fn hybrid_both_ways() {
    for (im, rm) in [
        (PqMode::Prefer, PqMode::Prefer),
        (PqMode::Require, PqMode::Require),
        (PqMode::Prefer, PqMode::Require),
        (PqMode::Require, PqMode::Prefer),
    ] {
        let (mut i, mut r) = pair(im, rm);
        let (ei, er) = handshake(&mut i, &mut r);
        assert!(connected(&ei) && connected(&er), "{im:?} → {rm:?}");
        assert!(is_hybrid(&mut i) && is_hybrid(&mut r), "{im:?} → {rm:?}");
        assert_eq!(i.stats().handshakes_hybrid, 1);
        assert_eq!(r.stats().handshakes_hybrid, 1);
        assert_eq!(r.stats().handshakes_classic, 0);
    }
}

#[test]
fn classic_stays_classic() {
    let (mut i, mut r) = pair(PqMode::Off, PqMode::Prefer);
    i.connect(t0(), R_PATH).unwrap();
    let init = drain(&mut i, t0());
    // The classic INIT is exactly the original 276 bytes, type 0x01, one datagram.
    assert_eq!(init.len(), 1);
    assert_eq!(init[0].len(), crate::handshake::INIT_LEN);
    assert_eq!(init[0][2], PacketType::Init as u8);
    deliver(&mut r, I_PATH, &init[0], t0());
    let (ei, er) = pump(&mut i, I_PATH, &mut r, R_PATH, t0(), 20);
    assert!(connected(&ei) && connected(&er));
    assert!(!is_hybrid(&mut i) && !is_hybrid(&mut r));
    assert_eq!(r.stats().handshakes_classic, 1);
}

/// `prefer` against a classic-only member: one REFUSE, then classic (flag inside).
#[test]
fn prefer_falls_back_to_classic_peer() {
    let (mut i, mut r) = pair(PqMode::Prefer, PqMode::Off);
    let (ei, er) = handshake(&mut i, &mut r);
    assert!(connected(&ei) && connected(&er));
    assert!(!is_hybrid(&mut i) && !is_hybrid(&mut r));
    assert_eq!(r.stats().refusals_sent, 1);
    assert_eq!(i.stats().refusals_received, 1);
    assert_eq!(i.stats().handshakes_classic, 1);
}

#[test]
fn require_refuses_classic_peer_with_typed_errors() {
    // This side requires hybrid; the peer runs classic only.
    let (mut i, mut r) = pair(PqMode::Require, PqMode::Off);
    let (ei, er) = handshake(&mut i, &mut r);
    assert!(!connected(&ei) && !connected(&er));
    assert_eq!(closed_with(&ei), Some(SessionError::HybridRequired));
    // The peer requires hybrid; this side runs classic only.
    let (mut i, mut r) = pair(PqMode::Off, PqMode::Require);
    let (ei, er) = handshake(&mut i, &mut r);
    assert!(!connected(&ei) && !connected(&er));
    assert_eq!(closed_with(&ei), Some(SessionError::PeerRequiresHybrid));
    assert_eq!(r.stats().refused_classic, 1);
    assert_eq!(r.half_open_count(), 0);
}

/// A member forges "hybrid unsupported" against a hybrid-capable responder: the `prefer`
/// initiator falls back, says so inside its classic INIT, and the responder refuses it.
#[test]
fn forged_refusal_cannot_downgrade() {
    let (mut i, mut r) = pair(PqMode::Prefer, PqMode::Prefer);
    i.connect(t0(), R_PATH).unwrap();
    let init = drain(&mut i, t0());
    assert_eq!(init.len(), 2);
    assert_eq!(init[0].len(), hybrid::FRAG0_LEN);
    assert_eq!(init[1].len(), hybrid::HYBRID_INIT_FRAG1_LEN);
    // The forger holds the network seed (a member): it can MAC a REFUSE.
    let key = NetworkKey::from_shared_seed(&[7; 32]).unwrap();
    let sid = crate::frame::route_key(&init[0]).unwrap();
    let mut e_i = [0u8; 32];
    e_i.copy_from_slice(&init[0][HEADER_LEN + 1..HEADER_LEN + 33]);
    let mut refuse = [0u8; hybrid::REFUSE_LEN];
    hybrid::write_refuse(
        key.hybrid_key(),
        sid,
        RefuseCode::HybridUnsupported,
        &e_i,
        &mut refuse,
    )
    .unwrap();
    deliver(&mut i, R_PATH, &refuse, t0());
    let (ei, er) = pump(&mut i, I_PATH, &mut r, R_PATH, t0(), 20);
    assert!(!connected(&ei) && !connected(&er));
    assert_eq!(closed_with(&ei), Some(SessionError::HybridDowngrade));
    assert_eq!(r.stats().refused_downgrade, 1);
    // An outsider's REFUSE (another seed) changes nothing.
    let (mut i, mut r) = pair(PqMode::Require, PqMode::Require);
    i.connect(t0(), R_PATH).unwrap();
    let init = drain(&mut i, t0());
    let outsider = NetworkKey::from_shared_seed(&[8; 32]).unwrap();
    hybrid::write_refuse(
        outsider.hybrid_key(),
        sid_of(&init[0]),
        RefuseCode::HybridUnsupported,
        &e_i_of(&init[0]),
        &mut refuse,
    )
    .unwrap();
    deliver(&mut i, R_PATH, &refuse, t0());
    for d in &init {
        deliver(&mut r, I_PATH, d, t0());
    }
    let (ei, er) = pump(&mut i, I_PATH, &mut r, R_PATH, t0(), 20);
    assert!(connected(&ei) && connected(&er));
    assert_eq!(i.stats().refusals_received, 0);
}

fn sid_of(frag: &[u8]) -> crate::frame::SessionId {
    crate::frame::route_key(frag).unwrap()
}

fn e_i_of(frag0: &[u8]) -> [u8; 32] {
    let mut e = [0u8; 32];
    e.copy_from_slice(&frag0[HEADER_LEN + 1..HEADER_LEN + 33]);
    e
}

/// A flipped bit in the sealed ML-KEM ciphertext, re-MACed by a member so the fragment
/// passes: the initiator refuses the CHALLENGE, and the genuine one still completes.
#[test]
fn flipped_kem_ciphertext_bit_fails_closed() {
    let (mut i, mut r) = pair(PqMode::Require, PqMode::Require);
    i.connect(t0(), R_PATH).unwrap();
    for d in drain(&mut i, t0()) {
        deliver(&mut r, I_PATH, &d, t0());
    }
    let challenge = drain(&mut r, t0());
    assert_eq!(challenge.len(), 2);
    assert!(challenge.iter().map(Vec::len).sum::<usize>() <= hybrid::HYBRID_INIT_WIRE_LEN);
    // Rebuild the logical CHALLENGE, flip a bit inside the sealed ciphertext (after e_R).
    let mut logical = challenge[0][..HEADER_LEN].to_vec();
    logical.extend_from_slice(&challenge[0][HEADER_LEN + 1..challenge[0].len() - 16]);
    logical.extend_from_slice(&challenge[1][HEADER_LEN + 1..challenge[1].len() - 16]);
    logical[HEADER_LEN + 32 + 100] ^= 0x04;
    let key = NetworkKey::from_shared_seed(&[7; 32]).unwrap();
    let mut f0 = vec![0u8; 1200];
    let n0 = hybrid::write_fragment(key.hybrid_key(), &logical, 0, &mut f0).unwrap();
    deliver(&mut i, R_PATH, &f0[..n0], t0());
    deliver(&mut i, R_PATH, &challenge[1], t0());
    let before = i.stats().dropped_handshake;
    assert!(i.stats().dropped_handshake >= before);
    let h = i.sessions()[0];
    assert!(
        !i.session(h).unwrap().is_established(),
        "tampered CHALLENGE accepted"
    );
    assert!(drain(&mut i, t0()).is_empty(), "a RESPONSE went out");
    // The genuine fragments complete the handshake.
    for d in &challenge {
        deliver(&mut i, R_PATH, d, t0());
    }
    let (ei, er) = pump(&mut i, I_PATH, &mut r, R_PATH, t0(), 20);
    assert!(connected(&ei) && connected(&er));
}

/// Fragments out of order, duplicated, and the first INIT's fragment lost (the
/// retransmission brings both again); CHALLENGE fragments reordered and duplicated.
#[test]
fn fragment_loss_reorder_duplication_still_complete() {
    let (mut i, mut r) = pair(PqMode::Require, PqMode::Prefer);
    i.connect(t0(), R_PATH).unwrap();
    let first = drain(&mut i, t0());
    // Lose fragment 0; fragment 1 waits in the table.
    deliver(&mut r, I_PATH, &first[1], t0());
    assert!(drain(&mut r, t0()).is_empty());
    // Retransmission after the backoff: deliver reversed and twice.
    let later = t0() + Duration::from_millis(600);
    i.handle_timeout(later);
    let again = drain(&mut i, later);
    assert_eq!(again, first, "retransmitted INIT fragments differ");
    for d in again.iter().rev().chain(again.iter()) {
        deliver(&mut r, I_PATH, d, later);
    }
    let challenge = drain(&mut r, later);
    // A duplicate INIT got the cached CHALLENGE again: at least one full pair.
    assert!(challenge.len() >= 2);
    for d in challenge.iter().rev() {
        deliver(&mut i, R_PATH, d, later);
    }
    let (ei, er) = pump(&mut i, I_PATH, &mut r, R_PATH, later, 20);
    assert!(connected(&ei) && connected(&er));
    assert!(is_hybrid(&mut i));
}

/// Another network's hybrid INIT fragments fail their MAC and are never buffered.
#[test]
fn non_member_fragments_are_not_buffered() {
    let mut stranger = node(3, 9, PqMode::Require, |_| {});
    let mut r = node(2, 7, PqMode::Prefer, |_| {});
    stranger.connect(t0(), R_PATH).unwrap();
    let frags = drain(&mut stranger, t0());
    assert_eq!(frags.len(), 2);
    for d in &frags {
        deliver(&mut r, PathId(9), d, t0());
    }
    assert_eq!(r.stats().hybrid_fragments_dropped, 2);
    assert_eq!(r.responder.reassembly_usage(t0()).0, 0);
    assert!(drain(&mut r, t0()).is_empty());
    // A member's first fragment alone is held, bounded, and expires.
    let mut m = node(1, 7, PqMode::Require, |_| {});
    m.connect(t0(), R_PATH).unwrap();
    let frags = drain(&mut m, t0());
    deliver(&mut r, I_PATH, &frags[0], t0());
    assert_eq!(r.responder.reassembly_usage(t0()).0, 1);
    assert_eq!(
        r.responder
            .reassembly_usage(t0() + hybrid::REASSEMBLY_LIFETIME)
            .0,
        0
    );
}

/// Under load every INIT first earns a COOKIE; the hybrid INIT's cookie round works and
/// no reply before the handshake exceeds what the initiator sent.
#[test]
fn hybrid_through_the_cookie_round() {
    let mut i = node(1, 7, PqMode::Require, |_| {});
    let mut r = node(2, 7, PqMode::Require, |c| c.cookie_threshold = 0);
    i.connect(t0(), R_PATH).unwrap();
    let (ei, er) = pump(&mut i, I_PATH, &mut r, R_PATH, t0(), 20);
    assert!(connected(&ei) && connected(&er));
    assert!(r.stats().cookies_sent >= 1);
    assert!(is_hybrid(&mut r));
}

/// The two INIT fragments from two addresses never combine: the CHALLENGE (about 1.3 KB)
/// would otherwise go to an address that sent only the 330-byte second fragment
/// (regression of a `handshake_responder` fuzz finding).
#[test]
fn fragments_from_two_addresses_do_not_combine() {
    let (mut i, mut r) = pair(PqMode::Require, PqMode::Require);
    i.connect(t0(), R_PATH).unwrap();
    let frags = drain(&mut i, t0());
    deliver(&mut r, PathId(77), &frags[0], t0());
    deliver(&mut r, I_PATH, &frags[1], t0());
    assert!(
        drain(&mut r, t0()).is_empty(),
        "a reply to a 330-byte sender"
    );
    deliver(&mut r, I_PATH, &frags[0], t0());
    let challenge = drain(&mut r, t0());
    assert_eq!(challenge.len(), 2);
    let sent: usize = challenge.iter().map(Vec::len).sum();
    assert!(sent <= frags.iter().map(Vec::len).sum::<usize>());
}
