//! Dead-peer detection in the simulator (issue #17 item 5): on fixed seeds, a path cut
//! for good mid-transfer is reported as `PeerUnresponsive` by the sender within
//! `UNRESPONSIVE_FLOOR` + slack of the cut (the 30 s idle timeout is not what ends it),
//! and an 800 ms RTT path with a second-deep queue completes without a false alarm.
//! About 10 s in debug.

use stt_sim::{liveness, run_scenario};

#[test]
fn blackhole_is_noticed_within_the_bound() {
    let mut worst = std::time::Duration::ZERO;
    for seed in 0..8 {
        let r = run_scenario(&liveness::blackhole(seed), seed, None);
        assert!(r.passed(), "{}", r.failure_text());
        match liveness::check_blackhole(seed, &r) {
            Ok(after) => worst = worst.max(after),
            Err(e) => panic!("seed {seed}: {e}"),
        }
    }
    println!("dead peer noticed at most {worst:?} after the cut");
}

#[test]
fn slow_path_does_not_trip_dead_peer_detection() {
    for seed in 0..2 {
        let r = run_scenario(&liveness::slow_path(seed), seed, None);
        assert!(r.passed(), "{}", r.failure_text());
        if let Err(e) = liveness::check_slow_path(&r) {
            panic!("seed {seed}: {e}");
        }
        assert!(r.stream_bytes_read >= (2 * 512 + 256) * 1024);
    }
}
