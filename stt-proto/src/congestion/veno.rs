//! Veno: NewReno's window growth with a loss response that tells random loss from congestion.
//!
//! After TCP Veno (Fu and Liew, IEEE JSAC 21(2), 2003; Linux `tcp_veno`): the sender
//! estimates how much of its own data waits in the bottleneck queue,
//! `backlog = window · (smoothed_rtt − min_rtt) / smoothed_rtt`. A loss while that backlog
//! is under [`RANDOM_LOSS_BACKLOG`] datagrams cannot be our queue overflowing, so it is read
//! as random (radio, a lossy link) and the window shrinks to 4/5; any other loss halves it
//! as NewReno does. This file owns only that choice; growth and recovery are NewReno's.

use alloc::boxed::Box;
use core::time::Duration;

use super::new_reno::{NewReno, NewRenoConfig};
use super::{Controller, ControllerFactory};
use crate::Instant;
use crate::recovery::RttEstimator;

/// Veno's `β`: a loss with fewer than this many of our datagrams queued is random.
pub const RANDOM_LOSS_BACKLOG: u64 = 3;

/// Window factor after a random loss (Veno's 4/5).
const RANDOM_LOSS_FACTOR: f64 = 0.8;

/// Window factor after a congestive loss (RFC 9002 §7.3.2, as NewReno).
const CONGESTIVE_LOSS_FACTOR: f64 = NewRenoConfig::DEFAULT_LOSS_REDUCTION_FACTOR;

/// Settings for [`Veno`]; as a [`ControllerFactory`] it builds one per session.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct VenoConfig {
    initial_window: Option<u64>,
}

impl VenoConfig {
    /// Starts every session with `bytes` of window instead of the RFC 9002 §7.2 default
    /// `min(10 · mtu, max(14 720, 2 · mtu))`. Never below the two-datagram minimum.
    pub fn initial_window(mut self, bytes: u64) -> Self {
        self.initial_window = Some(bytes);
        self
    }
}

impl ControllerFactory for VenoConfig {
    fn build(&self, _now: Instant, current_mtu: u16) -> Box<dyn Controller> {
        Box::new(Veno::new(*self, current_mtu))
    }
}

/// A Veno controller: NewReno that forgives random loss (the default for STT sessions).
#[derive(Debug, Clone)]
pub struct Veno {
    reno: NewReno,
    mtu: u16,
    /// `(smoothed, min)` RTT from the latest ACK; `None` before the first RTT sample.
    rtt: Option<(Duration, Duration)>,
}

impl Veno {
    /// A controller for a path whose maximum datagram size is `mtu` bytes.
    pub fn new(config: VenoConfig, mtu: u16) -> Self {
        let mut reno_config = NewRenoConfig::default();
        if let Some(bytes) = config.initial_window {
            reno_config = reno_config.initial_window(bytes);
        }
        Self {
            reno: NewReno::new(reno_config, mtu),
            mtu,
            rtt: None,
        }
    }

    /// The slow-start threshold (`u64::MAX` until the first congestion event).
    pub fn ssthresh(&self) -> u64 {
        self.reno.ssthresh()
    }

    /// Our bytes estimated to sit in the bottleneck queue, or `None` without an RTT sample.
    pub fn backlog(&self) -> Option<u64> {
        let (smoothed, min) = self.rtt?;
        let smoothed = smoothed.as_nanos();
        if smoothed == 0 {
            return Some(0);
        }
        let queued = smoothed.saturating_sub(min.as_nanos());
        let backlog = u128::from(self.reno.window()).saturating_mul(queued) / smoothed;
        Some(u64::try_from(backlog).unwrap_or(u64::MAX))
    }

    /// Whether a loss now would be read as random rather than as congestion.
    fn loss_looks_random(&self) -> bool {
        self.backlog()
            .is_some_and(|b| b < RANDOM_LOSS_BACKLOG * u64::from(self.mtu))
    }
}

impl Controller for Veno {
    fn on_sent(&mut self, now: Instant, bytes: u64, in_flight: u64) {
        self.reno.on_sent(now, bytes, in_flight);
    }

    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    ) {
        if rtt.has_sample() {
            self.rtt = Some((rtt.smoothed_rtt(), rtt.min_rtt()));
        }
        self.reno.on_ack(now, sent, bytes, app_limited, rtt);
    }

    fn on_end_acks(
        &mut self,
        now: Instant,
        in_flight: u64,
        app_limited: bool,
        largest_packet_num_acked: Option<u64>,
    ) {
        self.reno
            .on_end_acks(now, in_flight, app_limited, largest_packet_num_acked);
    }

    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        _lost_bytes: u64,
    ) {
        let factor = if self.loss_looks_random() {
            RANDOM_LOSS_FACTOR
        } else {
            CONGESTIVE_LOSS_FACTOR
        };
        self.reno
            .reduce(now, sent, is_persistent_congestion, factor);
    }

    fn on_mtu_update(&mut self, new_mtu: u16) {
        self.mtu = new_mtu;
        self.reno.on_mtu_update(new_mtu);
    }

    fn window(&self) -> u64 {
        self.reno.window()
    }

    fn initial_window(&self) -> u64 {
        self.reno.initial_window()
    }

    fn clone_box(&self) -> Box<dyn Controller> {
        Box::new(self.clone())
    }

    fn name(&self) -> &'static str {
        "veno"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::congestion::tests_util::{at, run_round};

    const MTU: u16 = 1200;

    fn estimator(min_ms: u64, smoothed_ms: u64) -> RttEstimator {
        let mut rtt = RttEstimator::new(Duration::from_millis(min_ms));
        rtt.update(Duration::ZERO, Duration::from_millis(min_ms));
        // Repeated samples pull the smoothed RTT towards `smoothed_ms` (1/8 gain).
        for _ in 0..64 {
            rtt.update(Duration::ZERO, Duration::from_millis(smoothed_ms));
        }
        rtt
    }

    /// A controller out of slow start with `rounds` of congestion avoidance behind it.
    fn grown(rtt: &RttEstimator) -> Veno {
        let mut cc = Veno::new(VenoConfig::default(), MTU);
        let mut now = at(0);
        for _ in 0..4 {
            now = run_round(&mut cc, now, 10_000, MTU, rtt);
        }
        cc
    }

    #[test]
    fn loss_without_queue_is_random_and_shrinks_to_four_fifths() {
        let rtt = estimator(10, 10);
        let mut cc = grown(&rtt);
        let before = cc.window();
        assert_eq!(cc.backlog(), Some(0));
        cc.on_congestion_event(at(1_000_000), at(999_000), false, 1200);
        assert_eq!(cc.window(), before * 4 / 5);
        assert_eq!(cc.ssthresh(), cc.window());
    }

    #[test]
    fn loss_with_a_standing_queue_is_congestion_and_halves() {
        // Half the RTT is queueing: half the window sits in the bottleneck.
        let rtt = estimator(10, 20);
        let mut cc = grown(&rtt);
        let before = cc.window();
        assert!(cc.backlog().unwrap_or(0) >= RANDOM_LOSS_BACKLOG * u64::from(MTU));
        cc.on_congestion_event(at(1_000_000), at(999_000), false, 1200);
        assert_eq!(cc.window(), before / 2);
    }

    #[test]
    fn loss_before_any_rtt_sample_is_congestion() {
        let mut cc = Veno::new(VenoConfig::default(), MTU);
        let before = cc.window();
        assert_eq!(cc.backlog(), None);
        cc.on_congestion_event(at(1_000), at(0), false, 1200);
        assert_eq!(cc.window(), before / 2);
    }

    #[test]
    fn one_reduction_per_recovery_period_and_persistent_congestion_collapses() {
        let rtt = estimator(10, 10);
        let mut cc = grown(&rtt);
        cc.on_congestion_event(at(1_000_000), at(999_000), false, 1200);
        let after_first = cc.window();
        // A second loss of a packet sent before recovery began changes nothing.
        cc.on_congestion_event(at(1_000_100), at(999_500), false, 1200);
        assert_eq!(cc.window(), after_first);
        cc.on_congestion_event(at(2_000_000), at(1_500_000), true, 1200);
        assert_eq!(cc.window(), 2 * u64::from(MTU));
    }

    #[test]
    fn grows_like_new_reno() {
        let rtt = estimator(10, 10);
        let veno = grown(&rtt);
        let mut reno = NewReno::new(NewRenoConfig::default(), MTU);
        let mut now = at(0);
        for _ in 0..4 {
            now = run_round(&mut reno, now, 10_000, MTU, &rtt);
        }
        assert_eq!(veno.window(), reno.window());
        assert_eq!(veno.name(), "veno");
    }
}
