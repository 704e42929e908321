//! What a session's loss recovery, congestion control and flow control did, as
//! [`Metric`]s for traces and plots (drained with `Node::poll_metric` as `event::MetricRecord`s).
//!
//! Only produced while `TransportConfig::metrics` is on: with it off no session holds a
//! metrics log and every hook is one untaken branch. This module holds the vocabulary
//! only; the session records (`session::metrics`), adapters and the simulator write
//! them out (`stt-trace`, schema in docs/ARCHITECTURE.md "Traces").

use core::time::Duration;

use crate::frame::StreamId;

/// A change in a session's recovery, congestion or flow-control state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// Congestion and RTT state, recorded whenever one of its figures changed after an
    /// ACK, a loss or a send.
    Recovery(RecoverySample),
    /// A packet was declared lost.
    PacketLost {
        /// Its packet number.
        packet_number: u64,
        /// Its size on the wire, bytes.
        bytes: u64,
        /// False when it was sent on a path the session has since left: resent, but not
        /// taken as congestion.
        congestion: bool,
    },
    /// A packet declared lost was acknowledged after all (reordering, not loss).
    SpuriousLoss {
        /// Spurious losses in this session so far.
        total: u64,
    },
    /// The window was cut for congestion.
    CongestionEvent {
        /// The window after the cut, bytes.
        window: u64,
        /// The lost span was longer than three PTOs (RFC 9002 §7.6): the window collapsed.
        persistent: bool,
    },
    /// A probe timeout fired.
    ProbeTimeout {
        /// Consecutive probe timeouts, this one included.
        count: u32,
    },
    /// Stream bytes went into a packet or were acknowledged.
    StreamData {
        /// The stream.
        stream: StreamId,
        /// Stream offset of the first byte.
        offset: u64,
        /// Bytes.
        len: u64,
        /// Sent the first time, sent again, or acknowledged.
        kind: DataKind,
    },
    /// A flow-control limit stopped a sender.
    FlowBlocked {
        /// The stream whose limit it is; `None` for the session-wide limit.
        stream: Option<StreamId>,
        /// The limit reached, bytes.
        limit: u64,
        /// True when the peer reported being blocked by our limit; false when this
        /// side is blocked by the peer's.
        peer: bool,
    },
    /// What held this side's sending back, whenever that changed.
    SendLimit(SendLimit),
}

/// Congestion and RTT figures of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecoverySample {
    /// Congestion window, bytes.
    pub cwnd: u64,
    /// Bytes in flight.
    pub bytes_in_flight: u64,
    /// Smoothed RTT.
    pub smoothed_rtt: Duration,
    /// Lowest RTT seen.
    pub min_rtt: Duration,
    /// Latest RTT sample.
    pub latest_rtt: Duration,
    /// The pacer's rate, bytes per second (0 with pacing off).
    pub pacing_rate: u64,
}

/// How stream bytes appear in a [`Metric::StreamData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// Sent for the first time.
    Sent,
    /// Sent again after a loss or for a probe.
    Resent,
    /// Acknowledged by the peer.
    Acked,
}

/// What keeps a session from sending more, as seen when it last tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendLimit {
    /// It is sending.
    Sending,
    /// The congestion window is full.
    Congestion,
    /// The pacer holds the next packet back.
    Pacing,
    /// Stream data waits for the peer's flow-control credit.
    FlowControl,
    /// Nothing to send: the application has not written more.
    Application,
}

impl SendLimit {
    /// A short stable name for traces.
    pub fn name(self) -> &'static str {
        match self {
            SendLimit::Sending => "sending",
            SendLimit::Congestion => "congestion",
            SendLimit::Pacing => "pacing",
            SendLimit::FlowControl => "flow_control",
            SendLimit::Application => "application",
        }
    }
}

impl DataKind {
    /// A short stable name for traces.
    pub fn name(self) -> &'static str {
        match self {
            DataKind::Sent => "sent",
            DataKind::Resent => "resent",
            DataKind::Acked => "acked",
        }
    }
}
