//! Invariants checked after every step of a node, from the session's own counters and
//! what the world saw on the wire:
//! - memory bounds: sessions and half-open handshakes within the node's limits, bytes in
//!   flight within the largest congestion window granted plus the probes' allowance;
//! - flow control from the receiver's own counters: no session holds more stream data
//!   than the MAX_DATA it advertised, no stream more than its MAX_STREAM_DATA, and the
//!   peer never has more streams open than the limit advertised to it;
//! - the idle timeout fires when due: a session whose node heard nothing from the
//!   peer's node for `max(idle, 3 PTO) + keepalive interval` (the idle timer restarts
//!   at the first ack-eliciting packet sent after a receipt, at the latest by the next
//!   keepalive) plus slack is still open only if its timer never fired.
//!
//! Checks only: it reads the node and raises violations; it must not change a session.

use std::time::Duration;

use stt_proto::Instant;
use stt_proto::test_hooks::FlowAudit;

use super::World;
use crate::invariant::Violation;

/// Path validation's own packets (a challenge, an answer: each at most 100 bytes) go
/// outside the congestion window (PROTOCOL.md §4.4).
const VALIDATION_SLACK: u64 = 200;

/// Slack on the idle deadline (timer granularity, the step that notices the close).
const IDLE_SLACK: Duration = Duration::from_millis(200);

/// When a session silent since `last_heard` must have timed out: `idle` raised to three
/// probe timeouts (bounded from the smoothed RTT: `rttvar` is at most `srtt`'s order in
/// the simulator's links, so `4·srtt + max_ack_delay` bounds a PTO), plus the keepalive
/// interval, plus slack. `None` without keepalives: the timer may then restart at any
/// later application send, which the wire does not reveal.
pub(super) fn idle_due(
    last_heard: Instant,
    idle: Duration,
    keepalive: Option<Duration>,
    srtt: Duration,
    max_ack_delay: Duration,
) -> Option<Instant> {
    let pto = srtt.saturating_mul(4) + max_ack_delay;
    let wait = idle.max(pto.saturating_mul(3)) + keepalive? + IDLE_SLACK;
    Some(last_heard + wait)
}

/// Each limit of `a` that track `t`'s receiver holds more than: (track, which, held,
/// advertised).
fn flow_overruns(t: usize, a: &FlowAudit, out: &mut Vec<(usize, String, u64, u64)>) {
    if a.session_received > a.session_advertised {
        out.push((
            t,
            "session data".into(),
            a.session_received,
            a.session_advertised,
        ));
    }
    for &(id, held, advertised) in &a.streams_over {
        out.push((t, format!("stream {id:?} data"), held, advertised));
    }
    for d in 0..2 {
        if a.peer_streams_opened[d] > a.peer_streams_limit[d] {
            let what = ["peer bidirectional streams", "peer unidirectional streams"][d];
            out.push((
                t,
                what.into(),
                a.peer_streams_opened[d],
                a.peer_streams_limit[d],
            ));
        }
    }
}

impl World {
    /// Checks node `ix`'s memory bounds and its sessions' idle deadlines.
    pub(super) fn check_bounds(&mut self, ix: usize) {
        let World {
            nodes,
            tracks,
            heard_at,
            now,
            ..
        } = self;
        let now = *now;
        let n = &mut nodes[ix];
        let Some(node) = n.node.as_mut() else {
            return;
        };
        let cfg = node.config();
        let (max_sessions, max_half_open, mtu) = (
            cfg.max_sessions,
            cfg.max_half_open,
            cfg.max_packet_size as u64,
        );
        let t_cfg = &cfg.transport;
        let (idle, keepalive, ack_delay) = (
            t_cfg.idle_timeout,
            t_cfg.keepalive_interval,
            t_cfg.max_ack_delay,
        );
        let mut found = Vec::new();
        let mut idle_missed = Vec::new();
        let mut overruns = Vec::new();
        if node.session_count() > max_sessions {
            found.push((
                "session_count",
                node.session_count() as u64,
                max_sessions as u64,
            ));
        }
        if node.half_open_count() > max_half_open {
            found.push((
                "half_open_count",
                node.half_open_count() as u64,
                max_half_open as u64,
            ));
        }
        n.last_stats = node.stats();
        for &t in &n.tracks {
            if let Some(mut s) = node.session(tracks[t].handle) {
                let st = s.stats();
                if let Some(a) = s.flow_audit() {
                    flow_overruns(t, &a, &mut overruns);
                }
                // The window may shrink below what is already in flight (a loss halves
                // it), so the bound is the largest window granted so far; RFC 9002
                // §6.2.4 lets each probe timeout send two datagrams beyond it.
                let tr = &mut tracks[t];
                tr.max_cwnd = tr.max_cwnd.max(st.cwnd);
                tr.window_cut |= st.cwnd < tr.last_stats.cwnd;
                let bound = tr.max_cwnd + (2 * st.pto_count + 3) * mtu;
                if st.bytes_in_flight > bound {
                    found.push(("bytes_in_flight", st.bytes_in_flight, bound));
                }
                // A step that added to the flight may only have sent while the flight
                // was below the *current* window (the last packet may straddle it by a
                // datagram), or, above it, only what lets a packet go beyond the
                // window: two datagrams per probe timeout that fired in this step
                // (RFC 9002 §6.2.4), one on entering recovery after a loss declared
                // since the flight last grew (§7.3.2), one probe when a repeated
                // handshake RESPONSE shows the peer has not seen the CONFIRM, and path
                // validation's small packets.
                let before = tr.last_stats.bytes_in_flight;
                if st.bytes_in_flight > before {
                    let new_ptos = st.pto_count.saturating_sub(tr.last_stats.pto_count);
                    let recovery = u64::from(st.packets_lost > tr.lost_at_last_growth);
                    let extra = 2 * new_ptos + recovery + u64::from(n.got_response);
                    let bound = before.max(st.cwnd + mtu) + extra * mtu + VALIDATION_SLACK;
                    if st.bytes_in_flight > bound {
                        found.push(("bytes_in_flight over cwnd", st.bytes_in_flight, bound));
                    }
                    tr.lost_at_last_growth = st.packets_lost;
                }
                if let Some(peer) = tr.peer.filter(|_| tr.up && !tr.closing) {
                    let heard = heard_at.get(&(ix, peer)).copied();
                    let last = heard.map_or(tr.started, |h| h.max(tr.started));
                    if let Some(due) = idle_due(last, idle, keepalive, st.rtt, ack_delay)
                        && now > due
                    {
                        idle_missed.push((t, now.saturating_duration_since(last)));
                    }
                }
                tracks[t].last_stats = st;
            }
        }
        n.got_response = false;
        for (track, what, held, advertised) in overruns {
            self.violate(Violation::FlowOverrun {
                node: ix,
                track,
                what,
                held,
                advertised,
            });
        }
        for (track, silent) in idle_missed {
            self.violate(Violation::IdleNotFired {
                node: ix,
                track,
                silent,
            });
        }
        for (what, value, bound) in found {
            self.violate(Violation::Memory {
                node: ix,
                what,
                value,
                bound,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_deadline_is_idle_plus_keepalive_plus_slack_or_three_ptos() {
        let t0 = Instant::from_micros(1_000_000);
        let ms = Duration::from_millis;
        assert_eq!(
            idle_due(t0, ms(3_000), Some(ms(1_000)), ms(20), ms(25)),
            Some(t0 + ms(4_200))
        );
        assert_eq!(
            idle_due(t0, ms(1_000), Some(ms(1_000)), ms(800), ms(25)),
            Some(t0 + ms(3 * 3_225 + 1_200))
        );
        assert_eq!(idle_due(t0, ms(3_000), None, ms(20), ms(25)), None);
    }
}
