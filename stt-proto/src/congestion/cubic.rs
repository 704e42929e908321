//! CUBIC congestion control as specified by RFC 9438, for long fat paths.
//!
//! After a loss the window follows `W_cubic(t) = C·(t − K)³ + W_max` in time rather than in
//! round trips, never growing slower than Reno would (the Reno-friendly estimate). This file
//! owns that curve only: loss detection, RTT measurement and pacing live elsewhere.
//! Windows are tracked in bytes; the curve is evaluated in segments of one MTU, as the RFC's
//! constants assume.

use alloc::boxed::Box;

use super::{Controller, ControllerFactory, RecoveryPeriod, minimum_window, rfc_initial_window};
use crate::Instant;
use crate::recovery::RttEstimator;

/// RFC 9438 §5.1 `C`: aggressiveness of the cubic curve, in segments per second³.
const C: f64 = 0.4;
/// RFC 9438 §5.1 `β_cubic`: the multiplicative decrease factor.
const BETA: f64 = 0.7;
/// RFC 9438 §4.3 `α_cubic = 3·(1 − β)/(1 + β)`: Reno-friendly additive increase per RTT,
/// chosen so the estimate matches standard Reno's average rate under the same loss.
const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// Settings for [`Cubic`]; as a [`ControllerFactory`] it builds one per session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CubicConfig {
    initial_window: Option<u64>,
}

impl CubicConfig {
    /// Starts every session with `bytes` of window instead of the RFC 9002 §7.2 default
    /// `min(10 · mtu, max(14 720, 2 · mtu))`. Never below the two-datagram minimum.
    pub fn initial_window(mut self, bytes: u64) -> Self {
        self.initial_window = Some(bytes);
        self
    }
}

impl ControllerFactory for CubicConfig {
    fn build(&self, _now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(Cubic::new(*self, current_mtu))
    }
}

/// A CUBIC controller (RFC 9438) with fast convergence and the Reno-friendly region.
#[derive(Debug, Clone)]
pub struct Cubic {
    config: CubicConfig,
    mtu: u16,
    window: u64,
    ssthresh: u64,
    recovery: RecoveryPeriod,
    /// Window just before the last reduction (after fast convergence), bytes.
    w_max: f64,
    /// Seconds from the epoch start until the curve is back at `w_max`.
    k: f64,
    /// Start of the current congestion-avoidance epoch; `None` until the first ACK after
    /// slow start or recovery.
    epoch_start: Option<Instant>,
    /// Reno-friendly window estimate, bytes.
    w_est: f64,
    /// Fractional bytes of growth not yet added to `window`; growth per ACK is often below
    /// one byte on large windows and must not be rounded away.
    pending_growth: f64,
}

impl Cubic {
    /// A controller for a path whose maximum datagram size is `mtu` bytes.
    pub fn new(config: CubicConfig, mtu: u16) -> Self {
        let mut me = Self {
            config,
            mtu,
            window: 0,
            ssthresh: u64::MAX,
            recovery: RecoveryPeriod::default(),
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
            pending_growth: 0.0,
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

    fn mss(&self) -> f64 {
        f64::from(self.mtu.max(1))
    }

    /// `W_cubic(t)` in bytes, `t` in seconds since the epoch start (RFC 9438 §4.2).
    fn w_cubic(&self, t: f64) -> f64 {
        let d = t - self.k;
        C * d * d * d * self.mss() + self.w_max
    }

    /// Opens a congestion-avoidance epoch at `now` with the current window as `cwnd_epoch`.
    fn start_epoch(&mut self, now: Instant) -> Instant {
        let cwnd = self.window as f64;
        if self.w_max <= cwnd {
            // Already past the old maximum (or no loss yet): probe upward from here at once.
            self.w_max = cwnd;
            self.k = 0.0;
        } else {
            self.k = libm::cbrt((self.w_max - cwnd) / self.mss() / C);
        }
        self.w_est = cwnd;
        self.pending_growth = 0.0;
        self.epoch_start = Some(now);
        now
    }

    fn add_growth(&mut self, bytes: f64) {
        // NaN and negatives are dropped: growth only ever adds.
        if bytes > 0.0 {
            self.pending_growth += bytes;
        }
        if self.pending_growth >= 1.0 {
            let whole = self.pending_growth as u64;
            self.window = self.window.saturating_add(whole);
            self.pending_growth -= whole as f64;
            if self.pending_growth.is_nan() || self.pending_growth < 0.0 {
                self.pending_growth = 0.0;
            }
        }
    }
}

impl Controller for Cubic {
    fn on_sent(&mut self, _now: Instant, _bytes: u64, _in_flight: u64) {}

    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        // Same rule as NewReno: neither app-limited ACKs nor ACKs from the recovery period
        // say anything about spare capacity.
        if app_limited || self.recovery.covers(sent) {
            return;
        }
        if self.window < self.ssthresh {
            self.window = self.window.saturating_add(bytes);
            return;
        }
        let epoch = match self.epoch_start {
            Some(epoch) => epoch,
            None => self.start_epoch(now),
        };
        let t = now.saturating_duration_since(epoch).as_secs_f64();
        let cwnd = self.window.max(1) as f64;
        let acked = bytes as f64;

        // RFC 9438 §4.3: once the estimate has regained W_max, Reno would grow by a full
        // segment per RTT, so the estimate does too.
        let alpha = if self.w_est >= self.w_max { 1.0 } else { ALPHA };
        self.w_est += alpha * self.mss() * acked / cwnd;

        if self.w_cubic(t) < self.w_est {
            // Reno-friendly region: CUBIC would be slower than Reno here, so match Reno.
            let est = self.w_est as u64;
            if est > self.window {
                self.window = est;
            }
        } else {
            // Concave/convex region: aim one RTT ahead on the curve, at most 1.5 × cwnd so a
            // long quiet spell cannot make the window leap (RFC 9438 §4.2).
            let horizon = t + rtt.smoothed_rtt().as_secs_f64();
            let target = self.w_cubic(horizon).clamp(cwnd, 1.5 * cwnd);
            self.add_growth((target - cwnd) * acked / cwnd);
        }
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        _lost_bytes: u64,
    ) {
        if !self.recovery.covers(sent) {
            self.recovery.enter(now);
            let cwnd = self.window as f64;
            // Fast convergence (RFC 9438 §4.7): losing below the previous maximum means
            // competing flows arrived, so release bandwidth by aiming lower.
            self.w_max = if cwnd < self.w_max {
                cwnd * (1.0 + BETA) / 2.0
            } else {
                cwnd
            };
            self.window = times_beta(self.window).max(self.minimum_window());
            self.ssthresh = self.window;
            self.epoch_start = None;
            self.pending_growth = 0.0;
        }
        if is_persistent_congestion {
            // RFC 9002 §7.6.2: collapse, leave recovery and slow-start back to ssthresh.
            self.window = self.minimum_window();
            self.recovery.clear();
            self.epoch_start = None;
            self.pending_growth = 0.0;
        }
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
        "cubic"
    }
}

/// `window · β` rounded down, in integers so that round windows stay round (a float
/// product of 0.7 lands just below the exact value) and nothing can overflow.
fn times_beta(window: u64) -> u64 {
    window / 10 * 7 + window % 10 * 7 / 10
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::tests_util::{at, run_round};
    use core::time::Duration;

    const MTU: u16 = 1200;
    const SEG: f64 = 1200.0;

    fn cubic_with(initial: u64) -> Cubic {
        Cubic::new(CubicConfig::default().initial_window(initial), MTU)
    }

    fn close(actual: f64, expected: f64, tolerance: f64) -> bool {
        (actual - expected).abs() <= expected * tolerance
    }

    #[test]
    fn initial_window_and_name() {
        let cc = CubicConfig::default().build(Instant::ZERO, MTU);
        assert_eq!(cc.window(), 12_000);
        assert_eq!(cc.name(), "cubic");
        assert_eq!(cubic_with(1).window(), 2_400);
    }

    #[test]
    fn slow_start_doubles_per_rtt() {
        let mut cc = Cubic::new(CubicConfig::default(), MTU);
        let rtt = RttEstimator::new(Duration::from_millis(50));
        let mut now = at(0);
        for round in 0..4u32 {
            assert_eq!(cc.window(), 12_000 << round);
            now = run_round(&mut cc, now, 50_000, MTU, &rtt);
        }
    }

    #[test]
    fn loss_multiplies_by_beta_once_per_recovery_period() {
        let mut cc = cubic_with(120_000);
        cc.on_congestion_event(at(1_000), at(900), false, 1_200);
        assert_eq!(cc.window(), 84_000);
        assert_eq!(cc.ssthresh(), 84_000);
        assert_eq!(cc.w_max, 120_000.0);
        cc.on_congestion_event(at(2_000), at(999), false, 1_200);
        assert_eq!(cc.window(), 84_000);
        cc.on_ack(at(2_000), at(500), 1_200, false, &RttEstimator::default());
        assert_eq!(cc.window(), 84_000);
        // A new loss below the previous maximum: fast convergence lowers W_max further.
        cc.on_congestion_event(at(3_000), at(1_001), false, 1_200);
        assert_eq!(cc.window(), 58_800);
        assert!(close(cc.w_max, 84_000.0 * 0.85, 1e-9));
    }

    #[test]
    fn persistent_congestion_collapses_to_minimum() {
        let mut cc = cubic_with(120_000);
        cc.on_congestion_event(at(1_000), at(900), false, 1_200);
        cc.on_congestion_event(at(2_000), at(950), true, 60_000);
        assert_eq!(cc.window(), 2_400);
        // Slow start resumes right away, up to the ssthresh set by the loss.
        cc.on_ack(at(3_000), at(960), 1_200, false, &RttEstimator::default());
        assert_eq!(cc.window(), 3_600);
        assert_eq!(cc.ssthresh(), 84_000);
    }

    #[test]
    fn app_limited_acks_do_not_grow() {
        let mut cc = cubic_with(120_000);
        let rtt = RttEstimator::new(Duration::from_millis(100));
        cc.on_congestion_event(at(1_000), at(900), false, 1_200);
        for i in 0..1_000 {
            cc.on_ack(at(2_000 + i * 10_000), at(1_500), 1_200, true, &rtt);
        }
        assert_eq!(cc.window(), 84_000);
        let mut ss = cubic_with(12_000);
        ss.on_ack(at(10), at(0), 12_000, true, &rtt);
        assert_eq!(ss.window(), 12_000);
    }

    /// Just after the losses these tests inject at 1 s.
    const AFTER_LOSS: Instant = Instant(1_000_001);

    /// Runs one-RTT rounds from `now` until `t` seconds into the epoch; returns the window,
    /// the exact `t` reached and the time of the last ACKs.
    fn run_until(cc: &mut Cubic, mut now: Instant, rtt_us: u64, t: f64) -> (f64, f64, Instant) {
        let rtt = RttEstimator::new(Duration::from_micros(rtt_us));
        loop {
            now = run_round(cc, now, rtt_us, MTU, &rtt);
            let epoch = cc.epoch_start.unwrap_or(now);
            let elapsed = now.saturating_duration_since(epoch).as_secs_f64();
            if elapsed >= t {
                return (cc.window() as f64, elapsed, now);
            }
        }
    }

    #[test]
    fn k_and_curve_match_the_formula() {
        let mut cc = cubic_with(120_000);
        cc.on_congestion_event(at(1_000_000), at(999_000), false, 1_200);
        cc.start_epoch(at(1_000_001));
        // K = ∛(W_max · (1 − β) / C) = ∛(100 · 0.3 / 0.4) = ∛75 s.
        assert!(close(cc.k, 4.217_163_326_508_746, 1e-12));
        assert!(close(cc.w_cubic(0.0), 84_000.0, 1e-12));
        assert!(close(cc.w_cubic(cc.k), 120_000.0, 1e-12));
        let expected = 0.4 * (6.0f64 - cc.k).powi(3) * SEG + 120_000.0;
        assert!(close(cc.w_cubic(6.0), expected, 1e-12));
    }

    #[test]
    fn window_follows_cubic_curve_after_loss() {
        // 100 ms RTT, loss at 100 segments: W_max = 100 seg, cwnd 70 seg, K = ∛75 ≈ 4.22 s.
        for (t, tolerance) in [(1.0, 0.01), (4.2, 0.005), (5.5, 0.005)] {
            let mut cc = cubic_with(120_000);
            cc.on_congestion_event(at(1_000_000), at(999_000), false, 1_200);
            let (window, t, _) = run_until(&mut cc, AFTER_LOSS, 100_000, t);
            let formula = 0.4 * (t - 75f64.cbrt()).powi(3) * SEG + 120_000.0;
            assert!(
                close(window, formula, tolerance),
                "t = {t}: window {window} vs W_cubic {formula}"
            );
            // Concave region: still ruled by the curve, not by the Reno estimate.
            assert!(cc.w_est < formula, "t = {t}: w_est {}", cc.w_est);
        }
    }

    #[test]
    fn reno_friendly_region_on_short_rtt() {
        // 1 ms RTT and a small W_max: Reno's per-RTT growth beats the time-based curve.
        let mut cc = cubic_with(24_000);
        cc.on_congestion_event(at(1_000_000), at(999_000), false, 1_200);
        assert_eq!(cc.window(), 16_800);
        let (_, t, now) = run_until(&mut cc, AFTER_LOSS, 1_000, 0.08);
        let before = cc.window();
        let (_, t2, _) = run_until(&mut cc, now, 1_000, t + 0.01);
        let rounds = ((t2 - t) * 1_000.0).round();
        // Past W_max the estimate grows one segment per RTT, exactly like Reno.
        let grown = (cc.window() - before) as f64 / SEG;
        assert!(
            (grown - rounds).abs() <= 1.0,
            "grew {grown} seg in {rounds} RTTs"
        );
        assert!(cc.w_cubic(t2) < cc.w_est);
        assert!(cc.window() as f64 > cc.w_cubic(t2 + 0.001));
    }

    #[test]
    fn beta_reduction_is_exact_and_cannot_overflow() {
        assert_eq!(times_beta(84_000), 58_800);
        assert_eq!(times_beta(19), 13);
        assert_eq!(times_beta(u64::MAX), (u128::from(u64::MAX) * 7 / 10) as u64);
    }

    #[test]
    fn mtu_update_and_clone() {
        let mut cc = cubic_with(1);
        cc.on_mtu_update(1_500);
        assert_eq!(cc.window(), 3_000);
        let boxed: Box<dyn Controller> = cc.clone_box();
        assert_eq!(boxed.clone().window(), 3_000);
    }
}
