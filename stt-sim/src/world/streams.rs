//! The stream and datagram application drivers: each session writes its workload's
//! streams of known patterns and datagrams, and reads and checks every byte the peer
//! sends (one record per stream, shared by sender and receiver). It must not route
//! packets or decide how a session ended.

use bytes::Bytes;
use stt_proto::Instant;
use stt_proto::error::{ReadError, WriteError};
use stt_proto::frame::{Dir, ErrorCode, StreamId};

use super::{Ev, World, us};
use crate::invariant::Violation;
use crate::payload;

/// Largest stream chunk generated and written at once.
pub(super) const CHUNK: u64 = 64 * 1024;

/// A stream this session writes.
pub(super) struct OutStream {
    pub(super) id: Option<StreamId>,
    pub(super) key: usize,
    pub(super) written: u64,
    pub(super) total: u64,
    pub(super) finished: bool,
    pub(super) acked: bool,
    pub(super) dead: bool,
    pub(super) chunk: Vec<u8>,
    pub(super) chunk_pos: usize,
}

/// A stream the peer opened to this session.
pub(super) struct InStream {
    pub(super) id: StreamId,
    pub(super) header: Vec<u8>,
    pub(super) key: Option<usize>,
    pub(super) got: u64,
    pub(super) fin: bool,
    pub(super) dead: bool,
}

/// One stream's progress as both ends saw it, checked at the end of the run.
pub(super) struct StreamRecord {
    pub(super) sender: usize,
    pub(super) sender_node: usize,
    pub(super) receiver: Option<usize>,
    pub(super) total: u64,
    pub(super) written: u64,
    pub(super) got: u64,
    pub(super) fin: bool,
}

impl World {
    /// Track `t` sends its next datagram and schedules the one after.
    pub(super) fn send_datagram(&mut self, t: usize) {
        let now = self.now;
        let track = &self.tracks[t];
        if !track.up || track.dg_next >= track.workload.datagrams {
            return;
        }
        let ix = track.node;
        let data = payload::datagram(t as u32, track.dg_next, track.workload.datagram_size);
        let interval = us(track.workload.datagram_interval).max(1);
        let handle = track.handle;
        if let Some(mut s) = self.nodes[ix].node.as_mut().and_then(|n| n.session(handle)) {
            // A refused datagram (too large, closing) simply is not sent.
            let _ = s.send_datagram(now, Bytes::from(data));
        }
        let track = &mut self.tracks[t];
        track.dg_next += 1;
        if track.dg_next < track.workload.datagrams {
            self.schedule(
                Instant::from_micros(now.as_micros() + interval),
                Ev::Datagram(t),
            );
        }
        self.service(ix);
    }

    /// Runs the applications of node `ix`: accept, read and check, write, close.
    pub(super) fn drive(&mut self, ix: usize) {
        let now = self.now;
        let mut finished_plans = Vec::new();
        let track_ids = self.nodes[ix].tracks.clone();
        let World {
            nodes,
            tracks,
            records,
            violations,
            plans,
            stream_bytes_read,
            stream_bytes_written,
            first_write,
            last_read,
            apps,
            ..
        } = self;
        for t in track_ids {
            if !tracks[t].up {
                continue;
            }
            let handle = tracks[t].handle;
            let Some(node) = nodes[ix].node.as_mut() else {
                return;
            };
            let Some(mut s) = node.session(handle) else {
                continue;
            };
            let track = &mut tracks[t];
            // Accept what the peer opened.
            for dir in [Dir::Uni, Dir::Bi] {
                while let Some(id) = s.accept_stream(dir) {
                    track.inn.push(InStream {
                        id,
                        header: Vec::new(),
                        key: None,
                        got: 0,
                        fin: false,
                        dead: false,
                    });
                }
            }
            // Read and check every byte.
            for i in 0..track.inn.len() {
                loop {
                    let st = &mut track.inn[i];
                    if st.fin || st.dead {
                        break;
                    }
                    match s.read(now, st.id, CHUNK as usize) {
                        Ok(Some(bytes)) => {
                            *stream_bytes_read += bytes.len() as u64;
                            *last_read = Some(now);
                            let mut data: &[u8] = &bytes;
                            if st.key.is_none() {
                                let need = 16 - st.header.len();
                                let take = need.min(data.len());
                                st.header.extend_from_slice(&data[..take]);
                                st.got += take as u64;
                                data = &data[take..];
                                if st.header.len() == 16 {
                                    let rec = payload::parse_header(&st.header)
                                        .and_then(|k| usize::try_from(k).ok())
                                        .filter(|&k| {
                                            records.get(k).is_some_and(|r| {
                                                Some(r.sender_node) == track.peer
                                                    && (track.peer_track.is_none()
                                                        || track.peer_track == Some(r.sender))
                                            })
                                        });
                                    match rec {
                                        Some(k) => {
                                            st.key = Some(k);
                                            records[k].receiver = Some(t);
                                            records[k].got = 16;
                                        }
                                        None => {
                                            st.dead = true;
                                            violations.push(Violation::ForgedStream {
                                                node: ix,
                                                header: st.header.clone(),
                                            });
                                            break;
                                        }
                                    }
                                }
                            }
                            if let Some(k) = st.key
                                && !data.is_empty()
                            {
                                if !payload::check_stream(k as u64, st.got, data)
                                    || st.got + data.len() as u64 > records[k].total
                                {
                                    violations.push(Violation::WrongBytes {
                                        key: k as u64,
                                        offset: st.got,
                                        node: ix,
                                    });
                                    st.dead = true;
                                    break;
                                }
                                st.got += data.len() as u64;
                                records[k].got = st.got;
                            }
                        }
                        Ok(None) => {
                            st.fin = true;
                            match st.key {
                                Some(k) if st.got == records[k].written => {
                                    records[k].fin = true;
                                }
                                k => {
                                    let (key, written) =
                                        k.map_or((u64::MAX, 0), |k| (k as u64, records[k].written));
                                    violations.push(Violation::BadFin {
                                        key,
                                        got: st.got,
                                        written,
                                    });
                                }
                            }
                        }
                        Err(ReadError::Blocked) => break,
                        Err(_) => {
                            st.dead = true;
                            break;
                        }
                    }
                }
            }
            // Open and write.
            for (i, o) in track.out.iter_mut().enumerate() {
                if o.dead || o.finished {
                    continue;
                }
                let id = match o.id {
                    Some(id) => id,
                    None => {
                        let bounded = (i % 2 == 1).then_some(o.total);
                        match s.open_stream(now, track.workload.dir, 0, bounded) {
                            Ok(id) => {
                                o.id = Some(id);
                                id
                            }
                            Err(_) => break,
                        }
                    }
                };
                while o.written < o.total {
                    if o.chunk_pos >= o.chunk.len() {
                        let len = (o.total - o.written).min(CHUNK) as usize;
                        o.chunk.resize(len, 0);
                        payload::fill_stream(o.key as u64, o.written, &mut o.chunk);
                        o.chunk_pos = 0;
                    }
                    match s.write(now, id, &o.chunk[o.chunk_pos..]) {
                        Ok(n) => {
                            if first_write.is_none() {
                                *first_write = Some(now);
                            }
                            o.written += n as u64;
                            o.chunk_pos += n;
                            *stream_bytes_written += n as u64;
                            records[o.key].written = o.written;
                            if n == 0 {
                                break;
                            }
                        }
                        Err(WriteError::Blocked) => break,
                        Err(_) => {
                            o.dead = true;
                            break;
                        }
                    }
                }
                if o.written == o.total && !o.dead {
                    match s.finish(now, id) {
                        Ok(()) => o.finished = true,
                        Err(_) => o.dead = true,
                    }
                }
            }
            // Done? Everything of ours acknowledged, everything of the peer's read.
            let sent_all = track.out.iter().all(|o| o.acked)
                && track.dg_next >= track.workload.datagrams
                && apps.done(t)
                && s.messages_in_flight() == 0;
            let read_all = track.inn.iter().filter(|i| i.fin).count() as u32 >= track.expect_in;
            if track.initiator && !track.done && sent_all && read_all {
                track.done = true;
                let plan = track.plan;
                let close = plan.is_some_and(|p| plans[p].spec.close_when_done);
                if close {
                    track.closing = true;
                    s.close(now, ErrorCode::NO_ERROR, b"done");
                } else if let Some(p) = plan {
                    finished_plans.push((p, t));
                }
            }
        }
        for (p, t) in finished_plans {
            if self.plans[p].current == Some(t) {
                self.plan_session_ended(p, true);
            }
        }
    }
}
