//! The ring AEAD provider: the fast bulk AEAD for `std` builds (feature `ring`).
//!
//! Only transport packet keys come from ring; the handshake stays on RustCrypto because
//! ring's X25519 insists on its own RNG, which conflicts with injected randomness.
//!
//! **Keys are not wiped.** ring's `LessSafeKey` implements neither `zeroize` nor a wiping
//! `Drop`, and its key schedule is private, so an expanded transport key stays in freed
//! memory after its session ends. Where that matters, use the aws-lc provider (its
//! allocator cleanses freed AEAD contexts) or RustCrypto (zeroized on drop); see
//! docs/PRIMITIVES.md §8.

use alloc::boxed::Box;

use ring::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, Tag, UnboundKey};

use super::aead_key::{self, AeadCipher};
use super::{Aead, AeadSet, CryptoError, CryptoProvider, KEY_LEN, NONCE_LEN, PacketKey, TAG_LEN};

/// The ring provider. Its packet keys are **not** zeroized on drop (see the module docs).
#[derive(Debug, Clone, Copy, Default)]
pub struct RingProvider;

/// The ring provider as a static, for `&'static dyn CryptoProvider` holders.
pub static RING: RingProvider = RingProvider;

impl CryptoProvider for RingProvider {
    fn name(&self) -> &'static str {
        "ring"
    }

    fn supported(&self) -> AeadSet {
        AeadSet::ALL
    }

    fn has_hardware_aes(&self) -> bool {
        super::cpu_has_aes()
    }

    fn packet_key(
        &self,
        aead: Aead,
        key: &[u8; KEY_LEN],
    ) -> Result<Box<dyn PacketKey>, CryptoError> {
        let alg = match aead {
            Aead::ChaCha20Poly1305 => &CHACHA20_POLY1305,
            Aead::Aes256Gcm => &AES_256_GCM,
        };
        let unbound = UnboundKey::new(alg, key).map_err(|_| CryptoError::Unsupported(aead))?;
        Ok(aead_key::packet_key(aead, LessSafeKey::new(unbound)))
    }
}

impl AeadCipher for LessSafeKey {
    fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .seal_in_place_separate_tag(Nonce::assume_unique_for_key(*nonce), Aad::from(ad), buf)
            .map_err(|_| CryptoError::TooLong)?;
        Ok(aead_key::tag_array(tag.as_ref()))
    }

    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        self.open_in_place_separate_tag(
            Nonce::assume_unique_for_key(*nonce),
            Aad::from(ad),
            Tag::from(*tag),
            buf,
            0..,
        )
        .map(|_| ())
        .map_err(|_| CryptoError::Auth)
    }
}
