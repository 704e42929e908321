//! The at-rest half of the storage oracle: a [`MemoryStore`] next to a model of what it
//! holds, with records damaged in place, and raw bytes opened as sealed records.
//!
//! Owns the catalog of objects the input named (stored or refused), which the fetch
//! half asks for and serves from the same store. Checks only; it fixes nothing.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use bytes::Bytes;

use super::{Damage, Op, StorageStats};
use stt_proto::storage::seal::NONCE_LEN;
use stt_proto::storage::{
    ContentHash, MemoryStore, ObjectStore, StorageError, StorageKey, StoreLimits,
};

/// Largest object the store accepts (small, so `TooLarge` is reachable).
pub(super) const MAX_OBJECT: u64 = 12_000;
/// Largest total the store holds (small, so `Full` is reachable).
const MAX_TOTAL: u64 = 40_000;
/// Most objects remembered in the catalog.
const MAX_CATALOG: usize = 32;

/// What the model knows of one stored object.
struct Record {
    content: Bytes,
    /// Records that open to `content`: the original and any valid reseal.
    valid: Vec<Vec<u8>>,
    /// Records of `content` sealed under the other node's key.
    foreign: Vec<Vec<u8>>,
}

/// The store, its model and the catalog.
pub(super) struct AtRest {
    key: StorageKey,
    other_key: StorageKey,
    store: MemoryStore,
    model: BTreeMap<ContentHash, Record>,
    used: u64,
    catalog: Vec<Bytes>,
    pub(super) stats: StorageStats,
}

/// `len` bytes determined by `seed`.
pub(super) fn pattern(seed: u8, len: usize) -> Vec<u8> {
    let mut x = u32::from(seed) | 0x9e37_0000;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn key(seed: u8) -> StorageKey {
    match StorageKey::from_node_seed(&[seed; 32]) {
        Ok(k) => k,
        Err(e) => panic!("a 32-byte seed is long enough: {e}"),
    }
}

/// `i % len`, or `None` for an empty list.
fn pick(i: u8, len: usize) -> Option<usize> {
    (len > 0).then(|| usize::from(i) % len)
}

impl AtRest {
    pub(super) fn new() -> Self {
        let limits = StoreLimits {
            max_object_size: MAX_OBJECT,
            max_total_size: MAX_TOTAL,
        };
        Self {
            key: key(4),
            other_key: key(5),
            store: MemoryStore::new(key(4), [6; 32], limits),
            model: BTreeMap::new(),
            used: 0,
            catalog: Vec::new(),
            stats: StorageStats::default(),
        }
    }

    /// The catalog object `i` picks, if any.
    pub(super) fn known(&self, i: u8) -> Option<&Bytes> {
        self.catalog.get(pick(i, self.catalog.len())?)
    }

    /// The catalog object with this hash, if the input named it.
    pub(super) fn content_of(&self, hash: &ContentHash) -> Option<&Bytes> {
        self.catalog.iter().find(|c| ContentHash::of(c) == *hash)
    }

    /// What the server's application finds in its store for `hash`.
    pub(super) fn lookup(&self, hash: &ContentHash) -> Option<Bytes> {
        let got = self.store.get(hash);
        if let Ok(Some(b)) = &got {
            assert_eq!(ContentHash::of(b), *hash, "store returned foreign bytes");
        }
        got.ok().flatten()
    }

    fn stored(&self, i: u8) -> Option<ContentHash> {
        self.model.keys().nth(pick(i, self.model.len())?).copied()
    }

    /// Runs `op` if it is an at-rest step; false otherwise.
    pub(super) fn step(&mut self, op: &Op, payload: &[u8]) -> bool {
        match op {
            Op::Put { .. } => self.put(payload.to_vec()),
            Op::PutPattern { seed, len } => self.put(pattern(*seed, usize::from(*len % 16_385))),
            Op::Get { object } => {
                if let Some(h) = self.stored(*object) {
                    self.get(h);
                }
            }
            Op::GetWrongKey { object } => {
                if let Some(h) = self.stored(*object) {
                    self.get_wrong_key(h);
                }
            }
            Op::GetUnknown { hash } => self.get(ContentHash(*hash)),
            Op::Damage { object, damage } => {
                if let Some(h) = self.stored(*object) {
                    self.damage(h, damage);
                }
            }
            Op::Delete { object } => {
                if let Some(c) = self.known(*object) {
                    let h = ContentHash::of(c);
                    let want = match self.model.remove(&h) {
                        Some(r) => {
                            self.used -= r.content.len() as u64;
                            true
                        }
                        None => false,
                    };
                    assert_eq!(self.store.delete(&h), Ok(want), "delete {h}");
                }
            }
            Op::OpenRaw { target, .. } => self.open_raw(*target, payload),
            Op::ParseHash { .. } => parse_hash(&String::from_utf8_lossy(payload)),
            _ => return false,
        }
        true
    }

    fn put(&mut self, data: Vec<u8>) {
        let h = ContentHash::of(&data);
        let len = data.len() as u64;
        let before = self.store.sealed(&h).map(<[u8]>::to_vec);
        let want = if len > MAX_OBJECT {
            Err(StorageError::TooLarge {
                len,
                max: MAX_OBJECT,
            })
        } else if self.model.contains_key(&h) {
            Ok(h)
        } else if self.used + len > MAX_TOTAL {
            Err(StorageError::Full {
                used: self.used,
                max: MAX_TOTAL,
                len,
            })
        } else {
            Ok(h)
        };
        assert_eq!(self.store.put(&data), want, "put of {len} bytes");
        if want.is_ok() {
            if before.is_some() {
                assert_eq!(
                    self.store.sealed(&h).map(<[u8]>::to_vec),
                    before,
                    "resealed"
                );
            } else {
                let sealed = self.store.sealed(&h).unwrap_or_default().to_vec();
                // Only the ciphertext and tag may not hold the plaintext: the version
                // byte and the random nonce before them are stored in the clear, and
                // an input may copy the nonce the seeded generator will draw.
                let body = sealed.get(1 + NONCE_LEN..).unwrap_or_default();
                if data.len() >= 16 {
                    assert!(
                        !body.windows(data.len()).any(|w| w == data),
                        "plaintext at rest"
                    );
                }
                self.used += len;
                let content = Bytes::from(data.clone());
                self.model.insert(
                    h,
                    Record {
                        content,
                        valid: vec![sealed],
                        foreign: Vec::new(),
                    },
                );
            }
        }
        if self.content_of(&h).is_none() {
            if self.catalog.len() >= MAX_CATALOG {
                self.catalog.remove(0);
            }
            self.catalog.push(Bytes::from(data));
        }
    }

    fn get(&mut self, h: ContentHash) {
        let got = self.store.get(&h);
        let Some(r) = self.model.get(&h) else {
            assert_eq!(got, Ok(None), "an object that was never stored");
            return;
        };
        let sealed = self.store.sealed(&h).unwrap_or_default();
        if r.valid.iter().any(|v| v == sealed) {
            assert_eq!(got, Ok(Some(r.content.clone())), "a sound record of {h}");
            self.stats.sound_reads += 1;
        } else {
            assert_eq!(
                got,
                Err(StorageError::Corrupt(h)),
                "a damaged record of {h}"
            );
            self.stats.corrupt_reads += 1;
        }
    }

    /// Another node's key opens only records that node sealed (`Damage::ForeignKey`).
    fn get_wrong_key(&self, h: ContentHash) {
        let sealed = self.store.sealed(&h).unwrap_or_default();
        let got = self.other_key.open(&h, sealed);
        match self.model.get(&h) {
            Some(r) if r.foreign.iter().any(|f| f == sealed) => {
                assert_eq!(got, Ok(r.content.to_vec()), "a foreign record of {h}");
            }
            _ => assert_eq!(
                got,
                Err(StorageError::Corrupt(h)),
                "a record opened under another node's key"
            ),
        }
    }

    fn damage(&mut self, h: ContentHash, damage: &Damage) {
        let other = match damage {
            Damage::SwapWith(o) => self
                .stored(*o)
                .and_then(|oh| self.store.sealed(&oh).map(<[u8]>::to_vec)),
            _ => None,
        };
        let Some(r) = self.model.get_mut(&h) else {
            return;
        };
        let Some(s) = self.store.sealed_mut(&h) else {
            panic!("stored object {h} has no record");
        };
        match damage {
            Damage::FlipBit { at, bit } => {
                if let Some(i) = pick_u16(*at, s.len()) {
                    s[i] ^= 1 << (bit % 8);
                }
            }
            Damage::Truncate { to } => s.truncate(usize::from(*to) % (s.len() + 1)),
            Damage::Extend { byte, count } => {
                s.extend(core::iter::repeat_n(*byte, usize::from(*count) + 1))
            }
            Damage::Version(v) => {
                if let Some(b) = s.first_mut() {
                    *b = *v;
                }
            }
            Damage::SwapWith(_) => {
                if let Some(o) = other {
                    *s = o;
                }
            }
            Damage::Reseal { nonce } => {
                *s = self.key.seal(&h, [*nonce; NONCE_LEN], &r.content);
                r.valid.push(s.clone());
            }
            Damage::ResealWrong { nonce } => {
                let mut wrong = r.content.to_vec();
                wrong.push(*nonce);
                *s = self.key.seal(&h, [*nonce; NONCE_LEN], &wrong);
            }
            Damage::ForeignKey { nonce } => {
                *s = self.other_key.seal(&h, [*nonce; NONCE_LEN], &r.content);
                r.foreign.push(s.clone());
            }
            Damage::Restore => {
                if let Some(v) = r.valid.first() {
                    s.clone_from(v);
                }
            }
        }
    }

    fn open_raw(&mut self, target: u8, raw: &[u8]) {
        let h = match self.known(target) {
            Some(c) if target.is_multiple_of(2) => ContentHash::of(c),
            _ => ContentHash::of(raw),
        };
        match self.key.open(&h, raw) {
            Ok(p) => {
                assert_eq!(ContentHash::of(&p), h, "opened bytes of another hash");
                self.stats.raw_opened += 1;
            }
            Err(e) => assert_eq!(e, StorageError::Corrupt(h)),
        }
    }

    /// The store agrees with the model.
    pub(super) fn check(&self) {
        assert_eq!(self.store.len(), self.model.len(), "objects held");
        assert_eq!(self.store.used(), self.used, "bytes held");
        assert!(self.used <= MAX_TOTAL, "store over its total limit");
        let listed = self.store.list().unwrap_or_default();
        assert!(
            listed.iter().eq(self.model.keys()),
            "list differs from what was stored"
        );
    }
}

fn pick_u16(i: u16, len: usize) -> Option<usize> {
    (len > 0).then(|| usize::from(i) % len)
}

/// A content hash parses from exactly 64 lowercase hex digits, and prints back the same.
fn parse_hash(s: &str) {
    let canonical = s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'));
    match s.parse::<ContentHash>() {
        Ok(h) => {
            assert!(canonical, "accepted {s:?}");
            assert_eq!(h.to_string(), s, "hash does not print back");
        }
        Err(_) => assert!(!canonical, "refused {s:?}"),
    }
}
