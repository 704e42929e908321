//! The core's only source of randomness: a deterministic ChaCha20 keystream from a seed.
//!
//! The core never asks the OS or a thread-local generator for randomness; callers hand it an
//! [`Rng`] seeded however they like (adapters from the OS, the simulator from its run seed).
//! [`Rng::fork`] derives independent child streams so secret draws (ephemeral keys, cookie
//! secrets) never share a stream with public ones (session ids, padding, jitter).

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher, StreamCipherSeek};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Domain-separation salt of [`Rng::fork`] (PROTOCOL.md §5.7.2).
const FORK_SALT: &[u8] = b"stt/1 rng fork";

/// A deterministic cryptographically strong generator: the ChaCha20 keystream of a 32-byte
/// seed. Two `Rng`s built from the same seed yield the same bytes; `Clone` snapshots the
/// position, so a cloned node replays the same draws.
#[derive(Clone, ZeroizeOnDrop)]
pub struct Rng {
    key: [u8; 32],
    /// Which keystream segment is in use (the ChaCha20 nonce).
    segment: u64,
    /// Bytes of the segment already drawn.
    pos: u64,
}

/// Bytes of keystream one ChaCha20 nonce yields (2³² blocks of 64 bytes).
const SEGMENT_LEN: u64 = 1 << 38;

impl core::fmt::Debug for Rng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Rng(..)")
    }
}

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self {
            key: seed,
            segment: 0,
            pos: 0,
        }
    }

    /// Fills `out` with the next bytes of the stream.
    pub fn fill(&mut self, out: &mut [u8]) {
        out.zeroize();
        let len = out.len() as u64;
        if self.pos.saturating_add(len) > SEGMENT_LEN {
            // Start the next segment rather than run the 32-bit block counter out.
            self.segment = self.segment.wrapping_add(1);
            self.pos = 0;
        }
        let mut iv = [0u8; 12];
        iv[4..].copy_from_slice(&self.segment.to_be_bytes());
        let mut cipher = ChaCha20::new(&self.key.into(), &iv.into());
        // Both calls stay inside the segment by the check above; the errors cannot occur.
        let _ = cipher.try_seek(self.pos);
        let _ = cipher.try_apply_keystream(out);
        self.pos += len;
    }

    /// The next 8 bytes of the stream as a big-endian integer.
    pub fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill(&mut b);
        u64::from_be_bytes(b)
    }

    /// The next 32 bytes of the stream.
    pub fn array32(&mut self) -> [u8; 32] {
        let mut b = [0u8; 32];
        self.fill(&mut b);
        b
    }

    /// An independent child stream named `label`: `HKDF-SHA256(salt = "stt/1 rng fork",
    /// ikm = seed).expand(label)`. It depends only on this generator's seed and the label,
    /// not on how much has been drawn, so the same label always forks the same stream.
    pub fn fork(&self, label: &[u8]) -> Rng {
        let mut child = [0u8; 32];
        hkdf_expand(FORK_SALT, &self.key, label, &mut child);
        let rng = Rng::from_seed(child);
        child.zeroize();
        rng
    }
}

/// `HKDF-SHA256(salt, ikm).expand(info)` into `out` (at most 255 × 32 bytes, which every
/// caller in this crate respects).
pub(crate) fn hkdf_expand(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    // Output lengths are compile-time constants ≤ 96 bytes, far below HKDF's 8160-byte limit.
    let _ = hk.expand(info, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_forks_differ() {
        let mut a = Rng::from_seed([7; 32]);
        let mut b = Rng::from_seed([7; 32]);
        assert_eq!(a.u64(), b.u64());
        let mut c = a.clone();
        assert_eq!(a.array32(), c.array32());
        let mut s = a.fork(b"secret");
        let mut p = a.fork(b"public");
        assert_ne!(s.array32(), p.array32());
        assert_eq!(a.fork(b"secret").array32(), b.fork(b"secret").array32());
    }

    #[test]
    fn keystream_matches_chacha20() {
        // The first block of ChaCha20 with key 0 and nonce 0 (RFC 8439 §A.1 test vector 1).
        let mut r = Rng::from_seed([0; 32]);
        let mut out = [0u8; 16];
        r.fill(&mut out);
        assert_eq!(hex::encode(out), "76b8e0ada0f13d90405d6ae55386bd28");
    }
}
