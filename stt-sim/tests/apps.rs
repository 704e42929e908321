//! The application-primitives scenario does what it claims: the server's small
//! endpoint queue overflows (so senders wait for room), every routed message is
//! accepted exactly once, and the run passes the oracle of `world/apps.rs`.

use stt_sim::{run_scenario, scenarios};

#[test]
fn apps_scenario_meets_a_full_queue_and_delivers_every_message() {
    for seed in 0..8 {
        let s = scenarios::by_name("apps-loss5", seed).expect("scenario exists");
        let r = run_scenario(&s, seed, None);
        assert!(r.passed(), "{}", r.failure_text());
        let (name, server) = &r.node_stats[0];
        assert_eq!(name, "server");
        assert!(
            server.routes_refused_full > 0,
            "seed {seed}: the queue never filled: {server:?}"
        );
        // Two clients, 20 routes each, at least one successful session per client;
        // the oracle checks that each is received exactly once.
        assert!(server.routes_accepted >= 40, "seed {seed}: {server:?}");
        assert_eq!(server.routes_refused_unknown, 0);
    }
}

/// Duplication and reordering make spurious retransmissions likely: routed messages
/// and custom frames must still arrive exactly once (the oracle fails the run on a
/// duplicate or a loss).
#[test]
fn apps_survive_duplication_reordering_and_loss() {
    use std::time::Duration;
    use stt_sim::{LinkConfig, Loss};
    for seed in 0..20 {
        let mut s = scenarios::by_name("apps-loss5", seed).expect("scenario exists");
        s.default_link = LinkConfig {
            loss: Loss::Random(0.08),
            jitter: Duration::from_millis(6),
            reorder: 0.15,
            reorder_delay: Duration::from_millis(25),
            duplicate: 0.15,
            ..LinkConfig::default()
        };
        let r = run_scenario(&s, seed, None);
        assert!(r.passed(), "{}", r.failure_text());
    }
}
