//! The simulation suite in `cargo test`: every CI scenario over 200 seeds (set
//! `STT_SIM_SEEDS` to change it), and the determinism check. The same suite from the
//! runner: `cargo run -p stt-sim --release -- --scenario all --seeds 200`.

use stt_sim::{run_scenario, scenarios};

fn seeds() -> u64 {
    std::env::var("STT_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200)
}

fn run(name: &str) {
    let mut failures = Vec::new();
    for seed in 0..seeds() {
        let s = scenarios::by_name(name, seed).expect("scenario exists");
        let r = run_scenario(&s, seed, None);
        if !r.passed() {
            failures.push(r.failure_text());
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

macro_rules! scenario_tests {
    ($($(#[$attr:meta])* $test:ident => $name:literal,)*) => {
        $(#[test] $(#[$attr])* fn $test() { run($name); })*

        #[test]
        fn every_ci_scenario_has_a_test() {
            let tested = [$($name),*];
            for name in scenarios::suite() {
                assert!(tested.contains(&name), "scenario {name} has no test");
            }
        }
    };
}

scenario_tests! {
    clean => "clean",
    loss1 => "loss1",
    loss5 => "loss5",
    loss20 => "loss20",
    bursty => "bursty",
    reorder_dup => "reorder-dup",
    corrupt => "corrupt",
    bottleneck => "bottleneck",
    partition_long => "partition-long",
    partition_short => "partition-short",
    nat_rebind => "nat-rebind",
    rebind_loss => "rebind-loss",
    rehandshake_loss => "rehandshake-loss",
    rebind_mix => "rebind-mix",
    many_sessions => "many-sessions",
    non_member => "non-member",
    crash_restart => "crash-restart",
    mixed => "mixed",
    bidi_loss => "bidi-loss",
    apps_loss5 => "apps-loss5",
    adversary_mix => "adversary-mix",
    blackhole => "blackhole",
    slow_path => "slow-path",
}

/// Same seed and scenario: the same trace, byte for byte (compared by hash and by the
/// full JSON-lines text); another seed: another trace.
#[test]
fn same_seed_same_trace() {
    use std::sync::{Arc, Mutex};
    struct Shared(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .map_err(|_| std::io::Error::other("poisoned"))?
                .extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let trace = |seed: u64| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let s = scenarios::by_name("mixed", seed).expect("scenario");
        let r = run_scenario(&s, seed, Some(Box::new(Shared(buf.clone()))));
        let text = buf.lock().expect("lock").clone();
        (r.trace_hash, text)
    };
    let (h1, t1) = trace(7);
    let (h2, t2) = trace(7);
    let (h3, _) = trace(8);
    assert!(t1.len() > 10_000, "trace too short: {} bytes", t1.len());
    assert_eq!(h1, h2);
    assert!(t1 == t2, "traces differ");
    assert_ne!(h1, h3);
    // Hash-only runs (no writer) hash the same lines.
    let s = scenarios::by_name("mixed", 7).expect("scenario");
    assert_eq!(run_scenario(&s, 7, None).trace_hash, h1);
}

/// `rehandshake-loss` really re-handshakes many times during its transfer (its byte-exact
/// delivery is checked by the suite run above).
#[test]
fn rehandshake_loss_runs_many_rehandshakes() {
    for seed in 0..5 {
        let s = scenarios::by_name("rehandshake-loss", seed).expect("scenario exists");
        let r = run_scenario(&s, seed, None);
        assert!(r.passed(), "{}", r.failure_text());
        assert!(
            r.stream_bytes_read >= 2 * 160 * 1024 + 32 * 1024,
            "read {}",
            r.stream_bytes_read
        );
        assert!(r.rekeys >= 20, "seed {seed}: {} re-handshakes", r.rekeys);
    }
}
