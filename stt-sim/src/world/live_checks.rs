//! Invariants checked after every step of a node, from the session's own counters and
//! what the world saw on the wire:
//! - the idle timeout fires when due: a session whose node heard nothing from the
//!   peer's node for `max(idle, 3 PTO) + keepalive interval` (the idle timer restarts
//!   at the first ack-eliciting packet sent after a receipt, at the latest by the next
//!   keepalive) plus slack is still open only if its timer never fired.
//!
//! Pure checks only; the world calls in and raises the violations.

use std::time::Duration;

use stt_proto::Instant;

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
