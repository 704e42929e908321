//! Dead-peer scenarios: a peer that vanishes mid-transfer must be reported as
//! `PeerUnresponsive` within `max(UNRESPONSIVE_PTOS · PTO, UNRESPONSIVE_FLOOR)` of the
//! cut, well before the (default, 30 s) idle timeout; a slow path (700-900 ms RTT, or a
//! queue holding seconds of data) must never trip it.
//!
//! This module describes the runs and checks their reports; it never executes them.

use std::time::Duration;

use stt_proto::config::UNRESPONSIVE_FLOOR;
use stt_proto::error::SessionError;

use crate::link::LinkConfig;
use crate::report::RunReport;
use crate::scenario::{Action, ClientPlan, Expect, NodeSpec, Scenario, Workload};
use crate::scenarios::sim_config;

/// When the blackhole scenario cuts the path, drawn per seed.
pub fn cut_at(seed: u64) -> Duration {
    Duration::from_millis(400 + crate::rng::SimRng::new(seed).fork("cut").below(400))
}

/// Slack on top of the floor: the sim path's 8 PTO (20 ms RTT) are far below the floor,
/// so the bound is the floor plus the last round trip before the cut.
pub const BLACKHOLE_SLACK: Duration = Duration::from_millis(250);

fn config() -> stt_proto::config::NodeConfig {
    let mut c = sim_config();
    // The default idle timeout (30 s), so only dead-peer detection can end it sooner.
    c.transport.idle_timeout = Duration::from_secs(30);
    c
}

/// A client streams 4 MiB over 4 Mbit/s; the path is cut for good mid-transfer. Both
/// sides must report an error (the run checks no silent loss).
pub fn blackhole(seed: u64) -> Scenario {
    let mut s = Scenario::new("blackhole").link_default(LinkConfig {
        bandwidth_bps: Some(4_000_000),
        queue_bytes: 64_000,
        ..LinkConfig::default()
    });
    let srv = s.node(NodeSpec::new("server", config()).serve(Workload::none()));
    let cli = s.node(
        NodeSpec::new("client", config())
            .client(ClientPlan::new(srv, Workload::streams(1, 4 << 20)).expect(Expect::Fail)),
    );
    s.at(cut_at(seed), Action::Partition(srv, cli));
    s.deadline = Duration::from_secs(40);
    s.settle = Duration::from_secs(1);
    s
}

/// 700-900 ms RTT (drawn per seed) and a 2 Mbit/s bottleneck whose 256 KB queue holds a
/// second of data: the transfer must complete with no session error.
pub fn slow_path(seed: u64) -> Scenario {
    let one_way = 350 + crate::rng::SimRng::new(seed).fork("delay").below(101);
    let mut s = Scenario::new("slow-path").link_default(LinkConfig {
        delay: Duration::from_millis(one_way),
        bandwidth_bps: Some(2_000_000),
        queue_bytes: 256_000,
        ..LinkConfig::default()
    });
    let srv = s.node(NodeSpec::new("server", config()).serve(Workload::streams(1, 256 * 1024)));
    s.node(
        NodeSpec::new("client", config()).client(
            ClientPlan::new(srv, Workload::streams(2, 512 * 1024)).expect(Expect::Complete),
        ),
    );
    s.deadline = Duration::from_secs(120);
    s
}

/// Checks a blackhole run: the client (node 1) reports `PeerUnresponsive` within
/// [`UNRESPONSIVE_FLOOR`] + [`BLACKHOLE_SLACK`] of the cut. `Err` says what is wrong.
pub fn check_blackhole(seed: u64, r: &RunReport) -> Result<Duration, String> {
    let cut = cut_at(seed);
    let end = r
        .session_ends
        .iter()
        .find(|e| e.node == 1)
        .ok_or_else(|| "the client session never ended".to_string())?;
    let after = end.at.saturating_sub(cut);
    if !matches!(end.reason, SessionError::PeerUnresponsive { .. }) {
        return Err(format!("client ended with {} after {after:?}", end.reason));
    }
    if after > UNRESPONSIVE_FLOOR + BLACKHOLE_SLACK {
        return Err(format!("client noticed the dead peer only after {after:?}"));
    }
    Ok(after)
}

/// Checks a slow-path run: no session ended with an error.
pub fn check_slow_path(r: &RunReport) -> Result<(), String> {
    match r.session_ends.iter().find(|e| {
        !matches!(
            e.reason,
            SessionError::LocallyClosed { .. } | SessionError::ClosedByPeer { .. }
        )
    }) {
        Some(e) => Err(format!(
            "node {} ended with {} at {:?}",
            e.node, e.reason, e.at
        )),
        None => Ok(()),
    }
}
