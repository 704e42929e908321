//! ACK frames (PROTOCOL.md §4.2): acknowledged packet-number ranges plus the ack delay.
//!
//! Ranges are encoded as in QUIC (largest, first range, then gap/length pairs going
//! down). Decoding validates the whole range list once, so iteration cannot fail; the
//! list is walked lazily from the borrowed input and never copied.

use core::fmt;

use super::codec::{Reader, Writer};
use super::{DecodeError, EncodeError, FrameType, varint};

/// Most ranges one ACK frame may carry; more is a decode error.
pub const MAX_ACK_RANGES: usize = 64;

/// An inclusive range of acknowledged packet numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AckRange {
    /// Lowest packet number in the range.
    pub smallest: u64,
    /// Highest packet number in the range.
    pub largest: u64,
}

/// Where an ACK frame's ranges live: still encoded in the packet, or a caller's list.
#[derive(Clone, Copy)]
enum Source<'a> {
    Wire {
        largest: u64,
        first: u64,
        count: usize,
        pairs: &'a [u8],
    },
    List(&'a [AckRange]),
}

/// ACK (0x13): which packets arrived, and how long the receiver held the newest one.
#[derive(Clone, Copy)]
pub struct AckFrame<'a> {
    /// Microseconds between receiving the largest acknowledged packet and sending this.
    pub ack_delay: u64,
    source: Source<'a>,
}

impl<'a> AckFrame<'a> {
    /// Builds a frame from ranges sorted from highest to lowest, disjoint and not
    /// adjacent (at least one missing packet between two ranges), 1 to
    /// [`MAX_ACK_RANGES`] of them.
    pub fn new(ack_delay: u64, ranges: &'a [AckRange]) -> Result<Self, EncodeError> {
        let bad = |value| EncodeError::OutOfRange {
            field: "ack ranges",
            value,
        };
        if ranges.is_empty() || ranges.len() > MAX_ACK_RANGES {
            return Err(bad(ranges.len() as u64));
        }
        if ranges[0].largest > varint::MAX {
            return Err(bad(ranges[0].largest));
        }
        for (i, r) in ranges.iter().enumerate() {
            if r.smallest > r.largest {
                return Err(bad(r.smallest));
            }
            if let Some(next) = ranges.get(i + 1)
                && next.largest.saturating_add(1) >= r.smallest
            {
                return Err(bad(next.largest));
            }
        }
        Ok(Self {
            ack_delay,
            source: Source::List(ranges),
        })
    }

    /// The largest acknowledged packet number.
    pub fn largest(&self) -> u64 {
        match self.source {
            Source::Wire { largest, .. } => largest,
            Source::List(l) => l[0].largest,
        }
    }

    /// The ranges, highest first.
    pub fn ranges(&self) -> AckRanges<'a> {
        match self.source {
            Source::Wire {
                largest,
                first,
                count,
                pairs,
            } => AckRanges {
                inner: RangesInner::Wire {
                    // Checked although decode_body validated it: an iterator must not be
                    // able to panic even if a future change breaks that validation.
                    next: largest
                        .checked_sub(first)
                        .map(|smallest| AckRange { smallest, largest }),
                    left: count,
                    reader: Reader::new(pairs),
                },
            },
            Source::List(l) => AckRanges {
                inner: RangesInner::List(l.iter()),
            },
        }
    }

    pub(super) fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let largest = r.varint()?;
        let ack_delay = r.varint()?;
        let count = r.varint()?;
        if count >= MAX_ACK_RANGES as u64 {
            return Err(DecodeError::OutOfRange {
                field: "ack range count",
                value: count,
            });
        }
        let first = r.varint()?;
        let mut smallest = largest.checked_sub(first).ok_or(DecodeError::OutOfRange {
            field: "ack first range",
            value: first,
        })?;
        let start = r.position();
        let rest = r.rest();
        for _ in 0..count {
            let gap = r.varint()?;
            let len = r.varint()?;
            let top = smallest
                .checked_sub(gap)
                .and_then(|v| v.checked_sub(2))
                .ok_or(DecodeError::OutOfRange {
                    field: "ack gap",
                    value: gap,
                })?;
            smallest = top.checked_sub(len).ok_or(DecodeError::OutOfRange {
                field: "ack range length",
                value: len,
            })?;
        }
        let pairs = &rest[..r.position() - start];
        Ok(Self {
            ack_delay,
            source: Source::Wire {
                largest,
                first,
                count: count as usize,
                pairs,
            },
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::Ack as u8)?;
        match self.source {
            Source::Wire {
                largest,
                first,
                count,
                pairs,
            } => {
                w.varint(largest)?;
                w.varint(self.ack_delay)?;
                w.varint(count as u64)?;
                w.varint(first)?;
                w.put(pairs)
            }
            Source::List(list) => {
                w.varint(list[0].largest)?;
                w.varint(self.ack_delay)?;
                w.varint(list.len() as u64 - 1)?;
                w.varint(list[0].largest - list[0].smallest)?;
                for pair in list.windows(2) {
                    w.varint(pair[0].smallest - pair[1].largest - 2)?;
                    w.varint(pair[1].largest - pair[1].smallest)?;
                }
                Ok(())
            }
        }
    }

    /// Bytes this frame takes on the wire.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let mut n = 1 + varint::encoded_len(self.largest())? + varint::encoded_len(self.ack_delay)?;
        match self.source {
            Source::Wire {
                first,
                count,
                pairs,
                ..
            } => {
                n += varint::encoded_len(count as u64)? + varint::encoded_len(first)? + pairs.len()
            }
            Source::List(list) => {
                n += varint::encoded_len(list.len() as u64 - 1)?
                    + varint::encoded_len(list[0].largest - list[0].smallest)?;
                for pair in list.windows(2) {
                    n += varint::encoded_len(pair[0].smallest - pair[1].largest - 2)?
                        + varint::encoded_len(pair[1].largest - pair[1].smallest)?;
                }
            }
        }
        Ok(n)
    }
}

impl PartialEq for AckFrame<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.ack_delay == other.ack_delay && self.ranges().eq(other.ranges())
    }
}

impl Eq for AckFrame<'_> {}

impl fmt::Debug for AckFrame<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AckFrame")
            .field("ack_delay", &self.ack_delay)
            .field("ranges", &DebugRanges(self.ranges()))
            .finish()
    }
}

struct DebugRanges<'a>(AckRanges<'a>);

impl fmt::Debug for DebugRanges<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.clone().map(|r| r.smallest..=r.largest))
            .finish()
    }
}

#[derive(Clone)]
enum RangesInner<'a> {
    Wire {
        next: Option<AckRange>,
        left: usize,
        reader: Reader<'a>,
    },
    List(core::slice::Iter<'a, AckRange>),
}

/// Iterator over an ACK frame's ranges, highest first.
#[derive(Clone)]
pub struct AckRanges<'a> {
    inner: RangesInner<'a>,
}

impl Iterator for AckRanges<'_> {
    type Item = AckRange;

    fn next(&mut self) -> Option<AckRange> {
        match &mut self.inner {
            RangesInner::List(it) => it.next().copied(),
            RangesInner::Wire { next, left, reader } => {
                let current = next.take()?;
                if *left > 0 {
                    *left -= 1;
                    // decode_body validated the pairs, so every read and subtraction
                    // succeeds; checked arithmetic ends the walk instead of panicking
                    // should that ever stop being true.
                    *next = match (reader.varint(), reader.varint()) {
                        (Ok(gap), Ok(len)) => current
                            .smallest
                            .checked_sub(gap)
                            .and_then(|v| v.checked_sub(2))
                            .and_then(|top| {
                                top.checked_sub(len).map(|smallest| AckRange {
                                    smallest,
                                    largest: top,
                                })
                            }),
                        _ => None,
                    };
                }
                Some(current)
            }
        }
    }
}
