//! Noise (revision 34) symmetric state, by hand: `MixHash`, `MixKey`, `MixKeyAndHash`,
//! `EncryptAndHash`, `DecryptAndHash`, `Split` over HKDF-SHA256 and ChaCha20-Poly1305.
//! Knows no message patterns (those are in `handshake.rs`) and nothing of STT packets.

use super::prims::{hkdf, open, seal, sha256};

/// The Noise `SymmetricState` with its `CipherState`.
#[derive(Clone)]
pub struct Symmetric {
    ck: [u8; 32],
    h: [u8; 32],
    k: Option<[u8; 32]>,
    n: u64,
}

fn noise_nonce(n: u64) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&n.to_le_bytes());
    nonce
}

impl Symmetric {
    /// `InitializeSymmetric(name)`: `h` = the name padded, or its hash if longer than 32.
    pub fn new(name: &[u8]) -> Self {
        let h = if name.len() <= 32 {
            let mut h = [0u8; 32];
            h[..name.len()].copy_from_slice(name);
            h
        } else {
            sha256(name)
        };
        Self {
            ck: h,
            h,
            k: None,
            n: 0,
        }
    }

    /// The handshake hash `h`.
    pub fn h(&self) -> [u8; 32] {
        self.h
    }

    /// `MixHash(data)`.
    pub fn mix_hash(&mut self, data: &[u8]) {
        let mut buf = self.h.to_vec();
        buf.extend_from_slice(data);
        self.h = sha256(&buf);
    }

    /// `MixKey(ikm)`.
    pub fn mix_key(&mut self, ikm: &[u8]) {
        let out: [u8; 64] = hkdf(&self.ck, ikm, b"");
        self.ck.copy_from_slice(&out[..32]);
        self.k = Some(out[32..].try_into().expect("32"));
        self.n = 0;
    }

    /// `MixKeyAndHash(ikm)`.
    pub fn mix_key_and_hash(&mut self, ikm: &[u8]) {
        let out: [u8; 96] = hkdf(&self.ck, ikm, b"");
        self.ck.copy_from_slice(&out[..32]);
        self.mix_hash(&out[32..64]);
        self.k = Some(out[64..].try_into().expect("32"));
        self.n = 0;
    }

    /// `EncryptAndHash(pt)`.
    pub fn encrypt_and_hash(&mut self, pt: &[u8]) -> Vec<u8> {
        let ct = match self.k {
            Some(k) => {
                let ct = seal(&k, &noise_nonce(self.n), &self.h, pt);
                self.n += 1;
                ct
            }
            None => pt.to_vec(),
        };
        self.mix_hash(&ct);
        ct
    }

    /// `DecryptAndHash(ct)`; `None` if the tag fails.
    pub fn decrypt_and_hash(&mut self, ct: &[u8]) -> Option<Vec<u8>> {
        let pt = match self.k {
            Some(k) => {
                let pt = open(&k, &noise_nonce(self.n), &self.h, ct)?;
                self.n += 1;
                pt
            }
            None => ct.to_vec(),
        };
        self.mix_hash(ct);
        Some(pt)
    }

    /// `Split()`: `(c_i2r, c_r2i)`.
    pub fn split(&self) -> ([u8; 32], [u8; 32]) {
        let out: [u8; 64] = hkdf(&self.ck, b"", b"");
        (
            out[..32].try_into().expect("32"),
            out[32..].try_into().expect("32"),
        )
    }
}
