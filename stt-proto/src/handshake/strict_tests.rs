//! The handshake's length and header bounds at their exact edges: a CHALLENGE or RESPONSE
//! carrying no transport parameters (the shortest legal message) or the most allowed (the
//! longest) completes the handshake, one byte less or more is malformed; and a message
//! whose unauthenticated fixed header fields (stream id, sequence, key phase) were changed
//! is refused as malformed, never taken as another copy. Each test names the
//! cargo-mutants survivors of `initiator.rs` / `responder.rs` it kills.

use alloc::vec;
use alloc::vec::Vec;

use super::tests::{SEED_I, SEED_R, SHARED, SID_I, SID_R, config};
use super::*;
use crate::Instant;
use crate::crypto::{AeadSet, RUST_CRYPTO};
use crate::frame::{HEADER_LEN, PacketType};
use crate::identity::{Identity, NetworkKey};
use crate::rng::Rng;

const T0: Instant = Instant(1_000_000);

/// An initiator and a responder with these transport parameters; returns the INIT and
/// the CHALLENGE.
fn start(params_i: &[u8], params_r: &[u8]) -> (Initiator, Responder, Vec<u8>, Vec<u8>) {
    let id_i = Identity::from_node_seed(&SEED_I).unwrap();
    let id_r = Identity::from_node_seed(&SEED_R).unwrap();
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let i = Initiator::new(
        &id_i,
        &nk,
        SID_I,
        AeadSet::CHACHA,
        params_i,
        &mut Rng::from_seed([0x44; 32]),
    )
    .unwrap()
    .with_provider(&RUST_CRYPTO);
    let mut init = vec![0u8; 2048];
    let n = i.write_init(&mut init).unwrap();
    init.truncate(n);
    let mut r = Responder::new(config());
    let mut out = vec![0u8; 2048];
    let o = r.handle_init(
        T0,
        &id_r,
        &nk,
        b"198.51.100.7:4242",
        &init,
        SID_R,
        params_r,
        &mut Rng::from_seed([0x55; 32]),
        &mut out,
    );
    let InitOutcome::Challenge { len, .. } = o else {
        panic!("{o:?}");
    };
    out.truncate(len);
    (i, r, init, out)
}

fn response(i: &Initiator) -> Vec<u8> {
    let mut out = vec![0u8; 2048];
    let n = i.write_response(&mut out).unwrap();
    out.truncate(n);
    out
}

/// The shortest legal CHALLENGE and RESPONSE (no parameters) and the longest (the most
/// parameters allowed) complete the handshake, and each side sees the other's
/// parameters. (Mutants: the length bounds `<` / `>` of `handle_challenge` and of the
/// responder's RESPONSE check spelled `<=` / `>=`.)
#[test]
fn the_shortest_and_longest_messages_complete_the_handshake() {
    let long = [0xA5u8; payload::MAX_PARAMS_LEN];
    for params in [&[][..], &long[..]] {
        let (mut i, mut r, _, challenge) = start(params, params);
        let min = HEADER_LEN + 2 * DH_LEN + 2 * NOISE_TAG_LEN + payload::CHALLENGE_FIXED;
        assert_eq!(challenge.len(), min + params.len());
        i.handle_challenge(&challenge).unwrap();
        let resp = response(&i);
        let min = HEADER_LEN + DH_LEN + 2 * NOISE_TAG_LEN + payload::RESPONSE_FIXED;
        assert_eq!(resp.len(), min + params.len());
        let ei = i.finish().unwrap();
        let er = r.handle_response(T0, &resp).unwrap();
        assert_eq!(ei.peer_params, params);
        assert_eq!(er.peer_params, params);
    }
}

/// One byte short of the shortest CHALLENGE, or past the longest, is malformed before
/// any DH; so is a RESPONSE of either length. A copy of the right length with a changed
/// body fails to decrypt instead (it was not refused by its length).
#[test]
fn messages_one_byte_outside_the_bounds_are_malformed() {
    let (mut i, _, _, short) = start(b"", b"");
    assert_eq!(
        i.handle_challenge(&short[..short.len() - 1]),
        Err(HandshakeError::Malformed)
    );
    let mut bad = short.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(i.handle_challenge(&bad), Err(HandshakeError::Decrypt));

    let long = [0xA5u8; payload::MAX_PARAMS_LEN];
    let (mut i, mut r, _, challenge) = start(&long, &long);
    let mut past = challenge.clone();
    past.push(0);
    assert_eq!(i.handle_challenge(&past), Err(HandshakeError::Malformed));
    let mut bad = challenge.clone();
    bad[last] ^= 1;
    assert_eq!(i.handle_challenge(&bad), Err(HandshakeError::Decrypt));
    i.handle_challenge(&challenge).unwrap();
    let resp = response(&i);
    let mut past = resp.clone();
    past.push(0);
    assert_eq!(
        r.handle_response(T0, &past).err(),
        Some(DropReason::Malformed)
    );
    assert!(r.handle_response(T0, &resp).is_ok());
}

/// Returns `packet` with its header's stream id, sequence or key phase changed.
fn with_changed_fixed_field(packet: &[u8], field: usize) -> Vec<u8> {
    let mut p = packet.to_vec();
    match field {
        0 => p[14] ^= 1,    // stream id
        1 => p[18] ^= 1,    // sequence
        _ => p[19] |= 0x40, // key phase
    }
    p
}

/// The clear header of a handshake message is not authenticated: a copy whose stream id,
/// sequence or key phase differs is refused as malformed by both sides (it must never
/// count as another message); a wrong type or session id is refused as such. The
/// untouched message is then still taken. (Mutants in `is_strict_handshake_header` and
/// `check_header`.)
#[test]
fn changed_fixed_header_fields_are_refused_by_both_sides() {
    let (mut i, mut r, init, challenge) = start(b"pi", b"pr");
    for field in 0..3 {
        assert_eq!(
            i.handle_challenge(&with_changed_fixed_field(&challenge, field)),
            Err(HandshakeError::Malformed),
            "CHALLENGE field {field}"
        );
    }
    let mut wrong_type = challenge.clone();
    wrong_type[2] = PacketType::Cookie as u8;
    assert_eq!(
        i.handle_challenge(&wrong_type),
        Err(HandshakeError::Unexpected)
    );
    let mut wrong_session = challenge.clone();
    wrong_session[10] ^= 1;
    assert_eq!(
        i.handle_challenge(&wrong_session),
        Err(HandshakeError::SessionMismatch)
    );
    i.handle_challenge(&challenge).unwrap();

    let id_r = Identity::from_node_seed(&SEED_R).unwrap();
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    for field in 0..3 {
        let mut out = vec![0u8; 2048];
        let o = Responder::new(config()).handle_init(
            T0,
            &id_r,
            &nk,
            b"198.51.100.7:4242",
            &with_changed_fixed_field(&init, field),
            SID_R,
            b"pr",
            &mut Rng::from_seed([0x55; 32]),
            &mut out,
        );
        assert_eq!(
            o,
            InitOutcome::Drop(DropReason::Malformed),
            "INIT field {field}"
        );
    }
    let resp = response(&i);
    for field in 0..3 {
        assert_eq!(
            r.handle_response(T0, &with_changed_fixed_field(&resp, field))
                .err(),
            Some(DropReason::Malformed),
            "RESPONSE field {field}"
        );
    }
    assert!(r.handle_response(T0, &resp).is_ok());
}
