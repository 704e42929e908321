//! Every limit and timer of a node and its sessions, with defaults and their reasons.
//!
//! Configuration is plain data shared by `Arc`; nothing here performs protocol work.
//! Defaults: keepalive 10 s, idle timeout 30 s, handshake timeout 10 s and 256 streams
//! per direction; RFC 9000/9002 for the rest.

use alloc::sync::Arc;
use core::fmt;
use core::time::Duration;

use crate::congestion::{ControllerFactory, VenoConfig};
use crate::crypto::CryptoProvider;
use crate::frame::{DEFAULT_MAX_PACKET, MIN_MAX_PACKET};
use crate::identity::NodeId;

/// Probe-timeout periods of silence after which a peer that owes an acknowledgement is
/// declared gone ([`crate::error::SessionError::PeerUnresponsive`]).
///
/// The clock starts where the idle timer's does (the last packet received, or the first
/// ack-eliciting packet sent after it) and only runs while ack-eliciting data is in
/// flight. A PTO period here is the un-backed-off one,
/// `smoothed_rtt + max(4·rttvar, 1 ms) + max_ack_delay`; 8 of them cover the probes sent
/// 1, 3 and 7 periods in (RFC 9002 backoff) plus one period for the last probe's answer.
/// The session then ends after `max(8 PTO, unresponsive_floor)` without a packet, never
/// later than the idle timeout: 4 s (the floor) on a 50 ms path and 7-8 s on a steady
/// 800 ms one, instead of the 30 s idle timeout. A slow path does not trip it: its ACKs
/// keep arriving, and any packet from the peer restarts the clock.
pub const UNRESPONSIVE_PTOS: u32 = 8;

/// Default of [`TransportConfig::unresponsive_floor`]: the shortest silence ever declared
/// unresponsive, so an outage of a second or so on a short-RTT path (Wi-Fi roaming, a NAT
/// rebinding) is ridden out. 3 s was too short: in one of 1000 generated simulator mixes
/// a NAT rebinding plus a 1.1 s partition left one side hearing nothing for 3.06 s (the
/// peer's probes backed off) although the path came back.
pub const UNRESPONSIVE_FLOOR: Duration = Duration::from_secs(4);

/// A sender never assigns a routed-message id 1024 or more above an unacknowledged one
/// (PROTOCOL.md §4.8): the bound on one session's unresolved routed messages.
pub const MESSAGE_WINDOW: u64 = 1024;

/// Metric records the node holds for [`crate::Node::poll_metric`]; beyond this the oldest go.
pub const MAX_QUEUED_METRICS: usize = 1 << 16;

/// Default [`TransportConfig::key_update_interval`].
pub const DEFAULT_KEY_UPDATE_INTERVAL: Duration = Duration::from_secs(120);

/// Default [`TransportConfig::rekey_interval`].
pub const DEFAULT_REKEY_INTERVAL: Duration = Duration::from_secs(120);

/// Default [`TransportConfig::rekey_bytes`].
pub const DEFAULT_REKEY_BYTES: u64 = 1 << 30;

/// A configuration value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field is outside its allowed range.
    #[error("{field} = {value} is outside {min}..={max}")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
}

fn check(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if value < min || value > max {
        return Err(ConfigError::OutOfRange {
            field,
            value,
            min,
            max,
        });
    }
    Ok(())
}

/// Decides whether a peer, identified by its authenticated [`NodeId`], may hold a session.
pub trait PeerPolicy: Send + Sync {
    /// True to accept the peer.
    fn allow(&self, peer: &NodeId) -> bool;
}

impl<F: Fn(&NodeId) -> bool + Send + Sync> PeerPolicy for F {
    fn allow(&self, peer: &NodeId) -> bool {
        self(peer)
    }
}

/// Per-session transport parameters and timers.
#[derive(Clone)]
pub struct TransportConfig {
    /// Close a session when nothing arrives for this long.
    pub idle_timeout: Duration,
    /// Send KEEPALIVE after this long without sending anything ack-eliciting.
    pub keepalive_interval: Option<Duration>,
    /// Shortest silence, with ack-eliciting data in flight, after which the peer is
    /// declared unresponsive (default [`UNRESPONSIVE_FLOOR`], 4 s; the bound is
    /// `max(UNRESPONSIVE_PTOS · PTO, this)`). Set it to the idle timeout or more to rely
    /// on the idle timeout alone.
    pub unresponsive_floor: Duration,
    /// Bidirectional streams the peer may open at once.
    pub max_streams_bidi: u64,
    /// Unidirectional streams the peer may open at once.
    pub max_streams_uni: u64,
    /// Initial per-stream receive window in bytes.
    pub stream_receive_window: u64,
    /// Largest per-stream receive window auto-tuning may grow to.
    pub max_stream_receive_window: u64,
    /// Initial session-wide receive window in bytes.
    pub receive_window: u64,
    /// Largest session-wide receive window auto-tuning may grow to.
    pub max_receive_window: u64,
    /// Bytes a stream buffers for sending before `write` reports it is blocked.
    pub send_buffer: u64,
    /// Bytes all of a session's streams together buffer for sending (written and not
    /// yet acknowledged) before `write` reports it is blocked; at least `send_buffer`.
    /// Bounds a session's send memory however many streams it opens, and with it how
    /// much one session can put in flight at once.
    pub session_send_buffer: u64,
    /// How long a receiver may hold back an ACK for ack-eliciting packets.
    pub max_ack_delay: Duration,
    /// Ack-eliciting packets received before an ACK is sent at once.
    pub ack_eliciting_threshold: u32,
    /// RTT assumed before the first sample.
    pub initial_rtt: Duration,
    /// Outgoing datagrams queued before the oldest is dropped, in bytes.
    pub datagram_send_buffer: usize,
    /// Incoming datagrams held for the application before the oldest is dropped, in bytes.
    pub datagram_receive_buffer: usize,
    /// The congestion controller every session builds. Default: Veno, NewReno that cuts
    /// its window to 0.8 instead of 0.5 when a loss comes without a queue of its own
    /// (random loss on a lossy link); 1.6–1.7× NewReno's goodput at 1–5% random loss in
    /// the simulator's goodput table, the same as NewReno once a queue builds.
    pub congestion: Arc<dyn ControllerFactory>,
    /// Spread packets over the RTT instead of sending the window in bursts.
    pub pacing: bool,
    /// Record [`crate::metrics::Metric`]s (congestion, RTT, losses, flow control) for
    /// `Node::poll_metric`, as traces and plots need. Off by default: then no session
    /// keeps a metrics log and recording costs one untaken branch per hook.
    pub metrics: bool,
    /// Update packet keys after this much time (in addition to the AEAD usage limits,
    /// whichever comes first); `None` leaves only the limits. Default 2 minutes: the
    /// key-update ratchet is one-way, so a key leaked from memory opens at most the
    /// traffic of its own phase — on a quiet session the packet limits alone would leave
    /// one key in use for hours. One HKDF chain every 2 minutes costs nothing measurable.
    pub key_update_interval: Option<Duration>,
    /// The session initiator re-handshakes (a fresh ephemeral DH inside the session,
    /// PROTOCOL.md §6.7) this long after the last one; `None` or zero: never on time.
    /// Default 2 minutes: key updates alone are a one-way ratchet, so an attacker who
    /// once copied a session's keys could follow every later phase; a fresh DH each
    /// interval bounds that to the interval (post-compromise recovery). Cost: two X25519
    /// operations per side per interval.
    pub rekey_interval: Option<Duration>,
    /// The session initiator also re-handshakes after this many bytes sent and received
    /// since the last one (default 2^30); `None` or zero: never on volume.
    pub rekey_bytes: Option<u64>,
    /// Application messages (routes, custom frames) sent but not yet resolved (a route
    /// until the peer accepts or refuses it, a custom frame until acknowledged) before
    /// sending reports `Blocked`. At most 1024 (PROTOCOL.md §4.8).
    pub max_messages_in_flight: usize,
    /// Bytes of unresolved application messages before sending reports `Blocked`.
    pub message_send_buffer: usize,
    /// Endpoint resolves awaiting an answer at once.
    pub max_pending_resolves: usize,
    /// Endpoints of the peer remembered from its registrations; more are ignored.
    pub max_peer_endpoints: usize,
    /// Fetches (storage requests this node sent) in progress at once.
    pub max_fetches: usize,
    /// Peer storage requests answered at once (awaiting the application or sending);
    /// more are refused with `RESOURCE_EXHAUSTED`.
    pub max_serves: usize,
    /// Largest object a fetch may accept, in bytes.
    pub max_object_size: u64,
}

impl Default for TransportConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keepalive_interval: Some(Duration::from_secs(10)),
            unresponsive_floor: UNRESPONSIVE_FLOOR,
            max_streams_bidi: 256,
            max_streams_uni: 256,
            stream_receive_window: 1 << 20,
            max_stream_receive_window: 16 << 20,
            receive_window: 4 << 20,
            max_receive_window: 64 << 20,
            send_buffer: 1 << 20,
            session_send_buffer: 4 << 20,
            max_ack_delay: Duration::from_millis(25),
            ack_eliciting_threshold: 2,
            initial_rtt: Duration::from_millis(333),
            datagram_send_buffer: 64 << 10,
            datagram_receive_buffer: 64 << 10,
            congestion: Arc::new(VenoConfig::default()),
            pacing: true,
            metrics: false,
            key_update_interval: Some(DEFAULT_KEY_UPDATE_INTERVAL),
            rekey_interval: Some(DEFAULT_REKEY_INTERVAL),
            rekey_bytes: Some(DEFAULT_REKEY_BYTES),
            max_messages_in_flight: 256,
            message_send_buffer: 256 << 10,
            max_pending_resolves: 64,
            max_peer_endpoints: 256,
            max_fetches: 8,
            max_serves: 8,
            max_object_size: 16 << 20,
        }
    }
}

impl fmt::Debug for TransportConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TransportConfig")
            .field("idle_timeout", &self.idle_timeout)
            .field("keepalive_interval", &self.keepalive_interval)
            .field("unresponsive_floor", &self.unresponsive_floor)
            .field("max_streams_bidi", &self.max_streams_bidi)
            .field("max_streams_uni", &self.max_streams_uni)
            .field("stream_receive_window", &self.stream_receive_window)
            .field("receive_window", &self.receive_window)
            .field("send_buffer", &self.send_buffer)
            .field("session_send_buffer", &self.session_send_buffer)
            .field("congestion", &self.congestion)
            .field("pacing", &self.pacing)
            .field("metrics", &self.metrics)
            .field("key_update_interval", &self.key_update_interval)
            .field("rekey_interval", &self.rekey_interval)
            .field("rekey_bytes", &self.rekey_bytes)
            .field("max_messages_in_flight", &self.max_messages_in_flight)
            .field("max_fetches", &self.max_fetches)
            .field("max_serves", &self.max_serves)
            .field("max_object_size", &self.max_object_size)
            .finish_non_exhaustive()
    }
}

impl TransportConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        check("idle_timeout_ms", ms(self.idle_timeout), 100, 86_400_000)?;
        check("max_streams_bidi", self.max_streams_bidi, 0, 1 << 20)?;
        check("max_streams_uni", self.max_streams_uni, 0, 1 << 20)?;
        check(
            "stream_receive_window",
            self.stream_receive_window,
            1024,
            1 << 32,
        )?;
        check(
            "max_stream_receive_window",
            self.max_stream_receive_window,
            self.stream_receive_window,
            1 << 32,
        )?;
        check("receive_window", self.receive_window, 1024, 1 << 40)?;
        check(
            "max_receive_window",
            self.max_receive_window,
            self.receive_window,
            1 << 40,
        )?;
        check("send_buffer", self.send_buffer, 1024, 1 << 32)?;
        check(
            "session_send_buffer",
            self.session_send_buffer,
            self.send_buffer,
            1 << 40,
        )?;
        check("max_ack_delay_ms", ms(self.max_ack_delay), 0, 16_383)?;
        check(
            "ack_eliciting_threshold",
            u64::from(self.ack_eliciting_threshold),
            1,
            1024,
        )?;
        check(
            "max_messages_in_flight",
            self.max_messages_in_flight as u64,
            1,
            MESSAGE_WINDOW,
        )?;
        check(
            "message_send_buffer",
            self.message_send_buffer as u64,
            2048,
            1 << 30,
        )?;
        check(
            "max_pending_resolves",
            self.max_pending_resolves as u64,
            1,
            1024,
        )?;
        check(
            "max_peer_endpoints",
            self.max_peer_endpoints as u64,
            0,
            1 << 16,
        )?;
        check("max_fetches", self.max_fetches as u64, 1, 1024)?;
        check("max_serves", self.max_serves as u64, 0, 1024)?;
        check("max_object_size", self.max_object_size, 0, 1 << 40)?;
        if let Some(d) = self.rekey_interval.filter(|d| !d.is_zero()) {
            check("rekey_interval_ms", ms(d), 10, 86_400_000)?;
        }
        Ok(())
    }
}

/// Which handshakes a node runs (PROTOCOL.md §5.7.10): [`NodeConfig::pq`]. The
/// negotiation itself is `handshake::hybrid`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PqMode {
    /// Classic `XXpsk0` only; a hybrid INIT is answered with REFUSE (unsupported).
    #[default]
    Off,
    /// Offer hybrid; accept classic from a peer that never offered it, and fall back to
    /// classic (saying so inside the encrypted INIT) when a member refuses hybrid.
    Prefer,
    /// Hybrid only: classic INITs are refused, and a peer that refuses hybrid ends the
    /// handshake with a typed error.
    Require,
}

impl PqMode {
    /// Whether this side sends (initiator) or accepts (responder) hybrid INITs.
    pub fn hybrid_capable(self) -> bool {
        self != PqMode::Off
    }

    /// The mode's name as the `stt` tool spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            PqMode::Off => "off",
            PqMode::Prefer => "prefer",
            PqMode::Require => "require",
        }
    }
}

/// Node-wide limits and policies.
#[derive(Clone)]
pub struct NodeConfig {
    /// Largest datagram the node sends or accepts (default 1472: UDP in a 1500-byte MTU).
    pub max_packet_size: usize,
    /// Most established sessions at once.
    pub max_sessions: usize,
    /// Most half-open (responder-side, pre-RESPONSE) handshakes at once.
    pub max_half_open: usize,
    /// Half-open handshakes above which INITs must carry a cookie.
    pub cookie_threshold: usize,
    /// INIT admission under a flood (PROTOCOL.md §5.7.8): the rate of DH-costing INITs from which INITs
    /// must carry a cookie, the per-source INIT limit and the replay filter's size.
    pub admission: AdmissionConfig,
    /// Give up a handshake after this long.
    pub handshake_timeout: Duration,
    /// First handshake retransmission delay; doubles on each retry.
    pub handshake_retransmit: Duration,
    /// Accept incoming sessions (server mode). Off: only `connect` creates sessions.
    pub accept_incoming: bool,
    /// Optional allow-list or callback on authenticated peer ids.
    pub peer_policy: Option<Arc<dyn PeerPolicy>>,
    /// Packet-protection provider (AEAD implementation).
    pub crypto: &'static dyn CryptoProvider,
    /// Named endpoints this node may serve at once.
    pub max_endpoints: usize,
    /// Largest queue capacity an endpoint may ask for, in messages.
    pub max_endpoint_queue: usize,
    /// Post-quantum hybrid handshake (PROTOCOL.md §5.7.10): `Off` (default) runs classic
    /// `XXpsk0` only; `Prefer` offers hybrid and falls back to classic, inside the
    /// transcript, when a member refuses it; `Require` refuses classic peers. Default
    /// `Off`: a `prefer` initiator learns of an `off` peer from its REFUSE, but a peer that
    /// predates hybrid drops the fragments silently, so `prefer` would only time out
    /// against it.
    pub pq: PqMode,
    /// Slots of the responder's hybrid INIT reassembly table (about 1.5 KiB each,
    /// allocated on the first hybrid fragment); a full table evicts its oldest entry.
    pub hybrid_reassembly: usize,
    /// Per-session parameters.
    pub transport: TransportConfig,
    /// Rendezvous and relay (PROTOCOL.md §12): serving them, their limits, and the
    /// member side's punching schedule.
    pub rendezvous: RendezvousConfig,
}

impl fmt::Debug for NodeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeConfig")
            .field("max_packet_size", &self.max_packet_size)
            .field("max_sessions", &self.max_sessions)
            .field("max_half_open", &self.max_half_open)
            .field("cookie_threshold", &self.cookie_threshold)
            .field("admission", &self.admission)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("accept_incoming", &self.accept_incoming)
            .field("peer_policy", &self.peer_policy.is_some())
            .field("max_endpoints", &self.max_endpoints)
            .field("max_endpoint_queue", &self.max_endpoint_queue)
            .field("pq", &self.pq)
            .field("transport", &self.transport)
            .field("rendezvous", &self.rendezvous)
            .finish_non_exhaustive()
    }
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            max_packet_size: DEFAULT_MAX_PACKET,
            max_sessions: 10_000,
            max_half_open: 1024,
            cookie_threshold: 256,
            admission: AdmissionConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            handshake_retransmit: Duration::from_millis(500),
            accept_incoming: true,
            peer_policy: None,
            crypto: crate::crypto::default_provider(),
            max_endpoints: 64,
            max_endpoint_queue: 4096,
            pq: PqMode::Off,
            hybrid_reassembly: 64,
            transport: TransportConfig::default(),
            rendezvous: RendezvousConfig::default(),
        }
    }
}

impl NodeConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check(
            "max_packet_size",
            self.max_packet_size as u64,
            MIN_MAX_PACKET as u64,
            65_527,
        )?;
        check("max_sessions", self.max_sessions as u64, 1, 1 << 24)?;
        check(
            "hybrid_reassembly",
            self.hybrid_reassembly as u64,
            1,
            1 << 16,
        )?;
        check("max_half_open", self.max_half_open as u64, 1, 1 << 20)?;
        check(
            "cookie_threshold",
            self.cookie_threshold as u64,
            0,
            self.max_half_open as u64,
        )?;
        let a = &self.admission;
        check(
            "admission.under_load_init_rate",
            u64::from(a.under_load_init_rate),
            1,
            1 << 24,
        )?;
        check(
            "admission.source_rate",
            u64::from(a.source_rate),
            1,
            1 << 20,
        )?;
        check(
            "admission.source_burst",
            u64::from(a.source_burst),
            1,
            1 << 20,
        )?;
        check("admission.source_slots", a.source_slots as u64, 1, 1 << 20)?;
        check(
            "admission.replay_capacity",
            a.replay_capacity as u64,
            1,
            1 << 20,
        )?;
        check("max_endpoints", self.max_endpoints as u64, 0, 1 << 16)?;
        check(
            "max_endpoint_queue",
            self.max_endpoint_queue as u64,
            1,
            1 << 24,
        )?;
        self.rendezvous.validate()?;
        self.transport.validate()
    }
}

/// Rendezvous and relay (PROTOCOL.md §12). A member's side (registering, punching,
/// relayed paths) needs nothing switched on; `serve` makes this node a rendezvous and
/// relay for other members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RendezvousConfig {
    /// Serve as rendezvous and relay. Off (the default): every request is answered
    /// NOT_SERVED and relay datagrams are dropped.
    pub serve: bool,
    /// Most members registered at once.
    pub max_registrations: usize,
    /// Most relay routes at once (two per relayed pair).
    pub max_routes: usize,
    /// Most relay routes one registered session may own.
    pub max_routes_per_peer: usize,
    /// Bytes per second the relay forwards for one route-owning session (burst: one
    /// second's worth). Default 12.5 MB/s (100 Mbit/s).
    pub per_peer_rate: u64,
    /// Bytes per second the relay forwards in total (burst: one second's worth).
    /// Default 125 MB/s (1 Gbit/s).
    pub total_rate: u64,
    /// Forwarded datagrams waiting for `poll_transmit` at most; more are dropped.
    pub forward_queue: usize,
    /// Member side: try a direct path (PROTOCOL.md §12.4). Off: this node's relayed
    /// sessions stay relayed (it neither probes nor answers probes).
    pub punch: bool,
    /// Member side: wait between punch probes within one round.
    pub punch_interval: Duration,
    /// Member side: probes per round.
    pub punch_attempts: u32,
    /// Member side: wait before another round of probes while the session is relayed.
    pub reprobe_interval: Duration,
    /// Member side: consecutive probe timeouts on a direct path after which a session
    /// with a relayed standby path moves back to it.
    pub fallback_ptos: u32,
}

impl Default for RendezvousConfig {
    fn default() -> Self {
        Self {
            serve: false,
            max_registrations: 4096,
            max_routes: 2048,
            max_routes_per_peer: 16,
            per_peer_rate: 12_500_000,
            total_rate: 125_000_000,
            forward_queue: 4096,
            punch: true,
            punch_interval: Duration::from_millis(100),
            punch_attempts: 10,
            reprobe_interval: Duration::from_secs(5),
            fallback_ptos: 3,
        }
    }
}

impl RendezvousConfig {
    /// Checks every field against its allowed range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        check(
            "rendezvous.max_registrations",
            self.max_registrations as u64,
            0,
            1 << 24,
        )?;
        check("rendezvous.max_routes", self.max_routes as u64, 0, 1 << 24)?;
        check(
            "rendezvous.max_routes_per_peer",
            self.max_routes_per_peer as u64,
            0,
            1 << 16,
        )?;
        check("rendezvous.per_peer_rate", self.per_peer_rate, 1, 1 << 40)?;
        check("rendezvous.total_rate", self.total_rate, 1, 1 << 40)?;
        check(
            "rendezvous.forward_queue",
            self.forward_queue as u64,
            1,
            1 << 20,
        )?;
        check(
            "rendezvous.punch_interval_ms",
            ms(self.punch_interval),
            1,
            60_000,
        )?;
        check(
            "rendezvous.punch_attempts",
            u64::from(self.punch_attempts),
            1,
            1000,
        )?;
        check(
            "rendezvous.reprobe_interval_ms",
            ms(self.reprobe_interval),
            10,
            86_400_000,
        )?;
        check(
            "rendezvous.fallback_ptos",
            u64::from(self.fallback_ptos),
            1,
            30,
        )
    }
}

/// INIT admission limits under a flood (PROTOCOL.md §5.7.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionConfig {
    /// INITs per one-second window that reach the Diffie-Hellman stage (members' fresh
    /// INITs; garbage, replays and retransmissions are not counted) from which the
    /// responder is under load (cookies required). The default is above what one core
    /// computes (each handshake costs the responder four X25519 operations; the
    /// versus_quinn bench reaches about 8,000 handshakes/s on 2 cores, clients included):
    /// a device that computes fewer should lower it.
    pub under_load_init_rate: u32,
    /// INITs per second each source may have admitted to the costly stages.
    pub source_rate: u32,
    /// Burst of INITs a source may have admitted at once.
    pub source_burst: u32,
    /// Token buckets kept (sources share one when their keyed hashes collide).
    pub source_slots: usize,
    /// INIT ephemerals the replay filter holds per generation (two generations).
    pub replay_capacity: usize,
}

impl Default for AdmissionConfig {
    fn default() -> Self {
        Self {
            under_load_init_rate: 20_000,
            source_rate: 256,
            source_burst: 512,
            source_slots: 4096,
            replay_capacity: 4096,
        }
    }
}
