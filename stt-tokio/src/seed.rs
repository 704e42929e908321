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

/// Decodes a seed file's text: hex (64 digits, whitespace ignored) or raw bytes.
fn decode(raw: &[u8]) -> Vec<u8> {
    let text: Vec<u8> = raw
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    match hex::decode(&text) {
        Ok(v) if !v.is_empty() => v,
        _ => raw.to_vec(),
    }
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
    let seed = decode(&raw);
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
