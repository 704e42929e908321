//! An in-memory network of two `stt_proto` nodes for the attack suite: a virtual clock,
//! every datagram captured (for replay and mutation), and per-path byte accounting so
//! a test can check the anti-amplification limit. No IO.
//!
//! Node 0 reaches node 1 on `PathId(2)` and node 1 reaches node 0 on `PathId(1)`;
//! every other path is an address an attacker made up: what a node sends there is
//! counted and dropped.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use stt_proto::config::NodeConfig;
use stt_proto::error::SessionError;
use stt_proto::frame::{Frame, StreamId};
use stt_proto::{Event, Instant, Node, NodeStats, PathId, SessionHandle};
use stt_proto::{Identity, NetworkKey};

/// A datagram one node sent.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Sending node (0 or 1).
    pub from: usize,
    /// The path it was sent to.
    pub path: PathId,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

/// Builds a node: identity from `tag`, network from `net`.
pub fn node(tag: u8, net: u8, config: NodeConfig) -> Node {
    Node::new(
        Arc::new(config),
        Identity::from_node_seed(&[tag; 32]).expect("seed"),
        NetworkKey::from_shared_seed(&[net; 32]).expect("seed"),
        [tag ^ 0x77; 32],
    )
    .expect("config")
}

/// An on-path attacker: sees each datagram between the nodes (sender, bytes) and
/// returns what arrives instead, in order (empty: dropped).
pub type Tamper = Box<dyn FnMut(usize, &[u8]) -> Vec<Vec<u8>>>;

/// Two nodes back to back.
pub struct Pair {
    /// The nodes.
    pub nodes: [Node; 2],
    /// Virtual time.
    pub now: Instant,
    /// Every datagram sent so far, in order.
    pub captured: Vec<Sent>,
    /// Events reported, per node.
    pub events: [Vec<Event>; 2],
    /// Bytes each node sent to each path.
    pub sent_to: BTreeMap<(usize, u64), u64>,
    /// Bytes each node received from each path.
    pub received_from: BTreeMap<(usize, u64), u64>,
    /// When false, datagrams between the nodes are captured but not delivered.
    pub deliver: bool,
    /// The on-path attacker, if any.
    pub tamper: Option<Tamper>,
    in_flight: Vec<(Instant, usize, Vec<u8>)>,
    buf: Vec<u8>,
}

/// The path on which the other node reaches node `i`.
pub fn path_of(i: usize) -> PathId {
    PathId(i as u64 + 1)
}

impl Pair {
    /// Two member nodes with these configurations.
    pub fn new(a: NodeConfig, b: NodeConfig) -> Self {
        Self::with_nodes(node(1, 7, a), node(2, 7, b))
    }

    /// Two given nodes.
    pub fn with_nodes(a: Node, b: Node) -> Self {
        Self {
            nodes: [a, b],
            now: Instant::from_micros(1_000_000),
            captured: Vec::new(),
            events: [Vec::new(), Vec::new()],
            sent_to: BTreeMap::new(),
            received_from: BTreeMap::new(),
            deliver: true,
            tamper: None,
            in_flight: Vec::new(),
            buf: vec![0u8; 65_536],
        }
    }

    /// Node 0 connects to node 1; runs until both are connected.
    pub fn connect(&mut self) -> (SessionHandle, SessionHandle) {
        let a = self.nodes[0]
            .connect(self.now, path_of(1))
            .expect("connect");
        let mut b = None;
        let mut up = false;
        self.run_until(Duration::from_secs(10), |p| {
            for e in p.events[0].drain(..) {
                up |= matches!(e, Event::Connected { session, .. } if session == a);
            }
            for e in p.events[1].drain(..) {
                if let Event::Connected { session, .. } = e {
                    b = Some(session);
                }
            }
            up && b.is_some()
        });
        (a, b.expect("responder connected"))
    }

    /// Sends what both nodes have to send (captured; queued if `deliver`).
    pub fn flush(&mut self) {
        for i in 0..2 {
            while let Some(t) = self.nodes[i].poll_transmit(self.now, &mut self.buf) {
                let seg = t.segment_size.unwrap_or(t.len);
                for chunk in self.buf[..t.len].chunks(seg) {
                    *self.sent_to.entry((i, t.path.0)).or_default() += chunk.len() as u64;
                    self.captured.push(Sent {
                        from: i,
                        path: t.path,
                        bytes: chunk.to_vec(),
                    });
                    if self.deliver && t.path == path_of(1 - i) {
                        let at = self.now + Duration::from_millis(5);
                        let arriving = match self.tamper.as_mut() {
                            Some(f) => f(i, chunk),
                            None => vec![chunk.to_vec()],
                        };
                        for bytes in arriving {
                            self.in_flight.push((at, 1 - i, bytes));
                        }
                    }
                }
            }
            while let Some(e) = self.nodes[i].poll_event() {
                self.events[i].push(e);
            }
        }
    }

    /// Hands `bytes` to node `to` as arriving on `path`, now.
    pub fn inject(&mut self, to: usize, path: PathId, bytes: &[u8]) {
        *self.received_from.entry((to, path.0)).or_default() += bytes.len() as u64;
        self.nodes[to].handle_datagram(self.now, path, BytesMut::from(bytes));
        self.flush();
    }

    /// One step: deliver what is due, fire due timers, advance to the next event.
    fn step(&mut self, limit: Instant) -> bool {
        self.flush();
        let next_packet = self.in_flight.iter().map(|p| p.0).min();
        let next_timer = self.nodes.iter_mut().filter_map(|n| n.poll_timeout()).min();
        let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
            return false;
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        let mut due: Vec<_> = Vec::new();
        self.in_flight.retain(|p| {
            if p.0 <= now {
                due.push(p.clone());
                false
            } else {
                true
            }
        });
        for (_, to, bytes) in due {
            self.inject(to, path_of(1 - to), &bytes);
        }
        for i in 0..2 {
            if self.nodes[i].poll_timeout().is_some_and(|t| t <= now) {
                self.nodes[i].handle_timeout(now);
            }
        }
        self.flush();
        true
    }

    /// Runs until `done` holds or `limit` of virtual time passed; returns `done`.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            if done(self) {
                return true;
            }
            if !self.step(end) {
                return done(self);
            }
        }
    }

    /// Runs for `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        self.run_until(d, |_| false);
    }

    /// Both nodes' counters.
    pub fn stats(&self) -> [NodeStats; 2] {
        [self.nodes[0].stats(), self.nodes[1].stats()]
    }

    /// Whether node `i`'s session `h` is established.
    pub fn is_up(&mut self, i: usize, h: SessionHandle) -> bool {
        self.nodes[i]
            .session(h)
            .is_some_and(|mut s| s.is_established())
    }

    /// The datagram node `i`'s session `h` makes of exactly `frames` on `stream`: a peer
    /// turned malicious seals what the honest API would never send.
    pub fn sealed_by(
        &mut self,
        i: usize,
        h: SessionHandle,
        stream: StreamId,
        frames: &[Frame<'_>],
    ) -> Vec<u8> {
        let mut payload = vec![0u8; 1400];
        let mut at = 0;
        for f in frames {
            at += f.encode(&mut payload[at..]).unwrap();
        }
        let mut buf = vec![0u8; 2048];
        let now = self.now;
        let len = self.nodes[i]
            .session(h)
            .unwrap()
            .seal_raw_frames(now, stream, &payload[..at], &mut buf)
            .expect("sealed");
        buf.truncate(len);
        buf
    }

    /// The reason of node `i`'s `Closed` event for `h`, waiting up to 10 s of virtual
    /// time for it (a closed session lingers 3 PTO to answer stragglers).
    pub fn closed_reason(&mut self, i: usize, h: SessionHandle) -> Option<SessionError> {
        let find = |p: &Self| {
            p.events[i].iter().find_map(|e| match e {
                Event::Closed { session, reason } if *session == h => Some(reason.clone()),
                _ => None,
            })
        };
        self.run_until(Duration::from_secs(10), |p| find(p).is_some());
        find(self)
    }
}

/// A small deterministic generator for attack bytes.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next_u64() as u8).collect()
    }

    /// A value below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// Prints a node's counters under a label (visible with `--nocapture`) and returns
/// the difference `after - before` as named non-zero counters.
pub fn counters_moved(
    label: &str,
    before: &NodeStats,
    after: &NodeStats,
) -> Vec<(&'static str, u64)> {
    let pairs = [
        (
            "dropped_malformed",
            before.dropped_malformed,
            after.dropped_malformed,
        ),
        (
            "dropped_unauthenticated",
            before.dropped_unauthenticated,
            after.dropped_unauthenticated,
        ),
        (
            "dropped_replayed",
            before.dropped_replayed,
            after.dropped_replayed,
        ),
        (
            "dropped_unknown_session",
            before.dropped_unknown_session,
            after.dropped_unknown_session,
        ),
        (
            "dropped_over_limit",
            before.dropped_over_limit,
            after.dropped_over_limit,
        ),
        (
            "dropped_handshake",
            before.dropped_handshake,
            after.dropped_handshake,
        ),
        (
            "dropped_unexpected",
            before.dropped_unexpected,
            after.dropped_unexpected,
        ),
        (
            "dropped_version",
            before.dropped_version,
            after.dropped_version,
        ),
        ("refused_peers", before.refused_peers, after.refused_peers),
        ("cookies_sent", before.cookies_sent, after.cookies_sent),
        (
            "sessions_accepted",
            before.sessions_accepted,
            after.sessions_accepted,
        ),
        (
            "sessions_connected",
            before.sessions_connected,
            after.sessions_connected,
        ),
        (
            "inits_cookie_required",
            before.inits_cookie_required,
            after.inits_cookie_required,
        ),
        (
            "inits_bad_cookie",
            before.inits_bad_cookie,
            after.inits_bad_cookie,
        ),
        (
            "inits_rate_limited",
            before.inits_rate_limited,
            after.inits_rate_limited,
        ),
        (
            "inits_replayed",
            before.inits_replayed,
            after.inits_replayed,
        ),
        (
            "inits_table_full",
            before.inits_table_full,
            after.inits_table_full,
        ),
        (
            "inits_challenge_resent",
            before.inits_challenge_resent,
            after.inits_challenge_resent,
        ),
        (
            "under_load_rate_trips",
            before.under_load_rate_trips,
            after.under_load_rate_trips,
        ),
    ];
    let moved: Vec<_> = pairs
        .into_iter()
        .filter(|(_, b, a)| a != b)
        .map(|(n, b, a)| (n, a - b))
        .collect();
    println!("ATTACK {label}: {moved:?}");
    moved
}
