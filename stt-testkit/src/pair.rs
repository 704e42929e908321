//! The in-memory two-node harness of stt-proto's integration tests: two Nodes wired back
//! to back with a virtual clock, no IO, modelled on quinn-proto's test "pair". Links can
//! drop, duplicate, delay and reorder packets through a per-packet hook. It checks only
//! that no timer loops; the tests using it assert the rest.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use stt_proto::config::NodeConfig;
use stt_proto::error::{ReadError, WriteError};
use stt_proto::frame::{Dir, StreamId};
use stt_proto::{Event, Instant, Node, PathId, SessionHandle};
use stt_proto::{Identity, NetworkKey};

/// What a link does with one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Deliver after the link latency.
    Deliver,
    /// Lose it.
    Drop,
    /// Deliver it twice, 10 µs apart.
    Duplicate,
    /// Deliver after this extra delay (reordering).
    Delay(Duration),
}

/// A per-packet hook: (from peer, sequence number of the datagram on that link, bytes).
pub type Hook = Box<dyn FnMut(usize, u64, &[u8]) -> Fate>;

/// A hook that also sees the path a packet was sent on and the time:
/// (from peer, path, now, bytes). Asked before [`Hook`]; a fate other than `Deliver`
/// wins.
pub type PathHook = Box<dyn FnMut(usize, PathId, Instant, &[u8]) -> Fate>;

/// One side of the pair.
pub struct Peer {
    /// The node.
    pub node: Node,
    /// The path id this node uses to reach the other node.
    pub path_to_other: PathId,
    /// Events the node reported, in order (the tests drain them).
    pub events: Vec<Event>,
}

/// Two nodes, the links between them and a virtual clock.
pub struct Pair {
    /// Node 0 and node 1.
    pub peers: [Peer; 2],
    /// The virtual time.
    pub now: Instant,
    /// One-way delay of both links.
    pub latency: Duration,
    /// In flight: (deliver at, to peer, arriving on path, bytes).
    pub in_flight: Vec<(Instant, usize, PathId, Vec<u8>)>,
    /// Called for every datagram: (from peer, sequence number of datagram on that link, bytes).
    pub hook: Option<Hook>,
    /// Called for every datagram before `hook`.
    pub path_hook: Option<PathHook>,
    /// Datagrams each peer sent.
    pub sent: [u64; 2],
    /// Datagrams delivered.
    pub delivered: u64,
    /// Extra paths: (sending peer, path it sends on, path the receiver sees). Packets
    /// on any other path arrive on the receiver's `path_to_other`.
    pub routes: Vec<(usize, PathId, PathId)>,
    buf: Vec<u8>,
}

/// A 32-byte seed of `tag`.
pub fn seed(tag: u8) -> [u8; 32] {
    [tag; 32]
}

/// A node with identity seed `tag`, network seed `network` and `config`.
pub fn node(tag: u8, network: &[u8], config: NodeConfig) -> Node {
    let identity = Identity::from_node_seed(&seed(tag)).unwrap();
    let network = NetworkKey::from_shared_seed(network).unwrap();
    Node::new(
        Arc::new(config),
        identity,
        network,
        seed(tag.wrapping_add(100)),
    )
    .unwrap()
}

impl Pair {
    /// Two nodes of one network with these configs.
    pub fn new(config_a: NodeConfig, config_b: NodeConfig) -> Self {
        let net = [7u8; 32];
        Self::with_nodes(node(1, &net, config_a), node(2, &net, config_b))
    }

    /// Two nodes with the default config.
    pub fn default_pair() -> Self {
        Self::new(NodeConfig::default(), NodeConfig::default())
    }

    /// A pair of these nodes, at time 1 s with 5 ms links.
    pub fn with_nodes(a: Node, b: Node) -> Self {
        Self {
            peers: [
                Peer {
                    node: a,
                    path_to_other: PathId(2),
                    events: Vec::new(),
                },
                Peer {
                    node: b,
                    path_to_other: PathId(1),
                    events: Vec::new(),
                },
            ],
            now: Instant::from_micros(1_000_000),
            latency: Duration::from_millis(5),
            in_flight: Vec::new(),
            hook: None,
            path_hook: None,
            sent: [0, 0],
            delivered: 0,
            routes: Vec::new(),
            buf: vec![0u8; 65536],
        }
    }

    /// Node 0 connects to node 1 and the pair runs until both report Connected.
    pub fn connect(&mut self) -> (SessionHandle, SessionHandle) {
        let path = self.peers[0].path_to_other;
        let a = self.peers[0].node.connect(self.now, path).unwrap();
        let deadline = self.now + Duration::from_secs(30);
        let mut b = None;
        let mut a_up = false;
        while self.now < deadline && !(a_up && b.is_some()) {
            self.step();
            for e in self.peers[0].events.drain(..) {
                if let Event::Connected { session, .. } = e {
                    assert_eq!(session, a);
                    a_up = true;
                }
            }
            for e in self.peers[1].events.drain(..) {
                if let Event::Connected { session, .. } = e {
                    b = Some(session);
                }
            }
        }
        (a, b.expect("responder never connected"))
    }

    /// Sends everything both nodes have to send right now into the links.
    pub fn flush(&mut self) {
        for i in 0..2 {
            while let Some(t) = self.peers[i].node.poll_transmit(self.now, &mut self.buf) {
                let seg = t.segment_size.unwrap_or(t.len);
                let mut off = 0;
                while off < t.len {
                    let end = (off + seg).min(t.len);
                    let data = self.buf[off..end].to_vec();
                    off = end;
                    self.sent[i] += 1;
                    let to = 1 - i;
                    // The receiver sees packets from node i on its own path to node i,
                    // unless a route says otherwise.
                    let path = self
                        .routes
                        .iter()
                        .find(|r| r.0 == i && r.1 == t.path)
                        .map_or(self.peers[to].path_to_other, |r| r.2);
                    let by_path = match self.path_hook.as_mut() {
                        Some(h) => h(i, t.path, self.now, &data),
                        None => Fate::Deliver,
                    };
                    let fate = match (by_path, self.hook.as_mut()) {
                        (Fate::Deliver, Some(h)) => h(i, self.sent[i], &data),
                        (fate, _) => fate,
                    };
                    let at = self.now + self.latency;
                    match fate {
                        Fate::Deliver => self.in_flight.push((at, to, path, data)),
                        Fate::Drop => {}
                        Fate::Duplicate => {
                            self.in_flight.push((at, to, path, data.clone()));
                            self.in_flight
                                .push((at + Duration::from_micros(10), to, path, data));
                        }
                        Fate::Delay(d) => self.in_flight.push((at + d, to, path, data)),
                    }
                }
            }
            while let Some(e) = self.peers[i].node.poll_event() {
                self.peers[i].events.push(e);
            }
        }
    }

    /// One step: flush, then advance time to the next delivery or timer and process it.
    pub fn step(&mut self) {
        self.flush();
        let next_delivery = self.in_flight.iter().map(|p| p.0).min();
        let next_timer = [0, 1]
            .iter()
            .filter_map(|&i| self.peers[i].node.poll_timeout())
            .min();
        let next = match (next_delivery, next_timer) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => match a.or(b) {
                Some(t) => t,
                None => return,
            },
        };
        if next > self.now {
            self.now = next;
        }
        let now = self.now;
        let mut due = Vec::new();
        self.in_flight.retain(|p| {
            if p.0 <= now {
                due.push(p.clone());
                false
            } else {
                true
            }
        });
        due.sort_by_key(|p| p.0);
        for (_, to, path, data) in due {
            self.delivered += 1;
            self.peers[to]
                .node
                .handle_datagram(now, path, BytesMut::from(&data[..]));
        }
        for i in 0..2 {
            if self.peers[i].node.poll_timeout().is_some_and(|t| t <= now) {
                self.peers[i].node.handle_timeout(now);
            }
        }
        self.flush();
    }

    /// Runs until `done` holds or virtual time passes `limit`.
    /// Panics if a node keeps asking for a timer that is already due without anything
    /// happening (an expired timer that never fires would otherwise hang the test).
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&mut Self) -> bool) -> bool {
        let deadline = self.now + limit;
        let mut stuck = 0u32;
        while self.now < deadline {
            if done(self) {
                return true;
            }
            let before = (self.now, self.delivered, self.in_flight.len());
            let sent = self.sent;
            self.step();
            if (self.now, self.delivered, self.in_flight.len(), self.sent)
                == (before.0, before.1, before.2, sent)
            {
                stuck += 1;
                assert!(
                    stuck < 10_000,
                    "timer loop: a node asks for a timer at {:?} that does nothing",
                    self.now
                );
            } else {
                stuck = 0;
            }
            if (self.now, self.delivered, self.in_flight.len()) == before
                && self
                    .peers
                    .iter_mut()
                    .all(|p| p.node.poll_timeout().is_none())
            {
                return done(self);
            }
        }
        done(self)
    }
}

/// One outgoing stream of a transfer test: its id, all its bytes, how many were written,
/// and whether it was finished.
pub type Outgoing = (StreamId, Vec<u8>, usize, bool);

/// What a transfer test received per stream: the bytes so far and whether the stream ended.
pub type Incoming = HashMap<StreamId, (Vec<u8>, bool)>;

impl Pair {
    /// Node `from` writes what each stream of `out` still has (256 KiB per call at most)
    /// until flow control blocks it, and finishes each stream once all of it is written.
    pub fn write_streams(&mut self, from: usize, session: SessionHandle, out: &mut [Outgoing]) {
        let now = self.now;
        let mut s = self.peers[from]
            .node
            .session(session)
            .expect("sender session");
        for (id, data, sent, fin) in out.iter_mut() {
            while *sent < data.len() {
                match s.write(now, *id, &data[*sent..(*sent + 256 * 1024).min(data.len())]) {
                    Ok(n) => *sent += n,
                    Err(WriteError::Blocked) => break,
                    Err(e) => panic!("write: {e}"),
                }
            }
            if *sent == data.len() && !*fin {
                s.finish(now, *id).expect("finish");
                *fin = true;
            }
        }
    }

    /// Node `to` accepts new unidirectional streams and reads every stream into `got`
    /// until it blocks or ends.
    pub fn read_streams(&mut self, to: usize, session: SessionHandle, got: &mut Incoming) {
        let now = self.now;
        let mut s = self.peers[to]
            .node
            .session(session)
            .expect("receiver session");
        while let Some(id) = s.accept_stream(Dir::Uni) {
            got.entry(id).or_default();
        }
        for (id, (buf, fin)) in got.iter_mut() {
            while !*fin {
                match s.read(now, *id, usize::MAX) {
                    Ok(Some(bytes)) => buf.extend_from_slice(&bytes),
                    Ok(None) => *fin = true,
                    Err(ReadError::Blocked) => break,
                    Err(e) => panic!("read: {e}"),
                }
            }
        }
    }
}
