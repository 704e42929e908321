//! The RustCrypto AEAD provider: pure Rust, `no_std`, constant-time; always available.
//!
//! Wraps `chacha20poly1305` and `aes-gcm` behind [`PacketKey`]. Keys are zeroized on drop by
//! the crates themselves (their `zeroize` feature). No primitive is implemented here.

use alloc::boxed::Box;

use aes_gcm::Aes256Gcm;
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};

use super::aead_key::{self, AeadCipher};
use super::{Aead, AeadSet, CryptoError, CryptoProvider, KEY_LEN, NONCE_LEN, PacketKey, TAG_LEN};

/// The RustCrypto provider (`chacha20poly1305`, `aes-gcm`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoProvider;

/// The RustCrypto provider as a static, for `&'static dyn CryptoProvider` holders.
pub static RUST_CRYPTO: RustCryptoProvider = RustCryptoProvider;

impl CryptoProvider for RustCryptoProvider {
    fn name(&self) -> &'static str {
        "rustcrypto"
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
        Ok(match aead {
            Aead::ChaCha20Poly1305 => {
                aead_key::packet_key(aead, ChaCha20Poly1305::new(&(*key).into()))
            }
            Aead::Aes256Gcm => aead_key::packet_key(aead, Aes256Gcm::new(&(*key).into())),
        })
    }
}

/// The two RustCrypto AEADs share nonce and tag sizes; this bound states it once.
trait Rc12: AeadInOut + Clone + Send + Sync + 'static {}
impl Rc12 for ChaCha20Poly1305 {}
impl Rc12 for Aes256Gcm {}

impl<C: Rc12> AeadCipher for C
where
    chacha20poly1305::aead::Nonce<C>: From<[u8; NONCE_LEN]>,
    chacha20poly1305::aead::Tag<C>: From<[u8; TAG_LEN]> + Into<[u8; TAG_LEN]>,
{
    fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        let tag = self
            .encrypt_inout_detached(&(*nonce).into(), ad, buf.into())
            .map_err(|_| CryptoError::TooLong)?;
        Ok(tag.into())
    }

    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        self.decrypt_inout_detached(&(*nonce).into(), ad, buf.into(), &(*tag).into())
            .map_err(|_| CryptoError::Auth)
    }
}
