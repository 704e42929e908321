//! The hash functions and key derivations the protocol uses, in one place: SHA3-256
//! (NodeIds, endpoint ids, content hashes) and SHA-256 with HMAC and HKDF (Noise, cookies,
//! key schedules, the RNG). Protocol code calls these and never names a hash crate; AEADs
//! and X25519, which have several backends, go through `crypto::CryptoProvider`.
//!
//! A leaf module: it imports nothing of the protocol.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sha3::{Digest, Sha3_256};

/// SHA3-256 of `data`.
pub(crate) fn sha3_256(data: &[u8]) -> [u8; 32] {
    Sha3_256::digest(data).into()
}

/// SHA3-256 over data that arrives in pieces (a fetched object).
#[derive(Debug, Clone, Default)]
pub(crate) struct Sha3Hasher(Sha3_256);

impl Sha3Hasher {
    /// Adds the next piece.
    pub(crate) fn update(&mut self, data: &[u8]) {
        Digest::update(&mut self.0, data);
    }

    /// The digest of everything added.
    pub(crate) fn finalize(self) -> [u8; 32] {
        self.0.finalize().into()
    }
}

/// SHA-256 of the concatenation of `parts`.
pub(crate) fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha256::new();
    for p in parts {
        Digest::update(&mut d, p);
    }
    d.finalize().into()
}

/// HMAC-SHA256 of the concatenation of `parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        // HMAC accepts keys of any length; this arm is never taken.
        Err(_) => return [0; 32],
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `HKDF-SHA256(salt, ikm).expand(info)` into `out` (RFC 5869). Every caller asks for at
/// most 96 bytes, far below HKDF's 8160-byte limit.
pub(crate) fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let _ = hk.expand(info, out);
}

/// `HKDF-Expand(prk, info)` into `out` (RFC 5869 §2.3); `prk` is a 32-byte secret.
pub(crate) fn hkdf_expand_prk(prk: &[u8; 32], info: &[&[u8]], out: &mut [u8]) {
    if let Ok(hk) = Hkdf::<Sha256>::from_prk(prk) {
        // Output lengths in this crate are ≤ 32 bytes, far below the 8160-byte limit.
        let _ = hk.expand_multi_info(info, out);
    }
}
