//! Receive-side packet tracking: which packet numbers arrived and when an ACK is owed.
//!
//! Owns the bounded set of received ranges (at most [`MAX_ACK_RANGES`]) and the ACK
//! timer (RFC 9000 §13.2). It neither sends nor decides loss; it only answers "what
//! would the next ACK frame say, and is one due".

use crate::frame::{AckFrame, AckRange, Frame, MAX_ACK_RANGES, Writer};
use crate::range_set::RangeSet;
use crate::time::Instant;
use core::time::Duration;

/// What [`AckTracker::write_frame`] put in a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AckWritten {
    /// The largest packet number acknowledged.
    pub largest: u64,
    /// Every received range fitted (a truncated frame leaves out the lowest ones).
    pub complete: bool,
}

/// Received packet numbers and the ACK obligation they create.
#[derive(Debug, Clone, Default)]
pub struct AckTracker {
    received: RangeSet,
    largest: Option<(u64, Instant)>,
    eliciting_unacked: u32,
    deadline: Option<Instant>,
    immediate: bool,
    /// Ack-eliciting packets still to be acknowledged one by one after a gap.
    quick_acks: u8,
    /// When the current round (one smoothed RTT) of arrivals began.
    round_start: Instant,
    /// Ack-eliciting packets received in the current round.
    round_count: u32,
    /// The last whole round held at least [`LARGE_FLIGHT`] ack-eliciting packets.
    large_flight: bool,
}

/// Ack-eliciting packets per RTT from which every second packet is acknowledged;
/// smaller flights are acknowledged packet by packet, since each ACK then moves a
/// sender's clock by a large share of its window and costs little.
const LARGE_FLIGHT: u32 = 32;

/// Packets acknowledged individually after a gap. A sender that just lost a packet has
/// a small window and every ACK moves its clock; bulk transfers without loss keep the
/// every-second-packet rhythm.
const QUICK_ACKS_AFTER_GAP: u8 = 32;

impl AckTracker {
    /// Records an authenticated packet. `rtt` is the smoothed RTT: an ACK is held back
    /// at most a quarter of it (at least 1 ms, at most `max_ack_delay`).
    pub fn on_packet(
        &mut self,
        now: Instant,
        pn: u64,
        ack_eliciting: bool,
        threshold: u32,
        rtt: Duration,
        max_ack_delay: Duration,
    ) {
        let out_of_order = matches!(self.largest, Some((largest, _)) if pn < largest)
            || matches!(self.largest, Some((largest, _)) if pn > largest + 1);
        self.received.insert(pn..pn + 1);
        self.received.pop_front_limit(MAX_ACK_RANGES);
        if self.largest.is_none_or(|(largest, _)| pn > largest) {
            self.largest = Some((pn, now));
        }
        if !ack_eliciting {
            return;
        }
        self.eliciting_unacked += 1;
        if now.saturating_duration_since(self.round_start) >= rtt {
            self.large_flight = self.round_count >= LARGE_FLIGHT;
            self.round_start = now;
            self.round_count = 0;
        }
        self.round_count = self.round_count.saturating_add(1);
        // Gaps are news the sender needs at once to recover quickly (RFC 9000 §13.2.1),
        // and the packets after one are acknowledged at once too.
        if out_of_order {
            self.quick_acks = QUICK_ACKS_AFTER_GAP;
            self.immediate = true;
        } else if self.quick_acks > 0 {
            self.quick_acks -= 1;
            self.immediate = true;
        } else if !self.large_flight || self.eliciting_unacked >= threshold {
            self.immediate = true;
        } else if self.deadline.is_none() {
            let delay = (rtt / 4).max(Duration::from_millis(1)).min(max_ack_delay);
            self.deadline = Some(now + delay);
        }
    }

    /// True if an ACK must be sent now.
    pub fn ack_due(&self, now: Instant) -> bool {
        !self.received.is_empty() && (self.immediate || self.deadline.is_some_and(|d| d <= now))
    }

    /// True if an ACK would say anything (used to piggyback ACKs on other packets).
    pub fn has_unacked(&self) -> bool {
        self.eliciting_unacked > 0
    }

    /// When the delayed-ACK timer fires, if armed.
    pub fn timeout(&self) -> Option<Instant> {
        self.deadline.filter(|_| !self.received.is_empty())
    }

    /// Builds the ACK frame into `scratch` (highest range first), or `None` if nothing
    /// was received yet.
    pub fn frame<'a>(
        &self,
        now: Instant,
        scratch: &'a mut [AckRange; MAX_ACK_RANGES],
    ) -> Option<AckFrame<'a>> {
        let (_, largest_time) = self.largest?;
        let mut n = 0;
        for r in self.received.iter().rev().take(MAX_ACK_RANGES) {
            scratch[n] = AckRange {
                smallest: r.start,
                largest: r.end - 1,
            };
            n += 1;
        }
        let delay = now.saturating_duration_since(largest_time);
        let delay = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        AckFrame::new(delay.min(crate::frame::varint::MAX), &scratch[..n]).ok()
    }

    /// Writes the ACK frame into `w` if anything was received, in at most `limit`
    /// bytes (and what `w` has left): the highest ranges that fit, never a partial
    /// frame. Returns the largest packet number it acknowledges and whether every
    /// range fitted. The range scratch lives only in this call, so packets without an
    /// ACK never pay for it.
    pub fn write_frame(
        &self,
        now: Instant,
        w: &mut Writer<'_>,
        limit: usize,
    ) -> Option<AckWritten> {
        let mut scratch = [AckRange {
            smallest: 0,
            largest: 0,
        }; MAX_ACK_RANGES];
        let full = self.frame(now, &mut scratch)?;
        let limit = limit.min(w.remaining());
        let delay = full.ack_delay;
        let count = full.ranges().count();
        // Dropping the lowest ranges first: the newest arrivals matter most to the
        // sender's loss detection, and the dropped ones are repeated next time.
        let mut n = count;
        let ack = loop {
            let ack = AckFrame::new(delay, &scratch[..n]).ok()?;
            if ack.encoded_len().ok()? <= limit {
                break ack;
            }
            n = n.checked_sub(1).filter(|&n| n > 0)?;
        };
        let start = w.position();
        if Frame::Ack(ack).write(w).is_err() {
            w.rewind(start);
            return None;
        }
        Some(AckWritten {
            largest: ack.largest(),
            complete: n == count,
        })
    }

    /// The largest packet number received so far.
    pub fn largest(&self) -> Option<u64> {
        self.largest.map(|(pn, _)| pn)
    }

    /// An ACK frame went out: the obligation is met.
    pub fn on_ack_sent(&mut self) {
        self.eliciting_unacked = 0;
        self.deadline = None;
        self.immediate = false;
    }

    /// The peer acknowledged a packet of ours that carried an ACK up to `largest`: it
    /// knows about everything up to there, so those ranges need not be repeated.
    pub fn on_ack_acked(&mut self, largest: u64) {
        self.received.remove(0..largest.saturating_add(1));
        if self.received.is_empty() {
            // Nothing left to report: whatever was owed has been delivered.
            self.on_ack_sent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DELAY: Duration = Duration::from_millis(25);
    const RTT: Duration = Duration::from_millis(400);

    /// A tracker that has seen a large flight, so it acknowledges every second packet.
    fn bulk() -> AckTracker {
        AckTracker {
            large_flight: true,
            round_start: Instant::ZERO,
            ..AckTracker::default()
        }
    }

    #[test]
    fn second_eliciting_packet_acks_at_once() {
        let mut t = bulk();
        let now = Instant::ZERO;
        t.on_packet(now, 0, true, 2, RTT, DELAY);
        assert!(!t.ack_due(now));
        assert_eq!(t.timeout(), Some(now + DELAY));
        t.on_packet(now, 1, true, 2, RTT, DELAY);
        assert!(t.ack_due(now));
    }

    #[test]
    fn small_flights_are_acked_packet_by_packet_until_a_large_round() {
        let mut t = AckTracker::default();
        let rtt = Duration::from_millis(20);
        let mut now = Instant::ZERO;
        let mut pn = 0;
        // One round of LARGE_FLIGHT packets, each acknowledged at once.
        for _ in 0..LARGE_FLIGHT {
            t.on_packet(now, pn, true, 2, rtt, DELAY);
            assert!(t.ack_due(now), "packet {pn} of a small flight");
            t.on_ack_sent();
            pn += 1;
            now = now + Duration::from_micros(100);
        }
        // The next round starts: the last one was large, so every second packet.
        now = now + rtt;
        t.on_packet(now, pn, true, 2, rtt, DELAY);
        assert!(!t.ack_due(now));
        assert_eq!(t.timeout(), Some(now + rtt / 4), "held a quarter RTT");
        t.on_packet(now, pn + 1, true, 2, rtt, DELAY);
        assert!(t.ack_due(now));
    }

    #[test]
    fn packets_after_a_gap_are_acked_one_by_one_then_every_second() {
        let mut t = bulk();
        let now = Instant::ZERO;
        t.on_packet(now, 0, true, 2, RTT, DELAY);
        t.on_packet(now, 2, true, 2, RTT, DELAY);
        assert!(t.ack_due(now));
        t.on_ack_sent();
        for pn in 3..3 + u64::from(QUICK_ACKS_AFTER_GAP) {
            t.on_packet(now, pn, true, 2, RTT, DELAY);
            assert!(t.ack_due(now), "packet {pn} after the gap");
            t.on_ack_sent();
        }
        let next = 3 + u64::from(QUICK_ACKS_AFTER_GAP);
        t.on_packet(now, next, true, 2, RTT, DELAY);
        assert!(!t.ack_due(now), "back to every second packet");
        t.on_packet(now, next + 1, true, 2, RTT, DELAY);
        assert!(t.ack_due(now));
    }

    #[test]
    fn gap_acks_at_once_and_frame_lists_ranges() {
        let mut t = AckTracker::default();
        let now = Instant::ZERO;
        t.on_packet(now, 0, true, 10, RTT, DELAY);
        t.on_packet(now, 2, true, 10, RTT, DELAY);
        assert!(t.ack_due(now));
        let mut scratch = [AckRange {
            smallest: 0,
            largest: 0,
        }; MAX_ACK_RANGES];
        let frame = t.frame(now, &mut scratch).unwrap();
        let ranges: alloc::vec::Vec<_> = frame.ranges().collect();
        assert_eq!(
            ranges,
            [
                AckRange {
                    smallest: 2,
                    largest: 2
                },
                AckRange {
                    smallest: 0,
                    largest: 0
                }
            ]
        );
        t.on_ack_sent();
        assert!(!t.ack_due(now));
        t.on_ack_acked(2);
        assert!(t.frame(now, &mut scratch).is_none());
    }

    #[test]
    fn ranges_stay_bounded() {
        let mut t = AckTracker::default();
        for pn in 0..1000 {
            t.on_packet(Instant::ZERO, pn * 2, false, 2, RTT, DELAY);
        }
        let mut scratch = [AckRange {
            smallest: 0,
            largest: 0,
        }; MAX_ACK_RANGES];
        let frame = t.frame(Instant::ZERO, &mut scratch).unwrap();
        assert_eq!(frame.ranges().count(), MAX_ACK_RANGES);
        assert_eq!(frame.largest(), 1998);
    }

    #[test]
    fn write_frame_keeps_the_highest_ranges_that_fit_and_never_writes_part_of_a_frame() {
        let mut t = AckTracker::default();
        for pn in 0..40 {
            t.on_packet(Instant::ZERO, pn * 2, false, 2, RTT, DELAY);
        }
        let mut buf = [0xAAu8; 256];
        // Everything fits.
        let mut w = Writer::new(&mut buf);
        let all = t.write_frame(Instant::ZERO, &mut w, 256).unwrap();
        assert_eq!((all.largest, all.complete), (78, true));
        let full_len = w.position();
        match Frame::decode_exact(&buf[..full_len]) {
            Ok(Frame::Ack(ack)) => {
                let ranges: alloc::vec::Vec<_> =
                    ack.ranges().map(|r| (r.smallest, r.largest)).collect();
                // Every range, down to the lowest.
                assert_eq!(ranges.len(), 40);
                assert_eq!(ranges.last(), Some(&(0, 0)));
            }
            other => panic!("not an ACK frame: {other:?}"),
        }
        let mut scratch = [AckRange {
            smallest: 0,
            largest: 0,
        }; MAX_ACK_RANGES];
        let frame = t.frame(Instant::ZERO, &mut scratch).unwrap();
        let lowest = frame.ranges().last().map(|r| (r.smallest, r.largest));
        assert_eq!((frame.ranges().count(), lowest), (40, Some((0, 0))));
        // 40 bytes: the highest ranges only, a whole frame that decodes.
        let mut w = Writer::new(&mut buf);
        let part = t.write_frame(Instant::ZERO, &mut w, 40).unwrap();
        assert_eq!((part.largest, part.complete), (78, false));
        let len = w.position();
        assert!(len <= 40 && len < full_len, "{len} bytes");
        match Frame::decode_exact(&buf[..len]) {
            Ok(Frame::Ack(ack)) => {
                let ranges: alloc::vec::Vec<_> =
                    ack.ranges().map(|r| (r.smallest, r.largest)).collect();
                assert!(ranges.len() > 1 && ranges.len() < 40);
                assert_eq!(ranges[0], (78, 78));
                assert_eq!(ranges[1], (76, 76));
            }
            other => panic!("not an ACK frame: {other:?}"),
        }
        // No room even for one range: nothing is written at all.
        let mut small = [0xAAu8; 3];
        let mut w = Writer::new(&mut small);
        assert!(t.write_frame(Instant::ZERO, &mut w, 3).is_none());
        assert_eq!(w.position(), 0);
        assert_eq!(small, [0xAA; 3]);
    }
}
