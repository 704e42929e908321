//! Session control frames with a variable part (PROTOCOL.md §4.4): DISCONNECT and
//! DATAGRAM. Fixed-shape control frames are encoded inline in `frame/mod.rs`.

use super::codec::{Reader, Writer};
use super::{DecodeError, EncodeError, ErrorCode, FrameType};

/// Longest DISCONNECT reason, in bytes.
pub const MAX_REASON_LEN: usize = 256;

/// DISCONNECT (0x15): closes the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// Why (PROTOCOL.md §7).
    pub code: ErrorCode,
    /// Human-readable reason, UTF-8 by convention, at most [`MAX_REASON_LEN`] bytes.
    pub reason: &'a [u8],
}

impl<'a> Disconnect<'a> {
    pub(super) fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let code = ErrorCode(r.varint()?);
        let reason = r.len_prefixed("reason")?;
        if reason.len() > MAX_REASON_LEN {
            return Err(DecodeError::OutOfRange {
                field: "reason length",
                value: reason.len() as u64,
            });
        }
        Ok(Self { code, reason })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        if self.reason.len() > MAX_REASON_LEN {
            return Err(EncodeError::OutOfRange {
                field: "reason length",
                value: self.reason.len() as u64,
            });
        }
        w.u8(FrameType::Disconnect as u8)?;
        w.varint(self.code.0)?;
        w.len_prefixed(self.reason)
    }
}

/// DATAGRAM (0x48): unreliable application data, never retransmitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// The payload, borrowed from the packet.
    pub data: &'a [u8],
}

impl<'a> Datagram<'a> {
    pub(super) fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            data: r.len_prefixed("datagram")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::Datagram as u8)?;
        w.len_prefixed(self.data)
    }
}
