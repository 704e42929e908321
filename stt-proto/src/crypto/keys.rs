//! The traffic key schedule (PROTOCOL.md §6.2, §6.5): one direction's keys for one key
//! phase, the key-update ratchet and the lazily filled per-stream key cache.
//!
//! Every derivation is HKDF-Expand over the phase secret with a fixed label. This module
//! holds keys; it does not decide when to update them (that is [`super::record`]).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use zeroize::Zeroize;

use super::{Aead, CryptoError, CryptoProvider, KEY_LEN, NONCE_LEN, PacketKey, hkdf_expand_prk};
use crate::frame::StreamId;

/// Per-stream keys kept per direction and phase (least recently used evicted first).
pub const STREAM_KEY_CACHE: usize = 8;

/// HKDF-Expand labels of the traffic key schedule (PROTOCOL.md §6.2).
pub(crate) mod labels {
    pub const KEY: &[u8] = b"stt key";
    pub const IV: &[u8] = b"stt iv";
    pub const KEY_UPDATE: &[u8] = b"stt ku";
    pub const STREAM: &[u8] = b"stt stream";
}

/// One direction's keys for one key phase: the phase secret, the session key (stream 0),
/// the IV shared by all streams, and a small cache of per-stream keys.
#[derive(Clone)]
pub struct DirectionKeys {
    aead: Aead,
    secret: [u8; 32],
    iv: [u8; NONCE_LEN],
    session_key: Box<dyn PacketKey>,
    streams: Vec<(StreamId, Box<dyn PacketKey>)>,
}

impl fmt::Debug for DirectionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DirectionKeys({:?}, <redacted>)", self.aead)
    }
}

impl Drop for DirectionKeys {
    fn drop(&mut self) {
        self.secret.zeroize();
        self.iv.zeroize();
    }
}

impl DirectionKeys {
    /// Expands a phase secret into its key and IV.
    pub fn new(
        provider: &dyn CryptoProvider,
        aead: Aead,
        secret: &[u8; 32],
    ) -> Result<Self, CryptoError> {
        let mut key = [0u8; KEY_LEN];
        hkdf_expand_prk(secret, &[labels::KEY], &mut key);
        let mut iv = [0u8; NONCE_LEN];
        hkdf_expand_prk(secret, &[labels::IV], &mut iv);
        let session_key = provider.packet_key(aead, &key);
        key.zeroize();
        Ok(Self {
            aead,
            secret: *secret,
            iv,
            session_key: session_key?,
            streams: Vec::new(),
        })
    }

    /// The next phase's keys: `secret' = HKDF-Expand(secret, "stt ku", 32)`.
    pub fn next(&self, provider: &dyn CryptoProvider) -> Result<Self, CryptoError> {
        let mut next = [0u8; 32];
        hkdf_expand_prk(&self.secret, &[labels::KEY_UPDATE], &mut next);
        let out = Self::new(provider, self.aead, &next);
        next.zeroize();
        out
    }

    /// The next phase's keys from a secret that `derive(secret, out)` writes into `out`
    /// (the re-handshake's mixed update, [`super::rekey::RekeyMix`]).
    pub(crate) fn next_mixed(
        &self,
        provider: &dyn CryptoProvider,
        derive: impl FnOnce(&[u8; 32], &mut [u8; 32]),
    ) -> Result<Self, CryptoError> {
        let mut next = [0u8; 32];
        derive(&self.secret, &mut next);
        let out = Self::new(provider, self.aead, &next);
        next.zeroize();
        out
    }

    /// The nonce of packet number `pn`: `iv ⊕ (0³² ‖ u64be(pn))`.
    pub fn nonce(&self, pn: u64) -> [u8; NONCE_LEN] {
        // Built as an 8-byte and a 4-byte word, the way AEADs read a nonce back, so the
        // read is forwarded from these stores instead of stalling on a split (a per-packet
        // cost). Bytes 4..8 take the high half of `pn`, bytes 8..12 the low half.
        let mut head = [0u8; 8];
        head.copy_from_slice(&self.iv[..8]);
        let mut tail = [0u8; 4];
        tail.copy_from_slice(&self.iv[8..]);
        let head = u64::from_be_bytes(head) ^ (pn >> 32);
        let tail = u32::from_be_bytes(tail) ^ pn as u32;
        let mut n = [0u8; NONCE_LEN];
        n[..8].copy_from_slice(&head.to_be_bytes());
        n[8..].copy_from_slice(&tail.to_be_bytes());
        n
    }

    /// The key for `stream`: the session key for stream 0, else
    /// `HKDF-Expand(secret, "stt stream" ‖ u32be(stream_id), 32)`, derived on first use and
    /// cached for the [`STREAM_KEY_CACHE`] most recent streams.
    pub fn key_for(
        &mut self,
        provider: &dyn CryptoProvider,
        stream: StreamId,
    ) -> Result<&dyn PacketKey, CryptoError> {
        if stream == StreamId::CONTROL {
            return Ok(&*self.session_key);
        }
        if let Some(i) = self.streams.iter().position(|(s, _)| *s == stream) {
            if i != 0 {
                let hit = self.streams.remove(i);
                self.streams.insert(0, hit);
            }
        } else {
            let mut key = [0u8; KEY_LEN];
            hkdf_expand_prk(
                &self.secret,
                &[labels::STREAM, &stream.0.to_be_bytes()],
                &mut key,
            );
            let k = provider.packet_key(self.aead, &key);
            key.zeroize();
            if self.streams.len() >= STREAM_KEY_CACHE {
                self.streams.pop();
            }
            self.streams.insert(0, (stream, k?));
        }
        match self.streams.first() {
            Some((_, k)) => Ok(&**k),
            None => Ok(&*self.session_key),
        }
    }

    /// Streams whose keys are cached, most recent first.
    pub fn cached_streams(&self) -> impl Iterator<Item = StreamId> + '_ {
        self.streams.iter().map(|(s, _)| *s)
    }

    /// Raw key material for test vectors: (phase secret, session key, IV).
    #[cfg(test)]
    pub(crate) fn material(&self) -> ([u8; 32], [u8; 32], [u8; NONCE_LEN]) {
        let mut key = [0u8; KEY_LEN];
        hkdf_expand_prk(&self.secret, &[labels::KEY], &mut key);
        (self.secret, key, self.iv)
    }
}
