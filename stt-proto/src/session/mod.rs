//! One session's state machine: handshaking → established → closing/draining → closed
//! (diagram in docs/ARCHITECTURE.md). This file holds the session's state, its
//! construction and its life-cycle calls; the rest is split by concern: `recv.rs` (the
//! receive path and frame dispatch), `send.rs` (packet assembly), `acks.rs` (ACKs and
//! loss), `timers.rs`, `paths.rs` (path validation and migration), `streams/`,
//! `messages.rs` and `fetch.rs` (application messages and storage), `calls.rs` (the
//! application calls on them), `keys.rs` / `rekey.rs` (key updates and re-handshakes),
//! `control.rs`, `params.rs`, `stats.rs`, `metrics.rs`.
//!
//! A session never routes datagrams (the node does) and never reads a clock: every
//! entry point takes `now`. Its fields are private to this folder: the node goes through
//! methods.

mod acks;
mod calls;
mod control;
mod fetch;
mod keys;
mod messages;
mod metrics;
mod params;
mod paths;
mod punch;
mod recv;
mod rekey;
mod send;
mod stats;
mod streams;
#[cfg(feature = "test-hooks")]
mod test_hooks;
mod timers;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::Bytes;
use core::time::Duration;

use crate::config::NodeConfig;
use crate::congestion::{Controller, Pacer};
use crate::crypto::PacketProtection;
use crate::error::SessionError;
use crate::event::Event;
use crate::frame::{Dir, ErrorCode, SessionId, Side, StreamId};
use crate::handshake::{Established, Initiator};
use crate::identity::NodeId;
use crate::ids::{PathId, SessionHandle};
use crate::recovery::{AckTracker, RttEstimator, SentPackets};
use crate::time::Instant;

pub(crate) use calls::NodeServices;
pub(crate) use control::Control;
pub(crate) use fetch::Answer;
#[cfg(feature = "test-hooks")]
pub(crate) use fetch::Fetches;
pub(crate) use messages::{Inbound, Messages};
pub use params::{MAX_PARAMS_LEN, TransportParams};
pub(crate) use paths::{PathState, Probe};
pub use stats::SessionStats;
pub(crate) use streams::{StreamLimits, Streams};
#[cfg(feature = "test-hooks")]
pub use test_hooks::FlowAudit;

pub(crate) use fetch::DataOutcome;
use send::PacketInfo;
pub(crate) use send::max_datagram_payload;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Initiator waiting for CHALLENGE.
    Handshaking,
    /// Keys are up; data flows.
    Established,
    /// We sent DISCONNECT; answer stragglers with it until `until`.
    Closing { until: Instant },
    /// The peer sent DISCONNECT; stay silent until `until`.
    Draining { until: Instant },
    /// Gone; the node frees the slot.
    Closed,
}

/// Initiator-side handshake progress.
#[derive(Clone)]
pub(crate) struct HandshakeProgress {
    initiator: Box<Initiator>,
    deadline: Instant,
    next_send: Instant,
    rto: Duration,
    /// The INIT datagram to send next within one transmission (a hybrid INIT is two
    /// fragments, sent back to back); 0 when none is pending.
    next_part: usize,
}

/// Everything that exists once keys are established.
#[derive(Clone)]
pub(crate) struct Conn {
    record: PacketProtection,
    peer_session: SessionId,
    peer: NodeId,
    /// The peer's stateless-reset token for `peer_session` (PROTOCOL.md §5.7.7).
    peer_reset_token: [u8; 16],
    /// The handshake was hybrid (X25519 + ML-KEM-768, PROTOCOL.md §5.7.10).
    hybrid: bool,
    peer_params: TransportParams,
    /// Initiator: a protected packet from the responder arrived. Responder: always.
    confirmed: bool,
    /// Responder: one of our CONFIRM packets was acknowledged.
    confirm_acked: bool,
    /// Initiator: when to resend RESPONSE while unconfirmed.
    response_resend: Option<(Instant, Duration)>,
    /// Initiator: the RESPONSE packet, kept for retransmission while unconfirmed.
    response_bytes: Option<Vec<u8>>,
    sent: SentPackets<PacketInfo>,
    acks: AckTracker,
    rtt: RttEstimator,
    cc: Box<dyn Controller>,
    pacer: Pacer,
    /// Set while pacing holds a packet back: when it may go.
    pacer_next: Option<Instant>,
    streams: Streams,
    control: VecDeque<Control>,
    datagrams_out: VecDeque<Bytes>,
    datagrams_out_bytes: usize,
    datagrams_in: VecDeque<Bytes>,
    datagrams_in_bytes: usize,
    max_datagram_out: usize,
    idle_timeout: Duration,
    last_activity: Instant,
    /// An ack-eliciting packet went out since the last packet arrived (RFC 9000 §10.1:
    /// only the first such packet restarts the idle timer).
    eliciting_since_recv: bool,
    last_eliciting_sent: Instant,
    probes_pending: u8,
    /// A congestion event just cut the window: one packet may still go (RFC 9002 §7.3.2).
    recovery_send: bool,
    /// The last transmit found nothing to send while under half the window was in use
    /// (RFC 9002 §7.8): ACKs then must not grow the window.
    app_limited: bool,
    keepalive_pending: bool,
    /// Application messages and storage fetches; created on first use.
    messages: Option<Box<Messages>>,
    /// The next packet prefers storage data over stream data (they alternate).
    storage_turn: bool,
    close_frame: Option<(ErrorCode, Vec<u8>)>,
    close_sent: bool,
    next_key_update: Option<Instant>,
    /// Initiator: when the next re-handshake is due (PROTOCOL.md §6.7).
    rekey_at: Option<Instant>,
    /// Re-handshake progress; created on first use.
    rekey: Option<Box<rekey::Rekey>>,
    scratch: Vec<(u64, crate::recovery::SentPacket<PacketInfo>)>,
    /// The first packet number sent on the current path: losses of earlier packets
    /// (sent on a path the session has left) are not taken as congestion here.
    path_first_pn: u64,
    /// Metrics not yet taken by the node, while `TransportConfig::metrics` is on.
    metrics: Option<Box<metrics::MetricsLog>>,
}

/// A session slot: one peer, one key schedule.
#[derive(Clone)]
pub(crate) struct Session {
    handle: SessionHandle,
    local_id: SessionId,
    side: Side,
    phase: Phase,
    /// The path packets go to; unvalidated while `probe` is pending.
    path: PathState,
    /// The challenge proving `path`, while it is unvalidated. Boxed: a path is
    /// validated rarely, and idle sessions should stay small.
    probe: Option<Box<Probe>>,
    /// The last validated path, kept while `path` is unvalidated: a newest packet
    /// arriving there moves the session back without a new validation.
    fallback: Option<PathId>,
    /// A PATH_CHALLENGE to answer: the path it arrived on and its data.
    path_response: Option<(PathId, [u8; 8])>,
    /// The path this side moved away from by its own choice ([`Session::migrate`]):
    /// late packets arriving on it are processed but never pull the session back.
    left_path: Option<PathId>,
    /// The relayed path a session that started on one keeps (PROTOCOL.md §12.5): it
    /// moves back there when a direct path dies, and packets arriving there always count.
    standby: Option<PathId>,
    /// The direct path being punched toward, while relayed (PROTOCOL.md §12.4). Boxed:
    /// only relayed sessions have one.
    punch: Option<Box<punch::Punch>>,
    handshake: Option<HandshakeProgress>,
    conn: Option<Box<Conn>>,
    stats: SessionStats,
    error: Option<SessionError>,
    events: VecDeque<Event>,
}

impl Session {
    /// A new initiator-side session that will send INIT.
    pub(crate) fn new_initiator(
        handle: SessionHandle,
        local_id: SessionId,
        path: PathId,
        initiator: Initiator,
        now: Instant,
        config: &NodeConfig,
    ) -> Self {
        Self {
            handle,
            local_id,
            side: Side::Initiator,
            phase: Phase::Handshaking,
            path: PathState::new(path, true),
            probe: None,
            fallback: None,
            path_response: None,
            left_path: None,
            standby: path.is_relayed().then_some(path),
            punch: None,
            handshake: Some(HandshakeProgress {
                initiator: Box::new(initiator),
                deadline: now + config.handshake_timeout,
                next_send: now,
                rto: config.handshake_retransmit,
                next_part: 0,
            }),
            conn: None,
            stats: SessionStats::default(),
            error: None,
            events: VecDeque::new(),
        }
    }

    /// A responder-side session right after RESPONSE authenticated.
    pub(crate) fn new_responder(
        handle: SessionHandle,
        local_id: SessionId,
        path: PathId,
        est: Established,
        now: Instant,
        config: &NodeConfig,
    ) -> Result<Self, SessionError> {
        let mut s = Self {
            handle,
            local_id,
            side: Side::Responder,
            phase: Phase::Established,
            path: PathState::new(path, true),
            probe: None,
            fallback: None,
            path_response: None,
            left_path: None,
            standby: path.is_relayed().then_some(path),
            punch: None,
            handshake: None,
            conn: None,
            stats: SessionStats::default(),
            error: None,
            events: VecDeque::new(),
        };
        s.establish(est, now, config)?;
        Ok(s)
    }

    fn establish(
        &mut self,
        est: Established,
        now: Instant,
        config: &NodeConfig,
    ) -> Result<(), SessionError> {
        let t = &config.transport;
        let peer_params = TransportParams::decode(&est.peer_params)
            .map_err(|_| SessionError::ProtocolViolation(ErrorCode::HANDSHAKE_FAILURE))?;
        let ms = |v: u64| Duration::from_millis(v);
        let idle_timeout = match peer_params.idle_timeout_ms {
            0 => t.idle_timeout,
            v => t.idle_timeout.min(ms(v)),
        };
        let limits = StreamLimits {
            local_stream_window: t.stream_receive_window,
            max_local_stream_window: t.max_stream_receive_window,
            local_window: t.receive_window,
            max_local_window: t.max_receive_window,
            local_max_streams: [t.max_streams_bidi, t.max_streams_uni],
            peer_stream_window: peer_params.max_stream_data,
            peer_max_data: peer_params.max_data,
            peer_max_streams: [peer_params.max_streams_bidi, peer_params.max_streams_uni],
            send_buffer: t.send_buffer,
            session_send_buffer: t.session_send_buffer,
        };
        let mtu = u16::try_from(config.max_packet_size).unwrap_or(u16::MAX);
        let max_datagram_out = send::max_datagram_payload(config.max_packet_size)
            .min(usize::try_from(peer_params.max_datagram).unwrap_or(usize::MAX));
        let confirmed = self.side == Side::Responder;
        let cc = t.congestion.build(now, mtu);
        let conn = Conn {
            record: est.record,
            peer_session: est.peer_session,
            peer: est.peer,
            peer_reset_token: est.peer_reset_token,
            hybrid: est.hybrid,
            peer_params,
            confirmed,
            confirm_acked: false,
            response_resend: None,
            response_bytes: None,
            sent: SentPackets::default(),
            acks: AckTracker::default(),
            rtt: {
                let mut rtt = RttEstimator::new(t.initial_rtt);
                rtt.set_max_ack_delay(Some(ms(peer_params.max_ack_delay_ms)));
                rtt
            },
            pacer: Pacer::new(t.initial_rtt, cc.window(), mtu, now),
            cc,
            pacer_next: None,
            streams: Streams::new(self.side, limits),
            control: VecDeque::new(),
            datagrams_out: VecDeque::new(),
            datagrams_out_bytes: 0,
            datagrams_in: VecDeque::new(),
            datagrams_in_bytes: 0,
            max_datagram_out,
            idle_timeout,
            last_activity: now,
            eliciting_since_recv: false,
            last_eliciting_sent: now,
            probes_pending: 0,
            recovery_send: false,
            app_limited: false,
            // The responder confirms at once with an ack-eliciting CONFIRM packet.
            keepalive_pending: self.side == Side::Responder,
            messages: None,
            storage_turn: false,
            close_frame: None,
            close_sent: false,
            next_key_update: t.key_update_interval.map(|d| now + d),
            rekey_at: rekey::first_rekey(t, self.side, now),
            rekey: None,
            scratch: Vec::new(),
            path_first_pn: 0,
            metrics: t.metrics.then(Box::default),
        };
        let mut conn = conn;
        conn.refresh_key_retention(t.max_ack_delay);
        self.phase = Phase::Established;
        self.handshake = None;
        self.events.push_back(Event::Connected {
            session: self.handle,
            peer: conn.peer,
            initiator: self.side == Side::Initiator,
        });
        self.conn = Some(Box::new(conn));
        Ok(())
    }

    /// The handle naming this session.
    pub(crate) fn handle(&self) -> SessionHandle {
        self.handle
    }

    /// This side's session id (the one the peer addresses packets to).
    pub(crate) fn local_id(&self) -> SessionId {
        self.local_id
    }

    /// Whether the session's handshake was hybrid (false until established).
    pub(crate) fn is_hybrid(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.hybrid)
    }

    /// True while the initiator waits for CHALLENGE.
    pub(crate) fn is_handshaking(&self) -> bool {
        self.phase == Phase::Handshaking
    }

    /// True once the session is gone and its slot may be freed.
    pub(crate) fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// The path packets go to.
    pub(crate) fn path_id(&self) -> PathId {
        self.path.id
    }

    /// The path last proven to reach the peer: the current one once validated, else the
    /// one the session is proving a move from. A spoofed or replayed packet moves the
    /// current path before it is proven (PROTOCOL.md §4.4), so bytes that are not the
    /// session's own (relayed datagrams, §12.3) go here, never to an unproven address.
    pub(crate) fn proven_path(&self) -> Option<PathId> {
        if self.path.validated {
            Some(self.path.id)
        } else {
            self.fallback
        }
    }

    /// Whether the current path is proven.
    pub(crate) fn path_validated(&self) -> bool {
        self.path.validated
    }

    /// Counts stream bytes the application read.
    pub(crate) fn note_stream_read(&mut self, bytes: usize) {
        self.stats.stream_bytes_read += bytes as u64;
    }

    /// True if an [`Event::Connected`] is among the events not yet taken.
    pub(crate) fn just_connected(&self) -> bool {
        self.events
            .iter()
            .any(|e| matches!(e, Event::Connected { .. }))
    }

    /// Takes the queued events (the queue itself, so an idle session keeps no buffer).
    pub(crate) fn take_events(&mut self) -> VecDeque<Event> {
        core::mem::take(&mut self.events)
    }

    /// Hands each metric record not yet taken to `f` (while metrics are on).
    pub(crate) fn drain_metrics(&mut self, mut f: impl FnMut(Instant, crate::metrics::Metric)) {
        if let Some(log) = self.conn.as_mut().and_then(|c| c.metrics.as_mut()) {
            for (time, metric) in log.records.drain(..) {
                f(time, metric);
            }
        }
    }

    /// The peer's session id for this session, once established.
    pub(crate) fn peer_session(&self) -> Option<SessionId> {
        self.conn.as_ref().map(|c| c.peer_session)
    }

    /// Whether a RESET naming `id` with `token` comes from this session's peer
    /// (constant-time token comparison, PROTOCOL.md §5.7.7).
    pub(crate) fn reset_is_genuine(&self, id: SessionId, token: &[u8; 16]) -> bool {
        self.conn.as_ref().is_some_and(|c| {
            c.peer_session == id
                && bool::from(subtle::ConstantTimeEq::ct_eq(
                    &c.peer_reset_token[..],
                    &token[..],
                ))
        })
    }

    /// The peer reset the session: it ends at once with [`SessionError::Reset`].
    pub(crate) fn on_reset(&mut self) {
        self.error.get_or_insert(SessionError::Reset);
        self.terminate(SessionError::Reset);
    }

    /// Rendezvous frames waiting for the node (PROTOCOL.md §12.2).
    pub(crate) fn take_rendezvous(&mut self) -> Vec<crate::rendezvous::RdvInbound> {
        self.conn
            .as_mut()
            .and_then(|c| c.messages.as_mut())
            .map(|m| core::mem::take(&mut m.rendezvous))
            .unwrap_or_default()
    }

    /// The peer's id, once authenticated.
    pub(crate) fn peer(&self) -> Option<NodeId> {
        self.conn.as_ref().map(|c| c.peer)
    }

    /// True if the session can carry application data.
    pub(crate) fn is_established(&self) -> bool {
        self.phase == Phase::Established && self.conn.is_some()
    }

    /// True while a local close's DISCONNECT has not been sent yet.
    fn close_unsent(&self) -> bool {
        matches!(self.phase, Phase::Closing { .. })
            && self
                .conn
                .as_ref()
                .is_some_and(|c| c.close_frame.is_some() && !c.close_sent)
    }

    /// Why the session is closing or closed, once that is decided.
    pub(crate) fn close_reason(&self) -> Option<SessionError> {
        if self.is_established() {
            return None;
        }
        self.error.clone()
    }

    /// Ends the session now, with an event, without sending anything.
    pub(crate) fn terminate(&mut self, reason: SessionError) {
        if self.phase == Phase::Closed {
            return;
        }
        self.phase = Phase::Closed;
        if let Some(c) = self.conn.as_mut() {
            c.sent.clear();
        }
        self.events.push_back(Event::Closed {
            session: self.handle,
            reason: self.error.clone().unwrap_or(reason),
        });
    }

    /// Starts a local close: DISCONNECT goes out, then the session lingers 3 PTO.
    pub(crate) fn close(&mut self, now: Instant, code: ErrorCode, reason: &[u8]) {
        match self.phase {
            Phase::Established => {}
            Phase::Handshaking => {
                self.error = Some(SessionError::LocallyClosed { code });
                self.terminate(SessionError::LocallyClosed { code });
                return;
            }
            _ => return,
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let reason = &reason[..reason.len().min(crate::frame::MAX_REASON_LEN)];
        conn.close_frame = Some((code, reason.to_vec()));
        conn.close_sent = false;
        let linger = conn.rtt.pto_base() * 3;
        self.phase = Phase::Closing {
            until: now + linger,
        };
        if self.error.is_none() {
            self.error = Some(if code == ErrorCode::NO_ERROR || code.is_application() {
                SessionError::LocallyClosed { code }
            } else {
                SessionError::ProtocolViolation(code)
            });
        }
    }

    /// Copies statistics out, refreshed with live estimates.
    pub(crate) fn stats(&self) -> SessionStats {
        let mut s = self.stats;
        if let Some(c) = self.conn.as_ref() {
            s.rtt = c.rtt.smoothed_rtt();
            s.min_rtt = c.rtt.min_rtt();
            s.cwnd = c.cc.window();
            s.bytes_in_flight = c.sent.bytes_in_flight();
            s.streams_open = c.streams.open_count() as u64;
        }
        s
    }

    /// Largest datagram payload `send_datagram` accepts now.
    pub(crate) fn max_datagram(&self) -> usize {
        self.conn.as_ref().map_or(0, |c| c.max_datagram_out)
    }

    /// Queues a datagram, dropping the oldest queued ones past the buffer limit.
    pub(crate) fn send_datagram(&mut self, data: Bytes, limit: usize) -> bool {
        let Some(conn) = self.conn.as_mut() else {
            return false;
        };
        conn.datagrams_out_bytes += data.len();
        conn.datagrams_out.push_back(data);
        while conn.datagrams_out_bytes > limit {
            match conn.datagrams_out.pop_front() {
                Some(old) => {
                    conn.datagrams_out_bytes -= old.len();
                    self.stats.datagrams_dropped += 1;
                }
                None => break,
            }
        }
        true
    }

    /// Takes the oldest received datagram.
    pub(crate) fn recv_datagram(&mut self) -> Option<Bytes> {
        let conn = self.conn.as_mut()?;
        let d = conn.datagrams_in.pop_front()?;
        conn.datagrams_in_bytes -= d.len();
        Some(d)
    }

    /// Moves stream events into the session's event queue.
    pub(crate) fn flush_stream_events(&mut self) {
        let handle = self.handle;
        if let Some(conn) = self.conn.as_mut() {
            while let Some(event) = conn.streams.events.pop_front() {
                self.events.push_back(Event::Stream {
                    session: handle,
                    event,
                });
            }
            // Called for every packet: skip the drains when there is nothing to move.
            if !conn.streams.control.is_empty() {
                conn.control.extend(conn.streams.control.drain(..));
            }
            if let Some(messages) = conn.messages.as_mut()
                && !messages.events.is_empty()
            {
                self.events.extend(messages.events.drain(..));
            }
        }
    }

    /// Opens a stream (see `Streams::open`).
    pub(crate) fn streams_mut(&mut self) -> Option<&mut Streams> {
        if self.phase != Phase::Established {
            return None;
        }
        self.conn.as_mut().map(|c| &mut c.streams)
    }

    /// The least RTT measured (the path's own delay, without the peer's ACK delays),
    /// once at least one sample was taken.
    pub(crate) fn measured_rtt(&self) -> Option<Duration> {
        let c = self.conn.as_ref()?;
        c.rtt.has_sample().then(|| c.rtt.min_rtt())
    }

    /// Current smoothed RTT (for flow-control auto-tuning).
    pub(crate) fn rtt(&self) -> Duration {
        self.conn
            .as_ref()
            .map_or(Duration::from_millis(333), |c| c.rtt.smoothed_rtt())
    }

    /// Queues an owned control frame.
    pub(crate) fn queue_control(&mut self, c: Control) -> bool {
        match self.conn.as_mut() {
            Some(conn) if self.phase == Phase::Established => {
                conn.control.push_back(c);
                true
            }
            _ => false,
        }
    }

    /// Direction helper for API callers.
    pub(crate) fn open_stream(
        &mut self,
        dir: Dir,
        priority: u8,
        total_len: Option<u64>,
    ) -> Result<StreamId, crate::error::OpenStreamError> {
        let streams = self
            .streams_mut()
            .ok_or(crate::error::OpenStreamError::NotConnected)?;
        streams.open(dir, priority, total_len)
    }
}

/// The session's application-message state, created on first use.
pub(crate) fn messages_of(
    messages: &mut Option<Box<Messages>>,
    handle: SessionHandle,
) -> &mut Messages {
    messages.get_or_insert_with(|| Box::new(Messages::new(handle)))
}

impl Conn {
    /// The session's application-message state, created on first use.
    pub(crate) fn messages(&mut self, handle: SessionHandle) -> &mut Messages {
        messages_of(&mut self.messages, handle)
    }
}
