//! Seed files: reading node and network seeds from disk with clear errors (missing,
//! short, unreadable) and a warning for files other users can read; writing new ones
//! with mode 0600. The seeds themselves are turned into keys by `stt-proto`.

use std::path::{Path, PathBuf};

use stt_proto::identity::MIN_SEED_LEN;

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
        "seed file {path} holds text, not a seed: a seed must be random (a passphrase can be guessed offline from one recorded handshake). Make one with `stt keygen` or `stt network new`, or write 64 hex digits from a random source"
    )]
    Text {
        /// The file.
        path: PathBuf,
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

/// A fresh 32-byte seed from the operating system's CSPRNG.
pub fn random_seed() -> Result<[u8; 32], getrandom::Error> {
    let mut s = [0u8; 32];
    getrandom::fill(&mut s)?;
    Ok(s)
}

/// Decodes a seed file: hex (64 digits, whitespace ignored) or raw random bytes. `None`
/// for anything else that is text (printable characters and whitespace only): raw random
/// bytes of seed length are all printable with odds of about 10⁻¹⁴.
fn decode(raw: &[u8]) -> Option<Vec<u8>> {
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

/// Reads a seed (hex text or raw bytes). Warns through `tracing` when the file can
/// be read by other users.
pub fn read_seed(path: &Path) -> Result<Vec<u8>, SeedFileError> {
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
    let raw = std::fs::read(path).map_err(io)?;
    let seed = decode(&raw).ok_or_else(|| SeedFileError::Text {
        path: path.to_path_buf(),
    })?;
    if seed.len() < MIN_SEED_LEN {
        return Err(SeedFileError::TooShort {
            path: path.to_path_buf(),
            len: seed.len(),
            min: MIN_SEED_LEN,
        });
    }
    Ok(seed)
}

/// Writes `seed` as hex to a new file with mode 0600 (fails if the file exists).
pub fn write_seed(path: &Path, seed: &[u8]) -> Result<(), SeedFileError> {
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
    writeln!(f, "{}", hex::encode(seed)).map_err(io)?;
    Ok(())
}

/// Loads an identity from a node seed file.
pub fn read_identity(path: &Path) -> Result<stt_proto::Identity, SeedFileError> {
    let seed = read_seed(path)?;
    stt_proto::Identity::from_node_seed(&seed).map_err(|source| SeedFileError::Invalid {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads a network key from a shared seed file.
pub fn read_network(path: &Path) -> Result<stt_proto::NetworkKey, SeedFileError> {
    let seed = read_seed(path)?;
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

    #[test]
    fn a_passphrase_is_refused_as_text_and_hex_or_random_bytes_are_read() {
        let phrase = file(
            "phrase",
            b"correct horse battery staple, our network password\n",
        );
        let err = read_seed(&phrase)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("holds text"), "{err}");
        assert!(err.contains("stt network new"), "{err}");
        let hex = file("hex", format!("{}\n", hex::encode([7u8; 32])).as_bytes());
        assert_eq!(read_seed(&hex).ok(), Some(vec![7u8; 32]));
        let mut random = [0u8; 32];
        random[0] = 0x00;
        random[1] = 0xff;
        random[2..].copy_from_slice(&[0x9c; 30]);
        let raw = file("raw", &random);
        assert_eq!(read_seed(&raw).ok(), Some(random.to_vec()));
        for p in [phrase, hex, raw] {
            let _ = std::fs::remove_file(p);
        }
    }
}
