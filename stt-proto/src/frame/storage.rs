//! Storage frames (PROTOCOL.md §4.7): STORAGE_GET, STORAGE_DATA, STORAGE_REFUSE and
//! STORAGE_CANCEL, the fetch-by-hash protocol. Only the wire shape lives here; the
//! requester and server state machines are `session/fetch.rs`.

use super::codec::{Reader, Writer};
use super::{DecodeError, EncodeError, ErrorCode, FrameType, varint};

/// Length of an object hash: a SHA3-256 digest of the object's bytes.
pub const OBJECT_HASH_LEN: usize = 32;

/// STORAGE_GET (0x60): asks the peer for the object whose SHA3-256 is `hash`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageGet {
    /// The request's application message id (PROTOCOL.md §4.8), echoed by the answer.
    pub request_id: u64,
    /// Largest object the requester accepts, in bytes.
    pub max_len: u64,
    /// SHA3-256 of the wanted object.
    pub hash: [u8; OBJECT_HASH_LEN],
}

impl StorageGet {
    pub(super) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: r.varint()?,
            max_len: r.varint()?,
            hash: r.array()?,
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::StorageGet as u8)?;
        w.varint(self.request_id)?;
        w.varint(self.max_len)?;
        w.put(&self.hash)
    }
}

/// STORAGE_DATA (0x61): bytes `offset..offset + data.len()` of the object a
/// STORAGE_GET asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageData<'a> {
    /// The STORAGE_GET's request id.
    pub request_id: u64,
    /// The object's total length (repeated in every frame of the answer).
    pub total_len: u64,
    /// Object offset of the first byte.
    pub offset: u64,
    /// The bytes, borrowed from the packet.
    pub data: &'a [u8],
}

impl<'a> StorageData<'a> {
    pub(super) fn decode_body(r: &mut Reader<'a>) -> Result<Self, DecodeError> {
        let request_id = r.varint()?;
        let total_len = r.varint()?;
        let offset = r.varint()?;
        let data = r.len_prefixed("storage data")?;
        check_range(total_len, offset, data.len()).map_err(|value| DecodeError::OutOfRange {
            field: "storage data end",
            value,
        })?;
        Ok(Self {
            request_id,
            total_len,
            offset,
            data,
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        check_range(self.total_len, self.offset, self.data.len()).map_err(|value| {
            EncodeError::OutOfRange {
                field: "storage data end",
                value,
            }
        })?;
        w.u8(FrameType::StorageData as u8)?;
        w.varint(self.request_id)?;
        w.varint(self.total_len)?;
        w.varint(self.offset)?;
        w.len_prefixed(self.data)
    }

    /// Bytes this frame takes on the wire.
    pub fn encoded_len(&self) -> Result<usize, EncodeError> {
        Ok(Self::overhead(
            self.request_id,
            self.total_len,
            self.offset,
            self.data.len(),
        )? + self.data.len())
    }

    /// Bytes of framing around `len` data bytes.
    pub fn overhead(
        request_id: u64,
        total_len: u64,
        offset: u64,
        len: usize,
    ) -> Result<usize, EncodeError> {
        Ok(1 + varint::encoded_len(request_id)?
            + varint::encoded_len(total_len)?
            + varint::encoded_len(offset)?
            + varint::encoded_len(len as u64)?)
    }
}

/// The data must lie inside the object: `offset + len <= total_len`. Returns the
/// offending end (saturated) otherwise.
fn check_range(total_len: u64, offset: u64, len: usize) -> Result<(), u64> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= total_len => Ok(()),
        Some(end) => Err(end),
        None => Err(u64::MAX),
    }
}

/// STORAGE_REFUSE (0x62): the server will not send the object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageRefuse {
    /// The STORAGE_GET's request id.
    pub request_id: u64,
    /// Why (PROTOCOL.md §7): `OBJECT_NOT_FOUND`, `OBJECT_TOO_LARGE`,
    /// `RESOURCE_EXHAUSTED`.
    pub code: ErrorCode,
}

impl StorageRefuse {
    pub(super) fn decode_body(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            request_id: r.varint()?,
            code: ErrorCode(r.varint()?),
        })
    }

    pub(super) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        w.u8(FrameType::StorageRefuse as u8)?;
        w.varint(self.request_id)?;
        w.varint(self.code.0)
    }
}
