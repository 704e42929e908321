//! The requester half of the fetch oracle: a `Fetches` next to a naive model of each
//! fetch (a byte per slot, the first copy of each byte wins), which decides exactly how
//! every STORAGE_DATA and STORAGE_REFUSE must end. Fetch ids are never reused, as a
//! session allocates them.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec;
use alloc::vec::Vec;
use bytes::Bytes;

use super::StorageStats;
use crate::error::FetchError;
use crate::frame::{ErrorCode, StorageData};
use crate::session::{DataOutcome, Fetches};
use crate::storage::ContentHash;

/// Most fetches in progress at once, as `max_fetches` bounds a session.
const MAX_LIVE: usize = 8;

/// The model of one fetch.
struct FetchModel {
    hash: ContentHash,
    max_len: u64,
    total: Option<u64>,
    bytes: Vec<Option<u8>>,
    filled: usize,
}

/// The requester's `Fetches` and its model.
pub(super) struct Requester {
    real: Fetches,
    model: BTreeMap<u64, FetchModel>,
    used: BTreeSet<u64>,
}

impl Requester {
    pub(super) fn new() -> Self {
        Self {
            real: Fetches::default(),
            model: BTreeMap::new(),
            used: BTreeSet::new(),
        }
    }

    /// The hash and maximum of fetch `id`, if it is in progress.
    pub(super) fn asked(&self, id: u64) -> Option<(ContentHash, u64)> {
        self.model.get(&id).map(|f| (f.hash, f.max_len))
    }

    /// Starts a fetch, unless the id was used or too many are in progress.
    pub(super) fn start(&mut self, id: u64, hash: ContentHash, max_len: u64) {
        if self.model.len() >= MAX_LIVE || !self.used.insert(id) {
            return;
        }
        self.real.start(id, hash, max_len);
        self.model.insert(
            id,
            FetchModel {
                hash,
                max_len,
                total: None,
                bytes: Vec::new(),
                filled: 0,
            },
        );
    }

    /// The application cancels fetch `id`; true if it was in progress.
    pub(super) fn cancel(&mut self, id: u64) -> bool {
        let want = self.model.remove(&id).map(|f| f.hash);
        assert_eq!(self.real.cancel(id), want, "cancel {id}");
        want.is_some()
    }

    /// What the model says a STORAGE_DATA does; updates the model.
    fn expect_data(&mut self, d: &StorageData<'_>) -> DataOutcome {
        let Some(f) = self.model.get_mut(&d.request_id) else {
            return DataOutcome::Pending;
        };
        let consistent = match f.total {
            Some(t) => t == d.total_len,
            None => d.total_len <= f.max_len,
        };
        if !consistent {
            let hash = f.hash;
            self.model.remove(&d.request_id);
            return DataOutcome::Failed {
                hash,
                error: FetchError::BadResponse,
                cancel: true,
            };
        }
        if f.total.is_none() {
            f.total = Some(d.total_len);
            f.bytes = vec![None; d.total_len as usize];
        }
        for (i, b) in d.data.iter().enumerate() {
            let slot = &mut f.bytes[d.offset as usize + i];
            if slot.is_none() {
                *slot = Some(*b);
                f.filled += 1;
            }
        }
        if f.filled < f.bytes.len() {
            return DataOutcome::Pending;
        }
        let hash = f.hash;
        let data: Vec<u8> = f.bytes.iter().map(|b| b.unwrap_or_default()).collect();
        self.model.remove(&d.request_id);
        if ContentHash::of(&data) == hash {
            DataOutcome::Done {
                hash,
                data: Bytes::from(data),
            }
        } else {
            DataOutcome::Failed {
                hash,
                error: FetchError::HashMismatch,
                cancel: false,
            }
        }
    }

    /// Hands a STORAGE_DATA to the requester; checks the outcome against the model.
    pub(super) fn on_data(&mut self, d: &StorageData<'_>, stats: &mut StorageStats) -> DataOutcome {
        let asked = self.model.get(&d.request_id).map(|f| f.hash);
        let want = self.expect_data(d);
        let got = self.real.on_data(d);
        assert_eq!(
            got,
            want,
            "STORAGE_DATA {:?}",
            (d.request_id, d.total_len, d.offset, d.data.len())
        );
        match &got {
            DataOutcome::Done { hash, data } => {
                assert_eq!(Some(*hash), asked, "delivered for another request");
                assert_eq!(
                    ContentHash::of(data),
                    *hash,
                    "delivered bytes of another hash"
                );
                stats.fetched += 1;
            }
            DataOutcome::Failed { error, .. } => match error {
                FetchError::HashMismatch => stats.hash_mismatches += 1,
                _ => stats.bad_responses += 1,
            },
            DataOutcome::Pending => {}
        }
        got
    }

    /// Hands a STORAGE_REFUSE to the requester; checks the outcome against the model.
    pub(super) fn refuse(&mut self, request_id: u64, code: ErrorCode, stats: &mut StorageStats) {
        let want = self.model.remove(&request_id).map(|f| {
            let error = match code {
                ErrorCode::OBJECT_NOT_FOUND => FetchError::NotFound,
                ErrorCode::OBJECT_TOO_LARGE => FetchError::TooLarge,
                ErrorCode::RESOURCE_EXHAUSTED => FetchError::Busy,
                other => FetchError::Refused(other),
            };
            (f.hash, error)
        });
        if want.is_some() {
            stats.refused += 1;
        }
        assert_eq!(self.real.on_refuse(request_id, code), want, "refuse");
    }

    /// Counts and the memory bound agree with the model.
    pub(super) fn check(&self) {
        assert_eq!(self.real.fetching(), self.model.len(), "fetches");
        for (id, f) in &self.model {
            assert!(self.real.is_fetching(*id), "fetch {id} lost");
            let held = self.real.buffer_len(*id).unwrap_or_default() as u64;
            assert!(
                held <= f.max_len,
                "fetch {id} holds {held} > max {}",
                f.max_len
            );
            assert!(
                held <= f.total.unwrap_or(0),
                "fetch {id} holds past its total"
            );
        }
    }

    /// True while fetch `id` is in progress.
    pub(super) fn is_live(&self, id: u64) -> bool {
        self.model.contains_key(&id)
    }
}
