//! The network paths of one session: the one in use, a candidate being validated, and
//! the anti-amplification budget of paths whose peer address is not yet proven.
//!
//! Paths are opaque to the core ([`PathId`]); a change of path is a NAT rebinding, a
//! new address, or a move between UDP and WebSocket. No IO happens here.

use crate::node::PathId;
use crate::time::Instant;

/// Factor by which a node may out-send what it received on an unvalidated path.
pub(crate) const AMPLIFICATION_FACTOR: u64 = 3;

/// Byte accounting for one path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathState {
    pub id: PathId,
    pub validated: bool,
    pub received: u64,
    pub sent: u64,
}

impl PathState {
    pub(crate) fn new(id: PathId, validated: bool) -> Self {
        Self {
            id,
            validated,
            received: 0,
            sent: 0,
        }
    }

    /// Bytes that may still be sent on this path.
    pub(crate) fn budget(&self) -> u64 {
        if self.validated {
            u64::MAX
        } else {
            (self.received * AMPLIFICATION_FACTOR).saturating_sub(self.sent)
        }
    }
}

/// A path being validated with PATH_CHALLENGE.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub path: PathState,
    pub challenge: [u8; 8],
    /// When the challenge was last sent; `None` = send it now.
    pub sent_at: Option<Instant>,
    pub tries: u8,
}

/// Challenges sent before giving up on a candidate path.
pub(crate) const MAX_PROBE_TRIES: u8 = 5;

impl super::Session {
    /// Moves the session to `path` on this side's initiative (the application opened
    /// another socket or WebSocket): packets go out there at once, with a PING so the
    /// peer sees the new path and validates it. Packets still arriving on the path left
    /// behind are processed but never start a validation that would pull the session
    /// back. The new path needs no anti-amplification budget: this side chose it.
    pub(crate) fn migrate(&mut self, path: PathId) -> Result<(), crate::error::MigrateError> {
        if !self.is_established() {
            return Err(crate::error::MigrateError::NotConnected);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(crate::error::MigrateError::NotConnected);
        };
        if path == self.path.id {
            return Ok(());
        }
        conn.keepalive_pending = true;
        self.left_path = Some(self.path.id);
        self.path = PathState::new(path, true);
        self.probe = None;
        self.events.push_back(crate::event::Event::PathChanged {
            session: self.handle,
            path,
        });
        Ok(())
    }
}
