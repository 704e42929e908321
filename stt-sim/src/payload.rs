//! Application payloads the simulated applications send, and how receivers check them.
//!
//! A stream carries a 16-byte header (its oracle key, twice, the second time masked)
//! followed by a seekable pseudo-random pattern with a plaintext [`CANARY`] every
//! [`CANARY_EVERY`] bytes, so any byte can be checked where it lands and any plaintext
//! leak onto the wire can be found by scanning for the canary. Pure functions only.

/// Marker planted in every application payload; it must never appear on the wire.
pub const CANARY: &[u8; 12] = b"#STT-PLAIN#!";
/// Distance between canaries in a stream's body.
pub const CANARY_EVERY: u64 = 512;
/// Bytes of the stream header.
pub const STREAM_HEADER: u64 = 16;
const MASK: u64 = 0xa5a5_5a5a_c3c3_3c3c;

fn block(key: u64, index: u64) -> u64 {
    let mut z = key
        .wrapping_mul(0x9e37_79b9_7f4a_7c15)
        .wrapping_add(index.wrapping_mul(0xd1b5_4a32_d192_ed03));
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The byte at stream offset `off` of the stream with oracle key `key`.
pub fn stream_byte(key: u64, off: u64) -> u8 {
    if off < 8 {
        return key.to_le_bytes()[off as usize];
    }
    if off < STREAM_HEADER {
        return (key ^ MASK).to_le_bytes()[(off - 8) as usize];
    }
    let body = off - STREAM_HEADER;
    let c = body % CANARY_EVERY;
    if (c as usize) < CANARY.len() {
        return CANARY[c as usize];
    }
    block(key, body / 8).to_le_bytes()[(body % 8) as usize]
}

/// Fills `buf` with the stream bytes starting at offset `off`.
pub fn fill_stream(key: u64, off: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = stream_byte(key, off + i as u64);
    }
}

/// True if `data` equals the stream bytes at `off`.
pub fn check_stream(key: u64, off: u64, data: &[u8]) -> bool {
    data.iter()
        .enumerate()
        .all(|(i, b)| *b == stream_byte(key, off + i as u64))
}

/// Decodes a complete 16-byte stream header into its key, if it is well formed.
pub fn parse_header(h: &[u8]) -> Option<u64> {
    let a = u64::from_le_bytes(h.get(..8)?.try_into().ok()?);
    let b = u64::from_le_bytes(h.get(8..16)?.try_into().ok()?);
    (a ^ MASK == b).then_some(a)
}

/// A datagram payload: sender session id, sequence, canary, pattern.
pub fn datagram(track: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&track.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(CANARY);
    let key = (u64::from(track) << 32) | u64::from(seq);
    let mut i = 0;
    while out.len() < len {
        out.push(block(key, i / 8).to_le_bytes()[(i % 8) as usize]);
        i += 1;
    }
    out.truncate(len.max(8));
    out
}

/// Checks a received datagram; returns its (sender track, sequence) if intact.
pub fn parse_datagram(d: &[u8]) -> Option<(u32, u32)> {
    let track = u32::from_le_bytes(d.get(..4)?.try_into().ok()?);
    let seq = u32::from_le_bytes(d.get(4..8)?.try_into().ok()?);
    (datagram(track, seq, d.len()) == d).then_some((track, seq))
}

/// True if `wire` contains the canary.
pub fn contains_canary(wire: &[u8]) -> bool {
    wire.windows(CANARY.len()).any(|w| w == CANARY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_canary_round_trip() {
        let mut buf = vec![0u8; 2000];
        fill_stream(42, 0, &mut buf);
        assert_eq!(parse_header(&buf[..16]), Some(42));
        assert!(contains_canary(&buf));
        assert!(check_stream(42, 100, &buf[100..]));
        assert!(!check_stream(43, 100, &buf[100..]));
        let d = datagram(3, 9, 100);
        assert_eq!(parse_datagram(&d), Some((3, 9)));
    }
}
