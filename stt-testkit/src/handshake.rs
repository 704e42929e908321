//! Fuzz oracles for the handshake, played at the node level: a responder, two member
//! initiators and a stranger (another network) on the in-memory [`World`], and an
//! adversary who delivers, drops, duplicates, replays, mutates, spoofs and forges
//! datagrams between them, with time passing at its will.
//!
//! The input's first byte also picks the nodes' handshake modes (classic, hybrid and the
//! refusals between them, PROTOCOL.md §5.7.10), so the same steps reach the hybrid
//! fragments and REFUSE. `handshake_responder` aims arbitrary bytes at the listening node, `handshake_initiator`
//! at a node waiting for CHALLENGE. Both check after each step: the world's invariants
//! (bounded tables, anti-amplification, no timer loop, `Closed` once), that only members
//! of one network ever connect, and at the end, after a clean network has run long
//! enough for every timer, that both sides agree on which sessions exist.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};

use crate::world::{World, node};
use stt_proto::config::NodeConfig;
use stt_proto::frame::HEADER_LEN;
use stt_proto::{Event, NodeId, PathId, PqMode};

/// Node indices in the handshake world.
const RESPONDER: usize = 0;
const STRANGER: usize = 3;
/// Most `connect` calls per input (keeps executions short).
const MAX_CONNECTS: usize = 6;
/// Most steps per input.
const MAX_STEPS: usize = 96;

/// One adversary or application move.
#[derive(Debug, Arbitrary)]
enum Step {
    /// Node 1, 2 or the stranger connects to the responder or to the stranger.
    Connect { who: u8, to_stranger: bool },
    /// Deliver the in-flight packet at `which` (modulo the queue).
    Deliver { which: u8 },
    /// Deliver the next several packets in order.
    DeliverAll,
    /// Lose an in-flight packet.
    Drop { which: u8 },
    /// Deliver a copy of an in-flight packet and keep the original in flight.
    Duplicate { which: u8 },
    /// Send a logged packet to its receiver again, maybe from a spoofed address.
    Replay { pick: u8, spoof: Option<u8> },
    /// Send a logged packet again with one change.
    Mutate {
        pick: u8,
        change: Change,
        spoof: Option<u8>,
    },
    /// A logged packet's header (its session id) with another type and body.
    Forge { pick: u8, kind: u8, body: Vec<u8> },
    /// Arbitrary bytes from a spoofed address to the attacked node.
    Raw { spoof: u8, bytes: Vec<u8> },
    /// The newest logged INIT from `count` different spoofed addresses.
    Flood { count: u8, base: u8 },
    /// Time passes; timers fire.
    Wait { ms: u16 },
}

/// A change to a packet.
#[derive(Debug, Arbitrary)]
enum Change {
    FlipBit(u16),
    SetByte(u16, u8),
    Truncate(u16),
    Append(Vec<u8>),
}

impl Change {
    fn apply(&self, bytes: &mut Vec<u8>) {
        let len = bytes.len();
        match *self {
            Change::FlipBit(bit) if len > 0 => {
                let bit = usize::from(bit) % (len * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
            }
            Change::SetByte(at, v) if len > 0 => bytes[usize::from(at) % len] = v,
            Change::Truncate(to) => bytes.truncate(usize::from(to) % (len + 1)),
            Change::Append(ref more) => bytes.extend_from_slice(more),
            _ => {}
        }
    }
}

/// The handshake modes of the responder and the two member initiators, by the input's
/// mode byte (PROTOCOL.md §5.7.10): all classic; all `prefer`; a `require` responder with a
/// `prefer` and an `off` initiator; an `off` responder with a `require` and a `prefer`
/// initiator. The stranger runs its network's mode like node 1.
const MODES: [[PqMode; 3]; 4] = [
    [PqMode::Off, PqMode::Off, PqMode::Off],
    [PqMode::Prefer, PqMode::Prefer, PqMode::Prefer],
    [PqMode::Require, PqMode::Prefer, PqMode::Off],
    [PqMode::Off, PqMode::Require, PqMode::Prefer],
];

fn config(cookie_threshold: usize, pq: PqMode) -> Arc<NodeConfig> {
    let mut c = NodeConfig {
        pq,
        max_sessions: 4,
        max_half_open: 8,
        cookie_threshold,
        handshake_timeout: Duration::from_secs(3),
        handshake_retransmit: Duration::from_millis(200),
        ..NodeConfig::default()
    };
    c.transport.idle_timeout = Duration::from_secs(5);
    c.transport.keepalive_interval = Some(Duration::from_secs(1));
    Arc::new(c)
}

fn spoofed(s: u8) -> PathId {
    PathId(100 + u64::from(s))
}

std::thread_local! {
    /// Fresh worlds by cookie threshold, built once per thread (keys cost DH work).
    static TEMPLATES: RefCell<[Option<World>; 20]> = const { RefCell::new([const { None }; 20]) };
}

/// Node 0 responds; 1 and 2 are members; 3 holds another network's seed.
fn world(cookie_threshold: usize, mode: usize) -> World {
    TEMPLATES.with(|t| {
        t.borrow_mut()[(cookie_threshold % 5) + 5 * (mode % 4)]
            .get_or_insert_with(|| {
                let m = MODES[mode % 4];
                let c = |i: usize| config(cookie_threshold, m[i]);
                World::new(alloc::vec![
                    node(1, 7, &c(0)),
                    node(2, 7, &c(1)),
                    node(3, 7, &c(2)),
                    node(4, 9, &c(1))
                ])
            })
            .clone()
    })
}

fn member(i: usize) -> bool {
    i != STRANGER
}

fn check_connections(w: &mut World, ids: &[NodeId]) {
    for (i, events) in w.events.iter_mut().enumerate() {
        for e in events.drain(..) {
            if let Event::Connected { peer, .. } = e {
                let peer = &peer;
                let j = ids.iter().position(|id| id == peer);
                let Some(j) = j else {
                    panic!("node {i} connected to an unknown peer {peer}");
                };
                assert_eq!(
                    member(i),
                    member(j),
                    "node {i} connected to node {j} across networks"
                );
            }
        }
    }
    w.check();
}

/// Runs one input against the attacked node `target` (the responder or an initiator).
fn run(data: &[u8], target: usize) {
    let mut u = Unstructured::new(data);
    // One byte picks the cookie threshold (v % 5) and the handshake modes ((v / 5) % 4).
    let (cookie_threshold, mode) = match u.arbitrary::<u8>() {
        Ok(v) => (usize::from(v % 5), usize::from(v / 5 % 4)),
        Err(_) => return,
    };
    let mut w = world(cookie_threshold, mode);
    let ids: Vec<NodeId> = w.nodes.iter().map(|n| n.node_id()).collect();
    let mut connects = 0;
    if target != RESPONDER {
        // The attacked initiator starts right away.
        connect(&mut w, target, RESPONDER);
        connects += 1;
    }
    for _ in 0..MAX_STEPS {
        let Ok(step) = u.arbitrary::<Step>() else {
            break;
        };
        match step {
            Step::Connect { who, to_stranger } => {
                if connects < MAX_CONNECTS {
                    connects += 1;
                    let who = 1 + usize::from(who) % 3;
                    let to = if to_stranger && who != STRANGER {
                        STRANGER
                    } else {
                        RESPONDER
                    };
                    connect(&mut w, who, to);
                }
            }
            Step::Deliver { which } => {
                if let Some(p) = take(&mut w, which) {
                    w.deliver(p);
                }
            }
            Step::DeliverAll => {
                for _ in 0..16 {
                    let Some(p) = w.in_flight.pop_front() else {
                        break;
                    };
                    w.deliver(p);
                }
            }
            Step::Drop { which } => {
                take(&mut w, which);
            }
            Step::Duplicate { which } => {
                if !w.in_flight.is_empty() {
                    let i = usize::from(which) % w.in_flight.len();
                    let p = w.in_flight[i].clone();
                    w.deliver(p);
                }
            }
            Step::Replay { pick, spoof } => {
                if let Some(mut p) = logged(&w, pick) {
                    if let Some(s) = spoof {
                        p.path = spoofed(s);
                    }
                    w.receive(p.to, p.path, &p.bytes);
                }
            }
            Step::Mutate {
                pick,
                change,
                spoof,
            } => {
                if let Some(mut p) = logged(&w, pick) {
                    change.apply(&mut p.bytes);
                    if let Some(s) = spoof {
                        p.path = spoofed(s);
                    }
                    w.receive(p.to, p.path, &p.bytes);
                }
            }
            Step::Forge { pick, kind, body } => {
                if let Some(p) = logged(&w, pick)
                    && p.bytes.len() >= HEADER_LEN
                {
                    let mut bytes = p.bytes[..HEADER_LEN].to_vec();
                    const KINDS: [u8; 11] = [
                        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x10, 0x08, 0x09, 0x0a,
                    ];
                    bytes[2] = KINDS[usize::from(kind) % KINDS.len()];
                    bytes.extend_from_slice(&body);
                    w.receive(p.to, p.path, &bytes);
                }
            }
            Step::Raw { spoof, bytes } => w.receive(target, spoofed(spoof), &bytes),
            Step::Flood { count, base } => {
                // Classic INITs and hybrid INIT fragments alike.
                let init = w
                    .log
                    .iter()
                    .rev()
                    .find(|p| matches!(p.bytes.get(2), Some(&0x01) | Some(&0x08)));
                if let Some(p) = init.cloned() {
                    for k in 0..count % 32 {
                        w.receive(p.to, spoofed(base.wrapping_add(k)), &p.bytes);
                    }
                }
            }
            Step::Wait { ms } => w.advance(Duration::from_millis(u64::from(ms % 4000))),
        }
        check_connections(&mut w, &ids);
    }
    settle(&mut w, &ids);
}

fn connect(w: &mut World, who: usize, to: usize) {
    let path = World::path_to(to);
    w.prove(who, path);
    let now = w.now;
    // A full session table is a typed error, not a failure of the target.
    let _ = w.nodes[who].connect(now, path);
    w.flush();
}

fn take(w: &mut World, which: u8) -> Option<crate::world::Packet> {
    if w.in_flight.is_empty() {
        return None;
    }
    let i = usize::from(which) % w.in_flight.len();
    w.in_flight.remove(i)
}

fn logged(w: &World, pick: u8) -> Option<crate::world::Packet> {
    if w.log.is_empty() {
        return None;
    }
    w.log.get(usize::from(pick) % w.log.len()).cloned()
}

/// A clean network long enough for every handshake to finish or time out and every
/// orphaned session to idle out; then each member initiator holds exactly as many
/// live sessions to the responder as the responder holds with it. An orphan may live
/// for three probe timeouts, which an adversary who held packets back has inflated,
/// so the clean run goes on (up to ten minutes) until no handshake is pending and the
/// two sides agree.
fn settle(w: &mut World, ids: &[NodeId]) {
    let until = w.now + Duration::from_secs(600);
    while w.clean_step(until) {
        if quiet(w) && disagreement(w, ids).is_none() {
            break;
        }
    }
    check_connections(w, ids);
    if let Some((i, at_initiator, at_responder)) = disagreement(w, ids) {
        panic!(
            "node {i} holds {at_initiator} sessions to the responder, which holds {at_responder}"
        );
    }
}

/// A member initiator and the responder that disagree on how many sessions they share.
fn disagreement(w: &mut World, ids: &[NodeId]) -> Option<(usize, usize, usize)> {
    (1..STRANGER).find_map(|i| {
        let at_initiator = live_with(w, i, &ids[RESPONDER]);
        let at_responder = live_with(w, RESPONDER, &ids[i]);
        (at_initiator != at_responder).then_some((i, at_initiator, at_responder))
    })
}

/// No handshake in progress anywhere.
fn quiet(w: &mut World) -> bool {
    w.nodes.iter_mut().all(|n| {
        n.half_open_count() == 0
            && n.sessions()
                .into_iter()
                .all(|h| n.session(h).is_some_and(|mut s| s.is_established()))
    })
}

fn live_with(w: &mut World, i: usize, peer: &NodeId) -> usize {
    let node = &mut w.nodes[i];
    node.sessions()
        .into_iter()
        .filter(|&h| {
            node.session(h)
                .is_some_and(|mut s| s.is_established() && s.peer().as_ref() == Some(peer))
        })
        .count()
}

/// Arbitrary steps against a listening node: forged, replayed, mutated and flooded
/// INITs and RESPONSEs from spoofed addresses, among genuine handshakes.
pub fn handshake_responder(data: &[u8]) {
    run(data, RESPONDER);
}

/// Arbitrary steps against a node waiting for CHALLENGE: forged, replayed and mutated
/// CHALLENGE, COOKIE and VERSION packets, a stranger answering, time passing.
pub fn handshake_initiator(data: &[u8]) {
    run(data, 1);
}
