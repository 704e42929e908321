//! What the core tells the application: [`Event`]s drained with `Node::poll_event`.
//!
//! Every observable happening is an event: sessions up and down, stream changes, named
//! endpoints, custom frames, storage requests and fetches, key updates and path changes.
//! Stream events are edge notifications ("stream 4 became readable", not the data); the
//! application reacts by calling back into the node. Small self-contained payloads (a
//! custom frame, a fetched object) travel in the event. This module holds no state.

use bytes::Bytes;

use crate::error::{FetchError, SessionError};
use crate::frame::{Dir, EndpointId, ErrorCode, RdvStatus, StreamId};
use crate::handshake::admission::RemoteAddr;
use crate::identity::NodeId;
use crate::ids::{PathId, RouteId, SessionHandle};
use crate::metrics::Metric;
use crate::storage::{ContentHash, FetchId, ServeId};
use crate::time::Instant;

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
    /// An application-defined frame (0x80–0xFF) arrived (exactly once per frame sent).
    CustomFrame {
        /// The session.
        session: SessionHandle,
        /// Its type, 0x80–0xFF.
        frame_type: u8,
        /// Its payload.
        payload: Bytes,
    },
    /// The session's path changed and is validated: the peer's new path once its
    /// PATH_RESPONSE arrived (the session already sent there, within 3× what arrived,
    /// while it was being validated), a return to the last validated path, or this
    /// side's own `migrate`.
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
    /// Something about named endpoints, on this session or for a local endpoint.
    Endpoint {
        /// The session it came from.
        session: SessionHandle,
        /// What happened.
        event: EndpointEvent,
    },
    /// A storage request from the peer, or the outcome of a fetch.
    Storage {
        /// The session.
        session: SessionHandle,
        /// What happened.
        event: StorageEvent,
    },
    /// The session's window of unresolved application messages (routes, custom
    /// frames) has room again after a call reported it full.
    MessagesWritable {
        /// The session.
        session: SessionHandle,
    },
    /// Rendezvous and relay (PROTOCOL.md §12), on a session with a rendezvous.
    Rendezvous(RendezvousEvent),
}

impl Event {
    /// The session the event belongs to.
    pub fn session(&self) -> SessionHandle {
        match self {
            Event::Connected { session, .. }
            | Event::Closed { session, .. }
            | Event::Stream { session, .. }
            | Event::DatagramReceived { session }
            | Event::CustomFrame { session, .. }
            | Event::PathChanged { session, .. }
            | Event::KeyUpdated { session }
            | Event::Endpoint { session, .. }
            | Event::Storage { session, .. }
            | Event::MessagesWritable { session } => *session,
            Event::Rendezvous(e) => match e {
                RendezvousEvent::Registered { session, .. }
                | RendezvousEvent::Found { session, .. }
                | RendezvousEvent::Failed { session, .. }
                | RendezvousEvent::Peer { session, .. } => *session,
            },
        }
    }
}

/// One [`Metric`] of one session at one instant, from `Node::poll_metric` (only while
/// `TransportConfig::metrics` is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricRecord {
    /// The session it belongs to.
    pub session: SessionHandle,
    /// When it happened.
    pub time: Instant,
    /// What happened.
    pub metric: Metric,
}

/// Named-endpoint happenings (PROTOCOL.md §4.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointEvent {
    /// The peer announced that it serves this endpoint.
    PeerRegistered(EndpointId),
    /// The peer stopped serving this endpoint.
    PeerWithdrawn(EndpointId),
    /// The answer to `SessionRef::resolve`.
    Resolved {
        /// The request, as returned by `resolve`.
        request: u64,
        /// The endpoint asked about.
        endpoint: EndpointId,
        /// True if the peer serves it.
        found: bool,
    },
    /// A message from this session was queued for a local endpoint; take it with
    /// `Node::endpoint_recv`. One event per message.
    Message {
        /// The local endpoint.
        endpoint: EndpointId,
    },
    /// The peer queued a routed message for its endpoint.
    Delivered {
        /// The route, as returned by `SessionRef::route`.
        route: RouteId,
    },
    /// The peer refused a routed message: `ENDPOINT_NOT_FOUND`, or `BUFFER_OVERFLOW`
    /// for a route sent with `RouteMode::Refuse` (a `RouteMode::Wait` route is re-sent
    /// when the queue has room instead).
    Refused {
        /// The route.
        route: RouteId,
        /// The peer's code.
        code: ErrorCode,
    },
}

/// Storage happenings (PROTOCOL.md §4.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageEvent {
    /// The peer asks for an object; answer with `SessionRef::serve_object`.
    Requested {
        /// The request to answer.
        request: ServeId,
        /// The object wanted.
        hash: ContentHash,
        /// The largest object the peer accepts.
        max_len: u64,
    },
    /// A request was answered with the object (a storage hit).
    Hit {
        /// The request.
        request: ServeId,
        /// The object.
        hash: ContentHash,
    },
    /// A request was answered "not found" (a storage miss).
    Miss {
        /// The request.
        request: ServeId,
        /// The object.
        hash: ContentHash,
    },
    /// A fetch completed: every byte arrived and hashes to `hash`.
    Fetched {
        /// The fetch, as returned by `SessionRef::fetch`.
        fetch: FetchId,
        /// The object's hash.
        hash: ContentHash,
        /// The object.
        data: Bytes,
    },
    /// A fetch failed; nothing was delivered.
    FetchFailed {
        /// The fetch.
        fetch: FetchId,
        /// The object's hash.
        hash: ContentHash,
        /// Why.
        error: FetchError,
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
    /// Our sending side missed the deadline set with `SessionRef::set_deadline` and
    /// was reset with `STREAM_EXPIRED` (live mode, freshest first).
    Expired(StreamId),
}

/// What a rendezvous told this member (PROTOCOL.md §12.2), and when punching may start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RendezvousEvent {
    /// RDV_REGISTER was answered: this node is registered.
    Registered {
        /// The session with the rendezvous.
        session: SessionHandle,
        /// The request's id.
        request: u64,
        /// The address the rendezvous observes this node at.
        observed: RemoteAddr,
    },
    /// RDV_LOOKUP was answered with an address.
    Found {
        /// The session with the rendezvous.
        session: SessionHandle,
        /// The request's id.
        request: u64,
        /// The node's observed address.
        addr: RemoteAddr,
    },
    /// A request failed.
    Failed {
        /// The session with the rendezvous.
        session: SessionHandle,
        /// The request's id.
        request: u64,
        /// Why.
        status: RdvStatus,
    },
    /// The rendezvous introduced a peer (RDV_PEER): the initiator connects to it on
    /// `path` (`Node::connect_to`), both sides hand the core a path for `addr`
    /// (`Node::punch`) so it can try the direct path.
    Peer {
        /// The session with the rendezvous.
        session: SessionHandle,
        /// The request's id (0 on the side that did not ask).
        request: u64,
        /// The peer.
        peer: NodeId,
        /// True: this side opens the end-to-end session.
        initiator: bool,
        /// The relayed path to the peer.
        path: PathId,
        /// The peer's observed address, to punch toward.
        addr: RemoteAddr,
        /// When punching starts.
        start: Instant,
    },
}
