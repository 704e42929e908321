//! The aws-lc provider (feature `aws-lc`): transport AEADs and X25519 from aws-lc-rs, the
//! library behind rustls's default provider. Its X25519 (s2n-bignum assembly on x86_64
//! and aarch64) is several times faster than x25519-dalek's portable ladder, and its
//! `agreement::PrivateKey` may be reused, which Noise needs for `e` and `s` (ring's X25519
//! is single-use only, so ring keeps the dalek default).
//!
//! ML-KEM-768 decapsulation comes from aws-lc; key generation and encapsulation, which
//! must take injected randomness, from libcrux ([`AwsLcKem`]).
//!
//! No primitive is implemented here; unsafe FFI stays inside aws-lc-rs.

use alloc::boxed::Box;
use alloc::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use aws_lc_rs::kem::{self as lc_kem, ML_KEM_768};
use zeroize::Zeroizing;

use super::aead_key::{self, AeadCipher};
use super::dh::{DhError, DhKey, X25519_LEN};
use super::kem::{
    KEM_ENCAPS_RAND_LEN, KEM_SEED_LEN, KEM_SS_LEN, Kem, KemDecapsKey, KemError, KemSecret,
    MLKEM768_CT_LEN, MLKEM768_EK_LEN,
};
use super::libcrux::{LibcruxDecapsKey, libcrux_encapsulate};
use super::{Aead, AeadSet, CryptoError, CryptoProvider, KEY_LEN, NONCE_LEN, PacketKey, TAG_LEN};

/// The aws-lc provider.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLcProvider;

/// The aws-lc provider as a static, for `&'static dyn CryptoProvider` holders.
pub static AWS_LC: AwsLcProvider = AwsLcProvider;

impl CryptoProvider for AwsLcProvider {
    fn name(&self) -> &'static str {
        "aws-lc"
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
        Ok(aead_key::packet_key(
            aead,
            Arc::new(LessSafeKey::new(unbound)),
        ))
    }

    fn x25519_key(&self, secret: &[u8; X25519_LEN]) -> Result<Arc<dyn DhKey>, DhError> {
        // aws-lc computes the public key when it imports the private one (a base-point
        // multiplication), so the key is prepared once and reused for every agreement.
        let key = PrivateKey::from_private_key(&X25519, secret).map_err(|_| DhError::Backend)?;
        let public = key.compute_public_key().map_err(|_| DhError::Backend)?;
        let public: [u8; X25519_LEN] = public.as_ref().try_into().map_err(|_| DhError::Backend)?;
        Ok(Arc::new(AwsLcDhKey { key, public }))
    }

    fn ml_kem(&self) -> &'static dyn Kem {
        &AWS_LC_KEM
    }
}

/// aws-lc's ML-KEM-768 where it can be deterministic. aws-lc-rs draws key-generation and
/// encapsulation randomness from its own RNG and offers no way to inject it, and the core
/// never uses OS randomness, so: key generation runs `ML-KEM.KeyGen_internal(d, z)` with
/// libcrux and imports the FIPS 203 decapsulation key into aws-lc (its parser checks it),
/// which then does every decapsulation; encapsulation is libcrux's deterministic
/// `Encaps_internal` after the §7.2 key check. Byte-identical to the other backends
/// (tests, including aws-lc's own randomised encapsulation opened by each).
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsLcKem;

/// The aws-lc ML-KEM backend as a static.
pub static AWS_LC_KEM: AwsLcKem = AwsLcKem;

/// An aws-lc decapsulation key (its EVP_PKEY is freed and cleansed by aws-lc on drop).
struct AwsLcDecapsKey {
    key: lc_kem::DecapsulationKey<lc_kem::AlgorithmId>,
    ek: [u8; MLKEM768_EK_LEN],
}

impl KemDecapsKey for AwsLcDecapsKey {
    fn encapsulation_key(&self) -> &[u8; MLKEM768_EK_LEN] {
        &self.ek
    }

    fn decapsulate(&self, ct: &[u8; MLKEM768_CT_LEN]) -> Result<KemSecret, KemError> {
        let ss = self
            .key
            .decapsulate(lc_kem::Ciphertext::from(&ct[..]))
            .map_err(|_| KemError::Backend)?;
        let mut out = Zeroizing::new([0u8; KEM_SS_LEN]);
        if ss.as_ref().len() != KEM_SS_LEN {
            return Err(KemError::Backend);
        }
        out.copy_from_slice(ss.as_ref());
        Ok(out)
    }

    fn backend(&self) -> &'static str {
        "aws-lc"
    }
}

impl Kem for AwsLcKem {
    fn name(&self) -> &'static str {
        "aws-lc"
    }

    fn generate(&self, seed: &[u8; KEM_SEED_LEN]) -> Result<Box<dyn KemDecapsKey>, KemError> {
        // libcrux's key is wiped when it drops at the end of this function.
        let lx = LibcruxDecapsKey::from_seed(seed);
        let key = lc_kem::DecapsulationKey::new(&ML_KEM_768, lx.private_bytes())
            .map_err(|_| KemError::Backend)?;
        let ek = *KemDecapsKey::encapsulation_key(&lx);
        Ok(Box::new(AwsLcDecapsKey { key, ek }))
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

/// An expanded AEAD key, shared by clones (aws-lc's `LessSafeKey` is not `Clone`).
impl AeadCipher for Arc<LessSafeKey> {
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
            tag,
            buf,
        )
        .map(|_| ())
        .map_err(|_| CryptoError::Auth)
    }
}

/// An aws-lc X25519 private key (freed and cleansed by aws-lc on drop).
struct AwsLcDhKey {
    key: PrivateKey,
    public: [u8; X25519_LEN],
}

impl DhKey for AwsLcDhKey {
    fn public_key(&self) -> [u8; X25519_LEN] {
        self.public
    }

    fn agree(&self, peer: &[u8; X25519_LEN]) -> Result<[u8; X25519_LEN], DhError> {
        // aws-lc refuses the all-zero result itself; every refusal maps to the one error.
        agreement::agree(
            &self.key,
            UnparsedPublicKey::new(&X25519, peer),
            DhError::NonContributory,
            |shared| shared.try_into().map_err(|_| DhError::NonContributory),
        )
    }

    fn backend(&self) -> &'static str {
        "aws-lc"
    }
}
