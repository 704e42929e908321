//! The receive path of one session: handshake packets while handshaking, then
//! protected packets (decrypt, replay check, path bookkeeping) and the frames they
//! carry, dispatched to streams, acknowledgements, control and application state.
//! It never builds packets (that is `send.rs`).

use super::{Conn, Control, DataOutcome, Phase, Session, messages_of};
use bytes::{Bytes, BytesMut};
use core::time::Duration;

use crate::config::NodeConfig;
use crate::crypto::RecordError;
use crate::error::SessionError;
use crate::event::{Event, StorageEvent};
use crate::frame::{ErrorCode, Frame, Frames, HEADER_LEN, Header, Side, StreamId, TAG_LEN};
use crate::handshake::HandshakeError;
use crate::handshake::admission::RemoteAddr;
use crate::identity::NodeId;
use crate::ids::PathId;
use crate::metrics::Metric;
use crate::rendezvous::RdvInbound;
use crate::rng::Rng;
use crate::stats::NodeStats;
use crate::storage::{ContentHash, FetchId};
use crate::time::Instant;

impl Session {
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
            crate::frame::PacketType::Refuse => match hs.initiator.handle_refuse(packet) {
                Ok(_fell_back) => {
                    // `prefer` against a classic-only member: the classic INIT (saying
                    // hybrid was refused) goes at once, with a fresh backoff.
                    stats.refusals_received += 1;
                    hs.next_send = now;
                    hs.next_part = 0;
                    hs.rto = config.handshake_retransmit;
                }
                Err(
                    e @ (HandshakeError::HybridRefused
                    | HandshakeError::PeerRequiresHybrid
                    | HandshakeError::Downgrade),
                ) => {
                    stats.refusals_received += 1;
                    let reason = match e {
                        HandshakeError::HybridRefused => SessionError::HybridRequired,
                        HandshakeError::PeerRequiresHybrid => SessionError::PeerRequiresHybrid,
                        _ => SessionError::HybridDowngrade,
                    };
                    self.error = Some(reason.clone());
                    self.terminate(reason);
                }
                Err(_) => stats.dropped_handshake += 1,
            },
            crate::frame::PacketType::Challenge | crate::frame::PacketType::ChallengeHybrid => {
                let result = if header.packet_type == crate::frame::PacketType::Challenge {
                    hs.initiator.handle_challenge(packet).map(Some)
                } else {
                    hs.initiator.handle_challenge_fragment(packet)
                };
                let peer = match result {
                    Ok(Some(peer)) => peer,
                    // The first of two CHALLENGE fragments: wait for the other.
                    Ok(None) => return,
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
        // A probing packet (PROTOCOL.md §12.4) on another path never moves the session.
        let probing = path != self.path.id
            && datagram
                .get(HEADER_LEN..len - TAG_LEN)
                .is_some_and(super::punch::is_probing);
        if !probing {
            self.on_packet_path(now, path, len, newest, rng);
        }
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
    pub(super) fn on_data(
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
    pub(super) fn handle_frame(
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
            Frame::PathResponse(data) => {
                if !self.on_punch_response(now, data) {
                    self.on_path_response(data);
                }
            }
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
                if conn.messages(handle).on_custom(message_id) {
                    self.events.push_back(Event::CustomFrame {
                        session: handle,
                        frame_type,
                        payload: keep(payload, body),
                    });
                }
            }
            Frame::EndpointRoute(r) => {
                let body = keep(payload, r.payload);
                conn.messages(handle)
                    .on_route(r.message_id, r.endpoint, body)?;
            }
            Frame::EndpointAccept { message_id } => {
                let Conn {
                    messages, control, ..
                } = &mut **conn;
                messages_of(messages, handle).on_route_answer(message_id, None, control);
            }
            Frame::EndpointRefuse(r) => {
                let Conn {
                    messages, control, ..
                } = &mut **conn;
                messages_of(messages, handle).on_route_answer(r.message_id, Some(r.code), control);
            }
            Frame::EndpointRegister(r) => {
                let Conn {
                    messages, control, ..
                } = &mut **conn;
                messages_of(messages, handle).on_register(
                    &config.transport,
                    r.endpoint,
                    r.registered,
                    control,
                );
            }
            Frame::EndpointResolve(r) => {
                conn.messages(handle)
                    .on_resolve(r.request_id, r.kind, r.endpoint)?;
            }
            Frame::StorageGet(g) => {
                conn.messages(handle)
                    .on_get(g.request_id, ContentHash(g.hash), g.max_len)?;
            }
            Frame::StorageData(d) => {
                let Conn {
                    messages, control, ..
                } = &mut **conn;
                let messages = messages_of(messages, handle);
                let fetch = FetchId(d.request_id);
                match messages.fetches.on_data(&d) {
                    DataOutcome::Pending => {}
                    DataOutcome::Done { hash, data } => {
                        messages.storage(StorageEvent::Fetched { fetch, hash, data });
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
                        messages.storage(StorageEvent::FetchFailed { fetch, hash, error });
                    }
                }
            }
            Frame::StorageRefuse(r) => {
                let messages = conn.messages(handle);
                if let Some((hash, error)) = messages.fetches.on_refuse(r.request_id, r.code) {
                    messages.storage(StorageEvent::FetchFailed {
                        fetch: FetchId(r.request_id),
                        hash,
                        error,
                    });
                }
            }
            Frame::StorageCancel { request_id } => {
                conn.messages(handle).fetches.on_cancel(request_id);
            }
            Frame::RdvRegister { request_id } => {
                conn.messages(handle)
                    .on_rendezvous(RdvInbound::Register { request_id });
            }
            Frame::RdvLookup {
                request_id,
                node_id,
            } => conn.messages(handle).on_rendezvous(RdvInbound::Lookup {
                request_id,
                node: NodeId(node_id),
            }),
            Frame::RdvConnect {
                request_id,
                node_id,
            } => conn.messages(handle).on_rendezvous(RdvInbound::Connect {
                request_id,
                node: NodeId(node_id),
            }),
            Frame::RdvAnswer(a) => {
                let addr = RemoteAddr::new(a.addr).map_err(|_| ErrorCode::INVALID_FRAME)?;
                conn.messages(handle).on_rendezvous(RdvInbound::Answer {
                    request_id: a.request_id,
                    status: a.status,
                    addr,
                });
            }
            Frame::RdvPeer(p) => {
                let addr = RemoteAddr::new(p.addr).map_err(|_| ErrorCode::INVALID_FRAME)?;
                // At most a minute ahead: a rendezvous cannot park a punch forever.
                let delay = Duration::from_millis(p.start_delay_ms.min(60_000));
                conn.messages(handle).on_rendezvous(RdvInbound::Peer {
                    request_id: p.request_id,
                    initiator: p.initiator,
                    node: NodeId(p.node_id),
                    route: p.route_id,
                    start: now + delay,
                    addr,
                });
            }
        }
        Ok(())
    }
}

/// Whether `len` bytes of DATA are kept as a slice of their `packet_len`-byte packet
/// rather than copied. Zero-copy only when the data is most of the packet: a stored
/// slice pins its whole packet buffer, so tiny pieces (a peer feeding one byte per
/// packet) are copied to keep held memory within 2x the window.
pub(super) fn keeps_packet(len: usize, packet_len: usize) -> bool {
    len * 2 >= packet_len
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
