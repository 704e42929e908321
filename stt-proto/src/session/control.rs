//! Control frames a session has queued to send, as owned values.
//!
//! A `Control` is re-queued when the packet carrying it is lost; credit frames are
//! refreshed with the latest value at that point instead of repeating a stale one.

use alloc::vec::Vec;

use crate::frame::{Dir, EncodeError, ErrorCode, Frame, StreamClose, StreamId, StreamOpen, Writer};

/// An owned, retransmittable control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    StreamOpen {
        id: StreamId,
        priority: u8,
        total_len: Option<u64>,
    },
    StreamClose {
        id: StreamId,
        code: ErrorCode,
        final_size: u64,
    },
    StopSending {
        id: StreamId,
        code: ErrorCode,
    },
    MaxData(u64),
    MaxStreamData {
        id: StreamId,
        max: u64,
    },
    MaxStreams {
        dir: Dir,
        count: u64,
    },
    DataBlocked(u64),
    StreamDataBlocked {
        id: StreamId,
        limit: u64,
    },
    Custom {
        frame_type: u8,
        message_id: u64,
        payload: Vec<u8>,
    },
}

impl Control {
    /// Writes the frame; fails without writing if it does not fit.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let frame = match self {
            Control::StreamOpen {
                id,
                priority,
                total_len,
            } => Frame::StreamOpen(StreamOpen {
                stream_id: *id,
                priority: *priority,
                total_len: *total_len,
            }),
            Control::StreamClose {
                id,
                code,
                final_size,
            } => Frame::StreamClose(StreamClose {
                stream_id: *id,
                code: *code,
                final_size: *final_size,
            }),
            Control::StopSending { id, code } => Frame::StopSending {
                stream_id: *id,
                code: *code,
            },
            Control::MaxData(max) => Frame::MaxData(*max),
            Control::MaxStreamData { id, max } => Frame::MaxStreamData {
                stream_id: *id,
                max: *max,
            },
            Control::MaxStreams { dir, count } => Frame::MaxStreams {
                dir: *dir,
                count: *count,
            },
            Control::DataBlocked(limit) => Frame::DataBlocked { limit: *limit },
            Control::StreamDataBlocked { id, limit } => Frame::StreamDataBlocked {
                stream_id: *id,
                limit: *limit,
            },
            Control::Custom {
                frame_type,
                message_id,
                payload,
            } => Frame::Custom {
                frame_type: *frame_type,
                message_id: *message_id,
                payload,
            },
        };
        let len = frame.encoded_len()?;
        w.reserve(len)?;
        frame.write(w)
    }
}
