//! Fuzz oracle for an established session: arbitrary sequences of application calls
//! on both sides, adversary moves on the wire (loss, duplication, reordering, replay,
//! bit flips, truncation, spoofed and rebound addresses, forged packets with a valid
//! session id) and timer firings, plus an authenticated but malicious peer that seals
//! arbitrary frame bytes.
//!
//! After every step: the world's invariants, and every byte an application read is the
//! byte written at that offset of that stream. At the end a clean network runs until
//! quiet: if both sessions are still up, every finished stream arrived whole.
//! Streams the malicious peer touched, and completeness after a forged ACK, are not
//! checked (an authenticated peer can lie about what it received).

//!
//! This file owns the template pair, the run's state and the loop; the steps are
//! `ops.rs`, the checks `invariants.rs`.

mod invariants;
mod ops;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use arbitrary::Unstructured;

use crate::world::{World, node};
use ops::Step;
use stt_proto::config::NodeConfig;
use stt_proto::frame::{Dir, StreamId};
use stt_proto::{Event, SessionHandle};

/// Most steps per input.
const MAX_STEPS: usize = 128;

/// Two nodes with an established session, built once and cloned per input.
#[derive(Clone)]
pub struct EstablishedPair {
    world: World,
    handles: [SessionHandle; 2],
}

fn config() -> Arc<NodeConfig> {
    let mut c = NodeConfig::default();
    let t = &mut c.transport;
    t.idle_timeout = Duration::from_secs(5);
    t.keepalive_interval = Some(Duration::from_secs(1));
    t.max_streams_bidi = 4;
    t.max_streams_uni = 4;
    t.stream_receive_window = 4096;
    t.max_stream_receive_window = 16_384;
    t.receive_window = 8192;
    t.max_receive_window = 32_768;
    t.send_buffer = 8192;
    // Below four streams' worth, so writers also meet the session-wide limit.
    t.session_send_buffer = 12_288;
    t.datagram_receive_buffer = 4096;
    Arc::new(c)
}

impl EstablishedPair {
    /// Node 0 connects to node 1 over a clean in-memory network.
    pub fn new() -> Self {
        let c = config();
        let mut world = World::new(vec![node(1, 7, &c), node(2, 7, &c)]);
        let now = world.now;
        let a = match world.nodes[0].connect(now, World::path_to(1)) {
            Ok(h) => h,
            Err(e) => panic!("connect: {e}"),
        };
        world.prove(0, World::path_to(1));
        let until = now + Duration::from_secs(5);
        let mut b = None;
        world.run_clean(until, |w| {
            for e in w.events[1].drain(..) {
                if let Event::Connected { session, .. } = e {
                    b = Some(session);
                }
            }
        });
        let Some(b) = b else {
            panic!("the template handshake did not complete");
        };
        for events in &mut world.events {
            events.clear();
        }
        Self {
            world,
            handles: [a, b],
        }
    }
}

impl Default for EstablishedPair {
    fn default() -> Self {
        Self::new()
    }
}

/// What one side wrote on one stream.
#[derive(Default)]
struct Tx {
    written: Vec<u8>,
    finished: bool,
    /// Reset by the writer or stopped by the reader: completeness not required.
    abandoned: bool,
}

/// What one side read on one stream.
#[derive(Default)]
struct Rx {
    read: u64,
    fin: bool,
}

struct Run {
    w: World,
    h: [SessionHandle; 2],
    /// Streams each side knows (opened or accepted), in order.
    streams: [Vec<StreamId>; 2],
    /// (writer side, stream) → written.
    tx: BTreeMap<(usize, StreamId), Tx>,
    /// (reader side, stream) → read.
    rx: BTreeMap<(usize, StreamId), Rx>,
    /// (reader side, stream) the malicious peer touched.
    tainted: BTreeSet<(usize, StreamId)>,
    /// A side sealed an ACK frame (the other side may believe lies about delivery) or a
    /// re-handshake frame (the sides may end up with different keys).
    forged_ack: bool,
    buf: Vec<u8>,
}

/// The byte at `offset` of `side`'s stream `id`.
fn pattern(side: usize, id: StreamId, offset: u64) -> u8 {
    let x = offset.wrapping_mul(0x9e37_79b9) ^ u64::from(id.0) << 8 ^ side as u64;
    (x ^ (x >> 13)) as u8
}

fn side(b: bool) -> usize {
    usize::from(b)
}

/// Runs arbitrary steps against a clone of `pair`.
pub fn session_established(pair: &EstablishedPair, data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut run = Run {
        w: pair.world.clone(),
        h: pair.handles,
        streams: [Vec::new(), Vec::new()],
        tx: BTreeMap::new(),
        rx: BTreeMap::new(),
        tainted: BTreeSet::new(),
        forged_ack: false,
        buf: vec![0u8; 65_536],
    };
    for _ in 0..MAX_STEPS {
        let Ok(step) = u.arbitrary::<Step>() else {
            break;
        };
        run.step(step);
        // Streams the peer opened become known to the application as it accepts them.
        for s in 0..2 {
            while let Some(id) = run.w.nodes[s].session(run.h[s]).and_then(|mut sr| {
                sr.accept_stream(Dir::Uni)
                    .or_else(|| sr.accept_stream(Dir::Bi))
            }) {
                if !run.streams[s].contains(&id) {
                    run.streams[s].push(id);
                }
            }
        }
        run.w.check();
    }
    run.settle();
}
