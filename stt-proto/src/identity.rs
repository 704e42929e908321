//! Long-term identities from the two user seeds (PROTOCOL.md §5.7.2).
//!
//! `node_seed` becomes the node's static X25519 key pair (prepared by a crypto provider's
//! X25519 backend), its [`NodeId`] and its stateless-reset key; `shared_seed` becomes the network PSK and the cookie-reply key. Secret
//! material is zeroized on drop and never printed by `Debug`. Nothing here touches packets.

use alloc::sync::Arc;
use core::fmt;
use core::str::FromStr;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto::{CryptoProvider, DhError, DhKey, default_provider, hmac_sha256};
use crate::frame::SessionId;
use crate::rng::hkdf_expand;

/// Shortest accepted seed, in bytes.
pub const MIN_SEED_LEN: usize = 32;

/// HKDF salts and infos of the seed derivations (PROTOCOL.md §5.7.2).
pub(crate) mod labels {
    pub const STATIC_SALT: &[u8] = b"stt/1 node static";
    pub const STATIC_INFO: &[u8] = b"x25519";
    pub const RESET_SALT: &[u8] = b"stt/1 node reset";
    pub const RESET_INFO: &[u8] = b"reset";
    pub const PSK_SALT: &[u8] = b"stt/1 psk";
    pub const PSK_INFO: &[u8] = b"noise psk0";
    pub const COOKIE_SALT: &[u8] = b"stt/1 cookie";
    pub const COOKIE_INFO: &[u8] = b"cookie reply key";
    pub const HYBRID_SALT: &[u8] = b"stt/1 hybrid";
    pub const HYBRID_INFO: &[u8] = b"fragment and refuse mac";
}

/// A seed was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SeedError {
    /// The seed is shorter than [`MIN_SEED_LEN`].
    #[error("seed too short: {len} bytes, need at least {min}")]
    TooShort {
        /// Length given.
        len: usize,
        /// Minimum length.
        min: usize,
    },
    /// The crypto provider refused the derived X25519 key.
    #[error("X25519 backend: {0}")]
    Dh(DhError),
}

fn check_seed(seed: &[u8]) -> Result<(), SeedError> {
    if seed.len() < MIN_SEED_LEN {
        return Err(SeedError::TooShort {
            len: seed.len(),
            min: MIN_SEED_LEN,
        });
    }
    Ok(())
}

/// A node's public identity: SHA3-256 of its static X25519 public key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; 32]);

impl NodeId {
    /// The id of a static public key.
    pub fn from_public_key(public: &[u8; 32]) -> Self {
        NodeId(crate::hash::sha3_256(public))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", crate::hex::Hex(&self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

/// A string is not a node id (64 lowercase hex digits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NodeIdParseError {
    /// Not exactly 64 characters.
    #[error("node id must be 64 hex digits, got {0} characters")]
    Length(usize),
    /// A character is not a lowercase hex digit.
    #[error("invalid hex digit at position {0}")]
    Digit(usize),
}

impl FromStr for NodeId {
    type Err = NodeIdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b = s.as_bytes();
        if b.len() != 64 {
            return Err(NodeIdParseError::Length(b.len()));
        }
        let digit = |i: usize| -> Result<u8, NodeIdParseError> {
            match b[i] {
                c @ b'0'..=b'9' => Ok(c - b'0'),
                c @ b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(NodeIdParseError::Digit(i)),
            }
        };
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = (digit(2 * i)? << 4) | digit(2 * i + 1)?;
        }
        Ok(NodeId(out))
    }
}

/// A node's long-term secrets, derived from its `node_seed`.
#[derive(Clone)]
pub struct Identity {
    /// The static secret's bytes, kept to prepare it for another provider.
    secret: SecretBytes,
    /// The static key as prepared by a provider (shared by clones).
    static_key: Arc<dyn DhKey>,
    public: [u8; 32],
    node_id: NodeId,
    reset_key: SecretBytes,
}

#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct SecretBytes([u8; 32]);

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("node_id", &self.node_id)
            .finish_non_exhaustive()
    }
}

impl Identity {
    /// Derives the static key pair and reset key from `node_seed` (≥ 32 bytes), the key
    /// prepared by [`default_provider`].
    pub fn from_node_seed(node_seed: &[u8]) -> Result<Self, SeedError> {
        check_seed(node_seed)?;
        let mut secret = SecretBytes([0u8; 32]);
        hkdf_expand(
            labels::STATIC_SALT,
            node_seed,
            labels::STATIC_INFO,
            &mut secret.0,
        );
        let static_key = default_provider()
            .x25519_key(&secret.0)
            .map_err(SeedError::Dh)?;
        let public = static_key.public_key();
        let mut reset = SecretBytes([0u8; 32]);
        hkdf_expand(
            labels::RESET_SALT,
            node_seed,
            labels::RESET_INFO,
            &mut reset.0,
        );
        Ok(Self {
            node_id: NodeId::from_public_key(&public),
            secret,
            static_key,
            public,
            reset_key: reset,
        })
    }

    /// The same identity with its static key prepared by `provider`'s X25519 backend (a
    /// node does this with its configured provider). Every backend derives the same public
    /// key; a backend that disagrees is refused.
    pub fn with_provider(&self, provider: &dyn CryptoProvider) -> Result<Self, DhError> {
        let static_key = provider.x25519_key(&self.secret.0)?;
        if static_key.public_key() != self.public {
            return Err(DhError::Backend);
        }
        Ok(Self {
            static_key,
            ..self.clone()
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The static public key (sent encrypted in the handshake).
    pub fn public_key(&self) -> [u8; 32] {
        self.public
    }

    /// The prepared static key (`s` in Noise).
    pub(crate) fn static_key(&self) -> &dyn DhKey {
        &*self.static_key
    }

    /// The static secret's bytes (tests cross-check against other Noise implementations).
    #[cfg(test)]
    pub(crate) fn secret_bytes(&self) -> [u8; 32] {
        self.secret.0
    }

    /// The stateless-reset token of one of this node's receive session ids:
    /// `HMAC-SHA256(reset_key, u64be(session_id))[..16]` (PROTOCOL.md §5.7.7). It survives a
    /// restart because the key comes from the seed.
    pub fn reset_token(&self, session: SessionId) -> [u8; 16] {
        let full = hmac_sha256(&self.reset_key.0, &[&session.0.to_be_bytes()]);
        let mut out = [0u8; 16];
        out.copy_from_slice(&full[..16]);
        out
    }
}

/// The network's shared secrets, derived from its `shared_seed`, and optionally those of
/// the seed the network is rotating to ([`NetworkKey::with_next`], PROTOCOL.md §5.7.9).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct NetworkKey {
    current: NetSecrets,
    next: Option<NetSecrets>,
}

/// The keys of one shared seed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct NetSecrets {
    pub(crate) psk: [u8; 32],
    pub(crate) cookie_key: [u8; 32],
    /// MAC key of hybrid-handshake fragments and REFUSE replies (PROTOCOL.md §5.7.10).
    pub(crate) hybrid_key: [u8; 32],
}

impl fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NetworkKey(<redacted>)")
    }
}

impl NetworkKey {
    /// Derives the Noise PSK and the cookie-reply key from `shared_seed` (≥ 32 bytes).
    pub fn from_shared_seed(shared_seed: &[u8]) -> Result<Self, SeedError> {
        check_seed(shared_seed)?;
        let mut psk = [0u8; 32];
        hkdf_expand(labels::PSK_SALT, shared_seed, labels::PSK_INFO, &mut psk);
        // Its own extraction from the seed (never the PSK as PRK): only members can read or
        // forge cookie replies, and the Noise PSK is used for nothing but Noise.
        let mut cookie_key = [0u8; 32];
        hkdf_expand(
            labels::COOKIE_SALT,
            shared_seed,
            labels::COOKIE_INFO,
            &mut cookie_key,
        );
        let mut hybrid_key = [0u8; 32];
        hkdf_expand(
            labels::HYBRID_SALT,
            shared_seed,
            labels::HYBRID_INFO,
            &mut hybrid_key,
        );
        let current = NetSecrets {
            psk,
            cookie_key,
            hybrid_key,
        };
        psk.zeroize();
        cookie_key.zeroize();
        hybrid_key.zeroize();
        Ok(Self {
            current,
            next: None,
        })
    }

    /// This key, additionally accepting `next`'s seed from initiators: the step of a seed
    /// rotation (PROTOCOL.md §5.7.9). A responder opens an INIT sealed with either seed;
    /// an initiator always uses this key's own (current) seed. Any next seed `next`
    /// itself carries is ignored.
    pub fn with_next(mut self, next: &NetworkKey) -> Self {
        self.next = Some(next.current.clone());
        self
    }

    /// Whether a next seed is accepted too ([`NetworkKey::with_next`]).
    pub fn has_next(&self) -> bool {
        self.next.is_some()
    }

    /// The current seed's PSK: what an initiator seals its INIT with.
    pub(crate) fn psk(&self) -> &[u8; 32] {
        &self.current.psk
    }

    /// The current seed's cookie-reply key.
    pub(crate) fn cookie_key(&self) -> &[u8; 32] {
        &self.current.cookie_key
    }

    /// The current seed's hybrid fragment / REFUSE MAC key.
    pub(crate) fn hybrid_key(&self) -> &[u8; 32] {
        &self.current.hybrid_key
    }

    /// Every seed a responder accepts, current first.
    pub(crate) fn accepted(&self) -> impl Iterator<Item = &NetSecrets> {
        core::iter::once(&self.current).chain(self.next.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;

    #[test]
    fn short_seeds_are_typed_errors() {
        assert_eq!(
            Identity::from_node_seed(&[1; 31]).unwrap_err(),
            SeedError::TooShort { len: 31, min: 32 }
        );
        assert!(NetworkKey::from_shared_seed(&[1; 16]).is_err());
        assert!(Identity::from_node_seed(&[1; 32]).is_ok());
    }

    #[test]
    fn node_id_hex_roundtrip() {
        let id = Identity::from_node_seed(&[3; 32]).unwrap().node_id();
        let s = id.to_string();
        assert_eq!(s.len(), 64);
        assert_eq!(s, s.to_lowercase());
        assert_eq!(s.parse::<NodeId>().unwrap(), id);
        assert!(s.to_uppercase().parse::<NodeId>().is_err());
        assert!("00".parse::<NodeId>().is_err());
        let pk = Identity::from_node_seed(&[3; 32]).unwrap().public_key();
        assert_eq!(
            id.0,
            <[u8; 32]>::from(<sha3::Sha3_256 as sha3::Digest>::digest(pk))
        );
    }

    #[test]
    fn debug_never_prints_secrets() {
        let seed = [0xabu8; 32];
        let id = Identity::from_node_seed(&seed).unwrap();
        let nk = NetworkKey::from_shared_seed(&seed).unwrap();
        let d = format!("{id:?} {nk:?}");
        assert!(!d.contains(&hex::encode(id.secret_bytes())));
        assert!(!d.contains(&hex::encode(nk.psk())));
        assert!(!d.contains(&hex::encode(nk.cookie_key())));
        assert!(d.contains("redacted"));
    }

    #[test]
    fn labels_separate_domains() {
        let seed = [9u8; 32];
        let nk = NetworkKey::from_shared_seed(&seed).unwrap();
        let id = Identity::from_node_seed(&seed).unwrap();
        assert_ne!(nk.psk(), &id.secret_bytes());
        assert_ne!(nk.psk(), nk.cookie_key());
        assert_ne!(id.reset_token(SessionId(1)), id.reset_token(SessionId(2)));
    }

    /// The cookie-reply key comes from the seed under its own label, never from the PSK.
    #[test]
    fn cookie_key_has_its_own_label_on_the_seed() {
        let seed = [5u8; 32];
        let nk = NetworkKey::from_shared_seed(&seed).unwrap();
        let mut want = [0u8; 32];
        hkdf_expand(b"stt/1 cookie", &seed, b"cookie reply key", &mut want);
        assert_eq!(nk.cookie_key(), &want);
        let mut from_psk = [0u8; 32];
        crate::crypto::hkdf_expand_prk(nk.psk(), &[b"stt cookie"], &mut from_psk);
        assert_ne!(nk.cookie_key(), &from_psk);
    }
}
