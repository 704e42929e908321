//! One session's timers: what fires at `handle_timeout` (loss and probe timeouts, idle
//! and unresponsive-peer deadlines, key updates and re-handshakes, closing and draining)
//! and the earliest deadline the node should wake it at. The node keeps the heap.

use super::{Conn, Phase, Session, paths};
use alloc::vec::Vec;
use core::time::Duration;

use crate::config::NodeConfig;
use crate::error::SessionError;
use crate::frame::ErrorCode;
use crate::metrics::Metric;
use crate::rng::Rng;
use crate::time::Instant;

impl Session {
    /// Fires whatever timers are due.
    pub(crate) fn handle_timeout(&mut self, now: Instant, config: &NodeConfig, rng: &mut Rng) {
        match self.phase {
            Phase::Closed => return,
            Phase::Closing { until } | Phase::Draining { until } => {
                // A local close lingers only after its DISCONNECT has left: with a
                // small RTT the linger can pass before the next transmit, and ending
                // then would leave the peer to find out at its idle timeout.
                if now >= until && !self.close_unsent() {
                    let reason = self.error.clone().unwrap_or(SessionError::LocallyClosed {
                        code: ErrorCode::NO_ERROR,
                    });
                    self.terminate(reason);
                }
                return;
            }
            Phase::Handshaking => {
                if let Some(hs) = self.handshake.as_ref()
                    && now >= hs.deadline
                {
                    self.terminate(SessionError::HandshakeTimeout);
                }
                return;
            }
            Phase::Established => {}
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if now >= conn.last_activity + conn.effective_idle_timeout(config) {
            self.error = Some(SessionError::TimedOut);
            self.terminate(SessionError::TimedOut);
            return;
        }
        if let Some(at) = conn.unresponsive_deadline(config)
            && now >= at
        {
            let silent_ms =
                u64::try_from((now - conn.last_activity).as_millis()).unwrap_or(u64::MAX);
            let reason = SessionError::PeerUnresponsive { silent_ms };
            self.error = Some(reason.clone());
            self.terminate(reason);
            return;
        }
        if let Some((_, rto)) = conn.response_resend
            && now >= conn.last_activity + config.handshake_timeout.max(rto)
            && !conn.confirmed
        {
            self.terminate(SessionError::HandshakeTimeout);
            return;
        }
        if conn.sent.loss_time().is_some_and(|t| now >= t) {
            self.detect_lost(now, config);
        } else if let Some(conn) = self.conn.as_mut()
            && conn
                .sent
                .pto_deadline(&conn.rtt, config.transport.max_ack_delay)
                .is_some_and(|t| now >= t)
        {
            conn.sent.on_pto();
            self.stats.pto_count += 1;
            let count = conn.sent.pto_count();
            conn.record(now, Metric::ProbeTimeout { count });
            conn.probes_pending = 2;
            // Re-send the oldest packet's stream data so the probe carries something
            // useful; the receiver drops duplicates.
            if let Some((_, p)) = conn.sent.oldest_in_flight() {
                let info = p.info.clone();
                info.requeue_for_probe(conn);
            }
            self.on_pto_fall_back(now, count, &config.rendezvous);
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        conn.record.handle_timeout(now);
        conn.streams.expire(now);
        if conn.sent.is_empty() {
            // Nothing in flight: an idle session hands back its per-packet buffers.
            conn.scratch = Vec::new();
            conn.sent.release_if_idle();
        }
        if let Some(interval) = config.transport.keepalive_interval
            && now >= conn.last_eliciting_sent + interval
        {
            conn.keepalive_pending = true;
        }
        if let Some(at) = conn.next_key_update
            && now >= at
        {
            if conn.record.initiate_key_update().is_ok() {
                self.stats.key_updates += 1;
            }
            conn.next_key_update = config.transport.key_update_interval.map(|d| now + d);
        }
        self.rekey_timeout(now, &config.transport, rng);
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let (pto, idle) = (conn.rtt.pto_base(), conn.effective_idle_timeout(config));
        self.probe_timeout(now, pto, idle);
        self.punch_timeout(now);
    }

    /// The earliest instant this session needs `handle_timeout`.
    pub(crate) fn next_timeout(&self, config: &NodeConfig) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |v: Instant| t = Some(t.map_or(v, |x: Instant| x.min(v)));
        match self.phase {
            Phase::Closed => return None,
            Phase::Closing { until } | Phase::Draining { until } => {
                if !self.close_unsent() {
                    at(until);
                }
                return t;
            }
            Phase::Handshaking => {
                if let Some(hs) = self.handshake.as_ref() {
                    at(hs.deadline);
                    // A pending second INIT fragment is due at once.
                    at(if hs.next_part > 0 {
                        Instant::ZERO
                    } else {
                        hs.next_send
                    });
                }
                return t;
            }
            Phase::Established => {}
        }
        let conn = self.conn.as_ref()?;
        at(conn.last_activity + conn.effective_idle_timeout(config));
        if let Some(u) = conn.unresponsive_deadline(config) {
            at(u);
        }
        if let Some((next, _)) = conn.response_resend {
            at(next);
        }
        match conn.sent.loss_time() {
            Some(lt) => at(lt),
            None => {
                if let Some(p) = conn
                    .sent
                    .pto_deadline(&conn.rtt, config.transport.max_ack_delay)
                {
                    at(p)
                }
            }
        }
        // Timers that only lead to sending wait while the path's anti-amplification
        // budget is spent: only a packet from the peer can reopen it, and a deadline
        // in the past that nothing can serve would spin the caller's timer.
        let can_send = self.path.budget() >= paths::SMALL_PACKET as u64;
        if let Some(a) = conn.acks.timeout().filter(|_| can_send) {
            at(a);
        }
        if let Some(interval) = config.transport.keepalive_interval
            && !conn.keepalive_pending
        {
            at(conn.last_eliciting_sent + interval);
        }
        if let Some(k) = conn.next_key_update {
            at(k);
        }
        if let Some(k) = conn.rekey_at {
            at(k);
        }
        if let Some(k) = conn.record.poll_timeout() {
            at(k);
        }
        let idle = conn.effective_idle_timeout(config);
        if let Some(p) = self.probe_deadline(conn.rtt.pto_base(), idle) {
            at(p);
        }
        if let Some(p) = self.punch_deadline() {
            at(p);
        }
        if let Some(p) = conn.pacer_release().filter(|_| can_send) {
            at(p);
        }
        if let Some(d) = conn.streams.next_deadline() {
            at(d);
        }
        t
    }
}

impl Conn {
    /// The idle timeout, raised to at least three probe timeouts (RFC 9000 §10.1; the
    /// PTO without backoff, so a dead peer is still given up on in bounded time).
    pub(super) fn effective_idle_timeout(&self, config: &NodeConfig) -> Duration {
        let pto = self.rtt.pto_base() + config.transport.max_ack_delay;
        self.idle_timeout.max(pto.saturating_mul(3))
    }

    /// When the peer is declared unresponsive if nothing arrives: only while it owes an
    /// acknowledgement, `max(UNRESPONSIVE_PTOS · PTO, unresponsive_floor)` after the idle
    /// timer's start (see [`crate::config::UNRESPONSIVE_PTOS`]).
    pub(super) fn unresponsive_deadline(&self, config: &NodeConfig) -> Option<Instant> {
        if !self.sent.has_ack_eliciting_in_flight() {
            return None;
        }
        let pto = self.rtt.pto_base() + config.transport.max_ack_delay;
        let wait = pto
            .saturating_mul(crate::config::UNRESPONSIVE_PTOS)
            .max(config.transport.unresponsive_floor);
        Some(self.last_activity + wait)
    }

    /// When pacing next lets a packet out, if it is holding one back.
    pub(super) fn pacer_release(&self) -> Option<Instant> {
        self.pacer_next
    }
}
