//! The hybrid (post-quantum) handshake's wire pieces (PROTOCOL.md §5.7.10): the mode a
//! node runs in, the two-fragment carriage of the large INIT and CHALLENGE, the REFUSE
//! reply that negotiates a mode without a silent downgrade, and the responder's bounded
//! reassembly table.
//!
//! Nothing here runs Noise: the initiator and responder modules do. Every fragment and
//! REFUSE carries a MAC under the network's hybrid key, so only members make a node
//! buffer a fragment or change mode; the table is fixed-size and its entries expire.

use alloc::vec::Vec;
use core::time::Duration;

use subtle::ConstantTimeEq;

use super::{DH_LEN, HandshakeError, INIT_PAYLOAD_LEN, MAC2_LEN, NOISE_TAG_LEN};
use crate::Instant;
use crate::crypto::{MLKEM768_CT_LEN, MLKEM768_EK_LEN, hmac_sha256};
use crate::frame::{HEADER_LEN, Header, MIN_MAX_PACKET, PacketType, SessionId};

pub use crate::config::PqMode;

/// Length of a fragment's MAC.
pub const FRAG_MAC_LEN: usize = 16;
/// Bytes a fragment adds to its piece: header, index byte, MAC.
pub const FRAG_OVERHEAD: usize = HEADER_LEN + 1 + FRAG_MAC_LEN;
/// Every first fragment is exactly this long: the minimum datagram size STT supports.
pub const FRAG0_LEN: usize = MIN_MAX_PACKET;
/// Bytes of the logical message (after its 20-byte header) the first fragment carries.
pub const FRAG0_PIECE: usize = FRAG0_LEN - FRAG_OVERHEAD;

/// The hybrid INIT as one logical packet: header ‖ `e` ‖ sealed `ek` ‖ sealed payload ‖
/// `mac2` (1476 bytes); it travels as two fragments.
pub const HYBRID_INIT_LEN: usize = HEADER_LEN
    + DH_LEN
    + MLKEM768_EK_LEN
    + NOISE_TAG_LEN
    + INIT_PAYLOAD_LEN
    + NOISE_TAG_LEN
    + MAC2_LEN;
/// The second INIT fragment's length (330 bytes).
pub const HYBRID_INIT_FRAG1_LEN: usize = FRAG_OVERHEAD + HYBRID_INIT_LEN - HEADER_LEN - FRAG0_PIECE;
/// Both INIT fragments together (1530 bytes): what the responder received before it answers.
pub const HYBRID_INIT_WIRE_LEN: usize = FRAG0_LEN + HYBRID_INIT_FRAG1_LEN;
/// Shortest logical hybrid CHALLENGE: header ‖ `e` ‖ sealed ciphertext ‖ sealed static ‖
/// sealed payload without parameters.
pub const MIN_HYBRID_CHALLENGE_LEN: usize = HEADER_LEN
    + DH_LEN
    + MLKEM768_CT_LEN
    + NOISE_TAG_LEN
    + DH_LEN
    + NOISE_TAG_LEN
    + super::payload::CHALLENGE_FIXED
    + NOISE_TAG_LEN;
/// Longest logical hybrid CHALLENGE (with the most transport parameters): 1374 bytes.
pub const MAX_HYBRID_CHALLENGE_LEN: usize = MIN_HYBRID_CHALLENGE_LEN + super::MAX_PARAMS_LEN;
/// Both CHALLENGE fragments at their longest (1428 bytes).
pub const MAX_HYBRID_CHALLENGE_WIRE_LEN: usize =
    MAX_HYBRID_CHALLENGE_LEN - HEADER_LEN + 2 * FRAG_OVERHEAD;
/// Length of a REFUSE packet: header, code, MAC.
pub const REFUSE_LEN: usize = HEADER_LEN + 1 + FRAG_MAC_LEN;

// Before address validation no reply may exceed what caused it (PROTOCOL.md §5.7.10).
const _: () = assert!(MAX_HYBRID_CHALLENGE_WIRE_LEN <= HYBRID_INIT_WIRE_LEN);
const _: () = assert!(REFUSE_LEN < super::INIT_LEN);
const _: () = assert!(HYBRID_INIT_FRAG1_LEN <= FRAG0_LEN);
const _: () =
    assert!(MAX_HYBRID_CHALLENGE_LEN - HEADER_LEN - FRAG0_PIECE + FRAG_OVERHEAD <= FRAG0_LEN);
const _: () = assert!(MIN_HYBRID_CHALLENGE_LEN - HEADER_LEN > FRAG0_PIECE);

/// Why a REFUSE was sent (its code byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RefuseCode {
    /// The responder runs classic only (`off`) and got a hybrid INIT.
    HybridUnsupported = 1,
    /// The responder requires hybrid and got a classic INIT.
    HybridRequired = 2,
    /// A hybrid-capable responder got a classic INIT saying hybrid had been refused: it
    /// never refuses hybrid, so someone forged or replayed that refusal.
    Downgrade = 3,
}

impl RefuseCode {
    fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::HybridUnsupported),
            2 => Some(Self::HybridRequired),
            3 => Some(Self::Downgrade),
            _ => None,
        }
    }
}

fn mac16(key: &[u8; 32], parts: &[&[u8]]) -> [u8; FRAG_MAC_LEN] {
    let full = hmac_sha256(key, parts);
    let mut out = [0u8; FRAG_MAC_LEN];
    out.copy_from_slice(&full[..FRAG_MAC_LEN]);
    out
}

/// Writes fragment `index` (0 or 1) of the logical packet `logical` (header first) into
/// `out`; returns its length. The header is repeated; the piece is `logical[20..]` cut at
/// [`FRAG0_PIECE`]; the MAC covers everything before it.
pub(crate) fn write_fragment(
    key: &[u8; 32],
    logical: &[u8],
    index: usize,
    out: &mut [u8],
) -> Result<usize, HandshakeError> {
    let body = logical.get(HEADER_LEN..).ok_or(HandshakeError::Internal)?;
    let piece = match index {
        0 => body.get(..FRAG0_PIECE),
        1 => body.get(FRAG0_PIECE..),
        _ => None,
    }
    .ok_or(HandshakeError::Internal)?;
    let len = FRAG_OVERHEAD + piece.len();
    if out.len() < len {
        return Err(HandshakeError::BufferTooSmall {
            need: len,
            have: out.len(),
        });
    }
    out[..HEADER_LEN].copy_from_slice(&logical[..HEADER_LEN]);
    out[HEADER_LEN] = index as u8;
    out[HEADER_LEN + 1..len - FRAG_MAC_LEN].copy_from_slice(piece);
    let mac = mac16(key, &[&out[..len - FRAG_MAC_LEN]]);
    out[len - FRAG_MAC_LEN..len].copy_from_slice(&mac);
    Ok(len)
}

/// A fragment whose header, size and MAC checked out.
pub(crate) struct Fragment<'a> {
    pub header: Header,
    pub index: usize,
    pub piece: &'a [u8],
}

/// Checks a fragment of type `want`: strict header, index 0 or 1, the size rule of its
/// type, and the MAC under one of `keys` (returns which). Cheap: one HMAC per key.
pub(crate) fn open_fragment<'a, 'k>(
    packet: &'a [u8],
    want: PacketType,
    keys: impl Iterator<Item = &'k [u8; 32]>,
) -> Result<(Fragment<'a>, usize), HandshakeError> {
    let header = Header::decode(packet).map_err(|_| HandshakeError::Malformed)?;
    if header.packet_type != want {
        return Err(HandshakeError::Unexpected);
    }
    if !super::initiator::is_strict_handshake_header(&header) || packet.len() < FRAG_OVERHEAD {
        return Err(HandshakeError::Malformed);
    }
    let index = usize::from(packet[HEADER_LEN]);
    let len_ok = match (want, index) {
        (_, 0) => packet.len() == FRAG0_LEN,
        (PacketType::InitHybrid, 1) => packet.len() == HYBRID_INIT_FRAG1_LEN,
        (PacketType::ChallengeHybrid, 1) => {
            let min = MIN_HYBRID_CHALLENGE_LEN - HEADER_LEN - FRAG0_PIECE + FRAG_OVERHEAD;
            packet.len() >= min && packet.len() <= min + super::MAX_PARAMS_LEN
        }
        _ => false,
    };
    if !len_ok {
        return Err(HandshakeError::Malformed);
    }
    let (signed, mac) = packet.split_at(packet.len() - FRAG_MAC_LEN);
    let which = keys
        .enumerate()
        .find(|(_, k)| bool::from(mac16(k, &[signed]).ct_eq(mac)))
        .map(|(i, _)| i)
        .ok_or(HandshakeError::Decrypt)?;
    Ok((
        Fragment {
            header,
            index,
            piece: &signed[HEADER_LEN + 1..],
        },
        which,
    ))
}

/// Writes a REFUSE for the INIT of session `session` whose ephemeral is `e_i`.
pub(crate) fn write_refuse(
    key: &[u8; 32],
    session: SessionId,
    code: RefuseCode,
    e_i: &[u8; DH_LEN],
    out: &mut [u8],
) -> Result<usize, HandshakeError> {
    if out.len() < REFUSE_LEN {
        return Err(HandshakeError::BufferTooSmall {
            need: REFUSE_LEN,
            have: out.len(),
        });
    }
    let header = super::initiator::handshake_header(PacketType::Refuse, session);
    out[..HEADER_LEN].copy_from_slice(&header);
    out[HEADER_LEN] = code as u8;
    let mac = mac16(key, &[&out[..HEADER_LEN + 1], e_i]);
    out[HEADER_LEN + 1..REFUSE_LEN].copy_from_slice(&mac);
    Ok(REFUSE_LEN)
}

/// Opens a REFUSE sent to `session` about the INIT with ephemeral `e_i`.
pub(crate) fn open_refuse(
    key: &[u8; 32],
    session: SessionId,
    e_i: &[u8; DH_LEN],
    packet: &[u8],
) -> Result<RefuseCode, HandshakeError> {
    super::initiator::check_header(packet, PacketType::Refuse, session)?;
    if packet.len() != REFUSE_LEN {
        return Err(HandshakeError::Malformed);
    }
    let mac = mac16(key, &[&packet[..HEADER_LEN + 1], e_i]);
    if !bool::from(mac.ct_eq(&packet[HEADER_LEN + 1..])) {
        return Err(HandshakeError::Decrypt);
    }
    RefuseCode::from_u8(packet[HEADER_LEN]).ok_or(HandshakeError::Malformed)
}

/// How long a first INIT fragment waits for its partner (both are sent back to back).
pub const REASSEMBLY_LIFETIME: Duration = Duration::from_secs(2);

#[derive(Clone)]
struct Slot {
    session: SessionId,
    /// Digest of the sender's address bytes: both fragments must come from one address,
    /// so the CHALLENGE goes where the whole INIT came from (no amplification).
    source: [u8; 16],
    expires: Instant,
    have: u8,
    /// The logical INIT being reassembled (header first).
    buf: [u8; HYBRID_INIT_LEN],
}

/// What inserting a fragment did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reassembled {
    /// Waiting for the other fragment.
    Pending,
    /// Both fragments are in: the logical INIT was written out.
    Complete,
}

/// The responder's fixed table of half-reassembled hybrid INITs, keyed by the header's
/// session id (MAC-covered) and the sender's address. Allocated once, on the first fragment; an entry lives
/// [`REASSEMBLY_LIFETIME`]; when every slot is busy the oldest is evicted (counted).
#[derive(Clone, Default)]
pub(crate) struct Reassembly {
    slots: Vec<Slot>,
    capacity: usize,
    /// Entries evicted while still live.
    pub(crate) evicted: u64,
}

impl Reassembly {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: Vec::new(),
            capacity: capacity.max(1),
            evicted: 0,
        }
    }

    /// Bytes the table holds once allocated.
    pub(crate) fn memory_bound(&self) -> usize {
        self.capacity * core::mem::size_of::<Slot>()
    }

    /// Live entries.
    pub(crate) fn len(&self, now: Instant) -> usize {
        self.slots
            .iter()
            .filter(|s| s.have != 0 && s.expires > now)
            .count()
    }

    /// Adds an authenticated fragment; on completion writes the logical INIT to `out`.
    pub(crate) fn insert(
        &mut self,
        now: Instant,
        frag: &Fragment<'_>,
        source: &[u8],
        out: &mut [u8; HYBRID_INIT_LEN],
    ) -> Reassembled {
        let digest = crate::hash::sha256(&[source]);
        let mut source = [0u8; 16];
        source.copy_from_slice(&digest[..16]);
        if self.slots.is_empty() {
            let empty = Slot {
                session: SessionId(0),
                source: [0; 16],
                expires: Instant::ZERO,
                have: 0,
                buf: [0; HYBRID_INIT_LEN],
            };
            self.slots = alloc::vec![empty; self.capacity];
        }
        let sid = frag.header.session_id;
        let live = |s: &Slot| s.have != 0 && s.expires > now;
        let i = match self
            .slots
            .iter()
            .position(|s| live(s) && s.session == sid && s.source == source)
        {
            Some(i) => i,
            None => match self.slots.iter().position(|s| !live(s)) {
                Some(i) => {
                    self.slots[i].have = 0;
                    i
                }
                None => {
                    self.evicted += 1;
                    let (i, _) = self
                        .slots
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, s)| s.expires)
                        .unwrap_or((0, &self.slots[0]));
                    self.slots[i].have = 0;
                    i
                }
            },
        };
        let slot = &mut self.slots[i];
        if slot.have == 0 {
            slot.session = sid;
            slot.source = source;
            slot.expires = now + REASSEMBLY_LIFETIME;
            slot.buf[..HEADER_LEN].copy_from_slice(&frag.header.to_bytes());
        }
        let at = HEADER_LEN + frag.index * FRAG0_PIECE;
        // Sizes were checked by `open_fragment`; a retransmission overwrites (its second
        // fragment changes once a cookie fills mac2).
        if let Some(dst) = slot.buf.get_mut(at..at + frag.piece.len()) {
            dst.copy_from_slice(frag.piece);
            slot.have |= 1 << frag.index;
        }
        if slot.have == 0b11 {
            out.copy_from_slice(&slot.buf);
            slot.have = 0;
            Reassembled::Complete
        } else {
            Reassembled::Pending
        }
    }
}
