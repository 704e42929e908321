//! Hole punching and the relay standby of one session (PROTOCOL.md §12.4, §12.5): the
//! direct path a relayed session probes, the probes' schedule, the move to the direct
//! path once a probe is answered and the move back to the relayed standby when the
//! direct path stops answering. Which path a packet arrives on is `paths.rs`'s; this
//! file only adds the candidate and the standby. No IO happens here.

use alloc::boxed::Box;

use super::Session;
use super::paths::SMALL_PACKET;
use super::send::PacketInfo;
use crate::config::RendezvousConfig;
use crate::frame::{Frame, Frames, HEADER_LEN, StreamId, TAG_LEN, Writer};
use crate::ids::PathId;
use crate::rng::Rng;
use crate::time::Instant;

/// The direct path a relayed session tries to reach its peer on.
#[derive(Debug, Clone)]
pub(crate) struct Punch {
    /// The peer's observed address, as the adapter's path.
    pub path: PathId,
    /// What every probe carries; its echo proves the path.
    pub challenge: [u8; 8],
    /// When the next probe is due.
    pub next: Instant,
    /// A probe is due now (waiting for `poll_transmit`).
    pub due: bool,
    /// Probes sent in the current round.
    pub sent: u32,
}

impl Session {
    /// The direct path to punch toward, from `start` on. Only a session that started
    /// on a relayed path punches; a repeated call for the same path moves the start
    /// no later.
    pub(crate) fn set_punch(&mut self, path: PathId, start: Instant, rng: &mut Rng) {
        if self.standby.is_none() || path.is_relayed() {
            return;
        }
        if let Some(p) = self.punch.as_mut()
            && p.path == path
        {
            p.next = p.next.min(start);
            return;
        }
        let mut challenge = [0u8; 8];
        rng.fill(&mut challenge);
        self.punch = Some(Box::new(Punch {
            path,
            challenge,
            next: start,
            due: false,
            sent: 0,
        }));
    }

    /// The candidate path, while this session is not on it.
    fn punching(&self) -> Option<&Punch> {
        let p = self.punch.as_deref()?;
        (self.is_established() && self.path.id != p.path).then_some(p)
    }

    /// When the next probe is due, if one is scheduled.
    pub(crate) fn punch_deadline(&self) -> Option<Instant> {
        let p = self.punching()?;
        (!p.due).then_some(p.next)
    }

    /// The probe timer: a probe is due once its time has come.
    pub(crate) fn punch_timeout(&mut self, now: Instant) {
        if self.punching().is_some_and(|p| now >= p.next)
            && let Some(p) = self.punch.as_mut()
        {
            p.due = true;
        }
    }

    /// A due probe: a packet holding only the PATH_CHALLENGE, to the candidate. It is
    /// not recorded as in flight (its loss is not congestion, and it is never resent:
    /// the schedule sends the next one).
    pub(crate) fn transmit_punch(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        rc: &RendezvousConfig,
    ) -> Option<(PathId, usize)> {
        let p = self.punching()?;
        if !p.due {
            return None;
        }
        let (path, challenge) = (p.path, p.challenge);
        let room = SMALL_PACKET.min(buf.len());
        let len = self.transmit_probing(now, &mut buf[..room], Frame::PathChallenge(challenge))?;
        if let Some(p) = self.punch.as_mut() {
            p.due = false;
            p.sent += 1;
            if p.sent >= rc.punch_attempts {
                p.sent = 0;
                p.next = now + rc.reprobe_interval;
            } else {
                p.next = now + rc.punch_interval;
            }
        }
        Some((path, len))
    }

    /// The answer to a challenge that came on a path other than the current and the
    /// fallback one while this session punches: one probing packet there, no larger
    /// than the challenge's (PROTOCOL.md §12.4). The path may be the candidate, or the
    /// port a NAT gave the peer for this destination.
    pub(crate) fn transmit_punch_answer(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(PathId, usize)> {
        let (rp, data) = self.path_response?;
        if self.punch.is_none() || rp == self.path.id || self.fallback == Some(rp) {
            return None;
        }
        self.path_response = None;
        let room = SMALL_PACKET.min(buf.len());
        let len = self.transmit_probing(now, &mut buf[..room], Frame::PathResponse(data))?;
        Some((rp, len))
    }

    /// A PATH_RESPONSE: if it echoes the candidate's challenge, the direct path works
    /// and the session moves there by its own choice (PROTOCOL.md §12.4). True if it did.
    pub(crate) fn on_punch_response(&mut self, now: Instant, data: [u8; 8]) -> bool {
        let Some(p) = self.punching() else {
            return false;
        };
        if p.challenge != data {
            return false;
        }
        let path = p.path;
        if let Some(p) = self.punch.as_mut() {
            p.sent = 0;
            p.due = false;
        }
        self.migrate(now, path).is_ok()
    }

    /// Probe timeouts in a row on a path other than the standby: at `fallback_ptos`,
    /// back to the relayed standby (PROTOCOL.md §12.5), and the next round of probes
    /// after `reprobe_interval`.
    pub(crate) fn on_pto_fall_back(&mut self, now: Instant, ptos: u32, rc: &RendezvousConfig) {
        let Some(standby) = self.standby else {
            return;
        };
        if self.path.id == standby || ptos < rc.fallback_ptos {
            return;
        }
        if self.migrate(now, standby).is_ok()
            && let Some(p) = self.punch.as_mut()
        {
            p.sent = 0;
            p.due = false;
            p.next = now + rc.reprobe_interval;
        }
    }

    /// The standby path, if this session started relayed.
    pub(crate) fn standby(&self) -> Option<PathId> {
        self.standby
    }

    /// Seals a probing packet (one PATH_CHALLENGE or PATH_RESPONSE, no ACK, so the peer
    /// does not take it for a move) without recording it as in flight.
    fn transmit_probing(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        frame: Frame<'_>,
    ) -> Option<usize> {
        let end = buf.len().checked_sub(TAG_LEN)?;
        let written = {
            let mut w = Writer::new(buf.get_mut(HEADER_LEN..end)?);
            frame.write(&mut w).ok()?;
            w.position()
        };
        self.seal(
            now,
            buf,
            StreamId::CONTROL,
            written,
            false,
            PacketInfo::default(),
        )
    }
}

/// Whether a decrypted payload is a probing packet: PATH_CHALLENGE, PATH_RESPONSE and
/// PADDING only (PROTOCOL.md §12.4). Such a packet never moves a session.
pub(super) fn is_probing(payload: &[u8]) -> bool {
    let mut any = false;
    for f in Frames::new(payload) {
        match f {
            Ok(Frame::PathChallenge(_) | Frame::PathResponse(_)) => any = true,
            Ok(Frame::Padding { .. }) => {}
            _ => return false,
        }
    }
    any
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_path_validation_and_padding_is_probing() {
        assert!(is_probing(&[0x40, 1, 2, 3, 4, 5, 6, 7, 8]));
        assert!(is_probing(&[0x41, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0]));
        assert!(!is_probing(&[0, 0, 0]), "padding alone proves nothing");
        assert!(!is_probing(&[0x40, 1, 2, 3, 4, 5, 6, 7, 8, 0x14]));
        assert!(!is_probing(&[0x14]));
        assert!(!is_probing(&[0x40, 1]), "malformed");
    }
}
