//! Stream frames (PROTOCOL.md §4.3): DATA, STREAM_OPEN, STREAM_CLOSE and the helpers
//! for stream ids and counts inside frames.

use super::codec::{Reader, Writer};
use super::{DecodeError, EncodeError, ErrorCode, FrameType, StreamId, varint};

/// Most streams of one kind a session can ever open: every index must fit a u32 id.
pub(super) const MAX_STREAM_COUNT: u64 = (u32::MAX >> 2) as u64;

/// Smallest id a frame may name: index 1 (PROTOCOL.md §4.1). Ids 0–3 have index 0:
/// 0 is the control channel, which has no stream state, and 1–3 name no stream at all.
const MIN_STREAM_ID: u32 = 4;

/// Reads a stream id varint: a u32 with an index of at least 1.
pub(super) fn read_stream_id(r: &mut Reader<'_>) -> Result<StreamId, DecodeError> {
    let v = r.varint()?;
    if v < u64::from(MIN_STREAM_ID) || v > u64::from(u32::MAX) {
        return Err(DecodeError::OutOfRange {
            field: "stream id",
            value: v,
        });
    }
    Ok(StreamId(v as u32))
}

pub(super) fn write_stream_id(w: &mut Writer<'_>, id: StreamId) -> Result<(), EncodeError> {
    if id.0 < MIN_STREAM_ID {
        return Err(EncodeError::OutOfRange {
            field: "stream id",
            value: u64::from(id.0),
        });
    }
    w.varint(u64::from(id.0))
}

pub(super) fn read_stream_count(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let v = r.varint()?;
    if v > MAX_STREAM_COUNT {
        return Err(DecodeError::OutOfRange {
            field: "stream count",
            value: v,
        });
    }
    Ok(v)
}

pub(super) fn check_stream_count(v: u64) -> Result<(), EncodeError> {
    if v > MAX_STREAM_COUNT {
        return Err(EncodeError::OutOfRange {
            field: "stream count",
            value: v,
        });
    }
    Ok(())
}

/// DATA (0x10): bytes of the header's stream at `offset`; `fin` marks the last byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataFrame<'a> {
    /// Stream offset of the first byte.
    pub offset: u64,
    /// True if the stream ends with this frame's last byte.
    pub fin: bool,
    /// The bytes, borrowed from the packet.
    pub data: &'a [u8],
}

const FIN: u8 = 0x01;

impl<'a> DataFrame<'a> {
    pub(super) fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let flags = r.u8()?;
        if flags & !FIN != 0 {
            return Err(DecodeError::ReservedBits(flags));
        }
        let offset = r.varint()?;
        let data = r.len_prefixed("data")?;
        if offset + data.len() as u64 > varint::MAX {
            return Err(DecodeError::OutOfRange {
                field: "data end offset",
                value: offset,
            });
        }
        Ok(Self {
            offset,
            fin: flags & FIN != 0,
            data,
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let end = self.offset.saturating_add(self.data.len() as u64);
        if end > varint::MAX {
            return Err(EncodeError::OutOfRange {
                field: "data end offset",
                value: end,
            });
        }
        w.u8(FrameType::Data as u8)?;
        w.u8(if self.fin { FIN } else { 0 })?;
        w.varint(self.offset)?;
        w.len_prefixed(self.data)
    }

    /// Bytes this frame takes on the wire.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        Ok(Self::overhead(self.offset, self.data.len())? + self.data.len())
    }

    /// Framing bytes around `len` data bytes at `offset`: what a packet builder
    /// subtracts from the room it has.
    pub fn overhead(offset: u64, len: usize) -> Result<usize, EncodeError> {
        Ok(2 + varint::encoded_len(offset)? + varint::encoded_len(len as u64)?)
    }
}

/// STREAM_OPEN (0x11): opens a stream, with its priority and sending mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamOpen {
    /// The new stream.
    pub stream_id: StreamId,
    /// Scheduling priority: higher is sent first.
    pub priority: u8,
    /// Bounded mode: the total length the opener will send. `None` = live mode.
    pub total_len: Option<u64>,
}

impl StreamOpen {
    pub(super) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let stream_id = read_stream_id(r)?;
        let priority = r.u8()?;
        let total_len = match r.varint()? {
            0 => None,
            n => Some(n - 1),
        };
        Ok(Self {
            stream_id,
            priority,
            total_len,
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let total = match self.total_len {
            None => 0,
            Some(n) if n < varint::MAX => n + 1,
            Some(n) => {
                return Err(EncodeError::OutOfRange {
                    field: "total length",
                    value: n,
                });
            }
        };
        w.u8(FrameType::StreamOpen as u8)?;
        write_stream_id(w, self.stream_id)?;
        w.u8(self.priority)?;
        w.varint(total)
    }
}

/// STREAM_CLOSE (0x12): the sender abandons a stream's sending side (a reset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamClose {
    /// The stream.
    pub stream_id: StreamId,
    /// Application error code.
    pub code: ErrorCode,
    /// Bytes the sender had sent on the stream: settles flow-control accounting.
    pub final_size: u64,
}

impl StreamClose {
    pub(super) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            stream_id: read_stream_id(r)?,
            code: ErrorCode(r.varint()?),
            final_size: r.varint()?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::StreamClose as u8)?;
        write_stream_id(w, self.stream_id)?;
        w.varint(self.code.0)?;
        w.varint(self.final_size)
    }
}
