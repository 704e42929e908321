//! The frames of PROTOCOL.md §4 that this test implementation sends or must read in a
//! short exchange: varints (§3), DATA, ACK, flow-control and a few control frames. Any
//! other type is reported as unknown; never used to judge the real node's behaviour.

/// Appends `v` as a shortest QUIC varint.
pub fn put_varint(out: &mut Vec<u8>, v: u64) {
    match v {
        0..=63 => out.push(v as u8),
        64..=16_383 => out.extend_from_slice(&(0x4000 | v as u16).to_be_bytes()),
        16_384..=1_073_741_823 => out.extend_from_slice(&(0x8000_0000 | v as u32).to_be_bytes()),
        _ => out.extend_from_slice(&(0xc000_0000_0000_0000 | v).to_be_bytes()),
    }
}

/// Reads a varint at `*at`.
pub fn get_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let first = *b.get(*at)?;
    let len = 1usize << (first >> 6);
    let bytes = b.get(*at..*at + len)?;
    let mut v = u64::from(first & 0x3f);
    for x in &bytes[1..] {
        v = (v << 8) | u64::from(*x);
    }
    *at += len;
    Some(v)
}

/// A decoded frame (only what the tests look at is kept).
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// PADDING run.
    Padding,
    /// Stream data of the header's stream.
    Data {
        /// FIN flag.
        fin: bool,
        /// Offset.
        offset: u64,
        /// Bytes.
        data: Vec<u8>,
    },
    /// ACK (largest only).
    Ack {
        /// Largest acknowledged.
        largest: u64,
    },
    /// DISCONNECT.
    Disconnect {
        /// Error code.
        code: u64,
    },
    /// Any other known frame, by type.
    Other(u8),
}

/// Appends a DATA frame.
pub fn data(out: &mut Vec<u8>, fin: bool, offset: u64, bytes: &[u8]) {
    out.push(0x10);
    out.push(u8::from(fin));
    put_varint(out, offset);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Appends an ACK frame for packets `0..=largest`.
pub fn ack(out: &mut Vec<u8>, largest: u64) {
    out.push(0x13);
    put_varint(out, largest);
    put_varint(out, 0);
    put_varint(out, 0);
    put_varint(out, largest);
}

/// Decodes a plaintext into frames; `Err(type)` at the first frame it cannot read.
pub fn parse(b: &[u8]) -> Result<Vec<Frame>, u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let ty = b[at];
        at += 1;
        let n = |at: &mut usize, k: usize| -> Option<()> {
            for _ in 0..k {
                get_varint(b, at)?;
            }
            Some(())
        };
        let f = match ty {
            0x00 => {
                while b.get(at) == Some(&0) {
                    at += 1;
                }
                Some(Frame::Padding)
            }
            0x10 => (|| {
                let flags = *b.get(at)?;
                at += 1;
                let offset = get_varint(b, &mut at)?;
                let len = usize::try_from(get_varint(b, &mut at)?).ok()?;
                let data = b.get(at..at + len)?.to_vec();
                at += len;
                Some(Frame::Data {
                    fin: flags & 1 == 1,
                    offset,
                    data,
                })
            })(),
            0x13 => (|| {
                let largest = get_varint(b, &mut at)?;
                get_varint(b, &mut at)?;
                let count = get_varint(b, &mut at)?;
                get_varint(b, &mut at)?;
                n(&mut at, 2 * usize::try_from(count).ok()?)?;
                Some(Frame::Ack { largest })
            })(),
            0x14 => Some(Frame::Other(ty)),
            0x15 => (|| {
                let code = get_varint(b, &mut at)?;
                let len = usize::try_from(get_varint(b, &mut at)?).ok()?;
                at += len;
                (at <= b.len()).then_some(Frame::Disconnect { code })
            })(),
            0x11 => (|| {
                get_varint(b, &mut at)?;
                at += 1;
                get_varint(b, &mut at)?;
                Some(Frame::Other(ty))
            })(),
            0x12 => n(&mut at, 3).map(|_| Frame::Other(ty)),
            0x16 | 0x31 | 0x35 => n(&mut at, 2).map(|_| Frame::Other(ty)),
            0x30 | 0x32 | 0x33 | 0x34 => n(&mut at, 1).map(|_| Frame::Other(ty)),
            0x40 | 0x41 => {
                at += 8;
                (at <= b.len()).then_some(Frame::Other(ty))
            }
            _ => None,
        };
        out.push(f.ok_or(ty)?);
    }
    Ok(out)
}
