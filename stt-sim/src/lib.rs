//! # stt-sim: deterministic network simulation for STT
//!
//! `stt-sim` drives real [`stt_proto::Node`]s over a simulated network with a virtual
//! clock. One `u64` seed decides every random choice of a run (link faults, node RNGs,
//! identities), so the same seed and scenario give the same event trace, byte for byte.
//! It depends on `stt-proto` alone: no async runtime, no wall clock, no OS randomness.
//!
//! A [`Scenario`] describes nodes, per-direction links ([`LinkConfig`]: loss, bursty
//! loss, delay + jitter, reordering, duplication, corruption, bandwidth + queue, MTU),
//! application drivers ([`ClientPlan`], [`Workload`]) and scheduled faults ([`Action`]:
//! partitions, link changes, NAT rebinding, crash/restart). [`run_scenario`] executes it
//! and checks the invariants of [`Violation`] on every event: exact in-order delivery
//! or an error on both sides, no data from non-members, no plaintext on the wire,
//! bounded memory, no panic. [`mixes`] draws whole fault mixes (NAT rebindings with
//! loss, bursts, corruption, reordering, duplication and partitions) from the seed
//! (scenario `rebind-mix`) and checks, at the end, that every session is alive and on
//! its peer's current, validated address. [`adversary`] adds a member peer that breaks
//! its peer's flow-control or stream limits under genuine keys (`adversary-mix`: the
//! honest side must close with the right code), [`liveness`] a peer that vanishes
//! (`blackhole`: reported unresponsive within the bound) and a slow path that must not
//! look dead (`slow-path`). The world also checks, after every step, that no session
//! outlives its idle timeout without hearing from its peer.
//!
//! ```
//! use std::time::Duration;
//! use stt_proto::config::NodeConfig;
//! use stt_sim::{ClientPlan, LinkConfig, Loss, NodeSpec, Scenario, Workload, run_scenario};
//!
//! let mut s = Scenario::new("doc").link_default(LinkConfig {
//!     loss: Loss::Random(0.05),
//!     delay: Duration::from_millis(20),
//!     ..LinkConfig::default()
//! });
//! let server = s.node(NodeSpec::new("server", NodeConfig::default()).serve(Workload::none()));
//! s.node(NodeSpec::new("client", NodeConfig::default())
//!     .client(ClientPlan::new(server, Workload::streams(2, 20_000))));
//! let report = run_scenario(&s, 7, None);
//! assert!(report.passed(), "{}", report.failure_text());
//! assert_eq!(report.stream_bytes_read, 40_000);
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adversary;
pub mod invariant;
pub mod link;
pub mod liveness;
pub mod mixes;
pub mod nat;
pub mod payload;
pub mod rendezvous;
pub mod report;
pub mod rng;
pub mod scenario;
pub mod scenarios;
pub mod trace;
pub mod world;

pub use invariant::Violation;
pub use link::{DropReason, Link, LinkConfig, Loss};
pub use report::{RunReport, Summary, replay_command};
pub use rng::SimRng;
pub use scenario::{
    APPS_ENDPOINT, Action, AppsServer, AppsWorkload, ClientPlan, Expect, InjectorSpec, NodeIx,
    NodeSpec, Scenario, Workload,
};
pub use trace::Trace;
pub use world::{SimError, World};

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `scenario` under `seed`, writing a JSON-lines trace to `trace` if given.
/// Panics inside the engine or the simulator become a [`Violation::Panic`].
pub fn run_scenario(scenario: &Scenario, seed: u64, trace: Option<Box<dyn Write>>) -> RunReport {
    let trace = trace.map_or_else(Trace::hash_only, Trace::to_writer);
    let result = catch_unwind(AssertUnwindSafe(|| {
        World::new(scenario.clone(), seed, trace).map(World::run)
    }));
    let violation = match result {
        Ok(Ok(report)) => return report,
        Ok(Err(e)) => Violation::Panic(format!("world could not be built: {e}")),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".to_string());
            Violation::Panic(msg)
        }
    };
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        violations: vec![violation],
        end_time: Default::default(),
        trace_hash: 0,
        trace_lines: 0,
        trace_error: None,
        stream_bytes_written: 0,
        stream_bytes_read: 0,
        transfer_time: None,
        bytes_retransmitted: 0,
        packets_sent: 0,
        packets_lost: 0,
        probe_timeouts: 0,
        rekeys: 0,
        wire_packets: 0,
        wire_bytes: 0,
        handshake_times: Vec::new(),
        sessions_succeeded: 0,
        sessions_failed: 0,
        node_stats: Vec::new(),
        drops: Default::default(),
        links: Vec::new(),
        session_ends: Vec::new(),
    }
}
