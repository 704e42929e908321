//! The initiator's side of the handshake: writes INIT, absorbs a COOKIE, checks CHALLENGE,
//! writes RESPONSE and hands over an [`Established`] session (PROTOCOL.md §5.7.4).
//!
//! Every `write_*` yields the same bytes on each call, so the engine's retransmissions are
//! byte-identical. A packet that fails any check leaves the initiator unchanged. Timers and
//! the give-up timeout are the engine's.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use zeroize::Zeroize;

use super::cookie::{self, COOKIE_LEN};
use super::noise::{SymmetricState, dh};
use super::payload;
use super::{
    AllowList, DH_LEN, Established, HandshakeError, INIT_LEN, MAC2_LEN, MAX_RESPONSE_LEN,
    NOISE_TAG_LEN,
};
use crate::crypto::{AeadSet, CryptoProvider, DhKey, PacketProtection, default_provider};
use crate::frame::{CookieBody, Flags, HEADER_LEN, Header, PacketType, SessionId, Side, StreamId};
use crate::identity::{Identity, NetworkKey, NodeId};
use crate::rng::Rng;

/// Draws a fresh ephemeral secret from `rng` (a secret stream) and prepares it with
/// `provider`'s X25519 backend. Each key must serve one handshake only.
pub fn generate_ephemeral(
    provider: &dyn CryptoProvider,
    rng: &mut Rng,
) -> Result<Arc<dyn DhKey>, HandshakeError> {
    let mut e = rng.array32();
    let key = provider.x25519_key(&e);
    e.zeroize();
    key.map_err(|_| HandshakeError::Internal)
}

/// Builds the header of an unprotected handshake packet.
pub(crate) fn handshake_header(packet_type: PacketType, session: SessionId) -> [u8; HEADER_LEN] {
    Header {
        packet_type,
        session_id: session,
        stream_id: StreamId::CONTROL,
        sequence: 0,
        flags: Flags::new(false),
    }
    .to_bytes()
}

/// Whether a handshake packet's header has the fixed fields PROTOCOL.md §5.7.3 requires:
/// `stream_id = 0`, `sequence = 0`, key phase 0. The clear header is not authenticated, so
/// any other value is refused rather than ignored: a copy with one of them changed must
/// never count as a different packet.
pub(crate) fn is_strict_handshake_header(header: &Header) -> bool {
    header.stream_id == StreamId::CONTROL && header.sequence == 0 && !header.flags.key_phase()
}

/// Checks a handshake packet's header: type, the fixed fields, and the session id it must
/// carry.
pub(crate) fn check_header(
    packet: &[u8],
    want: PacketType,
    session: SessionId,
) -> Result<(), HandshakeError> {
    let header = Header::decode(packet).map_err(|_| HandshakeError::Malformed)?;
    if header.packet_type != want {
        return Err(HandshakeError::Unexpected);
    }
    if !is_strict_handshake_header(&header) {
        return Err(HandshakeError::Malformed);
    }
    if header.session_id != session {
        return Err(HandshakeError::SessionMismatch);
    }
    Ok(())
}

#[derive(Clone)]
struct Completed {
    response: Vec<u8>,
    established: Box<Established>,
}

/// One outgoing handshake.
#[derive(Clone)]
pub struct Initiator {
    identity: Identity,
    network: NetworkKey,
    local_session: SessionId,
    offered: AeadSet,
    params: Vec<u8>,
    provider: &'static dyn CryptoProvider,
    allow: Option<AllowList>,
    ephemeral: Arc<dyn DhKey>,
    /// Noise state after message 1.
    state: SymmetricState,
    /// The INIT packet, `mac2` included.
    init: [u8; INIT_LEN],
    cookie: Option<[u8; COOKIE_LEN]>,
    completed: Option<Completed>,
}

impl core::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Initiator")
            .field("local_session", &self.local_session)
            .field("offered", &self.offered)
            .field("has_cookie", &self.cookie.is_some())
            .field("completed", &self.completed.is_some())
            .finish_non_exhaustive()
    }
}

impl Initiator {
    /// Starts a handshake: draws the ephemeral key from `rng` (use a secret stream) and
    /// builds INIT. `local_session` is the id we receive on; `offered` the transport AEADs
    /// we accept (ChaCha20-Poly1305 is always added); `params` (≤ 128 bytes) are sent to the
    /// responder in RESPONSE.
    pub fn new(
        identity: &Identity,
        network: &NetworkKey,
        local_session: SessionId,
        offered: AeadSet,
        params: &[u8],
        rng: &mut Rng,
    ) -> Result<Self, HandshakeError> {
        let ephemeral = generate_ephemeral(default_provider(), rng)?;
        Self::with_ephemeral(identity, network, local_session, offered, params, ephemeral)
    }

    /// Like [`Initiator::new`] with an ephemeral key prepared earlier (off the critical
    /// path, see [`generate_ephemeral`]). The key must be fresh and is used for this
    /// handshake only.
    pub fn with_ephemeral(
        identity: &Identity,
        network: &NetworkKey,
        local_session: SessionId,
        offered: AeadSet,
        params: &[u8],
        ephemeral: Arc<dyn DhKey>,
    ) -> Result<Self, HandshakeError> {
        payload::check_params(params)?;
        let e_pub = ephemeral.public_key();
        let offered = offered.with(crate::crypto::Aead::ChaCha20Poly1305);

        // Message 1: psk, e, payload.
        let mut state = SymmetricState::initialize();
        state.mix_key_and_hash(network.psk());
        state.mix_hash(&e_pub);
        state.mix_key(&e_pub);
        let mut init = [0u8; INIT_LEN];
        init[..HEADER_LEN].copy_from_slice(&handshake_header(PacketType::Init, local_session));
        init[HEADER_LEN..HEADER_LEN + DH_LEN].copy_from_slice(&e_pub);
        let plain = payload::encode_init(local_session, offered);
        state.encrypt_and_hash(&plain, &mut init[HEADER_LEN + DH_LEN..INIT_LEN - MAC2_LEN])?;
        Ok(Self {
            identity: identity.clone(),
            network: network.clone(),
            local_session,
            offered,
            params: params.to_vec(),
            provider: default_provider(),
            allow: None,
            ephemeral,
            state,
            init,
            cookie: None,
            completed: None,
        })
    }

    /// Uses `provider` for the session's transport keys (default: [`default_provider`]).
    pub fn with_provider(mut self, provider: &'static dyn CryptoProvider) -> Self {
        self.provider = provider;
        self
    }

    /// Refuses any responder whose node id is not in `allow`: [`Initiator::handle_challenge`]
    /// then fails with [`HandshakeError::PeerRefused`] before RESPONSE exists, so this side
    /// never authenticates itself to a peer it did not expect.
    pub fn with_allow_list(mut self, allow: AllowList) -> Self {
        self.allow = Some(allow);
        self
    }

    /// The responders this handshake accepts, if it was pinned.
    pub fn allow_list(&self) -> Option<&AllowList> {
        self.allow.as_ref()
    }

    /// Our receive session id.
    pub fn local_session(&self) -> SessionId {
        self.local_session
    }

    /// Whether a CHALLENGE has been accepted (RESPONSE is ready).
    pub fn is_complete(&self) -> bool {
        self.completed.is_some()
    }

    /// Writes the INIT packet into `out`: the same bytes every time, except that `mac2` is
    /// filled once a cookie has arrived.
    pub fn write_init(&self, out: &mut [u8]) -> Result<usize, HandshakeError> {
        let have = out.len();
        let dst = out
            .get_mut(..INIT_LEN)
            .ok_or(HandshakeError::BufferTooSmall {
                need: INIT_LEN,
                have,
            })?;
        dst.copy_from_slice(&self.init);
        Ok(INIT_LEN)
    }

    /// Absorbs a COOKIE reply: later INITs carry `mac2` for the cookie. A reply that does
    /// not open under the network's cookie key with our INIT's tag is refused.
    pub fn handle_cookie(&mut self, packet: &[u8]) -> Result<(), HandshakeError> {
        if self.completed.is_some() {
            return Err(HandshakeError::Unexpected);
        }
        check_header(packet, PacketType::Cookie, self.local_session)?;
        let body =
            CookieBody::decode(&packet[HEADER_LEN..]).map_err(|_| HandshakeError::Malformed)?;
        let tag = &self.init[INIT_LEN - MAC2_LEN - NOISE_TAG_LEN..INIT_LEN - MAC2_LEN];
        let cookie = cookie::open_reply(
            self.network.cookie_key(),
            body.nonce,
            tag,
            &body.sealed_cookie,
        )?;
        let mac2 = cookie::mac2(&cookie, &self.init[..INIT_LEN - MAC2_LEN]);
        self.init[INIT_LEN - MAC2_LEN..].copy_from_slice(&mac2);
        self.cookie = Some(cookie);
        Ok(())
    }

    /// Processes CHALLENGE (Noise message 2) and prepares RESPONSE (message 3). Returns the
    /// responder's authenticated node id; the caller may still refuse it by dropping the
    /// initiator. Any failure leaves the initiator as it was.
    pub fn handle_challenge(&mut self, packet: &[u8]) -> Result<NodeId, HandshakeError> {
        if self.completed.is_some() {
            return Err(HandshakeError::Unexpected);
        }
        check_header(packet, PacketType::Challenge, self.local_session)?;
        let body = &packet[HEADER_LEN..];
        let min = DH_LEN + DH_LEN + NOISE_TAG_LEN + payload::CHALLENGE_FIXED + NOISE_TAG_LEN;
        let max = min + payload::MAX_PARAMS_LEN;
        if body.len() < min || body.len() > max {
            return Err(HandshakeError::Malformed);
        }
        let mut st = self.state.clone();
        let mut re = [0u8; 32];
        re.copy_from_slice(&body[..DH_LEN]);
        st.mix_hash(&re);
        st.mix_key(&re);
        let mut ee = dh(&*self.ephemeral, &re)?;
        st.mix_key(&ee);
        ee.zeroize();
        let mut rs = [0u8; 32];
        st.decrypt_and_hash(&body[DH_LEN..2 * DH_LEN + NOISE_TAG_LEN], &mut rs)?;
        let mut es = dh(&*self.ephemeral, &rs)?;
        st.mix_key(&es);
        es.zeroize();
        let sealed = &body[2 * DH_LEN + NOISE_TAG_LEN..];
        let mut plain = [0u8; payload::CHALLENGE_FIXED + payload::MAX_PARAMS_LEN];
        let n = st.decrypt_and_hash(sealed, &mut plain)?;
        let ch = payload::decode_challenge(&plain[..n])?;
        if !self.offered.contains(ch.aead) {
            return Err(HandshakeError::BadAead);
        }
        let peer = NodeId::from_public_key(&rs);
        if let Some(allow) = &self.allow
            && !allow.permits(&peer)
        {
            return Err(HandshakeError::PeerRefused(peer));
        }

        // Message 3: s, se, payload.
        let mut response = alloc::vec![0u8; MAX_RESPONSE_LEN];
        response[..HEADER_LEN].copy_from_slice(&handshake_header(PacketType::Response, ch.session));
        let mut pos = HEADER_LEN;
        pos += st.encrypt_and_hash(&self.identity.public_key(), &mut response[pos..])?;
        let mut se = dh(self.identity.static_key(), &re)?;
        st.mix_key(&se);
        se.zeroize();
        let token = self.identity.reset_token(self.local_session);
        let plain = payload::encode_response(&token, &self.params)?;
        pos += st.encrypt_and_hash(&plain, &mut response[pos..])?;
        response.truncate(pos);

        let (mut i2r, mut r2i) = st.split();
        let record = PacketProtection::from_secrets(self.provider, ch.aead, &i2r, &r2i, false);
        i2r.zeroize();
        r2i.zeroize();
        let record = record.map_err(HandshakeError::Crypto)?;
        let established = Established {
            record,
            side: Side::Initiator,
            peer,
            peer_static: rs,
            local_session: self.local_session,
            peer_session: ch.session,
            peer_params: ch.params,
            handshake_hash: st.handshake_hash(),
            aead: ch.aead,
            peer_reset_token: ch.reset_token,
            response_packet: Some(response.clone()),
        };
        self.completed = Some(Completed {
            response,
            established: Box::new(established),
        });
        Ok(peer)
    }

    /// Writes the RESPONSE packet (the same bytes every time) after a CHALLENGE was accepted.
    pub fn write_response(&self, out: &mut [u8]) -> Result<usize, HandshakeError> {
        let c = self.completed.as_ref().ok_or(HandshakeError::Unexpected)?;
        let have = out.len();
        let dst = out
            .get_mut(..c.response.len())
            .ok_or(HandshakeError::BufferTooSmall {
                need: c.response.len(),
                have,
            })?;
        dst.copy_from_slice(&c.response);
        Ok(c.response.len())
    }

    /// Hands over the session once CHALLENGE was accepted. The ephemeral key and Noise
    /// state are dropped (and zeroized) with the initiator.
    pub fn finish(self) -> Result<Established, HandshakeError> {
        match self.completed {
            Some(c) => Ok(*c.established),
            None => Err(HandshakeError::Unexpected),
        }
    }
}
