//! The STT handshake (PROTOCOL.md §5): `Noise_XXpsk0_25519_ChaChaPoly_SHA256` over
//! INIT / CHALLENGE / RESPONSE (or its hybrid sibling with ML-KEM-768, `hybrid.rs`), the COOKIE round under load, and the hand-over to the
//! record layer as an [`Established`] session.
//!
//! These are message-level building blocks: they turn packets into packets and keys. Timers,
//! retransmission, the per-address 3× budget and routing belong to the engine.

use alloc::collections::BTreeSet;
use alloc::vec::Vec;

use crate::crypto::{Aead, CryptoError, PacketProtection};
use crate::frame::{HEADER_LEN, SessionId, Side};
use crate::identity::NodeId;

pub mod admission;
pub mod cookie;
pub mod hybrid;
pub mod initiator;
pub mod noise;
pub mod payload;
pub mod responder;
mod rotation;

pub use hybrid::{PqMode, RefuseCode};
pub use initiator::{Initiator, RefuseOutcome, generate_ephemeral, generate_kem_key};
pub use noise::{HYBRID_PROTOCOL_NAME, PROLOGUE, PROTOCOL_NAME};
pub use payload::MAX_PARAMS_LEN;
pub use responder::{DropReason, InitOutcome, Responder, ResponderConfig, ResponderStats};

/// X25519 public key length.
pub const DH_LEN: usize = 32;
/// Noise AEAD tag length.
pub const NOISE_TAG_LEN: usize = 16;
/// Length of the INIT payload plaintext: session id, AEAD offer, zero padding (§5.3).
pub const INIT_PAYLOAD_LEN: usize = 192;
/// Length of `mac2` at the end of INIT.
pub const MAC2_LEN: usize = 16;
/// Length of every INIT packet: header, `e`, sealed payload, `mac2` (276 bytes). It is at
/// least the largest CHALLENGE, so a CHALLENGE never amplifies the INIT that caused it.
pub const INIT_LEN: usize = HEADER_LEN + DH_LEN + INIT_PAYLOAD_LEN + NOISE_TAG_LEN + MAC2_LEN;
/// Largest CHALLENGE packet (with [`MAX_PARAMS_LEN`] transport parameters).
pub const MAX_CHALLENGE_LEN: usize = HEADER_LEN
    + DH_LEN
    + DH_LEN
    + NOISE_TAG_LEN
    + payload::CHALLENGE_FIXED
    + MAX_PARAMS_LEN
    + NOISE_TAG_LEN;
/// Largest RESPONSE packet.
pub const MAX_RESPONSE_LEN: usize =
    HEADER_LEN + DH_LEN + NOISE_TAG_LEN + payload::RESPONSE_FIXED + MAX_PARAMS_LEN + NOISE_TAG_LEN;
/// Length of a COOKIE packet: header, 24-byte nonce, sealed 16-byte cookie.
pub const COOKIE_LEN: usize = HEADER_LEN + 24 + 16 + NOISE_TAG_LEN;

const _: () = assert!(INIT_LEN >= MAX_CHALLENGE_LEN);
const _: () = assert!(COOKIE_LEN < INIT_LEN);

/// Why the initiator refused a packet or could not proceed. A refused packet leaves the
/// initiator unchanged, so a forged or corrupted packet cannot break a handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The packet is too short, too long, or its structure is wrong.
    #[error("malformed handshake packet")]
    Malformed,
    /// The packet is not the type expected in this state.
    #[error("unexpected handshake packet")]
    Unexpected,
    /// The header's session id is not ours.
    #[error("session id mismatch")]
    SessionMismatch,
    /// A Noise AEAD check failed: wrong network (shared_seed), tampering, or a stale packet.
    #[error("handshake decryption failed")]
    Decrypt,
    /// The peer sent a low-order X25519 point.
    #[error("non-contributory Diffie-Hellman")]
    LowOrderPoint,
    /// The peer chose an AEAD we did not offer.
    #[error("peer chose an AEAD that was not offered")]
    BadAead,
    /// A COOKIE reply did not verify.
    #[error("cookie reply failed authentication")]
    BadCookie,
    /// The peer's node id is refused by the allow-list.
    #[error("peer {0} refused by the allow-list")]
    PeerRefused(NodeId),
    /// Transport parameters longer than [`MAX_PARAMS_LEN`].
    #[error("transport parameters too long: {0} bytes")]
    ParamsTooLong(usize),
    /// The handshake did not complete in time (reported by the engine, which owns timers).
    #[error("handshake timed out")]
    Timeout,
    /// The output buffer is too small.
    #[error("buffer too small: need {need}, have {have}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// Building packet keys failed.
    #[error("crypto provider: {0}")]
    Crypto(CryptoError),
    /// This side requires the hybrid handshake and the peer refused it (it runs classic
    /// only).
    #[error("the peer does not run the post-quantum hybrid handshake, and this side requires it")]
    HybridRefused,
    /// The peer requires the hybrid handshake and this side runs classic only.
    #[error("the peer requires the post-quantum hybrid handshake, and this side runs classic only")]
    PeerRequiresHybrid,
    /// The peer runs hybrid but was told this side's hybrid offer had been refused: a
    /// forged refusal (a downgrade attempt) or a peer that changed its mode.
    #[error("hybrid handshake downgrade detected; handshake refused")]
    Downgrade,
    /// The ML-KEM step failed (an invalid encapsulation key).
    #[error("ML-KEM: {0}")]
    Kem(crate::crypto::KemError),
    /// An internal invariant failed (a bug; never caused by input).
    #[error("internal error")]
    Internal,
}

/// A set of node ids allowed to complete a handshake with us: the peers an initiator
/// expects ([`crate::Node::connect_to`]) or a responder accepts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(BTreeSet<NodeId>);

impl AllowList {
    /// An allow-list of exactly these ids.
    pub fn new(ids: impl IntoIterator<Item = NodeId>) -> Self {
        Self(ids.into_iter().collect())
    }

    /// Whether `id` may connect.
    pub fn permits(&self, id: &NodeId) -> bool {
        self.0.contains(id)
    }

    /// Adds an id.
    pub fn insert(&mut self, id: NodeId) {
        self.0.insert(id);
    }

    /// The ids, in order.
    pub fn ids(&self) -> impl Iterator<Item = &NodeId> {
        self.0.iter()
    }

    /// How many ids the list holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no id is allowed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<NodeId> for AllowList {
    fn from(id: NodeId) -> Self {
        Self::new([id])
    }
}

impl FromIterator<NodeId> for AllowList {
    fn from_iter<T: IntoIterator<Item = NodeId>>(iter: T) -> Self {
        Self::new(iter)
    }
}

/// A completed handshake: everything the engine needs to run the session.
#[derive(Debug, Clone)]
pub struct Established {
    /// Packet protection with the session's traffic keys.
    pub record: PacketProtection,
    /// Which side of the handshake we were.
    pub side: Side,
    /// The peer's authenticated node id.
    pub peer: NodeId,
    /// The peer's static public key.
    pub peer_static: [u8; 32],
    /// Our receive session id (the peer puts it in headers it sends us).
    pub local_session: SessionId,
    /// The peer's receive session id (we put it in headers we send).
    pub peer_session: SessionId,
    /// The peer's opaque transport parameters.
    pub peer_params: Vec<u8>,
    /// The Noise handshake hash (channel binding; equal on both sides).
    pub handshake_hash: [u8; 32],
    /// The negotiated transport AEAD.
    pub aead: Aead,
    /// The peer's stateless-reset token for `peer_session`: a RESET carrying it is genuine.
    pub peer_reset_token: [u8; 16],
    /// Whether the hybrid (X25519 + ML-KEM-768) handshake ran (PROTOCOL.md §5.7.10).
    pub hybrid: bool,
    /// Initiator only: the RESPONSE packet to retransmit until the peer's first protected
    /// packet (CONFIRM) opens.
    pub response_packet: Option<Vec<u8>>,
}

impl Established {
    /// Whether `token` (from a RESET packet) is the peer's stateless-reset token, compared in
    /// constant time.
    pub fn is_peer_reset_token(&self, token: &[u8; 16]) -> bool {
        subtle::ConstantTimeEq::ct_eq(&self.peer_reset_token[..], &token[..]).into()
    }
}

#[cfg(test)]
mod strict_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;
