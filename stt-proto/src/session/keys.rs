//! How long a session's keys live: the retention of old receive keys after a key update
//! (about 3 PTO from the session's own RTT estimate, PROTOCOL.md §6.5).
//!
//! Policy only: the keys themselves and the key-phase mechanics live in
//! [`crate::crypto::PacketProtection`]; this module decides the durations it is given.

use core::time::Duration;

use crate::recovery::RttEstimator;

/// Shortest retention of old receive keys, whatever the RTT: below this a timer's
/// granularity would discard keys while packets sent under them are still arriving.
pub(crate) const MIN_OLD_KEY_RETENTION: Duration = Duration::from_millis(25);

/// Longest retention of old receive keys: an RTT estimate inflated by a slow or hostile
/// peer must not keep superseded keys (and the traffic they open) alive for long.
pub(crate) const MAX_OLD_KEY_RETENTION: Duration = Duration::from_secs(10);

/// Old receive keys are kept three probe timeouts after a key update (RFC 9001 §6.5):
/// `3 × (pto_base + max_ack_delay)`, within [`MIN_OLD_KEY_RETENTION`] and
/// [`MAX_OLD_KEY_RETENTION`]. Enough for any packet the peer sent under them to arrive
/// or be declared lost and resent under the new keys.
pub(crate) fn old_key_retention(rtt: &RttEstimator, max_ack_delay: Duration) -> Duration {
    rtt.pto_base()
        .saturating_add(max_ack_delay)
        .saturating_mul(3)
        .clamp(MIN_OLD_KEY_RETENTION, MAX_OLD_KEY_RETENTION)
}

impl super::Conn {
    /// Recomputes the old-key retention from the current RTT estimate (after a sample).
    pub(crate) fn refresh_key_retention(&mut self, max_ack_delay: Duration) {
        self.record
            .set_old_key_retention(old_key_retention(&self.rtt, max_ack_delay));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn retention_is_three_ptos_within_floor_and_cap() {
        let mut rtt = RttEstimator::new(ms(333));
        rtt.update(Duration::ZERO, ms(40));
        // srtt 40, rttvar 20: pto_base = 40 + 80 = 120; + 25 = 145; × 3.
        assert_eq!(old_key_retention(&rtt, ms(25)), ms(435));
        let mut fast = RttEstimator::new(ms(333));
        fast.update(Duration::ZERO, Duration::from_micros(100));
        assert_eq!(old_key_retention(&fast, ms(0)), MIN_OLD_KEY_RETENTION);
        let mut slow = RttEstimator::new(ms(333));
        slow.update(Duration::ZERO, ms(5_000));
        assert_eq!(old_key_retention(&slow, ms(25)), MAX_OLD_KEY_RETENTION);
    }
}
