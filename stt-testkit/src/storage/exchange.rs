//! The fetch half of the storage oracle: a requester fetch table, whose every outcome is
//! compared with the spec's verdict (`reference.rs`), and a server fetch table answering
//! from the at-rest store, whose every written piece is decoded and checked against the
//! object, joined by a network that loses, duplicates and reorders pieces; and the final
//! clean drain. Both tables are `stt_proto::test_hooks::FetchTable`, a session's own.
//!
//! Pieces travel only as encoded frames decoded again, as on the wire; a piece the
//! encoder refuses (outside its object) is one the decoder would drop. Request ids are
//! never reused by either side, as in a session (PROTOCOL.md §4.8).

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use bytes::Bytes;

use super::at_rest::{AtRest, pattern};
use super::reference::Reference;
use super::{ID_SPACE, Op, StorageStats};
use stt_proto::error::FetchError;
use stt_proto::frame::{ErrorCode, Frame, Frames, StorageData, Writer};
use stt_proto::storage::ContentHash;
use stt_proto::test_hooks::Chunk;
use stt_proto::test_hooks::{FetchOutcome, FetchTable, ServeAnswer};

/// Most serves in progress at once, as `max_serves` bounds a session.
const MAX_LIVE: usize = 8;
/// Piece size and packet room on the clean network of the final drain.
const DRAIN_PIECE: usize = 1200;
const DRAIN_ROOM: usize = 1400;
/// Bound on the drain's sends (objects are at most 16 KiB, at most 8 serves).
const DRAIN_LIMIT: usize = 10_000;

/// The model of one serve.
enum ServeModel {
    Awaiting {
        hash: ContentHash,
        max_len: u64,
    },
    Sending {
        object: Bytes,
        acked: Vec<bool>,
        fin_acked: bool,
        /// An arbitrary ack may have covered bytes the requester never got.
        tainted: bool,
    },
}

/// A piece the server wrote.
struct Sent {
    id: u64,
    chunk: Chunk,
    frame: Vec<u8>,
    delivered: bool,
    acked: bool,
    lost: bool,
}

/// Both ends of the fetch protocol and their models.
pub(super) struct Exchange {
    /// The requester's fetch table and what the spec says it must do.
    req: FetchTable,
    reference: Reference,
    server: FetchTable,
    serves: BTreeMap<u64, ServeModel>,
    sent: Vec<Sent>,
    /// Ids the server has seen: never reused.
    serve_ids: BTreeSet<u64>,
    pub(super) stats: StorageStats,
}

fn id(i: u8) -> u64 {
    u64::from(i % ID_SPACE)
}

/// Encodes `frame` into `buf`, as the sender would; false if the encoder refuses it
/// (the receiver then decodes `buf`).
fn over_the_wire(frame: &Frame<'_>, buf: &mut Vec<u8>) -> bool {
    let Ok(len) = frame.encoded_len() else {
        return false;
    };
    buf.clear();
    buf.resize(len, 0);
    frame.encode(buf).is_ok()
}

impl Exchange {
    pub(super) fn new() -> Self {
        Self {
            req: FetchTable::new(),
            reference: Reference::new(),
            server: FetchTable::new(),
            serves: BTreeMap::new(),
            sent: Vec::new(),
            serve_ids: BTreeSet::new(),
            stats: StorageStats::default(),
        }
    }

    /// Runs a fetch step.
    pub(super) fn step(&mut self, op: &Op, payload: &[u8], rest: &AtRest) {
        match op {
            Op::Fetch {
                id: i,
                object,
                max_len,
            } => {
                if let Some(c) = rest.known(*object) {
                    self.start(id(*i), ContentHash::of(c), u64::from(*max_len));
                }
            }
            Op::FetchUnknown {
                id: i,
                hash,
                max_len,
            } => self.start(id(*i), ContentHash(*hash), u64::from(*max_len)),
            Op::Piece {
                id: i,
                offset,
                len,
                flip_at,
                flip,
            } => {
                let request_id = id(*i);
                let Some((hash, _)) = self.reference.asked(request_id) else {
                    return;
                };
                let Some(object) = rest.content_of(&hash) else {
                    return;
                };
                let total = object.len();
                let start = usize::from(*offset) % (total + 1);
                let end = start + usize::from(*len).min(total - start);
                let mut data = object[start..end].to_vec();
                if !data.is_empty() {
                    let at = usize::from(*flip_at) % data.len();
                    data[at] ^= flip;
                }
                self.send_data(request_id, total as u64, start as u64, &data);
            }
            Op::Lie {
                id: i,
                total,
                offset,
                len,
                fill,
            } => {
                let data = pattern(*fill, usize::from(*len % 2048));
                self.send_data(id(*i), u64::from(*total), u64::from(*offset), &data);
            }
            Op::Frames { .. } => self.frames(payload),
            Op::Refuse { id: i, code } => {
                let code = match code % 4 {
                    0 => ErrorCode::OBJECT_NOT_FOUND,
                    1 => ErrorCode::OBJECT_TOO_LARGE,
                    2 => ErrorCode::RESOURCE_EXHAUSTED,
                    _ => ErrorCode(u64::from(*code)),
                };
                self.refuse(id(*i), code);
            }
            Op::CancelFetch { id: i } => {
                let request_id = id(*i);
                let want = self.reference.cancel(request_id);
                assert_eq!(self.req.cancel(request_id), want, "cancel {request_id}");
                if want.is_some() {
                    self.peer_cancel(request_id);
                }
            }
            Op::Request {
                id: i,
                object,
                max_len,
            } => {
                let request_id = id(*i);
                let asked = match self.reference.asked(request_id) {
                    Some(a) => Some(a),
                    None => rest
                        .known(*object)
                        .map(|c| (ContentHash::of(c), u64::from(*max_len))),
                };
                if let Some((hash, max_len)) = asked {
                    self.request(request_id, hash, max_len);
                }
            }
            Op::Serve { id: i, found } => self.serve(id(*i), *found, rest),
            Op::Send { max_len, room } => {
                self.send(usize::from(*max_len), usize::from(*room));
            }
            Op::ReadRange {
                id: i,
                offset,
                len,
                room,
            } => self.read_range(id(*i), *offset, *len as usize, *room),
            Op::Deliver { sent } => {
                if let Some(i) = pick(*sent, self.sent.len()) {
                    self.deliver(i);
                }
            }
            Op::Ack { sent } => {
                if let Some(i) = pick(*sent, self.sent.len())
                    && self.sent[i].delivered
                    && !self.sent[i].acked
                {
                    self.ack(i);
                }
            }
            Op::Lost { sent } => {
                if let Some(i) = pick(*sent, self.sent.len())
                    && !self.sent[i].acked
                    && !self.sent[i].lost
                {
                    self.lose(i);
                }
            }
            Op::AckRange {
                id: i,
                offset,
                len,
                fin,
            } => {
                let request_id = id(*i);
                let chunk = Chunk {
                    offset: u64::from(*offset),
                    len: usize::from(*len),
                    fin: *fin,
                };
                if let Some(ServeModel::Sending { tainted, .. }) = self.serves.get_mut(&request_id)
                {
                    *tainted = true;
                }
                self.server.on_chunk_acked(request_id, &chunk);
                self.mark_acked(request_id, &chunk);
            }
            Op::PeerCancel { id: i } => self.peer_cancel(id(*i)),
            _ => {}
        }
    }

    fn start(&mut self, request_id: u64, hash: ContentHash, max_len: u64) {
        if !self.serve_ids.contains(&request_id) && self.reference.start(request_id, hash, max_len)
        {
            self.req.start(request_id, hash, max_len);
        }
    }

    /// A STORAGE_DATA with these fields reaches the requester, if the codec takes it.
    fn send_data(&mut self, request_id: u64, total_len: u64, offset: u64, data: &[u8]) {
        let frame = Frame::StorageData(StorageData {
            request_id,
            total_len,
            offset,
            data,
        });
        let mut buf = Vec::new();
        if over_the_wire(&frame, &mut buf) {
            self.receive(&buf);
        }
    }

    /// Decodes one frame from the wire and hands it to its side.
    fn receive(&mut self, wire: &[u8]) {
        match Frame::decode_exact(wire) {
            Ok(f) => self.dispatch(&f),
            Err(e) => panic!("an encoded storage frame does not decode: {e:?}"),
        }
    }

    fn frames(&mut self, payload: &[u8]) {
        for f in Frames::new(payload) {
            match f {
                Ok(f) => self.dispatch(&f),
                Err(_) => break,
            }
        }
    }

    /// Hands a decoded frame to the side it is for, as the session does.
    fn dispatch(&mut self, frame: &Frame<'_>) {
        match frame {
            Frame::StorageData(d) => self.on_data(d),
            Frame::StorageRefuse(r) => self.refuse(r.request_id, r.code),
            Frame::StorageCancel { request_id } => self.peer_cancel(*request_id),
            Frame::StorageGet(g) => self.request(g.request_id, ContentHash(g.hash), g.max_len),
            _ => {}
        }
    }

    /// A STORAGE_DATA reaches the requester: its outcome must be the spec's verdict,
    /// and delivered bytes must be the requested object.
    fn on_data(&mut self, d: &StorageData<'_>) {
        let asked = self.reference.asked(d.request_id).map(|(hash, _)| hash);
        let want = self.reference.data(d);
        let got = self.req.on_data(d);
        assert_eq!(
            got,
            want,
            "STORAGE_DATA {:?}",
            (d.request_id, d.total_len, d.offset, d.data.len())
        );
        match &got {
            // Equal to the verdict: the bytes hash (by the reference's own SHA3-256) to
            // the requested hash.
            FetchOutcome::Done { hash, .. } => {
                assert_eq!(Some(*hash), asked, "delivered for another request");
                self.stats.fetched += 1;
            }
            FetchOutcome::Failed { error, cancel, .. } => {
                match error {
                    FetchError::HashMismatch => self.stats.hash_mismatches += 1,
                    _ => self.stats.bad_responses += 1,
                }
                if *cancel {
                    self.peer_cancel(d.request_id);
                }
            }
            FetchOutcome::Pending => {}
        }
    }

    /// A STORAGE_REFUSE reaches the requester: the fetch fails as the spec says.
    fn refuse(&mut self, request_id: u64, code: ErrorCode) {
        let want = self.reference.refuse(request_id, code);
        if want.is_some() {
            self.stats.refused += 1;
        }
        assert_eq!(self.req.on_refuse(request_id, code), want, "refuse");
    }

    /// A STORAGE_GET reaches the server; repeats and used ids are ignored, as the
    /// session's first-receipt check does.
    fn request(&mut self, request_id: u64, hash: ContentHash, max_len: u64) {
        if self.serves.len() >= MAX_LIVE || !self.serve_ids.insert(request_id) {
            return;
        }
        self.server.await_answer(request_id, hash, max_len);
        self.serves
            .insert(request_id, ServeModel::Awaiting { hash, max_len });
    }

    fn serve(&mut self, request_id: u64, found: bool, rest: &AtRest) {
        let Some(ServeModel::Awaiting { hash, max_len }) = self.serves.get(&request_id) else {
            let any = Some(Bytes::from_static(b"x"));
            assert_eq!(self.server.answer(request_id, any), None, "answered twice");
            return;
        };
        let (hash, max_len) = (*hash, *max_len);
        let data = if found { rest.lookup(&hash) } else { None };
        let want = match &data {
            None => ServeAnswer::Refuse(ErrorCode::OBJECT_NOT_FOUND),
            Some(d) if d.len() as u64 > max_len => ServeAnswer::Refuse(ErrorCode::OBJECT_TOO_LARGE),
            Some(_) => ServeAnswer::Send,
        };
        let got = self.server.answer(request_id, data.clone());
        assert_eq!(got, Some((hash, want)), "answer to {request_id}");
        match (want, data) {
            (ServeAnswer::Send, Some(object)) => {
                let acked = vec![false; object.len()];
                self.serves.insert(
                    request_id,
                    ServeModel::Sending {
                        object,
                        acked,
                        fin_acked: false,
                        tainted: false,
                    },
                );
            }
            (answer, _) => {
                self.serves.remove(&request_id);
                if let ServeAnswer::Refuse(code) = answer {
                    self.refuse(request_id, code);
                }
            }
        }
    }

    fn peer_cancel(&mut self, request_id: u64) {
        self.serves.remove(&request_id);
        self.server.on_cancel(request_id);
    }

    /// The server's next piece into a packet with `room` bytes; records it if written.
    fn send(&mut self, max_len: usize, room: usize) -> Option<usize> {
        let (id, total, chunk) = self.server.next_chunk(max_len)?;
        assert!(chunk.len <= max_len, "piece longer than asked");
        let Some(frame) = self.write(id, total, &chunk, room) else {
            // As the session does: give the piece back for a later packet.
            self.server.on_chunk_lost(id, &chunk);
            return None;
        };
        self.stats.pieces += 1;
        self.sent.push(Sent {
            id,
            chunk,
            frame,
            delivered: false,
            acked: false,
            lost: false,
        });
        Some(self.sent.len() - 1)
    }

    /// Writes `chunk` of answer `id` into `room` bytes: either nothing, or one frame
    /// that decodes to the object's bytes at that range.
    fn write(&self, id: u64, total: u64, chunk: &Chunk, room: usize) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; room];
        let mut w = Writer::new(&mut buf);
        if self.server.write_chunk(&mut w, id, total, chunk).is_err() {
            assert_eq!(w.position(), 0, "a refused piece left bytes behind");
            return None;
        }
        let len = w.position();
        buf.truncate(len);
        let Some(ServeModel::Sending { object, .. }) = self.serves.get(&id) else {
            panic!("piece written for {id}, which is not being answered");
        };
        assert_eq!(total, object.len() as u64, "total of answer {id}");
        match Frame::decode_exact(&buf) {
            Ok(Frame::StorageData(d)) => {
                let end = d.offset + d.data.len() as u64;
                assert_eq!((d.request_id, d.total_len), (id, total));
                assert_eq!((d.offset, d.data.len()), (chunk.offset, chunk.len));
                assert!(end <= total, "piece past the object's end");
                assert_eq!(
                    d.data,
                    &object[d.offset as usize..end as usize],
                    "piece bytes"
                );
            }
            other => panic!("written piece decodes as {other:?}"),
        }
        Some(buf)
    }

    /// An arbitrary range of answer `request_id` is written: nothing, or its true bytes.
    fn read_range(&mut self, request_id: u64, offset: u64, len: usize, room: u16) {
        let total = match self.serves.get(&request_id) {
            Some(ServeModel::Sending { object, .. }) => object.len() as u64,
            _ => u64::from(room),
        };
        let chunk = Chunk {
            offset,
            len,
            fin: false,
        };
        if self
            .write(request_id, total, &chunk, usize::from(room))
            .is_some()
        {
            self.stats.ranges_read += 1;
        }
    }

    fn deliver(&mut self, i: usize) {
        self.sent[i].delivered = true;
        let frame = core::mem::take(&mut self.sent[i].frame);
        self.receive(&frame);
        self.sent[i].frame = frame;
    }

    fn ack(&mut self, i: usize) {
        self.sent[i].acked = true;
        let (id, chunk) = (self.sent[i].id, self.sent[i].chunk);
        self.server.on_chunk_acked(id, &chunk);
        self.mark_acked(id, &chunk);
    }

    fn lose(&mut self, i: usize) {
        self.sent[i].lost = true;
        let (id, chunk) = (self.sent[i].id, self.sent[i].chunk);
        self.server.on_chunk_lost(id, &chunk);
    }

    /// Records an ack in the model; a serve the server forgot must have been acked whole.
    fn mark_acked(&mut self, id: u64, chunk: &Chunk) {
        if let Some(ServeModel::Sending {
            acked, fin_acked, ..
        }) = self.serves.get_mut(&id)
        {
            let start = (chunk.offset.min(acked.len() as u64)) as usize;
            let end = chunk.offset.saturating_add(chunk.len as u64);
            let end = end.min(acked.len() as u64) as usize;
            for a in &mut acked[start..end] {
                *a = true;
            }
            *fin_acked |= chunk.fin;
        }
        if self.server.is_serving(id) {
            return;
        }
        if let Some(ServeModel::Sending {
            acked, fin_acked, ..
        }) = self.serves.remove(&id)
        {
            assert!(
                fin_acked && acked.iter().all(|a| *a),
                "answer {id} forgotten before it was acknowledged"
            );
            self.stats.serves_finished += 1;
        }
    }

    /// Counts and bounds agree with the models.
    pub(super) fn check(&self) {
        assert_eq!(self.req.fetching(), self.reference.len(), "fetches");
        for (id, max_len, total) in self.reference.limits() {
            assert!(self.req.is_fetching(id), "fetch {id} lost");
            let held = self.req.buffer_len(id).unwrap_or_default() as u64;
            assert!(held <= max_len, "fetch {id} holds {held} > max {max_len}");
            assert!(
                held <= total.unwrap_or(0),
                "fetch {id} holds past its total"
            );
        }
        assert_eq!(self.server.serving(), self.serves.len(), "serves");
        for id in self.serves.keys() {
            assert!(self.server.is_serving(*id), "serve {id} lost");
        }
    }

    /// A clean network until quiet: every piece in flight is acknowledged if it
    /// arrived and lost if not, then every answer is sent, delivered and acknowledged.
    /// Every serve must then be finished, and every fetch a serve answered (and no
    /// arbitrary ack waived) ended.
    pub(super) fn drain(&mut self) {
        for i in 0..self.sent.len() {
            let s = &self.sent[i];
            if s.acked {
                continue;
            }
            if s.delivered {
                self.ack(i);
            } else if !s.lost {
                self.lose(i);
            }
        }
        let answered: Vec<u64> = self
            .serves
            .iter()
            .filter_map(|(id, s)| match s {
                ServeModel::Sending { tainted: false, .. } => Some(*id),
                _ => None,
            })
            .collect();
        let mut sends = 0;
        while self.server.has_pending() {
            sends += 1;
            assert!(sends <= DRAIN_LIMIT, "the server never runs out of pieces");
            let Some(i) = self.send(DRAIN_PIECE, DRAIN_ROOM) else {
                panic!("pending answers but no piece fits a clean packet");
            };
            self.deliver(i);
            self.ack(i);
        }
        self.check();
        for (id, s) in &self.serves {
            assert!(
                matches!(s, ServeModel::Awaiting { .. }),
                "answer {id} unfinished after a clean drain"
            );
        }
        for id in answered {
            assert!(
                !self.reference.is_live(id),
                "fetch {id} still waiting after its whole answer arrived"
            );
        }
    }
}

/// `i % len`, or `None` for an empty list.
fn pick(i: u8, len: usize) -> Option<usize> {
    (len > 0).then(|| usize::from(i) % len)
}
