//! Handshake tests: snow cross-checks, what the handshake proves, DoS behaviour, vectors.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use super::*;
use crate::Instant;
use crate::crypto::{AeadSet, RUST_CRYPTO};
use crate::frame::{HEADER_LEN, PacketType, SessionId, StreamId};
use crate::identity::{Identity, NetworkKey};
use crate::rng::Rng;

pub(crate) const SEED_I: [u8; 32] = [0x11; 32];
pub(crate) const SEED_R: [u8; 32] = [0x22; 32];
pub(crate) const SHARED: [u8; 32] = [0x33; 32];
pub(crate) const RNG_I: [u8; 32] = [0x44; 32];
pub(crate) const RNG_R: [u8; 32] = [0x55; 32];
pub(crate) const SID_I: SessionId = SessionId(0x0101_0101_0101_0101);
pub(crate) const SID_R: SessionId = SessionId(0x0202_0202_0202_0202);
pub(crate) const PARAMS_I: &[u8] = b"params-i";
pub(crate) const PARAMS_R: &[u8] = b"params-r";
const PATH: &[u8] = b"198.51.100.7:4242";
const T0: Instant = Instant(1_000_000);

pub(crate) fn config() -> ResponderConfig {
    ResponderConfig {
        aeads: AeadSet::CHACHA,
        provider: &RUST_CRYPTO,
        ..ResponderConfig::default()
    }
}

pub(crate) struct Run {
    pub init: Vec<u8>,
    pub challenge: Vec<u8>,
    pub response: Vec<u8>,
    pub ei: Established,
    pub er: Established,
    pub responder: Responder,
}

pub(crate) fn initiator(rng: [u8; 32], shared: &[u8]) -> Initiator {
    let id = Identity::from_node_seed(&SEED_I).unwrap();
    let nk = NetworkKey::from_shared_seed(shared).unwrap();
    Initiator::new(
        &id,
        &nk,
        SID_I,
        AeadSet::CHACHA,
        PARAMS_I,
        &mut Rng::from_seed(rng),
    )
    .unwrap()
    .with_provider(&RUST_CRYPTO)
}

fn init_bytes(i: &Initiator) -> Vec<u8> {
    let mut b = vec![0u8; 2048];
    let n = i.write_init(&mut b).unwrap();
    b.truncate(n);
    b
}

fn respond(r: &mut Responder, init: &[u8], rng: [u8; 32], path: &[u8]) -> (InitOutcome, Vec<u8>) {
    let id = Identity::from_node_seed(&SEED_R).unwrap();
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let mut out = vec![0u8; 2048];
    let o = r.handle_init(
        T0,
        &id,
        &nk,
        path,
        init,
        SID_R,
        PARAMS_R,
        &mut Rng::from_seed(rng),
        &mut out,
    );
    let n = match o {
        InitOutcome::Challenge { len, .. }
        | InitOutcome::Cookie { len }
        | InitOutcome::Refuse { len, .. } => len,
        InitOutcome::HybridChallenge { len0, len1, .. } => len0 + len1,
        InitOutcome::Drop(_) | InitOutcome::Pending => 0,
    };
    out.truncate(n);
    (o, out)
}

pub(crate) fn run_with(rng_i: [u8; 32], rng_r: [u8; 32]) -> Run {
    let mut i = initiator(rng_i, &SHARED);
    let mut responder = Responder::new(config());
    let init = init_bytes(&i);
    let (o, challenge) = respond(&mut responder, &init, rng_r, PATH);
    assert!(
        matches!(o, InitOutcome::Challenge { resent: false, .. }),
        "{o:?}"
    );
    let peer = i.handle_challenge(&challenge).unwrap();
    assert_eq!(peer, Identity::from_node_seed(&SEED_R).unwrap().node_id());
    let mut response = vec![0u8; 512];
    let n = i.write_response(&mut response).unwrap();
    response.truncate(n);
    let ei = i.finish().unwrap();
    let er = responder.handle_response(T0, &response).unwrap();
    Run {
        init,
        challenge,
        response,
        ei,
        er,
        responder,
    }
}

pub(crate) fn run() -> Run {
    run_with(RNG_I, RNG_R)
}

#[test]
fn full_handshake_agrees() {
    let r = run();
    assert_eq!(r.init.len(), INIT_LEN);
    assert!(r.challenge.len() <= r.init.len());
    assert_eq!(r.ei.handshake_hash, r.er.handshake_hash);
    assert_eq!(
        r.ei.peer,
        Identity::from_node_seed(&SEED_R).unwrap().node_id()
    );
    assert_eq!(
        r.er.peer,
        Identity::from_node_seed(&SEED_I).unwrap().node_id()
    );
    assert_eq!(r.ei.peer_session, SID_R);
    assert_eq!(r.er.peer_session, SID_I);
    assert_eq!(r.ei.peer_params, PARAMS_R);
    assert_eq!(r.er.peer_params, PARAMS_I);
    assert_eq!(r.ei.aead, crate::crypto::Aead::ChaCha20Poly1305);
    let id_i = Identity::from_node_seed(&SEED_I).unwrap();
    let id_r = Identity::from_node_seed(&SEED_R).unwrap();
    assert!(r.er.is_peer_reset_token(&id_i.reset_token(SID_I)));
    assert!(r.ei.is_peer_reset_token(&id_r.reset_token(SID_R)));
    assert_eq!(r.ei.response_packet.as_deref(), Some(&r.response[..]));
    assert_eq!(r.responder.half_open_len(), 0);
    assert_eq!(r.responder.stats().dh_ops, 3);
    // Keys agree: CONFIRM from the responder opens at the initiator, and data flows back.
    let (mut ei, mut er) = (r.ei, r.er);
    assert!(!ei.record.is_confirmed());
    let mut buf = vec![0u8; 64];
    buf[HEADER_LEN..HEADER_LEN + 7].copy_from_slice(b"confirm");
    let s = er
        .record
        .seal(PacketType::Confirm, SID_I, StreamId::CONTROL, &mut buf, 7)
        .unwrap();
    let o = ei.record.open(T0, &mut buf[..s.len]).unwrap();
    assert_eq!(o.payload, b"confirm");
    assert!(ei.record.is_confirmed());
    let mut buf = vec![0u8; 64];
    buf[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(b"data");
    let s = ei
        .record
        .seal(PacketType::Data, SID_R, StreamId(4), &mut buf, 4)
        .unwrap();
    assert_eq!(
        er.record.open(T0, &mut buf[..s.len]).unwrap().payload,
        b"data"
    );
}

#[test]
fn retransmits_are_byte_identical() {
    let mut i = initiator(RNG_I, &SHARED);
    let a = init_bytes(&i);
    assert_eq!(a, init_bytes(&i));
    let mut responder = Responder::new(config());
    let (_, ch) = respond(&mut responder, &a, RNG_R, PATH);
    i.handle_challenge(&ch).unwrap();
    let mut x = [0u8; 512];
    let mut y = [0u8; 512];
    let n = i.write_response(&mut x).unwrap();
    assert_eq!(n, i.write_response(&mut y).unwrap());
    assert_eq!(x[..n], y[..n]);
    // A second CHALLENGE (replayed) is refused and changes nothing.
    assert_eq!(i.handle_challenge(&ch), Err(HandshakeError::Unexpected));
}

fn snow_params() -> snow::params::NoiseParams {
    "Noise_XXpsk0_25519_ChaChaPoly_SHA256".parse().unwrap()
}

#[test]
fn our_initiator_against_snow_responder() {
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let id_r = Identity::from_node_seed(&SEED_R).unwrap();
    let mut i = initiator(RNG_I, &SHARED);
    let r_static = id_r.secret_bytes();
    let mut snow_r = snow::Builder::new(snow_params())
        .local_private_key(&r_static)
        .unwrap()
        .psk(0, nk.psk())
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_responder()
        .unwrap();
    let init = init_bytes(&i);
    let mut buf = [0u8; 1024];
    let n = snow_r
        .read_message(&init[HEADER_LEN..INIT_LEN - MAC2_LEN], &mut buf)
        .unwrap();
    assert_eq!(payload::decode_init(&buf[..n]).unwrap().0, SID_I);

    let token = id_r.reset_token(SID_R);
    let pl = payload::encode_challenge(
        SID_R,
        crate::crypto::Aead::ChaCha20Poly1305,
        &token,
        PARAMS_R,
    )
    .unwrap();
    let mut ch = initiator::handshake_header(PacketType::Challenge, SID_I).to_vec();
    let n = snow_r.write_message(&pl, &mut buf).unwrap();
    ch.extend_from_slice(&buf[..n]);
    i.handle_challenge(&ch).unwrap();

    let mut resp = [0u8; 512];
    let n = i.write_response(&mut resp).unwrap();
    let m = snow_r.read_message(&resp[HEADER_LEN..n], &mut buf).unwrap();
    let (tok, params) = payload::decode_response(&buf[..m]).unwrap();
    assert_eq!(params, PARAMS_I);
    assert_eq!(
        tok,
        Identity::from_node_seed(&SEED_I)
            .unwrap()
            .reset_token(SID_I)
    );
    assert_eq!(
        snow_r.get_remote_static().unwrap(),
        Identity::from_node_seed(&SEED_I).unwrap().public_key()
    );

    let ei = i.finish().unwrap();
    assert_eq!(snow_r.get_handshake_hash(), ei.handshake_hash);
    let (i2r, r2i) = snow_r.dangerously_get_raw_split();
    assert_eq!(ei.record.send_keys().material().0, i2r);
    assert_eq!(ei.record.recv_keys().material().0, r2i);
}

#[test]
fn our_responder_against_snow_initiator() {
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let id_i = Identity::from_node_seed(&SEED_I).unwrap();
    let i_static = id_i.secret_bytes();
    let mut snow_i = snow::Builder::new(snow_params())
        .local_private_key(&i_static)
        .unwrap()
        .psk(0, nk.psk())
        .unwrap()
        .prologue(PROLOGUE)
        .unwrap()
        .build_initiator()
        .unwrap();
    let mut buf = [0u8; 1024];
    let pl = payload::encode_init(SID_I, AeadSet::CHACHA, 0);
    let mut init = initiator::handshake_header(PacketType::Init, SID_I).to_vec();
    let n = snow_i.write_message(&pl, &mut buf).unwrap();
    init.extend_from_slice(&buf[..n]);
    init.extend_from_slice(&[0u8; MAC2_LEN]);

    let mut responder = Responder::new(config());
    let (o, ch) = respond(&mut responder, &init, RNG_R, PATH);
    assert!(matches!(o, InitOutcome::Challenge { .. }));
    let n = snow_i.read_message(&ch[HEADER_LEN..], &mut buf).unwrap();
    let c = payload::decode_challenge(&buf[..n]).unwrap();
    assert_eq!(c.session, SID_R);
    assert_eq!(c.params, PARAMS_R);

    let tok = id_i.reset_token(SID_I);
    let pl = payload::encode_response(&tok, PARAMS_I).unwrap();
    let mut resp = initiator::handshake_header(PacketType::Response, SID_R).to_vec();
    let n = snow_i.write_message(&pl, &mut buf).unwrap();
    resp.extend_from_slice(&buf[..n]);
    let er = responder.handle_response(T0, &resp).unwrap();
    assert_eq!(er.peer, id_i.node_id());
    assert_eq!(snow_i.get_handshake_hash(), er.handshake_hash);
    let (i2r, r2i) = snow_i.dangerously_get_raw_split();
    assert_eq!(er.record.recv_keys().material().0, i2r);
    assert_eq!(er.record.send_keys().material().0, r2i);
}

#[test]
fn wrong_shared_seed_fails_at_msg1_with_no_dh_and_no_state() {
    let other = [0x99u8; 32];
    let mut i = initiator(RNG_I, &other);
    let mut responder = Responder::new(config());
    let (o, out) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
    assert_eq!(o, InitOutcome::Drop(DropReason::PskFail));
    assert!(out.is_empty());
    let st = responder.stats();
    assert_eq!((st.psk_fail, st.dh_ops, st.challenges), (1, 0, 0));
    assert_eq!(responder.half_open_len(), 0);
    // The initiator never sees a CHALLENGE; one from the real network does not decrypt.
    let good = initiator(RNG_I, &SHARED);
    let mut r2 = Responder::new(config());
    let (_, ch) = respond(&mut r2, &init_bytes(&good), RNG_R, PATH);
    assert_eq!(i.handle_challenge(&ch), Err(HandshakeError::Decrypt));
    assert!(!i.is_complete());
}

#[test]
fn allow_list_refuses_on_both_sides() {
    let stranger = Identity::from_node_seed(&[0x77; 32]).unwrap().node_id();
    // Initiator refuses the responder.
    let mut i = initiator(RNG_I, &SHARED).with_allow_list(AllowList::new([stranger]));
    let mut responder = Responder::new(config());
    let (_, ch) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
    let id_r = Identity::from_node_seed(&SEED_R).unwrap().node_id();
    assert_eq!(
        i.handle_challenge(&ch),
        Err(HandshakeError::PeerRefused(id_r))
    );
    assert!(i.finish().is_err());
    // Responder refuses the initiator, and keeps no state for it.
    let mut responder = Responder::new(ResponderConfig {
        allow_list: Some(AllowList::new([stranger])),
        ..config()
    });
    let mut i = initiator(RNG_I, &SHARED);
    let (_, ch) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
    i.handle_challenge(&ch).unwrap();
    let mut resp = [0u8; 512];
    let n = i.write_response(&mut resp).unwrap();
    let id_i = Identity::from_node_seed(&SEED_I).unwrap().node_id();
    assert_eq!(
        responder.handle_response(T0, &resp[..n]).unwrap_err(),
        DropReason::PeerRefused(id_i)
    );
    assert_eq!(responder.half_open_len(), 0);
    // Allowing the id lets it through.
    let mut responder = Responder::new(ResponderConfig {
        allow_list: Some(AllowList::new([id_i])),
        ..config()
    });
    let mut i = initiator(RNG_I, &SHARED);
    let (_, ch) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
    i.handle_challenge(&ch).unwrap();
    let n = i.write_response(&mut resp).unwrap();
    assert!(responder.handle_response(T0, &resp[..n]).is_ok());
}

#[test]
fn forward_secrecy_fresh_ephemerals_give_fresh_keys() {
    let a = run();
    let b = run_with([0x45; 32], [0x56; 32]);
    assert_ne!(a.ei.handshake_hash, b.ei.handshake_hash);
    assert_ne!(
        a.ei.record.send_keys().material(),
        b.ei.record.send_keys().material()
    );
    assert_ne!(
        a.ei.record.recv_keys().material(),
        b.ei.record.recv_keys().material()
    );
    // Only the responder's ephemeral changes: still different keys.
    let c = run_with(RNG_I, [0x56; 32]);
    assert_ne!(
        a.er.record.send_keys().material(),
        c.er.record.send_keys().material()
    );
}

#[test]
fn replayed_init_resends_cached_challenge_without_dh() {
    let i = initiator(RNG_I, &SHARED);
    let init = init_bytes(&i);
    let mut responder = Responder::new(config());
    let (_, ch1) = respond(&mut responder, &init, RNG_R, PATH);
    let dh = responder.stats().dh_ops;
    let (o, ch2) = respond(&mut responder, &init, [0x66; 32], b"other path");
    assert!(matches!(o, InitOutcome::Challenge { resent: true, .. }));
    assert_eq!(ch1, ch2);
    assert_eq!(responder.stats().dh_ops, dh);
    assert_eq!(responder.half_open_len(), 1);
    // Same ephemeral, different bytes: dropped.
    let mut forged = init.clone();
    forged[HEADER_LEN + 40] ^= 1;
    let (o, _) = respond(&mut responder, &forged, RNG_R, PATH);
    assert_eq!(o, InitOutcome::Drop(DropReason::DuplicateEphemeral));
}

#[test]
fn replayed_response_creates_no_second_session() {
    let mut r = run();
    assert_eq!(
        r.responder.handle_response(T0, &r.response).unwrap_err(),
        DropReason::UnknownSession
    );
    // A replayed INIT after completion starts a new half-open entry at most (new keys, no
    // session); it cannot complete without the initiator's ephemeral secret.
    assert_eq!(r.responder.stats().established, 1);
}

#[test]
fn forged_response_keeps_the_half_open_entry() {
    let mut i = initiator(RNG_I, &SHARED);
    let mut responder = Responder::new(config());
    let (_, ch) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
    i.handle_challenge(&ch).unwrap();
    let mut resp = [0u8; 512];
    let n = i.write_response(&mut resp).unwrap();
    let mut bad = resp[..n].to_vec();
    bad[n - 1] ^= 0x80;
    assert_eq!(
        responder.handle_response(T0, &bad).unwrap_err(),
        DropReason::AuthFail
    );
    assert_eq!(responder.half_open_len(), 1);
    assert!(responder.handle_response(T0, &resp[..n]).is_ok());
}

#[test]
fn forged_challenge_does_not_break_the_initiator() {
    let mut i = initiator(RNG_I, &SHARED);
    let mut responder = Responder::new(config());
    let (_, ch) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
    for pos in [HEADER_LEN, HEADER_LEN + 40, ch.len() - 1] {
        let mut bad = ch.clone();
        bad[pos] ^= 4;
        assert!(i.handle_challenge(&bad).is_err());
    }
    assert!(i.handle_challenge(&ch[..ch.len() - 1]).is_err());
    i.handle_challenge(&ch).unwrap();
}

#[test]
fn half_open_table_is_bounded_and_expires() {
    let mut responder = Responder::new(ResponderConfig {
        max_half_open: 2,
        under_load_threshold: 100,
        ..config()
    });
    let id = Identity::from_node_seed(&SEED_R).unwrap();
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let mut out = [0u8; 1024];
    let mut outcomes = Vec::new();
    for k in 0..3u8 {
        let i = initiator([k; 32], &SHARED);
        let o = responder.handle_init(
            T0,
            &id,
            &nk,
            PATH,
            &init_bytes(&i),
            SessionId(u64::from(k) + 10),
            &[],
            &mut Rng::from_seed([k; 32]),
            &mut out,
        );
        outcomes.push(o);
    }
    assert_eq!(outcomes[2], InitOutcome::Drop(DropReason::TableFull));
    assert_eq!(responder.half_open_len(), 2);
    assert!(responder.contains_session(SessionId(10)));
    assert_eq!(responder.next_timeout(), Some(T0 + Duration::from_secs(10)));
    responder.expire(T0 + Duration::from_secs(10));
    assert_eq!(responder.half_open_len(), 0);
    assert_eq!(responder.stats().expired, 2);
    // Session id collision is reported so the engine can redraw.
    let i = initiator([7; 32], &SHARED);
    responder.handle_init(
        T0,
        &id,
        &nk,
        PATH,
        &init_bytes(&i),
        SessionId(1),
        &[],
        &mut Rng::from_seed([1; 32]),
        &mut out,
    );
    let i = initiator([8; 32], &SHARED);
    let o = responder.handle_init(
        T0,
        &id,
        &nk,
        PATH,
        &init_bytes(&i),
        SessionId(1),
        &[],
        &mut Rng::from_seed([1; 32]),
        &mut out,
    );
    assert_eq!(o, InitOutcome::Drop(DropReason::SessionCollision));
}

fn loaded() -> Responder {
    Responder::new(ResponderConfig {
        under_load_threshold: 0,
        ..config()
    })
}

#[test]
fn under_load_init_gets_a_cookie_and_mac2_proceeds() {
    let mut i = initiator(RNG_I, &SHARED);
    let mut responder = loaded();
    let init = init_bytes(&i);
    let (o, cookie) = respond(&mut responder, &init, RNG_R, PATH);
    assert_eq!(o, InitOutcome::Cookie { len: COOKIE_LEN });
    assert!(cookie.len() < init.len());
    assert_eq!(responder.half_open_len(), 0);
    assert_eq!(responder.stats().dh_ops, 0);
    i.handle_cookie(&cookie).unwrap();
    let init2 = init_bytes(&i);
    assert_eq!(init[..INIT_LEN - MAC2_LEN], init2[..INIT_LEN - MAC2_LEN]);
    assert_ne!(init2[INIT_LEN - MAC2_LEN..], [0u8; MAC2_LEN]);
    assert_eq!(init2, init_bytes(&i));
    // From another path the cookie is worthless.
    let (o, _) = respond(&mut responder, &init2, RNG_R, b"203.0.113.9:1");
    assert!(matches!(o, InitOutcome::Cookie { .. }));
    // From the right path it proceeds, and the handshake completes.
    let (o, ch) = respond(&mut responder, &init2, RNG_R, PATH);
    assert!(
        matches!(o, InitOutcome::Challenge { resent: false, .. }),
        "{o:?}"
    );
    i.handle_challenge(&ch).unwrap();
    let mut resp = [0u8; 512];
    let n = i.write_response(&mut resp).unwrap();
    assert!(responder.handle_response(T0, &resp[..n]).is_ok());
}

#[test]
fn cookie_expires_after_two_rotations() {
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let mut i = initiator(RNG_I, &SHARED);
    let mut responder = loaded();
    let (_, cookie) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
    i.handle_cookie(&cookie).unwrap();
    let signed = init_bytes(&i);
    // One rotation later the previous secret still verifies.
    let one = T0 + cookie::COOKIE_ROTATION;
    let mut rr = Rng::from_seed([0x70; 32]);
    let mut o1 = [0u8; 1024];
    let id2 = Identity::from_node_seed(&SEED_R).unwrap();
    let mut r1 = responder.clone();
    let o = r1.handle_init(one, &id2, &nk, PATH, &signed, SID_R, &[], &mut rr, &mut o1);
    assert!(matches!(o, InitOutcome::Challenge { .. }), "{o:?}");
    // Two rotations later it does not.
    let mut r2 = responder.clone();
    let _ = r2.handle_init(one, &id2, &nk, b"x", &signed, SID_R, &[], &mut rr, &mut o1);
    let two = one + cookie::COOKIE_ROTATION;
    let o = r2.handle_init(two, &id2, &nk, PATH, &signed, SID_R, &[], &mut rr, &mut o1);
    assert!(matches!(o, InitOutcome::Cookie { .. }), "{o:?}");
}

#[test]
fn forged_cookie_reply_is_ignored() {
    let mut i = initiator(RNG_I, &SHARED);
    let before = init_bytes(&i);
    // A cookie reply sealed under another network's key.
    let mut outsider = loaded();
    let id = Identity::from_node_seed(&SEED_R).unwrap();
    let other = NetworkKey::from_shared_seed(&[0x99; 32]).unwrap();
    let mut out = [0u8; 1024];
    let o = outsider.handle_init(
        T0,
        &id,
        &other,
        PATH,
        &before,
        SID_R,
        &[],
        &mut Rng::from_seed(RNG_R),
        &mut out,
    );
    let InitOutcome::Cookie { len } = o else {
        panic!("{o:?}")
    };
    assert_eq!(i.handle_cookie(&out[..len]), Err(HandshakeError::BadCookie));
    // A genuine reply with one flipped bit.
    let mut responder = loaded();
    let (_, mut cookie) = respond(&mut responder, &before, RNG_R, PATH);
    cookie[HEADER_LEN + 30] ^= 1;
    assert_eq!(i.handle_cookie(&cookie), Err(HandshakeError::BadCookie));
    assert_eq!(init_bytes(&i), before);
}

#[test]
fn malformed_inits_are_dropped() {
    let i = initiator(RNG_I, &SHARED);
    let init = init_bytes(&i);
    let mut responder = Responder::new(config());
    for bad in [&init[..INIT_LEN - 1], &[0u8; INIT_LEN][..], &[][..]] {
        let (o, _) = respond(&mut responder, bad, RNG_R, PATH);
        assert_eq!(o, InitOutcome::Drop(DropReason::Malformed));
    }
    // Header session id differing from the encrypted one.
    let mut swapped = init.clone();
    swapped[3] ^= 1;
    let (o, _) = respond(&mut responder, &swapped, RNG_R, PATH);
    assert_eq!(o, InitOutcome::Drop(DropReason::BadOffer));
    assert_eq!(responder.stats().dh_ops, 0);
}

#[test]
fn aead_negotiation_prefers_aes_only_when_both_list_it() {
    let id_i = Identity::from_node_seed(&SEED_I).unwrap();
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    for (offer, local, want) in [
        (AeadSet::ALL, AeadSet::ALL, crate::crypto::Aead::Aes256Gcm),
        (
            AeadSet::CHACHA,
            AeadSet::ALL,
            crate::crypto::Aead::ChaCha20Poly1305,
        ),
        (
            AeadSet::ALL,
            AeadSet::CHACHA,
            crate::crypto::Aead::ChaCha20Poly1305,
        ),
    ] {
        let mut i = Initiator::new(&id_i, &nk, SID_I, offer, &[], &mut Rng::from_seed(RNG_I))
            .unwrap()
            .with_provider(&RUST_CRYPTO);
        let mut responder = Responder::new(ResponderConfig {
            aeads: local,
            ..config()
        });
        let (_, ch) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
        i.handle_challenge(&ch).unwrap();
        let mut resp = [0u8; 512];
        let n = i.write_response(&mut resp).unwrap();
        let er = responder.handle_response(T0, &resp[..n]).unwrap();
        let ei = i.finish().unwrap();
        assert_eq!((ei.aead, er.aead), (want, want));
    }
}

/// One handshake with the initiator's X25519 on `pi` and the responder's on `pr`; returns
/// the three packets and both sides' results.
fn run_on_backends(
    pi: &'static dyn crate::crypto::CryptoProvider,
    pr: &'static dyn crate::crypto::CryptoProvider,
) -> (Vec<Vec<u8>>, Established, Established) {
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let id_i = Identity::from_node_seed(&SEED_I)
        .unwrap()
        .with_provider(pi)
        .unwrap();
    let id_r = Identity::from_node_seed(&SEED_R)
        .unwrap()
        .with_provider(pr)
        .unwrap();
    let e = initiator::generate_ephemeral(pi, &mut Rng::from_seed(RNG_I)).unwrap();
    assert_eq!(e.backend(), pi.x25519_key(&[1; 32]).unwrap().backend());
    let mut i = Initiator::with_ephemeral(&id_i, &nk, SID_I, AeadSet::CHACHA, PARAMS_I, e)
        .unwrap()
        .with_provider(pi);
    let mut r = Responder::new(ResponderConfig {
        provider: pr,
        ..config()
    });
    let init = init_bytes(&i);
    let mut challenge = vec![0u8; 2048];
    let o = r.handle_init(
        T0,
        &id_r,
        &nk,
        PATH,
        &init,
        SID_R,
        PARAMS_R,
        &mut Rng::from_seed(RNG_R),
        &mut challenge,
    );
    let InitOutcome::Challenge { len, .. } = o else {
        panic!("{o:?}")
    };
    challenge.truncate(len);
    assert_eq!(i.handle_challenge(&challenge).unwrap(), id_r.node_id());
    let mut response = vec![0u8; 512];
    let n = i.write_response(&mut response).unwrap();
    response.truncate(n);
    let er = r.handle_response(T0, &response).unwrap();
    (vec![init, challenge, response], i.finish().unwrap(), er)
}

#[test]
fn x25519_backends_interoperate_byte_for_byte() {
    // Every pairing of backends (dalek ↔ dalek, and dalek ↔ aws-lc both ways where built)
    // completes, and with the same randomness puts the very same bytes on the wire.
    let dalek: &'static dyn crate::crypto::CryptoProvider = &RUST_CRYPTO;
    #[allow(unused_mut)]
    let mut backends = vec![dalek];
    #[cfg(feature = "aws-lc")]
    backends.push(&crate::crypto::AWS_LC);
    let (reference, ref_i, _) = run_on_backends(dalek, dalek);
    for &pi in &backends {
        for &pr in &backends {
            let (packets, ei, mut er) = run_on_backends(pi, pr);
            let pair = alloc::format!("{} → {}", pi.name(), pr.name());
            assert_eq!(packets, reference, "{pair}");
            assert_eq!(ei.handshake_hash, er.handshake_hash, "{pair}");
            assert_eq!(ei.handshake_hash, ref_i.handshake_hash, "{pair}");
            assert_eq!(
                ei.record.send_keys().material().0,
                er.record.recv_keys().material().0,
                "{pair}"
            );
            // And the keys work: a packet sealed by the initiator opens at the responder.
            let mut buf = vec![0u8; 64];
            buf[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(b"data");
            let mut ei = ei;
            let s = ei
                .record
                .seal(PacketType::Data, SID_R, StreamId(4), &mut buf, 4)
                .unwrap();
            let o = er.record.open(T0, &mut buf[..s.len]).unwrap();
            assert_eq!(o.payload, b"data", "{pair}");
        }
    }
}

#[test]
fn a_prepared_responder_ephemeral_serves_one_challenge_only() {
    let mut r = Responder::new(config());
    assert!(!r.has_spare_ephemeral());
    assert!(r.prepare_ephemeral(&mut Rng::from_seed([7; 32])).unwrap());
    // Idempotent until used: no second key is drawn.
    assert!(!r.prepare_ephemeral(&mut Rng::from_seed([8; 32])).unwrap());
    assert!(r.has_spare_ephemeral());
    let expected = initiator::generate_ephemeral(&RUST_CRYPTO, &mut Rng::from_seed([7; 32]))
        .unwrap()
        .public_key();
    // The CHALLENGE carries the prepared key, not one drawn from handle_init's rng.
    let (o, c1) = respond(&mut r, &init_bytes(&initiator(RNG_I, &SHARED)), RNG_R, PATH);
    assert!(matches!(o, InitOutcome::Challenge { resent: false, .. }));
    assert_eq!(&c1[HEADER_LEN..HEADER_LEN + DH_LEN], &expected[..]);
    assert!(!r.has_spare_ephemeral());
    // The next INIT (another initiator) gets a fresh key from the rng: never the spare again.
    let id = Identity::from_node_seed(&SEED_R).unwrap();
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let mut c2 = vec![0u8; 2048];
    let o = r.handle_init(
        T0,
        &id,
        &nk,
        PATH,
        &init_bytes(&initiator([9; 32], &SHARED)),
        SessionId(77),
        PARAMS_R,
        &mut Rng::from_seed(RNG_R),
        &mut c2,
    );
    let InitOutcome::Challenge { resent: false, .. } = o else {
        panic!("{o:?}")
    };
    assert_ne!(
        &c2[HEADER_LEN..HEADER_LEN + DH_LEN],
        &c1[HEADER_LEN..HEADER_LEN + DH_LEN]
    );
    let fresh = initiator::generate_ephemeral(&RUST_CRYPTO, &mut Rng::from_seed(RNG_R))
        .unwrap()
        .public_key();
    assert_eq!(&c2[HEADER_LEN..HEADER_LEN + DH_LEN], &fresh[..]);
}

/// The initiator's accessors: its receive session id, the responders it was pinned to
/// (none unless pinned), and whether a CHALLENGE was accepted. (Mutants: `local_session`,
/// `allow_list` and `is_complete` replaced with constants; the engine reports the pinned
/// ids from `allow_list` when a CHALLENGE comes from another member.)
#[test]
fn initiator_accessors_report_its_state() {
    let mut i = initiator(RNG_I, &SHARED);
    assert_eq!(i.local_session(), SID_I);
    assert!(i.allow_list().is_none());
    assert!(!i.is_complete());
    let mut responder = Responder::new(config());
    let (_, ch) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
    i.handle_challenge(&ch).unwrap();
    assert!(i.is_complete());
    let member = Identity::from_node_seed(&SEED_R).unwrap().node_id();
    let pinned = initiator(RNG_I, &SHARED).with_allow_list(AllowList::new([member]));
    let ids: Vec<NodeId> = pinned.allow_list().unwrap().ids().copied().collect();
    assert_eq!(ids, vec![member]);
}

/// A forced load period ends exactly at its deadline: under load before it, not at it or
/// after. (Mutants: `now < until` in `is_under_load` spelled `==`, `>`, `<=`.)
#[test]
fn a_forced_load_period_ends_at_its_deadline() {
    let mut responder = Responder::new(config());
    assert!(!responder.is_under_load(T0));
    let until = T0 + Duration::from_secs(10);
    responder.set_under_load_until(until);
    assert!(responder.is_under_load(T0));
    assert!(responder.is_under_load(until - Duration::from_micros(1)));
    assert!(!responder.is_under_load(until));
    assert!(!responder.is_under_load(until + Duration::from_secs(5)));
}

/// The responder's counters include the admission stage's: INITs that tripped the load
/// detector, were refused by their source's token bucket, or replayed an ephemeral
/// already used. (Mutants: each of those fields deleted from `Responder::stats`.)
#[test]
fn responder_stats_count_rate_trips_rate_limits_and_replays() {
    let mut responder = Responder::new(ResponderConfig {
        admission: crate::config::AdmissionConfig {
            under_load_init_rate: 1,
            source_rate: 1,
            source_burst: 1,
            ..Default::default()
        },
        ..config()
    });
    // A completed handshake, then its INIT again: a replay.
    let mut i = initiator(RNG_I, &SHARED);
    let init = init_bytes(&i);
    let (_, ch) = respond(&mut responder, &init, RNG_R, PATH);
    i.handle_challenge(&ch).unwrap();
    let mut resp = [0u8; 512];
    let n = i.write_response(&mut resp).unwrap();
    assert!(responder.handle_response(T0, &resp[..n]).is_ok());
    let (o, _) = respond(&mut responder, &init, RNG_R, PATH);
    assert_eq!(o, InitOutcome::Drop(DropReason::Replayed));
    assert_eq!(responder.stats().replayed, 1);
    // A second fresh INIT in the same second passes the rate of 1: the load trips.
    let i2 = initiator([0x66; 32], &SHARED);
    let (o, _) = respond(&mut responder, &init_bytes(&i2), RNG_R, PATH);
    assert!(matches!(o, InitOutcome::Challenge { .. }), "{o:?}");
    assert_eq!(responder.stats().rate_trips, 1);
    // Under load now: each INIT needs a cookie, and past the cookie gate takes a token
    // from its source's bucket (a burst of one). The third initiator's takes it (and then
    // collides with the half-open id the helper always offers); the fourth's finds the
    // bucket empty.
    for (seed, want) in [
        (0x67, DropReason::SessionCollision),
        (0x68, DropReason::RateLimited),
    ] {
        let mut i = initiator([seed; 32], &SHARED);
        let (o, cookie) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
        assert!(matches!(o, InitOutcome::Cookie { .. }), "{o:?}");
        i.handle_cookie(&cookie).unwrap();
        let (o, _) = respond(&mut responder, &init_bytes(&i), RNG_R, PATH);
        assert_eq!(o, InitOutcome::Drop(want));
    }
    assert_eq!(responder.stats().rate_limited, 1);
}

/// INITs, CHALLENGEs and resent CHALLENGEs are counted, and under load the missing and
/// the wrong `mac2` are told apart;
/// the reply buffer may be exactly `MAX_CHALLENGE_LEN` long, one byte less is refused.
/// (Mutants in `handle_init`: the counters' `+=` spelled `*=`, the all-zero test `==`
/// spelled `!=`, the buffer check `<` spelled `==` / `<=`.)
#[test]
fn init_counters_and_the_reply_buffer_bound() {
    let id = Identity::from_node_seed(&SEED_R).unwrap();
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let init = init_bytes(&initiator(RNG_I, &SHARED));
    let mut responder = Responder::new(config());
    let call = |r: &mut Responder, packet: &[u8], out_len: usize| {
        let mut out = vec![0u8; out_len];
        r.handle_init(
            T0,
            &id,
            &nk,
            PATH,
            packet,
            SID_R,
            PARAMS_R,
            &mut Rng::from_seed(RNG_R),
            &mut out,
        )
    };
    assert_eq!(
        call(&mut responder, &init, MAX_CHALLENGE_LEN - 1),
        InitOutcome::Drop(DropReason::Malformed)
    );
    assert!(matches!(
        call(&mut responder, &init, MAX_CHALLENGE_LEN),
        InitOutcome::Challenge { resent: false, .. }
    ));
    assert!(matches!(
        call(&mut responder, &init, MAX_CHALLENGE_LEN),
        InitOutcome::Challenge { resent: true, .. }
    ));
    let s = responder.stats();
    assert_eq!((s.inits, s.challenges, s.challenges_resent), (3, 1, 1));

    let mut responder = loaded();
    assert!(matches!(
        call(&mut responder, &init, MAX_CHALLENGE_LEN),
        InitOutcome::Cookie { .. }
    ));
    let s = responder.stats();
    assert_eq!((s.bad_mac2, s.cookie_required, s.bad_cookie), (1, 1, 0));
    let mut forged = init.clone();
    forged[INIT_LEN - 1] = 0x5a;
    assert!(matches!(
        call(&mut responder, &forged, MAX_CHALLENGE_LEN),
        InitOutcome::Cookie { .. }
    ));
    let s = responder.stats();
    assert_eq!((s.bad_mac2, s.cookie_required, s.bad_cookie), (2, 1, 1));
    assert_eq!(s.inits, 2);
}
