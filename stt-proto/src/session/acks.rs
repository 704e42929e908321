//! Acknowledgements received and losses declared for one session: updating RTT,
//! congestion and the sent-packet record, and queueing lost data for retransmission.
//! The loss rules themselves are `crate::recovery`'s; this file applies them to the
//! session's streams and control frames.

use super::{Phase, Session};
use core::time::Duration;

use crate::config::NodeConfig;
use crate::frame::{ErrorCode, Side};
use crate::ids::PathId;
use crate::metrics::{DataKind, Metric};
use crate::time::Instant;

impl Session {
    pub(super) fn on_ack(
        &mut self,
        now: Instant,
        ranges: impl Iterator<Item = (u64, u64)> + Clone,
        largest: u64,
        ack_delay: Duration,
        config: &NodeConfig,
    ) -> Result<(), ErrorCode> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let mut acked = core::mem::take(&mut conn.scratch);
        acked.clear();
        conn.sent
            .on_ack(ranges, &mut acked)
            .map_err(|_| ErrorCode::PROTOCOL_VIOLATION)?;
        if let Some((pn, p)) = acked.iter().rev().find(|(_, p)| p.ack_eliciting)
            && *pn == largest
        {
            let sample = now.saturating_duration_since(p.time_sent);
            let max_delay = Duration::from_millis(conn.peer_params.max_ack_delay_ms);
            conn.rtt.update(ack_delay.min(max_delay), sample);
            conn.refresh_key_retention(config.transport.max_ack_delay);
        }
        for (pn, p) in acked.drain(..) {
            conn.record.on_packet_acked(pn);
            if p.ack_eliciting {
                conn.cc.on_ack(
                    now,
                    p.time_sent,
                    u64::from(p.size),
                    conn.app_limited,
                    &conn.rtt,
                );
            }
            if self.side == Side::Responder {
                conn.confirm_acked = true;
            }
            if conn.metrics.is_some()
                && let Some((stream, chunk)) = p.info.stream_chunk()
            {
                conn.record(
                    now,
                    Metric::StreamData {
                        stream,
                        offset: chunk.offset,
                        len: chunk.len as u64,
                        kind: DataKind::Acked,
                    },
                );
            }
            p.info.on_acked(conn);
        }
        conn.cc.on_end_acks(
            now,
            conn.sent.bytes_in_flight(),
            conn.app_limited,
            Some(largest),
        );
        conn.scratch = acked;
        self.detect_lost(now, config);
        if let Some(conn) = self.conn.as_mut() {
            conn.record_recovery(now, config.transport.pacing);
        }
        Ok(())
    }

    pub(super) fn detect_lost(&mut self, now: Instant, config: &NodeConfig) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut lost = core::mem::take(&mut conn.scratch);
        lost.clear();
        conn.sent.detect_lost(now, &conn.rtt, &mut lost);
        if !lost.is_empty() {
            let mut lost_bytes = 0;
            let mut first_sent: Option<Instant> = None;
            let mut last_sent = Instant::ZERO;
            // Packets sent before the last path change went to a path the session
            // has left (a NAT mapping that is gone): their loss says nothing about
            // congestion on the path in use, so they are resent but not counted.
            for (pn, p) in lost.iter() {
                if p.ack_eliciting && *pn >= conn.path_first_pn {
                    self.stats.congestion_losses += 1;
                    lost_bytes += u64::from(p.size);
                    first_sent = Some(first_sent.map_or(p.time_sent, |t| t.min(p.time_sent)));
                    last_sent = last_sent.max(p.time_sent);
                }
            }
            // Persistent congestion: the lost span is longer than 3 PTOs.
            let pto = conn.rtt.pto_base() + config.transport.max_ack_delay;
            let persistent = first_sent
                .is_some_and(|f| crate::recovery::is_persistent_congestion(f, last_sent, pto));
            if lost_bytes > 0 {
                let before = conn.cc.window();
                conn.cc
                    .on_congestion_event(now, last_sent, persistent, lost_bytes);
                conn.recovery_send |= conn.cc.window() < before;
                if conn.cc.window() < before {
                    let window = conn.cc.window();
                    conn.record(now, Metric::CongestionEvent { window, persistent });
                }
            }
            self.stats.packets_lost += lost.len() as u64;
            for (pn, p) in lost.drain(..) {
                if conn.metrics.is_some() {
                    conn.record(
                        now,
                        Metric::PacketLost {
                            packet_number: pn,
                            bytes: u64::from(p.size),
                            congestion: p.ack_eliciting && pn >= conn.path_first_pn,
                        },
                    );
                }
                self.stats.bytes_retransmitted += p.info.stream_len() as u64;
                p.info.on_lost(conn);
            }
        }
        conn.scratch = lost;
    }

    /// The initiator sent RESPONSE again: it has not seen our CONFIRM yet.
    pub(crate) fn on_repeated_response(&mut self, path: PathId) {
        if self.side != Side::Responder || path != self.path.id {
            return;
        }
        if let Some(conn) = self.conn.as_mut()
            && self.phase == Phase::Established
            && !conn.confirm_acked
        {
            // A probe: it goes out even when the congestion window is full of the
            // packets the initiator never received.
            conn.probes_pending = conn.probes_pending.max(1);
        }
    }
}
