//! One session's storage fetches (PROTOCOL.md §4.7), both directions: objects this
//! node asked for (reassembled, hashed as the in-order prefix grows, delivered only if
//! the hash matches) and peer requests this node answers (waiting for the application,
//! then sent from a `SendBuffer`, which owns retransmission of lost pieces).
//!
//! It never sees a store: the application answers requests with the object's bytes.

use crate::hash::Sha3Hasher;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec;
use alloc::vec::Vec;
use bytes::Bytes;

use crate::error::FetchError;
use crate::frame::{EncodeError, FrameType, StorageData, Writer};
use crate::range_set::RangeSet;
use crate::storage::ContentHash;
use crate::stream::{Chunk, SendBuffer};

#[derive(Debug, Clone)]
struct Fetch {
    hash: ContentHash,
    max_len: u64,
    total: Option<u64>,
    buf: Vec<u8>,
    have: RangeSet,
    hasher: Sha3Hasher,
    hashed: u64,
}

#[derive(Debug, Clone)]
enum Serve {
    Awaiting { hash: ContentHash, max_len: u64 },
    Sending { total: u64, buf: SendBuffer },
}

/// How a STORAGE_DATA frame left a fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DataOutcome {
    /// Not for a live fetch, or more bytes to come.
    Pending,
    /// Every byte arrived and matches the hash.
    Done { hash: ContentHash, data: Bytes },
    /// The fetch failed; send STORAGE_CANCEL unless the answer was complete.
    Failed {
        hash: ContentHash,
        error: FetchError,
        cancel: bool,
    },
}

/// What answering a peer request decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// Send the object.
    Send,
    /// Refuse with this error (not found, too large).
    Refuse(crate::frame::ErrorCode),
}

/// Fetches and serves of one session.
#[derive(Debug, Clone, Default)]
pub(crate) struct Fetches {
    fetches: BTreeMap<u64, Fetch>,
    serves: BTreeMap<u64, Serve>,
    /// Serves with bytes to send, in round-robin order.
    ready: VecDeque<u64>,
}

impl Fetches {
    /// Fetches in progress.
    pub(crate) fn fetching(&self) -> usize {
        self.fetches.len()
    }

    /// True while `request_id` is a fetch in progress.
    pub(crate) fn is_fetching(&self, request_id: u64) -> bool {
        self.fetches.contains_key(&request_id)
    }

    /// Records a fetch whose STORAGE_GET the caller queued.
    pub(crate) fn start(&mut self, request_id: u64, hash: ContentHash, max_len: u64) {
        self.fetches.insert(
            request_id,
            Fetch {
                hash,
                max_len,
                total: None,
                buf: Vec::new(),
                have: RangeSet::new(),
                hasher: Sha3Hasher::default(),
                hashed: 0,
            },
        );
    }

    /// Bytes of reassembly buffer held for fetch `request_id` (the storage oracle's
    /// memory bound: never more than the fetch's `max_len`).
    #[cfg(feature = "test-hooks")]
    pub(crate) fn buffer_len(&self, request_id: u64) -> Option<usize> {
        self.fetches.get(&request_id).map(|f| f.buf.capacity())
    }

    /// Drops a fetch (cancelled by the application); its hash if it existed.
    pub(crate) fn cancel(&mut self, request_id: u64) -> Option<ContentHash> {
        self.fetches.remove(&request_id).map(|f| f.hash)
    }

    /// STORAGE_REFUSE from the peer.
    pub(crate) fn on_refuse(
        &mut self,
        request_id: u64,
        code: crate::frame::ErrorCode,
    ) -> Option<(ContentHash, FetchError)> {
        use crate::frame::ErrorCode as C;
        let f = self.fetches.remove(&request_id)?;
        let error = match code {
            C::OBJECT_NOT_FOUND => FetchError::NotFound,
            C::OBJECT_TOO_LARGE => FetchError::TooLarge,
            C::RESOURCE_EXHAUSTED => FetchError::Busy,
            other => FetchError::Refused(other),
        };
        Some((f.hash, error))
    }

    /// STORAGE_DATA from the peer.
    pub(crate) fn on_data(&mut self, d: &StorageData<'_>) -> DataOutcome {
        let Some(f) = self.fetches.get_mut(&d.request_id) else {
            return DataOutcome::Pending;
        };
        let consistent = match f.total {
            Some(t) => t == d.total_len,
            None => d.total_len <= f.max_len,
        };
        if !consistent {
            let hash = f.hash;
            self.fetches.remove(&d.request_id);
            return DataOutcome::Failed {
                hash,
                error: FetchError::BadResponse,
                cancel: true,
            };
        }
        if f.total.is_none() {
            // Bounded by the requester's own maximum (checked just above).
            f.total = Some(d.total_len);
            f.buf = vec![0u8; d.total_len as usize];
        }
        // Copy only bytes not held yet: what was hashed is never overwritten.
        let start = d.offset;
        let end = d.offset + d.data.len() as u64;
        let mut at = start;
        let held: Vec<_> = f.have.intersecting(start..end).collect();
        for r in held.iter().chain(core::iter::once(&(end..end))) {
            let gap_end = r.start.max(at).min(end);
            if gap_end > at {
                let (a, b) = ((at - start) as usize, (gap_end - start) as usize);
                f.buf[at as usize..gap_end as usize].copy_from_slice(&d.data[a..b]);
            }
            at = at.max(r.end);
        }
        if end > start {
            f.have.insert(start..end);
        }
        if let Some(r) = f.have.first_range()
            && r.start == 0
            && r.end > f.hashed
        {
            f.hasher.update(&f.buf[f.hashed as usize..r.end as usize]);
            f.hashed = r.end;
        }
        let total = d.total_len;
        if f.hashed < total {
            return DataOutcome::Pending;
        }
        let Some(f) = self.fetches.remove(&d.request_id) else {
            return DataOutcome::Pending;
        };
        if ContentHash(f.hasher.finalize()) != f.hash {
            return DataOutcome::Failed {
                hash: f.hash,
                error: FetchError::HashMismatch,
                cancel: false,
            };
        }
        DataOutcome::Done {
            hash: f.hash,
            data: Bytes::from(f.buf),
        }
    }

    /// Peer requests being answered (awaiting the application or sending).
    pub(crate) fn serving(&self) -> usize {
        self.serves.len()
    }

    /// True while peer request `request_id` is awaiting an answer or being sent.
    #[cfg(feature = "test-hooks")]
    pub(crate) fn is_serving(&self, request_id: u64) -> bool {
        self.serves.contains_key(&request_id)
    }

    /// A peer request the application must answer.
    pub(crate) fn await_answer(&mut self, request_id: u64, hash: ContentHash, max_len: u64) {
        self.serves
            .insert(request_id, Serve::Awaiting { hash, max_len });
    }

    /// The application's answer: the object's bytes, or `None` for "not stored".
    /// `None` if the request is not awaiting an answer.
    pub(crate) fn answer(
        &mut self,
        request_id: u64,
        data: Option<Bytes>,
    ) -> Option<(ContentHash, Answer)> {
        let Some(Serve::Awaiting { hash, max_len }) = self.serves.get(&request_id).cloned() else {
            return None;
        };
        let decision = match data {
            None => Answer::Refuse(crate::frame::ErrorCode::OBJECT_NOT_FOUND),
            Some(d) if d.len() as u64 > max_len => {
                Answer::Refuse(crate::frame::ErrorCode::OBJECT_TOO_LARGE)
            }
            Some(d) => {
                let mut buf = SendBuffer::new();
                let total = d.len() as u64;
                if buf.write(d).is_err() || buf.finish().is_err() {
                    Answer::Refuse(crate::frame::ErrorCode::RESOURCE_EXHAUSTED)
                } else {
                    self.serves
                        .insert(request_id, Serve::Sending { total, buf });
                    self.ready.push_back(request_id);
                    return Some((hash, Answer::Send));
                }
            }
        };
        self.serves.remove(&request_id);
        Some((hash, decision))
    }

    /// STORAGE_CANCEL from the peer.
    pub(crate) fn on_cancel(&mut self, request_id: u64) {
        self.serves.remove(&request_id);
        self.ready.retain(|r| *r != request_id);
    }

    /// True if some answer has bytes to send.
    pub(crate) fn has_pending(&self) -> bool {
        !self.ready.is_empty()
    }

    /// The next piece to send, at most `max_len` bytes: (request, total, chunk).
    pub(crate) fn next_chunk(&mut self, max_len: usize) -> Option<(u64, u64, Chunk)> {
        for _ in 0..self.ready.len() {
            let id = self.ready.pop_front()?;
            let Some(Serve::Sending { total, buf }) = self.serves.get_mut(&id) else {
                continue;
            };
            let Some(chunk) = buf.next_chunk(max_len, u64::MAX) else {
                // Nothing fits this time (`max_len` too small): stay queued if bytes
                // remain, or the answer is never sent again.
                if buf.has_pending() {
                    self.ready.push_back(id);
                }
                continue;
            };
            if buf.has_pending() {
                self.ready.push_back(id);
            }
            return Some((id, *total, chunk));
        }
        None
    }

    /// Writes STORAGE_DATA for a chunk; fails without writing if it does not fit.
    pub(crate) fn write_chunk(
        &self,
        w: &mut Writer<'_>,
        request_id: u64,
        total: u64,
        chunk: &Chunk,
    ) -> Result<(), EncodeError> {
        let Some(Serve::Sending { buf, .. }) = self.serves.get(&request_id) else {
            return Err(EncodeError::BufferTooSmall { need: 0, have: 0 });
        };
        let overhead = StorageData::overhead(request_id, total, chunk.offset, chunk.len)?;
        w.reserve(overhead + chunk.len)?;
        let start = w.position();
        w.u8(FrameType::StorageData as u8)?;
        w.varint(request_id)?;
        w.varint(total)?;
        w.varint(chunk.offset)?;
        w.varint(chunk.len as u64)?;
        let dst = w.claim(chunk.len)?;
        if buf.copy_chunk(chunk.offset, chunk.len, dst).is_err() {
            w.rewind(start);
            return Err(EncodeError::BufferTooSmall { need: 0, have: 0 });
        }
        Ok(())
    }

    /// A packet carrying this piece was acknowledged; forgets a finished answer.
    pub(crate) fn on_chunk_acked(&mut self, request_id: u64, chunk: &Chunk) {
        if let Some(Serve::Sending { buf, .. }) = self.serves.get_mut(&request_id) {
            buf.on_ack(chunk.offset, chunk.len, chunk.fin);
            if buf.is_fully_acked() {
                self.serves.remove(&request_id);
                self.ready.retain(|r| *r != request_id);
            }
        }
    }

    /// A packet carrying this piece was lost: send it again.
    pub(crate) fn on_chunk_lost(&mut self, request_id: u64, chunk: &Chunk) {
        if let Some(Serve::Sending { buf, .. }) = self.serves.get_mut(&request_id) {
            buf.on_lost(chunk.offset, chunk.len, chunk.fin);
            if !self.ready.contains(&request_id) {
                self.ready.push_back(request_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(request_id: u64, total_len: u64, offset: u64, data: &[u8]) -> StorageData<'_> {
        StorageData {
            request_id,
            total_len,
            offset,
            data,
        }
    }

    #[test]
    fn pieces_in_any_order_and_overlapping_reassemble_and_verify() {
        let obj = b"the quick brown fox jumps over the lazy dog";
        let h = ContentHash::of(obj);
        let mut f = Fetches::default();
        f.start(1, h, 1000);
        let t = obj.len() as u64;
        assert_eq!(
            f.on_data(&data(1, t, 20, &obj[20..30])),
            DataOutcome::Pending
        );
        assert_eq!(f.on_data(&data(1, t, 5, &obj[5..25])), DataOutcome::Pending);
        assert_eq!(f.on_data(&data(1, t, 30, &obj[30..])), DataOutcome::Pending);
        assert_eq!(
            f.on_data(&data(1, t, 0, &obj[..6])),
            DataOutcome::Done {
                hash: h,
                data: Bytes::from_static(obj)
            }
        );
        assert_eq!(f.fetching(), 0);
        // Late duplicates for a finished fetch are ignored.
        assert_eq!(f.on_data(&data(1, t, 0, &obj[..6])), DataOutcome::Pending);
    }

    #[test]
    fn wrong_bytes_are_rejected_even_when_resent_right() {
        let obj = b"0123456789";
        let h = ContentHash::of(obj);
        let mut f = Fetches::default();
        f.start(2, h, 100);
        assert_eq!(f.on_data(&data(2, 10, 0, b"01234")), DataOutcome::Pending);
        // A liar sends wrong bytes for a range already held: they are not taken, but a
        // wrong piece elsewhere makes the whole object fail its hash.
        assert_eq!(f.on_data(&data(2, 10, 0, b"XXXXX")), DataOutcome::Pending);
        assert_eq!(
            f.on_data(&data(2, 10, 5, b"5678X")),
            DataOutcome::Failed {
                hash: h,
                error: FetchError::HashMismatch,
                cancel: false
            }
        );
    }

    #[test]
    fn total_above_maximum_or_changing_is_a_bad_response() {
        let h = ContentHash::of(b"x");
        let mut f = Fetches::default();
        f.start(3, h, 4);
        assert!(matches!(
            f.on_data(&data(3, 5, 0, b"a")),
            DataOutcome::Failed {
                error: FetchError::BadResponse,
                cancel: true,
                ..
            }
        ));
        f.start(4, h, 10);
        assert_eq!(f.on_data(&data(4, 3, 0, b"a")), DataOutcome::Pending);
        assert!(matches!(
            f.on_data(&data(4, 4, 1, b"b")),
            DataOutcome::Failed {
                error: FetchError::BadResponse,
                ..
            }
        ));
    }

    #[test]
    fn empty_object_and_refusals() {
        let h = ContentHash::of(b"");
        let mut f = Fetches::default();
        f.start(5, h, 0);
        assert_eq!(
            f.on_data(&data(5, 0, 0, b"")),
            DataOutcome::Done {
                hash: h,
                data: Bytes::new()
            }
        );
        f.start(6, h, 9);
        assert_eq!(
            f.on_refuse(6, crate::frame::ErrorCode::OBJECT_NOT_FOUND),
            Some((h, FetchError::NotFound))
        );
        assert_eq!(
            f.on_refuse(6, crate::frame::ErrorCode::OBJECT_NOT_FOUND),
            None
        );
    }

    #[test]
    fn serving_sends_every_byte_and_resends_lost_pieces() {
        let obj = Bytes::from(vec![7u8; 3000]);
        let mut f = Fetches::default();
        f.await_answer(9, ContentHash::of(&obj), 5000);
        assert_eq!(f.answer(9, Some(obj)).map(|a| a.1), Some(Answer::Send));
        assert_eq!(f.answer(9, None), None, "answered once");
        let mut chunks = Vec::new();
        while let Some((id, total, c)) = f.next_chunk(1000) {
            assert_eq!((id, total), (9, 3000));
            chunks.push(c);
        }
        assert_eq!(chunks.len(), 3);
        f.on_chunk_lost(9, &chunks[1]);
        let (_, _, again) = f.next_chunk(1000).unwrap();
        assert_eq!(again.offset, chunks[1].offset);
        f.on_chunk_acked(9, &chunks[0]);
        f.on_chunk_acked(9, &chunks[2]);
        assert_eq!(f.serving(), 1);
        f.on_chunk_acked(9, &again);
        assert_eq!(f.serving(), 0, "finished answers are forgotten");
    }

    #[test]
    fn a_piece_too_small_for_any_byte_keeps_the_answer_queued() {
        // Found by the `storage_read` fuzz target (regression-next-chunk-zero-room):
        // asking for a zero-byte piece dropped the answer from the send queue for good.
        let obj = Bytes::from(vec![3u8; 50]);
        let mut f = Fetches::default();
        f.await_answer(1, ContentHash::of(&obj), 100);
        assert_eq!(f.answer(1, Some(obj)).map(|a| a.1), Some(Answer::Send));
        assert_eq!(f.next_chunk(0), None, "no byte fits");
        assert!(f.has_pending(), "the answer is still queued");
        let (id, total, c) = f.next_chunk(1000).unwrap();
        assert_eq!((id, total, c.offset, c.len, c.fin), (1, 50, 0, 50, true));
        assert!(!f.has_pending());
    }

    #[test]
    fn too_large_or_missing_objects_are_refused() {
        let mut f = Fetches::default();
        f.await_answer(1, ContentHash::of(b"abc"), 2);
        assert_eq!(
            f.answer(1, Some(Bytes::from_static(b"abc"))).map(|a| a.1),
            Some(Answer::Refuse(crate::frame::ErrorCode::OBJECT_TOO_LARGE))
        );
        f.await_answer(2, ContentHash::of(b"abc"), 2);
        assert_eq!(
            f.answer(2, None).map(|a| a.1),
            Some(Answer::Refuse(crate::frame::ErrorCode::OBJECT_NOT_FOUND))
        );
        assert_eq!(f.serving(), 0);
    }
}
