//! Record-layer tests: KATs through the provider traits, seal/open, tampering, replay,
//! key update, per-stream keys, packet-number recovery and usage limits.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use proptest::prelude::*;

use super::record::{MAX_PN, decode_pn};
use super::*;
use crate::Instant;
use crate::frame::{HEADER_LEN, PacketType, SessionId, StreamId};

fn providers() -> Vec<&'static dyn CryptoProvider> {
    #[allow(unused_mut)]
    let mut v: Vec<&'static dyn CryptoProvider> = vec![&RUST_CRYPTO];
    #[cfg(feature = "ring")]
    v.push(&RING);
    #[cfg(feature = "aws-lc")]
    v.push(&AWS_LC);
    v
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

#[test]
fn rfc8439_aead_kat_through_packet_key() {
    // RFC 8439 §2.8.2.
    let key: [u8; 32] = h("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
        .try_into()
        .unwrap();
    let nonce: [u8; 12] = h("070000004041424344454647").try_into().unwrap();
    let ad = h("50515253c0c1c2c3c4c5c6c7");
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.";
    let ct = h(
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116",
    );
    let tag = h("1ae10b594f09e26a7e902ecbd0600691");
    for p in providers() {
        let k = p.packet_key(Aead::ChaCha20Poly1305, &key).unwrap();
        let mut buf = pt.to_vec();
        let t = k.seal_in_place(&nonce, &ad, &mut buf).unwrap();
        assert_eq!(buf, ct, "{}", p.name());
        assert_eq!(t[..], tag[..]);
        k.open_in_place(&nonce, &ad, &mut buf, &t).unwrap();
        assert_eq!(&buf[..], &pt[..]);
        let mut bad = t;
        bad[0] ^= 1;
        assert_eq!(
            k.open_in_place(&nonce, &ad, &mut buf, &bad),
            Err(CryptoError::Auth)
        );
    }
}

#[test]
fn aes_gcm_providers_agree() {
    // AES-256-GCM: both providers produce the same bytes for the same inputs, and the
    // all-zero-key empty-message tag matches the published GCM test case 13.
    let zero = [0u8; 32];
    for p in providers() {
        let k = p.packet_key(Aead::Aes256Gcm, &zero).unwrap();
        let t = k.seal_in_place(&[0; 12], &[], &mut []).unwrap();
        assert_eq!(
            hex::encode(t),
            "530f8afbc74536b9a963b4f1c4cb738b",
            "{}",
            p.name()
        );
    }
    let key = [7u8; 32];
    let mut outs = Vec::new();
    for p in providers() {
        let k = p.packet_key(Aead::Aes256Gcm, &key).unwrap();
        let mut buf = vec![0x5a; 1400];
        let t = k.seal_in_place(&[1; 12], b"header", &mut buf).unwrap();
        outs.push((buf.clone(), t));
        k.open_in_place(&[1; 12], b"header", &mut buf, &t).unwrap();
        assert_eq!(buf, vec![0x5a; 1400]);
    }
    assert!(outs.windows(2).all(|w| w[0] == w[1]));
}

fn key32(s: &str) -> [u8; 32] {
    h(s).try_into().unwrap()
}

#[test]
fn rfc7748_x25519_kat_on_every_backend() {
    // RFC 7748 §6.1: both public keys and the shared secret, through each provider's
    // X25519 backend and the handshake's DH helper.
    let a = key32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let b = key32("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let a_pub = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    let b_pub = key32("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    for p in providers() {
        let ka = p.x25519_key(&a).unwrap();
        let kb = p.x25519_key(&b).unwrap();
        assert_eq!(hex::encode(ka.public_key()), a_pub, "{}", p.name());
        assert_eq!(kb.public_key(), b_pub, "{}", p.name());
        let s = crate::handshake::noise::dh(&*ka, &b_pub).unwrap();
        assert_eq!(hex::encode(s), shared, "{}", p.name());
        // A prepared key is reusable: the same agreement twice, and the other way round.
        assert_eq!(
            hex::encode(ka.agree(&b_pub).unwrap()),
            shared,
            "{}",
            p.name()
        );
        assert_eq!(kb.agree(&ka.public_key()).unwrap(), s, "{}", p.name());
    }
}

#[test]
fn low_order_points_are_refused_on_every_backend() {
    // Points of small order (RFC 7748 §6.1's check; list as in libsodium's blocklist):
    // each gives the all-zero shared secret, which every backend must refuse.
    let low_order = [
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0100000000000000000000000000000000000000000000000000000000000000",
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
        "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    let a = key32("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    for p in providers() {
        let k = p.x25519_key(&a).unwrap();
        for point in low_order {
            assert_eq!(
                k.agree(&key32(point)),
                Err(DhError::NonContributory),
                "{} accepted {point}",
                p.name()
            );
            assert_eq!(
                crate::handshake::noise::dh(&*k, &key32(point)),
                Err(crate::handshake::HandshakeError::LowOrderPoint)
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every backend computes the same X25519: public keys and shared secrets agree
    /// whichever backend each side uses (the handshake's interoperability rests on it).
    #[test]
    fn x25519_backends_agree(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let ps = providers();
        let reference_a = ps[0].x25519_key(&a).unwrap();
        let reference_b = ps[0].x25519_key(&b).unwrap();
        let shared = reference_a.agree(&reference_b.public_key()).ok();
        for p in &ps {
            let ka = p.x25519_key(&a).unwrap();
            let kb = p.x25519_key(&b).unwrap();
            prop_assert_eq!(ka.public_key(), reference_a.public_key());
            prop_assert_eq!(ka.agree(&reference_b.public_key()).ok(), shared);
            prop_assert_eq!(kb.agree(&reference_a.public_key()).ok(), shared);
        }
    }
}

#[test]
fn rfc5869_hkdf_kat() {
    // RFC 5869 A.1, through the crate's HKDF helper.
    let ikm = [0x0bu8; 22];
    let salt = h("000102030405060708090a0b0c");
    let info = h("f0f1f2f3f4f5f6f7f8f9");
    let mut okm = [0u8; 42];
    crate::rng::hkdf_expand(&salt, &ikm, &info, &mut okm);
    assert_eq!(
        hex::encode(okm),
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    );
}

pub(crate) fn pair_with(
    provider: &'static dyn CryptoProvider,
    aead: Aead,
) -> (PacketProtection, PacketProtection) {
    let a = [1u8; 32];
    let b = [2u8; 32];
    (
        PacketProtection::from_secrets(provider, aead, &a, &b, true).unwrap(),
        PacketProtection::from_secrets(provider, aead, &b, &a, true).unwrap(),
    )
}

pub(super) fn pair() -> (PacketProtection, PacketProtection) {
    pair_with(&RUST_CRYPTO, Aead::ChaCha20Poly1305)
}

pub(super) const T: Instant = Instant(5_000_000);
const SID: SessionId = SessionId(0xfeed);

pub(super) fn seal(p: &mut PacketProtection, stream: u32, msg: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; HEADER_LEN + msg.len() + TAG_LEN];
    buf[HEADER_LEN..HEADER_LEN + msg.len()].copy_from_slice(msg);
    let s = p
        .seal(PacketType::Data, SID, StreamId(stream), &mut buf, msg.len())
        .unwrap();
    assert_eq!(s.len, buf.len());
    buf
}

pub(super) fn open(
    p: &mut PacketProtection,
    now: Instant,
    pkt: &[u8],
) -> Result<(u64, Vec<u8>), RecordError> {
    let mut b = pkt.to_vec();
    p.open(now, &mut b).map(|o| (o.pn, o.payload.to_vec()))
}

#[test]
fn seal_open_roundtrip_all_providers() {
    for prov in providers() {
        for aead in [Aead::ChaCha20Poly1305, Aead::Aes256Gcm] {
            let (mut a, mut b) = pair_with(prov, aead);
            for i in 0..5u8 {
                let pkt = seal(&mut a, 4, &[i; 100]);
                assert_eq!(open(&mut b, T, &pkt).unwrap(), (u64::from(i), vec![i; 100]));
            }
            assert_eq!(a.packets_sent(), 5);
            assert_eq!(b.largest_received(), Some(4));
        }
    }
}

#[test]
fn providers_interoperate() {
    #[cfg(feature = "ring")]
    for aead in [Aead::ChaCha20Poly1305, Aead::Aes256Gcm] {
        let (mut a, _) = pair_with(&RUST_CRYPTO, aead);
        let (_, mut b) = pair_with(&RING, aead);
        let pkt = seal(&mut a, 8, b"across providers");
        assert_eq!(open(&mut b, T, &pkt).unwrap().1, b"across providers");
    }
}

#[test]
fn every_header_byte_is_authenticated() {
    let (mut a, mut b) = pair();
    let pkt = seal(&mut a, 4, b"payload");
    for i in 0..HEADER_LEN {
        for bit in [0x01u8, 0x40, 0x80] {
            let mut bad = pkt.clone();
            bad[i] ^= bit;
            assert!(open(&mut b, T, &bad).is_err(), "byte {i} bit {bit:#x}");
        }
    }
    for i in HEADER_LEN..pkt.len() {
        let mut bad = pkt.clone();
        bad[i] ^= 0x10;
        assert_eq!(open(&mut b, T, &bad), Err(RecordError::Forged));
    }
    assert!(open(&mut b, T, &pkt[..pkt.len() - 1]).is_err());
    assert!(open(&mut b, T, &pkt[..HEADER_LEN + TAG_LEN - 1]).is_err());
    // None of it moved the window: the genuine packet still opens.
    assert_eq!(b.largest_received(), None);
    assert!(open(&mut b, T, &pkt).is_ok());
}

#[test]
fn replays_are_dropped_before_any_state_change() {
    let (mut a, mut b) = pair();
    let p0 = seal(&mut a, 0, b"zero");
    let p1 = seal(&mut a, 0, b"one");
    assert!(open(&mut b, T, &p1).is_ok());
    assert_eq!(open(&mut b, T, &p1), Err(RecordError::Replayed(1)));
    assert!(open(&mut b, T, &p0).is_ok());
    assert_eq!(open(&mut b, T, &p0), Err(RecordError::Replayed(0)));
    assert_eq!(b.failed_opens(), 0);
}

#[test]
fn forged_high_pn_does_not_blind_the_window() {
    let (mut a, mut b) = pair();
    let pkts: Vec<_> = (0..6).map(|_| seal(&mut a, 0, b"x")).collect();
    let mut forged = pkts[0].clone();
    forged[15..19].copy_from_slice(&(1u32 << 31).to_be_bytes());
    assert_eq!(open(&mut b, T, &forged), Err(RecordError::Forged));
    assert_eq!(open(&mut b, T, &pkts[5]).unwrap().0, 5);
    assert_eq!(open(&mut b, T, &pkts[2]).unwrap().0, 2);
}

#[test]
fn too_old_packets_are_dropped() {
    let (mut a, mut b) = pair();
    let first = seal(&mut a, 0, b"old");
    let mut last = Vec::new();
    for _ in 0..3000 {
        last = seal(&mut a, 0, b"new");
    }
    assert!(open(&mut b, T, &last).is_ok());
    assert_eq!(open(&mut b, T, &first), Err(RecordError::TooOld(0)));
}

#[test]
fn per_stream_keys_differ_and_stream_zero_is_the_session_key() {
    let (mut a, _) = pair();
    let prov: &dyn CryptoProvider = &RUST_CRYPTO;
    let mut k = DirectionKeys::new(prov, Aead::ChaCha20Poly1305, &[1; 32]).unwrap();
    let nonce = [0u8; 12];
    let mut c0 = [0u8; 16];
    let t0 = k
        .key_for(prov, StreamId(0))
        .unwrap()
        .seal_in_place(&nonce, b"", &mut c0)
        .unwrap();
    let mut c4 = [0u8; 16];
    let t4 = k
        .key_for(prov, StreamId(4))
        .unwrap()
        .seal_in_place(&nonce, b"", &mut c4)
        .unwrap();
    let mut c8 = [0u8; 16];
    let t8 = k
        .key_for(prov, StreamId(8))
        .unwrap()
        .seal_in_place(&nonce, b"", &mut c8)
        .unwrap();
    assert!(c0 != c4 && c4 != c8 && c0 != c8);
    assert!(t0 != t4 && t4 != t8);
    // Stream 0's key is the session key ("stt key").
    let (_, session_key, _) = k.material();
    let direct = prov
        .packet_key(Aead::ChaCha20Poly1305, &session_key)
        .unwrap();
    let mut d = [0u8; 16];
    assert_eq!(direct.seal_in_place(&nonce, b"", &mut d).unwrap(), t0);
    assert_eq!(d, c0);
    // The cache is bounded and most-recent first.
    for s in 1..=20u32 {
        k.key_for(prov, StreamId(s * 4)).unwrap();
    }
    assert_eq!(k.cached_streams().count(), STREAM_KEY_CACHE);
    assert_eq!(k.cached_streams().next(), Some(StreamId(80)));
    // A packet for stream 4 does not open if relabelled as stream 8 (AD and key differ).
    let (_, mut b) = pair();
    let mut pkt = seal(&mut a, 4, b"s4");
    pkt[11..15].copy_from_slice(&8u32.to_be_bytes());
    assert_eq!(open(&mut b, T, &pkt), Err(RecordError::Forged));
}

#[test]
fn key_update_both_directions_with_reordering() {
    let (mut a, mut b) = pair();
    assert_eq!(a.initiate_key_update(), Err(RecordError::KeyUpdateBlocked));
    // Exchange one packet each way and acknowledge, so an update is allowed.
    let p = seal(&mut a, 0, b"a0");
    open(&mut b, T, &p).unwrap();
    a.on_packet_acked(0);
    b.set_old_key_retention(Duration::from_millis(300));
    a.initiate_key_update().unwrap();
    assert_eq!(a.initiate_key_update(), Err(RecordError::KeyUpdateBlocked));
    assert_eq!(a.send_generation(), 1);
    // A packet b sends before it learns of the update: it reaches a late, in the old phase.
    let late_old = seal(&mut b, 0, b"b-old");
    let new1 = seal(&mut a, 0, b"a1-new");
    let new2 = seal(&mut a, 0, b"a2-new");
    assert_eq!(new1[19] & 0x40, 0x40);
    // b sees the new phase: rotates receive keys and answers with its own update.
    let mut buf = new2.clone();
    let o = b.open(T, &mut buf).unwrap();
    assert!(o.key_updated);
    assert_eq!((b.recv_generation(), b.send_generation()), (1, 1));
    // The reordered earlier new-phase packet still opens.
    assert_eq!(open(&mut b, T, &new1).unwrap().1, b"a1-new");
    // a receives b's old-phase packet (sent before b updated) and b's new-phase reply.
    let reply = seal(&mut b, 0, b"b-new");
    assert_eq!(reply[19] & 0x40, 0x40);
    assert_eq!(open(&mut a, T, &reply).unwrap().1, b"b-new");
    assert_eq!(a.recv_generation(), 1);
    assert_eq!(open(&mut a, T, &late_old).unwrap().1, b"b-old");
    assert!(a.has_old_keys());
    // At b: an old-phase packet from a, within retention, is accepted...
    let (mut a2, mut b2) = pair();
    let p0 = seal(&mut a2, 0, b"p0");
    let p1 = seal(&mut a2, 0, b"p1");
    open(&mut b2, T, &p0).unwrap();
    a2.on_packet_acked(0);
    a2.initiate_key_update().unwrap();
    let p2 = seal(&mut a2, 0, b"p2");
    let p3 = seal(&mut a2, 0, b"p3");
    b2.set_old_key_retention(Duration::from_millis(300));
    open(&mut b2, T, &p2).unwrap();
    assert_eq!(b2.poll_timeout(), Some(T + Duration::from_millis(300)));
    assert_eq!(open(&mut b2, T, &p1).unwrap().1, b"p1");
    // ...and after retention the old keys are gone (zeroized on drop).
    b2.handle_timeout(T + Duration::from_millis(300));
    assert!(!b2.has_old_keys());
    assert_eq!(open(&mut b2, T, &p3).unwrap().1, b"p3");
    assert_eq!(open(&mut b2, T, &p1), Err(RecordError::Replayed(1)));
}

#[test]
fn old_phase_packet_after_retention_is_refused() {
    let (mut a, mut b) = pair();
    let p0 = seal(&mut a, 0, b"p0");
    let p1 = seal(&mut a, 0, b"p1"); // old phase, delivered late
    open(&mut b, T, &p0).unwrap();
    a.on_packet_acked(0);
    a.initiate_key_update().unwrap();
    let p2 = seal(&mut a, 0, b"p2");
    b.set_old_key_retention(Duration::from_millis(10));
    open(&mut b, T, &p2).unwrap();
    b.handle_timeout(T + Duration::from_millis(10));
    assert_eq!(open(&mut b, T, &p1), Err(RecordError::KeyDiscarded));
    assert_eq!(b.failed_opens(), 0);
}

#[test]
fn packet_numbers_increase_across_updates_and_updates_happen_at_the_threshold() {
    let (mut a, mut b) = pair();
    a.set_limits(RecordLimits {
        update_threshold: 3,
        ..RecordLimits::for_aead(Aead::ChaCha20Poly1305)
    });
    let mut last = None;
    for i in 0..20u64 {
        let p = seal(&mut a, 0, b"x");
        let (pn, _) = open(&mut b, T, &p).unwrap();
        assert_eq!(pn, i);
        assert!(last.is_none_or(|l| pn > l));
        last = Some(pn);
        a.on_packet_acked(pn);
        // b replies so a sees b's phase follow.
        let r = seal(&mut b, 0, b"ack");
        open(&mut a, T, &r).unwrap();
    }
    assert!(a.send_generation() >= 5, "{}", a.send_generation());
    assert_eq!(b.recv_generation(), a.send_generation());
}

#[test]
fn usage_limits_are_typed_errors() {
    let (mut a, mut b) = pair();
    a.set_limits(RecordLimits {
        confidentiality: 2,
        ..RecordLimits::for_aead(Aead::Aes256Gcm)
    });
    seal(&mut a, 0, b"1");
    seal(&mut a, 0, b"2");
    let mut buf = [0u8; 64];
    assert_eq!(
        a.seal(PacketType::Data, SID, StreamId(0), &mut buf, 1),
        Err(RecordError::KeyLimit)
    );
    let (mut a, _) = pair();
    a.set_limits(RecordLimits {
        max_pn: 1,
        ..a.limits()
    });
    seal(&mut a, 0, b"1");
    assert_eq!(
        a.seal(PacketType::Data, SID, StreamId(0), &mut buf, 1),
        Err(RecordError::Exhausted)
    );
    assert_eq!(
        RecordLimits::for_aead(Aead::ChaCha20Poly1305).max_pn,
        MAX_PN
    );
    b.set_limits(RecordLimits {
        integrity: 3,
        ..b.limits()
    });
    let (mut c, _) = pair();
    let mut p = seal(&mut c, 0, b"x");
    p[25] ^= 1;
    assert_eq!(open(&mut b, T, &p), Err(RecordError::Forged));
    assert_eq!(open(&mut b, T, &p), Err(RecordError::Forged));
    assert_eq!(open(&mut b, T, &p), Err(RecordError::IntegrityLimit));
    assert_eq!(
        a.seal(PacketType::Init, SID, StreamId(0), &mut buf, 1),
        Err(RecordError::NotProtected(PacketType::Init))
    );
}

proptest! {
    #[test]
    fn pn_recovery(largest in 0u64..(1 << 61), delta in -(1i64 << 31) + 1..(1i64 << 31)) {
        let pn = largest as i64 + 1 + delta;
        prop_assume!(pn >= 0);
        let pn = pn as u64;
        prop_assert_eq!(decode_pn(Some(largest), pn as u32), pn);
    }

    #[test]
    fn pn_recovery_from_nothing(pn in 0u64..(1 << 31)) {
        prop_assert_eq!(decode_pn(None, pn as u32), pn);
    }
}

proptest! {
    /// The nonce of packet `pn` is `iv ⊕ (0³² ‖ u64be(pn))` (PROTOCOL.md §6.2), whatever
    /// the word-wise way it is computed.
    #[test]
    fn nonce_is_iv_xor_packet_number(secret in any::<[u8; 32]>(), pn in any::<u64>()) {
        let k = DirectionKeys::new(&RUST_CRYPTO, Aead::ChaCha20Poly1305, &secret).unwrap();
        let (_, _, iv) = k.material();
        let mut want = iv;
        for (b, p) in want[4..].iter_mut().zip(pn.to_be_bytes()) {
            *b ^= p;
        }
        prop_assert_eq!(k.nonce(pn), want);
    }
}
