//! The responder's side of the handshake, one per node (PROTOCOL.md §5.7.4, §5.5): the
//! INIT pipeline, the bounded half-open table and the under-load cookie round.
//!
//! INIT pipeline, cheapest first: size and header → the INIT-rate count → under load,
//! `mac2` or a stateless COOKIE → the source's token bucket → dedupe by the initiator's
//! ephemeral (cached CHALLENGE, no DH) → the replay filter (ephemerals already used, no DH)
//! → message 1's AEAD (the PSK membership check, no DH) → only then `e_R`, two DH and a
//! bounded table insert. The admission limits live in [`super::admission`]. Nothing here
//! counts bytes per address or runs timers: the engine does.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::time::Duration;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::admission::Admission;
use super::cookie::{self, CookieSecrets};
use super::hybrid::{self, PqMode, Reassembled, Reassembly, RefuseCode};
use super::initiator::{
    check_header, generate_ephemeral, handshake_header, is_strict_handshake_header,
};
use super::noise::{SymmetricState, dh};
use super::payload;
use super::rotation;
use super::{
    AllowList, COOKIE_LEN, DH_LEN, Established, HandshakeError, INIT_LEN, MAC2_LEN,
    MAX_CHALLENGE_LEN, NOISE_TAG_LEN,
};
use crate::Instant;
use crate::config::AdmissionConfig;
use crate::crypto::{
    Aead, AeadSet, CryptoProvider, DhKey, MLKEM768_CT_LEN, MLKEM768_EK_LEN, PacketProtection,
    default_provider,
};
use crate::frame::{CookieBody, HEADER_LEN, Header, PacketType, SessionId, Side};
use crate::identity::{Identity, NetworkKey, NodeId};
use crate::rng::Rng;

#[path = "responder_hybrid.rs"]
mod hybrid_init;

/// How long "under load" lasts once detected (like wireguard-go's `UnderLoadAfterTime`).
pub const UNDER_LOAD_STICKY: Duration = Duration::from_secs(1);

/// Responder limits.
#[derive(Debug, Clone)]
pub struct ResponderConfig {
    /// Most half-open handshakes kept at once; more INITs are dropped (`TableFull`).
    pub max_half_open: usize,
    /// From this many half-open handshakes on, INITs must carry a valid `mac2`.
    pub under_load_threshold: usize,
    /// How long a half-open handshake waits for RESPONSE.
    pub half_open_lifetime: Duration,
    /// Transport AEADs this node accepts (see [`AeadSet::preferred`]).
    pub aeads: AeadSet,
    /// Provider of the sessions' transport keys.
    pub provider: &'static dyn CryptoProvider,
    /// If set, only these node ids may complete a handshake.
    pub allow_list: Option<AllowList>,
    /// The INIT-rate trigger, per-source limit and replay filter.
    pub admission: AdmissionConfig,
    /// Which handshakes this node accepts (PROTOCOL.md §5.7.10).
    pub pq: PqMode,
    /// Slots of the hybrid INIT reassembly table (each holds one 1476-byte INIT).
    pub hybrid_reassembly: usize,
}

impl Default for ResponderConfig {
    fn default() -> Self {
        let provider = default_provider();
        Self {
            max_half_open: 1024,
            under_load_threshold: 256,
            half_open_lifetime: Duration::from_secs(10),
            aeads: AeadSet::preferred(provider),
            provider,
            allow_list: None,
            admission: AdmissionConfig::default(),
            pq: PqMode::Off,
            hybrid_reassembly: 64,
        }
    }
}

/// Why an INIT or RESPONSE was dropped (the engine counts these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Wrong size, bad header, or a malformed payload.
    Malformed,
    /// Message 1's AEAD failed: the sender does not hold the network's shared_seed.
    PskFail,
    /// Under load and `mac2` missing or invalid (a COOKIE is sent instead, see
    /// [`InitOutcome::Cookie`]); also a mac2 made for another path.
    BadMac2,
    /// The source's token bucket is empty (PROTOCOL.md §5.7.8).
    RateLimited,
    /// The INIT's ephemeral key was already used by a handshake here: a recorded INIT
    /// replayed after its half-open handshake ended (no DH is spent on it).
    Replayed,
    /// The half-open table is full.
    TableFull,
    /// Our proposed session id collides with a half-open handshake: redraw it.
    SessionCollision,
    /// Same initiator ephemeral as a half-open handshake but different bytes.
    DuplicateEphemeral,
    /// The INIT does not offer ChaCha20-Poly1305 or its session id disagrees with the header.
    BadOffer,
    /// A low-order X25519 point.
    LowOrderPoint,
    /// RESPONSE for no half-open handshake (unknown, expired, or already completed).
    UnknownSession,
    /// RESPONSE failed authentication.
    AuthFail,
    /// The initiator's node id is refused by the allow-list.
    PeerRefused(NodeId),
    /// Building keys failed.
    Crypto,
    /// A hybrid INIT fragment at a node that runs classic only (its first fragment was
    /// answered with REFUSE).
    HybridOff,
}

/// What to do after an INIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitOutcome {
    /// Send the CHALLENGE of `len` bytes written to `out`. `resent` is true when it is the
    /// cached CHALLENGE of a retransmitted INIT (no new DH, no new state).
    Challenge {
        /// Bytes written.
        len: usize,
        /// A cached CHALLENGE was resent.
        resent: bool,
        /// The half-open handshake it answers (this side's session id).
        session: SessionId,
    },
    /// Under load: send the stateless COOKIE of `len` bytes written to `out`.
    Cookie {
        /// Bytes written.
        len: usize,
    },
    /// Send the two CHALLENGE fragments of a hybrid handshake, `out[..len0]` then
    /// `out[len0..len0 + len1]`.
    HybridChallenge {
        /// First fragment's length.
        len0: usize,
        /// Second fragment's length.
        len1: usize,
        /// A cached CHALLENGE was resent.
        resent: bool,
        /// The half-open handshake it answers.
        session: SessionId,
    },
    /// Send the REFUSE of `len` bytes written to `out` (PROTOCOL.md §5.7.10).
    Refuse {
        /// Bytes written.
        len: usize,
        /// Why.
        code: RefuseCode,
    },
    /// A hybrid INIT fragment was buffered; nothing to send yet.
    Pending,
    /// Send nothing.
    Drop(DropReason),
}

/// Counters, for the engine's stats and for tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponderStats {
    /// INIT packets seen.
    pub inits: u64,
    /// X25519 operations performed (key generation excluded).
    pub dh_ops: u64,
    /// INITs refused by the PSK check.
    pub psk_fail: u64,
    /// COOKIE replies sent.
    pub cookies_sent: u64,
    /// INITs with an invalid mac2 while under load (a COOKIE was sent): the sum of
    /// `cookie_required` and `bad_cookie`.
    pub bad_mac2: u64,
    /// Under load, INITs without a `mac2` (all zero): a COOKIE was sent.
    pub cookie_required: u64,
    /// Under load, INITs whose `mac2` did not verify for their address: a COOKIE was sent.
    pub bad_cookie: u64,
    /// INITs refused by their source's token bucket.
    pub rate_limited: u64,
    /// INITs refused because their ephemeral was already used (replays).
    pub replayed: u64,
    /// Times the INIT rate put the responder under load.
    pub rate_trips: u64,
    /// CHALLENGEs sent for new handshakes.
    pub challenges: u64,
    /// Cached CHALLENGEs resent.
    pub challenges_resent: u64,
    /// Handshakes completed.
    pub established: u64,
    /// Half-open handshakes expired.
    pub expired: u64,
    /// Packets dropped for any reason.
    pub dropped: u64,
    /// Hybrid INIT fragments whose MAC verified.
    pub hybrid_fragments: u64,
    /// Hybrid INIT fragments refused before buffering (size, header or MAC).
    pub hybrid_fragments_dropped: u64,
    /// Live half-reassembled INITs evicted because the table was full.
    pub hybrid_reassembly_evicted: u64,
    /// REFUSE replies sent, by any code.
    pub refusals_sent: u64,
    /// Classic INITs refused because this side requires hybrid.
    pub refused_classic: u64,
    /// Classic INITs refused as a downgrade (they said hybrid had been refused).
    pub refused_downgrade: u64,
    /// Hybrid handshakes completed.
    pub established_hybrid: u64,
}

#[derive(Clone)]
struct HalfOpen {
    e_i: [u8; 32],
    init_digest: [u8; 32],
    ephemeral: Arc<dyn DhKey>,
    state: SymmetricState,
    challenge: Vec<u8>,
    peer_session: SessionId,
    aead: Aead,
    expires: Instant,
    /// Hybrid: `challenge` holds both fragments, the first `split` bytes long. 0: classic.
    split: usize,
}

/// Why an INIT whose message 1 opened gets no CHALLENGE ([`Responder::admit`]).
enum NotAdmitted {
    /// Dropped, for this reason.
    Drop(DropReason),
    /// Answered with a REFUSE of this code (classic INITs only, §5.7.10).
    Refuse(RefuseCode),
}

/// The node's handshake responder.
#[derive(Clone)]
pub struct Responder {
    config: ResponderConfig,
    half_open: BTreeMap<SessionId, HalfOpen>,
    by_ephemeral: BTreeMap<[u8; 32], SessionId>,
    cookies: CookieSecrets,
    admission: Admission,
    under_load_until: Option<Instant>,
    stats: ResponderStats,
    /// An ephemeral key prepared while idle ([`Responder::prepare_ephemeral`]), used by
    /// the next CHALLENGE and then dropped.
    spare_ephemeral: Option<Arc<dyn DhKey>>,
    reassembly: Reassembly,
}

impl core::fmt::Debug for Responder {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Responder")
            .field("half_open", &self.half_open.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Responder {
    /// A responder with no half-open handshakes.
    pub fn new(config: ResponderConfig) -> Self {
        Self {
            admission: Admission::new(config.admission),
            reassembly: Reassembly::new(config.hybrid_reassembly),
            config,
            half_open: BTreeMap::new(),
            by_ephemeral: BTreeMap::new(),
            cookies: CookieSecrets::new(),
            under_load_until: None,
            stats: ResponderStats::default(),
            spare_ephemeral: None,
        }
    }

    /// Idle-time work: unless one is ready, draws the next CHALLENGE's ephemeral key from
    /// `rng` now, so that key generation is off the path of the next INIT. Returns whether
    /// it generated a key. Without it each CHALLENGE draws its key from `handle_init`'s rng.
    pub fn prepare_ephemeral(&mut self, rng: &mut Rng) -> Result<bool, HandshakeError> {
        if self.spare_ephemeral.is_some() {
            return Ok(false);
        }
        self.spare_ephemeral = Some(generate_ephemeral(self.config.provider, rng)?);
        Ok(true)
    }

    /// Whether an ephemeral key prepared by [`Responder::prepare_ephemeral`] is waiting.
    pub fn has_spare_ephemeral(&self) -> bool {
        self.spare_ephemeral.is_some()
    }

    /// The configuration.
    pub fn config(&self) -> &ResponderConfig {
        &self.config
    }

    /// Counters so far.
    pub fn stats(&self) -> ResponderStats {
        let a = self.admission.stats();
        ResponderStats {
            rate_limited: a.rate_limited,
            replayed: a.replayed,
            rate_trips: a.rate_trips,
            hybrid_reassembly_evicted: self.reassembly.evicted,
            ..self.stats
        }
    }

    /// Sets the secret keying the admission hashes (source buckets, replay filter); the
    /// node draws it from its seed. Without it the hashes use an all-zero key.
    pub fn set_admission_key(&mut self, key: [u8; 32]) {
        self.admission.set_key(key);
    }

    /// Bytes held by the admission tables, and the most they can hold.
    pub fn admission_memory(&self) -> (usize, usize) {
        (self.admission.memory(), self.admission.memory_bound())
    }

    /// Live half-reassembled hybrid INITs, and the bytes the table holds at most.
    pub fn reassembly_usage(&self, now: Instant) -> (usize, usize) {
        (self.reassembly.len(now), self.reassembly.memory_bound())
    }

    /// Half-open handshakes held.
    pub fn half_open_len(&self) -> usize {
        self.half_open.len()
    }

    /// Whether `session` is the id of a half-open handshake (the engine must not reuse it).
    pub fn contains_session(&self, session: SessionId) -> bool {
        self.half_open.contains_key(&session)
    }

    /// Forces "under load" until `until` (the engine's INIT-rate detector uses this).
    pub fn set_under_load_until(&mut self, until: Instant) {
        self.under_load_until = Some(until);
    }

    /// Whether INITs must carry a valid `mac2` now.
    pub fn is_under_load(&self, now: Instant) -> bool {
        self.half_open.len() >= self.config.under_load_threshold
            || self.under_load_until.is_some_and(|u| now < u)
    }

    /// The earliest half-open expiry.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.half_open.values().map(|h| h.expires).min()
    }

    /// Drops half-open handshakes whose lifetime ended by `now`.
    pub fn expire(&mut self, now: Instant) {
        let before = self.half_open.len();
        let by_e = &mut self.by_ephemeral;
        self.half_open.retain(|_, h| {
            let keep = h.expires > now;
            if !keep {
                by_e.remove(&h.e_i);
            }
            keep
        });
        self.stats.expired += (before - self.half_open.len()) as u64;
    }

    pub(super) fn drop_with(&mut self, reason: DropReason) -> InitOutcome {
        self.stats.dropped += 1;
        if reason == DropReason::PskFail {
            self.stats.psk_fail += 1;
        }
        InitOutcome::Drop(reason)
    }

    /// Handles an INIT that arrived from `path` (opaque bytes naming the sender's address —
    /// [`super::admission::RemoteAddr`] — which a cookie and the per-source limit bind). On success writes a CHALLENGE (or, under load, a COOKIE) into `out`,
    /// which must hold [`MAX_CHALLENGE_LEN`] bytes. `local_session` is the id we will receive
    /// on if this INIT proceeds; `rng` should be the node's secret stream.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_init(
        &mut self,
        now: Instant,
        identity: &Identity,
        network: &NetworkKey,
        path: &[u8],
        packet: &[u8],
        local_session: SessionId,
        params: &[u8],
        rng: &mut Rng,
        out: &mut [u8],
    ) -> InitOutcome {
        self.stats.inits += 1;
        // 1. Size and header.
        if packet.len() != INIT_LEN || out.len() < MAX_CHALLENGE_LEN {
            return self.drop_with(DropReason::Malformed);
        }
        let Ok(header) = Header::decode(packet) else {
            return self.drop_with(DropReason::Malformed);
        };
        if header.packet_type != PacketType::Init || !is_strict_handshake_header(&header) {
            return self.drop_with(DropReason::Malformed);
        }
        self.expire(now);

        // 2. Under load: only an INIT with a valid mac2 for this address goes on.
        if self.is_under_load(now) {
            self.extend_under_load(now);
            self.cookies.rotate(now, rng);
            let (signed, mac2) = packet.split_at(INIT_LEN - MAC2_LEN);
            if !self.cookies.verify(path, signed, mac2) {
                self.stats.bad_mac2 += 1;
                if mac2.iter().all(|&b| b == 0) {
                    self.stats.cookie_required += 1;
                } else {
                    self.stats.bad_cookie += 1;
                }
                return self.write_cookie(network, path, packet, header.session_id, rng, out);
            }
        }

        // 3. Under load, the source's token bucket (as WireGuard limits handshakes only
        // under load): a client reconnecting often is never throttled in normal times.
        // Only INITs past the cookie gate are charged, so spoofed INITs cannot drain a
        // genuine address's bucket.
        if self.is_under_load(now) && !self.admission.take_token(now, path) {
            return self.drop_with(DropReason::RateLimited);
        }

        // 4. Retransmitted INIT: resend the cached CHALLENGE, no DH.
        let mut e_i = [0u8; 32];
        e_i.copy_from_slice(&packet[HEADER_LEN..HEADER_LEN + DH_LEN]);
        // Only the Noise bytes (e_I and the sealed payload) are digested: the clear header
        // is not authenticated, so a copy differing there must not pass for another INIT.
        // The header's session id must be the one this half-open handshake answers.
        let digest = crate::hash::sha256(&[&packet[HEADER_LEN..INIT_LEN - MAC2_LEN]]);
        if let Some(sid) = self.by_ephemeral.get(&e_i) {
            if let Some(h) = self.half_open.get(sid)
                && bool::from(h.init_digest.ct_eq(&digest))
                && h.peer_session == header.session_id
                && h.split == 0
            {
                let len = h.challenge.len();
                out[..len].copy_from_slice(&h.challenge);
                self.stats.challenges_resent += 1;
                return InitOutcome::Challenge {
                    len,
                    resent: true,
                    session: *sid,
                };
            }
            return self.drop_with(DropReason::DuplicateEphemeral);
        }

        // 5. An ephemeral an earlier handshake here used: a replay, refused without DH.
        if self.admission.is_replay(now, &e_i) {
            return self.drop_with(DropReason::Replayed);
        }

        // 6. Message 1: the PSK membership check. One HKDF chain and one AEAD per
        // accepted seed (two during a rotation), no DH.
        let mut plain = [0u8; super::INIT_PAYLOAD_LEN];
        let sealed = &packet[HEADER_LEN + DH_LEN..INIT_LEN - MAC2_LEN];
        let Some((st, keys)) = rotation::open_init(network, &e_i, sealed, &mut plain) else {
            return self.drop_with(DropReason::PskFail);
        };
        // 6b–8. The payload, the mode, room and the INIT rate (shared with hybrid INITs).
        let (peer_session, offer) =
            match self.admit(now, header.session_id, &plain, local_session, false) {
                Ok(admitted) => admitted,
                Err(NotAdmitted::Drop(reason)) => return self.drop_with(reason),
                Err(NotAdmitted::Refuse(code)) => {
                    let key = keys.hybrid_key;
                    return self.refuse(&key, header.session_id, code, &e_i, out);
                }
            };

        // 9. Only now: e_R, ee, es, and the CHALLENGE. The ephemeral is remembered whether
        // or not the DH succeeds: a replay of this INIT must not cost DH again.
        let written = self.write_challenge(
            identity,
            st,
            &e_i,
            peer_session,
            local_session,
            offer,
            params,
            rng,
            out,
        );
        match self.commit(now, e_i, digest, local_session, written) {
            Ok((_, len)) => InitOutcome::Challenge {
                len,
                resent: false,
                session: local_session,
            },
            Err(dropped) => dropped,
        }
    }

    /// §5.7.4 steps 6–8 after a pipeline opened message 1 (classic and hybrid INITs alike):
    /// the payload names the header's session and offers ChaCha20-Poly1305; a classic INIT
    /// (`hybrid` false) must suit this node's mode (6b, §5.7.10); then room for one more
    /// half-open handshake (7) and the INIT-rate count (8). Returns the initiator's session
    /// id and AEAD offer.
    fn admit(
        &mut self,
        now: Instant,
        header_session: SessionId,
        plain: &[u8; super::INIT_PAYLOAD_LEN],
        local_session: SessionId,
        hybrid: bool,
    ) -> Result<(SessionId, AeadSet), NotAdmitted> {
        let (peer_session, offer, flags) =
            payload::decode_init(plain).map_err(|_| NotAdmitted::Drop(DropReason::Malformed))?;
        if peer_session != header_session || !offer.contains(Aead::ChaCha20Poly1305) {
            return Err(NotAdmitted::Drop(DropReason::BadOffer));
        }
        // 6b. The mode (§5.7.10): a member's classic INIT is refused where hybrid is
        // required, and where hybrid is offered if it says our hybrid was refused (we never
        // refuse it: someone forged that refusal). A hybrid INIT's flags mean nothing.
        if !hybrid {
            let refused_hybrid = flags & payload::INIT_FLAG_HYBRID_REFUSED != 0;
            match (self.config.pq, refused_hybrid) {
                (PqMode::Require, _) => {
                    return Err(NotAdmitted::Refuse(RefuseCode::HybridRequired));
                }
                (PqMode::Prefer, true) => return Err(NotAdmitted::Refuse(RefuseCode::Downgrade)),
                _ => {}
            }
        }
        // 7. Room for one more half-open handshake?
        if self.half_open.len() >= self.config.max_half_open {
            return Err(NotAdmitted::Drop(DropReason::TableFull));
        }
        if self.half_open.contains_key(&local_session) {
            return Err(NotAdmitted::Drop(DropReason::SessionCollision));
        }
        // 8. The INIT rate counts only INITs that cost Diffie-Hellman: garbage, replays and
        // retransmissions were refused above for about what a COOKIE would cost, so they
        // never make every client pay a cookie round trip. Past the threshold the
        // responder is under load; this INIT still goes on.
        if self.admission.count_init(now) {
            self.extend_under_load(now);
        }
        Ok((peer_session, offer))
    }

    /// After step 9 (both pipelines): the INIT's ephemeral is remembered whether or not the
    /// CHALLENGE was written (a replay must not cost DH or KEM again); a written CHALLENGE
    /// becomes a half-open handshake. Returns its (split, length), or the drop outcome.
    fn commit(
        &mut self,
        now: Instant,
        e_i: [u8; DH_LEN],
        digest: [u8; 32],
        local_session: SessionId,
        written: Result<HalfOpen, HandshakeError>,
    ) -> Result<(usize, usize), InitOutcome> {
        self.admission.remember(now, &e_i);
        match written {
            Ok(mut entry) => {
                entry.init_digest = digest;
                entry.expires = now + self.config.half_open_lifetime;
                let lens = (entry.split, entry.challenge.len());
                self.by_ephemeral.insert(e_i, local_session);
                self.half_open.insert(local_session, entry);
                self.stats.challenges += 1;
                Ok(lens)
            }
            Err(HandshakeError::LowOrderPoint) => Err(self.drop_with(DropReason::LowOrderPoint)),
            Err(HandshakeError::Kem(_)) => Err(self.drop_with(DropReason::Malformed)),
            Err(_) => Err(self.drop_with(DropReason::Crypto)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_challenge(
        &mut self,
        identity: &Identity,
        mut st: SymmetricState,
        e_i: &[u8; 32],
        peer_session: SessionId,
        local_session: SessionId,
        offer: AeadSet,
        params: &[u8],
        rng: &mut Rng,
        out: &mut [u8],
    ) -> Result<HalfOpen, HandshakeError> {
        let aead = AeadSet::choose(offer, self.config.aeads);
        let token = identity.reset_token(local_session);
        let plain = payload::encode_challenge(local_session, aead, &token, params)?;
        // A spare key is taken (never reused), whatever happens to this INIT next.
        let ephemeral = match self.spare_ephemeral.take() {
            Some(k) => k,
            None => generate_ephemeral(self.config.provider, rng)?,
        };
        let e_pub = ephemeral.public_key();

        // Message 2: e, ee, s, es, payload.
        out[..HEADER_LEN].copy_from_slice(&handshake_header(PacketType::Challenge, peer_session));
        let mut pos = HEADER_LEN;
        out[pos..pos + DH_LEN].copy_from_slice(&e_pub);
        pos += DH_LEN;
        st.mix_hash(&e_pub);
        st.mix_key(&e_pub);
        self.stats.dh_ops += 1;
        let mut ee = dh(&*ephemeral, e_i)?;
        st.mix_key(&ee);
        ee.zeroize();
        pos += st.encrypt_and_hash(&identity.public_key(), &mut out[pos..])?;
        self.stats.dh_ops += 1;
        let mut es = dh(identity.static_key(), e_i)?;
        st.mix_key(&es);
        es.zeroize();
        pos += st.encrypt_and_hash(&plain, &mut out[pos..])?;
        Ok(HalfOpen {
            e_i: *e_i,
            init_digest: [0; 32],
            ephemeral,
            state: st,
            challenge: out[..pos].to_vec(),
            peer_session,
            aead,
            expires: Instant::ZERO,
            split: 0,
        })
    }

    fn extend_under_load(&mut self, now: Instant) {
        let until = now + UNDER_LOAD_STICKY;
        self.under_load_until = Some(self.under_load_until.map_or(until, |u| u.max(until)));
    }

    fn write_cookie(
        &mut self,
        network: &NetworkKey,
        path: &[u8],
        packet: &[u8],
        peer_session: SessionId,
        rng: &mut Rng,
        out: &mut [u8],
    ) -> InitOutcome {
        let tag = &packet[INIT_LEN - MAC2_LEN - NOISE_TAG_LEN..INIT_LEN - MAC2_LEN];
        let mut e_i = [0u8; DH_LEN];
        e_i.copy_from_slice(&packet[HEADER_LEN..HEADER_LEN + DH_LEN]);
        let sealed_init = &packet[HEADER_LEN + DH_LEN..INIT_LEN - MAC2_LEN];
        let key = *rotation::cookie_key_for(network, &e_i, sealed_init);
        self.write_cookie_with(&key, path, tag, peer_session, rng, out)
    }

    /// A COOKIE sealed under `key` and bound to the INIT's payload tag `tag` (§5.7.5).
    fn write_cookie_with(
        &mut self,
        key: &[u8; 32],
        path: &[u8],
        tag: &[u8],
        peer_session: SessionId,
        rng: &mut Rng,
        out: &mut [u8],
    ) -> InitOutcome {
        let mut nonce = [0u8; 24];
        rng.fill(&mut nonce);
        let cookie = self.cookies.cookie(path);
        let Ok(sealed) = cookie::seal_reply(key, nonce, tag, &cookie) else {
            return self.drop_with(DropReason::Crypto);
        };
        out[..HEADER_LEN].copy_from_slice(&handshake_header(PacketType::Cookie, peer_session));
        let body = CookieBody {
            nonce,
            sealed_cookie: sealed,
        };
        if body.encode(&mut out[HEADER_LEN..]).is_err() {
            return self.drop_with(DropReason::Crypto);
        }
        self.stats.cookies_sent += 1;
        InitOutcome::Cookie { len: COOKIE_LEN }
    }

    /// Handles a RESPONSE (Noise message 3). On success the half-open entry is consumed, so
    /// a replayed RESPONSE finds nothing and cannot create a second session. A RESPONSE that
    /// fails authentication leaves the half-open entry in place for the genuine one.
    pub fn handle_response(
        &mut self,
        now: Instant,
        packet: &[u8],
    ) -> Result<Established, DropReason> {
        let r = self.response_inner(now, packet);
        match &r {
            Ok(_) => self.stats.established += 1,
            Err(_) => self.stats.dropped += 1,
        }
        r
    }

    fn response_inner(&mut self, now: Instant, packet: &[u8]) -> Result<Established, DropReason> {
        let header = Header::decode(packet).map_err(|_| DropReason::Malformed)?;
        check_header(packet, PacketType::Response, header.session_id)
            .map_err(|_| DropReason::Malformed)?;
        let body = &packet[HEADER_LEN..];
        let min = DH_LEN + NOISE_TAG_LEN + payload::RESPONSE_FIXED + NOISE_TAG_LEN;
        if body.len() < min || body.len() > min + payload::MAX_PARAMS_LEN {
            return Err(DropReason::Malformed);
        }
        let local_session = header.session_id;
        let h = self
            .half_open
            .get(&local_session)
            .ok_or(DropReason::UnknownSession)?;
        if h.expires <= now {
            self.expire(now);
            return Err(DropReason::UnknownSession);
        }
        let mut st = h.state.clone();
        let mut rs = [0u8; 32];
        st.decrypt_and_hash(&body[..DH_LEN + NOISE_TAG_LEN], &mut rs)
            .map_err(|_| DropReason::AuthFail)?;
        self.stats.dh_ops += 1;
        let mut se = dh(&*h.ephemeral, &rs).map_err(|_| DropReason::LowOrderPoint)?;
        st.mix_key(&se);
        se.zeroize();
        let mut plain = [0u8; payload::RESPONSE_FIXED + payload::MAX_PARAMS_LEN];
        let n = st
            .decrypt_and_hash(&body[DH_LEN + NOISE_TAG_LEN..], &mut plain)
            .map_err(|_| DropReason::AuthFail)?;
        let (peer_reset_token, peer_params) =
            payload::decode_response(&plain[..n]).map_err(|_| DropReason::Malformed)?;

        // Authenticated: the entry is consumed whatever happens next.
        let Some(h) = self.half_open.remove(&local_session) else {
            return Err(DropReason::UnknownSession);
        };
        if h.split != 0 {
            self.stats.established_hybrid += 1;
        }
        self.by_ephemeral.remove(&h.e_i);
        let peer = NodeId::from_public_key(&rs);
        if let Some(allow) = &self.config.allow_list
            && !allow.permits(&peer)
        {
            return Err(DropReason::PeerRefused(peer));
        }
        let (mut i2r, mut r2i) = st.split();
        let record = PacketProtection::from_secrets(self.config.provider, h.aead, &r2i, &i2r, true);
        i2r.zeroize();
        r2i.zeroize();
        let record = record.map_err(|_| DropReason::Crypto)?;
        Ok(Established {
            record,
            side: Side::Responder,
            peer,
            peer_static: rs,
            local_session,
            peer_session: h.peer_session,
            peer_params,
            handshake_hash: st.handshake_hash(),
            aead: h.aead,
            peer_reset_token,
            hybrid: h.split != 0,
            response_packet: None,
        })
    }
}
