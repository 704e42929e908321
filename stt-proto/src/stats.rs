//! Node-wide counters ([`NodeStats`]): what arrived, what was dropped and why.
//!
//! A leaf module: the node and its sessions both count into it, so it imports nothing
//! of the protocol.

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
    /// Metric records dropped because nobody called [`crate::Node::poll_metric`] for
    /// [`crate::config::MAX_QUEUED_METRICS`] records.
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
    /// Handshakes completed in hybrid mode (X25519 + ML-KEM-768), either side
    /// (PROTOCOL.md §5.7.10).
    pub handshakes_hybrid: u64,
    /// Handshakes completed in classic mode (X25519 only), either side.
    pub handshakes_classic: u64,
    /// Hybrid INIT fragments refused before buffering: bad size, header or MAC (a
    /// non-member's fragments never reach the reassembly table).
    pub hybrid_fragments_dropped: u64,
    /// Half-reassembled hybrid INITs evicted from the full reassembly table.
    pub hybrid_reassembly_evicted: u64,
    /// REFUSE replies sent (mode negotiation, §5.7.10).
    pub refusals_sent: u64,
    /// Classic INITs refused because this node requires hybrid.
    pub refused_classic: u64,
    /// Classic INITs refused as a downgrade (they said our hybrid had been refused).
    pub refused_downgrade: u64,
    /// REFUSE replies received that changed a handshake (fallback or typed failure).
    pub refusals_received: u64,
    /// Relay: datagrams forwarded (PROTOCOL.md §12.3).
    pub relay_forwarded_packets: u64,
    /// Relay: bytes forwarded (whole relay datagrams).
    pub relay_forwarded_bytes: u64,
    /// Relay: datagrams dropped by the per-peer or total byte rate (§12.7).
    pub relay_dropped_rate: u64,
    /// Relay datagrams naming no route here (or malformed, or this node relays nothing).
    pub relay_dropped_unknown_route: u64,
    /// Relay datagrams that did not come from the path the route is bound to.
    pub relay_dropped_wrong_source: u64,
    /// Relay: datagrams dropped because the forwarding queue was full, or (a caller's
    /// error) `poll_transmit`'s buffer was too small to take one.
    pub relay_dropped_queue_full: u64,
    /// Relay datagrams dropped because the session they were to go out on has no proven
    /// network path (PROTOCOL.md §12.3): its current path is unvalidated, with nothing
    /// to fall back to, or is itself relayed.
    pub relay_dropped_unproven: u64,
    /// Relay: RDV_CONNECT requests refused by a route limit.
    pub relay_routes_refused: u64,
    /// Rendezvous: RDV_REGISTER requests accepted.
    pub rendezvous_registered: u64,
    /// Rendezvous: RDV_LOOKUP requests answered.
    pub rendezvous_lookups: u64,
    /// Member side: introductions (RDV_PEER) dropped because they came on a session
    /// where this node neither registered nor asked for that peer (PROTOCOL.md §12.2).
    pub rendezvous_unsolicited: u64,
    /// Member side: relay datagrams received on this node's routes and unwrapped.
    pub relayed_received: u64,
}
