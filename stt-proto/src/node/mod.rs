//! `Node`: owns every session of one local identity and exposes the sans-IO contract
//! (`handle_*` in; `poll_transmit`/`poll_timeout`/`poll_event` out). This file holds the
//! node's state and the calls that only read or queue; each of the other concerns has
//! its file: `inbound.rs` (routing datagrams by session id), `connect.rs` (sessions
//! coming into being), `admission.rs` (INIT admission under load), `reset.rs`
//! (stateless reset), `timers.rs` (the timer heap), `transmit.rs` (outbound and
//! collecting session output), `session_ref.rs`, `endpoints.rs` and `storage.rs` (the
//! application calls on a session).
//!
//! It performs no IO and reads no clock; protocol rules for one session live in
//! `session` (whose internals only `session` touches), cryptography in
//! `handshake`/`crypto`.

use alloc::collections::{BTreeMap, BinaryHeap, VecDeque};
use alloc::sync::Arc;
use alloc::vec;
use alloc::vec::Vec;
use core::cmp::Reverse;

use crate::config::{ConfigError, NodeConfig};
use crate::crypto::AeadSet;
use crate::crypto::{DhKey, KemDecapsKey};
use crate::endpoint::Registry;
use crate::error::SessionError;
use crate::event::{Event, MetricRecord};
use crate::frame::SessionId;
use crate::handshake::initiator::{generate_ephemeral, generate_kem_key};
use crate::handshake::{Responder, ResponderConfig};
use crate::identity::{Identity, NetworkKey, NodeId};
pub use crate::ids::{PathId, SessionHandle};
pub use crate::stats::NodeStats;

use crate::rng::Rng;
use crate::session::{Session, TransportParams};
use crate::time::Instant;

pub use endpoints::max_route_payload;
pub use session_ref::{SessionRef, max_custom_payload};

mod admission;
mod connect;
mod endpoints;
#[cfg(test)]
mod hybrid_tests;
mod inbound;
#[cfg(test)]
mod prepare_tests;
mod rendezvous;
mod reset;
#[cfg(test)]
mod reset_tests;
#[cfg(test)]
mod rotation_tests;
mod session_ref;
mod storage;
#[cfg(feature = "test-hooks")]
mod test_hooks;
#[cfg(test)]
pub(crate) mod test_pair;
mod timers;
mod transmit;

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
    /// The next hybrid `connect`'s ML-KEM key, prepared by [`Node::prepare_idle`].
    spare_kem: Option<Arc<dyn KemDecapsKey>>,
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
    /// Where CHALLENGE and COOKIE replies are written before being queued (reused).
    reply_scratch: Vec<u8>,
    /// Named endpoints this node serves.
    pub(crate) endpoints: Registry,
    /// Peer storage requests reach the application (off: refused "not found").
    pub(crate) serve_storage: bool,
    /// Rendezvous (PROTOCOL.md §12): members registered here, when serving.
    registry: crate::rendezvous::Registry,
    /// Relay routes issued here, when serving.
    relay: crate::rendezvous::RelayTable,
    /// Relay datagrams forwarded, waiting for `poll_transmit` (bounded by
    /// `RendezvousConfig::forward_queue`).
    relay_queue: VecDeque<(PathId, bytes::BytesMut)>,
    /// This node's own relay routes, requests and punch candidates.
    rdv_client: crate::rendezvous::Client,
    /// Rendezvous frames sessions queued, answered once the packet is handled.
    rdv_pending: Vec<(SessionHandle, crate::rendezvous::RdvInbound)>,
    /// The path and address of the datagram being handled (while serving rendezvous:
    /// a REGISTER is answered with it).
    last_remote: Option<(PathId, crate::RemoteAddr)>,
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
            pq: config.pq,
            hybrid_reassembly: config.hybrid_reassembly,
        });
        // Its own fork: the secret and public streams draw exactly what they drew before.
        let mut admission_key = [0u8; 32];
        root.fork(b"stt node admission").fill(&mut admission_key);
        responder.set_admission_key(admission_key);
        let config_total_rate = config.rendezvous.total_rate;
        Ok(Self {
            config,
            identity,
            network,
            rng_secret,
            rng_public,
            responder,
            spare_ephemeral: None,
            spare_kem: None,
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
            reply_scratch: Vec::new(),
            endpoints: Registry::default(),
            serve_storage: false,
            registry: crate::rendezvous::Registry::default(),
            relay: crate::rendezvous::RelayTable::new(config_total_rate),
            relay_queue: VecDeque::new(),
            rdv_client: crate::rendezvous::Client::default(),
            rdv_pending: Vec::new(),
            last_remote: None,
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
            hybrid_fragments_dropped: r.hybrid_fragments_dropped,
            hybrid_reassembly_evicted: r.hybrid_reassembly_evicted,
            refusals_sent: r.refusals_sent,
            refused_classic: r.refused_classic,
            refused_downgrade: r.refused_downgrade,
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
    /// `connect` and of the next CHALLENGE (and, in a hybrid mode, the next `connect`'s
    /// ML-KEM key), drawn from the secret stream in that order, so
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
        // Drawn last, and only in a hybrid mode: classic nodes draw exactly as before.
        if self.config.pq.hybrid_capable()
            && self.spare_kem.is_none()
            && let Ok(k) = generate_kem_key(self.config.crypto, &mut self.rng_secret)
        {
            self.spare_kem = Some(k);
            worked = true;
        }
        worked
    }

    /// The next application event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next metric record, if any: only produced while `TransportConfig::metrics`
    /// is on (for traces and plots; docs/ARCHITECTURE.md "Traces"). At most
    /// [`crate::config::MAX_QUEUED_METRICS`] wait; older ones are dropped and counted.
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
}
