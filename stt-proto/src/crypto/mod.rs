//! Record-layer cryptography: the AEAD provider boundary, key schedule, replay window and
//! packet protection (PROTOCOL.md §6).
//!
//! Protocol code names no AEAD or X25519 crate: it asks a [`CryptoProvider`] for a
//! [`PacketKey`] and for prepared X25519 keys ([`DhKey`]) (rustls's `CryptoProvider` idea,
//! kept small). The Noise hash, HKDF and handshake AEAD stay on RustCrypto; the bulk
//! transport AEAD, X25519 and ML-KEM-768 ([`Kem`]) are pluggable. No primitive is implemented here.

use alloc::boxed::Box;
use alloc::sync::Arc;
use core::fmt;

mod aead_key;
#[cfg(feature = "aws-lc")]
pub mod aws_lc;
pub mod dh;
pub mod kem;
pub mod keys;
pub mod libcrux;
pub mod record;
pub mod rekey;
pub mod replay;
#[cfg(feature = "ring")]
pub mod ring;
pub mod rustcrypto;

#[cfg(feature = "aws-lc")]
pub use self::aws_lc::{AWS_LC, AwsLcProvider};
#[cfg(feature = "ring")]
pub use self::ring::{RING, RingProvider};
pub use dh::{DhError, DhKey, X25519_LEN};
pub use kem::{
    KEM_SEED_LEN, KEM_SS_LEN, Kem, KemDecapsKey, KemError, KemSecret, MLKEM768_CT_LEN,
    MLKEM768_EK_LEN, RUST_CRYPTO_KEM, RustCryptoKem,
};
pub use keys::{DirectionKeys, STREAM_KEY_CACHE};
pub use libcrux::{LIBCRUX_KEM, LibcruxKem};
pub use record::{Opened, PacketProtection, RecordError, RecordLimits, Sealed};
pub use rekey::RekeyMix;
pub use replay::{REPLAY_WINDOW, ReplayError, ReplayWindow};
pub use rustcrypto::{RUST_CRYPTO, RustCryptoProvider};

/// AEAD key length (both transport AEADs use 256-bit keys).
pub const KEY_LEN: usize = 32;
/// AEAD nonce length.
pub const NONCE_LEN: usize = 12;
/// AEAD tag length.
pub const TAG_LEN: usize = 16;
/// Block size both transport AEADs authenticate in (AES-GCM and Poly1305 work on
/// 16-byte blocks). A plaintext ending part-way through a block costs a separate
/// partial-block step: about 12% more per 1.4 KB packet with ring's AES-GCM.
pub const AEAD_BLOCK: usize = 16;

/// A transport AEAD. The discriminant is its bit in an [`AeadSet`] and its code on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Aead {
    /// ChaCha20-Poly1305 (RFC 8439): mandatory to implement.
    ChaCha20Poly1305 = 0x01,
    /// AES-256-GCM: preferred when both sides have hardware AES.
    Aes256Gcm = 0x02,
}

impl Aead {
    /// The wire code of a chosen AEAD, if it names one.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            0x01 => Some(Self::ChaCha20Poly1305),
            0x02 => Some(Self::Aes256Gcm),
            _ => None,
        }
    }

    /// Packets sealed under one key before a key update is started (PROTOCOL.md §6.6):
    /// AES-GCM 2²², ChaCha20-Poly1305 2³⁰.
    pub fn update_threshold(self) -> u64 {
        match self {
            Self::ChaCha20Poly1305 => 1 << 30,
            Self::Aes256Gcm => 1 << 22,
        }
    }

    /// Packets one key may seal at most (the confidentiality limit, RFC 9001 §6.6):
    /// AES-GCM 2²³; ChaCha20-Poly1305 has none below the packet-number limit.
    pub fn confidentiality_limit(self) -> u64 {
        match self {
            Self::ChaCha20Poly1305 => 1 << 62,
            Self::Aes256Gcm => 1 << 23,
        }
    }

    /// Failed opens tolerated per session, across all keys (the integrity limit, RFC 9001
    /// §6.6): AES-GCM 2⁵², ChaCha20-Poly1305 2³⁶.
    pub fn integrity_limit(self) -> u64 {
        match self {
            Self::ChaCha20Poly1305 => 1 << 36,
            Self::Aes256Gcm => 1 << 52,
        }
    }
}

/// A set of AEADs, as offered in INIT (a bitmask of [`Aead`] codes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AeadSet(u8);

impl AeadSet {
    /// ChaCha20-Poly1305 only.
    pub const CHACHA: AeadSet = AeadSet(Aead::ChaCha20Poly1305 as u8);
    /// Both AEADs.
    pub const ALL: AeadSet = AeadSet(Aead::ChaCha20Poly1305 as u8 | Aead::Aes256Gcm as u8);

    /// The set from its wire bitmask; unknown bits are ignored (future AEADs).
    pub fn from_bits(bits: u8) -> Self {
        AeadSet(bits & Self::ALL.0)
    }

    /// The wire bitmask.
    pub fn bits(self) -> u8 {
        self.0
    }

    /// Whether `aead` is in the set.
    pub fn contains(self, aead: Aead) -> bool {
        self.0 & aead as u8 != 0
    }

    /// The set with `aead` added.
    pub fn with(self, aead: Aead) -> Self {
        AeadSet(self.0 | aead as u8)
    }

    /// What a node offers or accepts with `provider`: ChaCha20-Poly1305 always, AES-256-GCM
    /// only when the provider supports it and the CPU has hardware AES.
    pub fn preferred(provider: &dyn CryptoProvider) -> Self {
        let mut set = Self::CHACHA;
        if provider.has_hardware_aes() && provider.supported().contains(Aead::Aes256Gcm) {
            set = set.with(Aead::Aes256Gcm);
        }
        set
    }

    /// The responder's choice: AES-256-GCM when both sides list it (each lists it only with
    /// hardware AES), else the mandatory ChaCha20-Poly1305.
    pub fn choose(offered: AeadSet, local: AeadSet) -> Aead {
        if offered.contains(Aead::Aes256Gcm) && local.contains(Aead::Aes256Gcm) {
            Aead::Aes256Gcm
        } else {
            Aead::ChaCha20Poly1305
        }
    }
}

impl fmt::Debug for AeadSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(
                [Aead::ChaCha20Poly1305, Aead::Aes256Gcm]
                    .into_iter()
                    .filter(|a| self.contains(*a)),
            )
            .finish()
    }
}

/// An AEAD operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The tag did not verify: the packet is forged or corrupted.
    #[error("AEAD authentication failed")]
    Auth,
    /// The provider does not implement this AEAD.
    #[error("AEAD {0:?} not supported by this provider")]
    Unsupported(Aead),
    /// The message is too long for the AEAD.
    #[error("message too long for the AEAD")]
    TooLong,
}

/// One direction's AEAD key for one key phase: seals or opens packets in place with a
/// detached tag. Implementations hold the expanded key and zeroize it on drop.
pub trait PacketKey: Send + Sync {
    /// Encrypts `buf` in place and returns the tag.
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError>;

    /// Decrypts `buf` in place if `tag` verifies; on failure `buf`'s content is unspecified.
    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError>;

    /// Which AEAD this key is for.
    fn aead(&self) -> Aead;

    /// A boxed copy, so sessions holding keys are `Clone`.
    fn clone_box(&self) -> Box<dyn PacketKey>;
}

impl Clone for Box<dyn PacketKey> {
    fn clone(&self) -> Self {
        self.clone_box()
    }
}

impl fmt::Debug for dyn PacketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketKey({:?}, <redacted>)", self.aead())
    }
}

/// A source of transport AEAD keys and X25519 keys (the rustls `CryptoProvider` idea, kept
/// small).
pub trait CryptoProvider: Send + Sync + fmt::Debug {
    /// A short name for logs and benches.
    fn name(&self) -> &'static str;

    /// The AEADs this provider implements (always includes ChaCha20-Poly1305).
    fn supported(&self) -> AeadSet;

    /// Whether this CPU has hardware AES (and carry-less multiply), which makes AES-256-GCM
    /// both fast and constant-time.
    fn has_hardware_aes(&self) -> bool;

    /// Expands a key for `aead`.
    fn packet_key(
        &self,
        aead: Aead,
        key: &[u8; KEY_LEN],
    ) -> Result<Box<dyn PacketKey>, CryptoError>;

    /// Prepares the X25519 private key `secret` (clamped on use, RFC 7748) for its public
    /// key and any number of agreements. Default: x25519-dalek. The caller zeroizes its copy.
    fn x25519_key(&self, secret: &[u8; X25519_LEN]) -> Result<Arc<dyn DhKey>, DhError> {
        Ok(dh::dalek_key(secret))
    }

    /// The ML-KEM-768 backend of the hybrid handshake (PROTOCOL.md §5.7.10). Default:
    /// libcrux ([`LIBCRUX_KEM`]), about 4× faster than RustCrypto's `ml-kem`
    /// ([`RUST_CRYPTO_KEM`], byte-identical) at each operation.
    fn ml_kem(&self) -> &'static dyn Kem {
        &LIBCRUX_KEM
    }
}

/// The fastest provider this build has: aws-lc with the `aws-lc` feature, else ring with
/// the `ring` feature, else RustCrypto.
pub fn default_provider() -> &'static dyn CryptoProvider {
    #[cfg(feature = "aws-lc")]
    {
        &AWS_LC
    }
    #[cfg(all(feature = "ring", not(feature = "aws-lc")))]
    {
        &RING
    }
    #[cfg(not(any(feature = "ring", feature = "aws-lc")))]
    {
        &RUST_CRYPTO
    }
}

/// Whether this CPU has AES and carry-less multiply instructions.
pub(crate) fn cpu_has_aes() -> bool {
    #[cfg(all(feature = "std", any(target_arch = "x86", target_arch = "x86_64")))]
    {
        std::is_x86_feature_detected!("aes") && std::is_x86_feature_detected!("pclmulqdq")
    }
    #[cfg(all(feature = "std", target_arch = "aarch64"))]
    {
        std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("pmull")
    }
    #[cfg(not(all(
        feature = "std",
        any(target_arch = "x86", target_arch = "x86_64", target_arch = "aarch64")
    )))]
    {
        // Without runtime detection, trust only what the build targets.
        cfg!(all(target_feature = "aes", target_feature = "pclmulqdq"))
            || cfg!(all(target_feature = "aes", target_feature = "neon"))
    }
}

pub(crate) use crate::hash::{hkdf_expand_prk, hmac_sha256};

#[cfg(test)]
mod kem_tests;
#[cfg(test)]
mod rekey_tests;
#[cfg(test)]
mod tests;
