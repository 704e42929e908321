//! Minimal reproductions of engine bugs the simulator found. Tests for bugs still open
//! on `main` are `#[ignore]`d with the reason; remove the attribute once fixed.

use std::time::Duration;

use stt_sim::scenarios::sim_config;
use stt_sim::{ClientPlan, LinkConfig, Loss, NodeSpec, Scenario, Workload, run_scenario};

/// A client sends two 24 KiB bidirectional streams (and never uses their receive
/// halves); the server reads them to FIN and sends one 16 KiB uni stream back.
fn bidi_scenario(link: LinkConfig) -> Scenario {
    let mut s = Scenario::new("bidi-loss").link_default(link);
    let srv = s.node(NodeSpec::new("server", sim_config()).serve(Workload::streams(1, 16 * 1024)));
    s.node(NodeSpec::new("client", sim_config()).client(ClientPlan::new(
        srv,
        Workload::streams(2, 24 * 1024).bidi(),
    )));
    s
}

#[test]
fn bidi_streams_on_a_clean_link() {
    let r = run_scenario(&bidi_scenario(LinkConfig::default()), 1, None);
    assert!(r.passed(), "{}", r.failure_text());
}

/// Engine bug: a late retransmission of STREAM data for a peer-opened bidirectional
/// stream whose receive half was already read to FIN hits `Streams::on_data`'s
/// `s.recv == None` branch (stt-proto/src/session/streams.rs) and closes the session
/// with STREAM_ID_CONFLICT. The same shape exists in `on_reset_stream`. Late duplicates
/// for a finished receive half must be ignored, as they are for a fully closed stream.
#[test]
#[ignore = "engine bug: late STREAM data on a bidi stream whose recv half is finished -> STREAM_ID_CONFLICT"]
fn late_data_after_fin_on_a_bidi_stream_is_ignored() {
    let link = LinkConfig {
        loss: Loss::Random(0.05),
        ..LinkConfig::default()
    };
    // Seed 19 fails on the first spurious retransmission; check a few more.
    for seed in [19, 26, 33, 73, 76] {
        let r = run_scenario(&bidi_scenario(link.clone()), seed, None);
        assert!(r.passed(), "{}", r.failure_text());
    }
    let reorder = LinkConfig {
        reorder: 0.1,
        reorder_delay: Duration::from_millis(12),
        ..LinkConfig::default()
    };
    let r = run_scenario(&bidi_scenario(reorder), 1, None);
    assert!(r.passed(), "{}", r.failure_text());
}
