//! The in-memory network the engine fuzz targets run on: a few [`Node`]s, a virtual
//! clock, packets in flight, a log of past packets to replay or mutate, and the
//! node-level invariants checked after every step (bounded tables, no timer loop,
//! `Closed` once per session, the 3× anti-amplification limit on unproven paths).
//!
//! Addressing: node `j` reaches node `i` on `PathId(i + 1)`. Any other path is an
//! address the fuzzer made up: packets delivered "from" it are spoofed, and replies to
//! it go nowhere (they only count against that path's amplification budget).

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::BytesMut;

use stt_proto::config::NodeConfig;
use stt_proto::frame::is_relay_datagram;
use stt_proto::{Event, Instant, Node, PathId, SessionHandle};
use stt_proto::{Identity, NetworkKey};

/// Packets kept for replay and mutation.
pub(crate) const LOG_LEN: usize = 64;
/// Packets in flight at once; more are dropped (a full router queue).
const MAX_IN_FLIGHT: usize = 256;
/// One-way delay of the simulated links.
pub(crate) const LATENCY: Duration = Duration::from_millis(5);
/// A packet held longer than this is lost (no router queue holds one for long); it
/// also bounds the RTT an adversary can fake, and with it the sessions' lifetimes.
const MAX_AGE: Duration = Duration::from_secs(2);
/// Timer firings at one instant before the world calls it a loop.
const MAX_SPINS: u32 = 1000;

/// One datagram on the simulated network.
#[derive(Debug, Clone)]
pub(crate) struct Packet {
    /// Receiving node.
    pub to: usize,
    /// The path the receiver sees it arrive on.
    pub path: PathId,
    /// When it arrives (if delivered in order).
    pub at: Instant,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Bytes a node sent to and received from one path.
#[derive(Debug, Clone, Copy, Default)]
struct Acct {
    sent: u64,
    received: u64,
    /// The node proved the peer at this path (its own connect target, a completed
    /// handshake, a validated migration): no amplification limit.
    proven: bool,
}

/// Builds a node from small seeds (identity `tag`, network `net`).
pub(crate) fn node(tag: u8, net: u8, config: &Arc<NodeConfig>) -> Node {
    let identity = Identity::from_node_seed(&[tag; 32]);
    let network = NetworkKey::from_shared_seed(&[net; 32]);
    match (identity, network) {
        (Ok(i), Ok(n)) => match Node::new(config.clone(), i, n, [tag ^ 0x5a; 32]) {
            Ok(node) => node,
            Err(e) => panic!("fuzz node config rejected: {e}"),
        },
        _ => panic!("fuzz seeds rejected"),
    }
}

/// The network and its nodes.
#[derive(Clone)]
pub(crate) struct World {
    pub nodes: Vec<Node>,
    pub now: Instant,
    pub in_flight: VecDeque<Packet>,
    pub log: VecDeque<Packet>,
    /// Events each node reported, in order (drained by the target as it likes).
    pub events: Vec<Vec<Event>>,
    /// Spoofed paths that do reach a node (a NAT rebinding): (node, path) → real sender.
    pub aliases: BTreeMap<(usize, u64), usize>,
    /// NAT rebindings: packets from `.0` to `.1` arrive on this path instead.
    rebound: BTreeMap<(usize, usize), PathId>,
    acct: BTreeMap<(usize, u64), Acct>,
    closed: Vec<BTreeSet<SessionHandle>>,
    /// (sender, path) of every relay datagram ("SR", PROTOCOL.md §12.3) a node sent.
    pub relay_sent: BTreeSet<(usize, u64)>,
    /// Bytes of relay datagrams each node received.
    relay_received: Vec<u64>,
    buf: Vec<u8>,
}

impl World {
    /// A world of `nodes` at time 1 s with nothing in flight.
    pub fn new(nodes: Vec<Node>) -> Self {
        let n = nodes.len();
        Self {
            nodes,
            now: Instant::from_micros(1_000_000),
            in_flight: VecDeque::new(),
            log: VecDeque::new(),
            events: vec![Vec::new(); n],
            aliases: BTreeMap::new(),
            rebound: BTreeMap::new(),
            acct: BTreeMap::new(),
            closed: vec![BTreeSet::new(); n],
            relay_sent: BTreeSet::new(),
            relay_received: vec![0; n],
            buf: vec![0u8; 65_536],
        }
    }

    /// The path on which `from` reaches `to`.
    pub fn path_to(to: usize) -> PathId {
        PathId(to as u64 + 1)
    }

    /// Marks `path` as proven for node `i` (it initiated to it).
    pub fn prove(&mut self, i: usize, path: PathId) {
        self.acct.entry((i, path.0)).or_default().proven = true;
    }

    /// From now on `from`'s packets reach `to` from `alias` (a NAT rebinding), and
    /// `to`'s packets to `alias` reach `from`.
    pub fn rebind(&mut self, from: usize, to: usize, alias: PathId) {
        self.rebound.insert((from, to), alias);
        self.aliases.insert((to, alias.0), from);
    }

    /// Sends everything every node has to send and collects their events.
    pub fn flush(&mut self) {
        for i in 0..self.nodes.len() {
            self.flush_node(i);
        }
    }

    fn flush_node(&mut self, i: usize) {
        let mut buf = core::mem::take(&mut self.buf);
        while let Some(t) = self.nodes[i].poll_transmit(self.now, &mut buf) {
            let seg = t.segment_size.unwrap_or(t.len).max(1);
            let mut off = 0;
            while off < t.len {
                let end = (off + seg).min(t.len);
                self.route(i, t.path, buf[off..end].to_vec());
                off = end;
            }
        }
        self.buf = buf;
        while let Some(e) = self.nodes[i].poll_event() {
            self.on_event(i, &e);
            self.events[i].push(e);
        }
    }

    fn route(&mut self, from: usize, path: PathId, bytes: Vec<u8>) {
        self.acct.entry((from, path.0)).or_default().sent += bytes.len() as u64;
        if is_relay_datagram(&bytes) {
            self.relay_sent.insert((from, path.0));
        }
        let to = match path.0.checked_sub(1) {
            Some(j) if (j as usize) < self.nodes.len() => Some(j as usize),
            _ => self.aliases.get(&(from, path.0)).copied(),
        };
        let Some(to) = to else {
            return;
        };
        let arrival = self
            .rebound
            .get(&(from, to))
            .copied()
            .unwrap_or(Self::path_to(from));
        let packet = Packet {
            to,
            path: arrival,
            at: self.now + LATENCY,
            bytes,
        };
        if self.log.len() == LOG_LEN {
            self.log.pop_front();
        }
        self.log.push_back(packet.clone());
        if self.in_flight.len() < MAX_IN_FLIGHT {
            self.in_flight.push_back(packet);
        }
    }

    fn on_event(&mut self, i: usize, e: &Event) {
        match e {
            Event::Connected { session, .. } => {
                let path = self.nodes[i].session(*session).map(|mut s| s.path());
                if let Some(p) = path {
                    self.prove(i, p);
                }
            }
            Event::PathChanged { path, .. } => self.prove(i, *path),
            Event::Closed { session, .. } => {
                assert!(
                    self.closed[i].insert(*session),
                    "node {i}: Closed reported twice for {session:?}"
                );
                assert!(
                    self.nodes[i].session(*session).is_none(),
                    "node {i}: {session:?} still live after Closed"
                );
            }
            _ => {}
        }
    }

    /// Hands `packet` to its receiver now (time moves to its arrival if later); one
    /// held past [`MAX_AGE`] is lost instead.
    pub fn deliver(&mut self, packet: Packet) {
        self.now = self.now.max(packet.at);
        if self.now > packet.at + MAX_AGE {
            return;
        }
        self.receive(packet.to, packet.path, &packet.bytes);
    }

    /// Hands `bytes` to node `to` as if they arrived on `path`, now.
    pub fn receive(&mut self, to: usize, path: PathId, bytes: &[u8]) {
        self.acct.entry((to, path.0)).or_default().received += bytes.len() as u64;
        if is_relay_datagram(bytes) {
            self.relay_received[to] += bytes.len() as u64;
        }
        self.nodes[to].handle_datagram(self.now, path, BytesMut::from(bytes));
        self.flush_node(to);
    }

    /// Bytes of relay datagrams node `i` has received.
    pub fn relay_bytes_received(&self, i: usize) -> u64 {
        self.relay_received[i]
    }

    /// Moves the clock forward by `d` and fires every due timer.
    pub fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.fire_timers();
    }

    /// Fires due timers until none is due at `now`, failing on a timer loop.
    pub fn fire_timers(&mut self) {
        for i in 0..self.nodes.len() {
            let mut spins = 0;
            while self.nodes[i].poll_timeout().is_some_and(|t| t <= self.now) {
                self.nodes[i].handle_timeout(self.now);
                self.flush_node(i);
                spins += 1;
                assert!(
                    spins < MAX_SPINS,
                    "node {i}: timer due at {:?} fired {spins} times without progress",
                    self.now
                );
            }
        }
    }

    /// One step of a clean network: delivers what arrives next (in arrival order) or
    /// fires the next timer. False once nothing is in flight and no timer is due by
    /// `until`.
    pub fn clean_step(&mut self, until: Instant) -> bool {
        self.flush();
        let next_packet = self.in_flight.iter().map(|p| p.at).min();
        let next_timer = self.nodes.iter_mut().filter_map(|n| n.poll_timeout()).min();
        let next = match (next_packet, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return false,
            },
        };
        if next > until {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        let (due, later): (VecDeque<_>, VecDeque<_>) =
            self.in_flight.drain(..).partition(|p| p.at <= now);
        self.in_flight = later;
        for p in due {
            self.deliver(p);
        }
        self.fire_timers();
        true
    }

    /// Runs [`World::clean_step`] until it is done.
    pub fn run_clean(&mut self, until: Instant, mut app: impl FnMut(&mut Self)) {
        app(self);
        while self.clean_step(until) {
            app(self);
        }
    }

    /// Checks the node-wide invariants: tables within their limits and no node sending
    /// more than 3× what it received to an address it has not proven.
    pub fn check(&mut self) {
        for (i, n) in self.nodes.iter_mut().enumerate() {
            let c = n.config();
            let (max_sessions, max_half_open) = (c.max_sessions, c.max_half_open);
            assert!(
                n.session_count() <= max_sessions,
                "node {i}: too many sessions"
            );
            assert!(
                n.half_open_count() <= max_half_open,
                "node {i}: half-open table over its limit"
            );
        }
        for (&(i, path), a) in &self.acct {
            let bound = 3 * a.received;
            assert!(
                a.proven || a.sent <= bound,
                "node {i}: sent {} bytes to unproven path {path} after receiving {}",
                a.sent,
                a.received
            );
        }
    }
}
