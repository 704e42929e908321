//! Pacing: spreads a congestion window over the round trip instead of sending it at once.
//!
//! A token bucket refilled at `1.25 · window / smoothed_rtt` and holding about 2 ms of
//! that rate (10 to 256 datagrams). It only answers "when may the next datagram go"; it never decides how much
//! may be in flight (the [`Controller`](super::Controller) does) and never reads a clock.
//! All arithmetic is saturating, so zero RTTs, huge windows and time running backwards
//! cannot make it panic.

use core::time::Duration;

use crate::Instant;

/// How long a burst may last at the pacing rate: about 2 ms of sending may leave back to
/// back (quinn sizes its bucket the same way). On long paths that is a small share of the
/// window; on short, fast ones (a LAN, loopback) it lets the sender hand the kernel one
/// large GSO batch per timer wake-up instead of ten packets, since timers there are
/// coarser than the gaps between packets.
const BURST_INTERVAL_US: u128 = 2_000;

/// Fewest full-sized datagrams a burst may hold (bounded by the window too): small enough
/// for shallow router queues, large enough to amortise a wake-up.
const MIN_BURST_PACKETS: u64 = 10;

/// Most full-sized datagrams a burst may hold, however fast the path.
const MAX_BURST_PACKETS: u64 = 256;

/// Token-bucket pacer; one per path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacer {
    /// Bucket size, bytes.
    capacity: u64,
    /// Bytes that may be sent right now.
    tokens: u64,
    /// Credit earned since `prev` that did not yet make a whole byte, as a numerator over
    /// `4 · rtt_us`; kept so slow rates are not starved by frequent polling.
    carry: u128,
    last_window: u64,
    last_mtu: u16,
    last_rtt_us: u64,
    /// When the bucket was last refilled; never moves backwards.
    prev: Instant,
}

impl Pacer {
    /// A pacer for a path starting at `now`, with a full bucket.
    pub fn new(smoothed_rtt: Duration, window: u64, mtu: u16, now: Instant) -> Self {
        let capacity = burst_capacity(window, mtu, micros(smoothed_rtt));
        Self {
            capacity,
            tokens: capacity,
            carry: 0,
            last_window: window,
            last_mtu: mtu,
            last_rtt_us: micros(smoothed_rtt),
            prev: now,
        }
    }

    /// When a datagram of `bytes_to_send` may be sent: `None` for now, or the instant at
    /// which enough tokens will have accrued.
    ///
    /// `window` is the controller's current window and `mtu` the path's datagram size; the
    /// rate is `1.25 · window / smoothed_rtt` (the headroom lets the window fill even when
    /// timers fire late). With no RTT estimate (`smoothed_rtt` below 1 µs) there is nothing
    /// to pace against and sending is allowed at once.
    pub fn delay(
        &mut self,
        smoothed_rtt: Duration,
        bytes_to_send: u64,
        mtu: u16,
        window: u64,
        now: Instant,
    ) -> Option<Instant> {
        let window = window.max(1);
        let rtt_us = micros(smoothed_rtt);
        if window != self.last_window || mtu != self.last_mtu || rtt_us != self.last_rtt_us {
            self.capacity = burst_capacity(window, mtu, rtt_us);
            // A shrinking bucket must not leave a burst larger than itself.
            self.tokens = self.tokens.min(self.capacity);
            self.last_window = window;
            self.last_mtu = mtu;
            self.last_rtt_us = rtt_us;
            self.carry = 0;
        }
        if rtt_us == 0 {
            self.tokens = self.capacity;
            self.prev = self.prev.max(now);
            return None;
        }

        // Refill. Time running backwards earns nothing and leaves `prev` in place, so the
        // same interval is never credited twice.
        let den = u128::from(rtt_us) * 4;
        let per_us = u128::from(window) * 5;
        if now > self.prev {
            let elapsed = u128::from(now.as_micros() - self.prev.as_micros());
            let num = per_us.saturating_mul(elapsed).saturating_add(self.carry);
            let earned = u64::try_from(num / den).unwrap_or(u64::MAX);
            self.carry = num % den;
            self.tokens = self.tokens.saturating_add(earned).min(self.capacity);
            if self.tokens == self.capacity {
                // A full bucket discards further credit, fractions included.
                self.carry = 0;
            }
            self.prev = now;
        }

        // A datagram larger than the bucket would never fit; a full bucket lets it go.
        let need = bytes_to_send.min(self.capacity);
        if self.tokens >= need {
            return None;
        }
        let deficit = u128::from(need - self.tokens);
        let needed = deficit.saturating_mul(den).saturating_sub(self.carry);
        let wait_us = u64::try_from(needed.div_ceil(per_us)).unwrap_or(u64::MAX);
        Some(Instant::from_micros(
            self.prev.as_micros().saturating_add(wait_us),
        ))
    }

    /// `bytes` were just sent; takes them from the bucket.
    pub fn on_transmit(&mut self, bytes: u64) {
        self.tokens = self.tokens.saturating_sub(bytes);
    }

    /// The bucket size in bytes: the largest burst allowed after a quiet spell.
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Bytes that may be sent without waiting, as of the last [`delay`](Self::delay) call.
    pub fn tokens(&self) -> u64 {
        self.tokens
    }
}

/// Bucket size: [`BURST_INTERVAL_US`] of the pacing rate, between [`MIN_BURST_PACKETS`]
/// and [`MAX_BURST_PACKETS`] datagrams; no more than the window rounded up to whole
/// datagrams (the session sends while any of the window is unused, so a window of 4.5
/// datagrams holds five), and at least one datagram so a full-sized packet can always
/// eventually be sent. Without an RTT estimate the rate is unknown: the largest burst.
fn burst_capacity(window: u64, mtu: u16, rtt_us: u64) -> u64 {
    let mtu = u64::from(mtu.max(1));
    let by_time = match rtt_us {
        0 => u64::MAX,
        rtt => u64::try_from(u128::from(window) * 5 * BURST_INTERVAL_US / (4 * u128::from(rtt)))
            .unwrap_or(u64::MAX),
    };
    let whole_window = window.div_ceil(mtu).saturating_mul(mtu);
    by_time
        .clamp(
            mtu.saturating_mul(MIN_BURST_PACKETS),
            mtu.saturating_mul(MAX_BURST_PACKETS),
        )
        .min(whole_window)
        .max(mtu)
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MTU: u16 = 1200;
    const RTT: Duration = Duration::from_millis(100);

    fn at(us: u64) -> Instant {
        Instant::from_micros(us)
    }

    #[test]
    fn burst_is_ten_packets_then_waits() {
        let window = 100 * 1200;
        let mut pacer = Pacer::new(RTT, window, MTU, at(0));
        let mut sent = 0;
        while pacer.delay(RTT, 1200, MTU, window, at(0)).is_none() {
            pacer.on_transmit(1200);
            sent += 1;
            assert!(sent <= 10, "burst exceeded");
        }
        assert_eq!(sent, 10);
        // One packet at 1.25 · 120 000 B / 100 ms = 1.5 B/µs takes 800 µs.
        assert_eq!(pacer.delay(RTT, 1200, MTU, window, at(0)), Some(at(800)));
        assert_eq!(pacer.delay(RTT, 1200, MTU, window, at(799)), Some(at(800)));
        assert_eq!(pacer.delay(RTT, 1200, MTU, window, at(800)), None);
    }

    #[test]
    fn burst_lasts_about_two_milliseconds_of_the_rate() {
        // 20 ms path, 200-datagram window: 1.25 · 240 000 B / 20 ms · 2 ms = 30 000 B.
        let window = 200 * 1200;
        let rtt = Duration::from_millis(20);
        assert_eq!(Pacer::new(rtt, window, MTU, at(0)).capacity(), 30_000);
        // A fast, short path: capped at 256 datagrams.
        let lan = Duration::from_micros(200);
        assert_eq!(
            Pacer::new(lan, 10_000 * 1200, MTU, at(0)).capacity(),
            256 * 1200
        );
        // A long path with a modest window: never under ten datagrams.
        assert_eq!(Pacer::new(RTT, window, MTU, at(0)).capacity(), 10 * 1200);
        // The RTT moving resizes the bucket.
        let mut pacer = Pacer::new(rtt, window, MTU, at(0));
        pacer.delay(Duration::from_millis(10), 1200, MTU, window, at(0));
        assert_eq!(pacer.capacity(), 60_000);
    }

    #[test]
    fn burst_is_bounded_by_small_window() {
        let window = 3 * 1200;
        let mut pacer = Pacer::new(RTT, window, MTU, at(0));
        assert_eq!(pacer.capacity(), 3_600);
        let mut pacer2 = Pacer::new(RTT, 1_000_000, MTU, at(0));
        // The window shrinking drains the bucket down to the new capacity.
        pacer2.delay(RTT, 1200, MTU, window, at(0));
        assert_eq!(pacer2.tokens(), 3_600);
        pacer.on_transmit(3_600);
        assert!(pacer.delay(RTT, 1200, MTU, window, at(0)).is_some());
    }

    #[test]
    fn burst_holds_a_fractional_window_rounded_up() {
        // 4.5 datagrams of window: the session keeps five in flight (it sends while any
        // window is unused), so the bucket must let five leave together after a quiet
        // spell, not hold the fifth back for half a datagram of tokens.
        let window = 5_400;
        let mut pacer = Pacer::new(RTT, window, MTU, at(0));
        assert_eq!(pacer.capacity(), 6_000);
        for _ in 0..5 {
            assert_eq!(pacer.delay(RTT, 1200, MTU, window, at(0)), None);
            pacer.on_transmit(1200);
        }
        assert!(pacer.delay(RTT, 1200, MTU, window, at(0)).is_some());
    }

    #[test]
    fn spreads_a_window_over_rtt_divided_by_1_25() {
        let window: u64 = 100 * 1200;
        let mut pacer = Pacer::new(RTT, window, MTU, at(0));
        let mut now = at(0);
        let mut sent = 0;
        while sent < window {
            match pacer.delay(RTT, 1200, MTU, window, now) {
                None => {
                    pacer.on_transmit(1200);
                    sent += 1200;
                }
                Some(next) => {
                    assert!(next > now);
                    now = next;
                }
            }
        }
        // The burst leaves at once; the other 90 packets take 90 % of RTT / 1.25 = 72 ms.
        assert_eq!(now, at(72_000));
    }

    #[test]
    fn slow_rates_are_not_starved_by_frequent_polls() {
        // 2 400 B per second: 0.003 B/µs, far below one byte per poll.
        let rtt = Duration::from_secs(1);
        let window = 2 * 1200;
        let mut pacer = Pacer::new(rtt, window, MTU, at(0));
        pacer.on_transmit(2_400);
        let mut now = 0;
        while pacer.delay(rtt, 1200, MTU, window, at(now)).is_some() {
            now += 7;
        }
        // 1200 B at 3 000 B/s = 400 ms; polling every 7 µs loses nothing.
        assert!((400_000..400_007).contains(&now), "ready at {now}");
    }

    #[test]
    fn zero_rtt_does_not_pace() {
        let mut pacer = Pacer::new(Duration::ZERO, 120_000, MTU, at(0));
        for _ in 0..1_000 {
            assert_eq!(pacer.delay(Duration::ZERO, 1200, MTU, 120_000, at(5)), None);
            pacer.on_transmit(1200);
        }
        assert_eq!(
            pacer.delay(Duration::from_nanos(999), 1200, MTU, 120_000, at(5)),
            None
        );
    }

    #[test]
    fn time_going_backwards_earns_nothing() {
        let window = 100 * 1200;
        let mut pacer = Pacer::new(RTT, window, MTU, at(10_000));
        pacer.on_transmit(12_000);
        let first = pacer.delay(RTT, 1200, MTU, window, at(10_000));
        assert_eq!(first, Some(at(10_800)));
        assert_eq!(pacer.delay(RTT, 1200, MTU, window, at(5)), first);
        assert_eq!(pacer.delay(RTT, 1200, MTU, window, at(10_800)), None);
    }

    #[test]
    fn extreme_inputs() {
        let mut pacer = Pacer::new(Duration::MAX, u64::MAX, u16::MAX, at(u64::MAX));
        assert_eq!(pacer.capacity(), 655_350);
        pacer.on_transmit(u64::MAX);
        let next = pacer.delay(Duration::MAX, u64::MAX, u16::MAX, u64::MAX, at(u64::MAX));
        assert_eq!(next, Some(at(u64::MAX)));
        let mut pacer = Pacer::new(Duration::from_micros(1), u64::MAX, 0, at(0));
        pacer.on_transmit(u64::MAX);
        assert_eq!(
            pacer.delay(Duration::from_micros(1), 1, 0, u64::MAX, at(u64::MAX)),
            None
        );
        let mut pacer = Pacer::new(RTT, 0, 0, at(0));
        pacer.on_transmit(1);
        assert_eq!(pacer.delay(RTT, 1, 0, 0, at(0)), Some(at(80_000)));
    }

    proptest! {
        #[test]
        fn pacer_never_panics_and_bucket_stays_bounded(
            ops in proptest::collection::vec(
                (any::<u64>(), any::<u64>(), any::<u16>(), any::<u64>(), any::<u64>(), any::<bool>()),
                1..64,
            )
        ) {
            let mut pacer = Pacer::new(RTT, 12_000, MTU, at(0));
            for (rtt_us, bytes, mtu, window, now, transmit) in ops {
                // Mix tiny and huge values: uniform u64s are almost always huge.
                let rtt = Duration::from_micros(rtt_us % 4 * (rtt_us >> 40));
                let now = at(now >> (now % 64));
                let next = pacer.delay(rtt, bytes >> (bytes % 64), mtu, window >> (window % 64), now);
                prop_assert!(pacer.tokens() <= pacer.capacity());
                if let Some(next) = next {
                    prop_assert!(next > now || next.as_micros() == u64::MAX);
                }
                if transmit {
                    pacer.on_transmit(bytes % 2_000);
                }
            }
        }
    }
}
