//! Fuzz oracle for stream reassembly: arbitrary pieces (overlapping, duplicated,
//! out of order, with and without FIN, near the 2^62 offset limit) and reads against a
//! [`RecvBuffer`], checked byte for byte against a deliberately naive model.
//!
//! Every copy of a byte carries the same value (a function of its offset), as a
//! genuine retransmission does: which copy the buffer keeps is its own business, but
//! each byte must be delivered once, at its offset, in order.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;

use stt_proto::frame::varint;
use stt_proto::test_hooks::{RecvBuffer, RecvError};

/// Most operations per input.
const MAX_OPS: usize = 256;

#[derive(Debug, Arbitrary)]
enum Op {
    /// A piece at a small offset (overlaps likely).
    Insert { offset: u16, len: u16, fin: bool },
    /// A piece just below the largest offset a varint carries.
    InsertHigh { below_max: u16, len: u8, fin: bool },
    /// Read at most `max` bytes.
    Read { max: u16 },
}

/// The byte at `offset` of the stream.
fn byte(offset: u64) -> u8 {
    (offset ^ (offset >> 8) ^ (offset >> 16)).wrapping_mul(31) as u8
}

/// Naive model: every byte range received.
#[derive(Default)]
struct Model {
    /// start → end, disjoint, never merged.
    stored: BTreeMap<u64, u64>,
    read: u64,
    highest: u64,
    final_size: Option<u64>,
}

impl Model {
    /// What `insert` must return; changes the model only on success.
    fn insert(&mut self, offset: u64, len: u64, fin: bool) -> Result<usize, ()> {
        let end = offset
            .checked_add(len)
            .filter(|&e| e <= varint::MAX)
            .ok_or(())?;
        if let Some(f) = self.final_size
            && (end > f || (fin && end != f))
        {
            return Err(());
        }
        if self.final_size.is_none() && fin && end < self.highest {
            return Err(());
        }
        if fin {
            self.final_size = Some(end);
        }
        self.highest = self.highest.max(end);
        // Bytes below `read` or already stored are not new; walk the gaps.
        let mut new = 0;
        let mut cursor = offset.max(self.read);
        while cursor < end {
            let covering = self
                .stored
                .range(..=cursor)
                .next_back()
                .filter(|(_, e)| **e > cursor)
                .map(|(_, e)| *e);
            if let Some(e) = covering {
                cursor = e;
                continue;
            }
            let next = self
                .stored
                .range(cursor..end)
                .next()
                .map_or(end, |(s, _)| *s);
            self.stored.insert(cursor, next);
            new += next - cursor;
            cursor = next;
        }
        Ok(new as usize)
    }

    /// End of the received range holding `offset`, if any.
    fn covering(&self, offset: u64) -> Option<u64> {
        self.stored
            .range(..=offset)
            .next_back()
            .filter(|(_, e)| **e > offset)
            .map(|(_, e)| *e)
    }

    fn buffered(&self) -> u64 {
        self.stored
            .iter()
            .map(|(&s, &e)| e.saturating_sub(s.max(self.read)))
            .sum()
    }

    fn contiguous(&self) -> u64 {
        let mut at = self.read;
        while let Some(e) = self.covering(at) {
            at = e;
        }
        at - self.read
    }
}

/// Runs arbitrary inserts and reads against a [`RecvBuffer`] and a model of it.
pub fn stream_reassembly(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut buf = RecvBuffer::new();
    let mut model = Model::default();
    for _ in 0..MAX_OPS {
        let Ok(op) = u.arbitrary::<Op>() else {
            break;
        };
        match op {
            Op::Insert { offset, len, fin } => insert(
                &mut buf,
                &mut model,
                u64::from(offset),
                u64::from(len % 2048),
                fin,
            ),
            Op::InsertHigh {
                below_max,
                len,
                fin,
            } => insert(
                &mut buf,
                &mut model,
                varint::MAX - u64::from(below_max),
                u64::from(len),
                fin,
            ),
            Op::Read { max } => {
                let max = usize::from(max);
                let want = model.contiguous().min(max as u64);
                match buf.read(max) {
                    Some(bytes) => {
                        assert!(!bytes.is_empty(), "read returned an empty slice");
                        assert!(bytes.len() as u64 <= want, "read past the contiguous data");
                        for (i, b) in bytes.iter().enumerate() {
                            let at = model.read + i as u64;
                            assert_eq!(*b, byte(at), "byte {at} differs");
                        }
                        model.read += bytes.len() as u64;
                    }
                    None => assert_eq!(want, 0, "read returned nothing with data ready"),
                }
            }
        }
        assert_eq!(buf.read_offset(), model.read);
        assert_eq!(buf.buffered(), model.buffered(), "buffered bytes");
        assert_eq!(buf.highest_received(), model.highest);
        assert_eq!(buf.final_size(), model.final_size);
        assert_eq!(buf.has_readable(), model.contiguous() > 0);
        assert_eq!(buf.is_finished(), model.final_size == Some(model.read));
    }
}

fn insert(buf: &mut RecvBuffer, model: &mut Model, offset: u64, len: u64, fin: bool) {
    let bytes: Vec<u8> = (0..len).map(|i| byte(offset.wrapping_add(i))).collect();
    let before = fingerprint(buf);
    let got = buf.insert(offset, Bytes::from(bytes), fin);
    let want = model.insert(offset, len, fin);
    match (got, want) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "new bytes at {offset}+{len}"),
        (Err(e), Err(())) => {
            assert!(matches!(
                e,
                RecvError::FinalSize { .. } | RecvError::OffsetOverflow { .. }
            ));
            assert_eq!(
                fingerprint(buf),
                before,
                "a refused insert changed the buffer"
            );
        }
        (got, want) => panic!("insert {offset}+{len} fin={fin}: got {got:?}, model {want:?}"),
    }
}

/// What a refused insert must leave unchanged.
fn fingerprint(buf: &RecvBuffer) -> (u64, u64, u64, Option<u64>, bool) {
    (
        buf.read_offset(),
        buf.buffered(),
        buf.highest_received(),
        buf.final_size(),
        buf.has_readable(),
    )
}
