//! Content-addressed storage: objects named by [`ContentHash`] (SHA3-256 of their
//! bytes), stored once however often they are put (deduplication), encrypted at rest
//! under a key derived from the node seed ([`seal`]), with size limits and a
//! list/delete API ([`ObjectStore`]). [`MemoryStore`] is the in-memory backend; the
//! adapters add a persistent file-system one. Fetching from a peer by hash is the
//! session's job (PROTOCOL.md §4.7, `session/fetch.rs`).
//!
//! Nothing here does IO or reads a clock; randomness (nonces) comes from the caller.

mod memory;
pub mod seal;

use alloc::vec::Vec;
use bytes::Bytes;
use core::fmt;
use core::str::FromStr;

use sha3::{Digest, Sha3_256};

pub use memory::MemoryStore;
pub use seal::{SEAL_OVERHEAD, StorageKey};

/// The address of an object: SHA3-256 of its bytes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha3_256::digest(data).into())
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::hex::Hex(&self.0))
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

/// A string is not a content hash (64 lowercase hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a content hash is 64 lowercase hex digits")]
pub struct ContentHashParseError;

impl FromStr for ContentHash {
    type Err = ContentHashParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(ContentHashParseError);
        }
        let digit = |c: u8| match c {
            b'0'..=b'9' => Ok(c - b'0'),
            b'a'..=b'f' => Ok(c - b'a' + 10),
            _ => Err(ContentHashParseError),
        };
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = (digit(b[2 * i])? << 4) | digit(b[2 * i + 1])?;
        }
        Ok(Self(out))
    }
}

/// Names one fetch (a STORAGE_GET this node sent) on its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FetchId(pub u64);

/// Names one peer storage request waiting for `SessionRef::serve_object`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServeId(pub u64);

/// Limits of a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Largest object accepted, in bytes.
    pub max_object_size: u64,
    /// Largest total of object sizes held, in bytes.
    pub max_total_size: u64,
}

impl Default for StoreLimits {
    /// 16 MiB objects, 1 GiB in total.
    fn default() -> Self {
        Self {
            max_object_size: 16 << 20,
            max_total_size: 1 << 30,
        }
    }
}

/// Why a store operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StorageError {
    /// The object is larger than the store's limit.
    #[error("object of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its size.
        len: u64,
        /// The limit.
        max: u64,
    },
    /// Storing it would exceed the store's total size limit.
    #[error("store full: {used} of {max} bytes used, {len} more asked")]
    Full {
        /// Bytes held now.
        used: u64,
        /// The limit.
        max: u64,
        /// The object's size.
        len: u64,
    },
    /// The stored object failed its authentication or hash check: it was altered or
    /// damaged. It is never returned.
    #[error("stored object {0} is corrupt")]
    Corrupt(ContentHash),
}

/// A content-addressed, deduplicating byte store.
///
/// `put` of bytes already stored is a no-op returning the same hash; `get` returns
/// exactly the bytes that were put, or an error, never damaged bytes.
pub trait ObjectStore {
    /// The backend's error type (the adapters' file store adds IO failures).
    type Error: From<StorageError>;

    /// Stores `data` (once) and returns its hash.
    fn put(&mut self, data: &[u8]) -> Result<ContentHash, Self::Error>;

    /// The object with this hash, verified, if stored.
    fn get(&self, hash: &ContentHash) -> Result<Option<Bytes>, Self::Error>;

    /// True if an object with this hash is stored (not verified).
    fn contains(&self, hash: &ContentHash) -> Result<bool, Self::Error>;

    /// Removes the object; false if it was not stored.
    fn delete(&mut self, hash: &ContentHash) -> Result<bool, Self::Error>;

    /// Every stored hash, in ascending order.
    fn list(&self) -> Result<Vec<ContentHash>, Self::Error>;
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn hash_round_trips_through_hex() {
        let h = ContentHash::of(b"hello world");
        assert_eq!(
            h.to_string(),
            "644bcc7e564373040999aac89e7622f3ca71fba1d972fd94a31c3bfbf24e3938"
        );
        assert_eq!(h.to_string().parse(), Ok(h));
        assert_eq!("zz".parse::<ContentHash>(), Err(ContentHashParseError));
        assert!(h.to_string().to_uppercase().parse::<ContentHash>().is_err());
    }
}
