//! Named-endpoint frames (PROTOCOL.md §4.5): ENDPOINT_REGISTER, ENDPOINT_RESOLVE,
//! ENDPOINT_ROUTE and ENDPOINT_REFUSE (ENDPOINT_ACCEPT has no body beyond a message id
//! and is encoded inline in `frame/mod.rs`). Only the wire shape lives here; what a node
//! does with them (queues, backpressure) belongs to the `endpoint` module.

use core::fmt;

use sha3::{Digest, Sha3_256};

use super::codec::{Reader, Writer};
use super::{DecodeError, EncodeError, ErrorCode, FrameType, varint};

/// Length of an endpoint id: a SHA3-256 digest.
pub const ENDPOINT_ID_LEN: usize = 32;

/// A named endpoint's id: SHA3-256 of its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointId(pub [u8; ENDPOINT_ID_LEN]);

impl EndpointId {
    /// The id of the endpoint called `name`: SHA3-256 of its UTF-8 bytes.
    pub fn from_name(name: &str) -> Self {
        Self(Sha3_256::digest(name.as_bytes()).into())
    }
}

impl fmt::Debug for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EndpointId({}…)", crate::hex::Hex(&self.0[..8]))
    }
}

/// ENDPOINT_REGISTER (0x20): the sender serves (or stops serving) an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointRegister {
    /// True to register, false to withdraw.
    pub registered: bool,
    /// The endpoint.
    pub endpoint: EndpointId,
}

impl EndpointRegister {
    pub(super) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let registered = match r.u8()? {
            0 => false,
            1 => true,
            v => {
                return Err(DecodeError::OutOfRange {
                    field: "register action",
                    value: u64::from(v),
                });
            }
        };
        Ok(Self {
            registered,
            endpoint: EndpointId(r.array()?),
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::EndpointRegister as u8)?;
        w.u8(u8::from(self.registered))?;
        w.put(&self.endpoint.0)
    }
}

/// What an ENDPOINT_RESOLVE frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ResolveKind {
    /// "Do you serve this endpoint?"
    Query = 0,
    /// "Yes."
    Found = 1,
    /// "No."
    NotFound = 2,
}

/// ENDPOINT_RESOLVE (0x21): a query or its answer, matched by `request_id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointResolve {
    /// Chosen by the querier; echoed in the answer.
    pub request_id: u64,
    /// Query or answer.
    pub kind: ResolveKind,
    /// The endpoint asked about.
    pub endpoint: EndpointId,
}

impl EndpointResolve {
    pub(super) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        let request_id = r.varint()?;
        let kind = match r.u8()? {
            0 => ResolveKind::Query,
            1 => ResolveKind::Found,
            2 => ResolveKind::NotFound,
            v => {
                return Err(DecodeError::OutOfRange {
                    field: "resolve kind",
                    value: u64::from(v),
                });
            }
        };
        Ok(Self {
            request_id,
            kind,
            endpoint: EndpointId(r.array()?),
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::EndpointResolve as u8)?;
        w.varint(self.request_id)?;
        w.u8(self.kind as u8)?;
        w.put(&self.endpoint.0)
    }
}

/// ENDPOINT_ROUTE (0x22): a message for a named endpoint on the receiving node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointRoute<'a> {
    /// Destination endpoint.
    pub endpoint: EndpointId,
    /// Sender-chosen id, echoed by ENDPOINT_REFUSE.
    pub message_id: u64,
    /// The message, borrowed from the packet.
    pub payload: &'a [u8],
}

impl<'a> EndpointRoute<'a> {
    pub(super) fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            endpoint: EndpointId(r.array()?),
            message_id: r.varint()?,
            payload: r.len_prefixed("route payload")?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::EndpointRoute as u8)?;
        w.put(&self.endpoint.0)?;
        w.varint(self.message_id)?;
        w.len_prefixed(self.payload)
    }

    /// Bytes this frame takes on the wire.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        Ok(1 + ENDPOINT_ID_LEN
            + varint::encoded_len(self.message_id)?
            + varint::encoded_len(self.payload.len() as u64)?
            + self.payload.len())
    }
}

/// ENDPOINT_REFUSE (0x23): a routed message was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndpointRefuse {
    /// The refused message's id.
    pub message_id: u64,
    /// Why (PROTOCOL.md §7).
    pub code: ErrorCode,
}

impl EndpointRefuse {
    pub(super) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            message_id: r.varint()?,
            code: ErrorCode(r.varint()?),
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::EndpointRefuse as u8)?;
        w.varint(self.message_id)?;
        w.varint(self.code.0)
    }
}
