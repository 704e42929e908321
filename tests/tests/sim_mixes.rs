//! Generated fault mixes in the simulator (stt-sim's `rebind-mix`): each seed draws NAT
//! rebindings (how many, which node, when) combined with random loss, burst loss,
//! corruption, reordering, duplication, jitter and a partition, per link direction.
//! Every run must deliver all stream data byte-exact both ways, keep every established
//! session alive to the end and leave each side sending to the other's current
//! address, validated — unless the mix drew a partition longer than the idle timeout.
//! A failing seed prints its drawn mix and the one command that replays it with its
//! trace.
//!
//! Seeds: `STT_MIX_SEEDS` (default 1000) from `STT_MIX_FIRST_SEED` (default 0). By
//! hand: `STT_MIX_SEEDS=20000 cargo test --release -p stt-tests --test sim_mixes --
//! --nocapture`, or `cargo run -p stt-sim --release -- --scenario rebind-mix --seeds N`.

use std::time::Instant;

use stt_proto::error::SessionError;
use stt_sim::{adversary, mixes, run_scenario};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn generated_rebinding_mixes_survive() {
    let first = env("STT_MIX_FIRST_SEED", 0);
    let seeds = env("STT_MIX_SEEDS", 1000);
    let started = Instant::now();
    let (mut rebinds, mut partitions, mut bytes, mut checked) = (0, 0, 0, 0);
    let mut failures = Vec::new();
    for seed in first..first + seeds {
        let mix = mixes::draw(seed);
        rebinds += mix.rebinds.len();
        partitions += usize::from(mix.partition.is_some());
        checked += usize::from(!mix.may_end_sessions());
        let r = run_scenario(&mixes::scenario(&mix), seed, None);
        bytes += r.stream_bytes_read;
        if !r.passed() {
            failures.push(format!("{}\n  mix: {mix:?}", r.failure_text()));
        }
    }
    println!(
        "{seeds} mixes in {:.1}s: {rebinds} rebindings, {partitions} partitions, \
         {checked} runs with the path check, {bytes} stream bytes read and checked",
        started.elapsed().as_secs_f64()
    );
    assert!(
        bytes > 0 && rebinds as u64 >= seeds,
        "the mixes exercised nothing"
    );
    assert!(
        failures.is_empty(),
        "{} of {seeds} mixes failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Generated adversarial runs (`adversary-mix`): a member client breaks a stream or
/// session window or the stream limit under genuine keys, or moves and answers its
/// peer's path challenge with wrong data while its own packets are suppressed, while an
/// honest client moves 512 KiB through 64 KiB windows over drawn loss and jitter. Every
/// run must pass (the world checks the attacked session closed with the attack's code,
/// or was not fooled by the wrong answer; every receiver's flow-control counters after
/// every step; the honest client completed) and a limit attack must show the refusal. Seeds: `STT_ADVERSARY_SEEDS` (default
/// 60, about 10 s in debug).
#[test]
fn generated_adversaries_are_refused_and_honest_peers_complete() {
    let seeds = env("STT_ADVERSARY_SEEDS", 60);
    let mut failures = Vec::new();
    let (mut refused, mut limit_attacks, mut wrong_answers) = (0, 0, 0);
    for seed in 0..seeds {
        if adversary::attack_of(seed).expected_code().is_some() {
            limit_attacks += 1;
        } else {
            wrong_answers += 1;
        }
        let r = run_scenario(&adversary::generated(seed), seed, None);
        if !r.passed() {
            failures.push(r.failure_text());
        }
        refused += r
            .session_ends
            .iter()
            .filter(|e| matches!(e.reason, SessionError::ProtocolViolation(_)))
            .count();
        assert!(
            r.stream_bytes_read >= 512 << 10,
            "seed {seed}: the honest transfer did not complete"
        );
    }
    // A limit attack is refused (the session closes); a wrong answer to a path
    // challenge is ignored (the world checks the address was not validated before a
    // genuine round trip, and was validated after it).
    assert_eq!(
        refused, limit_attacks,
        "one refused attack per limit attack"
    );
    assert!(
        limit_attacks > 0 && wrong_answers > 0,
        "the seeds drew every kind of attack"
    );
    assert!(
        failures.is_empty(),
        "{} of {seeds} adversary mixes failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
