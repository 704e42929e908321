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

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;

use super::world::{World, node};
use crate::config::NodeConfig;
use crate::error::ReadError;
use crate::frame::{Dir, ErrorCode, Frame, Frames, HEADER_LEN, StreamId};
use crate::{Event, PathId, SessionHandle};

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

#[derive(Debug, Arbitrary)]
enum Step {
    Open {
        side: bool,
        bidi: bool,
        total: Option<u16>,
    },
    Write {
        side: bool,
        stream: u8,
        len: u16,
    },
    Finish {
        side: bool,
        stream: u8,
    },
    Reset {
        side: bool,
        stream: u8,
        code: u16,
    },
    Stop {
        side: bool,
        stream: u8,
        code: u16,
    },
    Read {
        side: bool,
        stream: u8,
        max: u16,
    },
    Datagram {
        side: bool,
        len: u16,
    },
    Custom {
        side: bool,
        kind: u8,
        len: u8,
    },
    Close {
        side: bool,
        code: u16,
    },
    Deliver {
        which: u8,
    },
    DeliverAll,
    Drop {
        which: u8,
    },
    Duplicate {
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
    Rebind {
        side: bool,
        alias: u8,
    },
    /// Random bytes behind the header of a packet logged to `side` (its session id).
    Forge {
        side: bool,
        body: Vec<u8>,
    },
    /// `side` seals arbitrary frame bytes: an authenticated peer breaking the rules.
    Sealed {
        side: bool,
        stream: u8,
        frames: Vec<u8>,
    },
    Wait {
        ms: u16,
    },
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
    /// A side sealed an ACK frame: the other side may believe lies about delivery.
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

impl Run {
    fn pick(&self, s: usize, i: u8) -> Option<StreamId> {
        let v = &self.streams[s];
        (!v.is_empty()).then(|| v[usize::from(i) % v.len()])
    }

    fn step(&mut self, step: Step) {
        let now = self.w.now;
        match step {
            Step::Open {
                side: s,
                bidi,
                total,
            } => {
                let s = side(s);
                let dir = if bidi { Dir::Bi } else { Dir::Uni };
                let total = total.map(u64::from);
                if let Some(mut sr) = self.w.nodes[s].session(self.h[s])
                    && let Ok(id) = sr.open_stream(now, dir, 0, total)
                {
                    self.streams[s].push(id);
                }
            }
            Step::Write {
                side: s,
                stream,
                len,
            } => {
                let s = side(s);
                let Some(id) = self.pick(s, stream) else {
                    return;
                };
                let tx = self.tx.entry((s, id)).or_default();
                let start = tx.written.len() as u64;
                let data: Vec<u8> = (0..u64::from(len % 6000))
                    .map(|i| pattern(s, id, start + i))
                    .collect();
                if let Some(mut sr) = self.w.nodes[s].session(self.h[s])
                    && let Ok(n) = sr.write(now, id, &data)
                {
                    tx.written.extend_from_slice(&data[..n]);
                }
            }
            Step::Finish { side: s, stream } => {
                let s = side(s);
                if let Some(id) = self.pick(s, stream)
                    && let Some(mut sr) = self.w.nodes[s].session(self.h[s])
                    && sr.finish(now, id).is_ok()
                {
                    self.tx.entry((s, id)).or_default().finished = true;
                }
            }
            Step::Reset {
                side: s,
                stream,
                code,
            } => {
                let s = side(s);
                if let Some(id) = self.pick(s, stream)
                    && let Some(mut sr) = self.w.nodes[s].session(self.h[s])
                    && sr.reset(now, id, ErrorCode(u64::from(code))).is_ok()
                {
                    self.tx.entry((s, id)).or_default().abandoned = true;
                }
            }
            Step::Stop {
                side: s,
                stream,
                code,
            } => {
                let s = side(s);
                if let Some(id) = self.pick(s, stream)
                    && let Some(mut sr) = self.w.nodes[s].session(self.h[s])
                    && sr.stop(now, id, ErrorCode(u64::from(code))).is_ok()
                {
                    self.tx.entry((1 - s, id)).or_default().abandoned = true;
                }
            }
            Step::Read {
                side: s,
                stream,
                max,
            } => {
                let s = side(s);
                if let Some(id) = self.pick(s, stream) {
                    self.read(s, id, usize::from(max));
                }
            }
            Step::Datagram { side: s, len } => {
                let s = side(s);
                let data = Bytes::from(vec![0xd5; usize::from(len % 1500)]);
                if let Some(mut sr) = self.w.nodes[s].session(self.h[s]) {
                    // Too large or not connected: typed errors, nothing to check.
                    let _ = sr.send_datagram(now, data);
                }
            }
            Step::Custom { side: s, kind, len } => {
                let s = side(s);
                let payload = vec![0xc3; usize::from(len)];
                if let Some(mut sr) = self.w.nodes[s].session(self.h[s]) {
                    let _ = sr.send_custom_frame(now, kind, &payload);
                }
            }
            Step::Close { side: s, code } => {
                let s = side(s);
                if let Some(mut sr) = self.w.nodes[s].session(self.h[s]) {
                    sr.close(now, ErrorCode(u64::from(code)), b"fuzz");
                }
            }
            Step::Deliver { which } => {
                if !self.w.in_flight.is_empty() {
                    let i = usize::from(which) % self.w.in_flight.len();
                    if let Some(p) = self.w.in_flight.remove(i) {
                        self.w.deliver(p);
                    }
                }
            }
            Step::DeliverAll => {
                for _ in 0..32 {
                    let Some(p) = self.w.in_flight.pop_front() else {
                        break;
                    };
                    self.w.deliver(p);
                }
            }
            Step::Drop { which } => {
                if !self.w.in_flight.is_empty() {
                    let i = usize::from(which) % self.w.in_flight.len();
                    self.w.in_flight.remove(i);
                }
            }
            Step::Duplicate { which } => {
                if !self.w.in_flight.is_empty() {
                    let i = usize::from(which) % self.w.in_flight.len();
                    let p = self.w.in_flight[i].clone();
                    self.w.deliver(p);
                }
            }
            Step::Replay { pick, spoof } => {
                if !self.w.log.is_empty() {
                    let mut p = self.w.log[usize::from(pick) % self.w.log.len()].clone();
                    if let Some(s) = spoof {
                        p.path = PathId(100 + u64::from(s));
                    }
                    self.w.receive(p.to, p.path, &p.bytes);
                }
            }
            Step::Mutate {
                pick,
                bit,
                truncate,
            } => {
                if !self.w.log.is_empty() {
                    let mut p = self.w.log[usize::from(pick) % self.w.log.len()].clone();
                    if !p.bytes.is_empty() {
                        let bit = usize::from(bit) % (p.bytes.len() * 8);
                        p.bytes[bit / 8] ^= 1 << (bit % 8);
                    }
                    if let Some(t) = truncate {
                        p.bytes.truncate(usize::from(t) % (p.bytes.len() + 1));
                    }
                    self.w.receive(p.to, p.path, &p.bytes);
                }
            }
            Step::Rebind { side: s, alias } => {
                let s = side(s);
                self.w.rebind(s, 1 - s, PathId(1000 + u64::from(alias % 4)));
            }
            Step::Forge { side: s, body } => {
                let s = side(s);
                let header = self
                    .w
                    .log
                    .iter()
                    .rev()
                    .find(|p| p.to == s && p.bytes.len() >= HEADER_LEN)
                    .map(|p| p.bytes[..HEADER_LEN].to_vec());
                if let Some(mut bytes) = header {
                    bytes.extend_from_slice(&body);
                    let path = World::path_to(1 - s);
                    self.w.receive(s, path, &bytes);
                }
            }
            Step::Sealed {
                side: s,
                stream,
                frames,
            } => self.sealed(side(s), stream, &frames),
            Step::Wait { ms } => self.w.advance(Duration::from_millis(u64::from(ms % 3000))),
        }
    }

    /// `s` plays a malicious peer: records what its frames may falsify, then seals them.
    fn sealed(&mut self, s: usize, stream: u8, frames: &[u8]) {
        let stream_id = StreamId(u32::from(stream % 16));
        let reader = 1 - s;
        for f in Frames::new(frames) {
            let Ok(f) = f else {
                break;
            };
            let touched = match f {
                Frame::Data(_) => Some(stream_id),
                Frame::StreamOpen(o) => Some(o.stream_id),
                Frame::StreamClose(c) => Some(c.stream_id),
                Frame::StopSending { stream_id, .. } => Some(stream_id),
                Frame::Ack(_) => {
                    self.forged_ack = true;
                    None
                }
                _ => None,
            };
            if let Some(id) = touched {
                self.tainted.insert((reader, id));
                self.tainted.insert((s, id));
                self.tx.entry((reader, id)).or_default().abandoned = true;
            }
        }
        let now = self.w.now;
        let mut buf = core::mem::take(&mut self.buf);
        let len = self.w.nodes[s]
            .session(self.h[s])
            .and_then(|mut sr| sr.seal_raw_frames(now, stream_id, frames, &mut buf));
        if let Some(len) = len {
            let path = World::path_to(s);
            self.w.receive(reader, path, &buf[..len]);
        }
        self.buf = buf;
    }

    /// Reads stream `id` on side `s` and checks every byte against what was written.
    fn read(&mut self, s: usize, id: StreamId, max: usize) {
        let now = self.w.now;
        let writer = 1 - s;
        loop {
            let Some(mut sr) = self.w.nodes[s].session(self.h[s]) else {
                return;
            };
            let got = sr.read(now, id, max.max(1));
            let tainted = self.tainted.contains(&(s, id));
            let rx = self.rx.entry((s, id)).or_default();
            match got {
                Ok(Some(bytes)) => {
                    if !tainted {
                        let tx = self.tx.get(&(writer, id));
                        let written = tx.map_or(&[][..], |t| &t.written[..]);
                        let from = rx.read as usize;
                        assert!(
                            from + bytes.len() <= written.len(),
                            "side {s} stream {id}: read past what was written"
                        );
                        assert!(
                            written[from..from + bytes.len()] == bytes[..],
                            "side {s} stream {id}: wrong bytes at {from}"
                        );
                    }
                    rx.read += bytes.len() as u64;
                }
                Ok(None) => {
                    if !tainted && !rx.fin {
                        let tx = self.tx.get(&(writer, id));
                        assert!(
                            tx.is_some_and(|t| t.finished && t.written.len() as u64 == rx.read),
                            "side {s} stream {id}: FIN after {} bytes that the writer did not send",
                            rx.read
                        );
                    }
                    rx.fin = true;
                    return;
                }
                Err(ReadError::Blocked) => return,
                Err(_) => return,
            }
            if max < usize::MAX {
                return;
            }
        }
    }

    /// Accepts and reads everything on both sides (the application during settling).
    fn drain(&mut self) {
        for s in 0..2 {
            loop {
                let accepted = self.w.nodes[s].session(self.h[s]).and_then(|mut sr| {
                    sr.accept_stream(Dir::Uni)
                        .or_else(|| sr.accept_stream(Dir::Bi))
                });
                let Some(id) = accepted else {
                    break;
                };
                if !self.streams[s].contains(&id) {
                    self.streams[s].push(id);
                }
            }
            for id in self.streams[s].clone() {
                self.read(s, id, usize::MAX);
            }
            if let Some(mut sr) = self.w.nodes[s].session(self.h[s]) {
                while sr.recv_datagram().is_some() {}
            }
        }
        for events in &mut self.w.events {
            events.clear();
        }
    }

    /// A clean network until quiet; then, with both sessions up, no silent loss.
    fn settle(&mut self) {
        let until = self.w.now + Duration::from_secs(30);
        self.drain();
        while self.w.clean_step(until) {
            self.drain();
        }
        self.drain();
        self.w.check();
        let up = (0..2).all(|s| {
            self.w.nodes[s]
                .session(self.h[s])
                .is_some_and(|mut sr| sr.is_established())
        });
        if !up || self.forged_ack {
            return;
        }
        for (&(writer, id), tx) in &self.tx {
            if !tx.finished || tx.abandoned || self.tainted.contains(&(1 - writer, id)) {
                continue;
            }
            let rx = self.rx.get(&(1 - writer, id));
            assert!(
                rx.is_some_and(|r| r.fin && r.read == tx.written.len() as u64),
                "stream {id} from side {writer}: {} bytes written and finished, {:?} read",
                tx.written.len(),
                rx.map(|r| (r.read, r.fin))
            );
        }
    }
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
