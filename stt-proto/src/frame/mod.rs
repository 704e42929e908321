//! Wire codec: the packet header, every frame of PROTOCOL.md, and handshake bodies.
//!
//! Decoders take untrusted bytes and return a typed [`DecodeError`] for anything
//! malformed; they never panic, never allocate and never read past their input.
//! Payloads are borrowed from the input (`&'a [u8]`), so an adapter holding a `Bytes`
//! turns them into zero-copy slices with `Bytes::slice_ref`. Encoders write into a
//! caller's `&mut [u8]` and report [`EncodeError::BufferTooSmall`] when it does not fit.
//! This module knows nothing of keys or sessions.

mod ack;
mod codec;
mod control;
mod endpoint;
mod error_code;
mod handshake;
mod header;
mod rendezvous;
mod storage;
mod stream;
pub mod varint;

pub use ack::{AckFrame, AckRange, AckRanges, MAX_ACK_RANGES};
pub use codec::{Reader, Writer};
pub use control::{Datagram, Disconnect, MAX_REASON_LEN};
pub use endpoint::{
    ENDPOINT_ID_LEN, EndpointId, EndpointRefuse, EndpointRegister, EndpointResolve, EndpointRoute,
    ResolveKind,
};
pub use error_code::ErrorCode;
pub use handshake::{
    ChallengeBody, CookieBody, InitBody, MAX_VERSIONS, ResetBody, ResponseBody, VersionBody,
};
pub use header::{
    Dir, Flags, HEADER_LEN, Header, MAGIC, PacketType, SessionId, Side, StreamId, VERSION,
    route_key,
};
pub use rendezvous::{
    MAX_RDV_ADDR_LEN, RELAY_KIND_RELAYED, RELAY_MAGIC, RELAY_OVERHEAD, RdvAnswer, RdvPeer,
    RdvStatus, is_relay_datagram, relay_route, write_relay_header,
};
pub use storage::{OBJECT_HASH_LEN, StorageData, StorageGet, StorageRefuse};
pub use stream::{DataFrame, StreamClose, StreamOpen};

/// Length of the AEAD tag that ends every protected packet.
pub const TAG_LEN: usize = 16;
/// Default largest datagram: the 1472-byte UDP payload of a 1500-byte Ethernet MTU.
pub const DEFAULT_MAX_PACKET: usize = 1472;
/// Smallest maximum packet size a node may be configured with.
pub const MIN_MAX_PACKET: usize = 1200;

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input ended before a field did.
    #[error("input too short: needed {need} more bytes, {have} left")]
    Short {
        /// Bytes the field needed.
        need: usize,
        /// Bytes that were left.
        have: usize,
    },
    /// The first two bytes are not "ST".
    #[error("bad magic {0:#06x}")]
    BadMagic(u16),
    /// The header's type byte names no packet type.
    #[error("unknown packet type {0:#04x}")]
    UnknownPacketType(u8),
    /// A frame type byte names no frame that may appear in a protected payload.
    #[error("unknown frame type {0:#04x}")]
    UnknownFrameType(u8),
    /// The header's version bits are not a version this node speaks.
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// Reserved header flag bits were set.
    #[error("reserved flag bits set in {0:#04x}")]
    ReservedBits(u8),
    /// A length field points past the end of the input.
    #[error("{field} length {len} exceeds the {remaining} bytes left")]
    LengthOverflow {
        /// Which field.
        field: &'static str,
        /// The length it claimed.
        len: u64,
        /// Bytes actually left.
        remaining: usize,
    },
    /// Bytes were left after a structure that must fill its input.
    #[error("{0} trailing bytes")]
    TrailingBytes(usize),
    /// A field holds a value outside its allowed range.
    #[error("{field} value {value} out of range")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
}

/// Why a value could not be encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The output buffer is too small.
    #[error("buffer too small: need {need} bytes, have {have}")]
    BufferTooSmall {
        /// Total bytes needed.
        need: usize,
        /// Bytes the buffer has.
        have: usize,
    },
    /// A varint field is above 2⁶² − 1.
    #[error("value {0} does not fit a varint")]
    VarintTooLarge(u64),
    /// A field is outside the range the wire format allows.
    #[error("{field} value {value} out of range")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// The value given.
        value: u64,
    },
}

/// Frame type codes that may appear inside a protected payload (PROTOCOL.md §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// 0x00: one byte of padding.
    Padding = 0x00,
    /// 0x10: stream data for the header's stream.
    Data = 0x10,
    /// 0x11: opens a stream and announces its mode and priority.
    StreamOpen = 0x11,
    /// 0x12: abrupt end of a stream's sending side (reset) with an error code.
    StreamClose = 0x12,
    /// 0x13: acknowledges packet numbers.
    Ack = 0x13,
    /// 0x14: asks for an acknowledgement; keeps an idle session alive.
    Keepalive = 0x14,
    /// 0x15: closes the session with an error code and reason.
    Disconnect = 0x15,
    /// 0x16: asks the peer to stop sending on a stream.
    StopSending = 0x16,
    /// 0x17: starts a re-handshake: the initiator's fresh ephemeral DH key.
    Rekey = 0x17,
    /// 0x18: answers a re-handshake: the responder's fresh ephemeral DH key.
    RekeyReply = 0x18,
    /// 0x20: announces (or withdraws) a named endpoint this node serves.
    EndpointRegister = 0x20,
    /// 0x21: asks whether the peer serves a name, or answers that question.
    EndpointResolve = 0x21,
    /// 0x22: a message for a named endpoint.
    EndpointRoute = 0x22,
    /// 0x23: refuses a routed message (full queue, unknown endpoint).
    EndpointRefuse = 0x23,
    /// 0x24: a routed message was queued for its endpoint.
    EndpointAccept = 0x24,
    /// 0x30: session-level flow-control credit.
    MaxData = 0x30,
    /// 0x31: stream-level flow-control credit.
    MaxStreamData = 0x31,
    /// 0x32: how many bidirectional streams the peer may open.
    MaxStreamsBidi = 0x32,
    /// 0x33: how many unidirectional streams the peer may open.
    MaxStreamsUni = 0x33,
    /// 0x34: the sender is blocked by session credit.
    DataBlocked = 0x34,
    /// 0x35: the sender is blocked by a stream's credit.
    StreamDataBlocked = 0x35,
    /// 0x40: path validation challenge.
    PathChallenge = 0x40,
    /// 0x41: path validation response.
    PathResponse = 0x41,
    /// 0x48: an unreliable datagram.
    Datagram = 0x48,
    /// 0x50: registers this session's authenticated NodeId with a rendezvous.
    RdvRegister = 0x50,
    /// 0x51: asks a rendezvous for a registered node's observed address.
    RdvLookup = 0x51,
    /// 0x52: asks a rendezvous to introduce this node to another.
    RdvConnect = 0x52,
    /// 0x53: a rendezvous answers a request.
    RdvAnswer = 0x53,
    /// 0x54: a rendezvous introduces the other peer (address, relay route, role).
    RdvPeer = 0x54,
    /// 0x60: asks for a stored object by hash.
    StorageGet = 0x60,
    /// 0x61: a piece of a requested object.
    StorageData = 0x61,
    /// 0x62: the requested object will not be sent.
    StorageRefuse = 0x62,
    /// 0x63: the requester no longer wants an object.
    StorageCancel = 0x63,
}

impl FrameType {
    /// Parses a frame type byte below 0x80 (0x80–0xFF are [`Frame::Custom`]).
    pub fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            0x00 => Self::Padding,
            0x10 => Self::Data,
            0x11 => Self::StreamOpen,
            0x12 => Self::StreamClose,
            0x13 => Self::Ack,
            0x14 => Self::Keepalive,
            0x15 => Self::Disconnect,
            0x16 => Self::StopSending,
            0x17 => Self::Rekey,
            0x18 => Self::RekeyReply,
            0x20 => Self::EndpointRegister,
            0x21 => Self::EndpointResolve,
            0x22 => Self::EndpointRoute,
            0x23 => Self::EndpointRefuse,
            0x24 => Self::EndpointAccept,
            0x30 => Self::MaxData,
            0x31 => Self::MaxStreamData,
            0x32 => Self::MaxStreamsBidi,
            0x33 => Self::MaxStreamsUni,
            0x34 => Self::DataBlocked,
            0x35 => Self::StreamDataBlocked,
            0x40 => Self::PathChallenge,
            0x41 => Self::PathResponse,
            0x48 => Self::Datagram,
            0x50 => Self::RdvRegister,
            0x51 => Self::RdvLookup,
            0x52 => Self::RdvConnect,
            0x53 => Self::RdvAnswer,
            0x54 => Self::RdvPeer,
            0x60 => Self::StorageGet,
            0x61 => Self::StorageData,
            0x62 => Self::StorageRefuse,
            0x63 => Self::StorageCancel,
            other => return Err(DecodeError::UnknownFrameType(other)),
        })
    }
}

/// First code of the application-defined frame range.
pub const CUSTOM_MIN: u8 = 0x80;

/// One frame of a protected payload, borrowing its variable parts from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A run of `len` padding bytes (consecutive 0x00 bytes decode as one frame).
    Padding {
        /// Number of padding bytes.
        len: usize,
    },
    /// Stream data for the packet header's stream.
    Data(DataFrame<'a>),
    /// Opens a stream.
    StreamOpen(StreamOpen),
    /// Resets a stream's sending side.
    StreamClose(StreamClose),
    /// Acknowledges packets.
    Ack(AckFrame<'a>),
    /// Elicits an acknowledgement.
    Keepalive,
    /// Closes the session.
    Disconnect(Disconnect<'a>),
    /// Asks the peer to stop sending on a stream.
    StopSending {
        /// The stream.
        stream_id: StreamId,
        /// Application error code.
        code: ErrorCode,
    },
    /// Starts a re-handshake (PROTOCOL.md §6.7).
    Rekey {
        /// Re-handshake number, counting from 0 per session.
        seq: u64,
        /// The session initiator's fresh X25519 public key.
        public: [u8; 32],
    },
    /// Answers a re-handshake (PROTOCOL.md §6.7).
    RekeyReply {
        /// The REKEY's number.
        seq: u64,
        /// The key phase whose secrets the new DH output is mixed into.
        generation: u64,
        /// The session responder's fresh X25519 public key.
        public: [u8; 32],
    },
    /// Registers or withdraws a named endpoint.
    EndpointRegister(EndpointRegister),
    /// Resolves a named endpoint.
    EndpointResolve(EndpointResolve),
    /// Routes a message to a named endpoint.
    EndpointRoute(EndpointRoute<'a>),
    /// Refuses a routed message.
    EndpointRefuse(EndpointRefuse),
    /// A routed message was queued for its endpoint.
    EndpointAccept {
        /// The accepted message's id.
        message_id: u64,
    },
    /// Session credit: total stream bytes the peer may send.
    MaxData(u64),
    /// Stream credit: highest offset the peer may send on a stream.
    MaxStreamData {
        /// The stream.
        stream_id: StreamId,
        /// Highest allowed offset (exclusive).
        max: u64,
    },
    /// How many streams of a direction the peer may open in total.
    MaxStreams {
        /// Which kind of stream.
        dir: Dir,
        /// Cumulative count.
        count: u64,
    },
    /// The sender has data but no session credit.
    DataBlocked {
        /// The limit it is blocked at.
        limit: u64,
    },
    /// The sender has data but no credit on a stream.
    StreamDataBlocked {
        /// The stream.
        stream_id: StreamId,
        /// The limit it is blocked at.
        limit: u64,
    },
    /// Path validation challenge data.
    PathChallenge([u8; 8]),
    /// Path validation response data.
    PathResponse([u8; 8]),
    /// An unreliable datagram.
    Datagram(Datagram<'a>),
    /// Registers this session's peer with the rendezvous (PROTOCOL.md §12.2).
    RdvRegister {
        /// Chosen by the requester; echoed in the answer.
        request_id: u64,
    },
    /// Asks for a registered node's observed address.
    RdvLookup {
        /// Chosen by the requester; echoed in the answer.
        request_id: u64,
        /// The node asked about.
        node_id: [u8; 32],
    },
    /// Asks the rendezvous to introduce this session's peer to a node.
    RdvConnect {
        /// Chosen by the requester; echoed in RDV_PEER or RDV_ANSWER.
        request_id: u64,
        /// The node to meet.
        node_id: [u8; 32],
    },
    /// A rendezvous's answer.
    RdvAnswer(RdvAnswer<'a>),
    /// A rendezvous's introduction of the other peer.
    RdvPeer(RdvPeer<'a>),
    /// Asks for a stored object by hash.
    StorageGet(StorageGet),
    /// A piece of a requested object.
    StorageData(StorageData<'a>),
    /// The requested object will not be sent.
    StorageRefuse(StorageRefuse),
    /// The requester no longer wants an object.
    StorageCancel {
        /// The STORAGE_GET's request id.
        request_id: u64,
    },
    /// An application-defined frame, type 0x80–0xFF.
    Custom {
        /// The type byte, 0x80–0xFF.
        frame_type: u8,
        /// Application message id (PROTOCOL.md §4.8): retransmissions repeat it.
        message_id: u64,
        /// Opaque payload.
        payload: &'a [u8],
    },
}

impl<'a> Frame<'a> {
    /// Decodes one frame from the reader.
    pub fn decode(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let ty = r.u8()?;
        if ty >= CUSTOM_MIN {
            return Ok(Frame::Custom {
                frame_type: ty,
                message_id: r.varint()?,
                payload: r.len_prefixed("custom payload")?,
            });
        }
        Ok(match FrameType::from_u8(ty)? {
            FrameType::Padding => {
                let rest = r.rest();
                let run = rest.iter().position(|&b| b != 0).unwrap_or(rest.len());
                r.bytes(run)?;
                Frame::Padding { len: run + 1 }
            }
            FrameType::Data => Frame::Data(DataFrame::decode_body(r)?),
            FrameType::StreamOpen => Frame::StreamOpen(StreamOpen::decode_body(r)?),
            FrameType::StreamClose => Frame::StreamClose(StreamClose::decode_body(r)?),
            FrameType::Ack => Frame::Ack(AckFrame::decode_body(r)?),
            FrameType::Keepalive => Frame::Keepalive,
            FrameType::Disconnect => Frame::Disconnect(Disconnect::decode_body(r)?),
            FrameType::StopSending => Frame::StopSending {
                stream_id: stream::read_stream_id(r)?,
                code: ErrorCode(r.varint()?),
            },
            FrameType::Rekey => Frame::Rekey {
                seq: r.varint()?,
                public: r.array()?,
            },
            FrameType::RekeyReply => Frame::RekeyReply {
                seq: r.varint()?,
                generation: r.varint()?,
                public: r.array()?,
            },
            FrameType::EndpointRegister => {
                Frame::EndpointRegister(EndpointRegister::decode_body(r)?)
            }
            FrameType::EndpointResolve => Frame::EndpointResolve(EndpointResolve::decode_body(r)?),
            FrameType::EndpointRoute => Frame::EndpointRoute(EndpointRoute::decode_body(r)?),
            FrameType::EndpointRefuse => Frame::EndpointRefuse(EndpointRefuse::decode_body(r)?),
            FrameType::EndpointAccept => Frame::EndpointAccept {
                message_id: r.varint()?,
            },
            FrameType::MaxData => Frame::MaxData(r.varint()?),
            FrameType::MaxStreamData => Frame::MaxStreamData {
                stream_id: stream::read_stream_id(r)?,
                max: r.varint()?,
            },
            FrameType::MaxStreamsBidi => Frame::MaxStreams {
                dir: Dir::Bi,
                count: stream::read_stream_count(r)?,
            },
            FrameType::MaxStreamsUni => Frame::MaxStreams {
                dir: Dir::Uni,
                count: stream::read_stream_count(r)?,
            },
            FrameType::DataBlocked => Frame::DataBlocked { limit: r.varint()? },
            FrameType::StreamDataBlocked => Frame::StreamDataBlocked {
                stream_id: stream::read_stream_id(r)?,
                limit: r.varint()?,
            },
            FrameType::PathChallenge => Frame::PathChallenge(r.array()?),
            FrameType::PathResponse => Frame::PathResponse(r.array()?),
            FrameType::Datagram => Frame::Datagram(Datagram::decode_body(r)?),
            FrameType::RdvRegister => Frame::RdvRegister {
                request_id: r.varint()?,
            },
            FrameType::RdvLookup => Frame::RdvLookup {
                request_id: r.varint()?,
                node_id: r.array()?,
            },
            FrameType::RdvConnect => Frame::RdvConnect {
                request_id: r.varint()?,
                node_id: r.array()?,
            },
            FrameType::RdvAnswer => Frame::RdvAnswer(RdvAnswer::decode_body(r)?),
            FrameType::RdvPeer => Frame::RdvPeer(RdvPeer::decode_body(r)?),
            FrameType::StorageGet => Frame::StorageGet(StorageGet::decode_body(r)?),
            FrameType::StorageData => Frame::StorageData(StorageData::decode_body(r)?),
            FrameType::StorageRefuse => Frame::StorageRefuse(StorageRefuse::decode_body(r)?),
            FrameType::StorageCancel => Frame::StorageCancel {
                request_id: r.varint()?,
            },
        })
    }

    /// Decodes a buffer that must hold exactly one frame.
    pub fn decode_exact(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let frame = Self::decode(&mut r)?;
        r.finish()?;
        Ok(frame)
    }

    /// Encodes the frame, returning the bytes written.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(buf);
        self.write(&mut w)?;
        Ok(w.position())
    }

    /// Encodes the frame at the writer's position.
    pub fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        match self {
            Frame::Padding { len } => {
                w.claim(*len)?.fill(0);
                Ok(())
            }
            Frame::Data(f) => f.write(w),
            Frame::StreamOpen(f) => f.write(w),
            Frame::StreamClose(f) => f.write(w),
            Frame::Ack(f) => f.write(w),
            Frame::Keepalive => w.u8(FrameType::Keepalive as u8),
            Frame::Disconnect(f) => f.write(w),
            Frame::StopSending { stream_id, code } => {
                w.u8(FrameType::StopSending as u8)?;
                stream::write_stream_id(w, *stream_id)?;
                w.varint(code.0)
            }
            Frame::Rekey { seq, public } => {
                w.u8(FrameType::Rekey as u8)?;
                w.varint(*seq)?;
                w.put(public)
            }
            Frame::RekeyReply {
                seq,
                generation,
                public,
            } => {
                w.u8(FrameType::RekeyReply as u8)?;
                w.varint(*seq)?;
                w.varint(*generation)?;
                w.put(public)
            }
            Frame::EndpointRegister(f) => f.write(w),
            Frame::EndpointResolve(f) => f.write(w),
            Frame::EndpointRoute(f) => f.write(w),
            Frame::EndpointRefuse(f) => f.write(w),
            Frame::EndpointAccept { message_id } => {
                w.u8(FrameType::EndpointAccept as u8)?;
                w.varint(*message_id)
            }
            Frame::MaxData(max) => {
                w.u8(FrameType::MaxData as u8)?;
                w.varint(*max)
            }
            Frame::MaxStreamData { stream_id, max } => {
                w.u8(FrameType::MaxStreamData as u8)?;
                stream::write_stream_id(w, *stream_id)?;
                w.varint(*max)
            }
            Frame::MaxStreams { dir, count } => {
                stream::check_stream_count(*count)?;
                w.u8(match dir {
                    Dir::Bi => FrameType::MaxStreamsBidi,
                    Dir::Uni => FrameType::MaxStreamsUni,
                } as u8)?;
                w.varint(*count)
            }
            Frame::DataBlocked { limit } => {
                w.u8(FrameType::DataBlocked as u8)?;
                w.varint(*limit)
            }
            Frame::StreamDataBlocked { stream_id, limit } => {
                w.u8(FrameType::StreamDataBlocked as u8)?;
                stream::write_stream_id(w, *stream_id)?;
                w.varint(*limit)
            }
            Frame::PathChallenge(data) => {
                w.u8(FrameType::PathChallenge as u8)?;
                w.put(data)
            }
            Frame::PathResponse(data) => {
                w.u8(FrameType::PathResponse as u8)?;
                w.put(data)
            }
            Frame::Datagram(f) => f.write(w),
            Frame::RdvRegister { request_id } => {
                w.u8(FrameType::RdvRegister as u8)?;
                w.varint(*request_id)
            }
            Frame::RdvLookup {
                request_id,
                node_id,
            } => {
                w.u8(FrameType::RdvLookup as u8)?;
                w.varint(*request_id)?;
                w.put(node_id)
            }
            Frame::RdvConnect {
                request_id,
                node_id,
            } => {
                w.u8(FrameType::RdvConnect as u8)?;
                w.varint(*request_id)?;
                w.put(node_id)
            }
            Frame::RdvAnswer(f) => f.write(w),
            Frame::RdvPeer(f) => f.write(w),
            Frame::StorageGet(f) => f.write(w),
            Frame::StorageData(f) => f.write(w),
            Frame::StorageRefuse(f) => f.write(w),
            Frame::StorageCancel { request_id } => {
                w.u8(FrameType::StorageCancel as u8)?;
                w.varint(*request_id)
            }
            Frame::Custom {
                frame_type,
                message_id,
                payload,
            } => {
                if *frame_type < CUSTOM_MIN {
                    return Err(EncodeError::OutOfRange {
                        field: "custom frame type",
                        value: u64::from(*frame_type),
                    });
                }
                w.u8(*frame_type)?;
                w.varint(*message_id)?;
                w.len_prefixed(payload)
            }
        }
    }

    /// The exact number of bytes [`Frame::encode`] writes.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        let mut scratch = [0u8; 64];
        match self {
            Frame::Padding { len } => Ok(*len),
            Frame::Data(f) => f.encoded_len(),
            Frame::Disconnect(d) => Ok(1
                + varint::encoded_len(d.code.0)?
                + varint::encoded_len(d.reason.len() as u64)?
                + d.reason.len()),
            Frame::EndpointRoute(f) => f.encoded_len(),
            Frame::Datagram(d) => Ok(1 + varint::encoded_len(d.data.len() as u64)? + d.data.len()),
            Frame::Custom {
                message_id,
                payload,
                ..
            } => Ok(1
                + varint::encoded_len(*message_id)?
                + varint::encoded_len(payload.len() as u64)?
                + payload.len()),
            Frame::StorageData(f) => f.encoded_len(),
            Frame::Ack(a) => a.encoded_len(),
            // Larger than the scratch buffer below: measured in one of their own.
            Frame::RdvAnswer(_) | Frame::RdvPeer(_) => {
                let mut big = [0u8; 128];
                self.encode(&mut big)
            }
            // Every other frame is small and fixed-shape: measure it.
            other => other.encode(&mut scratch),
        }
    }

    /// True if receiving this frame obliges the receiver to acknowledge the packet.
    pub fn is_ack_eliciting(&self) -> bool {
        !matches!(self, Frame::Padding { .. } | Frame::Ack(_))
    }
}

/// Iterates over the frames of a decrypted payload; stops after the first error.
#[derive(Debug, Clone)]
pub struct Frames<'a> {
    reader: Reader<'a>,
    failed: bool,
}

impl<'a> Frames<'a> {
    /// Iterates over `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        Self {
            reader: Reader::new(payload),
            failed: false,
        }
    }

    /// Offset in the payload of the next frame to decode.
    pub fn position(&self) -> usize {
        self.reader.position()
    }

    /// True if nothing but padding is left: later frames, if any, have no effect.
    pub fn only_padding_left(&self) -> bool {
        self.reader
            .rest()
            .iter()
            .all(|&b| b == FrameType::Padding as u8)
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        let item = Frame::decode(&mut self.reader);
        self.failed = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
mod tests;
