//! The simulation world: nodes, per-direction links, a virtual clock and one event queue
//! ordered by (time, insertion sequence), so ties resolve the same way on every run.
//!
//! The world owns the simulated applications and the oracle that checks them: it writes
//! known patterns, verifies every byte read, scans the wire for plaintext and checks node
//! bounds as it goes. It never sleeps or reads a clock; all randomness is forked from the
//! run's master seed. Library code here never panics on network data.

mod adversary;
mod apps;
mod live_checks;
mod path_oracle;
mod paths;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use stt_proto::error::{ReadError, SessionError, WriteError};
use stt_proto::frame::{Dir, ErrorCode, Flags, Header, PacketType, SessionId, StreamId};
use stt_proto::identity::{Identity, NetworkKey, NodeId};
use stt_proto::session::SessionStats;
use stt_proto::{Event, Instant, Node, NodeStats, PathId, SessionHandle, StreamEvent};

use crate::invariant::Violation;
use crate::link::{Delivery, DropReason, Link, LinkStats};
use crate::payload;
use crate::report::RunReport;
use crate::rng::{FNV_OFFSET, SimRng, fnv1a};
use crate::scenario::{Action, Expect, NodeIx, Scenario, Workload};
use crate::trace::{Trace, Val};

/// Why a world could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// A node's configuration was rejected by the engine.
    #[error("node {node}: invalid configuration: {reason}")]
    Config {
        /// The node.
        node: usize,
        /// The engine's reason.
        reason: String,
    },
    /// The scenario refers to a node that does not exist.
    #[error("scenario refers to node {0}, which does not exist")]
    NoSuchNode(usize),
}

/// Largest stream chunk generated and written at once.
const CHUNK: u64 = 64 * 1024;
/// Consecutive timer firings at one instant that count as a livelock.
const TIMER_LOOP: u64 = 10_000;
/// Engine steps after which a run is declared runaway.
const MAX_STEPS: u64 = 50_000_000;

#[derive(Debug)]
enum Ev {
    Deliver {
        /// The sending node (`None`: an injector).
        from: Option<usize>,
        sent_at: Instant,
        to: usize,
        to_addr: u64,
        from_addr: u64,
        bytes: Vec<u8>,
        corrupted: bool,
        duplicate: bool,
    },
    Action(usize),
    PlanStart(usize),
    Datagram(usize),
    Inject(usize),
    /// A client track's application traffic sends its next messages.
    AppsTick(usize),
    /// An apps server takes a message off its endpoint queue.
    Drain(usize),
}

#[derive(Debug)]
struct Scheduled {
    at: Instant,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct SimNode {
    name: String,
    member: bool,
    config: Arc<stt_proto::config::NodeConfig>,
    identity_seed: [u8; 32],
    network_seed: [u8; 32],
    node_id: NodeId,
    node: Option<Node>,
    addr: u64,
    incarnation: u32,
    rng: SimRng,
    serve: Option<Workload>,
    tracks: Vec<usize>,
    plans: Vec<usize>,
    last_stats: NodeStats,
    timer_spin: (Instant, u64),
}

/// How a session ended, from one application's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    Open,
    Clean,
    Error(String),
    Crashed,
}

impl End {
    fn describe(&self) -> String {
        match self {
            End::Open => "still open".into(),
            End::Clean => "closed cleanly".into(),
            End::Error(e) => format!("error: {e}"),
            End::Crashed => "node crashed".into(),
        }
    }
    fn is_failure(&self) -> bool {
        matches!(self, End::Error(_) | End::Crashed)
    }
}

struct OutStream {
    id: Option<StreamId>,
    key: usize,
    written: u64,
    total: u64,
    finished: bool,
    acked: bool,
    dead: bool,
    chunk: Vec<u8>,
    chunk_pos: usize,
}

struct InStream {
    id: StreamId,
    header: Vec<u8>,
    key: Option<usize>,
    got: u64,
    fin: bool,
    dead: bool,
}

struct Track {
    node: usize,
    incarnation: u32,
    handle: SessionHandle,
    initiator: bool,
    plan: Option<usize>,
    peer: Option<usize>,
    peer_track: Option<usize>,
    up: bool,
    end: End,
    started: Instant,
    workload: Workload,
    expect_in: u32,
    out: Vec<OutStream>,
    inn: Vec<InStream>,
    dg_next: u32,
    closing: bool,
    done: bool,
    last_stats: SessionStats,
    max_cwnd: u64,
    /// The last path the engine reported validated for this session (its first path
    /// at `Connected`, then every `PathChanged`).
    validated_path: Option<PathId>,
}

struct StreamRecord {
    sender: usize,
    sender_node: usize,
    receiver: Option<usize>,
    total: u64,
    written: u64,
    got: u64,
    fin: bool,
}

struct PlanState {
    node: usize,
    index: usize,
    spec: crate::scenario::ClientPlan,
    succeeded: u32,
    failed: u32,
    current: Option<usize>,
    done: bool,
}

struct InjState {
    spec: crate::scenario::InjectorSpec,
    rng: SimRng,
    sent: u32,
    addr: u64,
}

/// A simulation of one scenario under one seed. Build with [`World::new`], run with
/// [`World::run`]; or use [`crate::run_scenario`], which also catches panics.
pub struct World {
    scenario: Scenario,
    seed: u64,
    rng: SimRng,
    now: Instant,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    nodes: Vec<SimNode>,
    links: BTreeMap<(usize, usize), Link>,
    addr_owner: BTreeMap<u64, usize>,
    old_addrs: BTreeSet<u64>,
    /// Wire-level path invariants (anti-amplification, validation after a round trip).
    path_oracle: path_oracle::PathOracle,
    next_addr: u64,
    tracks: Vec<Track>,
    records: Vec<StreamRecord>,
    dgram_seen: BTreeSet<(u32, u32)>,
    plans: Vec<PlanState>,
    injectors: Vec<InjState>,
    captured: VecDeque<(usize, u64, Vec<u8>)>,
    trace: Trace,
    violations: Vec<Violation>,
    buf: Vec<u8>,
    drops: BTreeMap<&'static str, u64>,
    session_ends: Vec<crate::report::SessionEnd>,
    /// (receiver node, sender node) → when the receiver last got a datagram from it.
    heard_at: BTreeMap<(usize, usize), Instant>,
    first_write: Option<Instant>,
    last_read: Option<Instant>,
    stream_bytes_read: u64,
    stream_bytes_written: u64,
    handshake_times: Vec<Duration>,
    wire_packets: u64,
    wire_bytes: u64,
    steps: u64,
    apps: apps::AppsState,
    /// Attacks sent: (attacker's sim session, attack), checked at the end.
    attacks: Vec<(usize, crate::adversary::Attack)>,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn describe_close(reason: &SessionError) -> End {
    match reason {
        SessionError::LocallyClosed { code } | SessionError::ClosedByPeer { code, .. }
            if *code == ErrorCode::NO_ERROR =>
        {
            End::Clean
        }
        other => End::Error(other.to_string()),
    }
}

impl World {
    /// Builds the world for `scenario` under `seed`; `trace` receives the event trace.
    pub fn new(scenario: Scenario, seed: u64, trace: Trace) -> Result<Self, SimError> {
        let rng = SimRng::new(seed);
        let member_seed = rng.fork("network").seed32();
        let mut nodes = Vec::new();
        let mut addr_owner = BTreeMap::new();
        let mut plans = Vec::new();
        for (i, spec) in scenario.nodes.iter().enumerate() {
            let identity_seed = rng.fork(&format!("identity {i}")).seed32();
            let network_seed = if spec.member {
                member_seed
            } else {
                rng.fork(&format!("stranger network {i}")).seed32()
            };
            let mut config = spec.config.clone();
            // Metrics only feed a written trace, unhashed: a traced run and a hashed one
            // take the same course and hash the same (docs/ARCHITECTURE.md "Traces").
            config.transport.metrics |= trace.writes();
            let config = Arc::new(config);
            let identity =
                Identity::from_node_seed(&identity_seed).map_err(|e| SimError::Config {
                    node: i,
                    reason: e.to_string(),
                })?;
            let node_id = identity.node_id();
            let addr = 1 + i as u64;
            addr_owner.insert(addr, i);
            for (p, plan) in spec.clients.iter().enumerate() {
                if plan.server.0 >= scenario.nodes.len() {
                    return Err(SimError::NoSuchNode(plan.server.0));
                }
                plans.push(PlanState {
                    node: i,
                    index: p,
                    spec: plan.clone(),
                    succeeded: 0,
                    failed: 0,
                    current: None,
                    done: plan.sessions == 0,
                });
            }
            nodes.push(SimNode {
                name: spec.name.clone(),
                member: spec.member,
                config,
                identity_seed,
                network_seed,
                node_id,
                node: None,
                addr,
                incarnation: 0,
                rng: rng.fork(&format!("node {i}")),
                serve: spec.serve.clone(),
                tracks: Vec::new(),
                plans: Vec::new(),
                last_stats: NodeStats::default(),
                timer_spin: (Instant::from_micros(0), 0),
            });
        }
        for (p, plan) in plans.iter().enumerate() {
            nodes[plan.node].plans.push(p);
        }
        let injectors = scenario
            .injectors
            .iter()
            .enumerate()
            .map(|(i, spec)| InjState {
                spec: spec.clone(),
                rng: rng.fork(&format!("injector {i}")),
                sent: 0,
                addr: 1_000_000 + i as u64,
            })
            .collect();
        let mut world = Self {
            next_addr: 1 + nodes.len() as u64,
            scenario,
            seed,
            rng,
            now: Instant::from_micros(0),
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            links: BTreeMap::new(),
            addr_owner,
            old_addrs: BTreeSet::new(),
            path_oracle: path_oracle::PathOracle::default(),
            tracks: Vec::new(),
            records: Vec::new(),
            dgram_seen: BTreeSet::new(),
            plans,
            injectors,
            captured: VecDeque::new(),
            trace,
            violations: Vec::new(),
            buf: vec![0u8; 64 * 1024],
            drops: BTreeMap::new(),
            session_ends: Vec::new(),
            heard_at: BTreeMap::new(),
            first_write: None,
            last_read: None,
            stream_bytes_read: 0,
            stream_bytes_written: 0,
            handshake_times: Vec::new(),
            wire_packets: 0,
            wire_bytes: 0,
            steps: 0,
            apps: apps::AppsState::default(),
            attacks: Vec::new(),
        };
        for i in 0..world.nodes.len() {
            world.boot(i)?;
        }
        for (i, (at, _)) in world.scenario.schedule.clone().iter().enumerate() {
            world.schedule(Instant::from_micros(us(*at)), Ev::Action(i));
        }
        for p in 0..world.plans.len() {
            if !world.plans[p].done {
                let at = Instant::from_micros(us(world.plans[p].spec.start));
                world.schedule(at, Ev::PlanStart(p));
            }
        }
        for i in 0..world.injectors.len() {
            let at = Instant::from_micros(us(world.injectors[i].spec.start));
            world.schedule(at, Ev::Inject(i));
        }
        Ok(world)
    }

    /// (Re)creates node `i`'s engine with its identity and a fresh RNG seed.
    fn boot(&mut self, i: usize) -> Result<(), SimError> {
        let n = &mut self.nodes[i];
        let err = |reason: String| SimError::Config { node: i, reason };
        let identity =
            Identity::from_node_seed(&n.identity_seed).map_err(|e| err(e.to_string()))?;
        let network =
            NetworkKey::from_shared_seed(&n.network_seed).map_err(|e| err(e.to_string()))?;
        let seed = n
            .rng
            .fork(&format!("incarnation {}", n.incarnation))
            .seed32();
        let node =
            Node::new(n.config.clone(), identity, network, seed).map_err(|e| err(e.to_string()))?;
        n.node = Some(node);
        self.apps_boot(i);
        Ok(())
    }

    fn schedule(&mut self, at: Instant, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at,
            seq: self.seq,
            ev,
        }));
    }

    fn violate(&mut self, v: Violation) {
        let text = v.to_string();
        self.trace.record(
            self.now.as_micros(),
            "violation",
            &[("what", Val::S(&text))],
        );
        self.violations.push(v);
    }

    /// Runs to completion (all client plans done and settled, or the deadline) and
    /// returns the report with every violation found.
    pub fn run(mut self) -> RunReport {
        let deadline = Instant::from_micros(us(self.scenario.deadline));
        let settle = us(self.scenario.settle);
        let mut settle_until: Option<Instant> = None;
        loop {
            self.steps += 1;
            if self.steps > MAX_STEPS {
                self.violate(Violation::Panic(format!(
                    "runaway: {MAX_STEPS} steps by t={:?}",
                    Duration::from_micros(self.now.as_micros())
                )));
                break;
            }
            if settle_until.is_none() && self.plans.iter().all(|p| p.done) {
                settle_until = Some(Instant::from_micros(self.now.as_micros() + settle));
            }
            let next_event = self.queue.peek().map(|Reverse(s)| s.at);
            let mut next_timer: Option<(Instant, usize)> = None;
            for (i, n) in self.nodes.iter_mut().enumerate() {
                if let Some(t) = n.node.as_mut().and_then(|n| n.poll_timeout())
                    && next_timer.is_none_or(|(best, _)| t < best)
                {
                    next_timer = Some((t, i));
                }
            }
            let take_event = match (next_event, next_timer) {
                (None, None) => break,
                (Some(e), Some((t, _))) => e <= t,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            let at = if take_event {
                next_event.unwrap_or(self.now)
            } else {
                next_timer.map_or(self.now, |(t, _)| t)
            };
            if at > deadline {
                self.trace.record(
                    self.now.as_micros(),
                    "end",
                    &[("reason", Val::S("deadline"))],
                );
                break;
            }
            // A session whose peer ended with an error closes on its own idle timer,
            // which may be longer than the settle time (its PTO can exceed the peer's):
            // keep running until it does, bounded by the deadline.
            if settle_until.is_some_and(|s| at > s) && self.has_half_open() {
                settle_until = Some(Instant::from_micros(at.as_micros() + settle));
            }
            if settle_until.is_some_and(|s| at > s) {
                self.trace.record(
                    self.now.as_micros(),
                    "end",
                    &[("reason", Val::S("settled"))],
                );
                break;
            }
            self.now = self.now.max(at);
            if take_event {
                if let Some(Reverse(s)) = self.queue.pop() {
                    self.process(s.ev);
                }
            } else if let Some((_, i)) = next_timer
                && !self.fire_timer(i)
            {
                break;
            }
        }
        self.finish()
    }

    fn fire_timer(&mut self, i: usize) -> bool {
        let now = self.now;
        let n = &mut self.nodes[i];
        if n.timer_spin.0 == now {
            n.timer_spin.1 += 1;
        } else {
            n.timer_spin = (now, 1);
        }
        let count = n.timer_spin.1;
        if count > TIMER_LOOP {
            self.violate(Violation::TimerLoop {
                node: i,
                at: Duration::from_micros(now.as_micros()),
                count,
            });
            return false;
        }
        if let Some(node) = self.nodes[i].node.as_mut() {
            node.handle_timeout(now);
        }
        self.trace
            .record(now.as_micros(), "timer", &[("node", Val::U(i as u64))]);
        self.service(i);
        true
    }

    fn process(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver {
                from,
                sent_at,
                to,
                to_addr,
                from_addr,
                bytes,
                corrupted,
                duplicate,
            } => {
                if self.nodes[to].node.is_some() && self.addr_owner.get(&to_addr) == Some(&to) {
                    let now = self.now;
                    let len = bytes.len();
                    self.path_oracle
                        .on_deliver(from, from_addr, to, to_addr, sent_at, len, now);
                    if let Some(from) = from {
                        self.heard_at.insert((to, from), now);
                    }
                }
                self.deliver(to, to_addr, from_addr, bytes, corrupted, duplicate)
            }
            Ev::Action(i) => self.action(i),
            Ev::PlanStart(p) => self.start_session(p),
            Ev::Datagram(t) => self.send_datagram(t),
            Ev::Inject(i) => self.inject(i),
            Ev::AppsTick(t) => self.apps_tick(t),
            Ev::Drain(ix) => self.apps_drain(ix),
        }
    }

    fn deliver(
        &mut self,
        to: usize,
        to_addr: u64,
        from_addr: u64,
        bytes: Vec<u8>,
        corrupted: bool,
        duplicate: bool,
    ) {
        let now = self.now.as_micros();
        let reason = if self.nodes[to].node.is_none() {
            Some(DropReason::Crashed)
        } else if self.addr_owner.get(&to_addr) != Some(&to) {
            Some(DropReason::OldAddress)
        } else {
            None
        };
        if let Some(r) = reason {
            *self.drops.entry(r.name()).or_default() += 1;
            self.trace.record(
                now,
                "drop",
                &[
                    ("to", Val::U(to as u64)),
                    ("len", Val::U(bytes.len() as u64)),
                    ("reason", Val::S(r.name())),
                ],
            );
            return;
        }
        self.trace.record(
            now,
            "recv",
            &[
                ("node", Val::U(to as u64)),
                ("path", Val::U(from_addr)),
                ("len", Val::U(bytes.len() as u64)),
                ("corrupt", Val::B(corrupted)),
                ("dup", Val::B(duplicate)),
            ],
        );
        if let Some(node) = self.nodes[to].node.as_mut() {
            node.handle_datagram(self.now, PathId(from_addr), BytesMut::from(&bytes[..]));
        }
        self.service(to);
    }

    fn action(&mut self, i: usize) {
        let Some((_, action)) = self.scenario.schedule.get(i).cloned() else {
            return;
        };
        let now = self.now.as_micros();
        let text = format!("{action:?}");
        self.trace.record(now, "action", &[("what", Val::S(&text))]);
        match action {
            Action::Partition(a, b) | Action::Heal(a, b) => {
                let up = matches!(action, Action::Heal(..));
                for (x, y) in [(a, b), (b, a)] {
                    self.link(x.0, y.0).config.up = up;
                }
            }
            Action::SetLink { from, to, config } => {
                self.link(from.0, to.0).config = config;
            }
            Action::Rebind {
                node,
                old_still_reaches,
            } => {
                let Some(n) = self.nodes.get_mut(node.0) else {
                    return;
                };
                let old = n.addr;
                n.addr = self.next_addr;
                self.next_addr += 1;
                self.addr_owner.insert(n.addr, node.0);
                if !old_still_reaches {
                    self.addr_owner.remove(&old);
                    self.old_addrs.insert(old);
                }
            }
            Action::Crash(NodeIx(ix)) => {
                if ix >= self.nodes.len() {
                    return;
                }
                self.nodes[ix].node = None;
                self.path_oracle.forget(ix);
                for t in std::mem::take(&mut self.nodes[ix].tracks) {
                    if self.tracks[t].end == End::Open {
                        self.tracks[t].end = End::Crashed;
                        self.tracks[t].up = false;
                    }
                }
                for p in self.nodes[ix].plans.clone() {
                    self.plans[p].current = None;
                }
            }
            Action::Attack { node, attack } => self.attack(node.0, attack),
            Action::Restart(NodeIx(ix)) => {
                if ix >= self.nodes.len() || self.nodes[ix].node.is_some() {
                    return;
                }
                self.nodes[ix].incarnation += 1;
                if let Err(e) = self.boot(ix) {
                    self.violate(Violation::Panic(e.to_string()));
                    return;
                }
                for p in self.nodes[ix].plans.clone() {
                    if !self.plans[p].done && self.plans[p].current.is_none() {
                        self.start_session(p);
                    }
                }
            }
        }
    }

    fn link(&mut self, from: usize, to: usize) -> &mut Link {
        let scenario = &self.scenario;
        let rng = &self.rng;
        self.links.entry((from, to)).or_insert_with(|| {
            let config = scenario
                .links
                .iter()
                .rev()
                .find(|(f, t, _)| f.0 == from && t.0 == to)
                .map_or_else(|| scenario.default_link.clone(), |(_, _, c)| c.clone());
            Link::new(config, rng.fork(&format!("link {from}->{to}")))
        })
    }

    /// Sends a datagram from node `from` to the address named by `path`.
    fn route(&mut self, from: usize, path: PathId, bytes: Vec<u8>) {
        let now = self.now;
        self.wire_packets += 1;
        self.wire_bytes += bytes.len() as u64;
        if payload::contains_canary(&bytes) {
            self.violate(Violation::Plaintext {
                node: from,
                len: bytes.len(),
            });
        }
        let from_addr = self.nodes[from].addr;
        if let Some(v) = self.path_oracle.on_send(from, path.0, bytes.len()) {
            self.violate(v);
        }
        let h = fnv1a(&bytes, FNV_OFFSET);
        self.trace.record(
            now.as_micros(),
            "send",
            &[
                ("node", Val::U(from as u64)),
                ("to", Val::U(path.0)),
                ("len", Val::U(bytes.len() as u64)),
                ("hash", Val::U(h)),
            ],
        );
        let Some(&to) = self.addr_owner.get(&path.0) else {
            let r = if self.old_addrs.contains(&path.0) {
                DropReason::OldAddress
            } else {
                DropReason::NoRoute
            };
            self.record_drop(from, path.0, bytes.len(), r);
            return;
        };
        if self.injectors.iter().any(|i| i.spec.target.0 == to) {
            if self.captured.len() >= 64 {
                self.captured.pop_front();
            }
            self.captured.push_back((to, from_addr, bytes.clone()));
        }
        let mut out: Vec<Delivery> = Vec::new();
        let len = bytes.len();
        match self.link(from, to).send(now, bytes, &mut out) {
            Ok(()) => {
                for d in out {
                    self.schedule(
                        d.at,
                        Ev::Deliver {
                            from: Some(from),
                            sent_at: now,
                            to,
                            to_addr: path.0,
                            from_addr,
                            bytes: d.bytes,
                            corrupted: d.corrupted,
                            duplicate: d.duplicate,
                        },
                    );
                }
            }
            Err(r) => self.record_drop(from, path.0, len, r),
        }
    }

    fn record_drop(&mut self, from: usize, to: u64, len: usize, r: DropReason) {
        *self.drops.entry(r.name()).or_default() += 1;
        self.trace.record(
            self.now.as_micros(),
            "drop",
            &[
                ("node", Val::U(from as u64)),
                ("to", Val::U(to)),
                ("len", Val::U(len as u64)),
                ("reason", Val::S(r.name())),
            ],
        );
    }

    fn inject(&mut self, i: usize) {
        let target = self.injectors[i].spec.target.0;
        let Some(&target_addr) = self.nodes.get(target).map(|n| &n.addr) else {
            return;
        };
        let own_addr = self.injectors[i].addr;
        let captured: Vec<(u64, Vec<u8>)> = self
            .captured
            .iter()
            .filter(|c| c.0 == target)
            .map(|c| (c.1, c.2.clone()))
            .collect();
        let inj = &mut self.injectors[i];
        let kind = inj.rng.below(4);
        let (kind_name, from_addr, bytes) = match (kind, captured.is_empty()) {
            (2, false) | (3, false) => {
                let (from, mut b) = captured[inj.rng.below(captured.len() as u64) as usize].clone();
                if kind == 3 && b.len() > 20 {
                    let bit = 160 + inj.rng.below((b.len() as u64 - 20) * 8);
                    b[(bit / 8) as usize] ^= 1 << (bit % 8);
                    ("flip", from, b)
                } else {
                    ("replay", from, b)
                }
            }
            (1, false) => {
                let (_, c) = &captured[inj.rng.below(captured.len() as u64) as usize];
                let mut b = c.clone();
                if b.len() > 20 {
                    inj.rng.fill(&mut b[20..]);
                }
                ("forged_body", own_addr, b)
            }
            _ => {
                let types = [
                    PacketType::Init,
                    PacketType::Challenge,
                    PacketType::Response,
                    PacketType::Confirm,
                    PacketType::Cookie,
                    PacketType::Reset,
                    PacketType::Version,
                    PacketType::Data,
                ];
                let header = Header {
                    packet_type: types[inj.rng.below(types.len() as u64) as usize],
                    session_id: SessionId(inj.rng.next_u64()),
                    stream_id: StreamId(inj.rng.next_u64() as u32),
                    sequence: inj.rng.next_u64() as u32,
                    flags: Flags::new(false),
                };
                let mut b = vec![0u8; 20 + inj.rng.below(1300) as usize];
                b[..20].copy_from_slice(&header.to_bytes());
                inj.rng.fill(&mut b[20..]);
                ("random", own_addr, b)
            }
        };
        inj.sent += 1;
        let again = inj.sent < inj.spec.count;
        let interval = us(inj.spec.interval).max(1);
        self.trace.record(
            self.now.as_micros(),
            "inject",
            &[
                ("node", Val::U(target as u64)),
                ("kind", Val::S(kind_name)),
                ("len", Val::U(bytes.len() as u64)),
            ],
        );
        let at = Instant::from_micros(self.now.as_micros() + 1000);
        self.schedule(
            at,
            Ev::Deliver {
                from: None,
                sent_at: self.now,
                to: target,
                to_addr: target_addr,
                from_addr,
                bytes,
                corrupted: false,
                duplicate: false,
            },
        );
        if again {
            let next = Instant::from_micros(self.now.as_micros() + interval);
            self.schedule(next, Ev::Inject(i));
        }
    }

    fn start_session(&mut self, p: usize) {
        if self.plans[p].done || self.plans[p].current.is_some() {
            return;
        }
        let ix = self.plans[p].node;
        let server = self.plans[p].spec.server.0;
        let server_addr = self.nodes[server].addr;
        let now = self.now;
        let incarnation = self.nodes[ix].incarnation;
        let Some(node) = self.nodes[ix].node.as_mut() else {
            return;
        };
        self.path_oracle.prove(ix, server_addr);
        match node.connect(now, PathId(server_addr)) {
            Ok(handle) => {
                let t = self.tracks.len();
                self.tracks.push(Track {
                    node: ix,
                    incarnation,
                    handle,
                    initiator: true,
                    plan: Some(p),
                    peer: Some(server),
                    peer_track: None,
                    up: false,
                    end: End::Open,
                    started: now,
                    workload: self.plans[p].spec.workload.clone(),
                    expect_in: self.nodes[server].serve.as_ref().map_or(0, |w| w.streams),
                    out: Vec::new(),
                    inn: Vec::new(),
                    dg_next: 0,
                    closing: false,
                    done: false,
                    last_stats: SessionStats::default(),
                    max_cwnd: 0,
                    validated_path: None,
                });
                self.nodes[ix].tracks.push(t);
                self.plans[p].current = Some(t);
                self.trace.record(
                    now.as_micros(),
                    "connect",
                    &[
                        ("node", Val::U(ix as u64)),
                        ("session", Val::U(t as u64)),
                        ("server", Val::U(server as u64)),
                    ],
                );
                self.service(ix);
            }
            Err(e) => {
                let text = e.to_string();
                self.trace.record(
                    now.as_micros(),
                    "connect_error",
                    &[("node", Val::U(ix as u64)), ("error", Val::S(&text))],
                );
                self.plan_session_ended(p, false);
            }
        }
    }

    fn plan_session_ended(&mut self, p: usize, success: bool) {
        let plan = &mut self.plans[p];
        plan.current = None;
        if success {
            plan.succeeded += 1;
        } else {
            plan.failed += 1;
        }
        let more = if plan.spec.retry_on_error {
            plan.succeeded < plan.spec.sessions && plan.failed < plan.spec.sessions * 4 + 4
        } else {
            plan.succeeded + plan.failed < plan.spec.sessions
        };
        if more {
            let at = self.now;
            self.schedule(at, Ev::PlanStart(p));
        } else {
            plan.done = true;
        }
    }

    fn send_datagram(&mut self, t: usize) {
        let now = self.now;
        let track = &self.tracks[t];
        if !track.up || track.dg_next >= track.workload.datagrams {
            return;
        }
        let ix = track.node;
        let data = payload::datagram(t as u32, track.dg_next, track.workload.datagram_size);
        let interval = us(track.workload.datagram_interval).max(1);
        let handle = track.handle;
        if let Some(mut s) = self.nodes[ix].node.as_mut().and_then(|n| n.session(handle)) {
            // A refused datagram (too large, closing) simply is not sent.
            let _ = s.send_datagram(now, Bytes::from(data));
        }
        let track = &mut self.tracks[t];
        track.dg_next += 1;
        if track.dg_next < track.workload.datagrams {
            self.schedule(
                Instant::from_micros(now.as_micros() + interval),
                Ev::Datagram(t),
            );
        }
        self.service(ix);
    }

    /// Lets node `ix` and its applications react to whatever just happened, then sends
    /// what it has to send.
    fn service(&mut self, ix: usize) {
        for _ in 0..16 {
            if self.nodes[ix].node.is_none() {
                return;
            }
            let a = self.drain_events(ix);
            self.drive(ix);
            let b = self.drain_events(ix);
            self.flush(ix);
            let c = self.drain_events(ix);
            if !(a || b || c) {
                break;
            }
        }
        self.check_bounds(ix);
    }

    fn find_track(&self, ix: usize, handle: SessionHandle) -> Option<usize> {
        self.nodes[ix]
            .tracks
            .iter()
            .copied()
            .find(|&t| self.tracks[t].handle == handle)
    }

    fn drain_events(&mut self, ix: usize) -> bool {
        let mut any = false;
        self.drain_metrics(ix);
        loop {
            let Some(ev) = self.nodes[ix].node.as_mut().and_then(|n| n.poll_event()) else {
                return any;
            };
            any = true;
            if self.trace.writes() {
                let node = Some(self.nodes[ix].name.as_str());
                let line = stt_trace::event_json_for(self.now, &ev, node);
                self.trace.write_unhashed(&line);
            }
            self.on_event(ix, ev);
        }
    }

    /// Writes node `ix`'s metric records into the trace (only produced when it writes).
    fn drain_metrics(&mut self, ix: usize) {
        let n = &mut self.nodes[ix];
        let Some(node) = n.node.as_mut() else {
            return;
        };
        while let Some(record) = node.poll_metric() {
            let line = stt_trace::metric_json(&record, Some(&n.name));
            self.trace.write_unhashed(&line);
        }
    }

    fn on_event(&mut self, ix: usize, ev: Event) {
        let now = self.now;
        let t_us = now.as_micros();
        match ev {
            Event::Connected {
                session,
                peer,
                initiator,
            } => {
                let peer_ix = self.nodes.iter().position(|n| n.node_id == peer);
                let Some(peer_ix) = peer_ix else {
                    self.violate(Violation::UnknownPeer { node: ix });
                    return;
                };
                if !self.nodes[peer_ix].member || !self.nodes[ix].member {
                    self.violate(Violation::NonMemberAdmitted {
                        node: ix,
                        peer: peer_ix,
                    });
                }
                let t = if initiator {
                    let Some(t) = self.find_track(ix, session) else {
                        return;
                    };
                    let hs = now.saturating_duration_since(self.tracks[t].started);
                    self.handshake_times.push(hs);
                    t
                } else {
                    // Pair with the newest unpaired session the peer opened to us.
                    let peer_track = self.nodes[peer_ix]
                        .tracks
                        .iter()
                        .rev()
                        .copied()
                        .find(|&pt| {
                            let tr = &self.tracks[pt];
                            tr.initiator && tr.peer == Some(ix) && tr.peer_track.is_none()
                        });
                    let expect_in = peer_track.map_or(0, |pt| self.tracks[pt].workload.streams);
                    let t = self.tracks.len();
                    self.tracks.push(Track {
                        node: ix,
                        incarnation: self.nodes[ix].incarnation,
                        handle: session,
                        initiator: false,
                        plan: None,
                        peer: Some(peer_ix),
                        peer_track,
                        up: false,
                        end: End::Open,
                        started: now,
                        workload: self.nodes[ix].serve.clone().unwrap_or_else(Workload::none),
                        expect_in,
                        out: Vec::new(),
                        inn: Vec::new(),
                        dg_next: 0,
                        closing: false,
                        done: false,
                        last_stats: SessionStats::default(),
                        max_cwnd: 0,
                        validated_path: None,
                    });
                    if let Some(pt) = peer_track {
                        self.tracks[pt].peer_track = Some(t);
                    }
                    self.nodes[ix].tracks.push(t);
                    t
                };
                let path = self.nodes[ix]
                    .node
                    .as_mut()
                    .and_then(|n| n.session(session).map(|mut s| s.path()));
                if let Some(p) = path {
                    self.path_oracle.prove(ix, p.0);
                }
                let tr = &mut self.tracks[t];
                tr.up = true;
                tr.validated_path = path;
                for _ in 0..tr.workload.streams {
                    let key = self.records.len();
                    self.records.push(StreamRecord {
                        sender: t,
                        sender_node: ix,
                        receiver: None,
                        total: tr.workload.bytes_per_stream,
                        written: 0,
                        got: 0,
                        fin: false,
                    });
                    tr.out.push(OutStream {
                        id: None,
                        key,
                        written: 0,
                        total: tr.workload.bytes_per_stream,
                        finished: false,
                        acked: false,
                        dead: false,
                        chunk: Vec::new(),
                        chunk_pos: 0,
                    });
                }
                if tr.workload.datagrams > 0 {
                    self.schedule(now, Ev::Datagram(t));
                }
                self.trace.record(
                    t_us,
                    "connected",
                    &[
                        ("node", Val::U(ix as u64)),
                        ("session", Val::U(t as u64)),
                        ("peer", Val::U(peer_ix as u64)),
                        ("initiator", Val::B(initiator)),
                    ],
                );
                self.apps_connected(t);
            }
            Event::Closed { session, reason } => {
                let Some(t) = self.find_track(ix, session) else {
                    return;
                };
                let end = describe_close(&reason);
                let text = reason.to_string();
                self.session_ends.push(crate::report::SessionEnd {
                    node: ix,
                    at: Duration::from_micros(t_us),
                    reason: reason.clone(),
                });
                self.trace.record(
                    t_us,
                    "closed",
                    &[
                        ("node", Val::U(ix as u64)),
                        ("session", Val::U(t as u64)),
                        ("reason", Val::S(&text)),
                    ],
                );
                self.nodes[ix].tracks.retain(|&x| x != t);
                let tr = &mut self.tracks[t];
                tr.up = false;
                tr.end = end.clone();
                if let Some(p) = tr.plan {
                    let success = end == End::Clean && tr.done;
                    if self.plans[p].current == Some(t) {
                        self.plan_session_ended(p, success);
                    }
                }
            }
            Event::Stream { session, event } => {
                let Some(t) = self.find_track(ix, session) else {
                    return;
                };
                let (name, id) = match &event {
                    StreamEvent::Opened { id, .. } => ("opened", id.0),
                    StreamEvent::Readable(id) => ("readable", id.0),
                    StreamEvent::Writable(id) => ("writable", id.0),
                    StreamEvent::Finished(id) => ("finished", id.0),
                    StreamEvent::Stopped { id, .. } => ("stopped", id.0),
                    StreamEvent::Reset { id, .. } => ("reset", id.0),
                    StreamEvent::Available(_) => ("available", 0),
                    StreamEvent::Expired(id) => ("expired", id.0),
                };
                if !matches!(event, StreamEvent::Readable(_) | StreamEvent::Writable(_)) {
                    self.trace.record(
                        t_us,
                        "stream",
                        &[
                            ("node", Val::U(ix as u64)),
                            ("session", Val::U(t as u64)),
                            ("what", Val::S(name)),
                            ("id", Val::U(u64::from(id))),
                        ],
                    );
                }
                if let StreamEvent::Finished(id) = event
                    && let Some(o) = self.tracks[t].out.iter_mut().find(|o| o.id == Some(id))
                {
                    o.acked = true;
                }
            }
            Event::DatagramReceived { session } => {
                let Some(t) = self.find_track(ix, session) else {
                    return;
                };
                let mut got = Vec::new();
                if let Some(mut s) = self.nodes[ix]
                    .node
                    .as_mut()
                    .and_then(|n| n.session(session))
                {
                    while let Some(d) = s.recv_datagram() {
                        got.push(d);
                    }
                }
                for d in got {
                    let ok = payload::parse_datagram(&d).filter(|&(st, seq)| {
                        self.tracks
                            .get(st as usize)
                            .is_some_and(|s| Some(s.node) == self.tracks[t].peer && seq < s.dg_next)
                    });
                    match ok {
                        Some(k) if self.dgram_seen.insert(k) => {}
                        other => {
                            let (track, seq) = other.unwrap_or((u32::MAX, u32::MAX));
                            self.violate(Violation::BadDatagram {
                                node: ix,
                                track,
                                seq,
                            });
                        }
                    }
                }
            }
            Event::PathChanged { session, path } => {
                let t = self.find_track(ix, session).unwrap_or(usize::MAX);
                if let Some(tr) = self.tracks.get_mut(t) {
                    tr.validated_path = Some(path);
                }
                if let Some(v) = self.path_oracle.on_validated(ix, path.0) {
                    self.violate(v);
                }
                self.trace.record(
                    t_us,
                    "path_changed",
                    &[
                        ("node", Val::U(ix as u64)),
                        ("session", Val::U(t as u64)),
                        ("path", Val::U(path.0)),
                    ],
                );
            }
            ev @ (Event::CustomFrame { .. } | Event::Endpoint { .. } | Event::Storage { .. }) => {
                self.apps_event(ix, ev)
            }
            Event::KeyUpdated { .. } | Event::MessagesWritable { .. } => {}
        }
    }

    /// Runs the applications of node `ix`: accept, read and check, write, close.
    fn drive(&mut self, ix: usize) {
        let now = self.now;
        let mut finished_plans = Vec::new();
        let track_ids = self.nodes[ix].tracks.clone();
        let World {
            nodes,
            tracks,
            records,
            violations,
            plans,
            stream_bytes_read,
            stream_bytes_written,
            first_write,
            last_read,
            apps,
            ..
        } = self;
        for t in track_ids {
            if !tracks[t].up {
                continue;
            }
            let handle = tracks[t].handle;
            let Some(node) = nodes[ix].node.as_mut() else {
                return;
            };
            let Some(mut s) = node.session(handle) else {
                continue;
            };
            let track = &mut tracks[t];
            // Accept what the peer opened.
            for dir in [Dir::Uni, Dir::Bi] {
                while let Some(id) = s.accept_stream(dir) {
                    track.inn.push(InStream {
                        id,
                        header: Vec::new(),
                        key: None,
                        got: 0,
                        fin: false,
                        dead: false,
                    });
                }
            }
            // Read and check every byte.
            for i in 0..track.inn.len() {
                loop {
                    let st = &mut track.inn[i];
                    if st.fin || st.dead {
                        break;
                    }
                    match s.read(now, st.id, CHUNK as usize) {
                        Ok(Some(bytes)) => {
                            *stream_bytes_read += bytes.len() as u64;
                            *last_read = Some(now);
                            let mut data: &[u8] = &bytes;
                            if st.key.is_none() {
                                let need = 16 - st.header.len();
                                let take = need.min(data.len());
                                st.header.extend_from_slice(&data[..take]);
                                st.got += take as u64;
                                data = &data[take..];
                                if st.header.len() == 16 {
                                    let rec = payload::parse_header(&st.header)
                                        .and_then(|k| usize::try_from(k).ok())
                                        .filter(|&k| {
                                            records.get(k).is_some_and(|r| {
                                                Some(r.sender_node) == track.peer
                                                    && (track.peer_track.is_none()
                                                        || track.peer_track == Some(r.sender))
                                            })
                                        });
                                    match rec {
                                        Some(k) => {
                                            st.key = Some(k);
                                            records[k].receiver = Some(t);
                                            records[k].got = 16;
                                        }
                                        None => {
                                            st.dead = true;
                                            violations.push(Violation::ForgedStream {
                                                node: ix,
                                                header: st.header.clone(),
                                            });
                                            break;
                                        }
                                    }
                                }
                            }
                            if let Some(k) = st.key
                                && !data.is_empty()
                            {
                                if !payload::check_stream(k as u64, st.got, data)
                                    || st.got + data.len() as u64 > records[k].total
                                {
                                    violations.push(Violation::WrongBytes {
                                        key: k as u64,
                                        offset: st.got,
                                        node: ix,
                                    });
                                    st.dead = true;
                                    break;
                                }
                                st.got += data.len() as u64;
                                records[k].got = st.got;
                            }
                        }
                        Ok(None) => {
                            st.fin = true;
                            match st.key {
                                Some(k) if st.got == records[k].written => {
                                    records[k].fin = true;
                                }
                                k => {
                                    let (key, written) =
                                        k.map_or((u64::MAX, 0), |k| (k as u64, records[k].written));
                                    violations.push(Violation::BadFin {
                                        key,
                                        got: st.got,
                                        written,
                                    });
                                }
                            }
                        }
                        Err(ReadError::Blocked) => break,
                        Err(_) => {
                            st.dead = true;
                            break;
                        }
                    }
                }
            }
            // Open and write.
            for (i, o) in track.out.iter_mut().enumerate() {
                if o.dead || o.finished {
                    continue;
                }
                let id = match o.id {
                    Some(id) => id,
                    None => {
                        let bounded = (i % 2 == 1).then_some(o.total);
                        match s.open_stream(now, track.workload.dir, 0, bounded) {
                            Ok(id) => {
                                o.id = Some(id);
                                id
                            }
                            Err(_) => break,
                        }
                    }
                };
                while o.written < o.total {
                    if o.chunk_pos >= o.chunk.len() {
                        let len = (o.total - o.written).min(CHUNK) as usize;
                        o.chunk.resize(len, 0);
                        payload::fill_stream(o.key as u64, o.written, &mut o.chunk);
                        o.chunk_pos = 0;
                    }
                    match s.write(now, id, &o.chunk[o.chunk_pos..]) {
                        Ok(n) => {
                            if first_write.is_none() {
                                *first_write = Some(now);
                            }
                            o.written += n as u64;
                            o.chunk_pos += n;
                            *stream_bytes_written += n as u64;
                            records[o.key].written = o.written;
                            if n == 0 {
                                break;
                            }
                        }
                        Err(WriteError::Blocked) => break,
                        Err(_) => {
                            o.dead = true;
                            break;
                        }
                    }
                }
                if o.written == o.total && !o.dead {
                    match s.finish(now, id) {
                        Ok(()) => o.finished = true,
                        Err(_) => o.dead = true,
                    }
                }
            }
            // Done? Everything of ours acknowledged, everything of the peer's read.
            let sent_all = track.out.iter().all(|o| o.acked)
                && track.dg_next >= track.workload.datagrams
                && apps.done(t)
                && s.messages_in_flight() == 0;
            let read_all = track.inn.iter().filter(|i| i.fin).count() as u32 >= track.expect_in;
            if track.initiator && !track.done && sent_all && read_all {
                track.done = true;
                let plan = track.plan;
                let close = plan.is_some_and(|p| plans[p].spec.close_when_done);
                if close {
                    track.closing = true;
                    s.close(now, ErrorCode::NO_ERROR, b"done");
                } else if let Some(p) = plan {
                    finished_plans.push((p, t));
                }
            }
        }
        for (p, t) in finished_plans {
            if self.plans[p].current == Some(t) {
                self.plan_session_ended(p, true);
            }
        }
    }

    fn flush(&mut self, ix: usize) {
        let now = self.now;
        let mut buf = std::mem::take(&mut self.buf);
        while let Some(tx) = self.nodes[ix]
            .node
            .as_mut()
            .and_then(|n| n.poll_transmit(now, &mut buf))
        {
            let seg = tx.segment_size.unwrap_or(tx.len).max(1);
            let mut off = 0;
            while off < tx.len.min(buf.len()) {
                let end = (off + seg).min(tx.len);
                self.route(ix, tx.path, buf[off..end].to_vec());
                off = end;
            }
        }
        self.buf = buf;
    }

    fn check_bounds(&mut self, ix: usize) {
        let World {
            nodes,
            tracks,
            heard_at,
            now,
            ..
        } = self;
        let now = *now;
        let n = &mut nodes[ix];
        let Some(node) = n.node.as_mut() else {
            return;
        };
        let cfg = node.config();
        let (max_sessions, max_half_open, mtu) = (
            cfg.max_sessions,
            cfg.max_half_open,
            cfg.max_packet_size as u64,
        );
        let t_cfg = &cfg.transport;
        let (idle, keepalive, ack_delay) = (
            t_cfg.idle_timeout,
            t_cfg.keepalive_interval,
            t_cfg.max_ack_delay,
        );
        let mut found = Vec::new();
        let mut idle_missed = Vec::new();
        if node.session_count() > max_sessions {
            found.push((
                "session_count",
                node.session_count() as u64,
                max_sessions as u64,
            ));
        }
        if node.half_open_count() > max_half_open {
            found.push((
                "half_open_count",
                node.half_open_count() as u64,
                max_half_open as u64,
            ));
        }
        n.last_stats = node.stats();
        for &t in &n.tracks {
            if let Some(mut s) = node.session(tracks[t].handle) {
                let st = s.stats();
                // The window may shrink below what is already in flight (a loss halves
                // it), so the bound is the largest window granted so far; RFC 9002
                // §6.2.4 lets each probe timeout send two datagrams beyond it.
                let tr = &mut tracks[t];
                tr.max_cwnd = tr.max_cwnd.max(st.cwnd);
                let bound = tr.max_cwnd + (2 * st.pto_count + 3) * mtu;
                if st.bytes_in_flight > bound {
                    found.push(("bytes_in_flight", st.bytes_in_flight, bound));
                }
                if let Some(peer) = tr.peer.filter(|_| tr.up && !tr.closing) {
                    let heard = heard_at.get(&(ix, peer)).copied();
                    let last = heard.map_or(tr.started, |h| h.max(tr.started));
                    if let Some(due) =
                        live_checks::idle_due(last, idle, keepalive, st.rtt, ack_delay)
                        && now > due
                    {
                        idle_missed.push((t, now.saturating_duration_since(last)));
                    }
                }
                tracks[t].last_stats = st;
            }
        }
        for (track, silent) in idle_missed {
            self.violate(Violation::IdleNotFired {
                node: ix,
                track,
                silent,
            });
        }
        for (what, value, bound) in found {
            self.violate(Violation::Memory {
                node: ix,
                what,
                value,
                bound,
            });
        }
    }

    fn end_of(&self, t: usize) -> End {
        let tr = &self.tracks[t];
        if tr.end == End::Open && self.nodes[tr.node].incarnation != tr.incarnation {
            End::Crashed
        } else {
            tr.end.clone()
        }
    }

    /// End-of-run checks; builds the report.
    /// True while some session is open although its peer session ended with an error.
    fn has_half_open(&self) -> bool {
        (0..self.tracks.len()).any(|t| {
            self.tracks[t].peer_track.is_some_and(|pt| {
                self.end_of(t) == End::Open && matches!(self.end_of(pt), End::Error(_))
            })
        })
    }

    fn finish(mut self) -> RunReport {
        self.apps_finish();
        self.check_attacks();
        if self.scenario.check_paths {
            self.check_paths();
        }
        // No silent loss: each stream is delivered whole, or both applications heard
        // of an error.
        for k in 0..self.records.len() {
            let r = &self.records[k];
            if r.fin && r.got == r.total {
                continue;
            }
            let sender = self.end_of(r.sender);
            let receiver = r
                .receiver
                .or(self.tracks[r.sender].peer_track)
                .map(|t| self.end_of(t));
            let receiver_ok = receiver.as_ref().is_none_or(End::is_failure);
            if !(sender.is_failure() && receiver_ok) {
                let v = Violation::SilentLoss {
                    key: k as u64,
                    got: r.got,
                    written: r.written,
                    sender: sender.describe(),
                    receiver: receiver.map_or("never opened".into(), |e| e.describe()),
                };
                self.violate(v);
            }
        }
        // Both ends hear of an error.
        for t in 0..self.tracks.len() {
            let Some(pt) = self.tracks[t].peer_track else {
                continue;
            };
            let (mine, theirs) = (self.end_of(t), self.end_of(pt));
            if mine == End::Open
                && let End::Error(_) = theirs
            {
                let v = Violation::HalfOpen {
                    node: self.tracks[t].node,
                    track: t,
                    peer_end: theirs.describe(),
                };
                self.violate(v);
            }
        }
        // Expected outcomes.
        for p in 0..self.plans.len() {
            let plan = &self.plans[p];
            let ok = match plan.spec.expect {
                Expect::Complete => plan.succeeded >= plan.spec.sessions,
                Expect::Fail => plan.done && plan.succeeded == 0,
                Expect::Either => plan.done,
            };
            if !ok {
                let v = Violation::Outcome {
                    node: plan.node,
                    plan: plan.index,
                    expected: format!("{:?}", plan.spec.expect),
                    got: format!(
                        "{} succeeded, {} failed, {}",
                        plan.succeeded,
                        plan.failed,
                        if plan.done {
                            "done"
                        } else {
                            "unfinished at end of run"
                        }
                    ),
                };
                self.violate(v);
            }
        }
        let mut retransmitted = 0;
        let mut packets_sent = 0;
        let mut packets_lost = 0;
        let mut probe_timeouts = 0;
        let mut rekeys = 0;
        for tr in &self.tracks {
            probe_timeouts += tr.last_stats.pto_count;
            rekeys += tr.last_stats.rekeys;
            retransmitted += tr.last_stats.bytes_retransmitted;
            packets_sent += tr.last_stats.packets_sent;
            packets_lost += tr.last_stats.packets_lost;
        }
        let links: Vec<((usize, usize), LinkStats)> =
            self.links.iter().map(|(k, l)| (*k, l.stats)).collect();
        self.trace.flush();
        let transfer_time = match (self.first_write, self.last_read) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a)),
            _ => None,
        };
        RunReport {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            violations: self.violations,
            end_time: Duration::from_micros(self.now.as_micros()),
            trace_hash: self.trace.hash(),
            trace_lines: self.trace.lines(),
            trace_error: self.trace.error.as_ref().map(|e| e.to_string()),
            stream_bytes_written: self.stream_bytes_written,
            stream_bytes_read: self.stream_bytes_read,
            transfer_time,
            bytes_retransmitted: retransmitted,
            packets_sent,
            packets_lost,
            probe_timeouts,
            rekeys,
            wire_packets: self.wire_packets,
            wire_bytes: self.wire_bytes,
            handshake_times: self.handshake_times,
            sessions_succeeded: self.plans.iter().map(|p| p.succeeded).sum(),
            sessions_failed: self.plans.iter().map(|p| p.failed).sum(),
            node_stats: self
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.last_stats))
                .collect(),
            drops: self.drops,
            session_ends: self.session_ends,
            links,
        }
    }
}
