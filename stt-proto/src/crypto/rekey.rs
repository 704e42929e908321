//! The re-handshake's key mixing (PROTOCOL.md §6.7): a fresh X25519 output agreed inside
//! the session is mixed into the key-update ratchet at one agreed key phase, so the keys
//! from that phase on depend on a secret an attacker holding the old keys never saw.
//!
//! This module only derives: when the DH is agreed and which phase it applies to is the
//! session's business, and the key phases are [`super::record`]'s.

use core::fmt;

use zeroize::Zeroize;

use super::keys::DirectionKeys;
use super::{CryptoError, CryptoProvider, X25519_LEN, hmac_sha256};

/// HKDF-Expand label of a mixed key update.
pub(crate) const LABEL: &[u8] = b"stt rekey";

/// A re-handshake's DH output, bound to the key phase it is mixed into.
#[derive(Clone)]
pub struct RekeyMix {
    /// The key phase (generation) whose secrets are derived with the DH output.
    pub(crate) generation: u64,
    /// This side started the re-handshake: it also starts the key update into
    /// `generation` (the other side waits for it, PROTOCOL.md §6.7).
    pub(crate) may_initiate: bool,
    dh: [u8; X25519_LEN],
    /// `e_I ‖ e_R`: both ephemeral public keys, bound into the derivation.
    publics: [u8; 2 * X25519_LEN],
}

impl fmt::Debug for RekeyMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RekeyMix(generation {}, <redacted>)", self.generation)
    }
}

impl Drop for RekeyMix {
    fn drop(&mut self) {
        self.dh.zeroize();
    }
}

impl RekeyMix {
    /// A DH output `dh = X25519(e_I, e_R)` for key phase `generation`, with the
    /// session initiator's and responder's ephemeral public keys.
    pub fn new(
        generation: u64,
        dh: &[u8; X25519_LEN],
        initiator_public: &[u8; X25519_LEN],
        responder_public: &[u8; X25519_LEN],
        may_initiate: bool,
    ) -> Self {
        let mut publics = [0u8; 2 * X25519_LEN];
        publics[..X25519_LEN].copy_from_slice(initiator_public);
        publics[X25519_LEN..].copy_from_slice(responder_public);
        Self {
            generation,
            may_initiate,
            dh: *dh,
            publics,
        }
    }

    /// The key phase this mix applies to.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The next phase's keys after `keys`, with the DH output mixed in:
    /// `prk = HKDF-Extract(salt = sec_n, ikm = dh)`,
    /// `sec_n+1 = HKDF-Expand(prk, "stt rekey" ‖ e_I ‖ e_R, 32)`.
    pub fn next_keys(
        &self,
        provider: &dyn CryptoProvider,
        keys: &DirectionKeys,
    ) -> Result<DirectionKeys, CryptoError> {
        keys.next_mixed(provider, |secret, out| {
            let mut prk = hmac_sha256(secret, &[&self.dh]);
            super::hkdf_expand_prk(&prk, &[LABEL, &self.publics], out);
            prk.zeroize();
        })
    }
}
