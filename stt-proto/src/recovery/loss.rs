//! Send-side packet tracking and loss detection (RFC 9002 §6 as the guide).
//!
//! Owns the packets in flight, keyed by packet number in a ring, the largest
//! acknowledged number, the loss timer, the probe-timeout backoff and the reordering
//! thresholds, which grow when a packet declared lost is acknowledged after all. It does not know
//! what a packet carried beyond an opaque `info` value the session attaches, and it
//! never touches congestion state: the session feeds outcomes to the controller.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use super::RttEstimator;
use crate::time::Instant;

/// Reordering threshold in packets before an unacknowledged packet counts as lost, until
/// reordering is seen (RFC 9002 §6.1.1 `kPacketThreshold`).
pub const PACKET_THRESHOLD: u64 = 3;

/// The packet threshold never grows past this, so a hostile or broken path cannot stop
/// packet-threshold loss detection altogether (the time threshold still applies).
pub const MAX_PACKET_THRESHOLD: u64 = 32;

/// The time threshold in eighths of an RTT: 9/8 as RFC 9002 §6.1.2 starts, up to 2 RTTs
/// after repeated spurious losses (RACK's growing reordering window, RFC 8985 §6.2).
const TIME_THRESHOLD_EIGHTHS: (u32, u32) = (9, 16);

/// How many recently declared-lost packets are remembered to spot a spurious loss.
const RECENT_LOST: usize = 8;

/// RFC 9002 §7.6: losses spanning more than three probe timeouts (first to last
/// ack-eliciting packet lost, `pto` without backoff) are persistent congestion.
pub fn is_persistent_congestion(first_sent: Instant, last_sent: Instant, pto: Duration) -> bool {
    last_sent.saturating_duration_since(first_sent) > pto.saturating_mul(3)
}

/// One packet in flight.
#[derive(Debug, Clone)]
pub struct SentPacket<I> {
    /// When it was sent.
    pub time_sent: Instant,
    /// Bytes on the wire.
    pub size: u16,
    /// True if it obliges the peer to acknowledge.
    pub ack_eliciting: bool,
    /// What the session needs to know about its contents on ack or loss.
    pub info: I,
}

/// An ACK acknowledged a packet number this side never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("peer acknowledged packet {0}, which was never sent")]
pub struct UnsentPacketAcked(pub u64);

/// Ack-eliciting packets in flight and the loss-detection timers over them. Packets
/// that elicit no ACK (pure ACKs) only advance the packet number.
#[derive(Debug, Clone)]
pub struct SentPackets<I> {
    /// Packet number of `ring[0]`.
    base: u64,
    /// Next packet number to be sent.
    next: u64,
    ring: VecDeque<Option<SentPacket<I>>>,
    bytes_in_flight: u64,
    ack_eliciting_in_flight: u64,
    largest_acked: Option<u64>,
    last_ack_eliciting: Option<Instant>,
    loss_time: Option<Instant>,
    pto_count: u32,
    /// Current packet threshold; raised when a packet declared lost is acknowledged.
    packet_threshold: u64,
    /// Current time threshold, eighths of an RTT.
    time_eighths: u32,
    /// Recently declared-lost packets: (packet number, largest acknowledged then).
    recent_lost: [(u64, u64); RECENT_LOST],
    recent_len: usize,
    /// Packets declared lost and later acknowledged (spurious losses), in total.
    spurious: u64,
}

impl<I> Default for SentPackets<I> {
    fn default() -> Self {
        Self {
            base: 0,
            next: 0,
            ring: VecDeque::new(),
            bytes_in_flight: 0,
            ack_eliciting_in_flight: 0,
            largest_acked: None,
            last_ack_eliciting: None,
            loss_time: None,
            pto_count: 0,
            packet_threshold: PACKET_THRESHOLD,
            time_eighths: TIME_THRESHOLD_EIGHTHS.0,
            recent_lost: [(0, 0); RECENT_LOST],
            recent_len: 0,
            spurious: 0,
        }
    }
}

impl<I> SentPackets<I> {
    /// Records a sent packet. Packet numbers must be sent in increasing order; skipped
    /// numbers are allowed and can never be acknowledged.
    pub fn on_sent(&mut self, pn: u64, packet: SentPacket<I>) {
        if self.ring.is_empty() {
            self.base = pn;
        }
        while self.base + (self.ring.len() as u64) < pn {
            self.ring.push_back(None);
        }
        self.next = pn + 1;
        if !packet.ack_eliciting {
            // Never acknowledged for its own sake and never retransmitted: tracking it
            // would pin the ring (a receiver that only sends ACKs would grow it forever).
            self.ring.push_back(None);
            self.trim();
            return;
        }
        self.bytes_in_flight += u64::from(packet.size);
        self.ack_eliciting_in_flight += 1;
        self.last_ack_eliciting = Some(packet.time_sent);
        self.ring.push_back(Some(packet));
    }

    /// Bytes of ack-eliciting packets in flight (what congestion control counts).
    pub fn bytes_in_flight(&self) -> u64 {
        self.bytes_in_flight
    }

    /// True while an ack-eliciting packet is unacknowledged.
    pub fn has_ack_eliciting_in_flight(&self) -> bool {
        self.ack_eliciting_in_flight > 0
    }

    /// The largest packet number the peer acknowledged.
    #[cfg(test)]
    pub fn largest_acked(&self) -> Option<u64> {
        self.largest_acked
    }

    /// Consecutive probe timeouts without an ACK.
    pub fn pto_count(&self) -> u32 {
        self.pto_count
    }

    fn take(&mut self, pn: u64) -> Option<SentPacket<I>> {
        let idx = pn.checked_sub(self.base)?;
        let packet = self.ring.get_mut(usize::try_from(idx).ok()?)?.take()?;
        if packet.ack_eliciting {
            self.bytes_in_flight -= u64::from(packet.size);
            self.ack_eliciting_in_flight -= 1;
        }
        Some(packet)
    }

    fn trim(&mut self) {
        while let Some(None) = self.ring.front() {
            self.ring.pop_front();
            self.base += 1;
        }
    }

    /// Frees the ring's memory if nothing is in flight: called from timers, not per
    /// packet, so a busy session keeps its capacity and an idle one costs little.
    pub fn release_if_idle(&mut self) {
        if self.ring.is_empty() && self.ring.capacity() > 0 {
            self.ring = VecDeque::new();
        }
    }

    /// Applies one ACK frame's ranges (each `smallest..=largest`): newly acknowledged
    /// packets are appended to `acked` (ascending within a range). Fails, changing
    /// nothing, if any range covers a packet number never sent.
    pub fn on_ack(
        &mut self,
        ranges: impl Iterator<Item = (u64, u64)> + Clone,
        acked: &mut Vec<(u64, SentPacket<I>)>,
    ) -> Result<(), UnsentPacketAcked> {
        if let Some((_, largest)) = ranges.clone().find(|&(_, largest)| largest >= self.next) {
            return Err(UnsentPacketAcked(largest));
        }
        let mut spurious = false;
        for (smallest, largest) in ranges {
            spurious |= self.note_spurious(smallest, largest);
            let lo = smallest.max(self.base);
            let hi = largest.min(self.next.saturating_sub(1));
            if lo > hi || self.ring.is_empty() {
                continue;
            }
            for pn in lo..=hi {
                if let Some(p) = self.take(pn) {
                    acked.push((pn, p));
                }
            }
        }
        if let Some(largest) = acked.iter().map(|(pn, _)| *pn).max()
            && self.largest_acked.is_none_or(|l| largest > l)
        {
            self.largest_acked = Some(largest);
        }
        if !acked.is_empty() || spurious {
            self.pto_count = 0;
        }
        self.trim();
        Ok(())
    }

    /// Checks one acknowledged range against the recently lost packets. A packet declared
    /// lost and acknowledged after all was only reordered (or its ACK was late): the
    /// thresholds grow so the same reordering is not taken for loss again (RFC 8985 §6.2;
    /// Linux and quinn adapt the same way). True if any was found.
    fn note_spurious(&mut self, smallest: u64, largest: u64) -> bool {
        let mut found = false;
        let mut i = 0;
        while i < self.recent_len {
            let (pn, largest_then) = self.recent_lost[i];
            if pn >= smallest && pn <= largest {
                found = true;
                self.spurious = self.spurious.saturating_add(1);
                let distance = largest_then.saturating_sub(pn).saturating_add(1);
                self.packet_threshold = self
                    .packet_threshold
                    .max(distance)
                    .min(MAX_PACKET_THRESHOLD);
                self.time_eighths = (self.time_eighths + 1).min(TIME_THRESHOLD_EIGHTHS.1);
                self.recent_len -= 1;
                self.recent_lost[i] = self.recent_lost[self.recent_len];
            } else {
                i += 1;
            }
        }
        found
    }

    fn remember_lost(&mut self, pn: u64, largest: u64) {
        if self.recent_len == RECENT_LOST {
            // Forget the oldest (smallest packet number) to make room.
            let oldest = (0..RECENT_LOST)
                .min_by_key(|&i| self.recent_lost[i].0)
                .unwrap_or(0);
            self.recent_lost[oldest] = (pn, largest);
        } else {
            self.recent_lost[self.recent_len] = (pn, largest);
            self.recent_len += 1;
        }
    }

    /// The current packet threshold (starts at [`PACKET_THRESHOLD`], grows on reordering).
    #[cfg(test)]
    pub fn packet_threshold(&self) -> u64 {
        self.packet_threshold
    }

    /// Packets declared lost that the peer acknowledged later (spurious losses).
    pub fn spurious_losses(&self) -> u64 {
        self.spurious
    }

    /// Declares lost every packet below the largest acknowledged that is past the
    /// packet or time threshold, appending them to `lost`, and re-arms the loss timer.
    pub fn detect_lost(
        &mut self,
        now: Instant,
        rtt: &RttEstimator,
        lost: &mut Vec<(u64, SentPacket<I>)>,
    ) {
        self.loss_time = None;
        let Some(largest) = self.largest_acked else {
            return;
        };
        let delay = rtt.loss_delay(self.time_eighths);
        let end = largest.min(self.next.saturating_sub(1));
        // Early retransmit (RFC 5827, as RACK does it): when everything sent after a packet
        // has been acknowledged, no later ACK can ever reach the packet threshold, so with
        // no reordering seen on this path the gap is a loss now, not after the timer.
        let all_later_acked = self.spurious == 0
            && largest.saturating_add(1) >= self.next
            && self.ack_eliciting_in_flight < PACKET_THRESHOLD + 1;
        let mut pn = self.base;
        while pn < end.saturating_add(1) && pn <= largest {
            let idx = (pn - self.base) as usize;
            if let Some(Some(p)) = self.ring.get(idx) {
                if pn.saturating_add(self.packet_threshold) <= largest
                    || p.time_sent + delay <= now
                    || (all_later_acked && pn < largest)
                {
                    if let Some(p) = self.take(pn) {
                        self.remember_lost(pn, largest);
                        lost.push((pn, p));
                    }
                } else {
                    let at = p.time_sent + delay;
                    self.loss_time = Some(self.loss_time.map_or(at, |t| t.min(at)));
                }
            }
            pn += 1;
        }
        self.trim();
    }

    /// The loss timer (time-threshold loss), if armed.
    pub fn loss_time(&self) -> Option<Instant> {
        self.loss_time
    }

    /// When the probe timeout fires, if anything ack-eliciting is in flight.
    pub fn pto_deadline(&self, rtt: &RttEstimator, max_ack_delay: Duration) -> Option<Instant> {
        if !self.has_ack_eliciting_in_flight() {
            return None;
        }
        let base = rtt.pto_base() + max_ack_delay;
        let backoff = base.saturating_mul(1u32 << self.pto_count.min(16));
        Some(self.last_ack_eliciting? + backoff)
    }

    /// The probe timer fired: back off.
    pub fn on_pto(&mut self) {
        self.pto_count = self.pto_count.saturating_add(1);
    }

    /// The oldest packet still in flight, if any (a probe re-sends its contents).
    pub fn oldest_in_flight(&self) -> Option<(u64, &SentPacket<I>)> {
        self.ring
            .iter()
            .enumerate()
            .find_map(|(i, p)| p.as_ref().map(|p| (self.base + i as u64, p)))
    }

    /// Drops every packet (the session closed): returns nothing, frees memory.
    pub fn clear(&mut self) {
        self.ring.clear();
        self.bytes_in_flight = 0;
        self.ack_eliciting_in_flight = 0;
        self.loss_time = None;
    }

    /// Packets tracked (in flight or awaiting trim).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(t: u64) -> SentPacket<()> {
        SentPacket {
            time_sent: Instant(t),
            size: 1000,
            ack_eliciting: true,
            info: (),
        }
    }

    #[test]
    fn ack_and_packet_threshold_loss() {
        let mut s = SentPackets::default();
        for pn in 0..10 {
            s.on_sent(pn, packet(pn));
        }
        assert_eq!(s.bytes_in_flight(), 10_000);
        let mut acked = Vec::new();
        s.on_ack([(5u64, 9u64)].into_iter(), &mut acked).unwrap();
        assert_eq!(acked.len(), 5);
        assert_eq!(s.largest_acked(), Some(9));
        let rtt = RttEstimator::new(Duration::from_millis(100));
        let mut lost = Vec::new();
        s.detect_lost(Instant(10), &rtt, &mut lost);
        let lost_pns: Vec<u64> = lost.iter().map(|(pn, _)| *pn).collect();
        assert_eq!(lost_pns, [0, 1, 2, 3, 4]);
        assert_eq!(s.bytes_in_flight(), 0);
        assert!(s.is_empty());
    }

    #[test]
    fn persistent_congestion_needs_more_than_three_ptos() {
        let pto = Duration::from_millis(100);
        let at = |ms: u64| Instant(ms * 1000);
        assert!(!is_persistent_congestion(at(0), at(34), pto));
        assert!(!is_persistent_congestion(at(0), at(100), pto));
        assert!(!is_persistent_congestion(at(0), at(300), pto));
        assert!(is_persistent_congestion(at(0), at(301), pto));
        assert!(!is_persistent_congestion(at(500), at(0), pto));
    }

    #[test]
    fn probe_timeout_doubles_per_consecutive_timeout_and_resets_on_ack() {
        let mut s = SentPackets::default();
        let rtt = RttEstimator::new(Duration::from_millis(100));
        let delay = Duration::from_millis(25);
        assert_eq!(s.pto_deadline(&rtt, delay), None, "nothing in flight");
        s.on_sent(0, packet(0));
        let base = rtt.pto_base() + delay;
        assert_eq!(s.pto_deadline(&rtt, delay), Some(Instant(0) + base));
        s.on_pto();
        assert_eq!(s.pto_count(), 1);
        assert_eq!(s.pto_deadline(&rtt, delay), Some(Instant(0) + base * 2));
        s.on_pto();
        s.on_pto();
        assert_eq!(s.pto_deadline(&rtt, delay), Some(Instant(0) + base * 8));
        // A probe sent later restarts the clock from that send, still backed off.
        s.on_sent(1, packet(5_000));
        assert_eq!(s.pto_deadline(&rtt, delay), Some(Instant(5_000) + base * 8));
        let mut acked = Vec::new();
        s.on_ack([(1u64, 1u64)].into_iter(), &mut acked).unwrap();
        assert_eq!(s.pto_count(), 0);
        assert_eq!(s.pto_deadline(&rtt, delay), Some(Instant(5_000) + base));
        // Everything acknowledged: no probe timer at all.
        s.on_ack([(0u64, 0u64)].into_iter(), &mut acked).unwrap();
        assert!(!s.has_ack_eliciting_in_flight());
        assert_eq!(s.pto_deadline(&rtt, delay), None);
    }

    #[test]
    fn skipped_packet_numbers_keep_the_others_in_place() {
        let mut s = SentPackets::default();
        s.on_sent(0, packet(0));
        // 1 and 2 are skipped (never sent); 3 must still be found as 3.
        s.on_sent(3, packet(30));
        let mut acked = Vec::new();
        s.on_ack([(1u64, 2u64)].into_iter(), &mut acked).unwrap();
        assert!(acked.is_empty(), "skipped numbers acknowledged a packet");
        s.on_ack([(3u64, 3u64)].into_iter(), &mut acked).unwrap();
        assert_eq!(acked.len(), 1);
        assert_eq!((acked[0].0, acked[0].1.time_sent), (3, Instant(30)));
        assert_eq!(s.bytes_in_flight(), 1000);
    }

    #[test]
    fn idle_release_frees_the_ring_only_when_nothing_is_tracked() {
        let mut s = SentPackets::default();
        s.on_sent(0, packet(0));
        s.on_sent(1, packet(1));
        s.release_if_idle();
        assert_eq!(s.len(), 2, "released a ring with packets in flight");
        assert!(s.oldest_in_flight().is_some());
        let mut acked = Vec::new();
        s.on_ack([(0u64, 1u64)].into_iter(), &mut acked).unwrap();
        assert!(s.is_empty() && s.ring.capacity() > 0);
        s.release_if_idle();
        assert_eq!(s.ring.capacity(), 0);
    }

    #[test]
    fn ack_of_unsent_is_refused_without_change() {
        let mut s = SentPackets::default();
        s.on_sent(0, packet(0));
        let mut acked = Vec::new();
        assert_eq!(
            s.on_ack([(0u64, 5u64)].into_iter(), &mut acked),
            Err(UnsentPacketAcked(5))
        );
        assert!(acked.is_empty());
        assert_eq!(s.bytes_in_flight(), 1000);
    }

    #[test]
    fn time_threshold_arms_loss_timer() {
        let mut s = SentPackets::default();
        s.on_sent(0, packet(0));
        s.on_sent(1, packet(1_000));
        // Still in flight, so early retransmit does not apply to packet 0.
        s.on_sent(2, packet(1_500));
        let mut acked = Vec::new();
        s.on_ack([(1u64, 1u64)].into_iter(), &mut acked).unwrap();
        let rtt = RttEstimator::new(Duration::from_millis(100));
        let mut lost = Vec::new();
        s.detect_lost(Instant(2_000), &rtt, &mut lost);
        assert!(lost.is_empty());
        let t = s.loss_time().unwrap();
        s.detect_lost(t, &rtt, &mut lost);
        assert_eq!(lost.len(), 1);
    }

    #[test]
    fn spurious_loss_raises_the_packet_threshold() {
        let mut s = SentPackets::default();
        for pn in 0..20 {
            s.on_sent(pn, packet(pn));
        }
        let rtt = RttEstimator::new(Duration::from_millis(100));
        let mut acked = Vec::new();
        let mut lost = Vec::new();
        // 0 is reordered: 1..=5 are acknowledged first and 0 is declared lost...
        s.on_ack([(1u64, 5u64)].into_iter(), &mut acked).unwrap();
        s.detect_lost(Instant(10), &rtt, &mut lost);
        assert_eq!(lost.len(), 1);
        assert_eq!(s.packet_threshold(), PACKET_THRESHOLD);
        // ...then acknowledged after all: a reordering of 6 packets, not a loss. The
        // peer is alive, so the probe timeout backs off no more.
        s.on_pto();
        let mut fresh = Vec::new();
        s.on_ack([(0u64, 0u64)].into_iter(), &mut fresh).unwrap();
        assert!(fresh.is_empty(), "nothing newly acknowledged");
        assert_eq!(s.pto_count(), 0);
        assert_eq!(s.spurious_losses(), 1);
        assert_eq!(s.packet_threshold(), 6);
        // The same reordering again (7 held back, 8..=12 acked) is no longer a loss.
        lost.clear();
        s.on_ack([(6u64, 6u64), (8, 12)].into_iter(), &mut acked)
            .unwrap();
        s.detect_lost(Instant(20), &rtt, &mut lost);
        assert!(
            lost.is_empty(),
            "{:?}",
            lost.iter().map(|(pn, _)| *pn).collect::<Vec<_>>()
        );
        // Far past the threshold it still is.
        s.on_ack([(13u64, 19u64)].into_iter(), &mut acked).unwrap();
        s.detect_lost(Instant(30), &rtt, &mut lost);
        assert_eq!(lost.iter().map(|(pn, _)| *pn).collect::<Vec<_>>(), [7]);
    }

    #[test]
    fn spurious_loss_widens_the_time_threshold() {
        let mut s = SentPackets::default();
        let rtt = RttEstimator::new(Duration::from_millis(80));
        for pn in 0..4 {
            s.on_sent(pn, packet(0));
        }
        let mut acked = Vec::new();
        let mut lost = Vec::new();
        s.on_ack([(2u64, 2u64)].into_iter(), &mut acked).unwrap();
        s.detect_lost(Instant(0), &rtt, &mut lost);
        // 9/8 · 80 ms.
        assert_eq!(s.loss_time(), Some(Instant(90_000)));
        s.detect_lost(Instant(90_000), &rtt, &mut lost);
        assert_eq!(lost.len(), 2);
        s.on_ack([(0u64, 1u64), (3, 3)].into_iter(), &mut acked)
            .unwrap();
        assert_eq!(s.spurious_losses(), 2);
        s.on_sent(4, packet(100_000));
        s.on_sent(5, packet(100_000));
        s.on_ack([(5u64, 5u64)].into_iter(), &mut acked).unwrap();
        s.detect_lost(Instant(100_000), &rtt, &mut lost);
        // Two spurious losses: 11/8 · 80 ms.
        assert_eq!(s.loss_time(), Some(Instant(210_000)));
    }

    #[test]
    fn early_retransmit_when_everything_later_is_acked() {
        // Three packets, the first lost: only two later ACKs can ever come, too few for
        // the packet threshold; the gap is a loss as soon as the last one is acknowledged.
        let mut s = SentPackets::default();
        for pn in 0..3 {
            s.on_sent(pn, packet(pn));
        }
        let rtt = RttEstimator::new(Duration::from_millis(100));
        let mut acked = Vec::new();
        let mut lost = Vec::new();
        s.on_ack([(1u64, 1u64)].into_iter(), &mut acked).unwrap();
        s.detect_lost(Instant(10), &rtt, &mut lost);
        assert!(lost.is_empty(), "packet 2 may still come");
        s.on_ack([(2u64, 2u64)].into_iter(), &mut acked).unwrap();
        s.detect_lost(Instant(20), &rtt, &mut lost);
        assert_eq!(lost.len(), 1);
        // Once reordering has been seen, the timer decides instead.
        s.on_ack([(0u64, 0u64)].into_iter(), &mut acked).unwrap();
        for pn in 3..6 {
            s.on_sent(pn, packet(pn));
        }
        s.on_ack([(4u64, 5u64)].into_iter(), &mut acked).unwrap();
        lost.clear();
        s.detect_lost(Instant(30), &rtt, &mut lost);
        assert!(lost.is_empty());
    }
}
