//! The periodic re-handshake (PROTOCOL.md §6.7): the session initiator sends a fresh
//! X25519 key in REKEY, the responder answers with its own in REKEY_REPLY, and both mix
//! the DH output into the key-update ratchet at the phase the reply names.
//!
//! It owns when a re-handshake starts, the two frames' handling and their retransmission
//! rule. It derives no keys (that is [`crate::crypto::RekeyMix`] inside the session's
//! [`crate::crypto::PacketProtection`]) and does no IO.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::time::Duration;

use zeroize::Zeroize;

use super::{Conn, Control, Session};
use crate::config::TransportConfig;
use crate::crypto::{DhKey, RekeyMix};
use crate::frame::{ErrorCode, Side};
use crate::rng::Rng;
use crate::time::Instant;

/// Re-handshake progress of one session, created on first use.
#[derive(Clone, Default)]
pub(crate) struct Rekey {
    /// Initiator: the number of the next REKEY.
    next_seq: u64,
    /// Initiator: the REKEY awaiting its answer and the ephemeral key it carries.
    pending: Option<(u64, Arc<dyn DhKey>)>,
    /// Responder: the last REKEY answered — (number, phase, our public key) — so a
    /// retransmitted REKEY gets the same answer without a new DH.
    answered: Option<(u64, u64, [u8; 32])>,
    /// Bytes sent and received when the last re-handshake started.
    bytes_at_start: u64,
}

/// The configured interval, if re-handshakes on time are enabled.
fn interval(t: &TransportConfig) -> Option<Duration> {
    t.rekey_interval.filter(|d| !d.is_zero())
}

/// When the session initiator first re-handshakes, if ever on time.
pub(crate) fn first_rekey(t: &TransportConfig, side: Side, now: Instant) -> Option<Instant> {
    if side != Side::Initiator {
        return None;
    }
    interval(t).map(|d| now + d)
}

/// A fresh ephemeral key from the secret RNG, through the crypto provider.
fn ephemeral(conn: &Conn, rng: &mut Rng) -> Result<Arc<dyn DhKey>, ErrorCode> {
    let mut e = rng.array32();
    let key = conn.record.provider().x25519_key(&e);
    e.zeroize();
    key.map_err(|_| ErrorCode::KEY_UPDATE_ERROR)
}

/// `X25519(ours, theirs)`; a non-contributory (low-order) peer key is a violation.
fn agree(ours: &dyn DhKey, theirs: &[u8; 32]) -> Result<[u8; 32], ErrorCode> {
    ours.agree(theirs).map_err(|_| ErrorCode::KEY_UPDATE_ERROR)
}

impl Conn {
    /// Whether a lost REKEY or REKEY_REPLY still needs sending: its exchange is open.
    pub(crate) fn rekey_still_open(&self, c: &Control) -> bool {
        let Some(r) = self.rekey.as_ref() else {
            return false;
        };
        match c {
            Control::Rekey { seq, .. } => r.pending.as_ref().is_some_and(|p| p.0 == *seq),
            Control::RekeyReply { seq, .. } => {
                r.answered.is_some_and(|a| a.0 == *seq) && self.record.is_rekeying()
            }
            _ => false,
        }
    }
}

impl Session {
    /// Initiator: if a re-handshake is due, sends REKEY (PROTOCOL.md §6.7). One at a
    /// time: while the previous is under way (or the handshake is unconfirmed), tries
    /// again one PTO later, or one interval if that is shorter.
    pub(crate) fn rekey_timeout(&mut self, now: Instant, config: &TransportConfig, rng: &mut Rng) {
        let side = self.side;
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if side != Side::Initiator || conn.rekey_at.is_none_or(|at| now < at) {
            return;
        }
        if conn.record.is_rekeying() || !conn.record.is_confirmed() {
            let retry = conn.rtt.pto_base();
            conn.rekey_at = Some(now + interval(config).map_or(retry, |d| d.min(retry)));
            return;
        }
        let key = match ephemeral(conn, rng) {
            Ok(k) => k,
            Err(_) => {
                conn.rekey_at = interval(config).map(|d| now + d);
                return;
            }
        };
        let bytes = self.stats.bytes_sent + self.stats.bytes_received;
        let r = conn.rekey.get_or_insert_with(Box::default);
        let seq = r.next_seq;
        r.next_seq += 1;
        r.bytes_at_start = bytes;
        conn.control.push_back(Control::Rekey {
            seq,
            public: key.public_key(),
        });
        r.pending = Some((seq, key));
        conn.record.begin_rekey();
        conn.rekey_at = interval(config).map(|d| now + d);
    }

    /// Initiator: after a packet, makes a re-handshake due at once if the byte limit
    /// since the last one is reached.
    pub(crate) fn rekey_on_volume(&mut self, now: Instant, config: &TransportConfig) {
        let Some(limit) = config.rekey_bytes.filter(|&b| b > 0) else {
            return;
        };
        let bytes = self.stats.bytes_sent + self.stats.bytes_received;
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let start = conn.rekey.as_ref().map_or(0, |r| r.bytes_at_start);
        if self.side == Side::Initiator
            && bytes.saturating_sub(start) >= limit
            && conn.rekey_at.is_none_or(|at| at > now)
            && !conn.record.is_rekeying()
        {
            conn.rekey_at = Some(now);
        }
    }

    /// A REKEY arrived (this side is the session responder): answer it, agreeing the DH
    /// and installing it for the first phase neither direction has entered.
    pub(crate) fn on_rekey(
        &mut self,
        seq: u64,
        public: &[u8; 32],
        rng: &mut Rng,
    ) -> Result<(), ErrorCode> {
        if self.side != Side::Responder {
            return Err(ErrorCode::PROTOCOL_VIOLATION);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let answered = conn.rekey.as_ref().and_then(|r| r.answered);
        if let Some((last, generation, ours)) = answered
            && seq <= last
        {
            // A retransmission: the same answer again while it may still be needed.
            if seq == last && conn.record.is_rekeying() {
                conn.control.push_back(Control::RekeyReply {
                    seq,
                    generation,
                    public: ours,
                });
            }
            return Ok(());
        }
        if conn.record.is_rekeying() {
            // The initiator starts a re-handshake only after the last one is in use
            // both ways, which this side would have seen first.
            return Err(ErrorCode::KEY_UPDATE_ERROR);
        }
        let key = ephemeral(conn, rng)?;
        let ours = key.public_key();
        let mut dh = agree(&*key, public)?;
        drop(key);
        let generation = conn.record.rekey_generation();
        let mix = RekeyMix::new(generation, &dh, public, &ours, false);
        dh.zeroize();
        conn.record
            .install_rekey(mix)
            .map_err(|_| ErrorCode::KEY_UPDATE_ERROR)?;
        conn.rekey.get_or_insert_with(Box::default).answered = Some((seq, generation, ours));
        conn.control.push_back(Control::RekeyReply {
            seq,
            generation,
            public: ours,
        });
        self.stats.rekeys += 1;
        Ok(())
    }

    /// A REKEY_REPLY arrived (this side is the session initiator): agree the DH and
    /// install it; the next key update (into `generation`) uses it.
    pub(crate) fn on_rekey_reply(
        &mut self,
        seq: u64,
        generation: u64,
        public: &[u8; 32],
    ) -> Result<(), ErrorCode> {
        if self.side != Side::Initiator {
            return Err(ErrorCode::PROTOCOL_VIOLATION);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let Some(r) = conn.rekey.as_mut() else {
            return Ok(());
        };
        // Duplicates and answers to an older REKEY are ignored.
        let key = match r.pending.as_ref() {
            Some((s, key)) if *s == seq => key.clone(),
            _ => return Ok(()),
        };
        r.pending = None;
        let mut dh = agree(&*key, public)?;
        let mix = RekeyMix::new(generation, &dh, &key.public_key(), public, true);
        dh.zeroize();
        conn.record
            .install_rekey(mix)
            .map_err(|_| ErrorCode::KEY_UPDATE_ERROR)?;
        self.stats.rekeys += 1;
        Ok(())
    }
}
