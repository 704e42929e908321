//! The self-describing text form of a seed: `stt-seed1-<kind>-<data>-<check>`
//! (docs/PRIMITIVES.md §8). It owns encoding and parsing only (no files, no keys): `kind`
//! is `node` or `net`, `data` the 32 seed bytes in lowercase base32 (RFC 4648 alphabet,
//! no padding, 52 characters), `check` the first 5 bytes of
//! `SHA3-256("stt-seed1-<kind>-" ‖ seed)` in the same base32 (8 characters), so a typo
//! or a truncated copy is refused instead of becoming another network's seed.

use sha3::{Digest, Sha3_256};

/// The text form's prefix, version included.
pub const PREFIX: &str = "stt-seed1-";
/// Bytes of seed the text form carries.
pub const SEED_LEN: usize = 32;
/// Bytes of checksum.
const CHECK_LEN: usize = 5;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// What a seed is for: the kind is part of the text so the two files cannot be swapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedKind {
    /// A node seed (the node's identity): `node`.
    Node,
    /// A shared network seed: `net`.
    Network,
}

impl SeedKind {
    /// The label in the text form.
    pub fn label(self) -> &'static str {
        match self {
            SeedKind::Node => "node",
            SeedKind::Network => "net",
        }
    }

    fn from_label(s: &str) -> Option<Self> {
        match s {
            "node" => Some(SeedKind::Node),
            "net" => Some(SeedKind::Network),
            _ => None,
        }
    }
}

impl std::fmt::Display for SeedKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SeedKind::Node => "node seed",
            SeedKind::Network => "network seed",
        })
    }
}

/// Why a text that starts like a seed is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SeedTextError {
    /// `stt-seed<N>-` with a version this program does not know.
    #[error("unknown seed format version {0:?} (this program reads stt-seed1)")]
    Version(String),
    /// Not `stt-seed1-<kind>-<data>-<check>`.
    #[error("not of the form stt-seed1-<node|net>-<52 base32 characters>-<8 characters>")]
    Shape,
    /// The kind is neither `node` nor `net`.
    #[error("unknown seed kind {0:?} (expected node or net)")]
    Kind(String),
    /// A character outside the base32 alphabet, or the wrong number of them.
    #[error("the seed part is not 52 base32 characters (a-z, 2-7)")]
    Data,
    /// The checksum does not match: a typo or an incomplete copy.
    #[error("checksum mismatch: the seed was mistyped or copied incompletely")]
    Checksum,
}

/// The text form of `seed` (see the module docs).
pub fn encode(kind: SeedKind, seed: &[u8; SEED_LEN]) -> String {
    format!(
        "{PREFIX}{}-{}-{}",
        kind.label(),
        base32(seed),
        base32(&check(kind, seed))
    )
}

/// Whether `text` claims to be in the text form (any version): such text is parsed
/// strictly, never taken as hex or raw bytes.
pub fn looks_like(text: &str) -> bool {
    text.trim_start()
        .get(..PREFIX.len() - 2)
        .is_some_and(|p| p.eq_ignore_ascii_case("stt-seed"))
}

/// Parses the text form (surrounding whitespace and letter case ignored): the kind and
/// the 32 seed bytes.
pub fn decode(text: &str) -> Result<(SeedKind, [u8; SEED_LEN]), SeedTextError> {
    let text = text.trim().to_ascii_lowercase();
    let Some(rest) = text.strip_prefix(PREFIX) else {
        let version = text
            .strip_prefix("stt-seed")
            .and_then(|r| r.split('-').next())
            .unwrap_or_default();
        return Err(SeedTextError::Version(version.to_string()));
    };
    let mut parts = rest.split('-');
    let (Some(kind), Some(data), Some(sum), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(SeedTextError::Shape);
    };
    let kind = SeedKind::from_label(kind).ok_or_else(|| SeedTextError::Kind(kind.to_string()))?;
    let seed: [u8; SEED_LEN] = unbase32(data)
        .and_then(|v| v.try_into().ok())
        .ok_or(SeedTextError::Data)?;
    let expected = base32(&check(kind, &seed));
    if sum != expected {
        return Err(SeedTextError::Checksum);
    }
    Ok((kind, seed))
}

fn check(kind: SeedKind, seed: &[u8; SEED_LEN]) -> [u8; CHECK_LEN] {
    let mut h = Sha3_256::new();
    h.update(PREFIX.as_bytes());
    h.update(kind.label().as_bytes());
    h.update(b"-");
    h.update(seed);
    let d = h.finalize();
    let mut out = [0u8; CHECK_LEN];
    out.copy_from_slice(&d[..CHECK_LEN]);
    out
}

/// Lowercase RFC 4648 base32 without padding.
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((acc >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Inverse of [`base32`]; `None` for a character outside the alphabet or a length that
/// [`base32`] cannot produce (leftover bits must be zero).
fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = ((acc << 5) | v) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    (bits < 5 && acc & ((1 << bits) - 1) == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> [u8; SEED_LEN] {
        core::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11))
    }

    #[test]
    fn round_trips_with_kind_and_fixed_length() {
        for kind in [SeedKind::Node, SeedKind::Network] {
            let text = encode(kind, &sample());
            assert!(text.starts_with(&format!("stt-seed1-{}-", kind.label())));
            let data = text.split('-').nth(3).unwrap_or_default();
            assert_eq!(data.len(), 52, "{text}");
            assert!(looks_like(&text));
            assert_eq!(
                decode(&format!("  {}\n", text.to_uppercase())),
                Ok((kind, sample()))
            );
        }
    }

    #[test]
    fn base32_matches_rfc4648() {
        // RFC 4648 §10 test vectors, lowercase and unpadded.
        for (plain, enc) in [
            ("", ""),
            ("f", "my"),
            ("fo", "mzxq"),
            ("foo", "mzxw6"),
            ("foob", "mzxw6yq"),
            ("fooba", "mzxw6ytb"),
            ("foobar", "mzxw6ytboi"),
        ] {
            assert_eq!(base32(plain.as_bytes()), enc);
            assert_eq!(unbase32(enc).as_deref(), Some(plain.as_bytes()));
        }
        assert_eq!(unbase32("m1"), None);
        assert_eq!(unbase32("mz"), None, "leftover bits must be zero");
    }

    #[test]
    fn every_single_character_typo_and_truncation_is_refused() {
        let text = encode(SeedKind::Network, &sample());
        let data_start = PREFIX.len() + "net-".len();
        for i in data_start..text.len() {
            if text.as_bytes()[i] == b'-' {
                continue;
            }
            for c in ALPHABET.iter().copied() {
                if c == text.as_bytes()[i] {
                    continue;
                }
                let mut typo = text.clone().into_bytes();
                typo[i] = c;
                let typo = String::from_utf8(typo).unwrap_or_default();
                assert!(decode(&typo).is_err(), "typo at {i} accepted: {typo}");
            }
        }
        assert_eq!(
            decode(&text[..text.len() - 1]),
            Err(SeedTextError::Checksum)
        );
        assert_eq!(
            decode(&text.replacen("-net-", "-node-", 1)),
            Err(SeedTextError::Checksum),
            "the kind is covered by the checksum"
        );
        assert_eq!(
            decode(&text.replacen("seed1", "seed2", 1)),
            Err(SeedTextError::Version("2".into()))
        );
        assert_eq!(
            decode(&text.replacen("-net-", "-cat-", 1)),
            Err(SeedTextError::Kind("cat".into()))
        );
        assert_eq!(decode("stt-seed1-net-abc"), Err(SeedTextError::Shape));
    }
}
