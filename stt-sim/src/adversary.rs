//! Adversarial peers: a member client that holds genuine session keys and breaks the
//! limits its peer advertised (DATA past the stream window, DATA past the session window
//! while inside the stream window, a stream past the stream limit) or answers the
//! peer's path challenge with the wrong data from a new address, and the generated
//! `adversary-mix` that runs one against a server with one honest client over drawn link
//! faults. The honest server must close the attacker's session with the right error code
//! and the honest client must complete, through windows small enough that flow control
//! actually binds (64 KiB against a 256 KiB transfer).
//!
//! This module describes attacks and runs; the world (world/adversary.rs) executes them.

use std::time::Duration;

use stt_proto::config::NodeConfig;
use stt_proto::frame::ErrorCode;

use crate::link::{LinkConfig, Loss};
use crate::rng::SimRng;
use crate::scenario::{Action, ClientPlan, Expect, NodeIx, NodeSpec, Scenario, Workload};
use crate::scenarios::sim_config;

/// Name of the generated scenario.
pub const NAME: &str = "adversary-mix";

/// A limit the attacker breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attack {
    /// One byte past the peer's stream window, on a fresh stream (the session window
    /// is 64x larger, so only the stream check refuses it).
    DataPastStreamWindow,
    /// DATA ending past the session window at an offset inside the (larger) stream
    /// window.
    DataPastSessionWindow,
    /// A stream one past the peer's stream limit.
    StreamPastLimit,
    /// The attacker moves to a new address, its engine's own packets are suppressed
    /// for [`MUTE`] (so the honest echo of the peer's PATH_CHALLENGE never arrives) and
    /// it sends PATH_RESPONSE frames with wrong data from there instead. The peer must
    /// not report the new address validated before a genuine round trip (the path
    /// oracle checks it), and must validate it once the honest answer gets through.
    WrongPathResponse,
}

/// How long the wrong-answer attacker's own packets are suppressed.
pub const MUTE: Duration = Duration::from_millis(1_500);
/// Forged PATH_RESPONSE packets the wrong-answer attacker sends during [`MUTE`].
pub const FORGED_RESPONSES: u64 = 15;

impl Attack {
    /// The error code the honest side must close with (`None`: the session must
    /// survive the attack).
    pub fn expected_code(self) -> Option<ErrorCode> {
        match self {
            Attack::DataPastStreamWindow | Attack::DataPastSessionWindow => {
                Some(ErrorCode::FLOW_CONTROL_VIOLATION)
            }
            Attack::StreamPastLimit => Some(ErrorCode::TOO_MANY_STREAMS),
            Attack::WrongPathResponse => None,
        }
    }
}

/// Small windows and limits on the server, so the attacks need little data and the
/// honest client's transfer is held by flow control.
pub const SMALL_WINDOW: u64 = 64 << 10;
/// The larger window of each attack's pair.
pub const LARGE_WINDOW: u64 = 4 << 20;
/// Unidirectional streams the server allows at once.
pub const STREAM_LIMIT: u64 = 4;

/// The server's configuration for `attack`: the window the attack targets is small,
/// the other one large (so neither check masks the other).
pub fn server_config(attack: Attack) -> NodeConfig {
    let mut c = sim_config();
    let (stream, session) = match attack {
        Attack::DataPastStreamWindow | Attack::StreamPastLimit | Attack::WrongPathResponse => {
            (SMALL_WINDOW, LARGE_WINDOW)
        }
        Attack::DataPastSessionWindow => (LARGE_WINDOW, SMALL_WINDOW),
    };
    c.transport.stream_receive_window = stream;
    c.transport.max_stream_receive_window = stream;
    c.transport.receive_window = session;
    c.transport.max_receive_window = session;
    c.transport.max_streams_uni = STREAM_LIMIT;
    c
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The attack [`generated`] draws for `seed`.
pub fn attack_of(seed: u64) -> Attack {
    draw(seed).0
}

fn draw(seed: u64) -> (Attack, SimRng) {
    let mut rng = SimRng::new(seed).fork("adversary");
    let attack = match rng.below(4) {
        0 => Attack::DataPastStreamWindow,
        1 => Attack::DataPastSessionWindow,
        2 => Attack::StreamPastLimit,
        _ => Attack::WrongPathResponse,
    };
    (attack, rng)
}

/// The generated run for `seed`: the attack, when, and the link faults of the honest
/// client's link (the attacker's own uplink is clean, so its packet arrives).
pub fn generated(seed: u64) -> Scenario {
    let (attack, mut rng) = draw(seed);
    let honest_link = LinkConfig {
        loss: Loss::Random(rng.below(4) as f64 / 100.0),
        jitter: ms(rng.below(8)),
        ..LinkConfig::default()
    };
    let mut s = Scenario::new(NAME).link_default(honest_link);
    let srv = s.node(NodeSpec::new("server", server_config(attack)).serve(Workload::none()));
    s.node(
        NodeSpec::new("honest", sim_config())
            .client(ClientPlan::new(srv, Workload::streams(2, 256 << 10)).expect(Expect::Complete)),
    );
    // The attacker keeps its session open after its own small transfer, until it
    // attacks.
    let mut plan = ClientPlan::new(srv, Workload::streams(1, 4 << 10)).expect(Expect::Either);
    plan.close_when_done = false;
    let bad = s.node(NodeSpec::new("attacker", sim_config()).client(plan));
    s.links.push((bad, srv, LinkConfig::default()));
    s.links.push((srv, bad, LinkConfig::default()));
    s.at(
        ms(300 + rng.below(300)),
        Action::Attack { node: bad, attack },
    );
    s.deadline = Duration::from_secs(120);
    s
}

/// The attacker node of [`generated`].
pub const ATTACKER: NodeIx = NodeIx(2);
