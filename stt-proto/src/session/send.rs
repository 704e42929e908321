//! Packet assembly for one session: which frames go into the next datagram, under the
//! congestion window, pacing and the path's amplification budget; and what to do when
//! that packet is later acknowledged or declared lost.
//!
//! A packet carries stream data of at most one stream (the header's stream id picks
//! the per-stream key, PROTOCOL.md §6); control frames may ride in any packet.

use alloc::vec::Vec;

use crate::frame::{
    DataFrame, Datagram, Disconnect, Frame, HEADER_LEN, PacketType, StreamId, TAG_LEN, Writer,
};
use crate::ids::PathId;
use crate::stream::Chunk;
use crate::time::Instant;

use super::{Conn, Control, Phase, Session, paths};
use crate::config::NodeConfig;
use crate::crypto::AEAD_BLOCK;
use crate::metrics::{DataKind, Metric, SendLimit};
use crate::recovery::SentPacket;

/// Worst-case STORAGE_DATA framing (type, three 8-byte varints, a 2-byte length) plus
/// slack: a storage piece is asked for this much less than the room left.
const STORAGE_FRAMING: usize = 28;

/// A data packet with less room left than this is padded to full size (see [`full_payload`]).
const FILL_SLACK: usize = 24;

/// Payload bytes a full data packet of `room` payload bytes at most fills: a whole
/// number of AEAD blocks, so sealing and opening it skips the partial-block step
/// ([`AEAD_BLOCK`]); at most 15 bytes of room go unused.
fn full_payload(room: usize) -> usize {
    room - room % AEAD_BLOCK
}

/// Largest DATAGRAM payload a packet of `max_packet` bytes can carry.
pub(crate) fn max_datagram_payload(max_packet: usize) -> usize {
    // Header, tag, frame type and a 2-byte length.
    max_packet.saturating_sub(HEADER_LEN + TAG_LEN + 3)
}

/// What a sent packet carried that matters on ack or loss.
#[derive(Debug, Clone, Default)]
pub(crate) struct PacketInfo {
    stream: Option<(StreamId, Chunk)>,
    /// A piece of a storage answer: (request id, chunk).
    storage: Option<(u64, Chunk)>,
    largest_ack: Option<u64>,
    control: Vec<Control>,
}

impl PacketInfo {
    pub(crate) fn stream_len(&self) -> usize {
        self.stream.as_ref().map_or(0, |(_, c)| c.len)
    }

    /// The stream bytes this packet carried, if any.
    pub(crate) fn stream_chunk(&self) -> Option<(StreamId, Chunk)> {
        self.stream
    }

    pub(crate) fn on_acked(self, conn: &mut Conn) {
        if let Some((id, chunk)) = self.stream {
            conn.streams.on_chunk_acked(id, &chunk);
        }
        if let Some(largest) = self.largest_ack {
            conn.acks.on_ack_acked(largest);
        }
        if let Some((request, chunk)) = self.storage
            && let Some(messages) = conn.messages.as_mut()
        {
            messages.fetches.on_chunk_acked(request, &chunk);
        }
        for c in self.control {
            if let Control::StreamClose { id, .. } = c {
                conn.streams.on_reset_acked(id);
            }
            if let Some(messages) = conn.messages.as_mut() {
                messages.on_acked(&c, &mut conn.control);
            }
        }
    }

    pub(crate) fn on_lost(self, conn: &mut Conn) {
        if let Some((id, chunk)) = self.stream {
            conn.streams.on_chunk_lost(id, &chunk);
        }
        if let Some((request, chunk)) = self.storage
            && let Some(messages) = conn.messages.as_mut()
        {
            messages.fetches.on_chunk_lost(request, &chunk);
        }
        for c in self.control {
            let refreshed = match c {
                // Credit frames go out again with the latest value, if still useful.
                Control::MaxData(_) => Some(Control::MaxData(conn.streams.advertised_data())),
                Control::MaxStreamData { id, .. } => conn
                    .streams
                    .advertised_stream_data(id)
                    .map(|max| Control::MaxStreamData { id, max }),
                Control::MaxStreams { dir, .. } => Some(Control::MaxStreams {
                    dir,
                    count: conn.streams.advertised_streams(dir),
                }),
                Control::DataBlocked(_) | Control::StreamDataBlocked { .. } => None,
                // Re-handshake frames: re-sent while their exchange is still open.
                Control::Rekey { .. } | Control::RekeyReply { .. } => {
                    conn.rekey_still_open(&c).then_some(c)
                }
                Control::StreamOpen { id, .. } | Control::StopSending { id, .. }
                    if !conn.streams.is_live(id) =>
                {
                    None
                }
                // Application messages: re-sent unless their outcome is already known.
                other => {
                    let stale = conn.messages.as_mut().is_some_and(|a| !a.on_lost(&other));
                    (!stale).then_some(other)
                }
            };
            if let Some(c) = refreshed {
                conn.control.push_back(c);
            }
        }
    }

    /// A probe timeout fired and this is the oldest packet: send its data again.
    pub(crate) fn requeue_for_probe(&self, conn: &mut Conn) {
        if let Some((id, chunk)) = self.stream.as_ref() {
            conn.streams.on_chunk_lost(*id, chunk);
        }
    }
}

impl Session {
    /// Writes the next datagram for this session into `buf`, returning its path and
    /// length, or `None` if there is nothing to send now.
    pub(crate) fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        config: &NodeConfig,
    ) -> Option<(PathId, usize)> {
        // A session that may use a relayed path leaves room for the relay header on
        // every packet (PROTOCOL.md §12.3), whichever path it goes on.
        let limit = if self.standby.is_some() {
            config.max_packet_size - crate::frame::RELAY_OVERHEAD
        } else {
            config.max_packet_size
        };
        let max = buf.len().min(limit);
        match self.phase {
            Phase::Handshaking => return self.transmit_init(now, &mut buf[..max]),
            Phase::Draining { .. } | Phase::Closed => return None,
            Phase::Closing { .. } | Phase::Established => {}
        }
        self.flush_stream_events();
        let conn = self.conn.as_mut()?;
        // Initiator: RESPONSE goes again until the responder's first packet arrives.
        if let Some((next, rto)) = conn.response_resend
            && now >= next
        {
            let hs_len = conn.record_response(&mut buf[..max])?;
            conn.response_resend = Some((now + rto, rto * 2));
            self.stats.packets_sent += 1;
            self.stats.bytes_sent += hs_len as u64;
            return Some((self.path.id, hs_len));
        }
        if let Phase::Closing { .. } = self.phase {
            return self.transmit_close(now, &mut buf[..max]);
        }
        if self.punch.is_some() {
            if let Some(sent) = self.transmit_punch_answer(now, &mut buf[..max]) {
                return Some(sent);
            }
            if let Some(sent) = self.transmit_punch(now, &mut buf[..max], &config.rendezvous) {
                return Some(sent);
            }
        }
        if let Some(sent) = self.transmit_validation(now, &mut buf[..max]) {
            return Some(sent);
        }
        let budget = self.path.budget();
        let small = u64::try_from(paths::SMALL_PACKET).unwrap_or(u64::MAX);
        if budget < small {
            // The current path is unproven and its budget spent: only a packet from the
            // peer there reopens it. A probe timeout's or keepalive's packet goes to the
            // last validated path instead (it needs no budget), so a peer that moved
            // again meanwhile, or whose packets to us are lost, still hears from us.
            let probing = self
                .conn
                .as_ref()
                .is_some_and(|c| c.probes_pending > 0 || c.keepalive_pending);
            return match self.fallback {
                Some(fallback) if probing => {
                    self.transmit_established(now, &mut buf[..max], config, fallback)
                }
                _ => None,
            };
        }
        // An unvalidated path may get a packet smaller than a full one (an ACK and a
        // little data) when its budget is short of a full one.
        let max = budget.min(max as u64) as usize;
        let path = self.path.id;
        self.transmit_established(now, &mut buf[..max], config, path)
    }

    /// Whether the frame at the head of the control or datagram queue fits a packet of
    /// `size` bytes. The node asks before adding a packet to a GSO batch of `size`-byte
    /// segments: a frame that needs a larger packet ends the batch and goes first in
    /// the next one, instead of waiting behind bulk data.
    pub(crate) fn head_fits(&self, size: usize) -> bool {
        self.conn
            .as_ref()
            .and_then(|c| c.head_frame_len())
            .is_none_or(|n| HEADER_LEN + n + TAG_LEN <= size)
    }

    fn transmit_init(&mut self, now: Instant, buf: &mut [u8]) -> Option<(PathId, usize)> {
        let hs = self.handshake.as_mut()?;
        let part = hs.next_part;
        if part == 0 && now < hs.next_send {
            return None;
        }
        let len = hs.initiator.write_init_part(part, buf).ok()?;
        if part == 0 {
            hs.next_send = now + hs.rto;
            // Saturating: every COOKIE asks for an immediate resend, so the doublings are
            // not bounded by the handshake timeout and `*= 2` would overflow (a panic).
            hs.rto = hs.rto.saturating_mul(2);
        }
        // A hybrid INIT's second fragment follows its first at once (PROTOCOL.md §5.7.10).
        hs.next_part = if part + 1 < hs.initiator.init_parts() {
            part + 1
        } else {
            0
        };
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += len as u64;
        Some((self.path.id, len))
    }

    fn transmit_close(&mut self, now: Instant, buf: &mut [u8]) -> Option<(PathId, usize)> {
        let conn = self.conn.as_mut()?;
        if conn.close_sent {
            return None;
        }
        let (code, reason) = conn.close_frame.clone()?;
        conn.close_sent = true;
        // The linger (3 PTO) counts from the DISCONNECT's departure.
        let leave = now + conn.rtt.pto_base() * 3;
        if let Phase::Closing { until } = &mut self.phase {
            *until = (*until).max(leave);
        }
        let frame = Frame::Disconnect(Disconnect {
            code,
            reason: &reason,
        });
        // To the last proven path; an unvalidated current one only within its 3x
        // budget. The DISCONNECT answers the peer's stragglers, which may arrive on
        // another path than the current one: a spoofed packet that moved the session
        // must not turn them into traffic at the spoofed address (PROTOCOL.md §4.4).
        let (path, room) = match self.proven_path() {
            Some(p) => (p, buf.len()),
            None => {
                let budget = usize::try_from(self.path.budget()).unwrap_or(usize::MAX);
                (self.path.id, budget.min(buf.len()))
            }
        };
        let len = self.transmit_frames(now, &mut buf[..room], &[frame])?;
        if path == self.path.id && !self.path.validated {
            self.path.sent += len as u64;
        }
        Some((path, len))
    }

    /// Seals a packet holding exactly `frames` (plus a piggybacked ACK).
    pub(super) fn transmit_frames(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        frames: &[Frame<'_>],
    ) -> Option<usize> {
        let conn = self.conn.as_mut()?;
        let end = buf.len().checked_sub(TAG_LEN)?;
        let mut info = PacketInfo::default();
        let mut needed = 0;
        for f in frames {
            needed += f.encoded_len().ok()?;
        }
        let (written, eliciting, ack) = {
            let mut w = Writer::new(buf.get_mut(HEADER_LEN..end)?);
            // The ACK takes what the frames leave (its lowest ranges are dropped when
            // they do not fit), so it can never crowd out the frames this packet is for.
            let room = w.remaining().checked_sub(needed)?;
            let ack = conn.acks.write_frame(now, &mut w, room);
            let mut eliciting = false;
            for f in frames {
                f.write(&mut w).ok()?;
                eliciting |= f.is_ack_eliciting();
            }
            (w.position(), eliciting, ack)
        };
        if let Some(ack) = ack {
            info.largest_ack = ack.complete.then_some(ack.largest);
            conn.acks.on_ack_sent();
        }
        self.seal(now, buf, StreamId::CONTROL, written, eliciting, info)
    }

    /// Assembles the next packet of the established session, for path `to`.
    fn transmit_established(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        config: &NodeConfig,
        to: PathId,
    ) -> Option<(PathId, usize)> {
        let conn = self.conn.as_mut()?;
        let end = buf.len().checked_sub(TAG_LEN)?;
        let mtu = u16::try_from(buf.len()).unwrap_or(u16::MAX);
        let in_flight = conn.sent.bytes_in_flight();
        let probing = conn.probes_pending > 0;
        // RFC 9002 §7.3.2: one packet may go out on entering recovery, before the reduced
        // window applies, so the lost data is on its way again without waiting for the
        // flight to drain below the new window.
        let cwnd_open = probing || window_allows(in_flight, conn.cc.window(), conn.recovery_send);
        let mut may_elicit = cwnd_open;
        conn.pacer_next = None;
        if may_elicit && config.transport.pacing && !probing {
            conn.pacer_next = conn.pacer.delay(
                conn.rtt.smoothed_rtt(),
                u64::from(mtu),
                mtu,
                conn.cc.window(),
                now,
            );
            may_elicit = conn.pacer_next.is_none();
        }
        let ack_due = conn.acks.ack_due(now);
        let storage_pending = conn
            .messages
            .as_ref()
            .is_some_and(|a| a.fetches.has_pending());
        let wants_eliciting = conn.keepalive_pending
            || probing
            || !conn.control.is_empty()
            || !conn.datagrams_out.is_empty()
            || conn.streams.has_pending()
            || storage_pending;
        let pacing_limited = conn.pacer_next.is_some();
        if conn.metrics.is_some() && !(may_elicit && wants_eliciting) {
            let limit = match () {
                _ if wants_eliciting && !cwnd_open => SendLimit::Congestion,
                _ if wants_eliciting => SendLimit::Pacing,
                _ if conn.streams.credit_blocked() => SendLimit::FlowControl,
                _ => SendLimit::Application,
            };
            if let Some(log) = conn.metrics.as_mut() {
                log.send_limit(now, limit);
            }
        }
        if !(ack_due || may_elicit && wants_eliciting) {
            conn.app_limited = app_limited(
                wants_eliciting,
                cwnd_open,
                pacing_limited,
                in_flight,
                conn.cc.window(),
            );
            // Congestion-limited datagrams are dropped, not queued without bound.
            if !cwnd_open && !conn.datagrams_out.is_empty() {
                self.stats.datagrams_dropped += conn.datagrams_out.len() as u64;
                conn.datagrams_out.clear();
                conn.datagrams_out_bytes = 0;
            }
            return None;
        }
        let mut info = PacketInfo::default();
        let mut ack = None;
        let mut eliciting = false;
        let mut stream_id = StreamId::CONTROL;
        let written = {
            let mut w = Writer::new(buf.get_mut(HEADER_LEN..end)?);
            // A large control frame (a routed message, a custom frame) or datagram
            // must fit beside the ACK; when it would not, the ACK (repeated in every
            // packet until acknowledged) goes in the next packet instead of leaving the
            // frame stuck at the head of its queue. An ACK that is due goes first: the
            // frame then follows in the next packet.
            let front = match may_elicit && !ack_due {
                true => conn.head_frame_len(),
                false => None,
            };
            if ack_due || conn.acks.has_unacked() {
                let start = w.position();
                let room = w.remaining();
                ack = conn.acks.write_frame(now, &mut w, room);
                let ack_len = w.position() - start;
                if ack.is_some()
                    && front.is_some_and(|f| f > w.remaining() && f <= w.remaining() + ack_len)
                {
                    w.rewind(start);
                    ack = None;
                }
                info.largest_ack = ack.filter(|a| a.complete).map(|a| a.largest);
            }
            if may_elicit {
                while let Some(c) = conn.control.front() {
                    if c.write(&mut w).is_err() {
                        break;
                    }
                    if let Some(c) = conn.control.pop_front() {
                        info.control.push(c);
                    }
                    eliciting = true;
                }
                while let Some(d) = conn.datagrams_out.front() {
                    let frame = Frame::Datagram(Datagram { data: d });
                    let Ok(len) = frame.encoded_len() else {
                        break;
                    };
                    if len > w.remaining() || frame.write(&mut w).is_err() {
                        break;
                    }
                    if let Some(d) = conn.datagrams_out.pop_front() {
                        conn.datagrams_out_bytes -= d.len();
                    }
                    eliciting = true;
                }
                // Stream data and storage answers fill the rest, taking turns, up to a
                // whole number of AEAD blocks (unless a large frame is already past it).
                w.shorten(full_payload(end.saturating_sub(HEADER_LEN)));
                if storage_pending && (conn.storage_turn || !conn.streams.has_pending()) {
                    conn.storage_turn = false;
                    eliciting |= fill_storage(&mut w, conn, &mut info);
                }
                let room = w.remaining();
                if room > 16
                    && let Some((id, mut chunk)) = conn.streams.next_chunk(room - 16)
                {
                    let start = w.position();
                    let overhead = DataFrame::overhead(chunk.offset, chunk.len).unwrap_or(16);
                    chunk.len = chunk.len.min(room.saturating_sub(overhead));
                    // Recorded before the copy, not after: building the record from a
                    // chunk stored just before stalls on store forwarding.
                    info.stream = Some((id, chunk));
                    if write_data(&mut w, conn, id, &chunk).is_ok() {
                        stream_id = id;
                        eliciting = true;
                    } else {
                        // Could not copy: give the chunk back for a later packet.
                        info.stream = None;
                        conn.streams.on_chunk_lost(id, &chunk);
                        debug_assert_eq!(w.position(), start);
                    }
                }
                if info.stream.is_some() {
                    conn.storage_turn = true;
                }
                if storage_pending && info.storage.is_none() {
                    eliciting |= fill_storage(&mut w, conn, &mut info);
                }
                if !eliciting
                    && (conn.keepalive_pending || probing)
                    && Frame::Keepalive.write(&mut w).is_ok()
                {
                    eliciting = true;
                }
                // A data packet that is nearly full is padded to exactly full (a whole
                // number of AEAD blocks), so bulk packets share one size and the adapter
                // can batch them (GSO).
                if (info.stream.is_some() || info.storage.is_some()) && w.remaining() < FILL_SLACK {
                    let pad = w.remaining();
                    let _ = Frame::Padding { len: pad }.write(&mut w);
                }
            }
            w.position()
        };
        // Judged on what went out: data held back by flow control counts as none.
        conn.app_limited = app_limited(
            eliciting,
            cwnd_open,
            pacing_limited,
            in_flight,
            conn.cc.window(),
        );
        if written == 0 {
            return None;
        }
        if ack.is_some() {
            conn.acks.on_ack_sent();
        }
        if eliciting {
            conn.keepalive_pending = false;
            conn.probes_pending = conn.probes_pending.saturating_sub(1);
            conn.recovery_send = false;
        }
        if conn.metrics.is_some() {
            record_sent(now, conn, &info, eliciting);
        }
        let len = self.seal(now, buf, stream_id, written, eliciting, info)?;
        if to == self.path.id {
            self.path.sent += len as u64;
        }
        Some((to, len))
    }

    /// Seals `payload_len` bytes at `buf[HEADER_LEN..]` and records the packet.
    pub(super) fn seal(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        stream_id: StreamId,
        payload_len: usize,
        eliciting: bool,
        info: PacketInfo,
    ) -> Option<usize> {
        let conn = self.conn.as_mut()?;
        let packet_type = if self.side == crate::frame::Side::Responder && !conn.confirm_acked {
            PacketType::Confirm
        } else {
            PacketType::Data
        };
        let sealed =
            match conn
                .record
                .seal(packet_type, conn.peer_session, stream_id, buf, payload_len)
            {
                Ok(v) => v,
                Err(_) => {
                    // Packet numbers or key usage exhausted: the session cannot go on.
                    self.close(now, crate::frame::ErrorCode::PACKET_NUMBER_EXHAUSTED, b"");
                    return None;
                }
            };
        let (pn, len) = (sealed.pn, sealed.len);
        let size = u16::try_from(len).unwrap_or(u16::MAX);
        if eliciting {
            conn.last_eliciting_sent = now;
            // The first ack-eliciting packet after a receipt restarts the idle timer, so
            // probes during an outage keep a healthy session alive (RFC 9000 §10.1).
            if !conn.eliciting_since_recv {
                conn.eliciting_since_recv = true;
                conn.last_activity = now;
            }
            conn.cc
                .on_sent(now, u64::from(size), conn.sent.bytes_in_flight());
            conn.pacer.on_transmit(u64::from(size));
        }
        conn.sent.on_sent(
            pn,
            SentPacket {
                time_sent: now,
                size,
                ack_eliciting: eliciting,
                info,
            },
        );
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += len as u64;
        Some(len)
    }
}

/// Metrics of a packet about to be sealed: what it carried and that sending goes on.
fn record_sent(now: Instant, conn: &mut Conn, info: &PacketInfo, eliciting: bool) {
    let resent = conn.streams.last_chunk_resent;
    let Some(log) = conn.metrics.as_mut() else {
        return;
    };
    if eliciting {
        log.send_limit(now, SendLimit::Sending);
    }
    if let Some((stream, chunk)) = info.stream {
        let kind = if resent {
            DataKind::Resent
        } else {
            DataKind::Sent
        };
        log.push(
            now,
            Metric::StreamData {
                stream,
                offset: chunk.offset,
                len: chunk.len as u64,
                kind,
            },
        );
    }
    for c in &info.control {
        let (stream, limit) = match *c {
            Control::DataBlocked(limit) => (None, limit),
            Control::StreamDataBlocked { id, limit } => (Some(id), limit),
            _ => continue,
        };
        log.push(
            now,
            Metric::FlowBlocked {
                stream,
                limit,
                peer: false,
            },
        );
    }
}

/// Whether an ack-eliciting packet may go with `in_flight` bytes out under `window`:
/// while any of the window is unused, as Chromium's and msquic's QUIC senders decide, so
/// a window of 4.9 datagrams keeps five in flight rather than four (the window then
/// overshoots by less than one datagram, never more). `recovery_send` is the one packet
/// allowed on entering recovery.
fn window_allows(in_flight: u64, window: u64, recovery_send: bool) -> bool {
    recovery_send || in_flight < window
}

/// Whether the sender is application-limited (RFC 9002 §7.8): it sends nothing
/// ack-eliciting (`sending` false: no data, or data held back by flow control) although
/// neither the window nor the pacer holds it back, and under half the window is in
/// flight. ACKs of such a flight prove nothing about spare capacity, so they must not
/// grow the window; without this rule a sender held back by flow control (or a slow
/// writer) would inflate its window without bound and, once the limit lifts, burst it
/// all at once. Half, not all, as Linux judges slow start: a sender that uses at least
/// half its window still grows it, so the window stays within about twice the flight
/// the sender actually keeps.
fn app_limited(
    sending: bool,
    cwnd_open: bool,
    pacing_limited: bool,
    in_flight: u64,
    window: u64,
) -> bool {
    !sending && cwnd_open && !pacing_limited && in_flight < window / 2
}

/// Writes one piece of a storage answer into the room left; true if it did.
fn fill_storage(w: &mut Writer<'_>, conn: &mut Conn, info: &mut PacketInfo) -> bool {
    let room = w.remaining();
    if room <= STORAGE_FRAMING {
        return false;
    }
    let Some(messages) = conn.messages.as_mut() else {
        return false;
    };
    let Some((request, total, chunk)) = messages.fetches.next_chunk(room - STORAGE_FRAMING) else {
        return false;
    };
    if messages
        .fetches
        .write_chunk(w, request, total, &chunk)
        .is_err()
    {
        // Could not copy: give the piece back for a later packet.
        messages.fetches.on_chunk_lost(request, &chunk);
        return false;
    }
    info.storage = Some((request, chunk));
    true
}

fn write_data(
    w: &mut Writer<'_>,
    conn: &Conn,
    id: StreamId,
    chunk: &Chunk,
) -> Result<(), crate::frame::EncodeError> {
    // Encode the frame header with an empty body, then copy the bytes after it.
    let overhead = DataFrame::overhead(chunk.offset, chunk.len)?;
    w.reserve(overhead + chunk.len)?;
    let mut tmp = [0u8; 32];
    let hdr = {
        let mut hw = Writer::new(&mut tmp);
        hw.u8(crate::frame::FrameType::Data as u8)?;
        hw.u8(u8::from(chunk.fin))?;
        hw.varint(chunk.offset)?;
        hw.varint(chunk.len as u64)?;
        hw.position()
    };
    let start = w.position();
    w.put(&tmp[..hdr])?;
    let dst = w.claim(chunk.len)?;
    if !conn.streams.copy_chunk(id, chunk, dst) {
        w.rewind(start);
        return Err(crate::frame::EncodeError::BufferTooSmall { need: 0, have: 0 });
    }
    Ok(())
}

impl Conn {
    /// Encoded length of the frame that leads the next packet: the first queued control
    /// frame, else the first queued datagram.
    fn head_frame_len(&self) -> Option<usize> {
        match self.control.front() {
            Some(c) => c.encoded_len().ok(),
            None => self
                .datagrams_out
                .front()
                .and_then(|d| Frame::Datagram(Datagram { data: d }).encoded_len().ok()),
        }
    }

    /// Writes RESPONSE again (initiator, unconfirmed).
    fn record_response(&mut self, buf: &mut [u8]) -> Option<usize> {
        // The handshake object is consumed on establishment; the RESPONSE bytes are
        // kept for retransmission until the responder's first packet arrives.
        let bytes = self.response_bytes.as_ref()?;
        let dst = buf.get_mut(..bytes.len())?;
        dst.copy_from_slice(bytes);
        Some(bytes.len())
    }
}

#[cfg(test)]
mod tests {
    use super::{app_limited, window_allows};

    #[test]
    fn an_idle_sender_under_half_its_window_is_app_limited() {
        // Nothing to send, window open, a quarter of it in use.
        assert!(app_limited(false, true, false, 2_500, 10_000));
        // Data waiting, the window full, or the pacer holding it back: not app-limited.
        assert!(!app_limited(true, true, false, 2_500, 10_000));
        assert!(!app_limited(false, false, false, 2_500, 10_000));
        assert!(!app_limited(false, true, true, 2_500, 10_000));
        // Using at least half the window still counts as using it.
        assert!(!app_limited(false, true, false, 5_000, 10_000));
    }

    #[test]
    fn entering_recovery_allows_one_packet_beyond_the_window() {
        assert!(!window_allows(3_600, 3_600, false));
        // Just cut from 7 200 to 3 600 with 6 000 still in flight: one packet may go.
        assert!(window_allows(6_000, 3_600, true));
        assert!(!window_allows(u64::MAX, 3_600, false));
    }

    #[test]
    fn a_partly_used_window_takes_one_more_packet() {
        // 3.5 datagrams of 1 200: three are out and half a datagram of window is left.
        // A whole packet may still go (four in flight), or a fractional window would
        // waste half a datagram every round trip.
        assert!(window_allows(3_600, 4_200, false));
        assert!(window_allows(0, 1, false));
        assert!(!window_allows(4_800, 4_200, false));
    }
}
