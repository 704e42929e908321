//! The invariants checked on every run and the typed violations they raise.
//!
//! Checks run as the world observes events (each read is compared with what was
//! written, each wire datagram is scanned for plaintext, node bounds after each step)
//! and once at the end (no silent loss, expected outcomes). This module only names the
//! failures; the world detects them.

use std::time::Duration;

/// A broken invariant, with enough context to find it in the trace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// A reliable stream delivered bytes that differ from what was written there
    /// (corruption, reordering, duplication or a forged stream).
    #[error("stream {key}: wrong bytes delivered at offset {offset} (node {node})")]
    WrongBytes {
        /// Oracle key of the stream.
        key: u64,
        /// Stream offset of the first bad chunk.
        offset: u64,
        /// Receiving node.
        node: usize,
    },
    /// A stream arrived whose header names no stream the peer wrote.
    #[error("node {node} accepted a stream no peer wrote (header {header:02x?})")]
    ForgedStream {
        /// Receiving node.
        node: usize,
        /// The header bytes seen.
        header: Vec<u8>,
    },
    /// A stream ended (FIN) before all written bytes arrived, or delivered too many.
    #[error("stream {key}: FIN after {got} of {written} bytes")]
    BadFin {
        /// Oracle key.
        key: u64,
        /// Bytes read.
        got: u64,
        /// Bytes written.
        written: u64,
    },
    /// Written bytes were neither delivered nor reported as an error to both
    /// applications.
    #[error(
        "stream {key}: silent loss, {got} of {written} bytes delivered, sender session {sender}, receiver session {receiver}"
    )]
    SilentLoss {
        /// Oracle key.
        key: u64,
        /// Bytes read.
        got: u64,
        /// Bytes written.
        written: u64,
        /// How the sender session ended.
        sender: String,
        /// How the receiver session ended.
        receiver: String,
    },
    /// A datagram arrived that was never sent, or arrived twice.
    #[error("node {node}: datagram ({track}, {seq}) forged or duplicated")]
    BadDatagram {
        /// Receiving node.
        node: usize,
        /// Sender session.
        track: u32,
        /// Sequence.
        seq: u32,
    },
    /// A session with a node that does not hold the shared seed was established, or
    /// delivered data.
    #[error("node {node} established a session with non-member node {peer}")]
    NonMemberAdmitted {
        /// The node that accepted.
        node: usize,
        /// The stranger.
        peer: usize,
    },
    /// A connected session's peer is not a node of the simulation.
    #[error("node {node} connected to an unknown peer id")]
    UnknownPeer {
        /// The node.
        node: usize,
    },
    /// Application plaintext appeared in a datagram on the wire.
    #[error("plaintext canary on the wire from node {node} ({len} bytes)")]
    Plaintext {
        /// Sender.
        node: usize,
        /// Datagram length.
        len: usize,
    },
    /// A node exceeded a configured memory bound.
    #[error("node {node}: {what} = {value} exceeds bound {bound}")]
    Memory {
        /// The node.
        node: usize,
        /// Which bound.
        what: &'static str,
        /// Observed.
        value: u64,
        /// Configured.
        bound: u64,
    },
    /// A client plan did not reach its expected outcome.
    #[error("node {node} plan {plan}: expected {expected}, got {got}")]
    Outcome {
        /// The client node.
        node: usize,
        /// Plan index on that node.
        plan: usize,
        /// What was expected.
        expected: String,
        /// What happened.
        got: String,
    },
    /// One side's session ended with an error but the other side's application never
    /// heard of it.
    #[error(
        "session {track} on node {node} still open although its peer session ended ({peer_end})"
    )]
    HalfOpen {
        /// The node with the lingering session.
        node: usize,
        /// Sim session id.
        track: usize,
        /// How the peer's session ended.
        peer_end: String,
    },
    /// The engine kept asking for a timer at the same instant without progress.
    #[error("node {node}: timer fired {count} times at t={at:?} without time advancing")]
    TimerLoop {
        /// The node.
        node: usize,
        /// Virtual time.
        at: Duration,
        /// Consecutive firings.
        count: u64,
    },
    /// An application primitive misbehaved: a routed message or custom frame lost,
    /// forged or delivered twice, a fetch with wrong bytes or a wrong outcome.
    #[error("node {node}: {what}")]
    App {
        /// The node that noticed.
        node: usize,
        /// What went wrong.
        what: String,
    },
    /// At the end of a run that moved nodes, a session is not alive, does not send to
    /// its peer's current address, or never had that address validated.
    #[error("node {node} session {track}: {what}")]
    StalePath {
        /// The node holding the session.
        node: usize,
        /// Sim session id.
        track: usize,
        /// What is wrong.
        what: String,
    },
    /// A node sent more than 3× the bytes an address delivered to it to that address,
    /// which it had not proven (anti-amplification, PROTOCOL.md §4.4).
    #[error(
        "node {node} sent {sent} bytes to unproven address {path}, which delivered only {received}"
    )]
    Amplification {
        /// The sender.
        node: usize,
        /// The address (a sim address, the engine's `PathId`).
        path: u64,
        /// Bytes sent there.
        sent: u64,
        /// Bytes received from there.
        received: u64,
    },
    /// A node reported an address validated before any round trip through it could
    /// have completed (its challenge cannot have come back).
    #[error("node {node} validated address {path} before a round trip through it")]
    ValidatedTooSoon {
        /// The node.
        node: usize,
        /// The address.
        path: u64,
    },
    /// A session heard nothing from its peer's node for longer than its idle timeout
    /// allows (`world/live_checks.rs`) and is still open: the timer did not fire.
    #[error(
        "node {node} session {track}: still open after {silent:?} without a packet from its peer"
    )]
    IdleNotFired {
        /// The node.
        node: usize,
        /// Sim session id.
        track: usize,
        /// Silence so far.
        silent: Duration,
    },
    /// A receiver holds more than it advertised (per stream or per session) or lets
    /// the peer open more streams than it allowed, by its own counters.
    #[error("node {node} session {track}: {what} = {held} beyond the advertised {advertised}")]
    FlowOverrun {
        /// The receiving node.
        node: usize,
        /// Sim session id.
        track: usize,
        /// Which limit (`"session data"`, `"stream N data"`, `"peer streams"`).
        what: String,
        /// What it holds.
        held: u64,
        /// What it advertised.
        advertised: u64,
    },
    /// A session declared many packets lost as congestion and its congestion window
    /// never shrank (a controller that does not react to loss).
    #[error(
        "node {node} session {track}: {lost} packets declared lost as congestion, window never reduced"
    )]
    WindowNeverReduced {
        /// The sending node.
        node: usize,
        /// Sim session id.
        track: usize,
        /// Packets it declared lost.
        lost: u64,
    },
    /// A node sent two protected packets with the same packet number to one session:
    /// the AEAD nonce repeated under one key (PROTOCOL.md §6.3).
    #[error("node {node}: packet number {sequence} sent twice to session {session_id:016x}")]
    NonceReuse {
        /// The sender.
        node: usize,
        /// The receiver's session id in the header.
        session_id: u64,
        /// The header's sequence (low 32 bits of the packet number).
        sequence: u32,
    },
    /// The engine or the simulator panicked.
    #[error("panic: {0}")]
    Panic(String),
}
