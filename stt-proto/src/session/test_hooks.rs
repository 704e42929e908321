//! Test-only access for the fuzz targets and the attack suite (`test-hooks` feature): seal
//! arbitrary frame bytes as this session's next protected packet, so a test can play
//! an authenticated peer that breaks the rules.
//!
//! Never compiled into a normal build; the protocol never calls it.

use crate::frame::{HEADER_LEN, PacketType, Side, StreamId, TAG_LEN};
use crate::recovery::SentPacket;
use crate::time::Instant;

use super::{PacketInfo, Phase, Session};

impl Session {
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
