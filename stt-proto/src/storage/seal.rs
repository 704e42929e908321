//! Encryption at rest: one AEAD seal per stored object (XChaCha20-Poly1305 from the
//! `chacha20poly1305` crate, a fresh random 192-bit nonce per object, so random nonces
//! never collide in practice), under a key derived from the node seed.
//!
//! Sealed format (docs/PRIMITIVES.md): `version (1) ‖ nonce (24) ‖ ciphertext ‖ tag (16)`,
//! associated data `"stt/1 storage object" ‖ hash`, so an object cannot be passed off
//! under another hash. Opening also checks that the plaintext hashes to its address.
//! No primitive is implemented here; randomness is the caller's.

use alloc::vec::Vec;

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{ContentHash, StorageError};
use crate::identity::SeedError;
use crate::rng::hkdf_expand;

/// Version byte of the sealed format.
pub const SEAL_VERSION: u8 = 1;
/// Nonce length (XChaCha20-Poly1305).
pub const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Bytes a sealed object adds to its plaintext.
pub const SEAL_OVERHEAD: usize = 1 + NONCE_LEN + TAG_LEN;

const KEY_SALT: &[u8] = b"stt/1 storage";
const KEY_INFO: &[u8] = b"at rest";
const AD_PREFIX: &[u8] = b"stt/1 storage object";

/// The at-rest key of a node's store. Zeroized on drop; never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StorageKey([u8; 32]);

impl core::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StorageKey(..)")
    }
}

fn ad(hash: &ContentHash) -> [u8; AD_PREFIX.len() + 32] {
    let mut out = [0u8; AD_PREFIX.len() + 32];
    out[..AD_PREFIX.len()].copy_from_slice(AD_PREFIX);
    out[AD_PREFIX.len()..].copy_from_slice(&hash.0);
    out
}

impl StorageKey {
    /// Derives the key from the node seed (HKDF-SHA256, its own salt and info, so it is
    /// independent of the node's identity key).
    pub fn from_node_seed(node_seed: &[u8]) -> Result<Self, SeedError> {
        if node_seed.len() < crate::identity::MIN_SEED_LEN {
            return Err(SeedError::TooShort {
                len: node_seed.len(),
                min: crate::identity::MIN_SEED_LEN,
            });
        }
        let mut key = [0u8; 32];
        hkdf_expand(KEY_SALT, node_seed, KEY_INFO, &mut key);
        Ok(Self(key))
    }

    /// Seals `plaintext`, stored under `hash`, with `nonce` (random, never reused).
    pub fn seal(&self, hash: &ContentHash, nonce: [u8; NONCE_LEN], plaintext: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        out.push(SEAL_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        let start = 1 + NONCE_LEN;
        // The crate refuses only messages beyond 2^38 bytes, above any store limit.
        let tag = cipher
            .encrypt_inout_detached(&nonce.into(), &ad(hash), (&mut out[start..]).into())
            .map(<[u8; TAG_LEN]>::from)
            .unwrap_or([0; TAG_LEN]);
        out.extend_from_slice(&tag);
        out
    }

    /// Opens a sealed object stored under `hash`: checks the format, the tag and the
    /// plaintext's hash. Anything else is [`StorageError::Corrupt`].
    pub fn open(&self, hash: &ContentHash, sealed: &[u8]) -> Result<Vec<u8>, StorageError> {
        let corrupt = StorageError::Corrupt(*hash);
        if sealed.len() < SEAL_OVERHEAD || sealed[0] != SEAL_VERSION {
            return Err(corrupt);
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN].try_into().map_err(|_| corrupt)?;
        let body_end = sealed.len() - TAG_LEN;
        let tag: [u8; TAG_LEN] = sealed[body_end..].try_into().map_err(|_| corrupt)?;
        let mut plain = sealed[1 + NONCE_LEN..body_end].to_vec();
        let cipher = XChaCha20Poly1305::new(&self.0.into());
        cipher
            .decrypt_inout_detached(
                &nonce.into(),
                &ad(hash),
                plain.as_mut_slice().into(),
                &tag.into(),
            )
            .map_err(|_| corrupt)?;
        if ContentHash::of(&plain) != *hash {
            return Err(corrupt);
        }
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> StorageKey {
        StorageKey::from_node_seed(&[9; 32]).unwrap()
    }

    #[test]
    fn seal_open_round_trip_and_nonce_changes_ciphertext() {
        let data = b"telemetry archive";
        let h = ContentHash::of(data);
        let a = key().seal(&h, [1; NONCE_LEN], data);
        let b = key().seal(&h, [2; NONCE_LEN], data);
        assert_eq!(a.len(), data.len() + SEAL_OVERHEAD);
        assert_ne!(a, b, "a fresh nonce gives a fresh ciphertext");
        assert!(
            !a.windows(data.len()).any(|w| w == data),
            "no plaintext at rest"
        );
        assert_eq!(key().open(&h, &a).unwrap(), data);
        assert_eq!(key().open(&h, &b).unwrap(), data);
    }

    #[test]
    fn any_flipped_bit_wrong_hash_or_wrong_key_is_corrupt() {
        let data = b"0123456789";
        let h = ContentHash::of(data);
        let sealed = key().seal(&h, [7; NONCE_LEN], data);
        for i in 0..sealed.len() {
            for bit in [0x01, 0x80] {
                let mut bad = sealed.clone();
                bad[i] ^= bit;
                assert_eq!(
                    key().open(&h, &bad),
                    Err(StorageError::Corrupt(h)),
                    "byte {i}"
                );
            }
        }
        for cut in 0..sealed.len() {
            assert!(key().open(&h, &sealed[..cut]).is_err());
        }
        let other = ContentHash::of(b"other");
        assert_eq!(
            key().open(&other, &sealed),
            Err(StorageError::Corrupt(other))
        );
        let k2 = StorageKey::from_node_seed(&[8; 32]).unwrap();
        assert!(k2.open(&h, &sealed).is_err());
        assert!(StorageKey::from_node_seed(&[1; 16]).is_err());
    }

    #[test]
    fn a_sealed_object_under_its_own_hash_but_wrong_content_is_corrupt() {
        // Sealed correctly by the key holder but with bytes that do not hash to the
        // address (a buggy writer): still never returned.
        let h = ContentHash::of(b"right");
        let sealed = key().seal(&h, [3; NONCE_LEN], b"wrong");
        assert_eq!(key().open(&h, &sealed), Err(StorageError::Corrupt(h)));
    }
}
