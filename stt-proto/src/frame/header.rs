//! The 20-byte packet header (PROTOCOL.md §2) and the ids it carries.
//!
//! The header is routing data: it is sent in clear and authenticated as AEAD associated
//! data, never encrypted. Decoding checks magic, type, version and reserved bits; it does
//! not look at the body.

use core::fmt;

use super::codec::{Reader, Writer};
use super::{DecodeError, EncodeError};

/// The two magic bytes every STT packet starts with: ASCII "ST".
pub const MAGIC: u16 = 0x5354;
/// Length of the fixed packet header in bytes.
pub const HEADER_LEN: usize = 20;
/// The protocol version this crate speaks, carried in the header flags.
pub const VERSION: u8 = 1;

/// What a packet is: the header's `frame_type` byte (PROTOCOL.md §2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PacketType {
    /// Handshake message 1 (Noise msg 1), initiator → responder.
    Init = 0x01,
    /// Handshake message 2 (Noise msg 2), responder → initiator.
    Challenge = 0x02,
    /// Handshake message 3 (Noise msg 3), initiator → responder.
    Response = 0x03,
    /// A protected packet from the responder that also confirms the handshake keys.
    Confirm = 0x04,
    /// Stateless cookie reply to an INIT under load.
    Cookie = 0x05,
    /// Stateless reset: the sender has no state for this session.
    Reset = 0x06,
    /// Version negotiation: the sender does not speak the INIT's version.
    Version = 0x07,
    /// A fragment of the hybrid handshake's message 1 (PROTOCOL.md §5.7.10).
    InitHybrid = 0x08,
    /// A fragment of the hybrid handshake's message 2 (PROTOCOL.md §5.7.10).
    ChallengeHybrid = 0x09,
    /// A member's refusal of a handshake mode (PROTOCOL.md §5.7.10).
    Refuse = 0x0a,
    /// A protected packet carrying frames.
    Data = 0x10,
}

impl PacketType {
    /// Parses the header's type byte.
    pub fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            0x01 => Self::Init,
            0x02 => Self::Challenge,
            0x03 => Self::Response,
            0x04 => Self::Confirm,
            0x05 => Self::Cookie,
            0x06 => Self::Reset,
            0x07 => Self::Version,
            0x08 => Self::InitHybrid,
            0x09 => Self::ChallengeHybrid,
            0x0a => Self::Refuse,
            0x10 => Self::Data,
            other => return Err(DecodeError::UnknownPacketType(other)),
        })
    }

    /// True for packets whose body is sealed with session keys (DATA and CONFIRM).
    pub fn is_protected(self) -> bool {
        matches!(self, Self::Data | Self::Confirm)
    }
}

/// The receiver-chosen session id that routes a packet before decryption.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SessionId(pub u64);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({:016x})", self.0)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Who opened a stream, from the session's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The node that sent INIT.
    Initiator,
    /// The node that answered with CHALLENGE.
    Responder,
}

/// Whether both sides may send on a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Both sides send and receive.
    Bi,
    /// Only the opener sends.
    Uni,
}

/// A stream id (PROTOCOL.md §4.1): bit 0 is the opener, bit 1 the direction, the rest
/// an index starting at 1. Stream 0 is the session's control channel and carries no
/// stream data.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct StreamId(pub u32);

impl StreamId {
    /// The control channel: packets with no stream data use it.
    pub const CONTROL: StreamId = StreamId(0);

    /// Builds the id of the `index`-th stream (1-based) of a kind, or `None` past u32.
    pub fn new(opener: Side, dir: Dir, index: u32) -> Option<Self> {
        let bits = match opener {
            Side::Initiator => 0,
            Side::Responder => 1,
        } | match dir {
            Dir::Bi => 0,
            Dir::Uni => 2,
        };
        index
            .checked_mul(4)
            .and_then(|v| v.checked_add(bits))
            .map(StreamId)
    }

    /// Which side opened the stream.
    pub fn opener(self) -> Side {
        if self.0 & 1 == 0 {
            Side::Initiator
        } else {
            Side::Responder
        }
    }

    /// The stream's direction.
    pub fn dir(self) -> Dir {
        if self.0 & 2 == 0 { Dir::Bi } else { Dir::Uni }
    }

    /// The 1-based index among streams of the same opener and direction (0 = control).
    pub fn index(self) -> u32 {
        self.0 >> 2
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StreamId({})", self.0)
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The header's flags byte (PROTOCOL.md §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flags(u8);

impl Flags {
    /// Mask of the protocol version bits.
    pub const VERSION_MASK: u8 = 0x07;
    /// The key-phase bit of protected packets.
    pub const KEY_PHASE: u8 = 0x40;
    const RESERVED: u8 = !(Self::VERSION_MASK | Self::KEY_PHASE);

    /// Version-1 flags with the given key phase.
    pub fn new(key_phase: bool) -> Self {
        Self(VERSION | if key_phase { Self::KEY_PHASE } else { 0 })
    }

    /// Parses the flags byte: the version must be ours and reserved bits must be zero.
    /// An unknown version is reported so a responder can answer with VERSION.
    pub fn from_u8(v: u8) -> Result<Self, DecodeError> {
        // The version is checked first: the other bits mean whatever that version says
        // (PROTOCOL.md §9), so a future version that uses them must still be reported as
        // an unknown version, not as a malformed version-1 packet.
        if v & Self::VERSION_MASK != VERSION {
            return Err(DecodeError::UnsupportedVersion(v & Self::VERSION_MASK));
        }
        if v & Self::RESERVED != 0 {
            return Err(DecodeError::ReservedBits(v));
        }
        Ok(Self(v))
    }

    /// The key phase of a protected packet.
    pub fn key_phase(self) -> bool {
        self.0 & Self::KEY_PHASE != 0
    }

    /// The raw byte.
    pub fn bits(self) -> u8 {
        self.0
    }
}

/// A decoded packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// What the packet is (the header's type byte, PROTOCOL.md §2).
    pub packet_type: PacketType,
    /// The receiver's session id (INIT: the initiator's own, see PROTOCOL.md §5).
    pub session_id: SessionId,
    /// The stream whose data the packet carries, or [`StreamId::CONTROL`].
    pub stream_id: StreamId,
    /// The per-direction packet number (AEAD nonce, ACK unit, replay index).
    pub sequence: u32,
    /// Version and key phase.
    pub flags: Flags,
}

impl Header {
    /// Decodes the first [`HEADER_LEN`] bytes of `buf`; the rest is not examined.
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let raw: [u8; HEADER_LEN] = r.array()?;
        Self::from_bytes(&raw)
    }

    /// Decodes an exact header array.
    pub fn from_bytes(raw: &[u8; HEADER_LEN]) -> Result<Self, DecodeError> {
        let magic = u16::from_be_bytes([raw[0], raw[1]]);
        if magic != MAGIC {
            return Err(DecodeError::BadMagic(magic));
        }
        let packet_type = PacketType::from_u8(raw[2])?;
        let flags = Flags::from_u8(raw[19])?;
        let mut sid = [0u8; 8];
        sid.copy_from_slice(&raw[3..11]);
        let mut stream = [0u8; 4];
        stream.copy_from_slice(&raw[11..15]);
        let mut seq = [0u8; 4];
        seq.copy_from_slice(&raw[15..19]);
        Ok(Self {
            packet_type,
            session_id: SessionId(u64::from_be_bytes(sid)),
            stream_id: StreamId(u32::from_be_bytes(stream)),
            sequence: u32::from_be_bytes(seq),
            flags,
        })
    }

    /// The header as its 20 wire bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..2].copy_from_slice(&MAGIC.to_be_bytes());
        out[2] = self.packet_type as u8;
        out[3..11].copy_from_slice(&self.session_id.0.to_be_bytes());
        out[11..15].copy_from_slice(&self.stream_id.0.to_be_bytes());
        out[15..19].copy_from_slice(&self.sequence.to_be_bytes());
        out[19] = self.flags.bits();
        out
    }

    /// Writes the header at the start of `buf`, returning [`HEADER_LEN`].
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(buf);
        w.put(&self.to_bytes())?;
        Ok(HEADER_LEN)
    }
}

/// The session id of a datagram, read from its header alone without any other check
/// than length and magic: lets an adapter shard sessions across sockets or cores.
pub fn route_key(datagram: &[u8]) -> Option<SessionId> {
    if datagram.len() < HEADER_LEN || datagram[0..2] != MAGIC.to_be_bytes() {
        return None;
    }
    let mut sid = [0u8; 8];
    sid.copy_from_slice(&datagram[3..11]);
    Some(SessionId(u64::from_be_bytes(sid)))
}
