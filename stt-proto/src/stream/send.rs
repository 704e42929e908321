//! The sending half of a stream's data: bytes written but not yet acknowledged.
//!
//! Owns the written `Bytes` (kept as given, never copied), what has been sent, what
//! was lost and what was acknowledged, and the FIN. It chooses which offsets go out
//! next; it must not know about packets, flow-control windows (the caller passes the
//! limit in) or congestion control.

use alloc::collections::VecDeque;
use core::cell::Cell;

use bytes::{Buf, Bytes};

use crate::frame::varint;
use crate::range_set::RangeSet;

/// A piece of the stream chosen by [`SendBuffer::next_chunk`] to go in a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Chunk {
    /// Stream offset of the first byte.
    pub offset: u64,
    /// Number of bytes (0 for a FIN alone).
    pub len: usize,
    /// True if this chunk carries the FIN: it ends exactly at the stream's end.
    pub fin: bool,
}

/// Why a [`SendBuffer`] call was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendBufferError {
    /// `write` after `finish`.
    #[error("stream already finished")]
    Finished,
    /// The stream was reset; its buffer takes no more data.
    #[error("stream was reset")]
    Reset,
    /// The write would take the stream past the largest offset a varint can carry.
    #[error("writing {len} bytes at offset {offset} passes the 2^62-1 stream limit")]
    OffsetOverflow {
        /// Bytes written so far.
        offset: u64,
        /// Length of the refused write.
        len: usize,
    },
    /// Part of the range was already acknowledged and freed, or was never written.
    #[error("range {offset}+{len} not held (held: {held_from}..{held_to})")]
    NotHeld {
        /// Start of the requested range.
        offset: u64,
        /// Length of the requested range.
        len: usize,
        /// Lowest offset still held.
        held_from: u64,
        /// Offset just past the last written byte.
        held_to: u64,
    },
    /// The output slice is shorter than the requested length.
    #[error("output buffer of {have} bytes cannot hold {need}")]
    BufferTooSmall {
        /// Bytes requested.
        need: usize,
        /// Bytes the output has.
        have: usize,
    },
}

/// A stream's unacknowledged outgoing bytes and its retransmission state.
///
/// Offsets below [`unsent_offset`](Self::unsent_offset) have been handed out by
/// [`next_chunk`](Self::next_chunk) at least once; the caller reports each chunk's
/// fate with [`on_ack`](Self::on_ack) or [`on_lost`](Self::on_lost).
#[derive(Debug, Clone, Default)]
pub struct SendBuffer {
    /// Held data as (stream offset of first byte, bytes), contiguous, each non-empty.
    /// The front segment always starts at `acked_prefix`: acknowledged prefix bytes
    /// are trimmed off it and whole segments are dropped, freeing their memory.
    segments: VecDeque<(u64, Bytes)>,
    /// Index of the segment the last lookup found: a bulk sender reads the stream in
    /// order, so the next lookup almost always lands there or in the one after. Only a
    /// hint; every use checks it.
    last_segment: Cell<usize>,
    /// Every byte below this offset is acknowledged and no longer held.
    acked_prefix: u64,
    /// Total bytes written: the stream's end offset.
    written: u64,
    /// First offset never handed out by `next_chunk`.
    unsent: u64,
    /// Lost ranges waiting to be sent again; always within `[acked_prefix, unsent)`.
    retransmit: RangeSet,
    /// Acknowledged ranges above `acked_prefix`; always within `(acked_prefix, unsent)`.
    acked: RangeSet,
    /// The application called `finish`.
    finished: bool,
    /// The FIN must go out: never sent yet, or declared lost.
    fin_pending: bool,
    /// The peer acknowledged the FIN.
    fin_acked: bool,
    /// The stream was reset: data dropped, every call inert.
    reset: bool,
}

impl SendBuffer {
    /// An empty, open buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `data` to the stream without copying it. Size limits are the caller's.
    pub fn write(&mut self, data: Bytes) -> Result<(), SendBufferError> {
        if self.reset {
            return Err(SendBufferError::Reset);
        }
        if self.finished {
            return Err(SendBufferError::Finished);
        }
        let len = data.len();
        let end = self
            .written
            .checked_add(len as u64)
            .filter(|&e| e <= varint::MAX)
            .ok_or(SendBufferError::OffsetOverflow {
                offset: self.written,
                len,
            })?;
        if len > 0 {
            // Empty segments would break the "each segment non-empty" invariant that
            // lookups rely on, and carry nothing.
            self.segments.push_back((self.written, data));
        }
        self.written = end;
        Ok(())
    }

    /// Marks the end of the stream at the current written offset; idempotent.
    pub fn finish(&mut self) -> Result<(), SendBufferError> {
        if self.reset {
            return Err(SendBufferError::Reset);
        }
        if !self.finished {
            self.finished = true;
            self.fin_pending = true;
        }
        Ok(())
    }

    /// True once `finish` was called.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// True once `reset` was called.
    #[cfg(test)]
    pub fn is_reset(&self) -> bool {
        self.reset
    }

    /// Bytes held: written but not part of the contiguous acknowledged prefix.
    pub fn unacked(&self) -> u64 {
        if self.reset {
            0
        } else {
            self.written - self.acked_prefix
        }
    }

    /// Total bytes written: the stream's end offset so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// First offset never sent. After a reset this is the highest offset ever sent,
    /// which is the final size a reset frame reports.
    pub fn unsent_offset(&self) -> u64 {
        self.unsent
    }

    /// True if there is anything to (re)send: lost ranges, new bytes (even if flow
    /// control currently blocks them) or a FIN not yet sent or lost.
    pub fn has_pending(&self) -> bool {
        !self.reset
            && (!self.retransmit.is_empty() || self.unsent < self.written || self.fin_pending)
    }

    /// Picks the next chunk to send, at most `max_len` bytes, and marks it in flight.
    ///
    /// Lost ranges come first, lowest offset first, and ignore `max_offset` since
    /// they were within flow-control credit when first sent. New bytes are taken
    /// from the unsent offset up to `min(max_offset, written)`. A FIN alone (zero
    /// length, even with `max_len == 0`) is returned when it is the only thing left.
    pub fn next_chunk(&mut self, max_len: usize, max_offset: u64) -> Option<Chunk> {
        if self.reset {
            return None;
        }
        if max_len > 0 {
            if let Some(r) = self.retransmit.first_range() {
                let len = (r.end - r.start).min(max_len as u64);
                let start = r.start;
                self.retransmit.remove(start..start + len);
                return Some(self.chunk(start, len));
            }
            let limit = max_offset.min(self.written);
            if self.unsent < limit {
                let start = self.unsent;
                let len = (limit - start).min(max_len as u64);
                self.unsent += len;
                return Some(self.chunk(start, len));
            }
        }
        if self.fin_pending && self.retransmit.is_empty() && self.unsent == self.written {
            return Some(self.chunk(self.written, 0));
        }
        None
    }

    /// Builds a chunk, attaching the FIN when it ends the stream and the FIN still
    /// matters; a FIN that rides along is no longer pending.
    fn chunk(&mut self, offset: u64, len: u64) -> Chunk {
        let fin = self.finished && !self.fin_acked && offset + len == self.written;
        if fin {
            self.fin_pending = false;
        }
        // `len` never exceeds the `max_len: usize` it was clamped to.
        Chunk {
            offset,
            len: len as usize,
            fin,
        }
    }

    /// Index of the segment holding `offset`, which must be in `[acked_prefix, written)`.
    fn segment_index(&self, offset: u64) -> usize {
        let hint = self.last_segment.get();
        for i in [hint, hint + 1] {
            if let Some((start, seg)) = self.segments.get(i)
                && *start <= offset
                && offset < *start + seg.len() as u64
            {
                self.last_segment.set(i);
                return i;
            }
        }
        // Segments are contiguous and sorted by start; the holder is the last one
        // starting at or below `offset`.
        let i = self
            .segments
            .partition_point(|(start, _)| *start <= offset)
            .saturating_sub(1);
        self.last_segment.set(i);
        i
    }

    fn check_held(&self, offset: u64, len: usize) -> Result<(), SendBufferError> {
        let held = !self.reset
            && offset >= self.acked_prefix
            && offset
                .checked_add(len as u64)
                .is_some_and(|end| end <= self.written);
        if held {
            Ok(())
        } else {
            Err(SendBufferError::NotHeld {
                offset,
                len,
                held_from: self.acked_prefix,
                held_to: if self.reset {
                    self.acked_prefix
                } else {
                    self.written
                },
            })
        }
    }

    /// Copies `len` bytes at stream `offset` into `out[..len]`; they may span several
    /// written segments. Fails if any of them is no longer (or not yet) held.
    pub fn copy_chunk(
        &self,
        offset: u64,
        len: usize,
        out: &mut [u8],
    ) -> Result<(), SendBufferError> {
        self.check_held(offset, len)?;
        let have = out.len();
        let out = out
            .get_mut(..len)
            .ok_or(SendBufferError::BufferTooSmall { need: len, have })?;
        let mut pos = offset;
        let mut done = 0;
        for (start, seg) in self.segments.range(self.segment_index(offset)..) {
            if done == len {
                break;
            }
            // pos lies within this segment: checked above, and segments are contiguous.
            let from = (pos - start) as usize;
            let n = (seg.len() - from).min(len - done);
            out[done..done + n].copy_from_slice(&seg[from..from + n]);
            done += n;
            pos += n as u64;
        }
        Ok(())
    }

    /// The `len` bytes at `offset` as a zero-copy slice, if they lie within one
    /// written segment and are still held. `len == 0` yields an empty `Bytes`.
    #[cfg(test)]
    pub fn chunk_bytes(&self, offset: u64, len: usize) -> Option<Bytes> {
        self.check_held(offset, len).ok()?;
        if len == 0 {
            return Some(Bytes::new());
        }
        let (start, seg) = self.segments.get(self.segment_index(offset))?;
        let from = (offset - start) as usize;
        let to = from.checked_add(len)?;
        (to <= seg.len()).then(|| seg.slice(from..to))
    }

    /// Records that `len` bytes at `offset` (and the FIN if `fin`) were acknowledged.
    /// Idempotent; parts outside what was sent are ignored.
    pub fn on_ack(&mut self, offset: u64, len: usize, fin: bool) {
        if self.reset {
            return;
        }
        if fin && self.finished {
            self.fin_acked = true;
            self.fin_pending = false;
        }
        // Only bytes actually handed out can be acknowledged: clamp to `unsent`.
        let start = offset.max(self.acked_prefix);
        let end = offset.saturating_add(len as u64).min(self.unsent);
        if start >= end {
            return;
        }
        // An ack may follow a spurious loss declaration: no need to resend.
        self.retransmit.remove(start..end);
        if start > self.acked_prefix {
            self.acked.insert(start..end);
            return;
        }
        // In-order ack (the common case): extend the prefix directly, swallowing any
        // out-of-order acked ranges it now reaches, without touching the map first.
        let mut to = end;
        while let Some(r) = self.acked.first_range()
            && r.start <= to
        {
            self.acked.pop_min();
            to = to.max(r.end);
        }
        self.advance_prefix(to);
    }

    /// Moves the acknowledged prefix to `to`, dropping and trimming segments.
    fn advance_prefix(&mut self, to: u64) {
        self.acked_prefix = to;
        while let Some((start, seg)) = self.segments.front_mut() {
            let end = *start + seg.len() as u64;
            if end <= to {
                self.segments.pop_front();
                self.last_segment
                    .set(self.last_segment.get().saturating_sub(1));
            } else {
                if *start < to {
                    // Cheap pointer bump; the allocation is freed with the segment.
                    seg.advance((to - *start) as usize);
                    *start = to;
                }
                break;
            }
        }
    }

    /// Records that `len` bytes at `offset` (and the FIN if `fin`) were lost; the
    /// parts not already acknowledged are queued for retransmission.
    pub fn on_lost(&mut self, offset: u64, len: usize, fin: bool) {
        if self.reset {
            return;
        }
        if fin && self.finished && !self.fin_acked {
            self.fin_pending = true;
        }
        let start = offset.max(self.acked_prefix);
        let end = offset.saturating_add(len as u64).min(self.unsent);
        if start >= end {
            return;
        }
        self.retransmit.insert(start..end);
        for r in self.acked.intersecting(start..end) {
            self.retransmit.remove(r);
        }
    }

    /// True when the stream is finished and every byte and the FIN are acknowledged.
    pub fn is_fully_acked(&self) -> bool {
        !self.reset && self.finished && self.fin_acked && self.acked_prefix == self.written
    }

    /// Drops all data for a stream reset; the buffer becomes empty and inert. The
    /// offsets (`written`, `unsent_offset`) are kept for final-size accounting.
    pub fn reset(&mut self) {
        self.reset = true;
        self.segments = VecDeque::new();
        self.retransmit.clear();
        self.acked.clear();
        self.fin_pending = false;
    }
}

#[cfg(test)]
mod tests;
