//! The steps of the established-session oracle: application calls on either side,
//! adversary moves on the in-memory network, timer advances, and an authenticated but
//! malicious peer sealing arbitrary frames. Each step only acts; what it must leave
//! true is checked by `invariants.rs`.

use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use arbitrary::Arbitrary;
use bytes::Bytes;

use super::{Run, pattern, side};
use crate::world::World;
use stt_proto::PathId;
use stt_proto::frame::{Dir, ErrorCode, Frame, Frames, HEADER_LEN, StreamId};

/// One step of an input.
#[derive(Debug, Arbitrary)]
pub(super) enum Step {
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

impl Run {
    fn pick(&self, s: usize, i: u8) -> Option<StreamId> {
        let v = &self.streams[s];
        (!v.is_empty()).then(|| v[usize::from(i) % v.len()])
    }

    pub(super) fn step(&mut self, step: Step) {
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
                // A forged ACK lies about delivery; a forged REKEY or REKEY_REPLY
                // installs a DH the other side does not share: either may stall the
                // session without any bug.
                Frame::Ack(_) | Frame::Rekey { .. } | Frame::RekeyReply { .. } => {
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
}
