//! `SessionRef`: one live session borrowed from its node for application calls
//! (streams, datagrams, migration, close). Each call checks its arguments, hands the
//! work to `session`, and reschedules the session with the node.

use super::Node;
use bytes::Bytes;

use crate::error::{
    DatagramError, MigrateError, OpenStreamError, ReadError, StreamError, WriteError,
};
use crate::frame::{Dir, ErrorCode, HEADER_LEN, StreamId, TAG_LEN};
use crate::identity::NodeId;
use crate::ids::{PathId, SessionHandle};
use crate::session::{Session, SessionStats};
use crate::time::Instant;

use crate::error::CustomFrameError;
use crate::frame::CUSTOM_MIN;

/// A live session, borrowed from its node for application calls.
pub struct SessionRef<'a> {
    pub(crate) node: &'a mut Node,
    pub(crate) handle: SessionHandle,
}

impl SessionRef<'_> {
    pub(crate) fn session(&mut self) -> &mut Session {
        // `Node::session` checked the handle and nothing frees the slot meanwhile.
        match self.node.slots[self.handle.index as usize].session.as_mut() {
            Some(s) => s,
            None => unreachable!("SessionRef outlived its session"),
        }
    }

    pub(crate) fn done<T>(&mut self, now: Instant, v: T) -> T {
        self.node.touch(self.handle.index, now);
        v
    }

    /// The handle of this session.
    pub fn handle(&self) -> SessionHandle {
        self.handle
    }

    /// The peer's authenticated id (once established).
    pub fn peer(&mut self) -> Option<NodeId> {
        self.session().peer()
    }

    /// Whether the session was established by the hybrid handshake (X25519 + ML-KEM-768,
    /// PROTOCOL.md §5.7.10); false for classic, and before the handshake completed.
    pub fn is_hybrid(&mut self) -> bool {
        self.session().is_hybrid()
    }

    /// True once the handshake completed and until the session starts closing.
    pub fn is_established(&mut self) -> bool {
        self.session().is_established()
    }

    /// The path the session currently sends on (possibly still being validated after
    /// the peer moved: see [`Event::PathChanged`](crate::Event::PathChanged)).
    pub fn path(&mut self) -> PathId {
        self.session().path_id()
    }

    /// Whether [`path`](Self::path) is proven (the peer answered a challenge on it, or
    /// this side chose it); an unproven path gets at most 3× the bytes received on it.
    pub fn path_validated(&mut self) -> bool {
        self.session().path_validated()
    }

    /// Moves the session to `path` by this side's choice (a new socket or WebSocket
    /// the application opened); the peer validates the new path when packets arrive on
    /// it, and late packets on the old path do not pull the session back. Emits
    /// [`Event::PathChanged`](crate::Event::PathChanged).
    pub fn migrate(&mut self, now: Instant, path: PathId) -> Result<(), MigrateError> {
        let r = self.session().migrate(now, path);
        self.done(now, r)
    }

    /// Statistics.
    pub fn stats(&mut self) -> SessionStats {
        self.session().stats()
    }

    /// Opens a stream. `total_len` selects bounded mode (the receiver learns the total
    /// length up front); `None` is live mode (open-ended until finish).
    pub fn open_stream(
        &mut self,
        now: Instant,
        dir: Dir,
        priority: u8,
        total_len: Option<u64>,
    ) -> Result<StreamId, OpenStreamError> {
        let r = self.session().open_stream(dir, priority, total_len);
        self.done(now, r)
    }

    /// Takes the next stream the peer opened.
    pub fn accept_stream(&mut self, dir: Dir) -> Option<StreamId> {
        self.session().streams_mut()?.accept(dir)
    }

    /// Writes bytes; returns how many were taken (fewer than given when the send
    /// buffer fills; [`WriteError::Blocked`] when none fit).
    pub fn write(&mut self, now: Instant, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.write(id, data),
            None => Err(WriteError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Queues bytes without copying them; returns how many were taken (the rest of
    /// `data` did not fit the send buffer).
    pub fn write_bytes(
        &mut self,
        now: Instant,
        id: StreamId,
        data: Bytes,
    ) -> Result<usize, WriteError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.write_bytes(id, data),
            None => Err(WriteError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Reads up to `max` bytes in order. `Ok(None)`: the peer finished the stream.
    pub fn read(
        &mut self,
        now: Instant,
        id: StreamId,
        max: usize,
    ) -> Result<Option<Bytes>, ReadError> {
        let rtt = self.session().rtt();
        let r = match self.session().streams_mut() {
            Some(st) => st.read(id, max, now, rtt),
            None => Err(ReadError::SessionClosed),
        };
        if let Ok(Some(b)) = &r {
            self.session().note_stream_read(b.len());
        }
        self.done(now, r)
    }

    /// Bytes read so far on a receiving stream and, in bounded mode, the total.
    pub fn recv_progress(&mut self, id: StreamId) -> Option<(u64, Option<u64>)> {
        self.session().streams_mut()?.recv_progress(id)
    }

    /// Ends the stream's sending side once everything written is delivered.
    pub fn finish(&mut self, now: Instant, id: StreamId) -> Result<(), StreamError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.finish(id),
            None => Err(StreamError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Abandons the stream's sending side with an application error code.
    pub fn reset(
        &mut self,
        now: Instant,
        id: StreamId,
        code: ErrorCode,
    ) -> Result<(), StreamError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.reset(id, code),
            None => Err(StreamError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Asks the peer to stop sending on a stream we receive on.
    pub fn stop(&mut self, now: Instant, id: StreamId, code: ErrorCode) -> Result<(), StreamError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.stop(id, code),
            None => Err(StreamError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Sets a stream's priority: streams with higher values send first.
    pub fn set_priority(&mut self, id: StreamId, priority: u8) -> Result<(), StreamError> {
        match self.session().streams_mut() {
            Some(st) => st.set_priority(id, priority),
            None => Err(StreamError::SessionClosed),
        }
    }

    /// Largest datagram payload accepted by [`SessionRef::send_datagram`].
    pub fn max_datagram_size(&mut self) -> usize {
        self.session().max_datagram()
    }

    /// Queues an unreliable datagram. Under congestion or a full queue, the oldest
    /// queued datagrams are dropped rather than buffered without bound.
    pub fn send_datagram(&mut self, now: Instant, data: Bytes) -> Result<(), DatagramError> {
        let max = self.max_datagram_size();
        if !self.session().is_established() {
            return Err(DatagramError::NotConnected);
        }
        if data.len() > max {
            return Err(DatagramError::TooLarge {
                len: data.len(),
                max,
            });
        }
        let limit = self.node.config.transport.datagram_send_buffer;
        self.session().send_datagram(data, limit);
        self.done(now, Ok(()))
    }

    /// Takes the oldest received datagram.
    pub fn recv_datagram(&mut self) -> Option<Bytes> {
        self.session().recv_datagram()
    }

    /// Closes the session: DISCONNECT with `code` and `reason` goes to the peer.
    pub fn close(&mut self, now: Instant, code: ErrorCode, reason: &[u8]) {
        self.session().close(now, code, reason);
        self.done(now, ())
    }
}

/// Largest varint a message id or length field can take in these frames.
pub(super) const VARINT_MAX_LEN: usize = 8;

/// Largest custom-frame payload in a packet of `max_packet` bytes: the frame must fit
/// an otherwise empty packet (type, message id, 2-byte length).
pub fn max_custom_payload(max_packet: usize) -> usize {
    max_packet.saturating_sub(HEADER_LEN + TAG_LEN + 1 + VARINT_MAX_LEN + 2)
}

impl SessionRef<'_> {
    /// Sends an application-defined frame (type 0x80–0xFF): encrypted like every
    /// frame, retransmitted until acknowledged, delivered to the peer exactly once as
    /// `Event::CustomFrame` (not ordered relative to other messages).
    pub fn send_custom_frame(
        &mut self,
        now: Instant,
        frame_type: u8,
        payload: &[u8],
    ) -> Result<(), CustomFrameError> {
        if frame_type < CUSTOM_MIN {
            return Err(CustomFrameError::ReservedType(frame_type));
        }
        let max = max_custom_payload(self.node.config.max_packet_size);
        if payload.len() > max {
            return Err(CustomFrameError::TooLarge {
                len: payload.len(),
                max,
            });
        }
        let t = self.node.config.clone();
        let payload = Bytes::copy_from_slice(payload);
        let r = self
            .session()
            .send_custom(&t.transport, frame_type, payload);
        self.done(now, r)
    }

    /// Live mode, freshest first: if the sending side of `id` is not fully delivered
    /// (every byte and the FIN acknowledged) by `deadline`, it is reset with
    /// `STREAM_EXPIRED` and `StreamEvent::Expired` reported, instead of being
    /// retransmitted after it stopped mattering.
    pub fn set_deadline(
        &mut self,
        now: Instant,
        id: StreamId,
        deadline: Instant,
    ) -> Result<(), StreamError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.set_deadline(id, deadline),
            None => Err(StreamError::SessionClosed),
        };
        self.done(now, r)
    }
}
