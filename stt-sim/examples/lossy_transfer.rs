//! A user's first simulation: one server, one client, a lossy jittery link, a mid-run
//! partition; run a few seeds and print what happened.
//!
//! `cargo run -p stt-sim --example lossy_transfer`

use std::time::Duration;

use stt_sim::scenarios::sim_config;
use stt_sim::{Action, ClientPlan, LinkConfig, Loss, NodeSpec, Scenario, Workload, run_scenario};

fn main() {
    let mut s = Scenario::new("lossy-transfer").link_default(LinkConfig {
        loss: Loss::Random(0.03),
        delay: Duration::from_millis(25),
        jitter: Duration::from_millis(5),
        bandwidth_bps: Some(10_000_000),
        queue_bytes: 64_000,
        ..LinkConfig::default()
    });
    let server = s.node(NodeSpec::new("server", sim_config()).serve(Workload::none()));
    let client = s.node(
        NodeSpec::new("client", sim_config()).client(
            ClientPlan::new(
                server,
                Workload::streams(4, 256 * 1024).with_datagrams(50, 500, Duration::from_millis(20)),
            )
            .retry(),
        ),
    );
    s.at(
        Duration::from_millis(300),
        Action::Partition(server, client),
    );
    s.at(Duration::from_millis(900), Action::Heal(server, client));

    for seed in 0..5 {
        let r = run_scenario(&s, seed, None);
        println!(
            "seed {seed}: {} | {} of {} bytes in {:.2}s virtual | goodput {:.2} Mb/s | rtx {:.1}% | drops {:?}",
            if r.passed() { "pass" } else { "FAIL" },
            r.stream_bytes_read,
            r.stream_bytes_written,
            r.transfer_time.unwrap_or_default().as_secs_f64(),
            r.goodput_bps().unwrap_or(0.0) / 1e6,
            r.retransmit_ratio() * 100.0,
            r.drops,
        );
        if !r.passed() {
            println!("{}", r.failure_text());
        }
    }
}
