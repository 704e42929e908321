//! Variable-length integers (PROTOCOL.md §3): the QUIC encoding, 62 bits at most.
//!
//! The two high bits of the first byte give the length (1, 2, 4 or 8 bytes); the rest is
//! the value, big-endian. Decoding accepts non-minimal encodings; encoding is minimal.

use super::codec::{Reader, Writer};
use super::{DecodeError, EncodeError};

/// The largest value a varint can carry: 2⁶² − 1.
pub const MAX: u64 = (1 << 62) - 1;

/// How many bytes the minimal encoding of `v` takes, or an error above [`MAX`].
pub fn encoded_len(v: u64) -> Result<usize, EncodeError> {
    match v {
        0..=0x3f => Ok(1),
        0x40..=0x3fff => Ok(2),
        0x4000..=0x3fff_ffff => Ok(4),
        0x4000_0000..=MAX => Ok(8),
        _ => Err(EncodeError::VarintTooLarge(v)),
    }
}

pub(super) fn read(r: &mut Reader<'_>) -> Result<u64, DecodeError> {
    let first = r.u8()?;
    let extra = (1usize << (first >> 6)) - 1;
    let mut v = u64::from(first & 0x3f);
    for &b in r.bytes(extra)? {
        v = (v << 8) | u64::from(b);
    }
    Ok(v)
}

pub(super) fn write(w: &mut Writer<'_>, v: u64) -> Result<(), EncodeError> {
    match encoded_len(v)? {
        1 => w.u8(v as u8),
        2 => w.u16(v as u16 | 0x4000),
        4 => w.u32(v as u32 | 0x8000_0000),
        _ => w.u64(v | 0xc000_0000_0000_0000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc9000_examples() {
        // RFC 9000 §A.1 sample encodings.
        for (hex_in, value) in [
            ("c2197c5eff14e88c", 151_288_809_941_952_652u64),
            ("9d7f3e7d", 494_878_333),
            ("7bbd", 15_293),
            ("25", 37),
            ("4025", 37),
        ] {
            let bytes = hex::decode(hex_in).unwrap();
            let mut r = Reader::new(&bytes);
            assert_eq!(read(&mut r).unwrap(), value);
            assert!(r.is_empty());
        }
    }

    #[test]
    fn too_large_is_refused() {
        let mut buf = [0u8; 8];
        let mut w = Writer::new(&mut buf);
        assert_eq!(
            write(&mut w, MAX + 1),
            Err(EncodeError::VarintTooLarge(MAX + 1))
        );
    }

    #[test]
    fn truncated_is_short() {
        let mut r = Reader::new(&[0x80, 0x01]);
        assert!(matches!(
            read(&mut r),
            Err(DecodeError::Short { need: 3, have: 1 })
        ));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2048))]
        #[test]
        fn round_trip(v in 0..=MAX) {
            let mut buf = [0u8; 8];
            let mut w = Writer::new(&mut buf);
            write(&mut w, v).unwrap();
            let n = w.position();
            prop_assert_eq!(n, encoded_len(v).unwrap());
            let mut r = Reader::new(&buf[..n]);
            prop_assert_eq!(read(&mut r).unwrap(), v);
            prop_assert!(r.is_empty());
        }
    }
}
