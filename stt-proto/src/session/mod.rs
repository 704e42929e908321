//! One session's state machine: handshaking → established → closing/draining → closed
//! (diagram in docs/ARCHITECTURE.md), the receive path for its protected packets, its
//! timers, and the application calls on it.
//!
//! A session never routes datagrams (the node does) and never reads a clock: every
//! entry point takes `now`. Packet assembly lives in `send.rs`.

mod apps;
mod control;
mod fetch;
mod keys;
mod metrics;
mod params;
mod paths;
mod rekey;
mod send;
mod stats;
mod streams;
#[cfg(feature = "test-hooks")]
mod test_hooks;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::{Bytes, BytesMut};
use core::time::Duration;

use crate::config::NodeConfig;
use crate::congestion::{Controller, Pacer};
use crate::crypto::{PacketProtection, RecordError};
use crate::error::SessionError;
use crate::event::{Event, StorageEvent};
use crate::frame::{
    Dir, ErrorCode, Frame, Frames, HEADER_LEN, Header, SessionId, Side, StreamId, TAG_LEN,
};
use crate::handshake::{Established, HandshakeError, Initiator};
use crate::identity::NodeId;
use crate::metrics::{DataKind, Metric};
use crate::node::{NodeStats, PathId, SessionHandle};
use crate::recovery::{AckTracker, RttEstimator, SentPackets};
use crate::rng::Rng;
use crate::storage::{ContentHash, FetchId};
use crate::time::Instant;

pub use apps::MESSAGE_WINDOW;
pub(crate) use apps::{Apps, Inbound};
pub(crate) use control::Control;
pub(crate) use fetch::Answer;
#[cfg(feature = "test-hooks")]
pub(crate) use fetch::Fetches;
pub use params::{MAX_PARAMS_LEN, TransportParams};
pub(crate) use paths::{PathState, Probe};
pub use stats::SessionStats;
pub(crate) use streams::{StreamLimits, Streams};

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
    pub initiator: Box<Initiator>,
    pub deadline: Instant,
    pub next_send: Instant,
    pub rto: Duration,
}

/// Everything that exists once keys are established.
#[derive(Clone)]
pub(crate) struct Conn {
    pub record: PacketProtection,
    pub peer_session: SessionId,
    pub peer: NodeId,
    /// The peer's stateless-reset token for `peer_session` (PROTOCOL.md §5.7.7).
    pub peer_reset_token: [u8; 16],
    pub peer_params: TransportParams,
    /// Initiator: a protected packet from the responder arrived. Responder: always.
    pub confirmed: bool,
    /// Responder: one of our CONFIRM packets was acknowledged.
    pub confirm_acked: bool,
    /// Initiator: when to resend RESPONSE while unconfirmed.
    pub response_resend: Option<(Instant, Duration)>,
    /// Initiator: the RESPONSE packet, kept for retransmission while unconfirmed.
    pub response_bytes: Option<Vec<u8>>,
    pub sent: SentPackets<PacketInfo>,
    pub acks: AckTracker,
    pub rtt: RttEstimator,
    pub cc: Box<dyn Controller>,
    pub pacer: Pacer,
    /// Set while pacing holds a packet back: when it may go.
    pub pacer_next: Option<Instant>,
    pub streams: Streams,
    pub control: VecDeque<Control>,
    pub datagrams_out: VecDeque<Bytes>,
    pub datagrams_out_bytes: usize,
    pub datagrams_in: VecDeque<Bytes>,
    pub datagrams_in_bytes: usize,
    pub max_datagram_out: usize,
    pub idle_timeout: Duration,
    pub last_activity: Instant,
    /// An ack-eliciting packet went out since the last packet arrived (RFC 9000 §10.1:
    /// only the first such packet restarts the idle timer).
    pub eliciting_since_recv: bool,
    pub last_eliciting_sent: Instant,
    pub probes_pending: u8,
    /// A congestion event just cut the window: one packet may still go (RFC 9002 §7.3.2).
    pub recovery_send: bool,
    /// The last transmit found nothing to send while under half the window was in use
    /// (RFC 9002 §7.8): ACKs then must not grow the window.
    pub app_limited: bool,
    pub keepalive_pending: bool,
    /// Application messages and storage fetches; created on first use.
    pub apps: Option<Box<Apps>>,
    /// The next packet prefers storage data over stream data (they alternate).
    pub storage_turn: bool,
    pub close_frame: Option<(ErrorCode, Vec<u8>)>,
    pub close_sent: bool,
    pub next_key_update: Option<Instant>,
    /// Initiator: when the next re-handshake is due (PROTOCOL.md §6.7).
    pub rekey_at: Option<Instant>,
    /// Re-handshake progress; created on first use.
    pub rekey: Option<Box<rekey::Rekey>>,
    pub scratch: Vec<(u64, crate::recovery::SentPacket<PacketInfo>)>,
    /// The first packet number sent on the current path: losses of earlier packets
    /// (sent on a path the session has left) are not taken as congestion here.
    pub path_first_pn: u64,
    /// Metrics not yet taken by the node, while `TransportConfig::metrics` is on.
    pub metrics: Option<Box<metrics::MetricsLog>>,
}

/// A session slot: one peer, one key schedule.
#[derive(Clone)]
pub(crate) struct Session {
    pub handle: SessionHandle,
    pub local_id: SessionId,
    pub side: Side,
    pub phase: Phase,
    /// The path packets go to; unvalidated while `probe` is pending.
    pub path: PathState,
    /// The challenge proving `path`, while it is unvalidated. Boxed: a path is
    /// validated rarely, and idle sessions should stay small.
    pub probe: Option<Box<Probe>>,
    /// The last validated path, kept while `path` is unvalidated: a newest packet
    /// arriving there moves the session back without a new validation.
    pub fallback: Option<PathId>,
    /// A PATH_CHALLENGE to answer: the path it arrived on and its data.
    pub path_response: Option<(PathId, [u8; 8])>,
    /// The path this side moved away from by its own choice ([`Session::migrate`]):
    /// late packets arriving on it are processed but never pull the session back.
    pub left_path: Option<PathId>,
    pub handshake: Option<HandshakeProgress>,
    pub conn: Option<Box<Conn>>,
    pub stats: SessionStats,
    pub error: Option<SessionError>,
    pub events: VecDeque<Event>,
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
            handshake: Some(HandshakeProgress {
                initiator: Box::new(initiator),
                deadline: now + config.handshake_timeout,
                next_send: now,
                rto: config.handshake_retransmit,
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
        let conn = Conn {
            record: est.record,
            peer_session: est.peer_session,
            peer: est.peer,
            peer_reset_token: est.peer_reset_token,
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
            cc: t.congestion.build(now, mtu),
            pacer: Pacer::new(
                t.initial_rtt,
                t.congestion.build(now, mtu).window(),
                mtu,
                now,
            ),
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
            apps: None,
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

    /// A handshake-phase packet (CHALLENGE or COOKIE) for this initiator.
    pub(crate) fn handle_handshake_packet(
        &mut self,
        now: Instant,
        header: &Header,
        packet: &[u8],
        config: &NodeConfig,
        stats: &mut NodeStats,
    ) {
        if self.phase != Phase::Handshaking {
            stats.dropped_unexpected += 1;
            return;
        }
        let Some(hs) = self.handshake.as_mut() else {
            return;
        };
        match header.packet_type {
            crate::frame::PacketType::Cookie => {
                if hs.initiator.handle_cookie(packet).is_ok() {
                    // Answer with the cookie at once.
                    hs.next_send = now;
                } else {
                    stats.dropped_handshake += 1;
                }
            }
            crate::frame::PacketType::Challenge => {
                let peer = match hs.initiator.handle_challenge(packet) {
                    Ok(peer) => peer,
                    Err(HandshakeError::PeerRefused(actual)) => {
                        // An authenticated member of the network, but not the peer this
                        // connect was pinned to: stop before RESPONSE authenticates us.
                        stats.refused_peers += 1;
                        let expected = hs
                            .initiator
                            .allow_list()
                            .map(|a| a.ids().copied().collect())
                            .unwrap_or_default();
                        let reason = SessionError::PeerMismatch { expected, actual };
                        self.error = Some(reason.clone());
                        self.terminate(reason);
                        return;
                    }
                    Err(_) => {
                        stats.dropped_handshake += 1;
                        return;
                    }
                };
                if let Some(policy) = &config.peer_policy
                    && !policy.allow(&peer)
                {
                    self.error = Some(SessionError::PeerRefused);
                    self.terminate(SessionError::PeerRefused);
                    return;
                }
                let mut response = alloc::vec![0u8; config.max_packet_size];
                let Ok(n) = hs.initiator.write_response(&mut response) else {
                    self.terminate(SessionError::HandshakeFailed(ErrorCode::HANDSHAKE_FAILURE));
                    return;
                };
                response.truncate(n);
                let Some(hs) = self.handshake.take() else {
                    return;
                };
                // RESPONSE starts its own backoff: the INIT's may have grown already.
                let rto = config.handshake_retransmit;
                let est = hs.initiator.finish();
                match est {
                    Ok(est) => {
                        if let Err(e) = self.establish(est, now, config) {
                            self.terminate(e);
                            return;
                        }
                        if let Some(c) = self.conn.as_mut() {
                            c.response_resend = Some((now, rto));
                            c.response_bytes = Some(response);
                        }
                    }
                    Err(_) => {
                        self.terminate(SessionError::HandshakeFailed(ErrorCode::HANDSHAKE_FAILURE))
                    }
                }
            }
            crate::frame::PacketType::Version => {
                self.error = Some(SessionError::VersionMismatch);
                self.terminate(SessionError::VersionMismatch);
            }
            _ => stats.dropped_unexpected += 1,
        }
    }

    /// A protected packet (DATA or CONFIRM) for this session.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn handle_packet(
        &mut self,
        now: Instant,
        path: PathId,
        header: &Header,
        mut datagram: BytesMut,
        config: &NodeConfig,
        stats: &mut NodeStats,
        rng: &mut Rng,
        rng_secret: &mut Rng,
    ) {
        let len = datagram.len();
        let Some(conn) = self.conn.as_mut() else {
            stats.dropped_unexpected += 1;
            return;
        };
        if matches!(self.phase, Phase::Draining { .. } | Phase::Closed) {
            return;
        }
        // The initiator may only get CONFIRM/DATA from the responder, and vice versa;
        // CONFIRM from an initiator is meaningless.
        if header.packet_type == crate::frame::PacketType::Confirm && self.side == Side::Responder {
            stats.dropped_unexpected += 1;
            return;
        }
        let (pn, key_updated) = match conn.record.open(now, &mut datagram) {
            Ok(opened) => (opened.pn, opened.key_updated),
            Err(e) => {
                match e {
                    RecordError::Replayed(_) | RecordError::TooOld(_) => {
                        stats.dropped_replayed += 1
                    }
                    RecordError::IntegrityLimit => {
                        stats.dropped_unauthenticated += 1;
                        self.close(now, ErrorCode::AEAD_LIMIT_REACHED, b"integrity limit");
                    }
                    _ => stats.dropped_unauthenticated += 1,
                }
                return;
            }
        };
        self.stats.packets_received += 1;
        self.stats.bytes_received += len as u64;
        if key_updated {
            self.stats.key_updates += 1;
            self.events.push_back(Event::KeyUpdated {
                session: self.handle,
            });
        }
        conn.last_activity = now;
        conn.eliciting_since_recv = false;
        if let Phase::Closing { .. } = self.phase {
            // Answer stragglers with DISCONNECT again (at most once per packet).
            conn.close_sent = false;
            return;
        }
        if !conn.confirmed || !conn.record.is_confirmed() {
            conn.record.confirm();
            conn.confirmed = true;
            conn.response_resend = None;
            conn.response_bytes = None;
        }
        // Path: the newest authenticated packet from another path moves the session
        // there (unvalidated until its challenge is answered).
        let newest = conn.acks.largest().is_none_or(|l| pn > l);
        self.on_packet_path(path, len, newest, rng);
        // Trim in place: no reference-count traffic on the per-packet path.
        datagram.truncate(len - TAG_LEN);
        bytes::Buf::advance(&mut datagram, HEADER_LEN);
        let payload = datagram.freeze();
        let mut eliciting = false;
        // A bulk packet ends with its DATA frame (then at most padding): that frame is
        // handled last, after the loop, and takes the packet buffer itself instead of a
        // new reference to it, which saves two atomic reference-count updates a packet.
        let mut last_data = None;
        let mut frames = Frames::new(&payload);
        while let Some(frame) = frames.next() {
            let frame = match frame {
                Ok(f) => f,
                Err(_) => {
                    stats.dropped_malformed += 1;
                    self.close(now, ErrorCode::INVALID_FRAME, b"malformed frame");
                    return;
                }
            };
            eliciting |= frame.is_ack_eliciting();
            // The frame borrows from `payload`, so its offset there is a pointer
            // difference; checked all the same, and handled in line if it is not.
            if let Frame::Data(d) = &frame
                && frames.only_padding_left()
                && let Some(start) = (d.data.as_ptr() as usize)
                    .checked_sub(payload.as_ptr() as usize)
                    .filter(|s| s + d.data.len() <= payload.len())
            {
                last_data = Some((d.offset, d.fin, start..start + d.data.len()));
                break;
            }
            if let Err(code) =
                self.handle_frame(now, path, header, &payload, frame, config, rng_secret)
            {
                self.close(now, code, b"protocol violation");
                return;
            }
            if !matches!(self.phase, Phase::Established) {
                break;
            }
        }
        if let Some((offset, fin, range)) = last_data {
            let data = if keeps_packet(range.len(), payload.len()) {
                let mut data = payload;
                data.truncate(range.end);
                bytes::Buf::advance(&mut data, range.start);
                data
            } else {
                Bytes::copy_from_slice(&payload[range])
            };
            if let Err(code) = self.on_data(header, offset, fin, data) {
                self.close(now, code, b"protocol violation");
                return;
            }
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.acks.on_packet(
                now,
                pn,
                eliciting,
                config.transport.ack_eliciting_threshold,
                conn.rtt.smoothed_rtt(),
                config.transport.max_ack_delay,
            );
        }
        self.rekey_on_volume(now, &config.transport);
    }

    /// Hands the bytes of a DATA frame to their stream.
    fn on_data(
        &mut self,
        header: &Header,
        offset: u64,
        fin: bool,
        data: Bytes,
    ) -> Result<(), ErrorCode> {
        if header.stream_id == StreamId::CONTROL {
            return Err(ErrorCode::PROTOCOL_VIOLATION);
        }
        match self.conn.as_mut() {
            Some(conn) => conn.streams.on_data(header.stream_id, offset, data, fin),
            None => Ok(()),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn handle_frame(
        &mut self,
        now: Instant,
        path: PathId,
        header: &Header,
        payload: &Bytes,
        frame: Frame<'_>,
        config: &NodeConfig,
        rng_secret: &mut Rng,
    ) -> Result<(), ErrorCode> {
        let handle = self.handle;
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        match frame {
            Frame::Padding { .. } | Frame::Keepalive => {}
            Frame::Data(d) => {
                let data = if keeps_packet(d.data.len(), payload.len()) {
                    payload.slice_ref(d.data)
                } else {
                    Bytes::copy_from_slice(d.data)
                };
                return self.on_data(header, d.offset, d.fin, data);
            }
            Frame::StreamOpen(o) => {
                conn.streams
                    .on_stream_open(o.stream_id, o.priority, o.total_len)?
            }
            Frame::StreamClose(c) => {
                let rtt = conn.rtt.smoothed_rtt();
                conn.streams
                    .on_reset(c.stream_id, c.code, c.final_size, now, rtt)?
            }
            Frame::StopSending { stream_id, code } => {
                conn.streams.on_stop_sending(stream_id, code)?
            }
            Frame::Ack(ack) => {
                let ranges = ack.ranges().map(|r| (r.smallest, r.largest));
                let ack_delay = Duration::from_micros(ack.ack_delay);
                self.on_ack(now, ranges, ack.largest(), ack_delay, config)?;
            }
            Frame::Disconnect(d) => {
                let reason = d.reason.to_vec();
                let linger = conn.rtt.pto_base() * 3;
                self.error = Some(SessionError::ClosedByPeer {
                    code: d.code,
                    reason,
                });
                self.phase = Phase::Draining {
                    until: now + linger,
                };
            }
            Frame::MaxData(max) => conn.streams.on_max_data(max),
            Frame::MaxStreamData { stream_id, max } => {
                conn.streams.on_max_stream_data(stream_id, max)?
            }
            Frame::MaxStreams { dir, count } => conn.streams.on_max_streams(dir, count),
            Frame::DataBlocked { limit } => conn.record(
                now,
                Metric::FlowBlocked {
                    stream: None,
                    limit,
                    peer: true,
                },
            ),
            Frame::StreamDataBlocked { stream_id, limit } => conn.record(
                now,
                Metric::FlowBlocked {
                    stream: Some(stream_id),
                    limit,
                    peer: true,
                },
            ),
            Frame::Rekey { seq, public } => return self.on_rekey(seq, &public, rng_secret),
            Frame::RekeyReply {
                seq,
                generation,
                public,
            } => return self.on_rekey_reply(seq, generation, &public),
            Frame::PathChallenge(data) => self.path_response = Some((path, data)),
            Frame::PathResponse(data) => self.on_path_response(data),
            Frame::Datagram(d) => {
                let limit = config.transport.datagram_receive_buffer;
                if d.data.len() > limit {
                    self.stats.datagrams_dropped += 1;
                    return Ok(());
                }
                conn.datagrams_in.push_back(payload.slice_ref(d.data));
                conn.datagrams_in_bytes += d.data.len();
                while conn.datagrams_in_bytes > limit {
                    if let Some(old) = conn.datagrams_in.pop_front() {
                        conn.datagrams_in_bytes -= old.len();
                        self.stats.datagrams_dropped += 1;
                    }
                }
                self.events
                    .push_back(Event::DatagramReceived { session: handle });
            }
            Frame::Custom {
                frame_type,
                message_id,
                payload: body,
            } => {
                if conn.apps(handle).on_custom(message_id) {
                    self.events.push_back(Event::CustomFrame {
                        session: handle,
                        frame_type,
                        payload: keep(payload, body),
                    });
                }
            }
            Frame::EndpointRoute(r) => {
                let body = keep(payload, r.payload);
                conn.apps(handle).on_route(r.message_id, r.endpoint, body)?;
            }
            Frame::EndpointAccept { message_id } => {
                let Conn { apps, control, .. } = &mut **conn;
                apps_of(apps, handle).on_route_answer(message_id, None, control);
            }
            Frame::EndpointRefuse(r) => {
                let Conn { apps, control, .. } = &mut **conn;
                apps_of(apps, handle).on_route_answer(r.message_id, Some(r.code), control);
            }
            Frame::EndpointRegister(r) => {
                let Conn { apps, control, .. } = &mut **conn;
                apps_of(apps, handle).on_register(
                    &config.transport,
                    r.endpoint,
                    r.registered,
                    control,
                );
            }
            Frame::EndpointResolve(r) => {
                conn.apps(handle)
                    .on_resolve(r.request_id, r.kind, r.endpoint)?;
            }
            Frame::StorageGet(g) => {
                conn.apps(handle)
                    .on_get(g.request_id, ContentHash(g.hash), g.max_len)?;
            }
            Frame::StorageData(d) => {
                let Conn { apps, control, .. } = &mut **conn;
                let apps = apps_of(apps, handle);
                let fetch = FetchId(d.request_id);
                match apps.fetches.on_data(&d) {
                    DataOutcome::Pending => {}
                    DataOutcome::Done { hash, data } => {
                        apps.storage(StorageEvent::Fetched { fetch, hash, data });
                    }
                    DataOutcome::Failed {
                        hash,
                        error,
                        cancel,
                    } => {
                        if cancel {
                            control.push_back(Control::StorageCancel {
                                request_id: d.request_id,
                            });
                        }
                        apps.storage(StorageEvent::FetchFailed { fetch, hash, error });
                    }
                }
            }
            Frame::StorageRefuse(r) => {
                let apps = conn.apps(handle);
                if let Some((hash, error)) = apps.fetches.on_refuse(r.request_id, r.code) {
                    apps.storage(StorageEvent::FetchFailed {
                        fetch: FetchId(r.request_id),
                        hash,
                        error,
                    });
                }
            }
            Frame::StorageCancel { request_id } => {
                conn.apps(handle).fetches.on_cancel(request_id);
            }
        }
        Ok(())
    }

    fn on_ack(
        &mut self,
        now: Instant,
        ranges: impl Iterator<Item = (u64, u64)> + Clone,
        largest: u64,
        ack_delay: Duration,
        config: &NodeConfig,
    ) -> Result<(), ErrorCode> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let mut acked = core::mem::take(&mut conn.scratch);
        acked.clear();
        conn.sent
            .on_ack(ranges, &mut acked)
            .map_err(|_| ErrorCode::PROTOCOL_VIOLATION)?;
        if let Some((pn, p)) = acked.iter().rev().find(|(_, p)| p.ack_eliciting)
            && *pn == largest
        {
            let sample = now.saturating_duration_since(p.time_sent);
            let max_delay = Duration::from_millis(conn.peer_params.max_ack_delay_ms);
            conn.rtt.update(ack_delay.min(max_delay), sample);
            conn.refresh_key_retention(config.transport.max_ack_delay);
        }
        for (pn, p) in acked.drain(..) {
            conn.record.on_packet_acked(pn);
            if p.ack_eliciting {
                conn.cc.on_ack(
                    now,
                    p.time_sent,
                    u64::from(p.size),
                    conn.app_limited,
                    &conn.rtt,
                );
            }
            if self.side == Side::Responder {
                conn.confirm_acked = true;
            }
            if conn.metrics.is_some()
                && let Some((stream, chunk)) = p.info.stream_chunk()
            {
                conn.record(
                    now,
                    Metric::StreamData {
                        stream,
                        offset: chunk.offset,
                        len: chunk.len as u64,
                        kind: DataKind::Acked,
                    },
                );
            }
            p.info.on_acked(conn);
        }
        conn.cc.on_end_acks(
            now,
            conn.sent.bytes_in_flight(),
            conn.app_limited,
            Some(largest),
        );
        conn.scratch = acked;
        self.detect_lost(now, config);
        if let Some(conn) = self.conn.as_mut() {
            conn.record_recovery(now, config.transport.pacing);
        }
        Ok(())
    }

    fn detect_lost(&mut self, now: Instant, config: &NodeConfig) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let mut lost = core::mem::take(&mut conn.scratch);
        lost.clear();
        conn.sent.detect_lost(now, &conn.rtt, &mut lost);
        if !lost.is_empty() {
            let mut lost_bytes = 0;
            let mut first_sent: Option<Instant> = None;
            let mut last_sent = Instant::ZERO;
            // Packets sent before the last path change went to a path the session
            // has left (a NAT mapping that is gone): their loss says nothing about
            // congestion on the path in use, so they are resent but not counted.
            for (pn, p) in lost.iter() {
                if p.ack_eliciting && *pn >= conn.path_first_pn {
                    lost_bytes += u64::from(p.size);
                    first_sent = Some(first_sent.map_or(p.time_sent, |t| t.min(p.time_sent)));
                    last_sent = last_sent.max(p.time_sent);
                }
            }
            // Persistent congestion: the lost span is longer than 3 PTOs.
            let pto = conn.rtt.pto_base() + config.transport.max_ack_delay;
            let persistent = first_sent
                .is_some_and(|f| crate::recovery::is_persistent_congestion(f, last_sent, pto));
            if lost_bytes > 0 {
                let before = conn.cc.window();
                conn.cc
                    .on_congestion_event(now, last_sent, persistent, lost_bytes);
                conn.recovery_send |= conn.cc.window() < before;
                if conn.cc.window() < before {
                    let window = conn.cc.window();
                    conn.record(now, Metric::CongestionEvent { window, persistent });
                }
            }
            self.stats.packets_lost += lost.len() as u64;
            for (pn, p) in lost.drain(..) {
                if conn.metrics.is_some() {
                    conn.record(
                        now,
                        Metric::PacketLost {
                            packet_number: pn,
                            bytes: u64::from(p.size),
                            congestion: p.ack_eliciting && pn >= conn.path_first_pn,
                        },
                    );
                }
                self.stats.bytes_retransmitted += p.info.stream_len() as u64;
                p.info.on_lost(conn);
            }
        }
        conn.scratch = lost;
    }

    /// The initiator sent RESPONSE again: it has not seen our CONFIRM yet.
    pub(crate) fn on_repeated_response(&mut self, path: PathId) {
        if self.side != Side::Responder || path != self.path.id {
            return;
        }
        if let Some(conn) = self.conn.as_mut()
            && self.phase == Phase::Established
            && !conn.confirm_acked
        {
            // A probe: it goes out even when the congestion window is full of the
            // packets the initiator never received.
            conn.probes_pending = conn.probes_pending.max(1);
        }
    }

    /// Fires whatever timers are due.
    pub(crate) fn handle_timeout(&mut self, now: Instant, config: &NodeConfig, rng: &mut Rng) {
        match self.phase {
            Phase::Closed => return,
            Phase::Closing { until } | Phase::Draining { until } => {
                // A local close lingers only after its DISCONNECT has left: with a
                // small RTT the linger can pass before the next transmit, and ending
                // then would leave the peer to find out at its idle timeout.
                if now >= until && !self.close_unsent() {
                    let reason = self.error.clone().unwrap_or(SessionError::LocallyClosed {
                        code: ErrorCode::NO_ERROR,
                    });
                    self.terminate(reason);
                }
                return;
            }
            Phase::Handshaking => {
                if let Some(hs) = self.handshake.as_ref()
                    && now >= hs.deadline
                {
                    self.terminate(SessionError::HandshakeTimeout);
                }
                return;
            }
            Phase::Established => {}
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        if now >= conn.last_activity + conn.effective_idle_timeout(config) {
            self.error = Some(SessionError::TimedOut);
            self.terminate(SessionError::TimedOut);
            return;
        }
        if let Some(at) = conn.unresponsive_deadline(config)
            && now >= at
        {
            let silent_ms =
                u64::try_from((now - conn.last_activity).as_millis()).unwrap_or(u64::MAX);
            let reason = SessionError::PeerUnresponsive { silent_ms };
            self.error = Some(reason.clone());
            self.terminate(reason);
            return;
        }
        if let Some((_, rto)) = conn.response_resend
            && now >= conn.last_activity + config.handshake_timeout.max(rto)
            && !conn.confirmed
        {
            self.terminate(SessionError::HandshakeTimeout);
            return;
        }
        if conn.sent.loss_time().is_some_and(|t| now >= t) {
            self.detect_lost(now, config);
        } else if let Some(conn) = self.conn.as_mut()
            && conn
                .sent
                .pto_deadline(&conn.rtt, config.transport.max_ack_delay)
                .is_some_and(|t| now >= t)
        {
            conn.sent.on_pto();
            self.stats.pto_count += 1;
            let count = conn.sent.pto_count();
            conn.record(now, Metric::ProbeTimeout { count });
            conn.probes_pending = 2;
            // Re-send the oldest packet's stream data so the probe carries something
            // useful; the receiver drops duplicates.
            if let Some((_, p)) = conn.sent.oldest_in_flight() {
                let info = p.info.clone();
                info.requeue_for_probe(conn);
            }
        }
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        conn.record.handle_timeout(now);
        conn.streams.expire(now);
        if conn.sent.is_empty() {
            // Nothing in flight: an idle session hands back its per-packet buffers.
            conn.scratch = Vec::new();
            conn.sent.release_if_idle();
        }
        if let Some(interval) = config.transport.keepalive_interval
            && now >= conn.last_eliciting_sent + interval
        {
            conn.keepalive_pending = true;
        }
        if let Some(at) = conn.next_key_update
            && now >= at
        {
            if conn.record.initiate_key_update().is_ok() {
                self.stats.key_updates += 1;
            }
            conn.next_key_update = config.transport.key_update_interval.map(|d| now + d);
        }
        self.rekey_timeout(now, &config.transport, rng);
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let (pto, idle) = (conn.rtt.pto_base(), conn.effective_idle_timeout(config));
        self.probe_timeout(now, pto, idle);
    }

    /// The earliest instant this session needs `handle_timeout`.
    pub(crate) fn next_timeout(&self, config: &NodeConfig) -> Option<Instant> {
        let mut t: Option<Instant> = None;
        let mut at = |v: Instant| t = Some(t.map_or(v, |x: Instant| x.min(v)));
        match self.phase {
            Phase::Closed => return None,
            Phase::Closing { until } | Phase::Draining { until } => {
                if !self.close_unsent() {
                    at(until);
                }
                return t;
            }
            Phase::Handshaking => {
                if let Some(hs) = self.handshake.as_ref() {
                    at(hs.deadline);
                    at(hs.next_send);
                }
                return t;
            }
            Phase::Established => {}
        }
        let conn = self.conn.as_ref()?;
        at(conn.last_activity + conn.effective_idle_timeout(config));
        if let Some(u) = conn.unresponsive_deadline(config) {
            at(u);
        }
        if let Some((next, _)) = conn.response_resend {
            at(next);
        }
        match conn.sent.loss_time() {
            Some(lt) => at(lt),
            None => {
                if let Some(p) = conn
                    .sent
                    .pto_deadline(&conn.rtt, config.transport.max_ack_delay)
                {
                    at(p)
                }
            }
        }
        // Timers that only lead to sending wait while the path's anti-amplification
        // budget is spent: only a packet from the peer can reopen it, and a deadline
        // in the past that nothing can serve would spin the caller's timer.
        let can_send = self.path.budget() >= paths::SMALL_PACKET as u64;
        if let Some(a) = conn.acks.timeout().filter(|_| can_send) {
            at(a);
        }
        if let Some(interval) = config.transport.keepalive_interval
            && !conn.keepalive_pending
        {
            at(conn.last_eliciting_sent + interval);
        }
        if let Some(k) = conn.next_key_update {
            at(k);
        }
        if let Some(k) = conn.rekey_at {
            at(k);
        }
        if let Some(k) = conn.record.poll_timeout() {
            at(k);
        }
        let idle = conn.effective_idle_timeout(config);
        if let Some(p) = self.probe_deadline(conn.rtt.pto_base(), idle) {
            at(p);
        }
        if let Some(p) = conn.pacer_release().filter(|_| can_send) {
            at(p);
        }
        if let Some(d) = conn.streams.next_deadline() {
            at(d);
        }
        t
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
            if let Some(apps) = conn.apps.as_mut()
                && !apps.events.is_empty()
            {
                self.events.extend(apps.events.drain(..));
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

/// A payload piece to keep: a zero-copy slice when it is most of the packet, a copy
/// otherwise (a stored slice pins its whole packet buffer).
fn keep(payload: &Bytes, piece: &[u8]) -> Bytes {
    if piece.len() * 2 >= payload.len() {
        payload.slice_ref(piece)
    } else {
        Bytes::copy_from_slice(piece)
    }
}

/// The session's application-message state, created on first use.
pub(crate) fn apps_of(apps: &mut Option<Box<Apps>>, handle: SessionHandle) -> &mut Apps {
    apps.get_or_insert_with(|| Box::new(Apps::new(handle)))
}

impl Conn {
    /// The session's application-message state, created on first use.
    pub(crate) fn apps(&mut self, handle: SessionHandle) -> &mut Apps {
        apps_of(&mut self.apps, handle)
    }

    /// The idle timeout, raised to at least three probe timeouts (RFC 9000 §10.1; the
    /// PTO without backoff, so a dead peer is still given up on in bounded time).
    fn effective_idle_timeout(&self, config: &NodeConfig) -> Duration {
        let pto = self.rtt.pto_base() + config.transport.max_ack_delay;
        self.idle_timeout.max(pto.saturating_mul(3))
    }

    /// When the peer is declared unresponsive if nothing arrives: only while it owes an
    /// acknowledgement, `max(UNRESPONSIVE_PTOS · PTO, unresponsive_floor)` after the idle
    /// timer's start (see [`crate::config::UNRESPONSIVE_PTOS`]).
    fn unresponsive_deadline(&self, config: &NodeConfig) -> Option<Instant> {
        if !self.sent.has_ack_eliciting_in_flight() {
            return None;
        }
        let pto = self.rtt.pto_base() + config.transport.max_ack_delay;
        let wait = pto
            .saturating_mul(crate::config::UNRESPONSIVE_PTOS)
            .max(config.transport.unresponsive_floor);
        Some(self.last_activity + wait)
    }

    /// When pacing next lets a packet out, if it is holding one back.
    fn pacer_release(&self) -> Option<Instant> {
        self.pacer_next
    }
}

/// Whether `len` bytes of DATA are kept as a slice of their `packet_len`-byte packet
/// rather than copied. Zero-copy only when the data is most of the packet: a stored
/// slice pins its whole packet buffer, so tiny pieces (a peer feeding one byte per
/// packet) are copied to keep held memory within 2x the window.
fn keeps_packet(len: usize, packet_len: usize) -> bool {
    len * 2 >= packet_len
}
