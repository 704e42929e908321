//! The description of a simulation run: nodes, links, application drivers, a schedule
//! of faults, and how long to run. A [`Scenario`] is plain data built with a small
//! builder; [`crate::World`] executes it. Nothing here draws randomness or runs anything.

use std::time::Duration;

use stt_proto::config::NodeConfig;
use stt_proto::frame::Dir;

use crate::link::LinkConfig;

/// Index of a node in its scenario (the order of [`Scenario::node`] calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIx(pub usize);

/// What one side of a session sends once the session is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workload {
    /// Reliable streams to open.
    pub streams: u32,
    /// Bytes written on each stream (at least the 16-byte stream header).
    pub bytes_per_stream: u64,
    /// Stream direction.
    pub dir: Dir,
    /// Unreliable datagrams to send.
    pub datagrams: u32,
    /// Size of each datagram.
    pub datagram_size: usize,
    /// Time between datagrams.
    pub datagram_interval: Duration,
    /// Application-primitive traffic to the server (clients only).
    pub apps: Option<AppsWorkload>,
}

/// Application-primitive traffic a client sends on each session: messages routed to
/// the server's endpoint (waiting when its queue is full), custom frames, and fetches
/// of the server's stored objects (every `objects + 1`-th asks for a missing hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppsWorkload {
    /// Messages routed to the server's endpoint [`APPS_ENDPOINT`].
    pub routes: u32,
    /// Custom frames (types 0x80–0xFF in turn).
    pub custom_frames: u32,
    /// Fetches by hash.
    pub fetches: u32,
    /// Size of each routed message and custom frame.
    pub payload: usize,
    /// Time between ticks; each tick sends one of each that is left.
    pub interval: Duration,
}

/// Name of the endpoint an apps server serves.
pub const APPS_ENDPOINT: &str = "sim.sink";

/// What an apps server offers: an endpoint whose small queue it drains slowly (so
/// senders meet a full queue), and stored objects it serves by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppsServer {
    /// Capacity of the endpoint's queue.
    pub queue: usize,
    /// Take one message off the queue this often.
    pub drain_every: Duration,
    /// Objects stored.
    pub objects: u32,
    /// Size of object `i` is `object_size * (i + 1)`.
    pub object_size: usize,
}

impl Workload {
    /// Sends nothing.
    pub fn none() -> Self {
        Self {
            streams: 0,
            bytes_per_stream: 0,
            dir: Dir::Uni,
            datagrams: 0,
            datagram_size: 0,
            datagram_interval: Duration::ZERO,
            apps: None,
        }
    }

    /// `streams` unidirectional streams of `bytes` each.
    pub fn streams(streams: u32, bytes: u64) -> Self {
        Self {
            streams,
            bytes_per_stream: bytes.max(crate::payload::STREAM_HEADER),
            ..Self::none()
        }
    }

    /// Adds `count` datagrams of `size` bytes every `interval`.
    pub fn with_datagrams(mut self, count: u32, size: usize, interval: Duration) -> Self {
        self.datagrams = count;
        self.datagram_size = size.max(20);
        self.datagram_interval = interval;
        self
    }

    /// Adds application-primitive traffic.
    pub fn with_apps(mut self, apps: AppsWorkload) -> Self {
        self.apps = Some(apps);
        self
    }

    /// Uses bidirectional streams instead.
    pub fn bidi(mut self) -> Self {
        self.dir = Dir::Bi;
        self
    }
}

/// What a client plan must end with for the run to pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Every session completes its workload and closes cleanly.
    Complete,
    /// Every session ends with an error reported to the application (and never
    /// delivers data it should not).
    Fail,
    /// Either outcome, but no silent loss.
    Either,
}

/// A client application: opens sessions to a server one after another.
#[derive(Debug, Clone)]
pub struct ClientPlan {
    /// The server.
    pub server: NodeIx,
    /// When to open the first session (virtual time from the start of the run).
    pub start: Duration,
    /// Sessions to run, one after another.
    pub sessions: u32,
    /// What the client sends on each session.
    pub workload: Workload,
    /// Close the session once the workload is acknowledged (and the server's, read).
    pub close_when_done: bool,
    /// Open a new session when one fails (until `sessions` have succeeded or failed
    /// `sessions` times more).
    pub retry_on_error: bool,
    /// The outcome this plan must reach.
    pub expect: Expect,
}

impl ClientPlan {
    /// One session to `server` sending `workload`, closed when done, must complete.
    pub fn new(server: NodeIx, workload: Workload) -> Self {
        Self {
            server,
            start: Duration::ZERO,
            sessions: 1,
            workload,
            close_when_done: true,
            retry_on_error: false,
            expect: Expect::Complete,
        }
    }

    /// Starts at `start`.
    pub fn at(mut self, start: Duration) -> Self {
        self.start = start;
        self
    }

    /// Runs `n` sessions one after another.
    pub fn sessions(mut self, n: u32) -> Self {
        self.sessions = n;
        self
    }

    /// Sets the expected outcome.
    pub fn expect(mut self, e: Expect) -> Self {
        self.expect = e;
        self
    }

    /// Reconnects after a failed session.
    pub fn retry(mut self) -> Self {
        self.retry_on_error = true;
        self
    }

    /// Leaves sessions open when done (they end by idle timeout or the run's end).
    pub fn keep_open(mut self) -> Self {
        self.close_when_done = false;
        self
    }
}

/// One node of the topology.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// Display name.
    pub name: String,
    /// Holds the network's shared seed (false: a stranger with its own seed).
    pub member: bool,
    /// Engine configuration.
    pub config: NodeConfig,
    /// Accept sessions and send this workload on each accepted one (`None`: do not
    /// serve; sessions are still accepted if `config.accept_incoming`).
    pub serve: Option<Workload>,
    /// Client applications on this node.
    pub clients: Vec<ClientPlan>,
    /// Serve an endpoint and stored objects to clients' application traffic.
    pub apps_server: Option<AppsServer>,
}

impl NodeSpec {
    /// A member node with `config`, no applications.
    pub fn new(name: &str, config: NodeConfig) -> Self {
        Self {
            name: name.to_string(),
            member: true,
            config,
            serve: None,
            clients: Vec::new(),
            apps_server: None,
        }
    }

    /// Serves accepted sessions with `workload` (use `Workload::none()` to only read).
    pub fn serve(mut self, workload: Workload) -> Self {
        self.serve = Some(workload);
        self
    }

    /// Adds a client application.
    pub fn client(mut self, plan: ClientPlan) -> Self {
        self.clients.push(plan);
        self
    }

    /// Serves an endpoint and objects for clients' application traffic.
    pub fn apps_server(mut self, server: AppsServer) -> Self {
        self.apps_server = Some(server);
        self
    }

    /// Makes this node a non-member (it gets a different shared seed).
    pub fn stranger(mut self) -> Self {
        self.member = false;
        self
    }
}

/// A scheduled change to the world.
#[derive(Debug, Clone)]
pub enum Action {
    /// Cut both directions between two nodes.
    Partition(NodeIx, NodeIx),
    /// Restore both directions between two nodes.
    Heal(NodeIx, NodeIx),
    /// Replace one direction's parameters (keeps its queue and random stream).
    SetLink {
        /// Sender.
        from: NodeIx,
        /// Receiver.
        to: NodeIx,
        /// New parameters.
        config: LinkConfig,
    },
    /// The node's address changes (NAT rebinding): peers see its packets from a new
    /// path; packets to the old address are dropped unless `old_still_reaches`.
    Rebind {
        /// The node.
        node: NodeIx,
        /// Packets sent to the old address still reach it.
        old_still_reaches: bool,
    },
    /// The node loses all state; packets to it are dropped.
    Crash(NodeIx),
    /// A crashed node starts again with the same identity and fresh state.
    Restart(NodeIx),
    /// The node's established session breaks one of its peer's limits with a forged
    /// packet under genuine keys (`crate::adversary`); the peer must close it.
    Attack {
        /// The attacker.
        node: NodeIx,
        /// What it breaks.
        attack: crate::adversary::Attack,
    },
}

/// An attacker on the path that injects packets at a node.
#[derive(Debug, Clone)]
pub struct InjectorSpec {
    /// The node attacked.
    pub target: NodeIx,
    /// Start time.
    pub start: Duration,
    /// Time between injected packets.
    pub interval: Duration,
    /// Packets to inject.
    pub count: u32,
}

/// A complete simulation description.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Name (used in replay lines).
    pub name: String,
    /// Nodes, indexed by [`NodeIx`].
    pub nodes: Vec<NodeSpec>,
    /// Parameters of every link direction not listed in `links`.
    pub default_link: LinkConfig,
    /// Per-direction overrides: (from, to, parameters).
    pub links: Vec<(NodeIx, NodeIx, LinkConfig)>,
    /// Faults and changes at given times.
    pub schedule: Vec<(Duration, Action)>,
    /// Packet injectors.
    pub injectors: Vec<InjectorSpec>,
    /// Stop at this virtual time whatever happens.
    pub deadline: Duration,
    /// After every client plan is done, keep running this long (closes propagate).
    pub settle: Duration,
    /// At the end, every session must be alive and send to its peer's current address,
    /// validated (for runs that move nodes and keep their sessions open).
    pub check_paths: bool,
}

impl Scenario {
    /// An empty scenario.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            nodes: Vec::new(),
            default_link: LinkConfig::default(),
            links: Vec::new(),
            schedule: Vec::new(),
            injectors: Vec::new(),
            deadline: Duration::from_secs(120),
            settle: Duration::from_millis(500),
            check_paths: false,
        }
    }

    /// Adds a node; returns its index.
    pub fn node(&mut self, spec: NodeSpec) -> NodeIx {
        self.nodes.push(spec);
        NodeIx(self.nodes.len() - 1)
    }

    /// Sets the default link parameters.
    pub fn link_default(mut self, config: LinkConfig) -> Self {
        self.default_link = config;
        self
    }

    /// Overrides one direction.
    pub fn link(&mut self, from: NodeIx, to: NodeIx, config: LinkConfig) {
        self.links.push((from, to, config));
    }

    /// Schedules an action.
    pub fn at(&mut self, t: Duration, action: Action) {
        self.schedule.push((t, action));
    }
}
