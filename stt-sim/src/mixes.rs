//! The fault-mix generator: a seed draws a combination of NAT rebindings (how many,
//! which node, when, whether the old address still reaches it) with random loss,
//! burst loss, corruption, reordering, duplication, jitter and a partition, per link
//! direction, so many seeds cover mixes nobody wrote by hand (scenario `rebind-mix`).
//!
//! Every run must deliver all stream data byte-exact both ways (the world's stream
//! oracle: every byte read is compared with what the peer wrote), keep every
//! established session alive to the end, and end with each side sending to the other's
//! current address, validated ([`Scenario::check_paths`]) — unless the mix drew a
//! partition longer than the idle timeout, which may end sessions (then only "no silent
//! loss" holds). A client reconnects only after a failed session; a handshake that loss
//! defeats is not what this checks, and an established session that died still fails
//! the end-of-run check. Mixes no protocol can survive are not drawn: both ends moving
//! away from unreachable addresses before either hears from the other, or the server
//! moving before the client's handshake reached it. This module only describes runs; it
//! never executes them.

use std::time::Duration;

use crate::link::{LinkConfig, Loss};
use crate::rng::SimRng;
use crate::scenario::{Action, ClientPlan, Expect, NodeIx, NodeSpec, Scenario, Workload};
use stt_proto::config::NodeConfig;

use crate::scenarios::sim_config;

/// Name of the generated scenario.
pub const NAME: &str = "rebind-mix";

/// Idle timeout of the generated runs: twice the suite's, so a short partition (at
/// most a fifth of it) followed by a loss burst that eats the first probes after it
/// still leaves the session room to recover; a long partition outlasts it.
pub const MIX_IDLE: Duration = Duration::from_secs(6);

/// The suite's node configuration with [`MIX_IDLE`].
pub fn mix_config() -> NodeConfig {
    let mut c = sim_config();
    c.transport.idle_timeout = MIX_IDLE;
    c
}

/// The run goes on at least this long after the last fault.
const SETTLE_AFTER_FAULTS: Duration = Duration::from_secs(5);

/// Rebindings happen within this much time from the start (the transfer's span).
const REBIND_WINDOW_MS: u64 = 1500;

/// The server's moves that leave its old address unreachable happen this long after
/// the start at the earliest: after the client's second INIT retransmission (0.5 s,
/// 1.5 s), so the handshake has reached the server's first address.
const SERVER_MOVES_AFTER_MS: u64 = 1600;

/// One drawn rebinding.
#[derive(Debug, Clone, PartialEq)]
pub struct RebindDraw {
    /// When, from the start of the run.
    pub at: Duration,
    /// Which node moves: 0 = the server, `i` = client `i - 1`.
    pub node: usize,
    /// Packets to the old address still reach the node.
    pub old_still_reaches: bool,
}

/// A drawn partition between the server and one client.
#[derive(Debug, Clone, PartialEq)]
pub struct PartitionDraw {
    /// Start, from the start of the run.
    pub at: Duration,
    /// Length.
    pub len: Duration,
    /// Which client (index among clients).
    pub client: usize,
}

/// The whole fault mix a seed draws (printed with a failure).
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// Link from the server to the clients.
    pub down: LinkConfig,
    /// Link from the clients to the server.
    pub up: LinkConfig,
    /// Clients (each one session).
    pub clients: usize,
    /// Bytes on each of a client's streams, and how many streams.
    pub client_streams: (u32, u64),
    /// Bytes on each of the server's streams per session, and how many streams.
    pub server_streams: (u32, u64),
    /// NAT rebindings, in time order.
    pub rebinds: Vec<RebindDraw>,
    /// An optional partition.
    pub partition: Option<PartitionDraw>,
    /// Key updates on every node at this interval (drawn in some mixes, from a stream
    /// of its own so the other draws stay what they were).
    pub key_update: Option<Duration>,
}

impl Mix {
    /// True if the mix may legitimately end sessions: a partition longer than the
    /// idle timeout.
    pub fn may_end_sessions(&self) -> bool {
        self.partition.as_ref().is_some_and(|p| p.len >= MIX_IDLE)
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// One link direction's impairments: each fault is present with some probability and
/// drawn in a range where a healthy session must still cope.
fn link(rng: &mut SimRng) -> LinkConfig {
    let loss = match rng.below(4) {
        0 => Loss::None,
        1 | 2 => Loss::Random(0.002 + rng.unit() * 0.048),
        // Bursts of a few packets: the model moves per packet, so when only keepalives
        // flow (one a second) a long bad state would be an outage of many seconds,
        // longer than the idle timeout, which is not what a short burst stands for.
        _ => Loss::GilbertElliott {
            good_to_bad: 0.005 + rng.unit() * 0.02,
            bad_to_good: 0.35 + rng.unit() * 0.35,
            loss_good: 0.001,
            loss_bad: 0.4 + rng.unit() * 0.3,
        },
    };
    let mut pick = |p: f64, hi: f64| {
        if rng.chance(p) { rng.unit() * hi } else { 0.0 }
    };
    let corrupt = pick(0.3, 0.03);
    let reorder = pick(0.3, 0.1);
    let duplicate = pick(0.3, 0.05);
    LinkConfig {
        loss,
        delay: ms(2 + rng.below(30)),
        jitter: ms(rng.below(4) * rng.below(3)),
        reorder,
        reorder_delay: ms(2 + rng.below(15)),
        duplicate,
        corrupt,
        bandwidth_bps: Some(2_000_000 + rng.below(5) * 1_000_000),
        queue_bytes: 64_000,
        ..LinkConfig::default()
    }
}

/// The mix seed `seed` draws.
pub fn draw(seed: u64) -> Mix {
    let mut rng = SimRng::new(seed).fork("rebind-mix");
    let down = link(&mut rng);
    let up = link(&mut rng);
    let clients = 1 + usize::from(rng.chance(0.25));
    let client_streams = (1 + rng.below(2) as u32, 32 * 1024 + rng.below(288) * 1024);
    let server_streams = (rng.below(2) as u32, 4 * 1024 + rng.below(28) * 1024);
    // One node moves (its old address may or may not still reach it); any other node
    // that moves keeps its old address reachable. Two nodes that both move away from
    // addresses that no longer reach them, before either hears from the other, have
    // no way to find each other again: no protocol survives that, so it is not drawn.
    let mover = rng.below(clients as u64 + 1) as usize;
    let count = 1 + rng.below(4);
    let mut rebinds: Vec<RebindDraw> = (0..count)
        .map(|_| {
            let node = if rng.chance(0.8) {
                mover
            } else {
                rng.below(clients as u64 + 1) as usize
            };
            let old_still_reaches = node != mover || rng.chance(0.2);
            // A server that moves away before the client's handshake reached it cannot
            // be found either: its unreachable moves come after any handshake retry.
            let earliest = if node == 0 && !old_still_reaches {
                SERVER_MOVES_AFTER_MS
            } else {
                30
            };
            RebindDraw {
                at: ms(earliest + rng.below(REBIND_WINDOW_MS - 30)),
                node,
                old_still_reaches,
            }
        })
        .collect();
    rebinds.sort_by_key(|r| r.at);
    let partition = match rng.below(20) {
        0..=5 => Some(PartitionDraw {
            at: ms(30 + rng.below(REBIND_WINDOW_MS)),
            len: ms(100 + rng.below(1100)),
            client: rng.below(clients as u64) as usize,
        }),
        6 => Some(PartitionDraw {
            at: ms(30 + rng.below(REBIND_WINDOW_MS)),
            len: MIX_IDLE + ms(500 + rng.below(2500)),
            client: rng.below(clients as u64) as usize,
        }),
        _ => None,
    };
    let mut keys = SimRng::new(seed).fork("rebind-mix keys");
    let key_update = keys.chance(0.3).then(|| ms(20 + keys.below(130)));
    Mix {
        down,
        up,
        clients,
        client_streams,
        server_streams,
        rebinds,
        partition,
        key_update,
    }
}

/// The scenario of a drawn mix.
pub fn scenario(mix: &Mix) -> Scenario {
    let mut s = Scenario::new(NAME).link_default(mix.down.clone());
    let harsh = mix.may_end_sessions();
    let server_work = Workload::streams(mix.server_streams.0, mix.server_streams.1);
    let config = || {
        let mut c = mix_config();
        c.transport.key_update_interval = mix.key_update;
        c
    };
    let srv = s.node(NodeSpec::new("server", config()).serve(server_work));
    let mut clients = Vec::new();
    for i in 0..mix.clients {
        let work = Workload::streams(mix.client_streams.0, mix.client_streams.1).with_datagrams(
            5,
            200,
            ms(20),
        );
        // Sessions stay open after their workload, so the end-of-run check sees them.
        // A client reconnects when a session fails: a handshake that loss defeats is
        // not what this scenario checks, and an established session that dies is
        // caught by the end-of-run check all the same.
        let mut plan = ClientPlan::new(srv, work).keep_open().retry();
        if harsh {
            plan = plan.expect(Expect::Either);
        }
        let c = s.node(NodeSpec::new(&format!("client{i}"), config()).client(plan));
        s.link(c, srv, mix.up.clone());
        clients.push(c);
    }
    for r in &mix.rebinds {
        let node = match r.node {
            0 => srv,
            i => clients.get(i - 1).copied().unwrap_or(srv),
        };
        s.at(
            r.at,
            Action::Rebind {
                node,
                old_still_reaches: r.old_still_reaches,
            },
        );
    }
    if let Some(p) = &mix.partition {
        let c: NodeIx = clients.get(p.client).copied().unwrap_or(srv);
        s.at(p.at, Action::Partition(srv, c));
        s.at(p.at + p.len, Action::Heal(srv, c));
    }
    // Long enough after the last fault for keepalives (1 s) to carry every move to the
    // peer and its validation to finish, under loss. The settle time counts from the
    // end of the workloads, which is after the start, so this bounds it from the fault.
    let last_fault = mix
        .rebinds
        .iter()
        .map(|r| r.at)
        .chain(mix.partition.iter().map(|p| p.at + p.len))
        .max()
        .unwrap_or_default();
    s.settle = last_fault + SETTLE_AFTER_FAULTS;
    s.deadline = Duration::from_secs(90);
    s.check_paths = !harsh;
    s
}

/// The generated scenario under `seed` (the `rebind-mix` builder).
pub fn generated(seed: u64) -> Scenario {
    scenario(&draw(seed))
}
