//! The network paths of one session: the one in use (validated or not), the last
//! validated one kept as a fallback while a new path is being proven, the challenge
//! that proves it, the anti-amplification budget of a path not yet proven, and the
//! small packets that carry PATH_CHALLENGE / PATH_RESPONSE. Which data goes on which
//! path otherwise is `send.rs`'s concern.
//!
//! Paths are opaque to the core ([`PathId`]); a change of path is a NAT rebinding, a
//! new address, or a move between UDP and WebSocket. The state machine is described in
//! docs/ARCHITECTURE.md ("Paths and migration"). No IO happens here.

use alloc::vec::Vec;
use core::time::Duration;

use crate::ids::PathId;
use crate::rng::Rng;
use crate::time::Instant;

use super::Session;
use crate::frame::Frame;

/// Factor by which a node may out-send what it received on an unvalidated path.
pub(crate) const AMPLIFICATION_FACTOR: u64 = 3;

/// Smallest packet sent to a path whose budget is short of a full packet: room for
/// the header, the tag and a PATH_CHALLENGE or PATH_RESPONSE beside an ACK.
pub(crate) const SMALL_PACKET: usize = crate::frame::HEADER_LEN + crate::frame::TAG_LEN + 64;

/// Least silence on the current path after which the relayed standby's packets pull a
/// session back to it (PROTOCOL.md §12.5).
const STANDBY_QUIET: Duration = Duration::from_millis(100);

/// Doublings of the challenge retry interval before it stops growing.
const MAX_BACKOFF_DOUBLINGS: u32 = 8;

/// Byte accounting for one path.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PathState {
    pub id: PathId,
    pub validated: bool,
    pub received: u64,
    pub sent: u64,
    /// When a packet last arrived on it, or when the session moved to it by its own
    /// choice: a relayed standby pulls the session back only once this is a PTO old.
    pub last_rx: Option<Instant>,
}

impl PathState {
    pub(crate) fn new(id: PathId, validated: bool) -> Self {
        Self {
            id,
            validated,
            received: 0,
            sent: 0,
            last_rx: None,
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

/// The PATH_CHALLENGE proving the current path while it is unvalidated. Every retry
/// repeats the same bytes, so an answer to any of them proves the path.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub challenge: [u8; 8],
    /// When the challenge was last sent; `None` = send it as soon as the budget allows.
    pub sent_at: Option<Instant>,
    /// Challenges sent so far (sets the retry backoff).
    pub tries: u32,
}

impl Probe {
    /// How long to wait for an answer after the `tries`-th challenge: two probe
    /// timeouts, doubled per retry, at most a quarter of the idle timeout (so a path
    /// whose answers keep getting lost is still asked a few times before the session
    /// would time out), never less than two probe timeouts.
    pub(crate) fn retry_interval(&self, pto: Duration, idle: Duration) -> Duration {
        let base = pto.saturating_mul(2);
        let doublings = self.tries.saturating_sub(1).min(MAX_BACKOFF_DOUBLINGS);
        base.saturating_mul(1 << doublings)
            .min((idle / 4).max(base))
    }
}

impl Session {
    /// An authenticated packet of `len` bytes arrived on `path`; `newest` = it carries
    /// the highest packet number received so far. Counts the bytes toward the current
    /// path's budget, or moves the session to `path` (PROTOCOL.md §4.4): at once, but
    /// while the new path is unproven, within 3× what arrived there and with a
    /// challenge that retries on its own timer until answered.
    pub(crate) fn on_packet_path(
        &mut self,
        now: Instant,
        path: PathId,
        len: usize,
        newest: bool,
        rng: &mut Rng,
    ) {
        if path == self.path.id {
            self.path.received += len as u64;
            self.path.last_rx = Some(now);
            return;
        }
        // The relayed standby (PROTOCOL.md §12.5) pulls the session back, without a
        // new proof, once nothing has arrived on the current path for a while (3 PTOs,
        // at least `STANDBY_QUIET`): the peer fell back to it after the direct path died.
        // Sooner, its packets are the peer's last ones on the relay before it follows
        // this side's move.
        let pto = self
            .conn
            .as_ref()
            .map_or(Duration::ZERO, |c| c.rtt.pto_base());
        let quiet = pto.saturating_mul(3).max(STANDBY_QUIET);
        let standby_back =
            self.standby == Some(path) && self.path.last_rx.is_none_or(|t| now >= t + quiet);
        // Older packets (reordered, or still in flight on the path the peer left) and
        // packets on the path this side left by its own choice never move the session.
        if !newest || (self.left_path == Some(path) && !standby_back) {
            return;
        }
        let first_pn = self.conn.as_ref().map_or(0, |c| c.record.packets_sent());
        if let Some(conn) = self.conn.as_mut() {
            conn.path_first_pn = first_pn;
        }
        if self.fallback == Some(path) || standby_back {
            // Back to the last validated path (the move was a spoofed or reordered
            // packet, or the peer came back), or to the relayed standby the session
            // started on: it needs no proof.
            self.path = PathState::new(path, true);
            self.probe = None;
            self.fallback = None;
            self.events.push_back(crate::event::Event::PathChanged {
                session: self.handle,
                path,
            });
            return;
        }
        if self.path.validated {
            self.fallback = Some(self.path.id);
        }
        let mut state = PathState::new(path, false);
        state.received = len as u64;
        self.path = state;
        let mut challenge = [0u8; 8];
        rng.fill(&mut challenge);
        self.probe = Some(alloc::boxed::Box::new(Probe {
            challenge,
            sent_at: None,
            tries: 0,
        }));
    }

    /// A new responder session whose CHALLENGE went to more than one path: the path it
    /// starts on (the RESPONSE's) is unproven, with no validated path to fall back to, so
    /// it is validated like a migration's before more than 3× what arrived goes there.
    pub(crate) fn start_unproven(&mut self, len: usize, rng: &mut Rng) {
        let mut state = PathState::new(self.path.id, false);
        state.received = len as u64;
        self.path = state;
        self.fallback = None;
        let mut challenge = [0u8; 8];
        rng.fill(&mut challenge);
        self.probe = Some(alloc::boxed::Box::new(Probe {
            challenge,
            sent_at: None,
            tries: 0,
        }));
    }

    /// A PATH_RESPONSE arrived: if it echoes the pending challenge, the current path
    /// is proven, the fallback is forgotten and the application hears of the change.
    pub(crate) fn on_path_response(&mut self, data: [u8; 8]) {
        if self.probe.as_ref().is_some_and(|p| p.challenge == data) {
            self.path.validated = true;
            self.probe = None;
            self.fallback = None;
            self.events.push_back(crate::event::Event::PathChanged {
                session: self.handle,
                path: self.path.id,
            });
        }
    }

    /// The challenge retry timer: when no answer came in time, the challenge is due
    /// again (it goes out as soon as the path's budget allows).
    pub(crate) fn probe_timeout(&mut self, now: Instant, pto: Duration, idle: Duration) {
        if let Some(p) = self.probe.as_mut()
            && let Some(sent) = p.sent_at
            && now >= sent + p.retry_interval(pto, idle)
        {
            p.sent_at = None;
        }
    }

    /// When the challenge retry timer fires, if one is running.
    pub(crate) fn probe_deadline(&self, pto: Duration, idle: Duration) -> Option<Instant> {
        let p = self.probe.as_ref()?;
        Some(p.sent_at? + p.retry_interval(pto, idle))
    }

    /// Moves the session to `path` on this side's initiative (the application opened
    /// another socket or WebSocket): packets go out there at once, with a PING so the
    /// peer sees the new path and validates it. Packets still arriving on the path left
    /// behind are processed but never start a validation that would pull the session
    /// back. The new path needs no anti-amplification budget: this side chose it.
    pub(crate) fn migrate(
        &mut self,
        now: Instant,
        path: PathId,
    ) -> Result<(), crate::error::MigrateError> {
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
        conn.path_first_pn = conn.record.packets_sent();
        self.left_path = Some(self.path.id);
        self.path = PathState::new(path, true);
        self.path.last_rx = Some(now);
        self.probe = None;
        self.fallback = None;
        self.events.push_back(crate::event::Event::PathChanged {
            session: self.handle,
            path,
        });
        Ok(())
    }
}

impl Session {
    /// Path validation's own packets (PROTOCOL.md §4.4): the challenge, when due, and the
    /// answer to the peer's challenge each go in a small packet of their own, outside the
    /// congestion window (an answer held back behind a full window would leave the
    /// peer's validation waiting for our next probe timeout), within the budget of an
    /// unvalidated path. `buf` is at most one packet. `None`: nothing of that kind to send.
    pub(super) fn transmit_validation(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(PathId, usize)> {
        let max = buf.len();
        let budget = self.path.budget();
        let small = u64::try_from(SMALL_PACKET).unwrap_or(u64::MAX);
        if self.probe.as_ref().is_some_and(|p| p.sent_at.is_none()) && budget >= small {
            let room = budget.min(max as u64) as usize;
            let mut frames = Vec::new();
            if let Some(p) = self.probe.as_ref() {
                frames.push(Frame::PathChallenge(p.challenge));
            }
            if let Some((rp, data)) = self.path_response
                && rp == self.path.id
            {
                frames.push(Frame::PathResponse(data));
                self.path_response = None;
            }
            if let Some(len) = self.transmit_frames(now, &mut buf[..room], &frames) {
                if let Some(p) = self.probe.as_mut() {
                    p.sent_at = Some(now);
                    p.tries = p.tries.saturating_add(1);
                }
                let path = self.path.id;
                self.path.sent += len as u64;
                return Some((path, len));
            }
        }
        if let Some((rp, data)) = self.path_response.take() {
            // Answered on the path the challenge arrived on: the current one within its
            // budget, or the last validated one. A challenge on any other path goes
            // unanswered (nothing bounds what may be sent there; the peer tries again).
            let room = if rp == self.path.id {
                budget
            } else if self.fallback == Some(rp) {
                u64::MAX
            } else {
                0
            };
            if room >= small {
                let room = room.min(max as u64) as usize;
                if let Some(len) =
                    self.transmit_frames(now, &mut buf[..room], &[Frame::PathResponse(data)])
                {
                    if rp == self.path.id {
                        self.path.sent += len as u64;
                    }
                    return Some((rp, len));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
