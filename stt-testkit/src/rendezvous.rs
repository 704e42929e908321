//! Fuzz oracle for rendezvous and relay (PROTOCOL.md §12): a node serving as rendezvous
//! and relay (node 0) and two members (nodes 1 and 2) registered with it, whose
//! end-to-end session runs through the relay. Inputs are application requests,
//! rendezvous frames sealed by an authenticated but malicious member or rendezvous,
//! forged relay datagrams (known or made-up routes, spoofed sources, logged or arbitrary
//! packets inside), punching, closes and moves on the in-memory network.
//!
//! After every step: the world's invariants, the relay's tables within their limits,
//! relay datagrams only to real nodes' paths (never to a spoofed address), nothing
//! forwarded that came from a spoofed address, and the relay forwarding no more bytes
//! than relay datagrams brought it. It owns no protocol logic;
//! the adapter's part (answering `RendezvousEvent::Peer`) is `adapter`.

use alloc::collections::BTreeSet;
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::world::{World, node};
use stt_proto::config::NodeConfig;
use stt_proto::frame::{
    ErrorCode, Frame, MAX_RDV_ADDR_LEN, RELAY_OVERHEAD, RdvAnswer, RdvPeer, RdvStatus, StreamId,
    relay_route, write_relay_header,
};
use stt_proto::{Event, NodeId, PathId, RendezvousEvent, SessionHandle};

/// Most steps per input.
const MAX_STEPS: usize = 96;
/// The rendezvous and relay.
const RELAY: usize = 0;

/// One step of an input.
#[derive(Debug, Arbitrary)]
enum Step {
    /// A member's application asks its rendezvous: 0 register, 1 lookup, else connect,
    /// about node `target` (0..=2 a node of the world, else a made-up id).
    Request {
        side: bool,
        kind: u8,
        target: u8,
    },
    /// An authenticated party seals one rendezvous frame on session `pick`.
    Rdv {
        pick: u8,
        frame: RdvFrame,
    },
    /// An authenticated party seals arbitrary frame bytes on session `pick`.
    Sealed {
        pick: u8,
        frames: Vec<u8>,
    },
    /// A relay datagram delivered to node `to` from `from`'s real path or a spoofed one.
    Relay {
        to: u8,
        from: u8,
        spoof: Option<u8>,
        route: Route,
        inner: Inner,
    },
    /// A member's adapter learned the other member's direct path and punches.
    Punch {
        side: bool,
    },
    /// Session `pick` closes.
    Close {
        pick: u8,
        code: u8,
    },
    Deliver {
        which: u8,
    },
    DeliverAll,
    Drop {
        which: u8,
    },
    Replay {
        pick: u8,
        spoof: Option<u8>,
    },
    Mutate {
        pick: u8,
        bit: u16,
        truncate: Option<u16>,
    },
    Wait {
        ms: u16,
    },
}

/// A rendezvous frame's fields; node ids are picked like `Step::Request`'s target.
#[derive(Debug, Arbitrary)]
enum RdvFrame {
    Register {
        id: u64,
    },
    Lookup {
        id: u64,
        target: u8,
    },
    Connect {
        id: u64,
        target: u8,
    },
    Answer {
        id: u64,
        status: u8,
        addr: Vec<u8>,
    },
    Peer {
        id: u64,
        initiator: bool,
        target: u8,
        route: Route,
        delay_ms: u16,
        addr: Vec<u8>,
    },
}

/// A route id: one seen on the wire so far, or any value.
#[derive(Debug, Arbitrary)]
enum Route {
    Known(u8),
    Raw(u64),
}

/// What a forged relay datagram carries.
#[derive(Debug, Arbitrary)]
enum Inner {
    /// The bytes of a logged packet (unwrapped first if it was itself relayed).
    Logged(u8),
    Bytes(Vec<u8>),
}

/// The three nodes with both members registered and their relayed session up, built
/// once and cloned per input.
#[derive(Clone)]
pub struct RelayWorld {
    world: World,
    state: State,
}

/// What the members' adapters and applications know.
#[derive(Clone, Default)]
struct State {
    /// Every session of every node, as (node, handle), in the order they came up.
    sessions: Vec<(usize, SessionHandle)>,
    /// Each member's session with the rendezvous.
    rendezvous: [Option<SessionHandle>; 3],
    /// Route ids seen in relay datagrams.
    routes: BTreeSet<u64>,
}

fn config(serve: bool) -> Arc<NodeConfig> {
    let mut c = NodeConfig::default();
    c.transport.idle_timeout = Duration::from_secs(5);
    c.transport.keepalive_interval = Some(Duration::from_secs(1));
    let r = &mut c.rendezvous;
    r.serve = serve;
    r.max_registrations = 2;
    r.max_routes = 4;
    r.max_routes_per_peer = 2;
    // Small enough for a few steps to reach the rate and queue limits.
    r.per_peer_rate = 20_000;
    r.total_rate = 30_000;
    r.forward_queue = 8;
    r.reprobe_interval = Duration::from_secs(1);
    Arc::new(c)
}

impl RelayWorld {
    /// Members 1 and 2 connect to the rendezvous and register; 1 asks to meet 2; they
    /// connect through the relay, over a clean network.
    pub fn new() -> Self {
        let (relay, member) = (config(true), config(false));
        let world = World::new(vec![
            node(1, 9, &relay),
            node(2, 9, &member),
            node(3, 9, &member),
        ]);
        let mut rw = Self {
            world,
            state: State::default(),
        };
        let relay_id = rw.world.nodes[RELAY].node_id();
        for m in 1..3 {
            let now = rw.world.now;
            let h = rw.world.nodes[m].connect_to(now, World::path_to(RELAY), relay_id);
            rw.state.rendezvous[m] = Some(h.unwrap_or_else(|e| panic!("connect: {e}")));
            rw.world.prove(m, World::path_to(RELAY));
        }
        let until = rw.world.now + Duration::from_secs(5);
        let target = rw.world.nodes[2].node_id();
        let mut asked = false;
        let state = &mut rw.state;
        rw.world.run_clean(until, |w| {
            let registered = adapter(w, state);
            if registered == 2 && !asked {
                asked = request(w, state, 1, 2, target);
            }
        });
        let relayed = rw.state.sessions.iter().filter(|&&(n, h)| {
            n != RELAY
                && rw.world.nodes[n]
                    .session(h)
                    .is_some_and(|mut s| s.is_established() && s.path().is_relayed())
        });
        assert_eq!(
            relayed.count(),
            2,
            "the template's relayed session is not up"
        );
        for events in &mut rw.world.events {
            events.clear();
        }
        rw
    }
}

impl Default for RelayWorld {
    fn default() -> Self {
        Self::new()
    }
}

/// The adapters' part: notes sessions, registers with the rendezvous once connected,
/// and answers `RendezvousEvent::Peer` (the initiator connects on the relayed path).
/// Returns how many members have registered so far.
fn adapter(w: &mut World, st: &mut State) -> usize {
    let mut registered = 0;
    for n in 0..3 {
        for e in core::mem::take(&mut w.events[n]) {
            let now = w.now;
            match e {
                Event::Connected { session, .. } => {
                    st.sessions.push((n, session));
                    if st.rendezvous[n] == Some(session)
                        && let Some(mut s) = w.nodes[n].session(session)
                    {
                        let _ = s.rendezvous_register(now);
                    }
                }
                Event::Rendezvous(RendezvousEvent::Registered { .. }) => registered += 1,
                Event::Rendezvous(RendezvousEvent::Peer {
                    peer,
                    initiator,
                    path,
                    ..
                }) => {
                    assert!(path.is_relayed(), "node {n}: Peer on a direct path");
                    if initiator {
                        // A refusal (a duplicate, the session table full) is the engine's
                        // answer, not a fault.
                        let _ = w.nodes[n].connect_to(now, path, peer);
                    }
                }
                _ => {}
            }
        }
    }
    registered
}

/// The node id `target` picks: a node of the world, else a made-up one.
fn node_id(w: &World, target: u8) -> NodeId {
    match w.nodes.get(usize::from(target)) {
        Some(n) => n.node_id(),
        None => NodeId([target; 32]),
    }
}

/// Member `m` asks its rendezvous (`kind`: 0 register, 1 lookup, else connect).
fn request(w: &mut World, st: &State, m: usize, kind: u8, target: NodeId) -> bool {
    let now = w.now;
    let Some(h) = st.rendezvous[m] else {
        return false;
    };
    let Some(mut s) = w.nodes[m].session(h) else {
        return false;
    };
    match kind {
        0 => s.rendezvous_register(now).is_ok(),
        1 => s.rendezvous_lookup(now, target).is_ok(),
        _ => s.rendezvous_connect(now, target).is_ok(),
    }
}

/// Runs arbitrary steps against a clone of `template`.
pub fn rendezvous_relay(template: &RelayWorld, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut w = template.world.clone();
    let mut st = template.state.clone();
    let start = (
        w.nodes[RELAY].stats().relay_forwarded_bytes,
        w.relay_bytes_received(RELAY),
    );
    for _ in 0..MAX_STEPS {
        let Ok(step) = u.arbitrary::<Step>() else {
            break;
        };
        step_once(&mut w, &mut st, step);
        adapter(&mut w, &mut st);
        learn_routes(&w, &mut st);
        check(&mut w, start);
    }
    let until = w.now + Duration::from_secs(3);
    w.run_clean(until, |w| {
        adapter(w, &mut st);
    });
    w.check();
}

/// Applies one step.
fn step_once(w: &mut World, st: &mut State, step: Step) {
    let now = w.now;
    match step {
        Step::Request { side, kind, target } => {
            let id = node_id(w, target);
            request(w, st, 1 + usize::from(side), kind % 3, id);
        }
        Step::Rdv { pick, frame } => {
            let mut bytes = vec![0u8; 128];
            let len = encode(w, st, &frame, &mut bytes);
            if let Some(len) = len {
                seal(w, st, pick, &bytes[..len]);
            }
        }
        Step::Sealed { pick, frames } => seal(w, st, pick, &frames),
        Step::Relay {
            to,
            from,
            spoof,
            route,
            inner,
        } => {
            let to = usize::from(to % 3);
            let path = match spoof {
                Some(s) => PathId(100 + u64::from(s)),
                None => World::path_to(usize::from(from % 3)),
            };
            let mut bytes = vec![0u8; RELAY_OVERHEAD];
            match inner {
                Inner::Logged(i) if !w.log.is_empty() => {
                    let p = &w.log[usize::from(i) % w.log.len()];
                    let skip = if relay_route(&p.bytes).is_some() {
                        RELAY_OVERHEAD
                    } else {
                        0
                    };
                    bytes.extend_from_slice(&p.bytes[skip..]);
                }
                Inner::Logged(_) => bytes.push(0),
                Inner::Bytes(b) => bytes.extend_from_slice(&b),
            }
            let route = route_id(st, &route);
            if write_relay_header(&mut bytes, route).is_ok() {
                receive_checked(w, to, path, &bytes);
            }
        }
        Step::Punch { side } => {
            let (m, other) = if side { (2, 1) } else { (1, 2) };
            let peer = w.nodes[other].node_id();
            // The member chose to send there (as with a connect target): its probes,
            // a few per round (PROTOCOL.md §12.4), are not answers to an unproven path.
            w.prove(m, World::path_to(other));
            w.nodes[m].punch(now, peer, World::path_to(other));
            w.flush();
        }
        Step::Close { pick, code } => {
            if let Some((n, h)) = pick_session(st, pick) {
                if let Some(mut s) = w.nodes[n].session(h) {
                    s.close(now, ErrorCode(u64::from(code)), b"fuzz");
                }
                w.flush();
            }
        }
        Step::Deliver { which } => {
            if !w.in_flight.is_empty() {
                let i = usize::from(which) % w.in_flight.len();
                if let Some(p) = w.in_flight.remove(i) {
                    w.deliver(p);
                }
            }
        }
        Step::DeliverAll => {
            for _ in 0..32 {
                let Some(p) = w.in_flight.pop_front() else {
                    break;
                };
                w.deliver(p);
            }
        }
        Step::Drop { which } => {
            if !w.in_flight.is_empty() {
                let i = usize::from(which) % w.in_flight.len();
                w.in_flight.remove(i);
            }
        }
        Step::Replay { pick, spoof } => {
            if !w.log.is_empty() {
                let mut p = w.log[usize::from(pick) % w.log.len()].clone();
                if let Some(s) = spoof {
                    p.path = PathId(100 + u64::from(s));
                }
                receive_checked(w, p.to, p.path, &p.bytes);
            }
        }
        Step::Mutate {
            pick,
            bit,
            truncate,
        } => {
            if !w.log.is_empty() {
                let mut p = w.log[usize::from(pick) % w.log.len()].clone();
                if !p.bytes.is_empty() {
                    let bit = usize::from(bit) % (p.bytes.len() * 8);
                    p.bytes[bit / 8] ^= 1 << (bit % 8);
                }
                if let Some(t) = truncate {
                    p.bytes.truncate(usize::from(t) % (p.bytes.len() + 1));
                }
                w.receive(p.to, p.path, &p.bytes);
            }
        }
        Step::Wait { ms } => {
            // Packets in flight arrive by then (or are lost if held too long).
            w.advance(Duration::from_millis(u64::from(ms % 3000)));
            let now = w.now;
            while let Some(i) = w.in_flight.iter().position(|p| p.at <= now) {
                if let Some(p) = w.in_flight.remove(i) {
                    w.deliver(p);
                }
            }
        }
    }
}

/// Hands `bytes` to node `to` on `path`. The relay forwards nothing that came from a
/// path other than a member's real one: a route is bound to its owner's path.
fn receive_checked(w: &mut World, to: usize, path: PathId, bytes: &[u8]) {
    let member = (1..3).any(|m| World::path_to(m) == path);
    let before = w.nodes[RELAY].stats().relay_forwarded_packets;
    w.receive(to, path, bytes);
    let after = w.nodes[RELAY].stats().relay_forwarded_packets;
    assert!(
        member || to != RELAY || after == before,
        "the relay forwarded a relay datagram from path {path:?}"
    );
}

fn route_id(st: &State, r: &Route) -> u64 {
    match *r {
        Route::Known(i) if !st.routes.is_empty() => st
            .routes
            .iter()
            .nth(usize::from(i) % st.routes.len())
            .copied()
            .unwrap_or(1),
        Route::Known(i) => u64::from(i),
        Route::Raw(v) => v,
    }
}

fn pick_session(st: &State, pick: u8) -> Option<(usize, SessionHandle)> {
    let n = st.sessions.len();
    (n > 0).then(|| st.sessions[usize::from(pick) % n])
}

/// Encodes `frame` into `buf`; `None` if its fields cannot be encoded.
fn encode(w: &World, st: &State, frame: &RdvFrame, buf: &mut [u8]) -> Option<usize> {
    let clip = |a: &[u8]| a.len().min(MAX_RDV_ADDR_LEN);
    let f = match frame {
        RdvFrame::Register { id } => Frame::RdvRegister { request_id: *id },
        RdvFrame::Lookup { id, target } => Frame::RdvLookup {
            request_id: *id,
            node_id: node_id(w, *target).0,
        },
        RdvFrame::Connect { id, target } => Frame::RdvConnect {
            request_id: *id,
            node_id: node_id(w, *target).0,
        },
        RdvFrame::Answer { id, status, addr } => Frame::RdvAnswer(RdvAnswer {
            request_id: *id,
            status: match status % 4 {
                0 => RdvStatus::Ok,
                1 => RdvStatus::NotFound,
                2 => RdvStatus::Refused,
                _ => RdvStatus::NotServed,
            },
            addr: &addr[..clip(addr)],
        }),
        RdvFrame::Peer {
            id,
            initiator,
            target,
            route,
            delay_ms,
            addr,
        } => Frame::RdvPeer(RdvPeer {
            request_id: *id,
            initiator: *initiator,
            node_id: node_id(w, *target).0,
            route_id: route_id(st, route).max(1),
            start_delay_ms: u64::from(*delay_ms),
            addr: &addr[..clip(addr)],
        }),
    };
    f.encode(buf).ok()
}

/// The node of session `pick` seals `frames` to its peer, delivered at once.
fn seal(w: &mut World, st: &State, pick: u8, frames: &[u8]) {
    let Some((n, h)) = pick_session(st, pick) else {
        return;
    };
    let now = w.now;
    let mut buf = vec![0u8; 65_536];
    let sealed = w.nodes[n].session(h).and_then(|mut s| {
        let path = s.path();
        let peer = s.peer()?;
        let len = s.seal_raw_frames(now, StreamId(0), frames, &mut buf)?;
        Some((path, peer, len))
    });
    let Some((path, peer, len)) = sealed else {
        return;
    };
    // The node's own relay wrapping is not applied to raw packets: a relayed session's
    // packet goes out through the relay as the node would send it.
    let to = (0..3).find(|&i| w.nodes[i].node_id() == peer);
    let Some(to) = to else {
        return;
    };
    if path.is_relayed() {
        let route = route_id(st, &Route::Known(pick));
        let mut bytes = vec![0u8; RELAY_OVERHEAD];
        bytes.extend_from_slice(&buf[..len]);
        if write_relay_header(&mut bytes, route).is_ok() {
            w.receive(RELAY, World::path_to(n), &bytes);
        }
    } else {
        w.receive(to, World::path_to(n), &buf[..len]);
    }
}

/// Notes the route ids of relay datagrams on the wire.
fn learn_routes(w: &World, st: &mut State) {
    for p in &w.log {
        if let Some(r) = relay_route(&p.bytes)
            && st.routes.len() < 16
        {
            st.routes.insert(r);
        }
    }
}

/// The world's invariants and the relay's (`start`: its forwarded bytes and the relay
/// datagram bytes it had received when the input began).
fn check(w: &mut World, start: (u64, u64)) {
    w.check();
    let relay = &w.nodes[RELAY];
    let c = relay.config().rendezvous;
    let (registered, routes) = relay.rendezvous_counts();
    assert!(registered <= c.max_registrations, "registry over its limit");
    assert!(routes <= c.max_routes, "relay routes over their limit");
    let forwarded = relay.stats().relay_forwarded_bytes - start.0;
    let received = w.relay_bytes_received(RELAY) - start.1;
    assert!(
        forwarded <= received,
        "the relay forwarded {forwarded} bytes after receiving {received} in relay datagrams"
    );
    // Relay datagrams go only to nodes of the world, never to a made-up (spoofed) path:
    // the relay's to its members, a member's to whichever peer introduced the route
    // (any authenticated session may carry RDV_PEER, so that need not be node 0).
    for &(from, path) in &w.relay_sent {
        let ok = (0..3).any(|n| n != from && World::path_to(n) == PathId(path));
        assert!(ok, "node {from} sent a relay datagram to path {path}");
    }
}
