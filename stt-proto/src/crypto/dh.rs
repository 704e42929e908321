//! X25519 behind the provider boundary: a [`DhKey`] is a private key a provider has
//! prepared once, then asked for its public key and for any number of agreements (Noise
//! reuses `e` and `s`). x25519-dalek backs it unless a provider brings its own (aws-lc).
//!
//! No primitive is implemented here; every backend computes RFC 7748 X25519 (clamped
//! scalar), so handshakes interoperate whichever backend each side uses.

use alloc::sync::Arc;

use x25519_dalek::{PublicKey, StaticSecret};

/// X25519 key and shared-secret length.
pub const X25519_LEN: usize = 32;

/// An X25519 operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DhError {
    /// The shared secret is all zero: the peer sent a low-order point (RFC 7748 §6.1).
    #[error("non-contributory X25519 result")]
    NonContributory,
    /// The backend refused the private key (never for 32 bytes; kept typed, not a panic).
    #[error("X25519 backend refused the key")]
    Backend,
}

/// A prepared X25519 private key. Implementations zeroize the secret on drop.
pub trait DhKey: Send + Sync {
    /// The public key `X25519(k, 9)`.
    fn public_key(&self) -> [u8; X25519_LEN];

    /// `X25519(k, peer)`, refusing the all-zero (non-contributory) result.
    fn agree(&self, peer: &[u8; X25519_LEN]) -> Result<[u8; X25519_LEN], DhError>;

    /// A short name of the backend, for benches and tests.
    fn backend(&self) -> &'static str;
}

impl core::fmt::Debug for dyn DhKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DhKey({}, <redacted>)", self.backend())
    }
}

/// x25519-dalek's key: the portable, `no_std` backend.
struct DalekKey {
    secret: StaticSecret,
    public: [u8; X25519_LEN],
}

impl DhKey for DalekKey {
    fn public_key(&self) -> [u8; X25519_LEN] {
        self.public
    }

    fn agree(&self, peer: &[u8; X25519_LEN]) -> Result<[u8; X25519_LEN], DhError> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*peer));
        if !shared.was_contributory() {
            return Err(DhError::NonContributory);
        }
        Ok(shared.to_bytes())
    }

    fn backend(&self) -> &'static str {
        "x25519-dalek"
    }
}

/// Prepares `secret` with x25519-dalek (the default of [`super::CryptoProvider::x25519_key`]).
/// The caller zeroizes its copy of `secret`; `StaticSecret` zeroizes its own on drop.
pub fn dalek_key(secret: &[u8; X25519_LEN]) -> Arc<dyn DhKey> {
    let secret = StaticSecret::from(*secret);
    let public = PublicKey::from(&secret).to_bytes();
    Arc::new(DalekKey { secret, public })
}
