//! The initiator's side of the handshake: writes INIT, absorbs a COOKIE, checks CHALLENGE,
//! writes RESPONSE and hands over an [`Established`] session (PROTOCOL.md §5.7.4). In a
//! hybrid mode (§5.7.10) INIT and CHALLENGE travel as two fragments each, and a REFUSE
//! either ends the handshake with a typed error or, in `prefer`, turns it classic.
//!
//! Every `write_*` yields the same bytes on each call, so the engine's retransmissions are
//! byte-identical. A packet that fails any check leaves the initiator unchanged. Timers and
//! the give-up timeout are the engine's.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use zeroize::Zeroize;

use super::cookie::{self, COOKIE_LEN};
use super::hybrid::{self, PqMode, RefuseCode};
use super::noise::{HYBRID_PROTOCOL_NAME, SymmetricState, dh};
use super::payload;
use super::{
    AllowList, DH_LEN, Established, HandshakeError, INIT_LEN, MAC2_LEN, MAX_RESPONSE_LEN,
    NOISE_TAG_LEN,
};
use crate::crypto::{
    AeadSet, CryptoProvider, DhKey, KEM_SEED_LEN, KemDecapsKey, MLKEM768_CT_LEN, PacketProtection,
    default_provider,
};
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

/// Draws a fresh ML-KEM-768 key (seed `d ‖ z`, 64 bytes) from `rng` (a secret stream)
/// with `provider`'s KEM backend. Each key must serve one handshake only.
pub fn generate_kem_key(
    provider: &dyn CryptoProvider,
    rng: &mut Rng,
) -> Result<Arc<dyn KemDecapsKey>, HandshakeError> {
    let mut seed = [0u8; KEM_SEED_LEN];
    rng.fill(&mut seed);
    let key = provider.ml_kem().generate(&seed);
    seed.zeroize();
    key.map(Arc::from).map_err(HandshakeError::Kem)
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

/// What a REFUSE did to the handshake (PROTOCOL.md §5.7.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseOutcome {
    /// `prefer`: the peer runs classic only; the INIT is now classic, saying so inside.
    FellBack,
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
    mode: PqMode,
    /// The ML-KEM key while the INIT is hybrid.
    kem: Option<Arc<dyn KemDecapsKey>>,
    /// This INIT is classic after a member refused our hybrid one (payload flag set).
    fell_back: bool,
    /// Noise state after message 1.
    state: SymmetricState,
    /// The INIT packet, `mac2` included: 276 bytes, or the 1476-byte logical hybrid INIT
    /// that [`Initiator::write_init_part`] cuts into two fragments.
    init: Vec<u8>,
    /// Hybrid CHALLENGE fragments received so far (the logical packet being rebuilt).
    challenge_parts: Option<Box<ChallengeParts>>,
    cookie: Option<[u8; COOKIE_LEN]>,
    completed: Option<Completed>,
}

#[derive(Clone)]
struct ChallengeParts {
    buf: [u8; hybrid::MAX_HYBRID_CHALLENGE_LEN],
    /// Length of the second piece, once received.
    tail: Option<usize>,
    head: bool,
}

impl core::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Initiator")
            .field("local_session", &self.local_session)
            .field("offered", &self.offered)
            .field("mode", &self.mode)
            .field("hybrid", &self.kem.is_some())
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
        let offered = offered.with(crate::crypto::Aead::ChaCha20Poly1305);
        let mut me = Self {
            identity: identity.clone(),
            network: network.clone(),
            local_session,
            offered,
            params: params.to_vec(),
            provider: default_provider(),
            allow: None,
            ephemeral,
            mode: PqMode::Off,
            kem: None,
            fell_back: false,
            state: SymmetricState::initialize(),
            init: Vec::new(),
            challenge_parts: None,
            cookie: None,
            completed: None,
        };
        me.build_init()?;
        Ok(me)
    }

    /// Runs the handshake in `mode` (PROTOCOL.md §5.7.10). In `prefer` and `require` the
    /// INIT becomes hybrid and carries `kem`'s encapsulation key (a fresh key, see
    /// [`generate_kem_key`]); in `off` `kem` is dropped and the INIT stays classic.
    pub fn with_pq(
        mut self,
        mode: PqMode,
        kem: Option<Arc<dyn KemDecapsKey>>,
    ) -> Result<Self, HandshakeError> {
        self.mode = mode;
        self.kem = if mode.hybrid_capable() {
            Some(kem.ok_or(HandshakeError::Internal)?)
        } else {
            None
        };
        self.cookie = None;
        self.build_init()?;
        Ok(self)
    }

    /// Message 1 under the current mode: classic `psk, e` or hybrid `psk, e, e1`.
    fn build_init(&mut self) -> Result<(), HandshakeError> {
        let e_pub = self.ephemeral.public_key();
        let flags = if self.fell_back {
            payload::INIT_FLAG_HYBRID_REFUSED
        } else {
            0
        };
        let plain = payload::encode_init(self.local_session, self.offered, flags);
        let (mut state, packet_type, len) = match &self.kem {
            None => (SymmetricState::initialize(), PacketType::Init, INIT_LEN),
            Some(_) => (
                SymmetricState::initialize_named(HYBRID_PROTOCOL_NAME),
                PacketType::InitHybrid,
                hybrid::HYBRID_INIT_LEN,
            ),
        };
        state.mix_key_and_hash(self.network.psk());
        state.mix_hash(&e_pub);
        state.mix_key(&e_pub);
        let mut init = alloc::vec![0u8; len];
        init[..HEADER_LEN].copy_from_slice(&handshake_header(packet_type, self.local_session));
        let mut pos = HEADER_LEN;
        init[pos..pos + DH_LEN].copy_from_slice(&e_pub);
        pos += DH_LEN;
        if let Some(kem) = &self.kem {
            // e1: EncryptAndHash(ek).
            pos += state.encrypt_and_hash(kem.encapsulation_key(), &mut init[pos..])?;
        }
        state.encrypt_and_hash(&plain, &mut init[pos..len - MAC2_LEN])?;
        self.state = state;
        self.init = init;
        Ok(())
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

    /// Whether the INIT is currently hybrid.
    pub fn is_hybrid(&self) -> bool {
        self.kem.is_some()
    }

    /// How many datagrams one INIT transmission takes: 1 (classic) or 2 (hybrid).
    pub fn init_parts(&self) -> usize {
        if self.kem.is_some() { 2 } else { 1 }
    }

    /// Writes the INIT packet into `out`: the same bytes every time, except that `mac2` is
    /// filled once a cookie has arrived. A hybrid INIT's first fragment.
    pub fn write_init(&self, out: &mut [u8]) -> Result<usize, HandshakeError> {
        self.write_init_part(0, out)
    }

    /// Writes datagram `part` (< [`Initiator::init_parts`]) of the INIT into `out`.
    pub fn write_init_part(&self, part: usize, out: &mut [u8]) -> Result<usize, HandshakeError> {
        if self.kem.is_some() {
            return hybrid::write_fragment(self.network.hybrid_key(), &self.init, part, out);
        }
        if part != 0 {
            return Err(HandshakeError::Internal);
        }
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
        let len = self.init.len();
        let tag = &self.init[len - MAC2_LEN - NOISE_TAG_LEN..len - MAC2_LEN];
        let cookie = cookie::open_reply(
            self.network.cookie_key(),
            body.nonce,
            tag,
            &body.sealed_cookie,
        )?;
        let mac2 = cookie::mac2(&cookie, &self.init[..len - MAC2_LEN]);
        self.init[len - MAC2_LEN..].copy_from_slice(&mac2);
        self.cookie = Some(cookie);
        Ok(())
    }

    /// Absorbs a REFUSE (PROTOCOL.md §5.7.10), authenticated under the network's hybrid
    /// key and bound to our ephemeral. `prefer` falls back to a classic INIT that says so
    /// ([`RefuseOutcome::FellBack`]); every other case ends the handshake with a typed
    /// error. A REFUSE that does not verify, or does not fit what we sent, changes nothing
    /// ([`HandshakeError::Decrypt`], [`HandshakeError::Unexpected`]).
    pub fn handle_refuse(&mut self, packet: &[u8]) -> Result<RefuseOutcome, HandshakeError> {
        if self.completed.is_some() {
            return Err(HandshakeError::Unexpected);
        }
        let e_pub = self.ephemeral.public_key();
        let code = hybrid::open_refuse(
            self.network.hybrid_key(),
            self.local_session,
            &e_pub,
            packet,
        )?;
        match (code, self.kem.is_some(), self.mode) {
            (RefuseCode::HybridUnsupported, true, PqMode::Prefer) => {
                self.kem = None;
                self.fell_back = true;
                self.cookie = None;
                self.challenge_parts = None;
                self.build_init()?;
                Ok(RefuseOutcome::FellBack)
            }
            (RefuseCode::HybridUnsupported, true, _) => Err(HandshakeError::HybridRefused),
            (RefuseCode::HybridRequired, false, _) => Err(HandshakeError::PeerRequiresHybrid),
            (RefuseCode::Downgrade, false, _) if self.fell_back => Err(HandshakeError::Downgrade),
            _ => Err(HandshakeError::Unexpected),
        }
    }

    /// Absorbs one fragment of a hybrid CHALLENGE; once both are in, runs message 2 as
    /// [`Initiator::handle_challenge`] does and returns the responder's id. `Ok(None)`:
    /// waiting for the other fragment. A failure leaves the initiator as it was, except
    /// that the fragments received are forgotten (a retransmission brings them again).
    pub fn handle_challenge_fragment(
        &mut self,
        packet: &[u8],
    ) -> Result<Option<NodeId>, HandshakeError> {
        if self.completed.is_some() || self.kem.is_none() {
            return Err(HandshakeError::Unexpected);
        }
        let (frag, _) = hybrid::open_fragment(
            packet,
            PacketType::ChallengeHybrid,
            core::iter::once(self.network.hybrid_key()),
        )?;
        if frag.header.session_id != self.local_session {
            return Err(HandshakeError::SessionMismatch);
        }
        let parts = self.challenge_parts.get_or_insert_with(|| {
            Box::new(ChallengeParts {
                buf: [0; hybrid::MAX_HYBRID_CHALLENGE_LEN],
                tail: None,
                head: false,
            })
        });
        parts.buf[..HEADER_LEN].copy_from_slice(&frag.header.to_bytes());
        let at = HEADER_LEN + frag.index * hybrid::FRAG0_PIECE;
        let dst = parts
            .buf
            .get_mut(at..at + frag.piece.len())
            .ok_or(HandshakeError::Malformed)?;
        dst.copy_from_slice(frag.piece);
        if frag.index == 0 {
            parts.head = true;
        } else {
            parts.tail = Some(frag.piece.len());
        }
        let (true, Some(tail)) = (parts.head, parts.tail) else {
            return Ok(None);
        };
        let len = HEADER_LEN + hybrid::FRAG0_PIECE + tail;
        // Both pieces are in: message 2 runs on them, and they are forgotten whatever
        // its outcome (a failure waits for the next copy of the CHALLENGE).
        let parts = self
            .challenge_parts
            .take()
            .ok_or(HandshakeError::Internal)?;
        self.message2(&parts.buf[HEADER_LEN..len], true).map(Some)
    }

    /// Processes CHALLENGE (Noise message 2) and prepares RESPONSE (message 3). Returns the
    /// responder's authenticated node id; the caller may still refuse it by dropping the
    /// initiator. Any failure leaves the initiator as it was.
    pub fn handle_challenge(&mut self, packet: &[u8]) -> Result<NodeId, HandshakeError> {
        if self.completed.is_some() || self.kem.is_some() {
            return Err(HandshakeError::Unexpected);
        }
        check_header(packet, PacketType::Challenge, self.local_session)?;
        self.message2(&packet[HEADER_LEN..], false)
    }

    /// Message 2 on a copy of the state (classic `e, ee, s, es` or hybrid
    /// `e, ee, ekem1, s, es`), then message 3.
    fn message2(&mut self, body: &[u8], hybrid: bool) -> Result<NodeId, HandshakeError> {
        let kem_len = if hybrid {
            MLKEM768_CT_LEN + NOISE_TAG_LEN
        } else {
            0
        };
        let min =
            DH_LEN + kem_len + DH_LEN + NOISE_TAG_LEN + payload::CHALLENGE_FIXED + NOISE_TAG_LEN;
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
        let mut pos = DH_LEN;
        if let Some(kem) = self.kem.as_ref().filter(|_| hybrid) {
            // ekem1: DecryptAndHash(ct), MixKey(Decaps(dk, ct)).
            let mut ct = [0u8; MLKEM768_CT_LEN];
            st.decrypt_and_hash(&body[pos..pos + kem_len], &mut ct)?;
            pos += kem_len;
            let ss = kem.decapsulate(&ct).map_err(HandshakeError::Kem)?;
            st.mix_key(&ss[..]);
        }
        let mut rs = [0u8; 32];
        st.decrypt_and_hash(&body[pos..pos + DH_LEN + NOISE_TAG_LEN], &mut rs)?;
        pos += DH_LEN + NOISE_TAG_LEN;
        let mut es = dh(&*self.ephemeral, &rs)?;
        st.mix_key(&es);
        es.zeroize();
        let sealed = &body[pos..];
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
            hybrid,
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

    /// Hands over the session once CHALLENGE was accepted. The ephemeral keys (X25519 and
    /// ML-KEM) and Noise state are dropped (and zeroized) with the initiator.
    pub fn finish(self) -> Result<Established, HandshakeError> {
        match self.completed {
            Some(c) => Ok(*c.established),
            None => Err(HandshakeError::Unexpected),
        }
    }
}
