//! Test-only access for the fuzz targets, the attack suite and the simulator
//! (`test-hooks` feature): seal arbitrary frame bytes as this session's next protected
//! packet, so a test can play an authenticated peer that breaks the rules, and read the
//! receive-side flow-control counters, so a test can check them from outside.
//!
//! Never compiled into a normal build; the protocol never calls it.

use alloc::vec::Vec;

use crate::frame::{HEADER_LEN, PacketType, Side, StreamId, TAG_LEN};
use crate::recovery::SentPacket;
use crate::time::Instant;

use super::{PacketInfo, Phase, Session};

/// One session's receive-side flow control as its own counters see it: what the peer
/// sent against what this side advertised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowAudit {
    /// Session-wide bytes counted against the window (highest offsets summed).
    pub session_received: u64,
    /// The session-wide limit advertised to the peer (MAX_DATA).
    pub session_advertised: u64,
    /// Streams holding data past their advertised limit: (stream, highest offset
    /// received, advertised limit). Empty unless flow control is broken.
    pub streams_over: Vec<(StreamId, u64, u64)>,
    /// Peer-opened streams so far, per direction (bidirectional, unidirectional).
    pub peer_streams_opened: [u64; 2],
    /// The stream-count limit advertised to the peer, per direction.
    pub peer_streams_limit: [u64; 2],
}

impl Session {
    /// The receive-side flow-control counters (`None` before the handshake).
    pub(crate) fn flow_audit(&self) -> Option<FlowAudit> {
        Some(self.conn.as_ref()?.streams.flow_audit())
    }

    /// Seals `payload` (raw frame bytes, not checked) as the next protected packet for
    /// the peer, with `stream_id` in its header; returns its length in `buf`. The packet
    /// number is recorded as sent (not ack-eliciting) so the peer's ACK of it is legal.
    pub(crate) fn seal_raw(
        &mut self,
        now: Instant,
        stream_id: StreamId,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Option<usize> {
        if !matches!(self.phase, Phase::Established) {
            return None;
        }
        let conn = self.conn.as_mut()?;
        let end = HEADER_LEN + payload.len();
        if buf.len() < end + TAG_LEN {
            return None;
        }
        buf[HEADER_LEN..end].copy_from_slice(payload);
        let packet_type = if self.side == Side::Responder && !conn.confirm_acked {
            PacketType::Confirm
        } else {
            PacketType::Data
        };
        let sealed = conn
            .record
            .seal(
                packet_type,
                conn.peer_session,
                stream_id,
                buf,
                payload.len(),
            )
            .ok()?;
        conn.sent.on_sent(
            sealed.pn,
            SentPacket {
                time_sent: now,
                size: u16::try_from(sealed.len).unwrap_or(u16::MAX),
                ack_eliciting: false,
                info: PacketInfo::default(),
            },
        );
        Some(sealed.len)
    }
}
