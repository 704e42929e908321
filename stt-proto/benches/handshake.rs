//! Full handshake cost: initiator + responder CPU for INIT → CHALLENGE → RESPONSE → keys,
//! and its floor, one X25519 agreement and one key generation, per X25519 backend
//! (x25519-dalek always; aws-lc with `--features aws-lc`):
//!
//! ```sh
//! cargo bench -p stt-proto --features aws-lc --bench handshake
//! ```
//!
//! Target: ≥ 2,500 complete handshakes per second on one core (issue #3).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stt_proto::crypto::{AeadSet, CryptoProvider, RUST_CRYPTO};
use stt_proto::frame::SessionId;
use stt_proto::handshake::{
    InitOutcome, Initiator, Responder, ResponderConfig, generate_ephemeral,
};
use stt_proto::{Identity, Instant, NetworkKey, Rng};

/// The providers whose X25519 backends are measured: RustCrypto (x25519-dalek) and,
/// when built, aws-lc.
fn backends() -> Vec<(&'static str, &'static dyn CryptoProvider)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, &'static dyn CryptoProvider)> = vec![("dalek", &RUST_CRYPTO)];
    #[cfg(feature = "aws-lc")]
    v.push(("aws-lc", &stt_proto::crypto::AWS_LC));
    v
}

fn handshake(c: &mut Criterion) {
    let nk = NetworkKey::from_shared_seed(&[3; 32]).unwrap();
    let mut g = c.benchmark_group("handshake");
    g.throughput(Throughput::Elements(1));
    for (name, provider) in backends() {
        let id_i = Identity::from_node_seed(&[1; 32])
            .unwrap()
            .with_provider(provider)
            .unwrap();
        let id_r = Identity::from_node_seed(&[2; 32])
            .unwrap()
            .with_provider(provider)
            .unwrap();
        let mut rng_i = Rng::from_seed([4; 32]);
        let mut rng_r = Rng::from_seed([5; 32]);
        let mut responder = Responder::new(ResponderConfig {
            provider,
            ..ResponderConfig::default()
        });
        let mut sid = 0u64;
        g.bench_function(format!("full_xxpsk0_both_sides/{name}"), |b| {
            b.iter(|| {
                sid += 2;
                let e = generate_ephemeral(provider, &mut rng_i).unwrap();
                let mut i =
                    Initiator::with_ephemeral(&id_i, &nk, SessionId(sid), AeadSet::ALL, b"p", e)
                        .unwrap()
                        .with_provider(provider);
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
    }
    g.finish();
    // The floor: a full handshake needs 2 key generations + 6 agreements (5 of them
    // before the initiator's `connect` completes).
    let mut g = c.benchmark_group("x25519");
    for (name, provider) in backends() {
        let mut rng = Rng::from_seed([9; 32]);
        let key = provider.x25519_key(&rng.array32()).unwrap();
        let peer = provider.x25519_key(&rng.array32()).unwrap().public_key();
        g.bench_function(format!("agree/{name}"), |b| {
            b.iter(|| key.agree(&peer).unwrap())
        });
        g.bench_function(format!("keygen/{name}"), |b| {
            b.iter(|| generate_ephemeral(provider, &mut rng).unwrap().public_key())
        });
    }
    g.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
