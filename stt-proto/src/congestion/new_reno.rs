//! NewReno congestion control as specified by RFC 9002 §7 and its Appendix B.
//!
//! Slow start doubles the window every round trip until the first loss; congestion
//! avoidance then adds `mtu · acked / window` per ACK, about one datagram per window. This file owns only that
//! arithmetic: it does not detect loss or decide persistent congestion.

use alloc::boxed::Box;

use super::{Controller, ControllerFactory, RecoveryPeriod, minimum_window, rfc_initial_window};
use crate::Instant;
use crate::recovery::RttEstimator;

/// Settings for [`NewReno`]; as a [`ControllerFactory`] it builds one per session.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewRenoConfig {
    initial_window: Option<u64>,
    loss_reduction_factor: f64,
}

impl NewRenoConfig {
    /// RFC 9002 §7.3.2 `kLossReductionFactor`.
    pub const DEFAULT_LOSS_REDUCTION_FACTOR: f64 = 0.5;

    /// Starts every session with `bytes` of window instead of the RFC 9002 §7.2 default
    /// `min(10 · mtu, max(14 720, 2 · mtu))`. Never below the two-datagram minimum.
    pub fn initial_window(mut self, bytes: u64) -> Self {
        self.initial_window = Some(bytes);
        self
    }

    /// Multiplies the window by `factor` on congestion (default 0.5). Clamped to `0.0..=1.0`;
    /// NaN restores the default. The minimum window still bounds the result.
    pub fn loss_reduction_factor(mut self, factor: f64) -> Self {
        self.loss_reduction_factor = sanitize_factor(factor, Self::DEFAULT_LOSS_REDUCTION_FACTOR);
        self
    }
}

impl Default for NewRenoConfig {
    fn default() -> Self {
        Self {
            initial_window: None,
            loss_reduction_factor: Self::DEFAULT_LOSS_REDUCTION_FACTOR,
        }
    }
}

impl ControllerFactory for NewRenoConfig {
    fn build(&self, _now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(NewReno::new(*self, current_mtu))
    }
}

/// A NewReno controller (RFC 9002 §7), the default for STT sessions.
#[derive(Debug, Clone)]
pub struct NewReno {
    config: NewRenoConfig,
    mtu: u16,
    window: u64,
    ssthresh: u64,
    /// Congestion-avoidance growth not yet a whole byte of window, as a numerator over the
    /// window (`mtu · acked` accumulates here; each `window` of it is one byte).
    growth_carry: u64,
    recovery: RecoveryPeriod,
}

impl NewReno {
    /// A controller for a path whose maximum datagram size is `mtu` bytes.
    pub fn new(config: NewRenoConfig, mtu: u16) -> Self {
        let mut me = Self {
            config,
            mtu,
            window: 0,
            ssthresh: u64::MAX,
            growth_carry: 0,
            recovery: RecoveryPeriod::default(),
        };
        me.window = me.initial_window();
        me
    }

    /// The slow-start threshold (`u64::MAX` until the first congestion event).
    pub fn ssthresh(&self) -> u64 {
        self.ssthresh
    }

    fn minimum_window(&self) -> u64 {
        minimum_window(self.mtu)
    }
}

impl Controller for NewReno {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _in_flight: u64) {}

    fn on_ack(
        &mut self,
        _now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        _rtt: &RttEstimator,
    ) {
        // An app-limited ACK proves nothing about spare capacity; an ACK from inside the
        // recovery period reports a window we already judged too large.
        if app_limited || self.recovery.covers(sent) {
            return;
        }
        if self.window < self.ssthresh {
            // Slow start: one byte of window per byte acknowledged doubles it per RTT.
            self.window = self.window.saturating_add(bytes);
        } else {
            // Congestion avoidance (RFC 9002 B.5): `mtu · acked / window` per ACK, so the
            // window grows by about one MTU per window acknowledged and does so smoothly:
            // a window just short of one more datagram reaches it after a fraction of a
            // round trip instead of only once the whole window has been acknowledged.
            let num = u128::from(self.mtu)
                .saturating_mul(u128::from(bytes))
                .saturating_add(u128::from(self.growth_carry));
            let window = u128::from(self.window.max(1));
            let inc = u64::try_from(num / window).unwrap_or(u64::MAX);
            // The remainder is below `window`, which is a u64.
            self.growth_carry = u64::try_from(num % window).unwrap_or(0);
            self.window = self.window.saturating_add(inc);
        }
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        _lost_bytes: u64,
    ) {
        self.reduce(
            now,
            sent,
            is_persistent_congestion,
            self.config.loss_reduction_factor,
        );
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.mtu = new_mtu;
        self.window = self.window.max(self.minimum_window());
    }

    fn window(&self) -> u64 {
        self.window
    }

    fn initial_window(&self) -> u64 {
        self.config
            .initial_window
            .unwrap_or_else(|| rfc_initial_window(self.mtu))
            .max(self.minimum_window())
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }

    fn name(&self) -> &'static str {
        "new_reno"
    }
}

impl NewReno {
    /// The congestion response with an explicit multiplicative `factor`: the window is
    /// scaled once per recovery period, and collapses on persistent congestion.
    pub(super) fn reduce(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        factor: f64,
    ) {
        if !self.recovery.covers(sent) {
            self.recovery.enter(now);
            let reduced = scale(self.window, factor);
            self.window = reduced.max(self.minimum_window());
            self.ssthresh = self.window;
            self.growth_carry = 0;
        }
        if is_persistent_congestion {
            // RFC 9002 §7.6.2: collapse and leave recovery so slow start can probe again.
            self.window = self.minimum_window();
            self.growth_carry = 0;
            self.recovery.clear();
        }
    }
}

/// `value · factor`, rounded down; saturating, and 0 for a NaN factor.
pub(super) fn scale(value: u64, factor: f64) -> u64 {
    // Float-to-int `as` saturates and maps NaN to 0, so this cannot panic or wrap.
    (value as f64 * factor) as u64
}

pub(super) fn sanitize_factor(factor: f64, default: f64) -> f64 {
    if factor.is_nan() {
        default
    } else {
        factor.clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::tests_util::{at, run_round};

    const MTU: u16 = 1200;

    fn reno() -> NewReno {
        NewReno::new(NewRenoConfig::default(), MTU)
    }

    #[test]
    fn initial_and_minimum_windows() {
        let cc = reno();
        assert_eq!(cc.window(), 12_000);
        assert_eq!(cc.initial_window(), 12_000);
        let cc = NewReno::new(NewRenoConfig::default().initial_window(100), MTU);
        assert_eq!(cc.window(), 2_400, "never below two datagrams");
        let built = NewRenoConfig::default()
            .initial_window(50_000)
            .build(Instant::ZERO, MTU);
        assert_eq!(built.window(), 50_000);
        assert_eq!(built.name(), "new_reno");
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = reno();
        let rtt = RttEstimator::default();
        let mut now = at(0);
        for round in 0..4u32 {
            assert_eq!(cc.window(), 12_000 << round);
            now = run_round(&mut cc, now, 100_000, MTU, &rtt);
        }
        assert_eq!(cc.window(), 12_000 << 4);
    }

    #[test]
    fn loss_halves_once_per_recovery_period() {
        let mut cc = reno();
        let rtt = RttEstimator::default();
        cc.on_congestion_event(at(1_000), at(500), false, 1200);
        assert_eq!(cc.window(), 6_000);
        assert_eq!(cc.ssthresh(), 6_000);
        // More losses of packets sent before the period began: same congestion, no cut.
        cc.on_congestion_event(at(2_000), at(900), false, 1200);
        cc.on_congestion_event(at(3_000), at(999), false, 1200);
        assert_eq!(cc.window(), 6_000);
        // ACKs of packets from before the period do not grow the window either.
        cc.on_ack(at(3_000), at(800), 1200, false, &rtt);
        assert_eq!(cc.window(), 6_000);
        // A loss of a packet sent once the period began is new congestion.
        cc.on_congestion_event(at(4_000), at(1_000), false, 1200);
        assert_eq!(cc.window(), 3_000);
        cc.on_congestion_event(at(5_000), at(4_001), false, 1200);
        assert_eq!(cc.window(), 2_400, "bounded by the minimum window");
    }

    #[test]
    fn custom_loss_reduction_factor() {
        let mut cc = NewReno::new(NewRenoConfig::default().loss_reduction_factor(0.8), MTU);
        cc.on_congestion_event(at(10), at(5), false, 1200);
        assert_eq!(cc.window(), 9_600);
        let nan = NewRenoConfig::default().loss_reduction_factor(f64::NAN);
        assert_eq!(nan, NewRenoConfig::default());
    }

    #[test]
    fn congestion_avoidance_adds_about_one_mtu_per_window() {
        let mut cc = reno();
        let rtt = RttEstimator::default();
        cc.on_congestion_event(at(1_000), at(500), false, 1200);
        assert_eq!(cc.window(), 6_000);
        let mut now = at(2_000);
        let mut expected = 6_000;
        for _ in 1..=3 {
            now = run_round(&mut cc, now, 100_000, MTU, &rtt);
            // Per-ACK growth over a window that grows meanwhile: just under one MTU.
            let grown = cc.window() - expected;
            assert!((1_100..=1_200).contains(&grown), "grew {grown}");
            expected = cc.window();
        }
    }

    #[test]
    fn congestion_avoidance_keeps_the_remainder_of_tiny_acks() {
        // 1-byte ACKs each earn 1200/6000 of a byte: only the carried remainder makes a
        // window's worth of them grow the window by about one MTU.
        let mut cc = reno();
        let rtt = RttEstimator::default();
        cc.on_congestion_event(at(1_000), at(500), false, 1200);
        assert_eq!(cc.window(), 6_000);
        for _ in 0..6_000 {
            cc.on_ack(at(2_000), at(1_500), 1, false, &rtt);
        }
        let grown = cc.window() - 6_000;
        assert!((1_000..=1_200).contains(&grown), "grew {grown}");
    }

    #[test]
    fn congestion_avoidance_grows_per_ack_not_per_window() {
        // 2.5 datagrams of window after a loss: only two fit in flight. Their ACKs must
        // already make room for a third (RFC 9002 B.5), not wait for 2.5 datagrams of ACKs.
        let mut cc = NewReno::new(NewRenoConfig::default().initial_window(6_000), MTU);
        let rtt = RttEstimator::default();
        cc.on_congestion_event(at(1_000), at(500), false, 1200);
        assert_eq!(cc.window(), 3_000);
        cc.on_ack(at(2_000), at(1_500), 1_200, false, &rtt);
        assert_eq!(cc.window(), 3_480, "1200 · 1200 / 3000");
        cc.on_ack(at(2_000), at(1_500), 1_200, false, &rtt);
        assert!(cc.window() >= 3 * u64::from(MTU), "window {}", cc.window());
    }

    #[test]
    fn persistent_congestion_collapses_and_restarts_slow_start() {
        let mut cc = reno();
        let rtt = RttEstimator::default();
        cc.on_congestion_event(at(1_000), at(500), false, 1200);
        // Persistent congestion counts even inside the recovery period.
        cc.on_congestion_event(at(2_000), at(600), true, 24_000);
        assert_eq!(cc.window(), 2_400);
        assert_eq!(cc.ssthresh(), 6_000);
        // Recovery was left: the next ACK grows the window in slow start.
        cc.on_ack(at(3_000), at(700), 1_200, false, &rtt);
        assert_eq!(cc.window(), 3_600);
    }

    #[test]
    fn app_limited_acks_do_not_grow() {
        let mut cc = reno();
        let rtt = RttEstimator::default();
        cc.on_ack(at(100), at(0), 12_000, true, &rtt);
        assert_eq!(cc.window(), 12_000);
        cc.on_congestion_event(at(200), at(50), false, 1200);
        for _ in 0..100 {
            cc.on_ack(at(300), at(250), 6_000, true, &rtt);
        }
        assert_eq!(cc.window(), 6_000);
    }

    #[test]
    fn mtu_update_raises_minimum_window() {
        let mut cc = reno();
        cc.on_congestion_event(at(1), at(0), true, 0);
        assert_eq!(cc.window(), 2_400);
        cc.on_mtu_update(1500);
        assert_eq!(cc.window(), 3_000);
        let cloned: Box<dyn Controller> = cc.clone_box();
        assert_eq!(cloned.clone().window(), 3_000);
    }

    #[test]
    fn extreme_values_saturate() {
        let mut cc = reno();
        let rtt = RttEstimator::default();
        cc.on_ack(at(u64::MAX), Instant::ZERO, u64::MAX, false, &rtt);
        assert_eq!(cc.window(), u64::MAX);
        cc.on_ack(at(u64::MAX), Instant::ZERO, u64::MAX, false, &rtt);
        cc.on_congestion_event(at(u64::MAX), at(1), false, u64::MAX);
        assert!(cc.window() >= 2_400);
        cc.on_ack(at(u64::MAX), at(u64::MAX), u64::MAX, false, &rtt);
        cc.on_ack(at(0), at(u64::MAX), u64::MAX, false, &rtt);
        assert!(cc.window() >= 2_400);
    }
}
