//! Typed errors of the session and stream APIs.
//!
//! Inbound garbage never surfaces here: it is counted and dropped by the node. These
//! errors answer application calls and say why a session ended.

use alloc::vec::Vec;
use core::fmt;

use crate::frame::{EndpointId, ErrorCode};
use crate::identity::NodeId;

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    /// The handshake did not complete within the handshake timeout: the peer is gone,
    /// or it is not a member of this network (it silently drops a non-member's INIT).
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The handshake completed cryptographically but was refused.
    #[error("handshake failed: {0}")]
    HandshakeFailed(ErrorCode),
    /// The peer's id is not allowed by the local peer policy.
    #[error("peer refused by local policy")]
    PeerRefused,
    /// A pinned connect ([`crate::Node::connect_to`]) reached a network member whose
    /// authenticated id is not the one expected. The handshake stopped before this side
    /// sent RESPONSE, so the stranger never learnt who we are.
    #[error("peer is {actual}, expected {}", IdList(.expected))]
    PeerMismatch {
        /// The ids the connect accepted.
        expected: Vec<NodeId>,
        /// The id the peer proved.
        actual: NodeId,
    },
    /// Nothing arrived within the idle timeout.
    #[error("idle timeout")]
    TimedOut,
    /// The peer stopped answering while data was outstanding: nothing arrived for
    /// `max(UNRESPONSIVE_PTOS probe timeouts, UNRESPONSIVE_FLOOR)` (see
    /// [`crate::config::UNRESPONSIVE_PTOS`]), well before the idle timeout.
    #[error("peer unresponsive: no answer to outstanding data for {silent_ms} ms")]
    PeerUnresponsive {
        /// How long nothing had arrived when the session was given up, in milliseconds.
        silent_ms: u64,
    },
    /// The peer closed the session.
    #[error("closed by peer: {code} {reason:?}")]
    ClosedByPeer {
        /// The peer's code.
        code: ErrorCode,
        /// The peer's reason text.
        reason: Vec<u8>,
    },
    /// This node closed the session.
    #[error("closed locally: {code}")]
    LocallyClosed {
        /// The code sent.
        code: ErrorCode,
    },
    /// The peer broke the protocol; the session was closed with this code.
    #[error("protocol violation: {0}")]
    ProtocolViolation(ErrorCode),
    /// The peer reset the session statelessly (it lost its state).
    #[error("stateless reset by peer")]
    Reset,
    /// The peer speaks another protocol version.
    #[error("peer speaks another protocol version")]
    VersionMismatch,
    /// This node requires the post-quantum hybrid handshake (`NodeConfig::pq` =
    /// `Require`) and the peer, a network member, refused it: it runs classic only.
    #[error("the peer does not run the post-quantum hybrid handshake, and this node requires it")]
    HybridRequired,
    /// The peer requires the post-quantum hybrid handshake and this node runs classic only
    /// (`NodeConfig::pq` = `Off`).
    #[error("the peer requires the post-quantum hybrid handshake, and this node runs classic only")]
    PeerRequiresHybrid,
    /// The peer runs hybrid, yet our classic fallback said a member had refused our hybrid
    /// offer: a forged refusal (a downgrade attempt). Nothing was established.
    #[error("hybrid handshake downgrade detected; the peer refused the classic fallback")]
    HybridDowngrade,
}

/// Node ids for a message: `a`, or `a or b or c`.
struct IdList<'a>(&'a [NodeId]);

impl fmt::Display for IdList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(none)");
        }
        for (i, id) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            write!(f, "{id}")?;
        }
        Ok(())
    }
}

/// Why `Node::connect` could not start a session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The node already holds `max_sessions` sessions.
    #[error("too many sessions")]
    TooManySessions,
    /// The handshake could not be prepared (a bug or a bad configuration).
    #[error("handshake could not be started")]
    Internal,
}

/// Why a stream could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OpenStreamError {
    /// The peer's stream limit is reached; wait for `StreamEvent::Available`.
    #[error("stream limit reached")]
    Blocked,
    /// The session is not established or is closing.
    #[error("session not established")]
    NotConnected,
}

/// Why a write did not take bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WriteError {
    /// No room now; wait for `StreamEvent::Writable`.
    #[error("stream blocked")]
    Blocked,
    /// The peer asked us to stop sending.
    #[error("stopped by peer: {0}")]
    Stopped(ErrorCode),
    /// The stream is finished, reset, unknown, or receive-only.
    #[error("stream closed")]
    Closed,
    /// The session is gone.
    #[error("session closed")]
    SessionClosed,
    /// Bounded mode: the write goes past the announced total length.
    #[error("write exceeds the announced total length")]
    TooLong,
}

/// Why a read returned no bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// Nothing to read now; wait for `StreamEvent::Readable`.
    #[error("nothing to read yet")]
    Blocked,
    /// The peer reset the stream.
    #[error("reset by peer: {0}")]
    Reset(ErrorCode),
    /// The stream is unknown or send-only.
    #[error("stream closed")]
    Closed,
    /// The session is gone.
    #[error("session closed")]
    SessionClosed,
}

/// Why a stream call other than read or write failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The stream is unknown, already closed in that direction, or the call does not
    /// fit its direction.
    #[error("stream closed or unknown")]
    Closed,
    /// The session is gone.
    #[error("session closed")]
    SessionClosed,
}

/// Why a datagram was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DatagramError {
    /// Bigger than the largest datagram a packet can carry.
    #[error("datagram of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The current maximum.
        max: usize,
    },
    /// The session is not established or is closing.
    #[error("session not established")]
    NotConnected,
}

/// Why a session could not move to another path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MigrateError {
    /// The session is not established or is closing.
    #[error("session not established")]
    NotConnected,
}

/// Why a rendezvous request could not be sent (PROTOCOL.md §12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RendezvousError {
    /// The session is not established or is closing.
    #[error("session not established")]
    NotConnected,
    /// Too many requests wait for their answers on this node.
    #[error("too many rendezvous requests outstanding")]
    TooManyRequests,
}

/// Why a custom frame was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CustomFrameError {
    /// Codes below 0x80 belong to STT.
    #[error("frame type {0:#04x} is reserved for STT (custom types are 0x80-0xFF)")]
    ReservedType(u8),
    /// Bigger than fits in one packet.
    #[error("custom frame of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The current maximum.
        max: usize,
    },
    /// The session's window of unresolved application messages is full; wait for
    /// `Event::MessagesWritable`.
    #[error("too many unacknowledged application messages")]
    Blocked,
    /// The session is not established or is closing.
    #[error("session not established")]
    NotConnected,
}

/// Why a local endpoint could not be registered or used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// The name (its SHA3-256 id) is already registered on this node.
    #[error("endpoint {0:?} is already registered")]
    AlreadyRegistered(EndpointId),
    /// The node serves `NodeConfig::max_endpoints` endpoints already.
    #[error("too many endpoints (at most {max})")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// A queue capacity of 0 or above `NodeConfig::max_endpoint_queue`.
    #[error("queue capacity {capacity} outside 1..={max}")]
    Capacity {
        /// The capacity asked for.
        capacity: usize,
        /// The largest allowed.
        max: usize,
    },
}

/// Why a message for a named endpoint (a route) could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// The session's window of unresolved application messages is full; wait for
    /// `Event::MessagesWritable`.
    #[error("too many unresolved application messages")]
    Blocked,
    /// Bigger than fits in one packet.
    #[error("routed message of {len} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Its size.
        len: usize,
        /// The current maximum.
        max: usize,
    },
    /// The session is not established or is closing.
    #[error("session not established")]
    NotConnected,
}

/// Why an endpoint resolve could not be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// `TransportConfig::max_pending_resolves` resolves are unanswered already.
    #[error("too many unanswered resolves")]
    TooMany,
    /// The session is not established or is closing.
    #[error("session not established")]
    NotConnected,
}

/// Why a fetch could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FetchStartError {
    /// `TransportConfig::max_fetches` fetches are running on this session.
    #[error("too many fetches in progress (at most {max})")]
    TooMany {
        /// The limit.
        max: usize,
    },
    /// The maximum length asked for is above `TransportConfig::max_object_size`.
    #[error("maximum length {max_len} above the limit of {limit}")]
    TooLarge {
        /// What was asked.
        max_len: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The window of unacknowledged application messages is full; wait for
    /// `Event::MessagesWritable`.
    #[error("too many unacknowledged application messages")]
    Blocked,
    /// The session is not established or is closing.
    #[error("session not established")]
    NotConnected,
}

/// Why a fetch failed (reported by `StorageEvent::FetchFailed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The peer does not hold the object.
    #[error("object not found on the peer")]
    NotFound,
    /// The object is larger than the maximum length asked for.
    #[error("object larger than the maximum length")]
    TooLarge,
    /// The peer is answering too many requests of this session.
    #[error("peer busy")]
    Busy,
    /// The peer refused with another code.
    #[error("refused by peer: {0}")]
    Refused(ErrorCode),
    /// The bytes the peer sent do not hash to the requested hash: rejected.
    #[error("received bytes do not match the requested hash")]
    HashMismatch,
    /// The peer's answer broke the rules (total length changed or above the maximum).
    #[error("malformed answer from the peer")]
    BadResponse,
}

/// Why a storage request could not be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// No request with this id is waiting for an answer (answered, cancelled, or the
    /// session is gone).
    #[error("no such storage request")]
    UnknownRequest,
}
