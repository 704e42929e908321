//! What the core tells the application: [`Event`]s drained with `Node::poll_event`.
//!
//! Events are edge notifications: "stream 4 became readable", not the data itself. The
//! application reacts by calling back into the node. This module holds no state.

use bytes::Bytes;

use crate::error::SessionError;
use crate::frame::{Dir, ErrorCode, StreamId};
use crate::identity::NodeId;
use crate::node::{PathId, SessionHandle};

/// Something happened that the application may want to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A session finished its handshake (either side).
    Connected {
        /// The session.
        session: SessionHandle,
        /// The peer's authenticated id.
        peer: NodeId,
        /// True if this node initiated the session.
        initiator: bool,
    },
    /// A session ended; its handle is now dead.
    Closed {
        /// The session.
        session: SessionHandle,
        /// Why.
        reason: SessionError,
    },
    /// A stream event.
    Stream {
        /// The session.
        session: SessionHandle,
        /// What happened.
        event: StreamEvent,
    },
    /// A datagram arrived; read it with `Session::recv_datagram`.
    DatagramReceived {
        /// The session.
        session: SessionHandle,
    },
    /// An application-defined frame (0x80–0xFF) arrived.
    CustomFrame {
        /// The session.
        session: SessionHandle,
        /// Its type, 0x80–0xFF.
        frame_type: u8,
        /// Its payload.
        payload: Bytes,
    },
    /// The session now sends on another path (after validating it).
    PathChanged {
        /// The session.
        session: SessionHandle,
        /// The new path.
        path: PathId,
    },
    /// Packet keys were updated (either side started it).
    KeyUpdated {
        /// The session.
        session: SessionHandle,
    },
}

/// Stream-level happenings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// The peer opened a stream; accept it with `Session::accept_stream`.
    Opened {
        /// The stream.
        id: StreamId,
        /// Bounded mode: the total length the peer announced.
        total_len: Option<u64>,
    },
    /// The stream went from "nothing to read" to readable (bytes or its end). Edge
    /// triggered: read until [`crate::error::ReadError::Blocked`] before waiting again.
    Readable(StreamId),
    /// A stream blocked on credit or buffer space can take more bytes.
    Writable(StreamId),
    /// Everything written on the stream, and its FIN, was acknowledged.
    Finished(StreamId),
    /// The peer asked us to stop sending.
    Stopped {
        /// The stream.
        id: StreamId,
        /// The peer's code.
        code: ErrorCode,
    },
    /// The peer abandoned its sending side.
    Reset {
        /// The stream.
        id: StreamId,
        /// The peer's code.
        code: ErrorCode,
    },
    /// The peer granted more streams of a direction.
    Available(Dir),
}
