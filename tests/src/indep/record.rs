//! Record protection of PROTOCOL.md §6 for key phase 0 only: the key schedule (§6.2),
//! nonces (§6.3), sealing and opening of DATA/CONFIRM packets with ChaCha20-Poly1305.
//! No replay window, key updates or loss recovery: enough to prove key agreement.

use super::prims::{hkdf_expand, open, seal};

/// Packet type DATA.
pub const T_DATA: u8 = 0x10;
/// Packet type CONFIRM.
pub const T_CONFIRM: u8 = 0x04;

/// One direction's phase-0 keys.
pub struct Direction {
    secret: [u8; 32],
    /// `key_0` (stream 0).
    pub key: [u8; 32],
    /// `iv_0`.
    pub iv: [u8; 12],
}

impl Direction {
    /// Keys of phase 0 from the traffic secret `c_*`.
    pub fn new(secret: [u8; 32]) -> Self {
        Self {
            secret,
            key: hkdf_expand(&secret, b"stt key"),
            iv: hkdf_expand(&secret, b"stt iv"),
        }
    }

    /// `sec_1 = HKDF-Expand(sec_0, "stt ku", 32)`.
    pub fn next_secret(&self) -> [u8; 32] {
        hkdf_expand(&self.secret, b"stt ku")
    }

    /// The key for `stream_id` (§6.2): `key_0` for 0, else `K_stream(0, id)`.
    pub fn stream_key(&self, stream_id: u32) -> [u8; 32] {
        if stream_id == 0 {
            return self.key;
        }
        let mut info = b"stt stream".to_vec();
        info.extend_from_slice(&stream_id.to_be_bytes());
        hkdf_expand(&self.secret, &info)
    }

    fn nonce(&self, pn: u64) -> [u8; 12] {
        let mut n = self.iv;
        for (a, b) in n[4..].iter_mut().zip(pn.to_be_bytes()) {
            *a ^= b;
        }
        n
    }

    /// `header ‖ AEAD(frames)` for a protected packet in key phase 0.
    pub fn seal(&self, ty: u8, sid: u64, stream_id: u32, pn: u64, plaintext: &[u8]) -> Vec<u8> {
        let mut h = vec![0x53, 0x54, ty];
        h.extend_from_slice(&sid.to_be_bytes());
        h.extend_from_slice(&stream_id.to_be_bytes());
        h.extend_from_slice(&(pn as u32).to_be_bytes());
        h.push(0x01);
        let ct = seal(&self.stream_key(stream_id), &self.nonce(pn), &h, plaintext);
        h.extend_from_slice(&ct);
        h
    }

    /// Opens a DATA/CONFIRM packet of phase 0 whose full packet number is the header's
    /// sequence (fine for the first 2³² packets): (type, stream id, pn, plaintext).
    pub fn open(&self, d: &[u8]) -> Option<(u8, u32, u64, Vec<u8>)> {
        if d.len() < 36 || d[..2] != [0x53, 0x54] || d[19] != 0x01 {
            return None;
        }
        let ty = d[2];
        if ty != T_DATA && ty != T_CONFIRM {
            return None;
        }
        let stream_id = u32::from_be_bytes(d[11..15].try_into().ok()?);
        let pn = u64::from(u32::from_be_bytes(d[15..19].try_into().ok()?));
        let pt = open(
            &self.stream_key(stream_id),
            &self.nonce(pn),
            &d[..20],
            &d[20..],
        )?;
        Some((ty, stream_id, pn, pt))
    }
}
