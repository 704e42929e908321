//! Per-session statistics: plain counters the session bumps and the API copies out.

use core::time::Duration;

/// Counters and estimates for one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Smoothed round-trip time.
    pub rtt: Duration,
    /// Lowest RTT seen.
    pub min_rtt: Duration,
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Bytes in flight, bytes.
    pub bytes_in_flight: u64,
    /// Packets sent.
    pub packets_sent: u64,
    /// Packets received and authenticated.
    pub packets_received: u64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Of those, the ack-eliciting ones sent on the path in use, which count as
    /// congestion (losses of packets sent before a path change do not).
    pub congestion_losses: u64,
    /// Bytes sent on the wire.
    pub bytes_sent: u64,
    /// Bytes received on the wire (authenticated packets).
    pub bytes_received: u64,
    /// Stream bytes sent again after a loss.
    pub bytes_retransmitted: u64,
    /// Stream bytes delivered to the application.
    pub stream_bytes_read: u64,
    /// Streams currently open.
    pub streams_open: u64,
    /// Datagrams dropped (queue full, congestion, too old).
    pub datagrams_dropped: u64,
    /// Probe timeouts that fired.
    pub pto_count: u64,
    /// Key updates completed.
    pub key_updates: u64,
    /// Re-handshakes agreed (a fresh DH installed; PROTOCOL.md §6.7).
    pub rekeys: u64,
}
