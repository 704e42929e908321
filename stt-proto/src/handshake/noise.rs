//! The Noise symmetric state for `Noise_XXpsk0_25519_ChaChaPoly_SHA256` and its hybrid
//! sibling `Noise_XXhfspsk0_25519+MLKEM768_ChaChaPoly_SHA256` (Noise rev. 34 §5).
//!
//! CipherState and SymmetricState are merged into one value: chaining key `ck`, handshake
//! hash `h`, and the optional key `k` with its counter `n`. It composes SHA-256, HKDF and
//! ChaCha20-Poly1305 from RustCrypto (X25519 comes from the provider's [`DhKey`]); the
//! message sequencing lives in the initiator and
//! responder modules. Everything secret is zeroized on drop.

use crate::hash::{hkdf_sha256, sha256};
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};

use crate::crypto::{DhError, DhKey};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::HandshakeError;

/// The Noise protocol name (fixed; PROTOCOL.md §5.7.1).
pub const PROTOCOL_NAME: &[u8] = b"Noise_XXpsk0_25519_ChaChaPoly_SHA256";
/// The hybrid handshake's Noise protocol name (PROTOCOL.md §5.7.10): XX with the HFS
/// tokens `e1`/`ekem1` and ML-KEM-768. Being hashed into `h` first, it binds the mode.
pub const HYBRID_PROTOCOL_NAME: &[u8] = b"Noise_XXhfspsk0_25519+MLKEM768_ChaChaPoly_SHA256";
/// The Noise prologue: binds the protocol version into `h`.
pub const PROLOGUE: &[u8] = b"STT/1";
/// Noise AEAD tag length.
pub(crate) const TAG: usize = 16;

/// Noise's `SymmetricState` with its embedded `CipherState`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SymmetricState {
    ck: [u8; 32],
    h: [u8; 32],
    k: [u8; 32],
    has_key: bool,
    n: u64,
}

impl SymmetricState {
    /// `InitializeSymmetric(PROTOCOL_NAME)` then `MixHash(PROLOGUE)`. The name is longer
    /// than 32 bytes, so `h = SHA-256(name)`.
    pub(crate) fn initialize() -> Self {
        Self::initialize_named(PROTOCOL_NAME)
    }

    /// As [`SymmetricState::initialize`] for another (longer than 32 bytes) protocol name.
    pub(crate) fn initialize_named(name: &[u8]) -> Self {
        let h = sha256(&[name]);
        let mut s = Self {
            ck: h,
            h,
            k: [0; 32],
            has_key: false,
            n: 0,
        };
        s.mix_hash(PROLOGUE);
        s
    }

    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.h = sha256(&[&self.h, data]);
    }

    /// Noise `HKDF(ck, ikm, n)`: RFC 5869 extract with salt `ck`, expand with empty info.
    fn hkdf<const N: usize>(&self, ikm: &[u8]) -> [u8; N] {
        let mut out = [0u8; N];
        hkdf_sha256(&self.ck, ikm, &[], &mut out);
        out
    }

    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let mut out = self.hkdf::<64>(ikm);
        self.ck.copy_from_slice(&out[..32]);
        self.k.copy_from_slice(&out[32..]);
        self.has_key = true;
        self.n = 0;
        out.zeroize();
    }

    pub(crate) fn mix_key_and_hash(&mut self, ikm: &[u8]) {
        let mut out = self.hkdf::<96>(ikm);
        self.ck.copy_from_slice(&out[..32]);
        let mut temp_h = [0u8; 32];
        temp_h.copy_from_slice(&out[32..64]);
        self.mix_hash(&temp_h);
        self.k.copy_from_slice(&out[64..]);
        self.has_key = true;
        self.n = 0;
        out.zeroize();
    }

    fn nonce(&self) -> [u8; 12] {
        let mut n = [0u8; 12];
        n[4..].copy_from_slice(&self.n.to_le_bytes());
        n
    }

    /// `EncryptAndHash(plaintext)` into `out`; returns the ciphertext length.
    pub(crate) fn encrypt_and_hash(
        &mut self,
        plaintext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, HandshakeError> {
        let extra = if self.has_key { TAG } else { 0 };
        let len = plaintext.len() + extra;
        if out.len() < len {
            return Err(HandshakeError::BufferTooSmall {
                need: len,
                have: out.len(),
            });
        }
        let (body, tail) = out.split_at_mut(plaintext.len());
        body.copy_from_slice(plaintext);
        if self.has_key {
            let cipher = ChaCha20Poly1305::new(&self.k.into());
            let tag = cipher
                .encrypt_inout_detached(&self.nonce().into(), &self.h, body.into())
                .map_err(|_| HandshakeError::Internal)?;
            tail[..TAG].copy_from_slice(&tag);
            self.n += 1;
        }
        self.mix_hash(&out[..len]);
        Ok(len)
    }

    /// `DecryptAndHash(ciphertext)` into `out`; returns the plaintext length. On failure the
    /// state must be discarded (callers work on a copy).
    pub(crate) fn decrypt_and_hash(
        &mut self,
        ciphertext: &[u8],
        out: &mut [u8],
    ) -> Result<usize, HandshakeError> {
        if !self.has_key {
            let len = ciphertext.len();
            if out.len() < len {
                return Err(HandshakeError::BufferTooSmall {
                    need: len,
                    have: out.len(),
                });
            }
            out[..len].copy_from_slice(ciphertext);
            self.mix_hash(ciphertext);
            return Ok(len);
        }
        let Some(len) = ciphertext.len().checked_sub(TAG) else {
            return Err(HandshakeError::Malformed);
        };
        if out.len() < len {
            return Err(HandshakeError::BufferTooSmall {
                need: len,
                have: out.len(),
            });
        }
        let mut tag = [0u8; TAG];
        tag.copy_from_slice(&ciphertext[len..]);
        out[..len].copy_from_slice(&ciphertext[..len]);
        let cipher = ChaCha20Poly1305::new(&self.k.into());
        cipher
            .decrypt_inout_detached(
                &self.nonce().into(),
                &self.h,
                (&mut out[..len]).into(),
                &tag.into(),
            )
            .map_err(|_| HandshakeError::Decrypt)?;
        self.n += 1;
        self.mix_hash(ciphertext);
        Ok(len)
    }

    /// `Split()`: (initiator→responder, responder→initiator) secrets.
    pub(crate) fn split(&self) -> ([u8; 32], [u8; 32]) {
        let mut out = self.hkdf::<64>(&[]);
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        a.copy_from_slice(&out[..32]);
        b.copy_from_slice(&out[32..]);
        out.zeroize();
        (a, b)
    }

    /// The handshake hash `h`.
    pub(crate) fn handshake_hash(&self) -> [u8; 32] {
        self.h
    }
}

/// X25519 with the all-zero (non-contributory) result refused.
pub(crate) fn dh(key: &dyn DhKey, public: &[u8; 32]) -> Result<[u8; 32], HandshakeError> {
    key.agree(public).map_err(|e| match e {
        DhError::NonContributory => HandshakeError::LowOrderPoint,
        DhError::Backend => HandshakeError::Internal,
    })
}
