//! The simulation world: nodes, per-direction links, a virtual clock and one event queue
//! ordered by (time, insertion sequence), so ties resolve the same way on every run.
//!
//! This file owns the [`World`] type, its construction and its step loop (next event or
//! next node timer, whichever is first); it must not hold a concern's logic: node hosting,
//! the network, faults, sessions, stream and app drivers and the checks each live in a
//! file under `world/`. The world never sleeps or reads a clock; all randomness is forked
//! from the run's master seed. Library code here never panics on network data.

mod adversary;
mod apps;
mod end_checks;
mod faults;
mod hosting;
mod live_checks;
mod network;
mod path_oracle;
mod paths;
mod sessions;
mod streams;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use stt_proto::Identity;
use stt_proto::{Instant, NodeStats};

use self::faults::InjState;
use self::hosting::SimNode;
use self::sessions::{End, PlanState, Track};
use self::streams::StreamRecord;
use crate::invariant::Violation;
use crate::link::Link;
use crate::report::RunReport;
use crate::rng::SimRng;
use crate::scenario::Scenario;
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
    /// Attacks sent: (attacker's sim session, attack, the attacker's new address for
    /// a wrong-answer attack), checked at the end.
    attacks: Vec<(usize, crate::adversary::Attack, u64)>,
    /// Every protected packet a node put on the wire: (node, incarnation, receiver's
    /// session id, sequence). A repeat is a reused nonce.
    sent_pns: std::collections::HashSet<(usize, u32, u64, u32)>,
    /// Nodes whose own datagrams are dropped until the given time (an adversary that
    /// answers for its engine).
    muted: BTreeMap<usize, Instant>,
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
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
                got_response: false,
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
            muted: BTreeMap::new(),
            sent_pns: std::collections::HashSet::new(),
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
            // Likewise a wrong-answer attack's peer, until the honest answer validated
            // the attacker's new address.
            if settle_until.is_some_and(|s| at > s)
                && (self.has_half_open() || self.wrong_answer_pending())
            {
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
}
