//! Full handshake cost: initiator + responder CPU for INIT → CHALLENGE → RESPONSE → keys.
//! Target: ≥ 2,500 complete handshakes per second on one core (issue #3).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stt_proto::crypto::{AeadSet, RUST_CRYPTO};
use stt_proto::frame::SessionId;
use stt_proto::handshake::{InitOutcome, Initiator, Responder, ResponderConfig};
use stt_proto::{Identity, Instant, NetworkKey, Rng};

fn handshake(c: &mut Criterion) {
    let id_i = Identity::from_node_seed(&[1; 32]).unwrap();
    let id_r = Identity::from_node_seed(&[2; 32]).unwrap();
    let nk = NetworkKey::from_shared_seed(&[3; 32]).unwrap();
    let mut rng_i = Rng::from_seed([4; 32]);
    let mut rng_r = Rng::from_seed([5; 32]);
    let mut responder = Responder::new(ResponderConfig {
        provider: &RUST_CRYPTO,
        ..ResponderConfig::default()
    });
    let mut sid = 0u64;
    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    g.bench_function("full_xxpsk0_both_sides", |b| {
        b.iter(|| {
            sid += 2;
            let mut i =
                Initiator::new(&id_i, &nk, SessionId(sid), AeadSet::ALL, b"p", &mut rng_i).unwrap();
            let mut buf = [0u8; 512];
            let n = i.write_init(&mut buf).unwrap();
            let mut out = [0u8; 512];
            let InitOutcome::Challenge { len, .. } = responder.handle_init(
                Instant::ZERO,
                &id_r,
                &nk,
                b"path",
                &buf[..n],
                SessionId(sid + 1),
                b"p",
                &mut rng_r,
                &mut out,
            ) else {
                panic!("no challenge")
            };
            i.handle_challenge(&out[..len]).unwrap();
            let n = i.write_response(&mut buf).unwrap();
            let r = responder.handle_response(Instant::ZERO, &buf[..n]).unwrap();
            let l = i.finish().unwrap();
            assert_eq!(r.handshake_hash, l.handshake_hash);
        })
    });
    g.finish();
    // The floor: one X25519 operation (a full handshake needs 2 key generations + 6 DH).
    let mut g = c.benchmark_group("x25519");
    let mut rng = Rng::from_seed([9; 32]);
    let secret = x25519_dalek::StaticSecret::from(rng.array32());
    let public = x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(rng.array32()));
    g.bench_function("dh", |b| b.iter(|| secret.diffie_hellman(&public)));
    g.bench_function("keygen", |b| {
        b.iter(|| x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(rng.array32())))
    });
    g.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
