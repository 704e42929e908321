//! Where the hybrid handshake's CPU goes (issue 22, row c′): thread CPU time per stage of
//! `Noise_XXhfspsk0_25519+MLKEM768` (both ends, one thread, no sockets), and per ML-KEM-768
//! operation for each backend. Thread CPU time, not wall time: on a shared machine the
//! time this thread was descheduled does not count.
//!
//! ```sh
//! cargo bench -p stt-proto --features aws-lc --bench hybrid
//! ```
//!
//! Prints medians of 7 batches of `ROUNDS` handshakes (or operations).

use std::sync::Arc;
use std::time::Duration;

use stt_proto::crypto::{
    AeadSet, CryptoProvider, KEM_SEED_LEN, Kem, LIBCRUX_KEM, MLKEM768_CT_LEN, RUST_CRYPTO,
    RUST_CRYPTO_KEM,
};
use stt_proto::frame::SessionId;
use stt_proto::handshake::{
    InitOutcome, Initiator, Responder, ResponderConfig, generate_ephemeral, generate_kem_key,
};
use stt_proto::{Identity, Instant, NetworkKey, PqMode, Rng};

const ROUNDS: usize = 200;
const BATCHES: usize = 7;

/// CPU time this thread has used.
fn cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
    // CLOCK_THREAD_CPUTIME_ID is a clock every Linux kernel supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median µs of CPU per call of `f` over `BATCHES` batches of `ROUNDS` calls.
fn per_op(mut f: impl FnMut()) -> f64 {
    f();
    median(
        (0..BATCHES)
            .map(|_| {
                let t = cpu();
                for _ in 0..ROUNDS {
                    f();
                }
                (cpu() - t).as_secs_f64() * 1e6 / ROUNDS as f64
            })
            .collect(),
    )
}

fn providers() -> Vec<(&'static str, &'static dyn CryptoProvider)> {
    #[allow(unused_mut)]
    let mut v: Vec<(&'static str, &'static dyn CryptoProvider)> =
        vec![("rustcrypto", &RUST_CRYPTO)];
    #[cfg(feature = "aws-lc")]
    v.push(("aws-lc", &stt_proto::crypto::AWS_LC));
    v
}

fn kems() -> Vec<&'static dyn Kem> {
    #[allow(unused_mut)]
    let mut v: Vec<&'static dyn Kem> = vec![&RUST_CRYPTO_KEM, &LIBCRUX_KEM];
    #[cfg(feature = "aws-lc")]
    v.push(&stt_proto::crypto::aws_lc::AWS_LC_KEM);
    v
}

fn kem_ops() {
    println!("ML-KEM-768, µs of CPU per operation (median of {BATCHES} × {ROUNDS})");
    println!(
        "{:<12} {:>8} {:>8} {:>8}",
        "backend", "keygen", "encaps", "decaps"
    );
    for kem in kems() {
        let mut rng = Rng::from_seed([1; 32]);
        let keygen = per_op(|| {
            let mut seed = [0u8; KEM_SEED_LEN];
            rng.fill(&mut seed);
            std::hint::black_box(kem.generate(&seed).unwrap());
        });
        let dk = kem.generate(&[7; KEM_SEED_LEN]).unwrap();
        let ek = *dk.encapsulation_key();
        let mut ct = [0u8; MLKEM768_CT_LEN];
        let encaps = per_op(|| {
            std::hint::black_box(kem.encapsulate(&ek, &[3; 32], &mut ct).unwrap());
        });
        let decaps = per_op(|| {
            std::hint::black_box(dk.decapsulate(&ct).unwrap());
        });
        println!(
            "{:<12} {keygen:>8.1} {encaps:>8.1} {decaps:>8.1}",
            kem.name()
        );
    }
}

fn x25519_ops() {
    println!("\nX25519, µs of CPU per operation");
    for (name, provider) in providers() {
        let mut rng = Rng::from_seed([9; 32]);
        let key = provider.x25519_key(&rng.array32()).unwrap();
        let peer = provider.x25519_key(&rng.array32()).unwrap().public_key();
        let agree = per_op(|| {
            std::hint::black_box(key.agree(&peer).unwrap());
        });
        let keygen = per_op(|| {
            std::hint::black_box(generate_ephemeral(provider, &mut rng).unwrap().public_key());
        });
        println!("{name:<12} agree {agree:>6.1}  keygen {keygen:>6.1}");
    }
}

/// Stages of one hybrid handshake, in the order they run.
const STAGES: [&str; 7] = [
    "idle: 2 X25519 + ML-KEM keygen",
    "I: build INIT (2 fragments)",
    "R: INIT frag 0 (MAC, buffer)",
    "R: INIT frag 1 → CHALLENGE",
    "I: CHALLENGE frag 0",
    "I: CHALLENGE frag 1 → RESPONSE",
    "R: RESPONSE → keys",
];

fn handshakes(name: &str, provider: &'static dyn CryptoProvider) {
    let nk = NetworkKey::from_shared_seed(&[3; 32]).unwrap();
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
        pq: PqMode::Require,
        max_half_open: 1 << 20,
        under_load_threshold: usize::MAX,
        ..ResponderConfig::default()
    });
    let mut sid = 0u64;
    let mut batches: Vec<[f64; STAGES.len()]> = Vec::new();
    for batch in 0..=BATCHES {
        let mut acc = [Duration::ZERO; STAGES.len()];
        for _ in 0..ROUNDS {
            sid += 2;
            let mut t = cpu();
            let mut lap = |acc: &mut [Duration; STAGES.len()], i: usize| {
                let now = cpu();
                acc[i] += now - t;
                t = now;
            };
            let e = generate_ephemeral(provider, &mut rng_i).unwrap();
            let kem = generate_kem_key(provider, &mut rng_i).unwrap();
            responder.prepare_ephemeral(&mut rng_r).unwrap();
            lap(&mut acc, 0);
            let i = Initiator::with_ephemeral(&id_i, &nk, SessionId(sid), AeadSet::ALL, b"p", e)
                .unwrap()
                .with_provider(provider);
            let mut i = i.with_pq(PqMode::Require, Some(Arc::clone(&kem))).unwrap();
            let mut f0 = [0u8; 1200];
            let mut f1 = [0u8; 1200];
            let n0 = i.write_init_part(0, &mut f0).unwrap();
            let n1 = i.write_init_part(1, &mut f1).unwrap();
            lap(&mut acc, 1);
            let mut out = [0u8; 2400];
            let mut respond = |r: &mut Responder, pkt: &[u8], out: &mut [u8]| {
                r.handle_init_fragment(
                    Instant::ZERO,
                    &id_r,
                    &nk,
                    b"path",
                    pkt,
                    SessionId(sid + 1),
                    b"p",
                    &mut rng_r,
                    out,
                )
            };
            let o = respond(&mut responder, &f0[..n0], &mut out);
            assert!(matches!(o, InitOutcome::Pending), "{o:?}");
            lap(&mut acc, 2);
            let InitOutcome::HybridChallenge { len0, len1, .. } =
                respond(&mut responder, &f1[..n1], &mut out)
            else {
                panic!("no challenge")
            };
            lap(&mut acc, 3);
            assert!(i.handle_challenge_fragment(&out[..len0]).unwrap().is_none());
            lap(&mut acc, 4);
            i.handle_challenge_fragment(&out[len0..len0 + len1])
                .unwrap()
                .unwrap();
            let mut buf = [0u8; 512];
            let n = i.write_response(&mut buf).unwrap();
            lap(&mut acc, 5);
            let r = responder.handle_response(Instant::ZERO, &buf[..n]).unwrap();
            lap(&mut acc, 6);
            let l = i.finish().unwrap();
            assert_eq!(r.handshake_hash, l.handshake_hash);
        }
        if batch > 0 {
            batches.push(acc.map(|d| d.as_secs_f64() * 1e6 / ROUNDS as f64));
        }
    }
    println!(
        "\nhybrid handshake, provider {name}: µs of CPU per handshake (median of {BATCHES} × {ROUNDS})"
    );
    let mut critical = 0.0;
    let mut total = 0.0;
    for (s, label) in STAGES.iter().enumerate() {
        let m = median(batches.iter().map(|b| b[s]).collect());
        total += m;
        if s > 0 {
            critical += m;
        }
        println!("  {label:<34} {m:>8.1}");
    }
    println!("  {:<34} {critical:>8.1}", "critical path (all but idle)");
    println!("  {:<34} {total:>8.1}", "total");
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is read.
    kem_ops();
    x25519_ops();
    for (name, provider) in providers() {
        handshakes(name, provider);
    }
}
