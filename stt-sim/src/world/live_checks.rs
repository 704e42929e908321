//! Invariants checked after every step of a node, from the session's own counters and
//! what the world saw on the wire:
//! - bytes in flight never exceed the CURRENT congestion window: whenever a session's
//!   flight grew (it sent), it is at most the window it has now plus the packet that
//!   crossed it (or, after the window shrank below the flight, the flight before),
//!   plus one packet on entering recovery (RFC 9002 §7.3.2) and two datagrams per
//!   probe timeout (§6.2.4) — see [`Flight::over_window`];
//! - the idle timeout fires when due: a session whose node heard nothing from the
//!   peer's node for `max(idle, 3 PTO) + keepalive interval` (the idle timer restarts
//!   at the first ack-eliciting packet sent after a receipt, at the latest by the next
//!   keepalive) plus slack is still open only if its timer never fired.
//!
//! State and pure checks only; the world calls in and raises the violations returned.

use std::time::Duration;

use stt_proto::Instant;
use stt_proto::session::SessionStats;

/// What the in-flight check remembers of a session between two checks.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Flight {
    in_flight: u64,
    ptos: u64,
    /// Probe datagrams allowed beyond the window and not yet seen sent.
    probes: u64,
}

impl Flight {
    /// Checks `st` against the previous check; returns (in flight, bound) if the
    /// session put more in flight than its current window allows. Between two checks
    /// ACKs and losses only shrink the flight and sending only grows it, so a grown
    /// flight was sent under the current window: it may reach the window plus the
    /// packet that crossed it, or (if the flight already exceeded a window that
    /// shrank) what was in flight before; plus one packet on entering recovery and two
    /// per probe timeout.
    pub(super) fn over_window(&mut self, st: &SessionStats, mtu: u64) -> Option<(u64, u64)> {
        let grew = st.bytes_in_flight > self.in_flight;
        self.probes += 2 * st.pto_count.saturating_sub(self.ptos);
        let bound = (st.cwnd + mtu).max(self.in_flight) + (1 + self.probes) * mtu;
        self.in_flight = st.bytes_in_flight;
        self.ptos = st.pto_count;
        if grew {
            self.probes = 0;
        }
        (grew && st.bytes_in_flight > bound).then_some((st.bytes_in_flight, bound))
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(cwnd: u64, in_flight: u64, ptos: u64) -> SessionStats {
        SessionStats {
            cwnd,
            bytes_in_flight: in_flight,
            pto_count: ptos,
            ..SessionStats::default()
        }
    }

    #[test]
    fn flight_is_checked_against_the_current_window_when_it_grows() {
        let mut f = Flight::default();
        assert!(f.over_window(&stats(20_000, 20_000, 0), 1_000).is_none());
        // The window halves: what is already in flight may exceed it, and one packet
        // more may go on entering recovery...
        assert!(f.over_window(&stats(10_000, 19_000, 0), 1_000).is_none());
        assert!(f.over_window(&stats(10_000, 20_000, 0), 1_000).is_none());
        // ...but sending more beyond it is a violation.
        assert_eq!(
            f.over_window(&stats(10_000, 22_000, 0), 1_000),
            Some((22_000, 21_000))
        );
        // Within the window plus the packet that crossed it and a recovery packet.
        let mut f = Flight::default();
        assert!(f.over_window(&stats(10_000, 12_000, 0), 1_000).is_none());
        assert!(f.over_window(&stats(10_000, 0, 0), 1_000).is_none());
        assert!(f.over_window(&stats(10_000, 12_001, 0), 1_000).is_some());
        // Two probes per probe timeout may go beyond it.
        let mut f = Flight::default();
        assert!(f.over_window(&stats(10_000, 14_000, 1), 1_000).is_none());
    }

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
