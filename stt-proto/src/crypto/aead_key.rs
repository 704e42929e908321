//! The part of a [`PacketKey`] every provider shares: which AEAD the key is for, boxed
//! clones, and the detached-tag calls, around one library's expanded key.
//!
//! A provider implements only [`AeadCipher`] (its library's seal and open calls) and
//! boxes its key with [`packet_key`]. Nothing here allocates per packet or implements a
//! primitive.

use alloc::boxed::Box;

use super::{Aead, CryptoError, NONCE_LEN, PacketKey, TAG_LEN};

/// One library's expanded AEAD key: seals and opens in place with a detached tag.
pub(crate) trait AeadCipher: Clone + Send + Sync + 'static {
    /// Encrypts `buf` in place and returns the tag.
    fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError>;

    /// Decrypts `buf` in place if `tag` verifies.
    fn open(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError>;
}

/// A [`PacketKey`] made of an expanded key and the AEAD it is for.
#[derive(Clone)]
struct Keyed<C> {
    aead: Aead,
    cipher: C,
}

/// Boxes `cipher`, an expanded key for `aead`, as a [`PacketKey`].
pub(crate) fn packet_key<C: AeadCipher>(aead: Aead, cipher: C) -> Box<dyn PacketKey> {
    Box::new(Keyed { aead, cipher })
}

/// A tag returned as bytes (ring's and aws-lc's `Tag`) as an array.
#[cfg(any(feature = "ring", feature = "aws-lc"))]
pub(crate) fn tag_array(tag: &[u8]) -> [u8; TAG_LEN] {
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(tag);
    out
}

impl<C: AeadCipher> PacketKey for Keyed<C> {
    fn seal_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; TAG_LEN], CryptoError> {
        self.cipher.seal(nonce, ad, buf)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; NONCE_LEN],
        ad: &[u8],
        buf: &mut [u8],
        tag: &[u8; TAG_LEN],
    ) -> Result<(), CryptoError> {
        self.cipher.open(nonce, ad, buf, tag)
    }

    fn aead(&self) -> Aead {
        self.aead
    }

    fn clone_box(&self) -> Box<dyn PacketKey> {
        Box::new(self.clone())
    }
}
