//! `Node`: owns every session of one local identity, routes datagrams to them by the
//! receiver-chosen session id (before any decryption), runs the responder side of
//! handshakes, keeps the single timer heap, and exposes the sans-IO contract
//! (`handle_*` in; `poll_transmit`/`poll_timeout`/`poll_event` out).
//!
//! It performs no IO and reads no clock; protocol rules for one session live in
//! `session`, cryptography in `handshake`/`crypto`.

use alloc::collections::{BTreeMap, BinaryHeap, VecDeque};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::cmp::Reverse;

use crate::config::{ConfigError, NodeConfig};
use crate::crypto::DhKey;
use crate::crypto::{AEAD_BLOCK, AeadSet};
use crate::endpoint::{EndpointMessage, Offer, Registry};
use crate::error::{
    ConnectError, DatagramError, MigrateError, OpenStreamError, ReadError, SessionError,
    StreamError, WriteError,
};
use crate::event::{EndpointEvent, Event, MetricRecord, StorageEvent};
use crate::frame::{
    DecodeError, Dir, ErrorCode, Flags, HEADER_LEN, Header, PacketType, ResolveKind, SessionId,
    StreamId, TAG_LEN,
};
use crate::handshake::admission::RemoteAddr;
use crate::handshake::initiator::generate_ephemeral;
use crate::handshake::{AllowList, DropReason, Initiator, Responder, ResponderConfig};
use crate::identity::{Identity, NetworkKey, NodeId};
use crate::rng::Rng;
use crate::session::{Control, Inbound, Phase, Session, SessionStats, TransportParams};
use crate::storage::ServeId;
use crate::time::Instant;

mod admission;
#[cfg(test)]
mod prepare_tests;
mod reset;
#[cfg(test)]
mod reset_tests;
#[cfg(test)]
mod rotation_tests;
#[cfg(feature = "test-hooks")]
mod test_hooks;
#[cfg(test)]
mod test_pair;

/// An adapter-chosen handle for a network path (a UDP peer address, a WebSocket
/// connection). The core only compares paths; the adapter maps them to sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathId(pub u64);

/// Names a session; stale handles (to a closed session) are detected, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle {
    index: u32,
    generation: u32,
}

impl SessionHandle {
    /// A number naming this session in logs and traces (slot and generation).
    pub fn id(&self) -> u64 {
        (u64::from(self.generation) << 32) | u64::from(self.index)
    }

    /// A handle for unit tests of session-level parts.
    #[cfg(test)]
    pub(crate) fn test(index: u32) -> Self {
        Self {
            index,
            generation: 0,
        }
    }
}

/// A datagram (or a batch of equal-size datagrams for GSO) the adapter must send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transmit {
    /// Where to send it.
    pub path: PathId,
    /// Bytes written at the start of the caller's buffer.
    pub len: usize,
    /// With GSO batching: the size of each datagram but the last (which may be
    /// shorter). `None`: one datagram of `len` bytes.
    pub segment_size: Option<usize>,
}

/// Node-wide counters, chiefly of inbound packets dropped and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Datagrams that did not decode (bad magic, short, unknown type, bad frames).
    pub dropped_malformed: u64,
    /// Packets whose AEAD tag did not verify.
    pub dropped_unauthenticated: u64,
    /// Duplicate or too-old packets.
    pub dropped_replayed: u64,
    /// Packets naming no session here.
    pub dropped_unknown_session: u64,
    /// Handshake packets refused by a limit (sessions, half-open table, rate).
    pub dropped_over_limit: u64,
    /// Handshake packets that failed their checks (wrong network, bad cookie…).
    pub dropped_handshake: u64,
    /// Well-formed packets that made no sense in the session's state.
    pub dropped_unexpected: u64,
    /// Packets of a protocol version this node does not speak.
    pub dropped_version: u64,
    /// Peers refused by the peer policy.
    pub refused_peers: u64,
    /// Cookie replies sent.
    pub cookies_sent: u64,
    /// Sessions established as responder.
    pub sessions_accepted: u64,
    /// Sessions established as initiator.
    pub sessions_connected: u64,
    /// Routed messages queued for a local endpoint.
    pub routes_accepted: u64,
    /// Routed messages refused because the endpoint's queue was full.
    pub routes_refused_full: u64,
    /// Routed messages refused because no such endpoint is served here.
    pub routes_refused_unknown: u64,
    /// Handshakes that failed authentication (also counted in `dropped_handshake`):
    /// an INIT sealed with another network's key, or a RESPONSE that did not verify.
    pub handshakes_failed_auth: u64,
    /// Metric records dropped because nobody called [`Node::poll_metric`] for
    /// [`MAX_QUEUED_METRICS`] records.
    pub metrics_dropped: u64,
    /// Under load, INITs that carried no `mac2`: answered with a COOKIE (PROTOCOL.md §5.7.8).
    pub inits_cookie_required: u64,
    /// Under load, INITs whose `mac2` did not verify for their address: answered with a COOKIE.
    pub inits_bad_cookie: u64,
    /// INITs refused by their source's token bucket (also in `dropped_over_limit`).
    pub inits_rate_limited: u64,
    /// INITs whose ephemeral an earlier handshake here already used: replays, refused
    /// without any DH (also in `dropped_replayed`).
    pub inits_replayed: u64,
    /// INITs refused because the half-open table was full (also in `dropped_over_limit`).
    pub inits_table_full: u64,
    /// Retransmitted INITs answered with their cached CHALLENGE (no DH, no state).
    pub inits_challenge_resent: u64,
    /// Times the INIT rate crossed its threshold and put the responder under load.
    pub under_load_rate_trips: u64,
    /// Stateless RESETs sent, answering packets for sessions not held here (§5.5).
    pub resets_sent: u64,
    /// Packets for sessions not held here left unanswered by the RESET rate limit.
    pub resets_limited: u64,
    /// Genuine RESETs received: sessions the peer had lost, ended at once.
    pub resets_received: u64,
}

/// Metric records the node holds for [`Node::poll_metric`]; beyond this the oldest go.
pub const MAX_QUEUED_METRICS: usize = 1 << 16;

/// Why a handshake was refused as unauthenticated ([`Node::poll_rejected_handshake`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectCause {
    /// An INIT whose first AEAD failed: the sender holds another network seed.
    WrongNetwork,
    /// A RESPONSE that did not authenticate.
    AuthFailed,
}

/// A handshake refused because it failed authentication, and the path it came on,
/// so an adapter can tell its user where such attempts come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectedHandshake {
    /// The path the packet arrived on.
    pub path: PathId,
    /// What failed.
    pub cause: RejectCause,
}

/// Rejected handshakes kept for [`Node::poll_rejected_handshake`]; beyond this only
/// the counter grows (a flood must not grow memory).
const REJECTED_LIMIT: usize = 16;

#[derive(Clone)]
pub(crate) struct Slot {
    generation: u32,
    pub(crate) session: Option<Session>,
    deadline: Option<Instant>,
    queued: bool,
    /// The deadline must be recomputed before the timer heap is next read.
    timer_stale: bool,
}

/// Most stateless replies (CHALLENGE, COOKIE, VERSION) waiting to be sent.
const OUTBOX_LIMIT: usize = 256;

/// The protocol engine for one local identity. See the crate docs for the loop.
///
/// `Clone` exists so the simulator can snapshot and fork a run: a clone replays the same
/// random draws (ephemeral keys, session ids, cookie secrets) as the original. Never
/// clone a node to put both copies on a network; build each live node with its own
/// [`Node::new`] seed from the OS, and [`Node::reseed`] it periodically.
#[derive(Clone)]
pub struct Node {
    pub(crate) config: Arc<NodeConfig>,
    identity: Identity,
    network: NetworkKey,
    rng_secret: Rng,
    rng_public: Rng,
    responder: Responder,
    /// The next `connect`'s ephemeral key, prepared by [`Node::prepare_idle`].
    spare_ephemeral: Option<Arc<dyn DhKey>>,
    pub(crate) slots: Vec<Slot>,
    free: Vec<u32>,
    by_local_id: BTreeMap<SessionId, u32>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    dirty: VecDeque<u32>,
    /// Slots whose deadline changed since the heap was last read: recomputed once per
    /// `poll_timeout`/`handle_timeout`, not once per packet.
    stale_timers: Vec<u32>,
    outbox: VecDeque<(PathId, Vec<u8>)>,
    /// Paths of half-open handshakes and accepted sessions ([`Node::path_in_use`]).
    held_paths: admission::HeldPaths,
    /// Stateless reset: the rate limit and sessions by their peer's id.
    resets: reset::Resets,
    events: VecDeque<Event>,
    metrics: VecDeque<MetricRecord>,
    rejected: VecDeque<RejectedHandshake>,
    stats: NodeStats,
    params: Vec<u8>,
    /// Named endpoints this node serves.
    pub(crate) endpoints: Registry,
    /// Peer storage requests reach the application (off: refused "not found").
    pub(crate) serve_storage: bool,
}

impl Node {
    /// Builds a node from its seeds. `rng_seed` drives every random choice (session
    /// ids, ephemeral keys, padding): the same seed and inputs give the same outputs.
    ///
    /// Outside a simulation `rng_seed` **must** be 32 bytes from the operating system's
    /// cryptographic generator (`getrandom`), fresh for every node and every run: the
    /// forward secrecy of every session rests on it. A constant, a clock reading or a
    /// counter lets anyone who guesses it recompute this node's ephemeral keys.
    pub fn new(
        config: Arc<NodeConfig>,
        identity: Identity,
        network: NetworkKey,
        mut rng_seed: [u8; 32],
    ) -> Result<Self, ConfigError> {
        let root = Rng::from_seed(rng_seed);
        // The caller's copy is the caller's to wipe; this one is wiped here.
        zeroize::Zeroize::zeroize(&mut rng_seed);
        config.validate()?;
        // The static key on the configured provider's X25519 backend; should it refuse the
        // key, the default backend computes the very same X25519.
        let identity = identity.with_provider(config.crypto).unwrap_or(identity);
        let rng_secret = root.fork(b"stt node secret");
        let rng_public = root.fork(b"stt node public");
        let max_datagram = crate::session::max_datagram_payload(config.max_packet_size);
        let mut params = vec![0u8; crate::session::MAX_PARAMS_LEN];
        let n = TransportParams::from_config(&config.transport, max_datagram)
            .encode(&mut params)
            .map_err(|_| ConfigError::OutOfRange {
                field: "transport parameters",
                value: 0,
                min: 0,
                max: 0,
            })?;
        params.truncate(n);
        let mut responder = Responder::new(ResponderConfig {
            max_half_open: config.max_half_open,
            under_load_threshold: config.cookie_threshold,
            half_open_lifetime: config.handshake_timeout,
            aeads: AeadSet::preferred(config.crypto),
            provider: config.crypto,
            allow_list: None,
            admission: config.admission,
        });
        // Its own fork: the secret and public streams draw exactly what they drew before.
        let mut admission_key = [0u8; 32];
        root.fork(b"stt node admission").fill(&mut admission_key);
        responder.set_admission_key(admission_key);
        Ok(Self {
            config,
            identity,
            network,
            rng_secret,
            rng_public,
            responder,
            spare_ephemeral: None,
            slots: Vec::new(),
            free: Vec::new(),
            by_local_id: BTreeMap::new(),
            timers: BinaryHeap::new(),
            dirty: VecDeque::new(),
            stale_timers: Vec::new(),
            outbox: VecDeque::new(),
            held_paths: admission::HeldPaths::default(),
            resets: reset::Resets::default(),
            events: VecDeque::new(),
            metrics: VecDeque::new(),
            rejected: VecDeque::new(),
            stats: NodeStats::default(),
            params,
            endpoints: Registry::default(),
            serve_storage: false,
        })
    }

    /// Mixes fresh entropy (32 bytes from the OS) into both of the node's random
    /// streams. Adapters call it periodically (stt-adapter: every minute), so a node
    /// whose state leaked once recovers: later ephemeral keys, session ids and cookie
    /// secrets cannot be predicted from the leaked state. The simulator may call it
    /// with entropy from its run seed to stay deterministic.
    pub fn reseed(&mut self, entropy: &[u8; 32]) {
        self.rng_secret.reseed(entropy, b"stt node secret");
        self.rng_public.reseed(entropy, b"stt node public");
    }

    /// This node's public identity.
    pub fn node_id(&self) -> NodeId {
        self.identity.node_id()
    }

    /// Counters of dropped packets and handshakes.
    pub fn stats(&self) -> NodeStats {
        let r = self.responder.stats();
        NodeStats {
            inits_cookie_required: r.cookie_required,
            inits_bad_cookie: r.bad_cookie,
            inits_rate_limited: r.rate_limited,
            inits_replayed: r.replayed,
            inits_challenge_resent: r.challenges_resent,
            under_load_rate_trips: r.rate_trips,
            ..self.stats
        }
    }

    /// Sessions currently held (any phase).
    pub fn session_count(&self) -> usize {
        self.by_local_id.len()
    }

    /// Half-open responder handshakes currently held.
    pub fn half_open_count(&self) -> usize {
        self.responder.half_open_len()
    }

    /// The configuration.
    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// The session id a datagram is addressed to, from its header alone: lets an
    /// adapter shard sessions across sockets or threads.
    pub fn route_key(datagram: &[u8]) -> Option<SessionId> {
        crate::frame::route_key(datagram)
    }

    fn fresh_session_id(&mut self) -> SessionId {
        loop {
            let id = SessionId(self.rng_public.u64());
            if id.0 != 0
                && !self.by_local_id.contains_key(&id)
                && !self.responder.contains_session(id)
            {
                return id;
            }
        }
    }

    fn alloc_slot(&mut self, local_id: SessionId) -> SessionHandle {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    session: None,
                    deadline: None,
                    timer_stale: false,
                    queued: false,
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.by_local_id.insert(local_id, index);
        SessionHandle {
            index,
            generation: self.slots[index as usize].generation,
        }
    }

    /// Idle-time work, for the adapter to call when it has nothing else to do (no datagram,
    /// transmit or due timer waiting): prepares the ephemeral X25519 keys of the next
    /// `connect` and of the next CHALLENGE, drawn from the secret stream in that order, so
    /// key generation is off the handshake's critical path. Each prepared key serves one
    /// handshake only. Returns whether it did any work (false once both are ready).
    /// Optional: without it each handshake generates its key when it starts.
    pub fn prepare_idle(&mut self) -> bool {
        let mut worked = false;
        if self.spare_ephemeral.is_none()
            && let Ok(k) = generate_ephemeral(self.config.crypto, &mut self.rng_secret)
        {
            self.spare_ephemeral = Some(k);
            worked = true;
        }
        if self.config.accept_incoming {
            worked |= self
                .responder
                .prepare_ephemeral(&mut self.rng_secret)
                .unwrap_or(false);
        }
        worked
    }

    /// Starts a handshake with whichever node answers at `path`. The session is usable
    /// once [`Event::Connected`] reports it.
    ///
    /// An unpinned connect **authenticates some member of the network**: any holder of
    /// the shared seed who can answer at (or spoof) `path` completes the handshake as
    /// itself, and the session's [`SessionRef::peer`] says who that was. To talk to one
    /// particular node, use [`Node::connect_to`].
    pub fn connect(&mut self, now: Instant, path: PathId) -> Result<SessionHandle, ConnectError> {
        self.start_connect(now, path, None)
    }

    /// Starts a handshake with the node at `path` that must prove one of the ids in
    /// `expected` (one [`NodeId`] converts into a set). The initiator checks the
    /// responder's authenticated id before it sends RESPONSE, so it never authenticates
    /// itself to anyone else; a mismatch closes the session with
    /// [`SessionError::PeerMismatch`] carrying both ids.
    pub fn connect_to(
        &mut self,
        now: Instant,
        path: PathId,
        expected: impl Into<AllowList>,
    ) -> Result<SessionHandle, ConnectError> {
        self.start_connect(now, path, Some(expected.into()))
    }

    fn start_connect(
        &mut self,
        now: Instant,
        path: PathId,
        expected: Option<AllowList>,
    ) -> Result<SessionHandle, ConnectError> {
        if self.by_local_id.len() >= self.config.max_sessions {
            return Err(ConnectError::TooManySessions);
        }
        let local_id = self.fresh_session_id();
        let ephemeral = match self.spare_ephemeral.take() {
            Some(k) => k,
            None => generate_ephemeral(self.config.crypto, &mut self.rng_secret)
                .map_err(|_| ConnectError::Internal)?,
        };
        let initiator = Initiator::with_ephemeral(
            &self.identity,
            &self.network,
            local_id,
            AeadSet::preferred(self.config.crypto),
            &self.params,
            ephemeral,
        )
        .map_err(|_| ConnectError::Internal)?
        .with_provider(self.config.crypto);
        let initiator = match expected {
            Some(allow) => initiator.with_allow_list(allow),
            None => initiator,
        };
        let handle = self.alloc_slot(local_id);
        let session = Session::new_initiator(handle, local_id, path, initiator, now, &self.config);
        self.slots[handle.index as usize].session = Some(session);
        self.touch(handle.index, now);
        Ok(handle)
    }

    /// Feeds one received datagram. Bad input is counted in [`NodeStats`] and dropped;
    /// it never returns an error and never panics. The path id stands in for the remote
    /// address ([`RemoteAddr::from_path_id`]); adapters that know the address call
    /// [`Node::handle_datagram_from`], so cookies survive a recycled path id.
    pub fn handle_datagram(&mut self, now: Instant, path: PathId, datagram: BytesMut) {
        self.dispatch_datagram(now, path, &RemoteAddr::from_path_id(path.0), datagram);
    }

    fn dispatch_datagram(
        &mut self,
        now: Instant,
        path: PathId,
        remote: &RemoteAddr,
        datagram: BytesMut,
    ) {
        if datagram.len()
            > self
                .config
                .max_packet_size
                .max(crate::frame::DEFAULT_MAX_PACKET)
        {
            self.stats.dropped_malformed += 1;
            return;
        }
        let header = match Header::decode(&datagram) {
            Ok(h) => h,
            Err(DecodeError::UnsupportedVersion(_)) => {
                self.stats.dropped_version += 1;
                self.answer_version(path, &datagram);
                return;
            }
            Err(_) => {
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        match header.packet_type {
            PacketType::Init => self.handle_init(now, path, remote, &datagram),
            PacketType::Response => self.handle_response(now, path, &header, &datagram),
            PacketType::Challenge | PacketType::Cookie | PacketType::Version => {
                let Some(index) = self.lookup(header.session_id) else {
                    self.stats.dropped_unknown_session += 1;
                    return;
                };
                let config = self.config.clone();
                let mut established = false;
                if let Some(s) = self.slots[index as usize].session.as_mut() {
                    let was_handshaking = s.phase == Phase::Handshaking;
                    s.handle_handshake_packet(now, &header, &datagram, &config, &mut self.stats);
                    established = was_handshaking && s.is_established();
                }
                if established {
                    self.stats.sessions_connected += 1;
                    self.index_peer_id(index);
                }
                self.touch(index, now);
            }
            PacketType::Data | PacketType::Confirm => {
                if datagram.len() < HEADER_LEN + TAG_LEN {
                    self.stats.dropped_malformed += 1;
                    return;
                }
                let Some(index) = self.lookup(header.session_id) else {
                    self.stats.dropped_unknown_session += 1;
                    self.answer_reset(now, path, header.session_id, datagram.len());
                    return;
                };
                // Disjoint field borrows: no Arc clone on the per-packet path.
                let Node {
                    config,
                    slots,
                    stats,
                    rng_public,
                    rng_secret,
                    ..
                } = self;
                if let Some(s) = slots[index as usize].session.as_mut() {
                    s.handle_packet(
                        now, path, &header, datagram, config, stats, rng_public, rng_secret,
                    );
                }
                self.touch(index, now);
            }
            PacketType::Reset => self.handle_reset(now, &header, &datagram),
        }
    }

    fn lookup(&self, id: SessionId) -> Option<u32> {
        self.by_local_id.get(&id).copied()
    }

    fn answer_version(&mut self, path: PathId, datagram: &[u8]) {
        // Only an INIT-shaped packet gets an answer, and it is smaller than the INIT.
        if datagram.len() < 64 || datagram[2] != PacketType::Init as u8 {
            return;
        }
        if self.outbox.len() >= OUTBOX_LIMIT {
            return;
        }
        let sid = crate::frame::route_key(datagram).unwrap_or_default();
        let header = Header {
            packet_type: PacketType::Version,
            session_id: sid,
            stream_id: StreamId::CONTROL,
            sequence: 0,
            flags: Flags::new(false),
        };
        let mut out = header.to_bytes().to_vec();
        out.push(crate::frame::VERSION);
        self.outbox.push_back((path, out));
    }

    fn handle_response(&mut self, now: Instant, path: PathId, header: &Header, datagram: &[u8]) {
        if !self.responder.contains_session(header.session_id) {
            if let Some(index) = self.lookup(header.session_id) {
                // A repeated RESPONSE for a session we already hold: our CONFIRM packets
                // were lost. Answer with a fresh one (one small packet, to the session's
                // own path only) so the initiator stops waiting.
                self.stats.dropped_replayed += 1;
                if let Some(s) = self.slots[index as usize].session.as_mut() {
                    s.on_repeated_response(path);
                }
                self.touch(index, now);
            } else {
                self.stats.dropped_unknown_session += 1;
            }
            return;
        }
        if self.by_local_id.len() >= self.config.max_sessions {
            self.stats.dropped_over_limit += 1;
            return;
        }
        // The session starts on the INIT's path when the CHALLENGE went there alone: the
        // RESPONSE proves the initiator received it there. A RESPONSE from elsewhere (a NAT
        // rebinding, or a copy replayed from a spoofed address) moves it to an unvalidated
        // path like any other packet would. If the CHALLENGE went to several paths (the
        // INIT was repeated from elsewhere, perhaps replayed from a spoofed address),
        // nothing is proven: the session starts unvalidated on the RESPONSE's path
        // (PROTOCOL.md §5.7.6).
        let proven = self.challenged_path_of(header.session_id);
        let est = match self.responder.handle_response(now, datagram) {
            Ok(est) => est,
            Err(reason) => {
                self.stats.dropped_handshake += 1;
                if reason == DropReason::AuthFail {
                    self.reject(path, RejectCause::AuthFailed);
                }
                return;
            }
        };
        if let Some(policy) = &self.config.peer_policy
            && !policy.allow(&est.peer)
        {
            self.stats.refused_peers += 1;
            return;
        }
        let handle = self.alloc_slot(header.session_id);
        let config = self.config.clone();
        let start = proven.unwrap_or(path);
        match Session::new_responder(handle, header.session_id, start, est, now, &config) {
            Ok(mut s) => {
                if proven.is_none() {
                    s.start_unproven(datagram.len(), &mut self.rng_public);
                } else if path != start {
                    s.on_packet_path(path, datagram.len(), true, &mut self.rng_public);
                }
                self.slots[handle.index as usize].session = Some(s);
                self.stats.sessions_accepted += 1;
                self.hold_accepted(path, header.session_id);
                self.index_peer_id(handle.index);
                self.touch(handle.index, now);
            }
            Err(_) => {
                self.by_local_id.remove(&header.session_id);
                self.free.push(handle.index);
                self.stats.dropped_handshake += 1;
            }
        }
    }

    /// Fires every timer due at `now`. Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.responder.expire(now);
        self.refresh_timers();
        // Take what is due first: handling a timer may schedule another at `now`
        // (work for `poll_transmit`), which must not be fired again in this call.
        let mut due = Vec::new();
        while let Some(Reverse((at, index, generation))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let slot = &mut self.slots[index as usize];
            if slot.generation == generation && slot.deadline == Some(at) {
                slot.deadline = None;
                due.push(index);
            }
        }
        for index in due {
            let config = self.config.clone();
            if let Some(s) = self.slots[index as usize].session.as_mut() {
                s.handle_timeout(now, &config, &mut self.rng_secret);
            }
            self.touch(index, now);
        }
    }

    /// The next instant [`Node::handle_timeout`] must be called, if any.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.refresh_timers();
        while let Some(Reverse((at, index, generation))) = self.timers.peek().copied() {
            let slot = &self.slots[index as usize];
            if slot.generation == generation && slot.deadline == Some(at) {
                break;
            }
            self.timers.pop();
        }
        let session = self.timers.peek().map(|Reverse((at, _, _))| *at);
        match (session, self.responder.next_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Writes the next datagram into `buf` (which should hold at least the maximum
    /// packet size). If `buf` has room for several packets, equal-size packets for the
    /// same path are batched (GSO) and `segment_size` is set.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((path, bytes)) = self.outbox.pop_front() {
            let dst = buf.get_mut(..bytes.len())?;
            dst.copy_from_slice(&bytes);
            return Some(Transmit {
                path,
                len: bytes.len(),
                segment_size: None,
            });
        }
        let max = self.config.max_packet_size;
        while let Some(index) = self.dirty.pop_front() {
            let config = &*self.config;
            let Some(s) = self.slots[index as usize].session.as_mut() else {
                self.slots[index as usize].queued = false;
                continue;
            };
            let Some((path, len)) = s.poll_transmit(now, buf, config) else {
                self.slots[index as usize].queued = false;
                self.mark_timer(index);
                self.collect(index);
                continue;
            };
            let mut total = len;
            let mut segments = 1;
            // Batch more full packets from the same session on the same path. A full
            // data packet ends on an AEAD block, so it may be up to 15 bytes short of
            // `max`; the first one sets the segment size and later ones get no more
            // room than that, so only the last of a batch can be shorter (GSO's rule).
            if len + AEAD_BLOCK > max {
                while total + len <= buf.len() && s.head_fits(len) {
                    match s.poll_transmit(now, &mut buf[total..total + len], config) {
                        Some((p, l)) if p == path => {
                            total += l;
                            segments += 1;
                            if l != len {
                                break;
                            }
                        }
                        Some(_) | None => break,
                    }
                }
            }
            // It may have more: keep it in the rotation.
            self.dirty.push_back(index);
            self.mark_timer(index);
            self.collect(index);
            return Some(Transmit {
                path,
                len: total,
                segment_size: (segments > 1).then_some(len),
            });
        }
        None
    }

    /// The next application event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next metric record, if any: only produced while `TransportConfig::metrics`
    /// is on (for traces and plots; docs/ARCHITECTURE.md "Traces"). At most
    /// [`MAX_QUEUED_METRICS`] wait; older ones are dropped and counted.
    pub fn poll_metric(&mut self) -> Option<MetricRecord> {
        self.metrics.pop_front()
    }

    /// Why a session is closing, once it is (before its `Event::Closed`, which waits
    /// out the closing or draining period): a peer's DISCONNECT reason, say. `None`
    /// while it is open or once its handle is dead.
    pub fn close_reason(&self, handle: SessionHandle) -> Option<SessionError> {
        let slot = self.slots.get(handle.index as usize)?;
        if slot.generation != handle.generation {
            return None;
        }
        slot.session.as_ref()?.close_reason()
    }

    /// The next handshake refused as unauthenticated, if any. Only the latest few are
    /// kept; [`NodeStats::handshakes_failed_auth`] counts them all.
    pub fn poll_rejected_handshake(&mut self) -> Option<RejectedHandshake> {
        self.rejected.pop_front()
    }

    fn reject(&mut self, path: PathId, cause: RejectCause) {
        self.stats.handshakes_failed_auth += 1;
        if self.rejected.len() >= REJECTED_LIMIT {
            self.rejected.pop_front();
        }
        self.rejected.push_back(RejectedHandshake { path, cause });
    }

    /// Access to one session, if the handle is still live.
    pub fn session(&mut self, handle: SessionHandle) -> Option<SessionRef<'_>> {
        let slot = self.slots.get(handle.index as usize)?;
        if slot.generation != handle.generation || slot.session.is_none() {
            return None;
        }
        Some(SessionRef { node: self, handle })
    }

    /// Handles of every live session.
    pub fn sessions(&self) -> Vec<SessionHandle> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.session.is_some())
            .map(|(i, s)| SessionHandle {
                index: i as u32,
                generation: s.generation,
            })
            .collect()
    }

    /// After anything happened to a session: collect its events, reschedule its timer,
    /// queue it for transmission, free it if it closed.
    pub(crate) fn touch(&mut self, index: u32, _now: Instant) {
        let slot = &mut self.slots[index as usize];
        if slot.session.is_some() && !slot.queued {
            slot.queued = true;
            self.dirty.push_back(index);
        }
        self.mark_timer(index);
        self.collect(index);
    }

    /// Notes that a session's deadline may have moved.
    fn mark_timer(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if !slot.timer_stale {
            slot.timer_stale = true;
            self.stale_timers.push(index);
        }
    }

    /// Recomputes the deadlines of every session marked since the last call.
    fn refresh_timers(&mut self) {
        let mut stale = core::mem::take(&mut self.stale_timers);
        for index in stale.drain(..) {
            self.slots[index as usize].timer_stale = false;
            self.touch_timer(index);
        }
        self.stale_timers = stale;
    }

    fn touch_timer(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let Some(s) = slot.session.as_ref() else {
            return;
        };
        let deadline = s.next_timeout(&self.config);
        if deadline != slot.deadline {
            slot.deadline = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, index, slot.generation)));
            }
        }
        // Lazy deletion leaves stale entries behind; rebuild once they dominate so the
        // heap stays proportional to the number of sessions.
        if self.timers.len() > 2 * self.by_local_id.len() + 64 {
            self.timers = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let at = s.deadline?;
                    s.session.as_ref()?;
                    Some(Reverse((at, i as u32, s.generation)))
                })
                .collect();
        }
    }

    fn collect(&mut self, index: u32) {
        self.process_inbound(index);
        let Node {
            slots, endpoints, ..
        } = self;
        let slot = &mut slots[index as usize];
        let Some(s) = slot.session.as_mut() else {
            return;
        };
        s.flush_stream_events();
        if endpoints.len() > 0
            && s.events
                .iter()
                .any(|e| matches!(e, Event::Connected { .. }))
        {
            // A new session learns every endpoint this node serves.
            for endpoint in endpoints.ids() {
                s.queue_control(Control::EndpointRegister {
                    endpoint,
                    registered: true,
                });
            }
        }
        if let Some(log) = s.conn.as_mut().and_then(|c| c.metrics.as_mut()) {
            let session = s.handle;
            for (time, metric) in log.records.drain(..) {
                if self.metrics.len() >= MAX_QUEUED_METRICS {
                    self.metrics.pop_front();
                    self.stats.metrics_dropped += 1;
                }
                self.metrics.push_back(MetricRecord {
                    session,
                    time,
                    metric,
                });
            }
        }
        if !s.events.is_empty() {
            // Take the queue (not drain it) so an idle session keeps no event buffer.
            self.events.extend(core::mem::take(&mut s.events));
        }
        if s.phase == Phase::Closed {
            let local = s.local_id;
            let peer = s.conn.as_ref().map(|c| c.peer_session);
            endpoints.forget_session(s.handle);
            slot.session = None;
            slot.deadline = None;
            slot.generation = slot.generation.wrapping_add(1);
            self.by_local_id.remove(&local);
            self.unindex_peer_id(index, peer);
            self.free.push(index);
        }
    }
}

impl Node {
    /// Answers what a session received for the node: routed messages (offered to the
    /// endpoint registry), resolve queries and storage requests.
    fn process_inbound(&mut self, index: u32) {
        let Node {
            slots,
            endpoints,
            serve_storage,
            config,
            stats,
            ..
        } = self;
        let Some(s) = slots[index as usize].session.as_mut() else {
            return;
        };
        let handle = s.handle;
        let Some(conn) = s.conn.as_mut() else {
            return;
        };
        let Some(apps) = conn.apps.as_mut() else {
            return;
        };
        if apps.inbound.is_empty() {
            return;
        }
        let peer = conn.peer;
        for item in core::mem::take(&mut apps.inbound) {
            match item {
                Inbound::Route {
                    message_id,
                    endpoint,
                    payload,
                } => {
                    let offer = endpoints.offer(EndpointMessage {
                        endpoint,
                        session: handle,
                        peer,
                        payload,
                    });
                    let code = match offer {
                        Offer::Accepted => {
                            stats.routes_accepted += 1;
                            s.events.push_back(Event::Endpoint {
                                session: handle,
                                event: EndpointEvent::Message { endpoint },
                            });
                            None
                        }
                        Offer::Refused(code) => {
                            match code {
                                ErrorCode::BUFFER_OVERFLOW => stats.routes_refused_full += 1,
                                _ => stats.routes_refused_unknown += 1,
                            }
                            Some(code)
                        }
                    };
                    apps.answer(Control::RouteAnswer { message_id, code }, &mut conn.control);
                }
                Inbound::Resolve {
                    request_id,
                    endpoint,
                } => {
                    let kind = match endpoints.contains(&endpoint) {
                        true => ResolveKind::Found,
                        false => ResolveKind::NotFound,
                    };
                    let answer = Control::EndpointResolve {
                        request_id,
                        kind,
                        endpoint,
                    };
                    apps.answer(answer, &mut conn.control);
                }
                Inbound::Get {
                    request_id,
                    hash,
                    max_len,
                } => {
                    let request = ServeId(request_id);
                    let refuse = if !*serve_storage {
                        s.events.push_back(Event::Storage {
                            session: handle,
                            event: StorageEvent::Miss { request, hash },
                        });
                        Some(ErrorCode::OBJECT_NOT_FOUND)
                    } else if apps.fetches.serving() >= config.transport.max_serves {
                        Some(ErrorCode::RESOURCE_EXHAUSTED)
                    } else {
                        apps.fetches.await_answer(request_id, hash, max_len);
                        s.events.push_back(Event::Storage {
                            session: handle,
                            event: StorageEvent::Requested {
                                request,
                                hash,
                                max_len,
                            },
                        });
                        None
                    };
                    if let Some(code) = refuse {
                        let c = Control::StorageRefuse { request_id, code };
                        apps.answer(c, &mut conn.control);
                    }
                }
            }
        }
    }
}

/// A live session, borrowed from its node for application calls.
pub struct SessionRef<'a> {
    pub(crate) node: &'a mut Node,
    pub(crate) handle: SessionHandle,
}

impl SessionRef<'_> {
    pub(crate) fn session(&mut self) -> &mut Session {
        // `Node::session` checked the handle and nothing frees the slot meanwhile.
        match self.node.slots[self.handle.index as usize].session.as_mut() {
            Some(s) => s,
            None => unreachable!("SessionRef outlived its session"),
        }
    }

    pub(crate) fn done<T>(&mut self, now: Instant, v: T) -> T {
        self.node.touch(self.handle.index, now);
        v
    }

    /// The handle of this session.
    pub fn handle(&self) -> SessionHandle {
        self.handle
    }

    /// The peer's authenticated id (once established).
    pub fn peer(&mut self) -> Option<NodeId> {
        self.session().peer()
    }

    /// True once the handshake completed and until the session starts closing.
    pub fn is_established(&mut self) -> bool {
        self.session().is_established()
    }

    /// The path the session currently sends on (possibly still being validated after
    /// the peer moved: see [`Event::PathChanged`]).
    pub fn path(&mut self) -> PathId {
        self.session().path.id
    }

    /// Whether [`path`](Self::path) is proven (the peer answered a challenge on it, or
    /// this side chose it); an unproven path gets at most 3× the bytes received on it.
    pub fn path_validated(&mut self) -> bool {
        self.session().path.validated
    }

    /// Moves the session to `path` by this side's choice (a new socket or WebSocket
    /// the application opened); the peer validates the new path when packets arrive on
    /// it, and late packets on the old path do not pull the session back. Emits
    /// [`Event::PathChanged`].
    pub fn migrate(&mut self, now: Instant, path: PathId) -> Result<(), MigrateError> {
        let r = self.session().migrate(path);
        self.done(now, r)
    }

    /// Statistics.
    pub fn stats(&mut self) -> SessionStats {
        self.session().stats()
    }

    /// Opens a stream. `total_len` selects bounded mode (the receiver learns the total
    /// length up front); `None` is live mode (open-ended until finish).
    pub fn open_stream(
        &mut self,
        now: Instant,
        dir: Dir,
        priority: u8,
        total_len: Option<u64>,
    ) -> Result<StreamId, OpenStreamError> {
        let r = self.session().open_stream(dir, priority, total_len);
        self.done(now, r)
    }

    /// Takes the next stream the peer opened.
    pub fn accept_stream(&mut self, dir: Dir) -> Option<StreamId> {
        self.session().streams_mut()?.accept(dir)
    }

    /// Writes bytes; returns how many were taken (fewer than given when the send
    /// buffer fills; [`WriteError::Blocked`] when none fit).
    pub fn write(&mut self, now: Instant, id: StreamId, data: &[u8]) -> Result<usize, WriteError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.write(id, data),
            None => Err(WriteError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Queues bytes without copying them; returns how many were taken (the rest of
    /// `data` did not fit the send buffer).
    pub fn write_bytes(
        &mut self,
        now: Instant,
        id: StreamId,
        data: Bytes,
    ) -> Result<usize, WriteError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.write_bytes(id, data),
            None => Err(WriteError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Reads up to `max` bytes in order. `Ok(None)`: the peer finished the stream.
    pub fn read(
        &mut self,
        now: Instant,
        id: StreamId,
        max: usize,
    ) -> Result<Option<Bytes>, ReadError> {
        let rtt = self.session().rtt();
        let r = match self.session().streams_mut() {
            Some(st) => st.read(id, max, now, rtt),
            None => Err(ReadError::SessionClosed),
        };
        if let Ok(Some(b)) = &r {
            self.session().stats.stream_bytes_read += b.len() as u64;
        }
        self.done(now, r)
    }

    /// Bytes read so far on a receiving stream and, in bounded mode, the total.
    pub fn recv_progress(&mut self, id: StreamId) -> Option<(u64, Option<u64>)> {
        self.session().streams_mut()?.recv_progress(id)
    }

    /// Ends the stream's sending side once everything written is delivered.
    pub fn finish(&mut self, now: Instant, id: StreamId) -> Result<(), StreamError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.finish(id),
            None => Err(StreamError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Abandons the stream's sending side with an application error code.
    pub fn reset(
        &mut self,
        now: Instant,
        id: StreamId,
        code: ErrorCode,
    ) -> Result<(), StreamError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.reset(id, code),
            None => Err(StreamError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Asks the peer to stop sending on a stream we receive on.
    pub fn stop(&mut self, now: Instant, id: StreamId, code: ErrorCode) -> Result<(), StreamError> {
        let r = match self.session().streams_mut() {
            Some(st) => st.stop(id, code),
            None => Err(StreamError::SessionClosed),
        };
        self.done(now, r)
    }

    /// Sets a stream's priority: streams with higher values send first.
    pub fn set_priority(&mut self, id: StreamId, priority: u8) -> Result<(), StreamError> {
        match self.session().streams_mut() {
            Some(st) => st.set_priority(id, priority),
            None => Err(StreamError::SessionClosed),
        }
    }

    /// Largest datagram payload accepted by [`SessionRef::send_datagram`].
    pub fn max_datagram_size(&mut self) -> usize {
        self.session().max_datagram()
    }

    /// Queues an unreliable datagram. Under congestion or a full queue, the oldest
    /// queued datagrams are dropped rather than buffered without bound.
    pub fn send_datagram(&mut self, now: Instant, data: Bytes) -> Result<(), DatagramError> {
        let max = self.max_datagram_size();
        if !self.session().is_established() {
            return Err(DatagramError::NotConnected);
        }
        if data.len() > max {
            return Err(DatagramError::TooLarge {
                len: data.len(),
                max,
            });
        }
        let limit = self.node.config.transport.datagram_send_buffer;
        self.session().send_datagram(data, limit);
        self.done(now, Ok(()))
    }

    /// Takes the oldest received datagram.
    pub fn recv_datagram(&mut self) -> Option<Bytes> {
        self.session().recv_datagram()
    }

    /// Closes the session: DISCONNECT with `code` and `reason` goes to the peer.
    pub fn close(&mut self, now: Instant, code: ErrorCode, reason: &[u8]) {
        self.session().close(now, code, reason);
        self.done(now, ())
    }
}
