//! Rendezvous, hole punching and relay (PROTOCOL.md §12): the node-wide tables, one
//! concern per file: the rendezvous's registry of members (`registry.rs`), the relay's
//! forwarding table with its limits (`relay.rs`) and a member's own relay routes and
//! punch candidates (`client.rs`). Tables only: they never touch a session or build a
//! packet; `node/rendezvous.rs` drives them, and the probes themselves are
//! `session/paths.rs`'s.

mod client;
mod registry;
mod relay;

pub(crate) use client::Client;
pub(crate) use registry::Registry;
pub(crate) use relay::RelayTable;

use crate::frame::RdvStatus;
use crate::handshake::admission::RemoteAddr;
use crate::identity::NodeId;
use crate::time::Instant;

/// A rendezvous frame that arrived on a session, queued for the node (which alone sees
/// other sessions). Owned: it outlives the packet.
#[derive(Debug, Clone)]
pub(crate) enum RdvInbound {
    /// RDV_REGISTER: register the session's authenticated peer.
    Register { request_id: u64 },
    /// RDV_LOOKUP.
    Lookup { request_id: u64, node: NodeId },
    /// RDV_CONNECT.
    Connect { request_id: u64, node: NodeId },
    /// RDV_ANSWER, on a member's session with its rendezvous.
    Answer {
        request_id: u64,
        status: RdvStatus,
        addr: RemoteAddr,
    },
    /// RDV_PEER, on a member's session with its rendezvous.
    Peer {
        request_id: u64,
        initiator: bool,
        node: NodeId,
        route: u64,
        /// When punching starts: arrival + the frame's start delay.
        start: Instant,
        addr: RemoteAddr,
    },
}

/// Which request a member sent (PROTOCOL.md §12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// RDV_REGISTER.
    Register,
    /// RDV_LOOKUP.
    Lookup,
    /// RDV_CONNECT.
    Connect,
}

/// Most rendezvous frames one session may have waiting for the node; more are dropped
/// (the node drains the queue after every packet, so only a flood reaches it).
pub(crate) const MAX_RDV_INBOUND: usize = 64;
