//! Seed files: reading node and network seeds from disk with clear errors (missing,
//! short, mistyped, passphrase-like, of the wrong kind, unreadable) and a warning for
//! files other users can read; writing new ones with mode 0600 in the checksummed text
//! form of [`text`]. Older files of 64 hex digits (or raw random bytes) are still read.
//! The seeds themselves are turned into keys by `stt-proto`; nothing here derives keys.

use std::path::{Path, PathBuf};

use stt_proto::identity::MIN_SEED_LEN;
use zeroize::Zeroizing;

pub mod text;

pub use text::SeedKind;

/// Why a seed could not be loaded or saved.
#[derive(Debug, thiserror::Error)]
pub enum SeedFileError {
    /// The file could not be read or written.
    #[error("seed file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file holds fewer bytes than a seed needs.
    #[error("seed file {path}: {len} bytes of seed, need at least {min}")]
    TooShort {
        /// The file.
        path: PathBuf,
        /// Bytes found.
        len: usize,
        /// Bytes needed.
        min: usize,
    },
    /// The file holds text that is not hex: a passphrase, most likely. Anyone who records
    /// one INIT can test guesses of a network seed offline, so seeds must be random.
    #[error(
        "seed file {path} holds text, not a seed: a seed must be random (a passphrase can be guessed offline from one recorded handshake). Make one with `stt keygen` or `stt network new` (they write stt-seed1-… lines), or write 64 hex digits from a random source"
    )]
    Text {
        /// The file.
        path: PathBuf,
    },
    /// The file starts like a seed in text form (`stt-seed…`) but is not a valid one.
    #[error("seed file {path}: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: text::SeedTextError,
    },
    /// The file holds a seed of the other kind (a node seed given as network seed, say).
    #[error("seed file {path} holds a {found}, but a {expected} is needed here")]
    WrongKind {
        /// The file.
        path: PathBuf,
        /// The kind the file holds.
        found: SeedKind,
        /// The kind asked for.
        expected: SeedKind,
    },
    /// The engine rejected the seed.
    #[error("seed file {path}: {source}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: stt_proto::identity::SeedError,
    },
}

/// A fresh 32-byte seed from the operating system's CSPRNG, wiped when dropped.
pub fn random_seed() -> Result<Zeroizing<[u8; 32]>, getrandom::Error> {
    let mut s = Zeroizing::new([0u8; 32]);
    getrandom::fill(&mut *s)?;
    Ok(s)
}

/// Decodes a seed file of the older forms: hex (64 digits, whitespace ignored) or raw
/// random bytes. `None` for anything else that is text (printable characters and
/// whitespace only): raw random bytes of seed length are all printable with odds of
/// about 10⁻¹⁴.
fn decode_legacy(raw: &[u8]) -> Option<Vec<u8>> {
    let text: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    match hex::decode(&text) {
        Ok(v) if !v.is_empty() => Some(v),
        _ if is_text(raw) => None,
        _ => Some(raw.to_vec()),
    }
}

/// Whether `raw` reads as text: valid UTF-8 without control characters but whitespace.
fn is_text(raw: &[u8]) -> bool {
    std::str::from_utf8(raw).is_ok_and(|s| s.chars().all(|c| !c.is_control() || c.is_whitespace()))
}

/// Reads a seed of `kind`: the text form ([`text`]), or the older hex text or raw bytes
/// (which carry no kind). Warns through `tracing` when the file can be read by other
/// users. The returned bytes are wiped when dropped.
pub fn read_seed(path: &Path, kind: SeedKind) -> Result<Zeroizing<Vec<u8>>, SeedFileError> {
    let io = |source| SeedFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).map_err(io)?.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format_args!("{:o}", mode & 0o777),
                "seed file is readable by other users; run chmod 600"
            );
        }
    }
    let raw = Zeroizing::new(std::fs::read(path).map_err(io)?);
    if let Some(t) = std::str::from_utf8(&raw)
        .ok()
        .filter(|t| text::looks_like(t))
    {
        let (found, seed) = text::decode(t).map_err(|reason| SeedFileError::Format {
            path: path.to_path_buf(),
            reason,
        })?;
        let seed = Zeroizing::new(seed.to_vec());
        if found != kind {
            return Err(SeedFileError::WrongKind {
                path: path.to_path_buf(),
                found,
                expected: kind,
            });
        }
        return Ok(seed);
    }
    let seed = Zeroizing::new(decode_legacy(&raw).ok_or_else(|| SeedFileError::Text {
        path: path.to_path_buf(),
    })?);
    if seed.len() < MIN_SEED_LEN {
        return Err(SeedFileError::TooShort {
            path: path.to_path_buf(),
            len: seed.len(),
            min: MIN_SEED_LEN,
        });
    }
    Ok(seed)
}

/// Writes `seed` in the text form, labelled `kind`, to a new file with mode 0600 (fails
/// if the file exists).
pub fn write_seed(
    path: &Path,
    kind: SeedKind,
    seed: &[u8; text::SEED_LEN],
) -> Result<(), SeedFileError> {
    use std::io::Write;
    let io = |source| SeedFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(io)?;
    let line = Zeroizing::new(text::encode(kind, seed));
    writeln!(f, "{}", line.as_str()).map_err(io)?;
    Ok(())
}

/// Loads an identity from a node seed file.
pub fn read_identity(path: &Path) -> Result<stt_proto::Identity, SeedFileError> {
    let seed = read_seed(path, SeedKind::Node)?;
    stt_proto::Identity::from_node_seed(&seed).map_err(|source| SeedFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads a network key from a shared seed file.
pub fn read_network(path: &Path) -> Result<stt_proto::NetworkKey, SeedFileError> {
    let seed = read_seed(path, SeedKind::Network)?;
    stt_proto::NetworkKey::from_shared_seed(&seed).map_err(|source| SeedFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, bytes: &[u8]) -> PathBuf {
        let p = std::env::temp_dir().join(format!("stt-seed-{}-{name}", std::process::id()));
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn err(r: Result<Zeroizing<Vec<u8>>, SeedFileError>) -> String {
        r.err().map(|e| e.to_string()).unwrap_or_default()
    }

    #[test]
    fn a_passphrase_is_refused_as_text_and_hex_or_random_bytes_are_read() {
        let phrase = file(
            "phrase",
            b"correct horse battery staple, our network password\n",
        );
        let e = err(read_seed(&phrase, SeedKind::Network));
        assert!(e.contains("holds text"), "{e}");
        assert!(e.contains("stt network new"), "{e}");
        let hex = file("hex", format!("{}\n", hex::encode([7u8; 32])).as_bytes());
        let read = read_seed(&hex, SeedKind::Network).ok();
        assert_eq!(read.as_deref().map(|v| v.as_slice()), Some(&[7u8; 32][..]));
        let mut random = [0u8; 32];
        random[0] = 0x00;
        random[1] = 0xff;
        random[2..].copy_from_slice(&[0x9c; 30]);
        let raw = file("raw", &random);
        let read = read_seed(&raw, SeedKind::Node).ok();
        assert_eq!(read.as_deref().map(|v| v.as_slice()), Some(&random[..]));
        for p in [phrase, hex, raw] {
            let _ = std::fs::remove_file(p);
        }
    }

    #[test]
    fn the_text_form_is_written_read_back_and_checked() {
        let seed = [0x5au8; 32];
        let p = std::env::temp_dir().join(format!("stt-seed-{}-text", std::process::id()));
        let _ = std::fs::remove_file(&p);
        write_seed(&p, SeedKind::Network, &seed).unwrap();
        let written = std::fs::read_to_string(&p).unwrap();
        assert!(written.starts_with("stt-seed1-net-"), "{written}");
        let read = read_seed(&p, SeedKind::Network).ok();
        assert_eq!(read.as_deref().map(|v| v.as_slice()), Some(&seed[..]));
        let e = err(read_seed(&p, SeedKind::Node));
        assert!(
            e.contains("holds a network seed, but a node seed is needed"),
            "{e}"
        );
        // One character changed in the seed part: refused, never a different seed.
        let mut typo = written.clone().into_bytes();
        let i = "stt-seed1-net-".len() + 3;
        typo[i] = if typo[i] == b'a' { b'b' } else { b'a' };
        let bad = file("typo", &typo);
        let e = err(read_seed(&bad, SeedKind::Network));
        assert!(e.contains("checksum mismatch"), "{e}");
        for p in [p, bad] {
            let _ = std::fs::remove_file(p);
        }
    }
}
