//! Bounds-checked byte cursors shared by every decoder and encoder in [`crate::frame`].
//!
//! `Reader` never reads past its input and `Writer` never writes past its buffer: each
//! returns a typed error instead. Neither allocates.

use super::{DecodeError, EncodeError};

/// A cursor over untrusted input bytes.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading at the first byte of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// True once every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unconsumed rest of the input, without consuming it.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Consumes exactly `n` bytes and returns them borrowed from the input.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::Short {
                need: n,
                have: self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Consumes a fixed-size array.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    /// Consumes one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// Consumes a big-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    /// Consumes a big-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// Consumes a big-endian u64.
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// Consumes a variable-length integer (PROTOCOL.md §3).
    pub fn varint(&mut self) -> Result<u64, DecodeError> {
        super::varint::read(self)
    }

    /// Consumes a varint length prefix and then that many bytes, checking the length
    /// against the real input before touching it.
    pub fn len_prefixed(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let len = self.varint()?;
        if len > self.remaining() as u64 {
            return Err(DecodeError::LengthOverflow {
                field,
                len,
                remaining: self.remaining(),
            });
        }
        self.bytes(len as usize)
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

/// A cursor writing into a caller-owned buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// Starts writing at the first byte of `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes written so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Room left in the buffer.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Fails unless `n` more bytes fit.
    pub fn reserve(&self, n: usize) -> Result<(), EncodeError> {
        if n > self.remaining() {
            return Err(EncodeError::BufferTooSmall {
                need: self.pos + n,
                have: self.buf.len(),
            });
        }
        Ok(())
    }

    /// Writes a slice.
    pub fn put(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        self.reserve(data.len())?;
        self.buf[self.pos..self.pos + data.len()].copy_from_slice(data);
        self.pos += data.len();
        Ok(())
    }

    /// Writes one byte.
    pub fn u8(&mut self, v: u8) -> Result<(), EncodeError> {
        self.put(&[v])
    }

    /// Writes a big-endian u16.
    pub fn u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }

    /// Writes a big-endian u32.
    pub fn u32(&mut self, v: u32) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }

    /// Writes a big-endian u64.
    pub fn u64(&mut self, v: u64) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }

    /// Writes a variable-length integer (PROTOCOL.md §3).
    pub fn varint(&mut self, v: u64) -> Result<(), EncodeError> {
        super::varint::write(self, v)
    }

    /// Reserves `n` bytes at the cursor, advances past them and returns them for the
    /// caller to fill (used to copy payload straight into a packet).
    pub fn claim(&mut self, n: usize) -> Result<&mut [u8], EncodeError> {
        self.reserve(n)?;
        let start = self.pos;
        self.pos += n;
        Ok(&mut self.buf[start..start + n])
    }

    /// Ends the buffer at `len` bytes from its start (no-op unless `len` lies between
    /// the cursor and the current end): later writes get less room.
    pub fn shorten(&mut self, len: usize) {
        if len >= self.pos && len < self.buf.len() {
            let buf = core::mem::take(&mut self.buf);
            self.buf = &mut buf[..len];
        }
    }

    /// Moves the cursor back to `pos` (no-op if `pos` is ahead), dropping what was
    /// written after it.
    pub fn rewind(&mut self, pos: usize) {
        self.pos = self.pos.min(pos);
    }

    /// Writes a varint length prefix followed by `data`.
    pub fn len_prefixed(&mut self, data: &[u8]) -> Result<(), EncodeError> {
        self.reserve(super::varint::encoded_len(data.len() as u64)? + data.len())?;
        self.varint(data.len() as u64)?;
        self.put(data)
    }
}
