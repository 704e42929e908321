//! The in-memory [`ObjectStore`]: sealed objects in a sorted map. Bounded by
//! [`StoreLimits`]; nonces come from a caller-seeded [`Rng`], so the core stays free of
//! OS randomness and a simulated run stays reproducible.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use bytes::Bytes;

use super::seal::NONCE_LEN;
use super::{ContentHash, ObjectStore, StorageError, StorageKey, StoreLimits};
use crate::rng::Rng;

/// Sealed objects held in memory.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    key: StorageKey,
    rng: Rng,
    limits: StoreLimits,
    objects: BTreeMap<ContentHash, (u64, Vec<u8>)>,
    used: u64,
}

impl MemoryStore {
    /// An empty store sealing under `key`, drawing nonces from `rng_seed`.
    pub fn new(key: StorageKey, rng_seed: [u8; 32], limits: StoreLimits) -> Self {
        Self {
            key,
            rng: Rng::from_seed(rng_seed),
            limits,
            objects: BTreeMap::new(),
            used: 0,
        }
    }

    /// Total plaintext bytes held.
    pub fn used(&self) -> u64 {
        self.used
    }

    /// Number of objects held.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True if no object is held.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// The sealed bytes of an object, as they are held (for tests and snapshots).
    pub fn sealed(&self, hash: &ContentHash) -> Option<&[u8]> {
        self.objects.get(hash).map(|(_, s)| s.as_slice())
    }

    /// Replaces the sealed bytes of an object (simulates damage at rest in tests).
    pub fn sealed_mut(&mut self, hash: &ContentHash) -> Option<&mut Vec<u8>> {
        self.objects.get_mut(hash).map(|(_, s)| s)
    }
}

impl ObjectStore for MemoryStore {
    type Error = StorageError;

    fn put(&mut self, data: &[u8]) -> Result<ContentHash, StorageError> {
        let len = data.len() as u64;
        if len > self.limits.max_object_size {
            return Err(StorageError::TooLarge {
                len,
                max: self.limits.max_object_size,
            });
        }
        let hash = ContentHash::of(data);
        if self.objects.contains_key(&hash) {
            return Ok(hash);
        }
        if self.used + len > self.limits.max_total_size {
            return Err(StorageError::Full {
                used: self.used,
                max: self.limits.max_total_size,
                len,
            });
        }
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce);
        let sealed = self.key.seal(&hash, nonce, data);
        self.objects.insert(hash, (len, sealed));
        self.used += len;
        Ok(hash)
    }

    fn get(&self, hash: &ContentHash) -> Result<Option<Bytes>, StorageError> {
        match self.objects.get(hash) {
            Some((_, sealed)) => self.key.open(hash, sealed).map(|p| Some(Bytes::from(p))),
            None => Ok(None),
        }
    }

    fn contains(&self, hash: &ContentHash) -> Result<bool, StorageError> {
        Ok(self.objects.contains_key(hash))
    }

    fn delete(&mut self, hash: &ContentHash) -> Result<bool, StorageError> {
        match self.objects.remove(hash) {
            Some((len, _)) => {
                self.used -= len;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    fn list(&self) -> Result<Vec<ContentHash>, StorageError> {
        Ok(self.objects.keys().copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(limits: StoreLimits) -> MemoryStore {
        MemoryStore::new(
            StorageKey::from_node_seed(&[4; 32]).unwrap(),
            [5; 32],
            limits,
        )
    }

    #[test]
    fn dedup_get_list_delete() {
        let mut s = store(StoreLimits::default());
        let a = s.put(b"alpha").unwrap();
        let sealed = s.sealed(&a).unwrap().to_vec();
        assert_eq!(s.put(b"alpha").unwrap(), a, "same bytes, same hash");
        assert_eq!(
            s.sealed(&a).unwrap(),
            &sealed[..],
            "stored once, not resealed"
        );
        assert_eq!((s.len(), s.used()), (1, 5));
        let b = s.put(b"beta").unwrap();
        assert_eq!(s.get(&a).unwrap().unwrap(), &b"alpha"[..]);
        let mut want = alloc::vec![a, b];
        want.sort();
        assert_eq!(s.list().unwrap(), want);
        assert!(s.delete(&a).unwrap());
        assert!(!s.delete(&a).unwrap());
        assert_eq!(s.get(&a).unwrap(), None);
        assert_eq!((s.len(), s.used()), (1, 4));
    }

    #[test]
    fn limits_are_typed_errors() {
        let mut s = store(StoreLimits {
            max_object_size: 8,
            max_total_size: 12,
        });
        assert_eq!(
            s.put(&[0; 9]),
            Err(StorageError::TooLarge { len: 9, max: 8 })
        );
        s.put(&[1; 8]).unwrap();
        assert_eq!(
            s.put(&[2; 5]),
            Err(StorageError::Full {
                used: 8,
                max: 12,
                len: 5
            })
        );
        s.put(&[3; 4]).unwrap();
    }

    #[test]
    fn tampered_object_is_reported_never_returned() {
        let mut s = store(StoreLimits::default());
        let h = s.put(b"do not alter").unwrap();
        let last = s.sealed(&h).unwrap().len() - 1;
        s.sealed_mut(&h).unwrap()[last] ^= 1;
        assert_eq!(s.get(&h), Err(StorageError::Corrupt(h)));
    }
}
