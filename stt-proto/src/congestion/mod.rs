//! Congestion control: the [`Controller`] contract, Veno (default), NewReno, CUBIC and pacing.
//!
//! A controller only sizes the congestion window from the events the session reports
//! (sent, acknowledged, lost); it never detects loss, never measures RTT (both are
//! `recovery`'s) and never reads a clock: every event carries its `now`.
//!
//! # Plugging in your own controller
//!
//! Implement [`Controller`] for the per-session state and [`ControllerFactory`] for the
//! configuration that builds one per session. A controller that keeps a fixed window:
//!
//! ```
//! use stt_proto::Instant;
//! use stt_proto::congestion::{Controller, ControllerFactory, RttEstimator};
//!
//! #[derive(Debug, Clone)]
//! struct Fixed {
//!     window: u64,
//! }
//!
//! impl Controller for Fixed {
//!     fn on_sent(&mut self, _now: Instant, _bytes: u64, _in_flight: u64) {}
//!     fn on_ack(&mut self, _: Instant, _: Instant, _: u64, _: bool, _: &RttEstimator) {}
//!     fn on_congestion_event(&mut self, _: Instant, _: Instant, _: bool, _: u64) {}
//!     fn on_mtu_update(&mut self, _new_mtu: u16) {}
//!     fn window(&self) -> u64 {
//!         self.window
//!     }
//!     fn initial_window(&self) -> u64 {
//!         self.window
//!     }
//!     fn clone_box(&self) -> Box<dyn Controller> {
//!         Box::new(self.clone())
//!     }
//!     fn name(&self) -> &'static str {
//!         "fixed"
//!     }
//! }
//!
//! /// Builds a [`Fixed`] controller holding `packets` full-sized datagrams.
//! #[derive(Debug)]
//! struct FixedConfig {
//!     packets: u64,
//! }
//!
//! impl ControllerFactory for FixedConfig {
//!     fn build(&self, _now: Instant, current_mtu: u16) -> Box<dyn Controller> {
//!         Box::new(Fixed { window: self.packets * u64::from(current_mtu) })
//!     }
//! }
//!
//! let mut cc = FixedConfig { packets: 4 }.build(Instant::ZERO, 1200);
//! cc.on_congestion_event(Instant::from_micros(10), Instant::ZERO, false, 1200);
//! assert_eq!(cc.window(), 4800);
//! assert_eq!(cc.clone().name(), "fixed");
//! ```
//!
//! The session then holds the `Box<dyn Controller>` and sends an ack-eliciting packet only
//! while fewer than [`Controller::window`] bytes are in flight, so the flight exceeds the
//! window by less than one datagram (as Chromium's and msquic's senders allow). Window
//! growth and loss response are entirely the controller's; only the recovery-period rule
//! below is expected of every implementation.

use alloc::boxed::Box;

use crate::Instant;
/// The RTT estimate a controller reads on each ACK (part of [`Controller::on_ack`]).
pub use crate::recovery::RttEstimator;

mod cubic;
mod new_reno;
mod pacing;
mod veno;

pub use cubic::{Cubic, CubicConfig};
pub use new_reno::{NewReno, NewRenoConfig};
pub use pacing::Pacer;
pub use veno::{RANDOM_LOSS_BACKLOG, Veno, VenoConfig};

/// One session's congestion controller, driven by the session's send and ACK events.
///
/// Windows and byte counts are in bytes of UDP payload. Every `now` is the caller's
/// [`Instant`]; controllers must tolerate time standing still or going backwards.
///
/// **Recovery period** (RFC 9002 §7.3.2): a congestion event reduces the window once and
/// starts a recovery period at `now`. Further congestion events for packets sent before
/// the start of the current recovery period are ignored, because they report the same
/// congestion; likewise ACKs for such packets do not grow the window. The period ends
/// when a packet sent at or after its start is acknowledged: the packet the session sends
/// at the instant of the cut (RFC 9002 §7.3.2) already counts as sent in recovery, so
/// recovery lasts one round trip rather than until the flight drains below the new window. Persistent congestion is reported
/// even inside a recovery period and always collapses the window.
pub trait Controller: Send + core::fmt::Debug {
    /// A packet of `bytes` was sent at `now`; `in_flight` includes it.
    fn on_sent(&mut self, now: Instant, bytes: u64, in_flight: u64);

    /// A packet of `bytes` sent at `sent` was newly acknowledged at `now`.
    ///
    /// `app_limited` is true when the sender had less data to send than the window allowed
    /// (RFC 9002 §7.8): the ACK then says nothing about spare capacity and must not grow the
    /// window. `rtt` already includes this ACK's sample.
    fn on_ack(
        &mut self,
        now: Instant,
        sent: Instant,
        bytes: u64,
        app_limited: bool,
        rtt: &RttEstimator,
    );

    /// Every packet acknowledged by one ACK frame has been reported through
    /// [`on_ack`](Self::on_ack); `in_flight` is what remains outstanding.
    fn on_end_acks(
        &mut self,
        now: Instant,
        in_flight: u64,
        app_limited: bool,
        largest_packet_num_acked: Option<u64>,
    ) {
        // Per-ACK-frame hook for controllers that need one (e.g. BBR); loss-based ones don't.
        let _ = (now, in_flight, app_limited, largest_packet_num_acked);
    }

    /// Packets were declared lost at `now`; `sent` is when the newest of them was sent and
    /// `lost_bytes` their total size. `is_persistent_congestion` means the RFC 9002 §7.6
    /// condition holds and the window must collapse to its minimum.
    fn on_congestion_event(
        &mut self,
        now: Instant,
        sent: Instant,
        is_persistent_congestion: bool,
        lost_bytes: u64,
    );

    /// The path's maximum datagram size changed to `new_mtu` bytes.
    fn on_mtu_update(&mut self, new_mtu: u16);

    /// Bytes that may be in flight now; the session sends while less than this is in flight.
    fn window(&self) -> u64;

    /// The window a fresh session starts with.
    fn initial_window(&self) -> u64;

    /// A boxed copy of this controller (what `Clone for Box<dyn Controller>` calls).
    fn clone_box(&self) -> Box<dyn Controller>;

    /// A short, stable name for logs and statistics, e.g. `"new_reno"`.
    fn name(&self) -> &'static str;
}

impl Clone for Box<dyn Controller> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

/// Configuration that builds one [`Controller`] per session.
pub trait ControllerFactory: Send + Sync + core::fmt::Debug {
    /// A controller for a session starting at `now` on a path of `current_mtu` bytes.
    fn build(&self, now: Instant, current_mtu: u16) -> Box<dyn Controller>;
}

/// RFC 9002 §7.2 initial window: `min(10 · mtu, max(14 720, 2 · mtu))`.
pub(crate) fn rfc_initial_window(mtu: u16) -> u64 {
    let mtu = u64::from(mtu);
    (10 * mtu).min(14_720u64.max(2 * mtu))
}

/// RFC 9002 §7.2 minimum window: two maximum-sized datagrams.
pub(crate) fn minimum_window(mtu: u16) -> u64 {
    2 * u64::from(mtu)
}

/// The RFC 9002 §7.3.2 recovery period shared by the built-in controllers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RecoveryPeriod {
    start: Option<Instant>,
}

impl RecoveryPeriod {
    /// Whether a packet sent at `sent` belongs to the current recovery period (its loss
    /// or its ACK reports congestion already responded to).
    pub(crate) fn covers(&self, sent: Instant) -> bool {
        self.start.is_some_and(|start| sent < start)
    }

    /// Starts a new recovery period at `now`.
    pub(crate) fn enter(&mut self, now: Instant) {
        self.start = Some(now);
    }

    /// Leaves recovery altogether (after persistent congestion the RFC restarts slow start).
    pub(crate) fn clear(&mut self) {
        self.start = None;
    }
}

/// Shared helpers for the controllers' unit tests.
#[cfg(test)]
pub(crate) mod tests_util {
    use super::*;

    /// The instant `us` microseconds after the epoch.
    pub(crate) fn at(us: u64) -> Instant {
        Instant::from_micros(us)
    }

    /// Sends one full window in `mtu`-sized packets at `now`, then acknowledges all of them
    /// one RTT (`rtt_us`) later; returns the time of the ACKs.
    pub(crate) fn run_round(
        cc: &mut dyn Controller,
        now: Instant,
        rtt_us: u64,
        mtu: u16,
        rtt: &RttEstimator,
    ) -> Instant {
        let mtu = u64::from(mtu);
        let window = cc.window();
        let mut sent = 0;
        let mut sizes = alloc::vec::Vec::new();
        while sent < window {
            let size = mtu.min(window - sent);
            sent += size;
            cc.on_sent(now, size, sent);
            sizes.push(size);
        }
        let acked_at = Instant::from_micros(now.as_micros() + rtt_us);
        let mut in_flight = sent;
        for size in sizes {
            in_flight -= size;
            cc.on_ack(acked_at, now, size, false, rtt);
        }
        cc.on_end_acks(acked_at, in_flight, false, None);
        acked_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_window_bounds() {
        assert_eq!(rfc_initial_window(1200), 12_000);
        assert_eq!(rfc_initial_window(1472), 14_720);
        assert_eq!(rfc_initial_window(9000), 18_000);
        assert_eq!(rfc_initial_window(u16::MAX), 2 * 65_535);
        assert_eq!(minimum_window(1200), 2_400);
    }

    #[test]
    fn recovery_period_covers_packets_sent_before_its_start() {
        let mut rp = RecoveryPeriod::default();
        assert!(!rp.covers(Instant::ZERO));
        rp.enter(Instant::from_micros(100));
        assert!(rp.covers(Instant::from_micros(99)));
        // A packet sent at the very instant recovery began went out after the window was
        // cut (the one packet RFC 9002 §7.3.2 allows on entry): it is sent in recovery.
        assert!(!rp.covers(Instant::from_micros(100)));
        assert!(!rp.covers(Instant::from_micros(101)));
        rp.clear();
        assert!(!rp.covers(Instant::from_micros(1)));
    }
}

#[cfg(test)]
mod proptests {
    use super::tests_util::at;
    use super::*;
    use core::time::Duration;
    use proptest::prelude::*;

    /// One event the session could report, with deliberately wild values.
    #[derive(Debug, Clone)]
    enum Op {
        Sent {
            now: u64,
            bytes: u64,
        },
        Ack {
            now: u64,
            sent: u64,
            bytes: u64,
            app_limited: bool,
            rtt_us: u64,
        },
        EndAcks {
            now: u64,
        },
        Congestion {
            now: u64,
            sent: u64,
            persistent: bool,
            lost: u64,
        },
        Mtu(u16),
    }

    /// Mostly small values with the occasional extreme, since uniform u64s are all huge.
    fn wide() -> impl Strategy<Value = u64> {
        prop_oneof![
            0..100_000u64,
            0..10_000_000_000u64,
            Just(0),
            Just(u64::MAX),
            any::<u64>()
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (wide(), wide()).prop_map(|(now, bytes)| Op::Sent { now, bytes }),
            (wide(), wide(), wide(), any::<bool>(), wide()).prop_map(
                |(now, sent, bytes, app_limited, rtt_us)| Op::Ack {
                    now,
                    sent,
                    bytes,
                    app_limited,
                    rtt_us
                }
            ),
            wide().prop_map(|now| Op::EndAcks { now }),
            (wide(), wide(), any::<bool>(), wide()).prop_map(|(now, sent, persistent, lost)| {
                Op::Congestion {
                    now,
                    sent,
                    persistent,
                    lost,
                }
            }),
            any::<u16>().prop_map(Op::Mtu),
        ]
    }

    fn drive(factory: &dyn ControllerFactory, mtu: u16, ops: &[Op]) -> Result<(), TestCaseError> {
        let mut cc = factory.build(Instant::ZERO, mtu);
        let mut mtu = mtu;
        let mut rtt = RttEstimator::default();
        for op in ops {
            match *op {
                Op::Sent { now, bytes } => cc.on_sent(at(now), bytes, bytes),
                Op::Ack {
                    now,
                    sent,
                    bytes,
                    app_limited,
                    rtt_us,
                } => {
                    rtt.update(Duration::ZERO, Duration::from_micros(rtt_us));
                    cc.on_ack(at(now), at(sent), bytes, app_limited, &rtt);
                }
                Op::EndAcks { now } => cc.on_end_acks(at(now), 0, false, Some(now)),
                Op::Congestion {
                    now,
                    sent,
                    persistent,
                    lost,
                } => cc.on_congestion_event(at(now), at(sent), persistent, lost),
                Op::Mtu(new) => {
                    mtu = new;
                    cc.on_mtu_update(new);
                }
            }
            prop_assert!(
                cc.window() >= minimum_window(mtu),
                "{} below minimum",
                cc.name()
            );
        }
        let copy = cc.clone();
        prop_assert_eq!(copy.window(), cc.window());
        Ok(())
    }

    proptest! {
        #[test]
        fn new_reno_never_panics_nor_drops_below_minimum(
            mtu in any::<u16>(),
            ops in proptest::collection::vec(op(), 0..128),
        ) {
            drive(&NewRenoConfig::default(), mtu, &ops)?;
            drive(&NewRenoConfig::default().loss_reduction_factor(0.0).initial_window(0), mtu, &ops)?;
        }

        #[test]
        fn veno_never_panics_nor_drops_below_minimum(
            mtu in any::<u16>(),
            ops in proptest::collection::vec(op(), 0..128),
        ) {
            drive(&VenoConfig::default(), mtu, &ops)?;
            drive(&VenoConfig::default().initial_window(u64::MAX), mtu, &ops)?;
        }

        #[test]
        fn cubic_never_panics_nor_drops_below_minimum(
            mtu in any::<u16>(),
            ops in proptest::collection::vec(op(), 0..128),
        ) {
            drive(&CubicConfig::default(), mtu, &ops)?;
            drive(&CubicConfig::default().initial_window(u64::MAX), mtu, &ops)?;
        }
    }
}
