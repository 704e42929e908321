//! Scheduled faults: three clients share a server; one client's NAT rebinds, the
//! server crashes and restarts, a stranger without the shared seed knocks on the door.
//! Writes the JSON-lines trace of seed 1 to `nat_and_crash.jsonl`.
//!
//! `cargo run -p stt-sim --example nat_and_crash`

use std::time::Duration;

use stt_sim::scenarios::sim_config;
use stt_sim::{Action, ClientPlan, Expect, NodeSpec, Scenario, Workload, run_scenario};

fn main() -> std::io::Result<()> {
    let mut s = Scenario::new("nat-and-crash");
    let server =
        s.node(NodeSpec::new("server", sim_config()).serve(Workload::streams(1, 32 * 1024)));
    let mut clients = Vec::new();
    for i in 0..3 {
        let plan = ClientPlan::new(server, Workload::streams(2, 64 * 1024))
            .at(Duration::from_millis(10 * i))
            .sessions(2)
            .retry();
        clients.push(s.node(NodeSpec::new(&format!("client{i}"), sim_config()).client(plan)));
    }
    s.node(
        NodeSpec::new("stranger", sim_config())
            .stranger()
            .client(ClientPlan::new(server, Workload::streams(1, 1024)).expect(Expect::Fail)),
    );
    s.at(
        Duration::from_millis(60),
        Action::Rebind {
            node: clients[0],
            old_still_reaches: false,
        },
    );
    s.at(Duration::from_millis(400), Action::Crash(server));
    s.at(Duration::from_millis(700), Action::Restart(server));

    let file = std::fs::File::create("nat_and_crash.jsonl")?;
    let r = run_scenario(&s, 1, Some(Box::new(std::io::BufWriter::new(file))));
    println!(
        "{}: {} sessions ok, {} failed, {} trace lines -> nat_and_crash.jsonl",
        if r.passed() { "pass" } else { "FAIL" },
        r.sessions_succeeded,
        r.sessions_failed,
        r.trace_lines
    );
    for (name, stats) in &r.node_stats {
        println!(
            "  {name}: accepted {} connected {} dropped(handshake) {} dropped(unknown session) {}",
            stats.sessions_accepted,
            stats.sessions_connected,
            stats.dropped_handshake,
            stats.dropped_unknown_session
        );
    }
    if !r.passed() {
        println!("{}", r.failure_text());
    }
    Ok(())
}
