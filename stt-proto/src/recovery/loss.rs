//! Send-side packet tracking and loss detection (RFC 9002 §6 as the guide).
//!
//! Owns the packets in flight, keyed by packet number in a ring, the largest
//! acknowledged number, the loss timer and the probe-timeout backoff. It does not know
//! what a packet carried beyond an opaque `info` value the session attaches, and it
//! never touches congestion state: the session feeds outcomes to the controller.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::time::Duration;

use super::RttEstimator;
use crate::time::Instant;

/// Reordering threshold in packets before an unacknowledged packet counts as lost.
pub const PACKET_THRESHOLD: u64 = 3;

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
        for (smallest, largest) in ranges {
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
        if !acked.is_empty() {
            self.pto_count = 0;
        }
        self.trim();
        Ok(())
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
        let delay = rtt.loss_delay();
        let end = largest.min(self.next.saturating_sub(1));
        let mut pn = self.base;
        while pn < end.saturating_add(1) && pn <= largest {
            let idx = (pn - self.base) as usize;
            if let Some(Some(p)) = self.ring.get(idx) {
                if pn + PACKET_THRESHOLD <= largest || p.time_sent + delay <= now {
                    if let Some(p) = self.take(pn) {
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
}
