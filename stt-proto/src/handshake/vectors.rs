//! Test vectors of PROTOCOL.md §11: fixed seeds and RNG seeds → exact bytes. The doc's
//! fenced blocks must contain every value computed here.

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::tests::*;
use super::*;
use crate::config::PqMode;
use crate::crypto::{Aead, CryptoProvider, RUST_CRYPTO};
use crate::frame::{HEADER_LEN, PacketType, StreamId};
use crate::handshake::initiator::generate_kem_key;
use crate::identity::{Identity, NetworkKey};
use crate::rng::Rng;

const DOC: &str = include_str!("../../../docs/PROTOCOL.md");

fn vectors() -> Vec<(&'static str, String)> {
    let id_i = Identity::from_node_seed(&SEED_I).unwrap();
    let id_r = Identity::from_node_seed(&SEED_R).unwrap();
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let r = run();
    let mut v = vec![
        (
            "initiator static public key",
            hex::encode(id_i.public_key()),
        ),
        ("initiator node_id", id_i.node_id().to_string()),
        (
            "responder static public key",
            hex::encode(id_r.public_key()),
        ),
        ("responder node_id", id_r.node_id().to_string()),
        ("psk", hex::encode(nk.psk())),
        ("cookie key", hex::encode(nk.cookie_key())),
        (
            "responder reset token for SID_R",
            hex::encode(id_r.reset_token(SID_R)),
        ),
        ("INIT", hex::encode(&r.init)),
        ("CHALLENGE", hex::encode(&r.challenge)),
        ("RESPONSE", hex::encode(&r.response)),
        ("handshake hash", hex::encode(r.ei.handshake_hash)),
    ];
    let (s_i2r, k_i2r, iv_i2r) = r.ei.record.send_keys().material();
    let (s_r2i, k_r2i, iv_r2i) = r.ei.record.recv_keys().material();
    v.push(("secret i2r (phase 0)", hex::encode(s_i2r)));
    v.push(("key i2r (phase 0)", hex::encode(k_i2r)));
    v.push(("iv i2r (phase 0)", hex::encode(iv_i2r)));
    v.push(("secret r2i (phase 0)", hex::encode(s_r2i)));
    v.push(("key r2i (phase 0)", hex::encode(k_r2i)));
    v.push(("iv r2i (phase 0)", hex::encode(iv_r2i)));
    let next =
        r.ei.record
            .send_keys()
            .next(&RUST_CRYPTO)
            .unwrap()
            .material();
    v.push(("secret i2r (phase 1)", hex::encode(next.0)));
    // A re-handshake (§6.7) mixed into phase 1: ephemeral secrets 0x11… and 0x22….
    let e_i = RUST_CRYPTO.x25519_key(&[0x11; 32]).unwrap();
    let e_r = RUST_CRYPTO.x25519_key(&[0x22; 32]).unwrap();
    let dh = e_i.agree(&e_r.public_key()).unwrap();
    assert_eq!(dh, e_r.agree(&e_i.public_key()).unwrap());
    let mix = crate::crypto::RekeyMix::new(1, &dh, &e_i.public_key(), &e_r.public_key(), true);
    let mixed = mix
        .next_keys(&RUST_CRYPTO, r.ei.record.send_keys())
        .unwrap()
        .material();
    v.push(("rekey e_I public", hex::encode(e_i.public_key())));
    v.push(("rekey e_R public", hex::encode(e_r.public_key())));
    v.push(("rekey dh", hex::encode(dh)));
    v.push((
        "secret i2r (phase 1, after re-handshake)",
        hex::encode(mixed.0),
    ));
    let mut stream_key = [0u8; 32];
    crate::crypto::hkdf_expand_prk(
        &s_i2r,
        &[b"stt stream", &4u32.to_be_bytes()],
        &mut stream_key,
    );
    v.push(("stream 4 key i2r (phase 0)", hex::encode(stream_key)));

    // A sealed record: initiator → responder, DATA on stream 4, pn 0, "hello, stt".
    let mut ei = r.ei;
    let msg = b"hello, stt";
    let mut buf = vec![0u8; HEADER_LEN + msg.len() + 16];
    buf[HEADER_LEN..HEADER_LEN + msg.len()].copy_from_slice(msg);
    let s = ei
        .record
        .seal(PacketType::Data, SID_R, StreamId(4), &mut buf, msg.len())
        .unwrap();
    v.push(("DATA record", hex::encode(&buf[..s.len])));
    assert_eq!(ei.aead, Aead::ChaCha20Poly1305);

    // A cookie reply: responder under load, path "198.51.100.7:4242", secret and nonce from
    // Rng(RNG_R); then the INIT with mac2.
    let mut i = initiator(RNG_I, &SHARED);
    let mut responder = Responder::new(ResponderConfig {
        under_load_threshold: 0,
        ..config()
    });
    let mut out = [0u8; 1024];
    let o = responder.handle_init(
        crate::Instant(1_000_000),
        &id_r,
        &nk,
        b"198.51.100.7:4242",
        &r.init,
        SID_R,
        PARAMS_R,
        &mut Rng::from_seed(RNG_R),
        &mut out,
    );
    let InitOutcome::Cookie { len } = o else {
        panic!("{o:?}")
    };
    v.push(("COOKIE", hex::encode(&out[..len])));
    i.handle_cookie(&out[..len]).unwrap();
    let mut init2 = [0u8; INIT_LEN];
    i.write_init(&mut init2).unwrap();
    v.push(("INIT with mac2", hex::encode(init2)));
    v.extend(hybrid_vectors());
    v
}

/// §11.6: the hybrid handshake with the same seeds, RNGs, ids and params, both sides in
/// `require`, RustCrypto for everything. Long packets are given as SHA-256 digests.
fn hybrid_vectors() -> Vec<(&'static str, String)> {
    use crate::crypto::AeadSet;
    use crate::handshake::hybrid::FRAG0_LEN;
    let id_i = Identity::from_node_seed(&SEED_I).unwrap();
    let id_r = Identity::from_node_seed(&SEED_R).unwrap();
    let nk = NetworkKey::from_shared_seed(&SHARED).unwrap();
    let sha = |b: &[u8]| hex::encode(crate::hash::sha256(&[b]));
    let mut rng_i = Rng::from_seed(RNG_I);
    let e = generate_ephemeral(&RUST_CRYPTO, &mut rng_i).unwrap();
    let kem = generate_kem_key(&RUST_CRYPTO, &mut rng_i).unwrap();
    let ek_digest = sha(kem.encapsulation_key());
    let mut i = Initiator::with_ephemeral(&id_i, &nk, SID_I, AeadSet::CHACHA, PARAMS_I, e)
        .unwrap()
        .with_provider(&RUST_CRYPTO)
        .with_pq(PqMode::Require, Some(kem))
        .unwrap();
    let mut f0 = [0u8; FRAG0_LEN];
    let mut f1 = [0u8; FRAG0_LEN];
    let n0 = i.write_init_part(0, &mut f0).unwrap();
    let n1 = i.write_init_part(1, &mut f1).unwrap();
    let mut r = Responder::new(ResponderConfig {
        pq: PqMode::Require,
        ..config()
    });
    let mut rng_r = Rng::from_seed(RNG_R);
    let mut out = [0u8; 2 * FRAG0_LEN];
    for f in [&f0[..n0], &f1[..n1]] {
        let o = r.handle_init_fragment(
            crate::Instant(1_000_000),
            &id_r,
            &nk,
            b"198.51.100.7:4242",
            f,
            SID_R,
            PARAMS_R,
            &mut rng_r,
            &mut out,
        );
        if let InitOutcome::HybridChallenge { len0, len1, .. } = o {
            assert!(i.handle_challenge_fragment(&out[..len0]).unwrap().is_none());
            assert!(
                i.handle_challenge_fragment(&out[len0..len0 + len1])
                    .unwrap()
                    .is_some()
            );
        }
    }
    let ch = out;
    let mut response = [0u8; MAX_RESPONSE_LEN];
    let n = i.write_response(&mut response).unwrap();
    let er = r
        .handle_response(crate::Instant(1_000_000), &response[..n])
        .unwrap();
    let ei = i.finish().unwrap();
    assert!(ei.hybrid && er.hybrid);
    assert_eq!(ei.handshake_hash, er.handshake_hash);
    let (s_i2r, _, _) = ei.record.send_keys().material();
    vec![
        ("hybrid key", hex::encode(nk.hybrid_key())),
        ("hybrid ML-KEM ek SHA-256", ek_digest),
        ("hybrid INIT fragment 0 SHA-256", sha(&f0[..n0])),
        ("hybrid INIT fragment 1", hex::encode(&f1[..n1])),
        ("hybrid CHALLENGE fragment 0 SHA-256", sha(&ch[..FRAG0_LEN])),
        ("hybrid RESPONSE", hex::encode(&response[..n])),
        ("hybrid handshake hash", hex::encode(ei.handshake_hash)),
        ("hybrid secret i2r (phase 0)", hex::encode(s_i2r)),
    ]
}

#[test]
fn vectors_match_protocol_doc() {
    for (name, hex) in vectors() {
        assert!(
            DOC.contains(&hex),
            "vector {name} not in docs/PROTOCOL.md: {hex}"
        );
    }
}

/// `cargo test -p stt-proto print_vectors -- --ignored --nocapture` prints the blocks.
#[test]
#[ignore]
fn print_vectors() {
    extern crate std;
    for (name, hex) in vectors() {
        std::println!("{name}:\n```\n{hex}\n```");
    }
}
