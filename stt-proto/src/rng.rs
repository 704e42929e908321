//! The core's only source of randomness: a deterministic ChaCha20 keystream from a seed.
//!
//! The core never asks the OS or a thread-local generator for randomness; callers hand it an
//! [`Rng`] seeded however they like (adapters from the OS, the simulator from its run seed).
//! [`Rng::fork`] derives independent child streams so secret draws (ephemeral keys, cookie
//! secrets) never share a stream with public ones (session ids, padding, jitter). Every draw
//! replaces the key (fast key erasure), so reading a running node's memory once does not
//! reveal the ephemeral keys it drew before; [`Rng::reseed`] mixes in fresh entropy.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Domain-separation salt of [`Rng::fork`] (PROTOCOL.md §5.7.2).
const FORK_SALT: &[u8] = b"stt/1 rng fork";
/// Domain-separation salt of [`Rng::reseed`] (PROTOCOL.md §5.7.2).
const RESEED_SALT: &[u8] = b"stt/1 rng reseed";
/// Most bytes one ChaCha20 key yields before the key is replaced: a long fill is drawn in
/// pieces, each under its own key.
const PIECE_LEN: usize = 1 << 16;

/// A deterministic cryptographically strong generator with fast key erasure: each fill is
/// the start of the ChaCha20 keystream of the current key (nonce 0), and the 32 keystream
/// bytes right after it become the next key, so the state held after a draw cannot
/// recompute anything drawn before. Two `Rng`s built from the same seed yield the same
/// bytes. `Clone` snapshots the state, so a clone replays the same draws: right for the
/// simulator, wrong for two live nodes.
#[derive(Clone, ZeroizeOnDrop)]
pub struct Rng {
    key: [u8; 32],
}

impl core::fmt::Debug for Rng {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Rng(..)")
    }
}

impl Rng {
    /// A generator whose whole output is determined by `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { key: seed }
    }

    /// Fills `out` with the next bytes of the stream, then erases the key that made them.
    pub fn fill(&mut self, out: &mut [u8]) {
        out.zeroize();
        for piece in out.chunks_mut(PIECE_LEN) {
            let mut cipher = ChaCha20::new(&self.key.into(), &[0u8; 12].into());
            let mut next = [0u8; 32];
            // A piece plus the next key is far below ChaCha20's 256 GiB per nonce: the
            // errors (keystream exhausted) cannot occur.
            let _ = cipher.try_apply_keystream(piece);
            let _ = cipher.try_apply_keystream(&mut next);
            self.key = next;
            next.zeroize();
        }
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
    /// ikm = key).expand(label)`. Forking draws nothing, so the same label forked from the
    /// same state always gives the same stream.
    pub fn fork(&self, label: &[u8]) -> Rng {
        let mut child = [0u8; 32];
        hkdf_expand(FORK_SALT, &self.key, label, &mut child);
        let rng = Rng::from_seed(child);
        child.zeroize();
        rng
    }

    /// Mixes fresh `entropy` into the state: the key becomes `HKDF-SHA256(salt = "stt/1
    /// rng reseed", ikm = key ‖ entropy).expand(label)`. Whoever learnt the state before
    /// cannot predict the draws after, as long as `entropy` is unknown to them.
    pub fn reseed(&mut self, entropy: &[u8; 32], label: &[u8]) {
        let mut ikm = [0u8; 64];
        ikm[..32].copy_from_slice(&self.key);
        ikm[32..].copy_from_slice(entropy);
        hkdf_expand(RESEED_SALT, &ikm, label, &mut self.key);
        ikm.zeroize();
    }
}

/// `HKDF-SHA256(salt, ikm).expand(info)` into `out` (at most 255 × 32 bytes, which every
/// caller in this crate respects).
pub(crate) fn hkdf_expand(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) {
    crate::hash::hkdf_sha256(salt, ikm, info, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

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
        // A fork depends on the state it is taken from: with the same draws behind them,
        // two generators of one seed fork the same child.
        assert_ne!(a.fork(b"secret").array32(), b.fork(b"secret").array32());
        b.array32();
        assert_eq!(a.fork(b"secret").array32(), b.fork(b"secret").array32());
    }

    #[test]
    fn a_snapshot_of_the_state_cannot_reproduce_earlier_outputs() {
        let mut rng = Rng::from_seed([9; 32]);
        let earlier: Vec<[u8; 32]> = (0..4).map(|_| rng.array32()).collect();
        let snapshot = rng.clone();
        // Whoever holds the state now: its future, from any offset of its keystream, and
        // its forks never contain what was drawn before.
        let mut later = snapshot.clone();
        let mut stream = [0u8; 4096];
        later.fill(&mut stream);
        for e in &earlier {
            assert!(
                !stream.windows(32).any(|w| w == e),
                "an earlier draw recurs"
            );
            assert_ne!(&snapshot.key, e);
            assert_ne!(snapshot.fork(b"stt node secret").key, *e);
        }
        // Restarting a generator from the key it holds does not regenerate the past either
        // (without key erasure the key is the seed, and this replays every earlier draw).
        let mut from_key = Rng::from_seed(snapshot.key);
        let mut again = [0u8; 4096];
        from_key.fill(&mut again);
        for e in &earlier {
            assert!(
                !again.windows(32).any(|w| w == e),
                "the state regenerates an earlier draw"
            );
        }
        assert_eq!(stream, again, "the state is the key");
    }

    #[test]
    fn same_seed_same_sequence_and_reseed_changes_it() {
        let draws = |rng: &mut Rng| -> Vec<u64> { (0..64).map(|_| rng.u64()).collect() };
        let (mut a, mut b) = (Rng::from_seed([5; 32]), Rng::from_seed([5; 32]));
        assert_eq!(draws(&mut a), draws(&mut b));
        let mut big = [0u8; 3 * PIECE_LEN + 5];
        let mut big2 = [0u8; 3 * PIECE_LEN + 5];
        a.fill(&mut big);
        b.fill(&mut big2);
        assert_eq!(big[..], big2[..]);
        assert_ne!(big[..32], big[PIECE_LEN..PIECE_LEN + 32]);
        let mut c = a.clone();
        c.reseed(&[1; 32], b"x");
        let mut d = a.clone();
        d.reseed(&[2; 32], b"x");
        let (fc, fd, fa) = (draws(&mut c), draws(&mut d), draws(&mut a));
        assert_ne!(fc, fd);
        assert_ne!(fc, fa);
        // Identical histories (same seed, same fills) still give identical draws.
        assert_eq!(fa, draws(&mut b));
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
