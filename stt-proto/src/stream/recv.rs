//! The receiving half of a stream's data: reassembly of out-of-order pieces.
//!
//! Owns received-but-unread bytes as zero-copy `Bytes` slices keyed by offset, the
//! read offset and the final size. Overlaps are trimmed on arrival so a byte is
//! stored and delivered at most once. It must not enforce flow control (the caller
//! checks `highest_received` against its window) nor know about packets.

use alloc::collections::{BTreeMap, VecDeque};

use bytes::{Buf, Bytes};

use crate::frame::varint;

/// Why received stream data was refused; each is a protocol violation by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// Data or a FIN contradicts the stream's final size.
    #[error("stream data ending at {end} contradicts final size {final_size}")]
    FinalSize {
        /// The final size known (or claimed by the offending FIN).
        final_size: u64,
        /// The end offset that contradicts it.
        end: u64,
    },
    /// The data would end past the largest offset a varint can carry.
    #[error("stream data at {offset}+{len} passes the 2^62-1 offset limit")]
    OffsetOverflow {
        /// Offset of the refused data.
        offset: u64,
        /// Its length.
        len: usize,
    },
}

/// Reassembles a stream's incoming bytes for in-order reading.
#[derive(Debug, Clone, Default)]
pub struct RecvBuffer {
    /// Unread bytes contiguous from `read_offset`, in order: the common in-order case
    /// appends and pops here without touching the map.
    ready: VecDeque<Bytes>,
    /// Total length of `ready`.
    ready_len: u64,
    /// Out-of-order data beyond `ready`: offset → bytes. Entries are non-empty,
    /// pairwise disjoint and all above `read_offset + ready_len`; adjacent pieces are
    /// not merged (that would copy).
    segments: BTreeMap<u64, Bytes>,
    /// Next offset the application reads.
    read_offset: u64,
    /// Sum of the lengths in `segments`.
    buffered: u64,
    /// End offset of the furthest data seen.
    highest: u64,
    /// Set by the first FIN.
    final_size: Option<u64>,
}

impl RecvBuffer {
    /// An empty buffer at offset 0.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `data` received at `offset`; `fin` marks its end as the stream's end.
    /// Returns how many bytes were new (not received or read before). Nothing is
    /// changed when an error is returned.
    pub fn insert(&mut self, offset: u64, data: Bytes, fin: bool) -> Result<usize, RecvError> {
        let len = data.len();
        let end = offset
            .checked_add(len as u64)
            .filter(|&e| e <= varint::MAX)
            .ok_or(RecvError::OffsetOverflow { offset, len })?;
        match self.final_size {
            Some(final_size) if end > final_size || (fin && end != final_size) => {
                return Err(RecvError::FinalSize { final_size, end });
            }
            None if fin && end < self.highest => {
                // Bytes beyond this FIN have already arrived.
                return Err(RecvError::FinalSize {
                    final_size: end,
                    end: self.highest,
                });
            }
            _ => {}
        }
        if fin {
            self.final_size = Some(end);
        }
        self.highest = self.highest.max(end);

        let run_end = self.read_offset + self.ready_len;
        let mut cursor = offset.max(run_end);
        if offset <= run_end && end > run_end {
            // Extends the in-order run: append, then pull in pieces that now follow on.
            // Trimmed in place, not sliced: no reference-count traffic per packet.
            let mut piece = data;
            piece.advance((run_end - offset) as usize);
            let mut added = piece.len() as u64;
            self.push_ready(piece);
            while let Some(entry) = self.segments.first_entry() {
                let run_end = self.read_offset + self.ready_len;
                let start = *entry.key();
                if start > run_end {
                    break;
                }
                let mut seg = entry.remove();
                let seg_end = start + seg.len() as u64;
                if seg_end > run_end {
                    seg.advance((run_end - start) as usize);
                    // Bytes of `seg` below `run_end` were counted when stored and are
                    // now duplicates of what this piece brought.
                    added -= run_end - start;
                    self.push_ready(seg);
                } else {
                    added -= seg.len() as u64;
                }
            }
            self.buffered += added;
            return Ok(added as usize);
        }
        // Skip whatever the piece starting at or below `cursor` already holds.
        if let Some((&s, seg)) = self.segments.range(..=cursor).next_back() {
            cursor = cursor.max(s + seg.len() as u64);
        }
        let mut added = 0;
        while cursor < end {
            // Fill the gap up to the next stored piece (or `end`), then jump past it.
            let next = self
                .segments
                .range(cursor..end)
                .next()
                .map(|(&s, seg)| (s, s + seg.len() as u64));
            let gap_end = next.map_or(end, |(s, _)| s);
            if cursor < gap_end {
                let from = (cursor - offset) as usize;
                let to = (gap_end - offset) as usize;
                self.segments.insert(cursor, data.slice(from..to));
                added += to - from;
            }
            cursor = next.map_or(end, |(_, e)| e);
        }
        self.buffered += added as u64;
        Ok(added)
    }

    /// The next in-order bytes, at most `max`, as a zero-copy slice; `None` if the
    /// next byte has not arrived (or `max == 0`).
    pub fn read(&mut self, max: usize) -> Option<Bytes> {
        if max == 0 {
            return None;
        }
        let front = self.ready.front_mut()?;
        let out = if front.len() <= max {
            self.ready.pop_front()?
        } else {
            front.split_to(max)
        };
        self.ready_len -= out.len() as u64;
        self.read_offset += out.len() as u64;
        self.buffered -= out.len() as u64;
        Some(out)
    }

    /// Offset of the next byte to be read.
    pub fn read_offset(&self) -> u64 {
        self.read_offset
    }

    /// Bytes received but not yet read.
    #[cfg(any(test, feature = "test-hooks"))]
    pub fn buffered(&self) -> u64 {
        self.buffered
    }

    /// End offset of the furthest data received: what flow control charges.
    pub fn highest_received(&self) -> u64 {
        self.highest
    }

    /// The stream's final size, once a FIN has arrived.
    pub fn final_size(&self) -> Option<u64> {
        self.final_size
    }

    /// True once every byte up to the final size has been read.
    pub fn is_finished(&self) -> bool {
        self.final_size == Some(self.read_offset)
    }

    /// True if [`read`](Self::read) would return bytes.
    pub fn has_readable(&self) -> bool {
        !self.ready.is_empty()
    }

    fn push_ready(&mut self, piece: Bytes) {
        if !piece.is_empty() {
            self.ready_len += piece.len() as u64;
            self.ready.push_back(piece);
        }
    }
}

#[cfg(test)]
mod tests;
