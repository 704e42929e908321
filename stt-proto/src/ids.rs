//! Small identifiers shared by every concern: the handles an application holds
//! ([`SessionHandle`], [`RouteId`]) and the adapter's name for a network path
//! ([`PathId`]).
//!
//! A leaf module: it imports nothing of the protocol, so any concern can name these
//! types without importing another concern.

/// An adapter-chosen handle for a network path (a UDP peer address, a WebSocket
/// connection). The core only compares paths; the adapter maps them to sockets.
///
/// Ids with the top bit set ([`PathId::RELAYED_BIT`]) are the core's own: relayed paths
/// (PROTOCOL.md §12.3), which never reach the adapter. Adapters number their paths
/// below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathId(pub u64);

impl PathId {
    /// The bit that marks a relayed path.
    pub const RELAYED_BIT: u64 = 1 << 63;

    /// The `n`-th relayed path of a node.
    pub(crate) fn relayed(n: u64) -> Self {
        Self(Self::RELAYED_BIT | n)
    }

    /// Whether this is a relayed path: packets to it travel inside relay datagrams.
    pub fn is_relayed(self) -> bool {
        self.0 & Self::RELAYED_BIT != 0
    }
}

/// Names a session; stale handles (to a closed session) are detected, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

impl SessionHandle {
    /// A number naming this session in logs and traces (slot and generation).
    pub fn id(&self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// A handle for unit tests of session-level parts.
    #[cfg(test)]
    pub(crate) fn test(index: u32) -> Self {
        Self {
            index,
            generation: 0,
        }
    }
}

/// Names one routed message on its sending session, from `SessionRef::route` until
/// its outcome (`EndpointEvent::Delivered` or `Refused`), across any re-sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RouteId(pub u64);
