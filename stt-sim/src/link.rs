//! One direction of a simulated link: loss (independent or Gilbert-Elliott bursts),
//! bandwidth with a finite tail-drop queue, fixed delay plus jitter, reordering,
//! duplication, bit-flip corruption, MTU and an up/down switch for partitions.
//!
//! A link decides the fate of each datagram handed to it and when each copy arrives;
//! it knows nothing about nodes, addresses or the protocol, and all its randomness comes
//! from its own [`SimRng`] stream.

use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use stt_proto::Instant;

use crate::rng::SimRng;

/// How a link loses packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Loss {
    /// No random loss.
    None,
    /// Each packet is lost independently with this probability.
    Random(f64),
    /// Two-state Gilbert-Elliott burst loss.
    GilbertElliott {
        /// Per-packet probability of moving from the good to the bad state.
        good_to_bad: f64,
        /// Per-packet probability of moving from the bad to the good state.
        bad_to_good: f64,
        /// Loss probability in the good state.
        loss_good: f64,
        /// Loss probability in the bad state.
        loss_bad: f64,
    },
}

/// Parameters of one link direction. `Default` is a clean 10 ms link with no limits.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// False: every packet is dropped (a partition).
    pub up: bool,
    /// Random loss model.
    pub loss: Loss,
    /// Fixed one-way propagation delay.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per packet (reorders packets).
    pub jitter: Duration,
    /// Probability that a packet is held back by `reorder_delay` (explicit reordering).
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Probability that one random bit of a packet is flipped.
    pub corrupt: f64,
    /// Bottleneck rate in bits per second; `None` = unlimited.
    pub bandwidth_bps: Option<u64>,
    /// Bytes the bottleneck queue holds (including the packet being sent); tail drop.
    pub queue_bytes: usize,
    /// Largest datagram the link carries; bigger ones are dropped.
    pub mtu: usize,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            up: true,
            loss: Loss::None,
            delay: Duration::from_millis(10),
            jitter: Duration::ZERO,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            duplicate: 0.0,
            corrupt: 0.0,
            bandwidth_bps: None,
            queue_bytes: usize::MAX,
            mtu: 65_535,
        }
    }
}

/// Why a datagram never arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropReason {
    /// The link is partitioned.
    Partition,
    /// Bigger than the link MTU.
    Mtu,
    /// Random or burst loss.
    Loss,
    /// The bottleneck queue was full.
    QueueFull,
    /// No node holds the destination address.
    NoRoute,
    /// The destination node is crashed.
    Crashed,
    /// Sent to an address the destination node no longer holds (NAT rebinding).
    OldAddress,
    /// The sender's own packets are suppressed (an adversary that answers for it).
    Muted,
}

impl DropReason {
    /// Short name used in traces and tables.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Partition => "partition",
            DropReason::Mtu => "mtu",
            DropReason::Loss => "loss",
            DropReason::QueueFull => "queue_full",
            DropReason::NoRoute => "no_route",
            DropReason::Crashed => "crashed",
            DropReason::OldAddress => "old_address",
            DropReason::Muted => "muted",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One copy of a datagram the link will deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Arrival time.
    pub at: Instant,
    /// The bytes (possibly corrupted).
    pub bytes: Vec<u8>,
    /// A bit was flipped.
    pub corrupted: bool,
    /// This is the extra copy of a duplicated packet.
    pub duplicate: bool,
}

/// Counters of one link direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams offered.
    pub offered: u64,
    /// Copies scheduled for delivery (duplicates included).
    pub delivered: u64,
    /// Dropped by loss.
    pub lost: u64,
    /// Dropped by a full queue.
    pub queue_drops: u64,
    /// Dropped by partition or MTU.
    pub blocked: u64,
    /// Copies with a flipped bit.
    pub corrupted: u64,
    /// Extra copies.
    pub duplicated: u64,
    /// Bytes offered.
    pub bytes_offered: u64,
}

/// The state of one link direction.
#[derive(Debug, Clone)]
pub struct Link {
    /// Current parameters (may change mid-run).
    pub config: LinkConfig,
    /// Counters.
    pub stats: LinkStats,
    rng: SimRng,
    bad_state: bool,
    /// Departure times and sizes of packets still in the bottleneck queue.
    queue: VecDeque<(Instant, usize)>,
    queued: usize,
    busy_until: Instant,
}

fn add(t: Instant, d: Duration) -> Instant {
    Instant::from_micros(t.as_micros() + d.as_micros() as u64)
}

impl Link {
    /// A link with its own random stream.
    pub fn new(config: LinkConfig, rng: SimRng) -> Self {
        Self {
            config,
            stats: LinkStats::default(),
            rng,
            bad_state: false,
            queue: VecDeque::new(),
            queued: 0,
            busy_until: Instant::from_micros(0),
        }
    }

    fn lost(&mut self) -> bool {
        match self.config.loss {
            Loss::None => false,
            Loss::Random(p) => self.rng.chance(p),
            Loss::GilbertElliott {
                good_to_bad,
                bad_to_good,
                loss_good,
                loss_bad,
            } => {
                let flip = if self.bad_state {
                    bad_to_good
                } else {
                    good_to_bad
                };
                if self.rng.chance(flip) {
                    self.bad_state = !self.bad_state;
                }
                self.rng
                    .chance(if self.bad_state { loss_bad } else { loss_good })
            }
        }
    }

    fn jitter(&mut self) -> Duration {
        let j = self.config.jitter.as_micros() as u64;
        if j == 0 {
            Duration::ZERO
        } else {
            Duration::from_micros(self.rng.below(j + 1))
        }
    }

    /// Offers a datagram at `now`; pushes the copies that will arrive onto `out`, or
    /// says why it was dropped.
    pub fn send(
        &mut self,
        now: Instant,
        bytes: Vec<u8>,
        out: &mut Vec<Delivery>,
    ) -> Result<(), DropReason> {
        self.stats.offered += 1;
        self.stats.bytes_offered += bytes.len() as u64;
        if !self.config.up {
            self.stats.blocked += 1;
            return Err(DropReason::Partition);
        }
        if bytes.len() > self.config.mtu {
            self.stats.blocked += 1;
            return Err(DropReason::Mtu);
        }
        // The bottleneck: serialise at the link rate behind what is already queued.
        let mut depart = now;
        if let Some(bps) = self.config.bandwidth_bps.filter(|b| *b > 0) {
            while let Some(&(t, len)) = self.queue.front() {
                if t > now {
                    break;
                }
                self.queue.pop_front();
                self.queued -= len;
            }
            if self.queued.saturating_add(bytes.len()) > self.config.queue_bytes {
                self.stats.queue_drops += 1;
                return Err(DropReason::QueueFull);
            }
            let tx = Duration::from_micros((bytes.len() as u64 * 8_000_000).div_ceil(bps));
            depart = add(self.busy_until.max(now), tx);
            self.busy_until = depart;
            self.queue.push_back((depart, bytes.len()));
            self.queued += bytes.len();
        }
        // Loss on the wire after the bottleneck: a lost packet still used its slot.
        if self.lost() {
            self.stats.lost += 1;
            return Err(DropReason::Loss);
        }
        let copies = if self.rng.chance(self.config.duplicate) {
            2
        } else {
            1
        };
        for copy in 0..copies {
            let mut at = add(depart, self.config.delay + self.jitter());
            if self.rng.chance(self.config.reorder) {
                at = add(at, self.config.reorder_delay);
            }
            let mut b = bytes.clone();
            let corrupted = !b.is_empty() && self.rng.chance(self.config.corrupt);
            if corrupted {
                let bit = self.rng.below(b.len() as u64 * 8);
                b[(bit / 8) as usize] ^= 1 << (bit % 8);
                self.stats.corrupted += 1;
            }
            if copy == 1 {
                self.stats.duplicated += 1;
            }
            self.stats.delivered += 1;
            out.push(Delivery {
                at,
                bytes: b,
                corrupted,
                duplicate: copy == 1,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_serialises_and_tail_drops() {
        let cfg = LinkConfig {
            bandwidth_bps: Some(8_000_000), // 1 byte per µs
            queue_bytes: 3000,
            delay: Duration::ZERO,
            ..LinkConfig::default()
        };
        let mut link = Link::new(cfg, SimRng::new(1));
        let mut out = Vec::new();
        let t0 = Instant::from_micros(0);
        assert!(link.send(t0, vec![0; 1000], &mut out).is_ok());
        assert!(link.send(t0, vec![0; 1000], &mut out).is_ok());
        assert!(link.send(t0, vec![0; 1000], &mut out).is_ok());
        assert_eq!(
            link.send(t0, vec![0; 1000], &mut out),
            Err(DropReason::QueueFull)
        );
        assert_eq!(out[2].at, Instant::from_micros(3000));
        // After the first left, there is room again.
        assert!(
            link.send(Instant::from_micros(1000), vec![0; 1000], &mut out)
                .is_ok()
        );
    }

    #[test]
    fn gilbert_elliott_loses_in_bursts() {
        let cfg = LinkConfig {
            loss: Loss::GilbertElliott {
                good_to_bad: 0.01,
                bad_to_good: 0.2,
                loss_good: 0.0,
                loss_bad: 1.0,
            },
            ..LinkConfig::default()
        };
        let mut link = Link::new(cfg, SimRng::new(3));
        let mut out = Vec::new();
        let fates: Vec<bool> = (0..10_000)
            .map(|_| {
                link.send(Instant::from_micros(0), vec![1], &mut out)
                    .is_ok()
            })
            .collect();
        let lost = fates.iter().filter(|f| !**f).count();
        let runs = fates.windows(2).filter(|w| w[0] && !w[1]).count();
        assert!(lost > 200 && lost < 1000, "lost {lost}");
        assert!(
            lost as f64 / runs as f64 > 2.5,
            "mean burst {}",
            lost / runs
        );
    }
}
