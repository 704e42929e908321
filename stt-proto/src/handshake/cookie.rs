//! The stateless cookie round used under load (PROTOCOL.md §5.7.5; WireGuard's cookie
//! reply adapted to XXpsk0).
//!
//! The responder keeps only a rotating 32-byte secret: `cookie = HMAC(secret, path)[..16]`,
//! sent sealed with XChaCha20-Poly1305 under the network's cookie key (PROTOCOL.md §5.7.2), AD = the INIT's
//! payload tag. The initiator proves it can receive at `path` with `mac2` on its next INIT.

use chacha20poly1305::XChaCha20Poly1305;
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use core::time::Duration;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::{HandshakeError, MAC2_LEN};
use crate::Instant;
use crate::crypto::hmac_sha256;
use crate::rng::Rng;

/// How often the cookie secret rotates; the previous secret stays valid one more period.
pub const COOKIE_ROTATION: Duration = Duration::from_secs(120);
/// Cookie length.
pub const COOKIE_LEN: usize = 16;

/// `mac2 = HMAC-SHA256(cookie, INIT without mac2)[..16]`.
pub(crate) fn mac2(cookie: &[u8; COOKIE_LEN], init_without_mac2: &[u8]) -> [u8; MAC2_LEN] {
    let full = hmac_sha256(cookie, &[init_without_mac2]);
    let mut out = [0u8; MAC2_LEN];
    out.copy_from_slice(&full[..MAC2_LEN]);
    out
}

/// Seals `cookie` for the initiator: returns the 24-byte nonce and 32 sealed bytes.
pub(crate) fn seal_reply(
    cookie_key: &[u8; 32],
    nonce: [u8; 24],
    init_tag: &[u8],
    cookie: &[u8; COOKIE_LEN],
) -> Result<[u8; 32], HandshakeError> {
    let cipher = XChaCha20Poly1305::new(&(*cookie_key).into());
    let mut out = [0u8; 32];
    out[..16].copy_from_slice(cookie);
    let (body, tail) = out.split_at_mut(16);
    let tag = cipher
        .encrypt_inout_detached(&nonce.into(), init_tag, body.into())
        .map_err(|_| HandshakeError::Internal)?;
    tail.copy_from_slice(&tag);
    Ok(out)
}

/// Opens a cookie reply sealed by [`seal_reply`].
pub(crate) fn open_reply(
    cookie_key: &[u8; 32],
    nonce: [u8; 24],
    init_tag: &[u8],
    sealed: &[u8; 32],
) -> Result<[u8; COOKIE_LEN], HandshakeError> {
    let cipher = XChaCha20Poly1305::new(&(*cookie_key).into());
    let mut cookie = [0u8; COOKIE_LEN];
    cookie.copy_from_slice(&sealed[..16]);
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&sealed[16..]);
    cipher
        .decrypt_inout_detached(
            &nonce.into(),
            init_tag,
            (&mut cookie[..]).into(),
            &tag.into(),
        )
        .map_err(|_| HandshakeError::BadCookie)?;
    Ok(cookie)
}

/// The responder's rotating cookie secrets.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct CookieSecrets {
    current: [u8; 32],
    previous: Option<[u8; 32]>,
    #[zeroize(skip)]
    rotated_at: Option<Instant>,
}

impl CookieSecrets {
    pub(crate) fn new() -> Self {
        Self {
            current: [0; 32],
            previous: None,
            rotated_at: None,
        }
    }

    /// Draws the first secret, or rotates if a period has passed: after one period the old
    /// secret becomes `previous`; after two, nothing older than the new secret is valid.
    pub(crate) fn rotate(&mut self, now: Instant, rng: &mut Rng) {
        match self.rotated_at {
            None => {
                rng.fill(&mut self.current);
                self.rotated_at = Some(now);
            }
            Some(at) => {
                let age = now - at;
                if age >= COOKIE_ROTATION * 2 {
                    self.previous = None;
                    rng.fill(&mut self.current);
                    self.rotated_at = Some(now);
                } else if age >= COOKIE_ROTATION {
                    self.previous = Some(self.current);
                    rng.fill(&mut self.current);
                    self.rotated_at = Some(now);
                }
            }
        }
    }

    fn cookie_with(secret: &[u8; 32], path: &[u8]) -> [u8; COOKIE_LEN] {
        let full = hmac_sha256(secret, &[path]);
        let mut out = [0u8; COOKIE_LEN];
        out.copy_from_slice(&full[..COOKIE_LEN]);
        out
    }

    /// The current cookie for `path`.
    pub(crate) fn cookie(&self, path: &[u8]) -> [u8; COOKIE_LEN] {
        Self::cookie_with(&self.current, path)
    }

    /// Whether `mac2` over `init_without_mac2` was made with a valid cookie for `path`.
    pub(crate) fn verify(&self, path: &[u8], init_without_mac2: &[u8], got: &[u8]) -> bool {
        if self.rotated_at.is_none() {
            return false;
        }
        let cur = mac2(&self.cookie(path), init_without_mac2);
        let mut ok = cur.ct_eq(got);
        if let Some(prev) = &self.previous {
            let old = mac2(&Self::cookie_with(prev, path), init_without_mac2);
            ok |= old.ct_eq(got);
        }
        ok.into()
    }
}
