//! Primitives composed from RustCrypto crates as PROTOCOL.md §5.7.2 names them: HKDF/HMAC
//! over SHA-256, X25519, ChaCha20-Poly1305, ML-KEM-768, the ChaCha20 fast-key-erasure RNG
//! and the keys derived from seeds. Owns no protocol state; must not depend on stt-proto.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20poly1305::ChaCha20Poly1305;
use chacha20poly1305::aead::{Aead, KeyInit as _, Payload};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use ml_kem::{Decapsulate, KeyExport, MlKem768};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

/// ML-KEM-768 decapsulation key.
pub type KemDk = ml_kem::DecapsulationKey<MlKem768>;
/// ML-KEM-768 encapsulation key.
pub type KemEk = ml_kem::EncapsulationKey<MlKem768>;

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// HMAC-SHA256 of the concatenated `parts` under `key`.
pub fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut m =
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// `HKDF(salt, ikm).expand(info, N)` (extract then expand, RFC 5869).
pub fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut out)
        .expect("N is small");
    out
}

/// `HKDF-Expand(prk, info, N)` (no extract; PROTOCOL.md §6.2).
pub fn hkdf_expand<const N: usize>(prk: &[u8; 32], info: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    Hkdf::<Sha256>::from_prk(prk)
        .expect("32-byte PRK")
        .expand(info, &mut out)
        .expect("N is small");
    out
}

/// X25519 public key of a 32-byte secret (clamped by X25519).
pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// X25519(secret, public); `None` for the all-zero (non-contributory) result.
pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> Option<[u8; 32]> {
    let out = StaticSecret::from(*secret)
        .diffie_hellman(&PublicKey::from(*public))
        .to_bytes();
    (out != [0u8; 32]).then_some(out)
}

/// ChaCha20-Poly1305 seal with a 12-byte nonce.
pub fn seal(key: &[u8; 32], nonce: &[u8; 12], ad: &[u8], pt: &[u8]) -> Vec<u8> {
    ChaCha20Poly1305::new(key.into())
        .encrypt(nonce.into(), Payload { msg: pt, aad: ad })
        .expect("seal cannot fail")
}

/// ChaCha20-Poly1305 open; `None` if the tag does not verify.
pub fn open(key: &[u8; 32], nonce: &[u8; 12], ad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    ChaCha20Poly1305::new(key.into())
        .decrypt(nonce.into(), Payload { msg: ct, aad: ad })
        .ok()
}

/// XChaCha20-Poly1305 open with a 24-byte nonce (the COOKIE body, §5.4, §5.7.5).
pub fn xopen(key: &[u8; 32], nonce: &[u8; 24], ad: &[u8], ct: &[u8]) -> Option<Vec<u8>> {
    chacha20poly1305::XChaCha20Poly1305::new(key.into())
        .decrypt(nonce.into(), Payload { msg: ct, aad: ad })
        .ok()
}

/// ML-KEM-768 `KeyGen_internal(d, z)`: the key pair from the 64-byte seed `d ‖ z`.
pub fn kem_keygen(d_z: &[u8; 64]) -> (KemDk, Vec<u8>) {
    let dk = KemDk::from_seed((*d_z).into());
    let ek = dk.encapsulation_key().to_bytes().to_vec();
    (dk, ek)
}

/// ML-KEM-768 `Encaps_internal(ek, m)` after the FIPS 203 §7.2 input check: (ct, K).
pub fn kem_encaps(ek: &[u8], m: &[u8; 32]) -> Option<(Vec<u8>, [u8; 32])> {
    let ek: &ml_kem::Key<KemEk> = ek.try_into().ok()?;
    let ek = <KemEk as ml_kem::TryKeyInit>::new(ek).ok()?;
    let (ct, k) = ek.encapsulate_deterministic(&(*m).into());
    Some((ct.to_vec(), k.into()))
}

/// ML-KEM-768 `Decaps` (implicit rejection on a tampered ciphertext).
pub fn kem_decaps(dk: &KemDk, ct: &[u8]) -> Option<[u8; 32]> {
    let ct: &ml_kem::Ciphertext<MlKem768> = ct.try_into().ok()?;
    Some(dk.decapsulate(ct).into())
}

/// The reference RNG of §5.7.2: ChaCha20 with fast key erasure.
pub struct Rng {
    key: [u8; 32],
}

impl Rng {
    /// An RNG whose key is `seed`.
    pub fn new(seed: [u8; 32]) -> Self {
        Self { key: seed }
    }

    /// The next `N` bytes; the key becomes the 32 keystream bytes that follow them.
    pub fn draw<const N: usize>(&mut self) -> [u8; N] {
        let mut ks = vec![0u8; N + 32];
        ChaCha20::new(&self.key.into(), &[0u8; 12].into()).apply_keystream(&mut ks);
        let mut out = [0u8; N];
        out.copy_from_slice(&ks[..N]);
        self.key.copy_from_slice(&ks[N..]);
        out
    }
}

/// The keys of §5.7.2 derived from one node seed and one shared seed.
pub struct Keys {
    /// Static X25519 secret.
    pub static_secret: [u8; 32],
    /// Its public key.
    pub static_public: [u8; 32],
    /// Stateless-reset key.
    pub reset_key: [u8; 32],
    /// Noise PSK.
    pub psk: [u8; 32],
    /// Hybrid fragment / REFUSE MAC key.
    pub hybrid_key: [u8; 32],
    /// Cookie-reply key.
    pub cookie_key: [u8; 32],
}

impl Keys {
    /// Derives every key of §5.7.2.
    pub fn new(node_seed: &[u8], shared_seed: &[u8]) -> Self {
        let static_secret = hkdf(b"stt/1 node static", node_seed, b"x25519");
        Self {
            static_secret,
            static_public: x25519_public(&static_secret),
            reset_key: hkdf(b"stt/1 node reset", node_seed, b"reset"),
            psk: hkdf(b"stt/1 psk", shared_seed, b"noise psk0"),
            hybrid_key: hkdf(b"stt/1 hybrid", shared_seed, b"fragment and refuse mac"),
            cookie_key: hkdf(b"stt/1 cookie", shared_seed, b"cookie reply key"),
        }
    }

    /// `token(sid) = HMAC(reset_key, u64(sid))[0..16]` (§5.7.7).
    pub fn reset_token(&self, sid: u64) -> [u8; 16] {
        let mut t = [0u8; 16];
        t.copy_from_slice(&hmac(&self.reset_key, &[&sid.to_be_bytes()])[..16]);
        t
    }
}
