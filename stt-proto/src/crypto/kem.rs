//! ML-KEM-768 (FIPS 203) behind the provider boundary, as X25519 is in `dh.rs`: the
//! hybrid handshake (PROTOCOL.md §5.7.10) asks a [`CryptoProvider`](super::CryptoProvider)
//! for a [`Kem`] and never names a KEM crate. Every backend computes the FIPS 203
//! functions, so both sides interoperate whichever backend each uses.
//!
//! Randomness is always injected: key generation takes the 64-byte seed `d ‖ z`
//! (`ML-KEM.KeyGen_internal`), encapsulation the 32-byte message `m`
//! (`ML-KEM.Encaps_internal`); the caller draws both from the node's secret RNG stream.
//! This file owns the trait and the RustCrypto backend (`ml-kem`, `no_std`, the reference
//! the others are tested against); the default backend is libcrux (`libcrux.rs`). No
//! primitive is implemented here. Secrets are zeroized on drop.

use alloc::boxed::Box;
use core::fmt;

use ml_kem::array::Array;
use ml_kem::kem::{Decapsulate, KeyExport};
use ml_kem::{DecapsulationKey, EncapsulationKey, MlKem768};
use zeroize::{Zeroize, Zeroizing};

/// ML-KEM-768 encapsulation (public) key length.
pub const MLKEM768_EK_LEN: usize = 1184;
/// ML-KEM-768 ciphertext length.
pub const MLKEM768_CT_LEN: usize = 1088;
/// ML-KEM shared secret length.
pub const KEM_SS_LEN: usize = 32;
/// Key-generation seed length: `d ‖ z` (FIPS 203 §7.1), 32 bytes each.
pub const KEM_SEED_LEN: usize = 64;
/// Encapsulation randomness `m` (FIPS 203 §7.2).
pub const KEM_ENCAPS_RAND_LEN: usize = 32;

/// A shared secret, wiped when dropped.
pub type KemSecret = Zeroizing<[u8; KEM_SS_LEN]>;

/// An ML-KEM operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KemError {
    /// The encapsulation key failed the FIPS 203 §7.2 input check (a coefficient ≥ q).
    #[error("ML-KEM encapsulation key failed the input check")]
    InvalidKey,
    /// The backend refused an operation (never for well-formed inputs; typed, not a panic).
    #[error("ML-KEM backend failure")]
    Backend,
}

/// A prepared ML-KEM-768 decapsulation key and its encapsulation key.
pub trait KemDecapsKey: Send + Sync {
    /// The encapsulation key `ek` to send.
    fn encapsulation_key(&self) -> &[u8; MLKEM768_EK_LEN];

    /// `ML-KEM.Decaps(dk, ct)`. A ciphertext that was tampered with yields the implicit
    /// rejection secret (FIPS 203 §6.3), never an error: the handshake then fails closed at
    /// the next AEAD check.
    fn decapsulate(&self, ct: &[u8; MLKEM768_CT_LEN]) -> Result<KemSecret, KemError>;

    /// A short name of the backend, for tests.
    fn backend(&self) -> &'static str;
}

impl fmt::Debug for dyn KemDecapsKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KemDecapsKey({}, <redacted>)", self.backend())
    }
}

/// ML-KEM-768 with injected randomness.
pub trait Kem: Send + Sync + fmt::Debug {
    /// A short name for logs and tests.
    fn name(&self) -> &'static str;

    /// `ML-KEM.KeyGen_internal(d, z)` from `seed = d ‖ z`. The caller zeroizes its copy.
    fn generate(&self, seed: &[u8; KEM_SEED_LEN]) -> Result<Box<dyn KemDecapsKey>, KemError>;

    /// `ML-KEM.Encaps_internal(ek, m)`: checks `ek` (FIPS 203 §7.2), writes the ciphertext
    /// into `ct` and returns the shared secret.
    fn encapsulate(
        &self,
        ek: &[u8; MLKEM768_EK_LEN],
        m: &[u8; KEM_ENCAPS_RAND_LEN],
        ct: &mut [u8; MLKEM768_CT_LEN],
    ) -> Result<KemSecret, KemError>;
}

/// The RustCrypto backend (`ml-kem`): pure Rust, `no_std`, always available.
#[derive(Debug, Clone, Copy, Default)]
pub struct RustCryptoKem;

/// The RustCrypto backend as a static.
pub static RUST_CRYPTO_KEM: RustCryptoKem = RustCryptoKem;

/// RustCrypto's decapsulation key (zeroized on drop by `ml-kem`'s `zeroize` feature).
pub(crate) struct RcDecapsKey {
    pub(crate) dk: DecapsulationKey<MlKem768>,
    ek: [u8; MLKEM768_EK_LEN],
}

impl RcDecapsKey {
    /// The key of seed `d ‖ z`.
    pub(crate) fn from_seed(seed: &[u8; KEM_SEED_LEN]) -> Result<Self, KemError> {
        let mut s = Array::try_from(&seed[..]).map_err(|_| KemError::Backend)?;
        let dk = DecapsulationKey::<MlKem768>::from_seed(s);
        s.as_mut_slice().zeroize();
        let mut ek = [0u8; MLKEM768_EK_LEN];
        ek.copy_from_slice(dk.encapsulation_key().to_bytes().as_slice());
        Ok(Self { dk, ek })
    }
}

impl KemDecapsKey for RcDecapsKey {
    fn encapsulation_key(&self) -> &[u8; MLKEM768_EK_LEN] {
        &self.ek
    }

    fn decapsulate(&self, ct: &[u8; MLKEM768_CT_LEN]) -> Result<KemSecret, KemError> {
        let c = Array::try_from(&ct[..]).map_err(|_| KemError::Backend)?;
        let mut k = self.dk.decapsulate(&c);
        let mut out = Zeroizing::new([0u8; KEM_SS_LEN]);
        out.copy_from_slice(k.as_slice());
        k.as_mut_slice().zeroize();
        Ok(out)
    }

    fn backend(&self) -> &'static str {
        "rustcrypto"
    }
}

/// Deterministic encapsulation with RustCrypto (`Encaps_internal`, which checks `ek`).
fn rc_encapsulate(
    ek: &[u8; MLKEM768_EK_LEN],
    m: &[u8; KEM_ENCAPS_RAND_LEN],
    ct: &mut [u8; MLKEM768_CT_LEN],
) -> Result<KemSecret, KemError> {
    let key = Array::try_from(&ek[..]).map_err(|_| KemError::Backend)?;
    let ek = EncapsulationKey::<MlKem768>::new(&key).map_err(|_| KemError::InvalidKey)?;
    let mut m = Array::try_from(&m[..]).map_err(|_| KemError::Backend)?;
    let (c, mut k) = ek.encapsulate_deterministic(&m);
    m.as_mut_slice().zeroize();
    ct.copy_from_slice(c.as_slice());
    let mut out = Zeroizing::new([0u8; KEM_SS_LEN]);
    out.copy_from_slice(k.as_slice());
    k.as_mut_slice().zeroize();
    Ok(out)
}

impl Kem for RustCryptoKem {
    fn name(&self) -> &'static str {
        "rustcrypto"
    }

    fn generate(&self, seed: &[u8; KEM_SEED_LEN]) -> Result<Box<dyn KemDecapsKey>, KemError> {
        Ok(Box::new(RcDecapsKey::from_seed(seed)?))
    }

    fn encapsulate(
        &self,
        ek: &[u8; MLKEM768_EK_LEN],
        m: &[u8; KEM_ENCAPS_RAND_LEN],
        ct: &mut [u8; MLKEM768_CT_LEN],
    ) -> Result<KemSecret, KemError> {
        rc_encapsulate(ek, m, ct)
    }
}
