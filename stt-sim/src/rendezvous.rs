//! A small deterministic world for rendezvous, hole punching and relay (PROTOCOL.md
//! §12): hosts running real [`Node`]s, some behind [`Nat`] boxes, a virtual clock,
//! fixed one-way delays and a list of blocked address pairs (a cut path). Each host
//! plays the adapter's part (socket address ⇄ [`PathId`], the `RendezvousEvent::Peer`
//! answer) and a tiny application: register with the rendezvous, connect to a peer
//! through it, send a stream of known bytes one way. It holds no protocol logic.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use stt_proto::config::NodeConfig;
use stt_proto::frame::Dir;
use stt_proto::{
    Event, Identity, Instant, NetworkKey, Node, NodeId, NodeStats, PathId, RemoteAddr,
    RendezvousEvent, SessionHandle,
};

use crate::nat::{Mapping, Nat};

/// The byte at `offset` of the stream a sender writes: receivers check every byte.
pub fn pattern(offset: u64) -> u8 {
    (offset.wrapping_mul(31).wrapping_add(7) % 251) as u8
}

/// One host: a node, its own socket address, the NAT it sits behind (if any) and the
/// adapter-side path table.
pub struct Host {
    /// The engine.
    pub node: Node,
    /// The host's own address (private when behind a NAT).
    pub addr: SocketAddr,
    /// Index of the NAT in front of it.
    pub nat: Option<usize>,
    paths: BTreeMap<SocketAddr, PathId>,
    addrs: BTreeMap<PathId, SocketAddr>,
    /// Every event the node reported, in order.
    pub events: Vec<Event>,
    /// The session with the rendezvous, once connected.
    pub rendezvous: Option<SessionHandle>,
    /// Registered with the rendezvous.
    pub registered: bool,
    /// The end-to-end session with the peer.
    pub peer_session: Option<SessionHandle>,
    /// Bytes to send on the end-to-end session (initiator side) and sent so far.
    pub to_send: u64,
    sent: u64,
    stream: Option<stt_proto::frame::StreamId>,
    /// Bytes received in order and checked, and whether the stream finished.
    pub received: u64,
    /// The received stream ended (FIN).
    pub finished: bool,
    /// A received byte differed from the pattern.
    pub corrupt: bool,
}

impl Host {
    fn path_for(&mut self, addr: SocketAddr) -> PathId {
        if let Some(p) = self.paths.get(&addr) {
            return *p;
        }
        let p = PathId(self.paths.len() as u64 + 1);
        self.paths.insert(addr, p);
        self.addrs.insert(p, addr);
        p
    }

    /// The path this host knows `addr` by, if any.
    pub fn path_of(&self, addr: SocketAddr) -> Option<PathId> {
        self.paths.get(&addr).copied()
    }

    /// The socket address of one of this host's paths.
    pub fn addr_of(&self, path: PathId) -> Option<SocketAddr> {
        self.addrs.get(&path).copied()
    }

    /// Whether the end-to-end session is on a relayed path now.
    pub fn relayed(&mut self) -> Option<bool> {
        let h = self.peer_session?;
        let mut s = self.node.session(h)?;
        Some(s.path().is_relayed())
    }
}

struct Packet {
    at: Instant,
    src: SocketAddr,
    dst: SocketAddr,
    bytes: Vec<u8>,
}

/// Hosts, NATs and the packets between them.
pub struct RdvWorld {
    /// The hosts; host 0 is the rendezvous in the standard setup.
    pub hosts: Vec<Host>,
    /// The NAT boxes.
    pub nats: Vec<Nat>,
    /// Virtual time.
    pub now: Instant,
    /// One-way delay of every hop.
    pub latency: Duration,
    /// Pairs of public IPs between which every packet is dropped (both directions).
    pub blocked: BTreeSet<(IpAddr, IpAddr)>,
    in_flight: VecDeque<Packet>,
    /// Packets delivered and dropped (by a NAT's filter or a block).
    pub delivered: u64,
    /// Packets dropped on the way.
    pub dropped: u64,
    /// Relay datagrams ("SR") sent to the relay, with their public source, while
    /// `capture` is on.
    pub captured: Vec<(SocketAddr, Vec<u8>)>,
    /// Record relay datagrams sent to the relay.
    pub capture: bool,
}

/// The standard setup's indices.
pub const RELAY: usize = 0;
/// The peer that connects (and sends).
pub const A: usize = 1;
/// The peer that listens (and receives).
pub const B: usize = 2;

fn node(tag: u8, net: u8, config: &Arc<NodeConfig>) -> Node {
    let identity = Identity::from_node_seed(&[tag; 32]).unwrap_or_else(|e| panic!("seed: {e}"));
    let network = NetworkKey::from_shared_seed(&[net; 32]).unwrap_or_else(|e| panic!("seed: {e}"));
    Node::new(config.clone(), identity, network, [tag ^ 0x5a; 32])
        .unwrap_or_else(|e| panic!("config: {e}"))
}

/// The configuration every host of the standard setup uses (the relay also serves).
pub fn member_config() -> NodeConfig {
    let mut c = NodeConfig::default();
    c.transport.keepalive_interval = Some(Duration::from_secs(1));
    c.rendezvous.reprobe_interval = Duration::from_secs(1);
    c
}

impl RdvWorld {
    /// The standard setup: a public rendezvous at 1.0.0.1:7000, peer A behind a NAT
    /// with mapping `a` (public 2.0.0.1), peer B behind one with mapping `b` (3.0.0.1).
    /// All three hold network seed 9; 10 ms per hop.
    pub fn standard(a: Mapping, b: Mapping) -> Self {
        let mut relay_cfg = member_config();
        relay_cfg.rendezvous.serve = true;
        Self::with_relay(a, b, relay_cfg)
    }

    /// [`RdvWorld::standard`] with the relay's own configuration.
    pub fn with_relay(a: Mapping, b: Mapping, relay_cfg: NodeConfig) -> Self {
        let relay = node(1, 9, &Arc::new(relay_cfg));
        let cfg = Arc::new(member_config());
        let mut w = Self {
            hosts: Vec::new(),
            nats: vec![
                Nat::new(IpAddr::from([2, 0, 0, 1]), a),
                Nat::new(IpAddr::from([3, 0, 0, 1]), b),
            ],
            now: Instant::from_micros(1_000_000),
            latency: Duration::from_millis(10),
            blocked: BTreeSet::new(),
            in_flight: VecDeque::new(),
            delivered: 0,
            dropped: 0,
            captured: Vec::new(),
            capture: false,
        };
        w.add_host(relay, SocketAddr::from(([1, 0, 0, 1], 7000)), None);
        w.add_host(
            node(2, 9, &cfg),
            SocketAddr::from(([192, 168, 1, 2], 5000)),
            Some(0),
        );
        w.add_host(
            node(3, 9, &cfg),
            SocketAddr::from(([192, 168, 2, 2], 5000)),
            Some(1),
        );
        w
    }

    /// Adds a host; returns its index.
    pub fn add_host(&mut self, node: Node, addr: SocketAddr, nat: Option<usize>) -> usize {
        self.hosts.push(Host {
            node,
            addr,
            nat,
            paths: BTreeMap::new(),
            addrs: BTreeMap::new(),
            events: Vec::new(),
            rendezvous: None,
            registered: false,
            peer_session: None,
            to_send: 0,
            sent: 0,
            stream: None,
            received: 0,
            finished: false,
            corrupt: false,
        });
        self.hosts.len() - 1
    }

    /// The public address of host `h` as the relay sees it.
    pub fn relay_addr(&self) -> SocketAddr {
        self.hosts[RELAY].addr
    }

    /// Host `h` opens its session with the rendezvous (host [`RELAY`]).
    pub fn connect_rendezvous(&mut self, h: usize) {
        let relay = self.relay_addr();
        let relay_id = self.hosts[RELAY].node.node_id();
        let now = self.now;
        let host = &mut self.hosts[h];
        let path = host.path_for(relay);
        host.rendezvous = host.node.connect_to(now, path, relay_id).ok();
    }

    /// Host `h` asks the rendezvous to introduce it to `peer`.
    pub fn rendezvous_connect(&mut self, h: usize, peer: NodeId) -> bool {
        let now = self.now;
        let host = &mut self.hosts[h];
        let Some(r) = host.rendezvous else {
            return false;
        };
        host.node
            .session(r)
            .is_some_and(|mut s| s.rendezvous_connect(now, peer).is_ok())
    }

    /// Runs until `until` or until `stop` says so (checked after every step).
    pub fn run(&mut self, until: Instant, mut stop: impl FnMut(&mut Self) -> bool) {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            for h in 0..self.hosts.len() {
                self.transmit(h, &mut buf);
                self.events(h);
                self.app(h);
                self.transmit(h, &mut buf);
            }
            if stop(self) {
                return;
            }
            let timer = self
                .hosts
                .iter_mut()
                .filter_map(|h| h.node.poll_timeout())
                .min();
            let packet = self.in_flight.iter().map(|p| p.at).min();
            let next = match (timer, packet) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => return,
                },
            };
            if next > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(next);
            let now = self.now;
            let (due, later): (Vec<Packet>, Vec<Packet>) =
                self.in_flight.drain(..).partition(|p| p.at <= now);
            self.in_flight = later.into();
            for p in due {
                self.deliver(p);
            }
            for h in &mut self.hosts {
                if h.node.poll_timeout().is_some_and(|t| t <= now) {
                    h.node.handle_timeout(now);
                }
            }
        }
    }

    fn transmit(&mut self, h: usize, buf: &mut [u8]) {
        let now = self.now;
        while let Some(t) = self.hosts[h].node.poll_transmit(now, buf) {
            let Some(dst) = self.hosts[h].addr_of(t.path) else {
                continue;
            };
            let seg = t.segment_size.unwrap_or(t.len).max(1);
            for chunk in buf[..t.len].chunks(seg) {
                let mut src = self.hosts[h].addr;
                if let Some(n) = self.hosts[h].nat {
                    src = self.nats[n].outbound(src, dst);
                }
                self.in_flight.push_back(Packet {
                    at: now + self.latency,
                    src,
                    dst,
                    bytes: chunk.to_vec(),
                });
            }
        }
    }

    /// Delivers `bytes` to `dst` as if sent from `src` (spoofed or replayed), now.
    pub fn inject(&mut self, src: SocketAddr, dst: SocketAddr, bytes: Vec<u8>) {
        let at = self.now;
        self.deliver(Packet {
            at,
            src,
            dst,
            bytes,
        });
    }

    /// The packets in flight as (source, destination, bytes), in sending order: what an
    /// attacker on the path could copy.
    pub fn in_flight(&self) -> impl Iterator<Item = (SocketAddr, SocketAddr, &[u8])> {
        self.in_flight.iter().map(|p| (p.src, p.dst, &p.bytes[..]))
    }

    /// Host `h` asks the rendezvous for `node`'s address.
    pub fn lookup(&mut self, h: usize, node: NodeId) -> bool {
        let now = self.now;
        let host = &mut self.hosts[h];
        let Some(r) = host.rendezvous else {
            return false;
        };
        host.node
            .session(r)
            .is_some_and(|mut s| s.rendezvous_lookup(now, node).is_ok())
    }

    fn deliver(&mut self, p: Packet) {
        if self.capture && p.dst == self.hosts[RELAY].addr && p.bytes.starts_with(b"SR") {
            self.captured.push((p.src, p.bytes.clone()));
        }
        if self.blocked.contains(&(p.src.ip(), p.dst.ip()))
            || self.blocked.contains(&(p.dst.ip(), p.src.ip()))
        {
            self.dropped += 1;
            return;
        }
        let to = if let Some(n) = self.nats.iter().position(|n| n.public_ip == p.dst.ip()) {
            self.nats[n]
                .inbound(p.dst.port(), p.src)
                .and_then(|inside| self.hosts.iter().position(|h| h.addr == inside))
        } else {
            self.hosts
                .iter()
                .position(|h| h.addr == p.dst && h.nat.is_none())
        };
        let Some(to) = to else {
            self.dropped += 1;
            return;
        };
        self.delivered += 1;
        let host = &mut self.hosts[to];
        let path = host.path_for(p.src);
        host.node.handle_datagram_from(
            self.now,
            path,
            &RemoteAddr::from(p.src),
            BytesMut::from(&p.bytes[..]),
        );
    }

    /// The adapter's part: answers `RendezvousEvent::Peer` (a path for the observed
    /// address, `punch`; the initiator connects through the relay) and notes sessions.
    fn events(&mut self, h: usize) {
        let now = self.now;
        let host = &mut self.hosts[h];
        while let Some(e) = host.node.poll_event() {
            match &e {
                Event::Rendezvous(RendezvousEvent::Registered { .. }) => host.registered = true,
                Event::Rendezvous(RendezvousEvent::Peer {
                    peer,
                    initiator,
                    path,
                    addr,
                    ..
                }) => {
                    if let Some(sa) = addr.to_socket_addr() {
                        let direct = host.path_for(sa);
                        host.node.punch(now, *peer, direct);
                    }
                    if *initiator {
                        host.peer_session = host.node.connect_to(now, *path, *peer).ok();
                    }
                }
                Event::Connected {
                    session,
                    initiator: false,
                    ..
                } if Some(*session) != host.rendezvous => host.peer_session = Some(*session),
                Event::Connected { session, .. } if Some(*session) == host.rendezvous => {
                    if let Some(mut s) = host.node.session(*session) {
                        let _ = s.rendezvous_register(now);
                    }
                }
                _ => {}
            }
            host.events.push(e);
        }
    }

    /// The application: the sender writes its bytes, the receiver reads and checks.
    fn app(&mut self, h: usize) {
        let now = self.now;
        let host = &mut self.hosts[h];
        let Some(sh) = host.peer_session else {
            return;
        };
        let Some(mut s) = host.node.session(sh) else {
            return;
        };
        if !s.is_established() {
            return;
        }
        if host.to_send > 0 {
            let id = match host.stream {
                Some(id) => id,
                None => match s.open_stream(now, Dir::Uni, 0, Some(host.to_send)) {
                    Ok(id) => {
                        host.stream = Some(id);
                        id
                    }
                    Err(_) => return,
                },
            };
            let mut chunk = [0u8; 16 * 1024];
            while host.sent < host.to_send {
                let n = (host.to_send - host.sent).min(chunk.len() as u64) as usize;
                for (i, b) in chunk[..n].iter_mut().enumerate() {
                    *b = pattern(host.sent + i as u64);
                }
                match s.write(now, id, &chunk[..n]) {
                    Ok(k) if k > 0 => host.sent += k as u64,
                    _ => break,
                }
                if host.sent == host.to_send {
                    let _ = s.finish(now, id);
                }
            }
        }
        if host.stream.is_none() {
            host.stream = s.accept_stream(Dir::Uni);
        }
        if host.to_send == 0
            && let Some(id) = host.stream
        {
            while !host.finished {
                match s.read(now, id, usize::MAX) {
                    Ok(Some(bytes)) => {
                        for (i, b) in bytes.iter().enumerate() {
                            host.corrupt |= *b != pattern(host.received + i as u64);
                        }
                        host.received += bytes.len() as u64;
                    }
                    Ok(None) => host.finished = true,
                    Err(_) => break,
                }
            }
        }
    }

    /// The relay's counters.
    pub fn relay_stats(&self) -> NodeStats {
        self.hosts[RELAY].node.stats()
    }

    /// A and B connect to the rendezvous and register; runs until both are registered
    /// or `until` passes, and says whether both are.
    pub fn register_both(&mut self, until: Instant) -> bool {
        self.connect_rendezvous(A);
        self.connect_rendezvous(B);
        self.run(until, |w| w.hosts[A].registered && w.hosts[B].registered);
        self.hosts[A].registered && self.hosts[B].registered
    }

    /// A asks the rendezvous for B and will send `bytes` bytes to it once connected;
    /// false if the request could not be made.
    pub fn send_to_b(&mut self, bytes: u64) -> bool {
        let b_id = self.hosts[B].node.node_id();
        self.hosts[A].to_send = bytes;
        self.rendezvous_connect(A, b_id)
    }

    /// Starts the standard flow: A and B connect and register; once both are, A asks
    /// for B and sends `bytes` bytes to it. Runs until B has them all or `limit` passes.
    pub fn transfer(&mut self, bytes: u64, limit: Duration) -> Outcome {
        let start = self.now;
        self.register_both(start + limit);
        self.send_to_b(bytes);
        self.run(start + limit, |w| w.hosts[B].finished);
        self.outcome(start)
    }

    /// What a run shows.
    pub fn outcome(&mut self, start: Instant) -> Outcome {
        let relay = self.relay_stats();
        Outcome {
            received: self.hosts[B].received,
            finished: self.hosts[B].finished,
            corrupt: self.hosts[B].corrupt,
            a_relayed: self.hosts[A].relayed(),
            b_relayed: self.hosts[B].relayed(),
            relay_bytes: relay.relay_forwarded_bytes,
            elapsed: self.now - start,
        }
    }
}

/// What one transfer showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes B received, checked against the pattern.
    pub received: u64,
    /// B saw the stream's end.
    pub finished: bool,
    /// Some byte was wrong.
    pub corrupt: bool,
    /// Whether A's session ended on a relayed path (`None`: no session).
    pub a_relayed: Option<bool>,
    /// Whether B's session ended on a relayed path.
    pub b_relayed: Option<bool>,
    /// Bytes the relay forwarded.
    pub relay_bytes: u64,
    /// Virtual time from the start.
    pub elapsed: Duration,
}
