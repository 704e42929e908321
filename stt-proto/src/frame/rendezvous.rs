//! Rendezvous frames and the relay datagram header (PROTOCOL.md §12.2, §12.3): the
//! wire shape only. What a rendezvous or a member does with them (registry, routes,
//! limits, punching) belongs to the `rendezvous` module and `node/rendezvous.rs`.

use super::codec::{Reader, Writer};
use super::{DecodeError, EncodeError, FrameType};

/// Longest address an RDV_ANSWER or RDV_PEER carries (PROTOCOL.md §12.2).
pub const MAX_RDV_ADDR_LEN: usize = 32;

/// Magic of a relay datagram: ASCII "SR" (PROTOCOL.md §12.3).
pub const RELAY_MAGIC: [u8; 2] = *b"SR";
/// `kind` of a relay datagram carrying one STT packet.
pub const RELAY_KIND_RELAYED: u8 = 0x01;
/// Bytes a relay datagram adds in front of the packet it carries.
pub const RELAY_OVERHEAD: usize = 11;

/// The status byte of RDV_ANSWER.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum RdvStatus {
    /// Done; the address field is meaningful.
    Ok = 0,
    /// The node asked about is not registered.
    NotFound = 1,
    /// A relay limit refused the request.
    Refused = 2,
    /// The answering node does not serve rendezvous.
    NotServed = 3,
}

impl RdvStatus {
    fn from_u8(v: u8) -> Result<Self, DecodeError> {
        Ok(match v {
            0 => Self::Ok,
            1 => Self::NotFound,
            2 => Self::Refused,
            3 => Self::NotServed,
            v => {
                return Err(DecodeError::OutOfRange {
                    field: "rendezvous status",
                    value: u64::from(v),
                });
            }
        })
    }
}

/// RDV_ANSWER (0x53): the answer to RDV_REGISTER, RDV_LOOKUP or a failed RDV_CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RdvAnswer<'a> {
    /// The request's id.
    pub request_id: u64,
    /// The outcome.
    pub status: RdvStatus,
    /// The observed address (empty unless `status` is `Ok`).
    pub addr: &'a [u8],
}

impl<'a> RdvAnswer<'a> {
    pub(super) fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: r.varint()?,
            status: RdvStatus::from_u8(r.u8()?)?,
            addr: read_addr(r)?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::RdvAnswer as u8)?;
        w.varint(self.request_id)?;
        w.u8(self.status as u8)?;
        write_addr(w, self.addr)
    }
}

/// RDV_PEER (0x54): the rendezvous introduces the other peer (PROTOCOL.md §12.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RdvPeer<'a> {
    /// The requester's request id on the requester's side, 0 on the target's.
    pub request_id: u64,
    /// True: this side initiates the end-to-end session.
    pub initiator: bool,
    /// The other peer's NodeId.
    pub node_id: [u8; 32],
    /// The relay route this side sends and receives on; never 0.
    pub route_id: u64,
    /// When to start punching, in milliseconds from the packet's arrival.
    pub start_delay_ms: u64,
    /// The other peer's observed address.
    pub addr: &'a [u8],
}

impl<'a> RdvPeer<'a> {
    pub(super) fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let request_id = r.varint()?;
        let initiator = match r.u8()? {
            0 => true,
            1 => false,
            v => {
                return Err(DecodeError::OutOfRange {
                    field: "rendezvous role",
                    value: u64::from(v),
                });
            }
        };
        let node_id = r.array()?;
        let route_id = r.u64()?;
        if route_id == 0 {
            return Err(DecodeError::OutOfRange {
                field: "route id",
                value: 0,
            });
        }
        Ok(Self {
            request_id,
            initiator,
            node_id,
            route_id,
            start_delay_ms: r.varint()?,
            addr: read_addr(r)?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        if self.route_id == 0 {
            return Err(EncodeError::OutOfRange {
                field: "route id",
                value: 0,
            });
        }
        w.u8(FrameType::RdvPeer as u8)?;
        w.varint(self.request_id)?;
        w.u8(u8::from(!self.initiator))?;
        w.put(&self.node_id)?;
        w.u64(self.route_id)?;
        w.varint(self.start_delay_ms)?;
        write_addr(w, self.addr)
    }
}

fn read_addr<'a>(r: &mut Reader<'a>) -> Result<&'a [u8], DecodeError> {
    let len = r.u8()?;
    if usize::from(len) > MAX_RDV_ADDR_LEN {
        return Err(DecodeError::OutOfRange {
            field: "address length",
            value: u64::from(len),
        });
    }
    r.bytes(usize::from(len))
}

fn write_addr(w: &mut Writer<'_>, addr: &[u8]) -> Result<(), EncodeError> {
    let len = u8::try_from(addr.len())
        .ok()
        .filter(|&l| usize::from(l) <= MAX_RDV_ADDR_LEN)
        .ok_or(EncodeError::OutOfRange {
            field: "address length",
            value: addr.len() as u64,
        })?;
    w.u8(len)?;
    w.put(addr)
}

/// The route id of a relay datagram, if `datagram` is one (PROTOCOL.md §12.3): "SR",
/// kind RELAYED, and at least one byte of packet after the header.
pub fn relay_route(datagram: &[u8]) -> Option<u64> {
    if datagram.len() <= RELAY_OVERHEAD
        || datagram[..2] != RELAY_MAGIC
        || datagram[2] != RELAY_KIND_RELAYED
    {
        return None;
    }
    let id: [u8; 8] = datagram[3..RELAY_OVERHEAD].try_into().ok()?;
    Some(u64::from_be_bytes(id))
}

/// True if `datagram` starts like a relay datagram (the "SR" magic), whatever its kind.
pub fn is_relay_datagram(datagram: &[u8]) -> bool {
    datagram.len() >= 2 && datagram[..2] == RELAY_MAGIC
}

/// Writes the relay header for `route` into the first [`RELAY_OVERHEAD`] bytes of `out`.
pub fn write_relay_header(out: &mut [u8], route: u64) -> Result<(), EncodeError> {
    let have = out.len();
    let head = out
        .get_mut(..RELAY_OVERHEAD)
        .ok_or(EncodeError::BufferTooSmall {
            need: RELAY_OVERHEAD,
            have,
        })?;
    head[..2].copy_from_slice(&RELAY_MAGIC);
    head[2] = RELAY_KIND_RELAYED;
    head[3..].copy_from_slice(&route.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Frame;
    use super::*;

    #[test]
    fn relay_header_round_trips_and_rejects_other_datagrams() {
        let mut d = [0u8; 16];
        write_relay_header(&mut d, 0x0102_0304_0506_0708).unwrap();
        assert_eq!(relay_route(&d), Some(0x0102_0304_0506_0708));
        assert_eq!(
            relay_route(&d[..RELAY_OVERHEAD]),
            None,
            "no packet after it"
        );
        let mut st = d;
        st[1] = b'T';
        assert_eq!(relay_route(&st), None, "an STT packet is not relayed");
        let mut kind = d;
        kind[2] = 2;
        assert_eq!(relay_route(&kind), None);
        assert!(write_relay_header(&mut [0u8; 10], 1).is_err());
    }

    #[test]
    fn peer_frame_round_trips_and_route_zero_is_malformed() {
        let peer = RdvPeer {
            request_id: 9,
            initiator: false,
            node_id: [7; 32],
            route_id: 42,
            start_delay_ms: 30,
            addr: &[4, 10, 0, 0, 1, 0x1f, 0x90],
        };
        let mut buf = [0u8; 80];
        let n = Frame::RdvPeer(peer).encode(&mut buf).unwrap();
        assert_eq!(Frame::decode_exact(&buf[..n]), Ok(Frame::RdvPeer(peer)));
        // Route id 0 is refused both ways.
        let zero = RdvPeer {
            route_id: 0,
            ..peer
        };
        assert!(Frame::RdvPeer(zero).encode(&mut buf).is_err());
        let mut raw = buf;
        raw[2 + 1 + 32..2 + 1 + 32 + 8].fill(0);
        assert!(Frame::decode_exact(&raw[..n]).is_err());
    }

    #[test]
    fn long_addresses_are_refused() {
        let answer = RdvAnswer {
            request_id: 1,
            status: RdvStatus::Ok,
            addr: &[0; 33],
        };
        assert!(Frame::RdvAnswer(answer).encode(&mut [0u8; 64]).is_err());
        // A length byte above 32 is malformed even when the bytes are there.
        let mut raw = [0u8; 40];
        raw[..4].copy_from_slice(&[0x53, 1, 0, 33]);
        assert!(Frame::decode_exact(&raw[..4 + 33]).is_err());
    }
}
