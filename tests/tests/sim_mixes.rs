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

use stt_sim::{mixes, run_scenario};

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
