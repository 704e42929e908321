//! Round-trip time estimation per RFC 9002 §5: latest, minimum, smoothed RTT and variance.
//!
//! The estimator only digests samples the caller measured (ack time minus send time); it
//! never decides which packets yield samples and never reads a clock. All arithmetic
//! saturates, so hostile or absurd samples cannot panic it.

use core::time::Duration;

/// RTT estimator of RFC 9002 §5, fed one sample per newly acknowledged ack-eliciting packet.
///
/// Before the first sample every figure is derived from the configured initial RTT, as the
/// RFC prescribes (smoothed = initial, rttvar = initial / 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttEstimator {
    initial: Duration,
    latest: Duration,
    min: Duration,
    smoothed: Duration,
    var: Duration,
    has_sample: bool,
    max_ack_delay: Option<Duration>,
}

impl RttEstimator {
    /// RFC 9002 §6.2.2 `kInitialRtt`: the RTT assumed before any sample.
    pub const DEFAULT_INITIAL_RTT: Duration = Duration::from_millis(333);

    /// RFC 9002 §6.1.2 `kGranularity`: the timer granularity every timeout is floored to.
    pub const GRANULARITY: Duration = Duration::from_millis(1);

    /// An estimator that assumes `initial_rtt` until the first sample arrives.
    pub fn new(initial_rtt: Duration) -> Self {
        Self {
            initial: initial_rtt,
            latest: initial_rtt,
            min: initial_rtt,
            smoothed: initial_rtt,
            var: initial_rtt / 2,
            has_sample: false,
            max_ack_delay: None,
        }
    }

    /// Caps the peer-reported ACK delay from now on; pass the peer's `max_ack_delay` once
    /// the handshake is confirmed (RFC 9002 §5.3), or `None` to stop capping.
    ///
    /// Before confirmation the peer's figure is taken as reported, because the cap itself
    /// has not been authenticated yet.
    pub fn set_max_ack_delay(&mut self, max_ack_delay: Option<Duration>) {
        self.max_ack_delay = max_ack_delay;
    }

    /// Digests one RTT sample and the ACK delay the peer reported for it (RFC 9002 §5.3).
    ///
    /// The first sample sets every figure and ignores `ack_delay`. Later samples subtract
    /// the (capped) ACK delay only when that does not take them below `min_rtt`, because a
    /// peer that over-reports its delay must not be able to shrink our estimate.
    pub fn update(&mut self, ack_delay: Duration, rtt_sample: Duration) {
        self.latest = rtt_sample;
        if !self.has_sample {
            self.has_sample = true;
            self.min = rtt_sample;
            self.smoothed = rtt_sample;
            self.var = rtt_sample / 2;
            return;
        }
        // min_rtt ignores ACK delay: it is the floor the delay subtraction is checked against.
        self.min = self.min.min(rtt_sample);
        let ack_delay = match self.max_ack_delay {
            Some(cap) => ack_delay.min(cap),
            None => ack_delay,
        };
        let adjusted = match rtt_sample.checked_sub(ack_delay) {
            Some(adjusted) if adjusted >= self.min => adjusted,
            _ => rtt_sample,
        };
        let deviation = self.smoothed.abs_diff(adjusted);
        // 3/4 · rttvar + 1/4 · deviation and 7/8 · smoothed + 1/8 · adjusted, written so that
        // no intermediate exceeds its inputs (no overflow even for Duration::MAX).
        self.var = (self.var - self.var / 4).saturating_add(deviation / 4);
        self.smoothed = (self.smoothed - self.smoothed / 8).saturating_add(adjusted / 8);
    }

    /// Forgets the minimum RTT and restarts it from the latest sample; RFC 9002 §5.2
    /// recommends this after persistent congestion, when the path may have changed.
    pub fn reset_min_rtt(&mut self) {
        self.min = self.latest;
    }

    /// Whether at least one sample has been digested.
    pub fn has_sample(&self) -> bool {
        self.has_sample
    }

    /// The RTT assumed before the first sample.
    pub fn initial_rtt(&self) -> Duration {
        self.initial
    }

    /// The most recent sample (the initial RTT before any sample).
    pub fn latest_rtt(&self) -> Duration {
        self.latest
    }

    /// The smallest sample seen, ACK delay not subtracted (the initial RTT before any sample).
    pub fn min_rtt(&self) -> Duration {
        self.min
    }

    /// The exponentially smoothed RTT (`smoothed_rtt`).
    pub fn smoothed_rtt(&self) -> Duration {
        self.smoothed
    }

    /// The RTT variation (`rttvar`).
    pub fn rttvar(&self) -> Duration {
        self.var
    }

    /// The probe timeout before ACK delay and backoff are added (RFC 9002 §6.2.1):
    /// `smoothed_rtt + max(4 · rttvar, kGranularity)`.
    pub fn pto_base(&self) -> Duration {
        self.smoothed
            .saturating_add(self.var.saturating_mul(4).max(Self::GRANULARITY))
    }

    /// The time threshold for declaring a packet lost (RFC 9002 §6.1.2):
    /// `eighths/8 · max(smoothed_rtt, latest_rtt)`, at least `kGranularity`. RFC 9002's
    /// threshold is 9 eighths; loss detection widens it after spurious losses.
    pub fn loss_delay(&self, eighths: u32) -> Duration {
        let base = self.smoothed.max(self.latest);
        (base / 8).saturating_mul(eighths).max(Self::GRANULARITY)
    }
}

impl Default for RttEstimator {
    /// An estimator starting from RFC 9002's 333 ms initial RTT.
    fn default() -> Self {
        Self::new(Self::DEFAULT_INITIAL_RTT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    #[test]
    fn before_any_sample_uses_initial_rtt() {
        let rtt = RttEstimator::default();
        assert!(!rtt.has_sample());
        assert_eq!(rtt.smoothed_rtt(), ms(333));
        assert_eq!(rtt.rttvar(), us(166_500));
        // RFC 9002 §6.2.2: the first PTO is 3 × the initial RTT (333 + 4 · 166.5 ms).
        assert_eq!(rtt.pto_base(), ms(999));
        assert_eq!(rtt.loss_delay(9), us(374_625));
    }

    #[test]
    fn initial_rtt_is_configurable() {
        let rtt = RttEstimator::new(ms(100));
        assert_eq!(rtt.initial_rtt(), ms(100));
        assert_eq!(rtt.smoothed_rtt(), ms(100));
        assert_eq!(rtt.pto_base(), ms(300));
    }

    #[test]
    fn first_sample_sets_everything_and_ignores_ack_delay() {
        let mut rtt = RttEstimator::default();
        rtt.update(ms(20), ms(100));
        assert!(rtt.has_sample());
        assert_eq!(rtt.latest_rtt(), ms(100));
        assert_eq!(rtt.min_rtt(), ms(100));
        assert_eq!(rtt.smoothed_rtt(), ms(100));
        assert_eq!(rtt.rttvar(), ms(50));
    }

    #[test]
    fn later_samples_are_smoothed_with_ack_delay_subtracted() {
        let mut rtt = RttEstimator::default();
        rtt.update(Duration::ZERO, ms(100));
        // 120 − 10 = 110 ≥ min_rtt, so the delay is subtracted.
        rtt.update(ms(10), ms(120));
        // rttvar = 3/4 · 50 + 1/4 · |100 − 110| = 40; smoothed = 7/8 · 100 + 1/8 · 110.
        assert_eq!(rtt.rttvar(), ms(40));
        assert_eq!(rtt.smoothed_rtt(), us(101_250));
        assert_eq!(rtt.min_rtt(), ms(100));
        assert_eq!(rtt.latest_rtt(), ms(120));
    }

    #[test]
    fn ack_delay_not_subtracted_below_min_rtt() {
        let mut rtt = RttEstimator::default();
        rtt.update(Duration::ZERO, ms(100));
        // 105 − 10 = 95 < min_rtt 100: the raw sample is used.
        rtt.update(ms(10), ms(105));
        // smoothed = 87.5 + 105/8 = 100.625 ms; rttvar = 37.5 + 5/4 = 38.75 ms.
        assert_eq!(rtt.smoothed_rtt(), us(100_625));
        assert_eq!(rtt.rttvar(), us(38_750));
    }

    #[test]
    fn ack_delay_capped_by_max_ack_delay_after_confirmation() {
        let mut capped = RttEstimator::default();
        let mut uncapped = RttEstimator::default();
        for rtt in [&mut capped, &mut uncapped] {
            rtt.update(Duration::ZERO, ms(100));
        }
        capped.set_max_ack_delay(Some(ms(5)));
        capped.update(ms(25), ms(130));
        uncapped.update(ms(25), ms(130));
        // Capped: 130 − 5 = 125; uncapped: 130 − 25 = 105.
        assert_eq!(capped.smoothed_rtt(), us(87_500 + 15_625));
        assert_eq!(uncapped.smoothed_rtt(), us(87_500 + 13_125));
    }

    #[test]
    fn min_rtt_tracks_smallest_sample_and_can_be_reset() {
        let mut rtt = RttEstimator::default();
        rtt.update(Duration::ZERO, ms(50));
        rtt.update(Duration::ZERO, ms(30));
        rtt.update(Duration::ZERO, ms(80));
        assert_eq!(rtt.min_rtt(), ms(30));
        rtt.reset_min_rtt();
        assert_eq!(rtt.min_rtt(), ms(80));
    }

    #[test]
    fn pto_floors_variance_at_granularity() {
        let mut rtt = RttEstimator::default();
        for _ in 0..200 {
            rtt.update(Duration::ZERO, ms(10));
        }
        assert!(rtt.rttvar() < us(250));
        assert_eq!(rtt.pto_base(), ms(10) + RttEstimator::GRANULARITY);
    }

    #[test]
    fn loss_delay_uses_larger_of_smoothed_and_latest() {
        let mut rtt = RttEstimator::default();
        rtt.update(Duration::ZERO, ms(80));
        rtt.update(Duration::ZERO, ms(160));
        // smoothed = 70 + 20 = 90 ms < latest = 160 ms → 9/8 · 160 = 180 ms.
        assert_eq!(rtt.loss_delay(9), ms(180));
    }

    #[test]
    fn loss_delay_floored_at_granularity() {
        let mut rtt = RttEstimator::default();
        rtt.update(Duration::ZERO, us(100));
        assert_eq!(rtt.loss_delay(9), RttEstimator::GRANULARITY);
        rtt.update(Duration::ZERO, Duration::ZERO);
        assert_eq!(rtt.loss_delay(9), RttEstimator::GRANULARITY);
    }

    #[test]
    fn extreme_samples_do_not_panic() {
        let mut rtt = RttEstimator::default();
        rtt.update(Duration::MAX, Duration::MAX);
        rtt.update(Duration::ZERO, Duration::MAX);
        rtt.update(Duration::MAX, Duration::ZERO);
        rtt.update(Duration::MAX, Duration::MAX);
        let _ = (rtt.pto_base(), rtt.loss_delay(9));
        assert_eq!(rtt.min_rtt(), Duration::ZERO);
    }
}
