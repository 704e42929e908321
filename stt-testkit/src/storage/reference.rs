//! The requester side of the fetch oracle, checked against PROTOCOL.md §4.7 rather than
//! against a second copy of `session/fetch.rs`: each fetch keeps what its frames
//! announced and carried, the verdict a frame must produce is read off the spec's rules,
//! and a completed object is hashed here with the `sha3` crate, not the library's code.
//!
//! It never calls into the code under test: `exchange.rs` hands the same frame to the
//! real fetch table (through `stt_proto::test_hooks`) and compares the two.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use sha3::{Digest, Sha3_256};
use stt_proto::error::FetchError;
use stt_proto::frame::{ErrorCode, StorageData};
use stt_proto::storage::ContentHash;
use stt_proto::test_hooks::FetchOutcome;

/// Most fetches in progress at once, as `max_fetches` bounds a session.
const MAX_LIVE: usize = 8;

/// What the requester was sent for one fetch.
struct Expect {
    /// The requested hash.
    hash: ContentHash,
    /// The largest object accepted.
    max_len: u64,
    /// The total length the answer announced (its first frame's).
    total: Option<u64>,
    /// The object as received: per offset, the byte of the first frame that carried it.
    /// The spec leaves which copy of a byte counts to the requester; one kept is never
    /// replaced (what was hashed is what is delivered), so the first copy counts.
    object: Vec<Option<u8>>,
    /// Offsets of `object` not received yet.
    missing: usize,
}

/// The fetches in progress, as the spec says they must go.
pub(super) struct Reference {
    live: BTreeMap<u64, Expect>,
    /// Ids ever used: a session never reuses a request id.
    used: BTreeSet<u64>,
}

/// SHA3-256 of `bytes`, computed here.
fn sha3(bytes: &[u8]) -> ContentHash {
    ContentHash(Sha3_256::digest(bytes).into())
}

impl Reference {
    pub(super) fn new() -> Self {
        Self {
            live: BTreeMap::new(),
            used: BTreeSet::new(),
        }
    }

    /// The hash and maximum of fetch `id`, if it is in progress.
    pub(super) fn asked(&self, id: u64) -> Option<(ContentHash, u64)> {
        self.live.get(&id).map(|f| (f.hash, f.max_len))
    }

    /// True while fetch `id` is in progress.
    pub(super) fn is_live(&self, id: u64) -> bool {
        self.live.contains_key(&id)
    }

    /// Fetches in progress.
    pub(super) fn len(&self) -> usize {
        self.live.len()
    }

    /// The fetches in progress as (id, maximum, announced total).
    pub(super) fn limits(&self) -> impl Iterator<Item = (u64, u64, Option<u64>)> + '_ {
        self.live.iter().map(|(id, f)| (*id, f.max_len, f.total))
    }

    /// Records a new fetch unless its id was used or too many are in progress (as a
    /// session allocates ids and bounds fetches); true if it starts.
    pub(super) fn start(&mut self, id: u64, hash: ContentHash, max_len: u64) -> bool {
        if self.live.len() >= MAX_LIVE || !self.used.insert(id) {
            return false;
        }
        let f = Expect {
            hash,
            max_len,
            total: None,
            object: Vec::new(),
            missing: 0,
        };
        self.live.insert(id, f);
        true
    }

    /// The application cancels fetch `id`: its hash if it was in progress.
    pub(super) fn cancel(&mut self, id: u64) -> Option<ContentHash> {
        self.live.remove(&id).map(|f| f.hash)
    }

    /// A STORAGE_REFUSE: a live fetch fails with the error its code names (§4.7 lists
    /// the three codes; `FetchError` documents one variant per code, and any other code
    /// is an unnamed refusal).
    pub(super) fn refuse(&mut self, id: u64, code: ErrorCode) -> Option<(ContentHash, FetchError)> {
        let f = self.live.remove(&id)?;
        let error = if code == ErrorCode::OBJECT_NOT_FOUND {
            FetchError::NotFound
        } else if code == ErrorCode::OBJECT_TOO_LARGE {
            FetchError::TooLarge
        } else if code == ErrorCode::RESOURCE_EXHAUSTED {
            FetchError::Busy
        } else {
            FetchError::Refused(code)
        };
        Some((f.hash, error))
    }

    /// A STORAGE_DATA: what the requester must report, by the rules of §4.7.
    pub(super) fn data(&mut self, d: &StorageData<'_>) -> FetchOutcome {
        // "Frames for a finished, failed or cancelled request are ignored."
        let Some(f) = self.live.get_mut(&d.request_id) else {
            return FetchOutcome::Pending;
        };
        // "[It accepts a frame] only if its total length is at most the maximum it
        // asked for and equal to the total of every earlier frame of the same answer;
        // otherwise the fetch fails and the requester sends STORAGE_CANCEL."
        let total = *f.total.get_or_insert(d.total_len);
        if d.total_len > f.max_len || d.total_len != total {
            let hash = f.hash;
            self.live.remove(&d.request_id);
            return FetchOutcome::Failed {
                hash,
                error: FetchError::BadResponse,
                cancel: true,
            };
        }
        if f.object.len() as u64 != total {
            f.object = vec![None; total as usize];
            f.missing = f.object.len();
        }
        // The codec refuses a frame whose offset + length passes its total.
        let at = d.offset as usize;
        for (slot, b) in f.object[at..at + d.data.len()].iter_mut().zip(d.data) {
            if slot.is_none() {
                *slot = Some(*b);
                f.missing -= 1;
            }
        }
        // "Once every byte has arrived the requester computes SHA3-256 of the object and
        // delivers it only if it equals the requested hash."
        if f.missing > 0 {
            return FetchOutcome::Pending;
        }
        let Some(f) = self.live.remove(&d.request_id) else {
            return FetchOutcome::Pending;
        };
        let object: Vec<u8> = f.object.into_iter().flatten().collect();
        if sha3(&object) == f.hash {
            FetchOutcome::Done {
                hash: f.hash,
                data: Bytes::from(object),
            }
        } else {
            FetchOutcome::Failed {
                hash: f.hash,
                error: FetchError::HashMismatch,
                cancel: false,
            }
        }
    }
}
