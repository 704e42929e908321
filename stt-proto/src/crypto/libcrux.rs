//! The libcrux ML-KEM-768 backend ([`LibcruxKem`]): Cryspen's formally verified
//! `libcrux-ml-kem`, `no_std`, with its AVX2 code chosen at run time on x86_64 CPUs that
//! have it (portable code elsewhere). Key generation and encapsulation take the caller's
//! randomness (`KeyGen_internal(d, z)`, `Encaps_internal(ek, m)`), so it keeps the core's
//! rule that every random byte comes from the injected RNG.
//!
//! This file only adapts the crate to [`Kem`]: no primitive is implemented here. libcrux's
//! key types do not wipe themselves, so the decapsulation key is zeroized here on drop and
//! every shared secret is copied into a [`KemSecret`] and the crate's copy wiped. The crate
//! takes the seed and `m` by value: the copy it gets may stay on the stack until
//! overwritten (ours are wiped).

use alloc::boxed::Box;

use libcrux_ml_kem::mlkem768::{self, MlKem768Ciphertext, MlKem768PrivateKey, MlKem768PublicKey};
use zeroize::{Zeroize, Zeroizing};

use super::kem::{
    KEM_ENCAPS_RAND_LEN, KEM_SEED_LEN, KEM_SS_LEN, Kem, KemDecapsKey, KemError, KemSecret,
    MLKEM768_CT_LEN, MLKEM768_EK_LEN,
};

/// Length of the FIPS 203 decapsulation key encoding (`dk_PKE ‖ ek ‖ H(ek) ‖ z`).
pub const MLKEM768_DK_LEN: usize = 2400;

/// The libcrux backend: the fastest ML-KEM here (AVX2 where the CPU has it), `no_std`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LibcruxKem;

/// The libcrux backend as a static.
pub static LIBCRUX_KEM: LibcruxKem = LibcruxKem;

/// A libcrux decapsulation key, wiped on drop.
pub(crate) struct LibcruxDecapsKey {
    sk: MlKem768PrivateKey,
    ek: [u8; MLKEM768_EK_LEN],
}

impl LibcruxDecapsKey {
    /// `ML-KEM.KeyGen_internal(d, z)` from `seed = d ‖ z`.
    pub(crate) fn from_seed(seed: &[u8; KEM_SEED_LEN]) -> Self {
        let mut randomness = Zeroizing::new(*seed);
        let pair = mlkem768::generate_key_pair(*randomness);
        randomness.zeroize();
        let (sk, pk) = pair.into_parts();
        Self {
            sk,
            ek: *pk.as_slice(),
        }
    }

    /// The decapsulation key's FIPS 203 encoding (for importing it into another backend).
    #[cfg(any(test, feature = "aws-lc"))]
    pub(crate) fn private_bytes(&self) -> &[u8; MLKEM768_DK_LEN] {
        self.sk.as_slice()
    }
}

impl Drop for LibcruxDecapsKey {
    fn drop(&mut self) {
        self.sk[0..].zeroize();
    }
}

impl KemDecapsKey for LibcruxDecapsKey {
    fn encapsulation_key(&self) -> &[u8; MLKEM768_EK_LEN] {
        &self.ek
    }

    fn decapsulate(&self, ct: &[u8; MLKEM768_CT_LEN]) -> Result<KemSecret, KemError> {
        let mut k = mlkem768::decapsulate(&self.sk, &MlKem768Ciphertext::from(ct));
        let out = Zeroizing::new(k);
        k.zeroize();
        Ok(out)
    }

    fn backend(&self) -> &'static str {
        "libcrux"
    }
}

/// Deterministic encapsulation with libcrux after the FIPS 203 §7.2 input check (libcrux's
/// `encapsulate` itself does not check `ek`).
pub(crate) fn libcrux_encapsulate(
    ek: &[u8; MLKEM768_EK_LEN],
    m: &[u8; KEM_ENCAPS_RAND_LEN],
    ct: &mut [u8; MLKEM768_CT_LEN],
) -> Result<KemSecret, KemError> {
    let pk = MlKem768PublicKey::from(ek);
    if !mlkem768::validate_public_key(&pk) {
        return Err(KemError::InvalidKey);
    }
    let mut randomness = Zeroizing::new(*m);
    let (c, mut k) = mlkem768::encapsulate(&pk, *randomness);
    randomness.zeroize();
    ct.copy_from_slice(c.as_slice());
    let mut out = Zeroizing::new([0u8; KEM_SS_LEN]);
    out.copy_from_slice(&k);
    k.zeroize();
    Ok(out)
}

impl Kem for LibcruxKem {
    fn name(&self) -> &'static str {
        "libcrux"
    }

    fn generate(&self, seed: &[u8; KEM_SEED_LEN]) -> Result<Box<dyn KemDecapsKey>, KemError> {
        Ok(Box::new(LibcruxDecapsKey::from_seed(seed)))
    }

    fn encapsulate(
        &self,
        ek: &[u8; MLKEM768_EK_LEN],
        m: &[u8; KEM_ENCAPS_RAND_LEN],
        ct: &mut [u8; MLKEM768_CT_LEN],
    ) -> Result<KemSecret, KemError> {
        libcrux_encapsulate(ek, m, ct)
    }
}
