//! One session's streams: the table, opening rules and limits, stream- and
//! session-level flow control (with receive-window auto-tuning), which stream sends
//! next (priority, then round-robin in turns of `TURN_BYTES`), and live-mode
//! deadlines (a sending side not delivered by its deadline is reset with
//! `STREAM_EXPIRED`: freshest first).
//!
//! Owns no packets and no keys: the packet builder asks it for the next chunk and
//! reports acks and losses back; frame handlers feed it peer frames.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;

use crate::error::{OpenStreamError, ReadError, StreamError, WriteError};
use crate::event::StreamEvent;
use crate::frame::{Dir, ErrorCode, Side, StreamId};
use crate::stream::{RecvBuffer, SendBuffer};
use crate::time::Instant;

use super::control::Control;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendState {
    Open,
    Reset { code: ErrorCode, acked: bool },
}

#[derive(Debug, Clone)]
struct SendHalf {
    buf: SendBuffer,
    /// Peer's credit: highest offset we may send.
    max_data: u64,
    /// Bounded mode: the announced total.
    total_len: Option<u64>,
    state: SendState,
    stopped: Option<ErrorCode>,
    blocked_reported: Option<u64>,
    want_writable: bool,
    finished_reported: bool,
}

#[derive(Debug, Clone)]
struct RecvHalf {
    buf: RecvBuffer,
    window: RecvWindow,
    reset: Option<ErrorCode>,
    stop_sent: bool,
    total_len: Option<u64>,
}

#[derive(Debug, Clone)]
struct StreamState {
    send: Option<SendHalf>,
    recv: Option<RecvHalf>,
    priority: u8,
    /// In the ready queue of its priority.
    queued: bool,
    /// The peer's STOP_SENDING code, remembered after the send half is gone so writes
    /// keep reporting why.
    stopped: Option<ErrorCode>,
}

/// Flow-control and stream-count settings for one session, from both sides' params.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamLimits {
    pub local_stream_window: u64,
    pub max_local_stream_window: u64,
    pub local_window: u64,
    pub max_local_window: u64,
    pub local_max_streams: [u64; 2],
    pub peer_stream_window: u64,
    pub peer_max_data: u64,
    pub peer_max_streams: [u64; 2],
    pub send_buffer: u64,
    pub session_send_buffer: u64,
}

fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

/// All streams of one session.
#[derive(Debug, Clone)]
pub(crate) struct Streams {
    side: Side,
    limits: StreamLimits,
    streams: BTreeMap<StreamId, StreamState>,
    /// Streams with something to send: one round-robin queue per priority, the highest
    /// served first; a stream is in at most one (`StreamState::queued`).
    ready: BTreeMap<u8, VecDeque<StreamId>>,
    /// The stream whose turn it is and the bytes it sent in this turn.
    turn: Option<(StreamId, usize)>,
    /// Peer-opened streams not yet accepted, per direction.
    incoming: [VecDeque<StreamId>; 2],
    next_local: [u32; 2],
    peer_max_streams: [u64; 2],
    /// Highest peer-opened index seen, per direction.
    remote_opened: [u64; 2],
    /// Limit we advertised for peer-opened streams, per direction.
    remote_limit: [u64; 2],
    remote_closed: [u64; 2],
    /// Bytes held by all sending sides together (written, not yet acknowledged),
    /// bounded by `StreamLimits::session_send_buffer`.
    send_held: u64,
    /// Streams whose writer waits for session-wide send room (each listed once).
    session_blocked: Vec<StreamId>,
    /// Session-level send accounting.
    sent_data: u64,
    peer_max_data: u64,
    data_blocked_reported: Option<u64>,
    /// The chunk [`Streams::next_chunk`] returned last was sent before (for metrics).
    pub(crate) last_chunk_resent: bool,
    /// Session-level receive accounting.
    received_data: u64,
    consumed_data: u64,
    window: RecvWindow,
    /// Sending sides that must be delivered by a deadline or be abandoned.
    deadlines: BTreeMap<StreamId, Instant>,
    pub(crate) events: VecDeque<StreamEvent>,
    pub(crate) control: Vec<Control>,
}

/// A peer frame broke a stream rule; the session closes with this code.
pub(crate) type Violation = ErrorCode;

impl Streams {
    pub(crate) fn new(side: Side, limits: StreamLimits) -> Self {
        Self {
            side,
            limits,
            streams: BTreeMap::new(),
            ready: BTreeMap::new(),
            turn: None,
            incoming: [VecDeque::new(), VecDeque::new()],
            next_local: [1, 1],
            peer_max_streams: limits.peer_max_streams,
            remote_opened: [0, 0],
            remote_limit: limits.local_max_streams,
            remote_closed: [0, 0],
            send_held: 0,
            session_blocked: Vec::new(),
            sent_data: 0,
            peer_max_data: limits.peer_max_data,
            data_blocked_reported: None,
            last_chunk_resent: false,
            received_data: 0,
            consumed_data: 0,
            window: RecvWindow::new(limits.local_window, limits.max_local_window),
            deadlines: BTreeMap::new(),
            events: VecDeque::new(),
            control: Vec::new(),
        }
    }

    fn new_send(&self, total_len: Option<u64>) -> SendHalf {
        SendHalf {
            buf: SendBuffer::default(),
            max_data: self.limits.peer_stream_window,
            total_len,
            state: SendState::Open,
            stopped: None,
            blocked_reported: None,
            want_writable: false,
            finished_reported: false,
        }
    }

    fn new_recv(&self) -> RecvHalf {
        RecvHalf {
            buf: RecvBuffer::default(),
            window: RecvWindow::new(
                self.limits.local_stream_window,
                self.limits.max_local_stream_window,
            ),
            reset: None,
            stop_sent: false,
            total_len: None,
        }
    }

    /// Number of open streams.
    pub(crate) fn open_count(&self) -> usize {
        self.streams.len()
    }

    /// Opens a local stream.
    pub(crate) fn open(
        &mut self,
        dir: Dir,
        priority: u8,
        total_len: Option<u64>,
    ) -> Result<StreamId, OpenStreamError> {
        let d = dir_index(dir);
        let index = self.next_local[d];
        if u64::from(index) > self.peer_max_streams[d] {
            return Err(OpenStreamError::Blocked);
        }
        let id = StreamId::new(self.side, dir, index).ok_or(OpenStreamError::Blocked)?;
        self.next_local[d] += 1;
        let recv = match dir {
            Dir::Bi => Some(self.new_recv()),
            Dir::Uni => None,
        };
        self.streams.insert(
            id,
            StreamState {
                send: Some(self.new_send(total_len)),
                recv,
                priority,
                queued: false,
                stopped: None,
            },
        );
        self.control.push(Control::StreamOpen {
            id,
            priority,
            total_len,
        });
        Ok(id)
    }

    /// Takes the next peer-opened stream of a direction.
    pub(crate) fn accept(&mut self, dir: Dir) -> Option<StreamId> {
        self.incoming[dir_index(dir)].pop_front()
    }

    fn is_local(&self, id: StreamId) -> bool {
        id.opener() == self.side
    }

    /// Finds or implicitly opens the stream a peer frame names. `None` = a stream that
    /// existed and is fully closed (frames for it are ignored).
    fn remote_stream(&mut self, id: StreamId) -> Result<Option<&mut StreamState>, Violation> {
        self.ensure_stream(id)?;
        Ok(self.streams.get_mut(&id))
    }

    /// Checks a peer-named stream id and implicitly opens peer streams up to it.
    fn ensure_stream(&mut self, id: StreamId) -> Result<(), Violation> {
        if self.is_local(id) {
            if u64::from(id.index()) >= u64::from(self.next_local[dir_index(id.dir())]) {
                return Err(ErrorCode::STREAM_ID_CONFLICT);
            }
            return Ok(());
        }
        let d = dir_index(id.dir());
        let index = u64::from(id.index());
        if index > self.remote_limit[d] {
            return Err(ErrorCode::TOO_MANY_STREAMS);
        }
        while self.remote_opened[d] < index {
            self.remote_opened[d] += 1;
            let Some(new_id) = StreamId::new(id.opener(), id.dir(), self.remote_opened[d] as u32)
            else {
                return Err(ErrorCode::TOO_MANY_STREAMS);
            };
            let send = match id.dir() {
                Dir::Bi => Some(self.new_send(None)),
                Dir::Uni => None,
            };
            let recv = Some(self.new_recv());
            self.streams.insert(
                new_id,
                StreamState {
                    send,
                    recv,
                    priority: 0,
                    queued: false,
                    stopped: None,
                },
            );
            self.incoming[d].push_back(new_id);
            self.events.push_back(StreamEvent::Opened {
                id: new_id,
                total_len: None,
            });
        }
        Ok(())
    }

    /// STREAM_OPEN from the peer.
    pub(crate) fn on_stream_open(
        &mut self,
        id: StreamId,
        priority: u8,
        total_len: Option<u64>,
    ) -> Result<(), Violation> {
        if self.is_local(id) {
            return Err(ErrorCode::STREAM_ID_CONFLICT);
        }
        let newly = u64::from(id.index()) > self.remote_opened[dir_index(id.dir())];
        if let Some(s) = self.remote_stream(id)? {
            if let Some(r) = s.recv.as_mut() {
                r.total_len = total_len;
            }
            self.change_priority(id, priority);
        }
        // Re-announce the total on the Opened event the implicit open just queued.
        if newly && total_len.is_some() {
            for e in self.events.iter_mut().rev() {
                if let StreamEvent::Opened {
                    id: eid,
                    total_len: t,
                } = e
                    && *eid == id
                {
                    *t = total_len;
                    break;
                }
            }
        }
        Ok(())
    }

    /// Checks a stream the peer sends on and opens it implicitly. `Ok(false)`: its
    /// receive half is gone (read to the end) or reset, so the frame is a late
    /// duplicate to ignore; an error if the peer may not send on it at all.
    fn live_peer_recv(&mut self, id: StreamId) -> Result<bool, Violation> {
        if self.is_local(id) && id.dir() == Dir::Uni {
            return Err(ErrorCode::STREAM_ID_CONFLICT);
        }
        self.ensure_stream(id)?;
        Ok(self
            .streams
            .get(&id)
            .and_then(|s| s.recv.as_ref())
            .is_some_and(|r| r.reset.is_none()))
    }

    /// DATA from the peer.
    pub(crate) fn on_data(
        &mut self,
        id: StreamId,
        offset: u64,
        data: Bytes,
        fin: bool,
    ) -> Result<(), Violation> {
        if !self.live_peer_recv(id)? {
            return Ok(());
        }
        let Some(r) = self.streams.get_mut(&id).and_then(|s| s.recv.as_mut()) else {
            return Ok(());
        };
        let end = offset + data.len() as u64;
        if end > r.window.advertised {
            return Err(ErrorCode::FLOW_CONTROL_VIOLATION);
        }
        if fin && r.total_len.is_some_and(|t| t != end) {
            return Err(ErrorCode::FINAL_SIZE_ERROR);
        }
        // Both windows are checked before the bytes are held, so a refused frame never
        // leaves more buffered than was advertised.
        let grown = end.saturating_sub(r.buf.highest_received());
        if self.received_data + grown > self.window.advertised {
            return Err(ErrorCode::FLOW_CONTROL_VIOLATION);
        }
        // Edge-triggered: announce only the change from "nothing to read" (the reader
        // reads until Blocked, so later arrivals need no event of their own).
        let was_readable = r.buf.has_readable() || r.buf.is_finished();
        r.buf
            .insert(offset, data, fin)
            .map_err(|_| ErrorCode::FINAL_SIZE_ERROR)?;
        self.received_data += grown;
        if !was_readable && (r.buf.has_readable() || r.buf.is_finished()) {
            self.events.push_back(StreamEvent::Readable(id));
        }
        Ok(())
    }

    /// Reads up to `max` in-order bytes. `Ok(None)` = the stream ended (FIN read).
    pub(crate) fn read(
        &mut self,
        id: StreamId,
        max: usize,
        now: Instant,
        rtt: Duration,
    ) -> Result<Option<Bytes>, ReadError> {
        let s = self.streams.get_mut(&id).ok_or(ReadError::Closed)?;
        let r = s.recv.as_mut().ok_or(ReadError::Closed)?;
        if let Some(code) = r.reset {
            // Reported once; the receive half is gone after that.
            s.recv = None;
            self.maybe_forget(id);
            return Err(ReadError::Reset(code));
        }
        let Some(bytes) = r.buf.read(max) else {
            if r.buf.is_finished() {
                s.recv = None;
                self.maybe_forget(id);
                return Ok(None);
            }
            return Err(ReadError::Blocked);
        };
        let n = bytes.len() as u64;
        if let Some(max) = r.window.update(r.buf.read_offset(), now, rtt) {
            self.control.push(Control::MaxStreamData { id, max });
        }
        self.consumed_data += n;
        if let Some(max) = self.window.update(self.consumed_data, now, rtt) {
            self.control.push(Control::MaxData(max));
        }
        Ok(Some(bytes))
    }

    /// Progress of a receiving stream: (bytes read, announced total if bounded).
    pub(crate) fn recv_progress(&self, id: StreamId) -> Option<(u64, Option<u64>)> {
        let r = self.streams.get(&id)?.recv.as_ref()?;
        Some((r.buf.read_offset(), r.total_len))
    }

    /// Queues bytes (copied); returns how many were taken.
    pub(crate) fn write(&mut self, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        let room = self.write_room(id, data.len())?;
        self.push(id, Bytes::copy_from_slice(&data[..room]))
    }

    /// Queues bytes without copying; returns how many were taken.
    pub(crate) fn write_bytes(
        &mut self,
        id: StreamId,
        mut data: Bytes,
    ) -> Result<usize, WriteError> {
        let room = self.write_room(id, data.len())?;
        data.truncate(room);
        self.push(id, data)
    }

    /// Appends bytes `write_room` already admitted.
    fn push(&mut self, id: StreamId, data: Bytes) -> Result<usize, WriteError> {
        let len = data.len();
        let send = self
            .streams
            .get_mut(&id)
            .and_then(|s| s.send.as_mut())
            .ok_or(WriteError::Closed)?;
        send.buf.write(data).map_err(|_| WriteError::Closed)?;
        self.send_held += len as u64;
        self.mark_ready(id);
        Ok(len)
    }

    /// Ends the sending side after everything written.
    pub(crate) fn finish(&mut self, id: StreamId) -> Result<(), StreamError> {
        let s = self.streams.get_mut(&id).ok_or(StreamError::Closed)?;
        let send = s.send.as_mut().ok_or(StreamError::Closed)?;
        if send.state != SendState::Open {
            return Err(StreamError::Closed);
        }
        if send.total_len.is_some_and(|t| t != send.buf.written()) {
            // Bounded mode promised a length; finishing short is an abrupt end.
            return Err(StreamError::Closed);
        }
        send.buf.finish().map_err(|_| StreamError::Closed)?;
        self.mark_ready(id);
        Ok(())
    }

    /// Abandons the sending side with a code.
    pub(crate) fn reset(&mut self, id: StreamId, code: ErrorCode) -> Result<(), StreamError> {
        let s = self.streams.get_mut(&id).ok_or(StreamError::Closed)?;
        let send = s.send.as_mut().ok_or(StreamError::Closed)?;
        if send.state != SendState::Open {
            return Err(StreamError::Closed);
        }
        let final_size = send.buf.unsent_offset();
        let held = send.buf.unacked();
        send.buf.reset();
        send.state = SendState::Reset { code, acked: false };
        self.release_held(held);
        self.control.push(Control::StreamClose {
            id,
            code,
            final_size,
        });
        Ok(())
    }

    /// Asks the peer to stop sending on a stream we receive on.
    pub(crate) fn stop(&mut self, id: StreamId, code: ErrorCode) -> Result<(), StreamError> {
        let s = self.streams.get_mut(&id).ok_or(StreamError::Closed)?;
        let r = s.recv.as_mut().ok_or(StreamError::Closed)?;
        if !r.stop_sent {
            r.stop_sent = true;
            self.control.push(Control::StopSending { id, code });
        }
        Ok(())
    }

    /// STREAM_CLOSE (reset) from the peer. The stream's unread bytes will never be
    /// read, so they are released to the session window at once (otherwise reset
    /// streams would use up the session credit and stall every other stream).
    pub(crate) fn on_reset(
        &mut self,
        id: StreamId,
        code: ErrorCode,
        final_size: u64,
        now: Instant,
        rtt: Duration,
    ) -> Result<(), Violation> {
        if !self.live_peer_recv(id)? {
            return Ok(());
        }
        let Some(r) = self.streams.get_mut(&id).and_then(|s| s.recv.as_mut()) else {
            return Ok(());
        };
        if final_size < r.buf.highest_received()
            || r.buf.final_size().is_some_and(|f| f != final_size)
        {
            return Err(ErrorCode::FINAL_SIZE_ERROR);
        }
        // Credit the whole final size so session-level accounting stays in step.
        let grown = final_size - r.buf.highest_received();
        if final_size > r.window.advertised || self.received_data + grown > self.window.advertised {
            return Err(ErrorCode::FLOW_CONTROL_VIOLATION);
        }
        self.received_data += grown;
        r.reset = Some(code);
        self.consumed_data += final_size - r.buf.read_offset();
        if let Some(max) = self.window.update(self.consumed_data, now, rtt) {
            self.control.push(Control::MaxData(max));
        }
        self.events.push_back(StreamEvent::Reset { id, code });
        Ok(())
    }

    /// STOP_SENDING from the peer: reset our sending side with its code.
    pub(crate) fn on_stop_sending(
        &mut self,
        id: StreamId,
        code: ErrorCode,
    ) -> Result<(), Violation> {
        if !self.is_local(id) && id.dir() == Dir::Uni {
            return Err(ErrorCode::STREAM_ID_CONFLICT);
        }
        let Some(s) = self.remote_stream(id)? else {
            return Ok(());
        };
        s.stopped.get_or_insert(code);
        let Some(send) = s.send.as_mut() else {
            return Ok(());
        };
        if send.stopped.is_none() {
            send.stopped = Some(code);
            self.events.push_back(StreamEvent::Stopped { id, code });
            let _ = self.reset(id, code);
        }
        Ok(())
    }

    /// Whether a control frame about `id` is still worth sending.
    pub(crate) fn is_live(&self, id: StreamId) -> bool {
        self.streams.contains_key(&id)
    }

    fn maybe_forget(&mut self, id: StreamId) {
        let Some(s) = self.streams.get(&id) else {
            return;
        };
        if s.send.is_some() || s.recv.is_some() {
            return;
        }
        if s.queued {
            self.unqueue(id, s.priority);
        }
        self.streams.remove(&id);
        self.deadlines.remove(&id);
        if !self.is_local(id) {
            // A finished peer stream frees a slot: grant one more.
            let d = dir_index(id.dir());
            self.remote_closed[d] += 1;
            self.remote_limit[d] = self.limits.local_max_streams[d] + self.remote_closed[d];
            self.control.push(Control::MaxStreams {
                dir: id.dir(),
                count: self.remote_limit[d],
            });
        }
    }
}

mod flow;
mod schedule;

use flow::RecvWindow;
#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod tests;
