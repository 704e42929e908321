//! Bodies of the unprotected packet types (PROTOCOL.md §5): INIT, CHALLENGE, RESPONSE,
//! COOKIE, RESET and VERSION. Only their structure is checked here (fixed fields and
//! minimum lengths); the Noise messages inside are opened by the handshake module.

use super::codec::{Reader, Writer};
use super::{DecodeError, EncodeError, TAG_LEN};

/// X25519 public key length.
const KEY_LEN: usize = 32;
/// An encrypted static key: the key plus its AEAD tag.
const SEALED_KEY_LEN: usize = KEY_LEN + TAG_LEN;
/// Most versions a VERSION packet may list.
pub const MAX_VERSIONS: usize = 8;

/// Encoders refuse a sealed payload shorter than its tag, which no decoder would accept.
fn check_sealed_payload(payload: &[u8]) -> Result<(), EncodeError> {
    if payload.len() < TAG_LEN {
        return Err(EncodeError::OutOfRange {
            field: "sealed payload length",
            value: payload.len() as u64,
        });
    }
    Ok(())
}

fn sealed_payload<'a>(r: &mut Reader<'a>, len: usize) -> Result<&'a [u8], DecodeError> {
    if len < TAG_LEN {
        return Err(DecodeError::Short {
            need: TAG_LEN,
            have: len,
        });
    }
    r.bytes(len)
}

/// INIT body: Noise message 1 (`e`, sealed payload) followed by `mac2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitBody<'a> {
    /// The initiator's ephemeral public key, in clear.
    pub ephemeral: [u8; KEY_LEN],
    /// The sealed payload (ciphertext and tag, at least 16 bytes).
    pub payload: &'a [u8],
    /// MAC over the packet with a cookie, or zeros when the initiator has none.
    pub mac2: [u8; TAG_LEN],
}

impl<'a> InitBody<'a> {
    /// Splits an INIT body (the bytes after the header).
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let ephemeral = r.array()?;
        let len = r.remaining().saturating_sub(TAG_LEN);
        let payload = sealed_payload(&mut r, len)?;
        let mac2 = r.array()?;
        Ok(Self {
            ephemeral,
            payload,
            mac2,
        })
    }

    /// Writes the body, returning its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        check_sealed_payload(self.payload)?;
        let mut w = Writer::new(buf);
        w.put(&self.ephemeral)?;
        w.put(self.payload)?;
        w.put(&self.mac2)?;
        Ok(w.position())
    }
}

/// CHALLENGE body: Noise message 2 (`e`, sealed `s`, sealed payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChallengeBody<'a> {
    /// The responder's ephemeral public key, in clear.
    pub ephemeral: [u8; KEY_LEN],
    /// The responder's static key, sealed.
    pub sealed_static: [u8; SEALED_KEY_LEN],
    /// The sealed payload (at least 16 bytes).
    pub payload: &'a [u8],
}

impl<'a> ChallengeBody<'a> {
    /// Splits a CHALLENGE body.
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let ephemeral = r.array()?;
        let sealed_static = r.array()?;
        let len = r.remaining();
        let payload = sealed_payload(&mut r, len)?;
        Ok(Self {
            ephemeral,
            sealed_static,
            payload,
        })
    }

    /// Writes the body, returning its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        check_sealed_payload(self.payload)?;
        let mut w = Writer::new(buf);
        w.put(&self.ephemeral)?;
        w.put(&self.sealed_static)?;
        w.put(self.payload)?;
        Ok(w.position())
    }
}

/// RESPONSE body: Noise message 3 (sealed `s`, sealed payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseBody<'a> {
    /// The initiator's static key, sealed.
    pub sealed_static: [u8; SEALED_KEY_LEN],
    /// The sealed payload (at least 16 bytes).
    pub payload: &'a [u8],
}

impl<'a> ResponseBody<'a> {
    /// Splits a RESPONSE body.
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let sealed_static = r.array()?;
        let len = r.remaining();
        let payload = sealed_payload(&mut r, len)?;
        Ok(Self {
            sealed_static,
            payload,
        })
    }

    /// Writes the body, returning its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        check_sealed_payload(self.payload)?;
        let mut w = Writer::new(buf);
        w.put(&self.sealed_static)?;
        w.put(self.payload)?;
        Ok(w.position())
    }
}

/// COOKIE body: a 24-byte nonce and the sealed 16-byte cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieBody {
    /// XChaCha20-Poly1305 nonce.
    pub nonce: [u8; 24],
    /// The cookie sealed under the network's cookie key.
    pub sealed_cookie: [u8; 16 + TAG_LEN],
}

impl CookieBody {
    /// Exact body length.
    pub const LEN: usize = 24 + 16 + TAG_LEN;

    /// Parses a COOKIE body, which has a fixed length.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let out = Self {
            nonce: r.array()?,
            sealed_cookie: r.array()?,
        };
        r.finish()?;
        Ok(out)
    }

    /// Writes the body, returning its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(buf);
        w.put(&self.nonce)?;
        w.put(&self.sealed_cookie)?;
        Ok(w.position())
    }
}

/// RESET body: the stateless-reset token of the session named in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResetBody {
    /// Token that proves the sender derived it from the session's node seed.
    pub token: [u8; 16],
}

impl ResetBody {
    /// Exact body length.
    pub const LEN: usize = 16;

    /// Parses a RESET body, which has a fixed length.
    pub fn decode(body: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(body);
        let token = r.array()?;
        r.finish()?;
        Ok(Self { token })
    }

    /// Writes the body, returning its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(buf);
        w.put(&self.token)?;
        Ok(w.position())
    }
}

/// VERSION body: the versions the sender speaks, one byte each, 1 to 8 of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionBody<'a> {
    /// Supported versions, each in 1..=7.
    pub versions: &'a [u8],
}

impl<'a> VersionBody<'a> {
    /// Parses a VERSION body.
    pub fn decode(body: &'a [u8]) -> Result<Self, DecodeError> {
        Self::check(body).map_err(|(field, value)| DecodeError::OutOfRange { field, value })?;
        Ok(Self { versions: body })
    }

    /// Writes the body, returning its length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        Self::check(self.versions)
            .map_err(|(field, value)| EncodeError::OutOfRange { field, value })?;
        let mut w = Writer::new(buf);
        w.put(self.versions)?;
        Ok(w.position())
    }

    fn check(versions: &[u8]) -> Result<(), (&'static str, u64)> {
        if versions.is_empty() || versions.len() > MAX_VERSIONS {
            return Err(("version count", versions.len() as u64));
        }
        match versions.iter().find(|&&v| v == 0 || v > 7) {
            Some(&v) => Err(("version", u64::from(v))),
            None => Ok(()),
        }
    }
}
