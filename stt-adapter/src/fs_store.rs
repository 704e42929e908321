//! [`FsStore`]: the persistent content-addressed store, one sealed file per object
//! (format and key from `stt_proto::storage::seal`), named by the object's hash.
//!
//! Writes are atomic: the sealed bytes go to a temporary file in `tmp/`, which is
//! synced, renamed into `objects/` and the directory synced, so a crash at any point
//! leaves either no object or the whole one; leftovers in `tmp/` are removed when the
//! store is opened. Every read re-checks the seal and the hash: a damaged file is
//! reported as corrupt, never returned. Blocking IO (plain `std::fs`): async code calls
//! it from a blocking thread, as [`crate::Node::serve_storage`] does.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use bytes::Bytes;
use stt_proto::storage::seal::NONCE_LEN;
use stt_proto::storage::{
    ContentHash, ObjectStore, SEAL_OVERHEAD, StorageError, StorageKey, StoreLimits,
};

/// Why a file-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum FsStoreError {
    /// A storage rule (size limit, corrupt object).
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The file system failed.
    #[error("store IO: {0}")]
    Io(#[from] io::Error),
    /// The OS random generator failed (no nonce).
    #[error("no OS randomness: {0}")]
    Random(String),
}

/// A content-addressed store in a directory. Shareable between threads.
#[derive(Debug)]
pub struct FsStore {
    dir: PathBuf,
    key: StorageKey,
    limits: StoreLimits,
    /// Plaintext bytes held; writes are serialized by this lock.
    used: Mutex<u64>,
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    // Directories can be opened and synced on Unix; elsewhere renames are durable
    // enough through the file sync alone.
    #[cfg(unix)]
    File::open(dir)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl FsStore {
    /// Opens (creating it if needed) the store in `dir`, sealing under `key`. Removes
    /// temporary files a crash may have left and counts what is held.
    pub fn open(
        dir: impl Into<PathBuf>,
        key: StorageKey,
        limits: StoreLimits,
    ) -> Result<Self, FsStoreError> {
        let dir = dir.into();
        fs::create_dir_all(dir.join("objects"))?;
        fs::create_dir_all(dir.join("tmp"))?;
        for entry in fs::read_dir(dir.join("tmp"))? {
            fs::remove_file(entry?.path())?;
        }
        let store = Self {
            dir,
            key,
            limits,
            used: Mutex::new(0),
        };
        let mut used = 0;
        for hash in store.list()? {
            let len = fs::metadata(store.path(&hash))?.len();
            used += len.saturating_sub(SEAL_OVERHEAD as u64);
        }
        *store.lock_used() = used;
        Ok(store)
    }

    fn lock_used(&self) -> std::sync::MutexGuard<'_, u64> {
        self.used.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Plaintext bytes held.
    pub fn used(&self) -> u64 {
        *self.lock_used()
    }

    /// Where object `hash` lives: `objects/<first two hex digits>/<hex>`.
    pub fn path(&self, hash: &ContentHash) -> PathBuf {
        let hex = hash.to_string();
        self.dir.join("objects").join(&hex[..2]).join(hex)
    }

    /// Stores `data` once; returns its hash.
    pub fn put(&self, data: &[u8]) -> Result<ContentHash, FsStoreError> {
        let len = data.len() as u64;
        if len > self.limits.max_object_size {
            return Err(StorageError::TooLarge {
                len,
                max: self.limits.max_object_size,
            }
            .into());
        }
        let hash = ContentHash::of(data);
        let mut used = self.lock_used();
        let path = self.path(&hash);
        if path.exists() {
            return Ok(hash);
        }
        if *used + len > self.limits.max_total_size {
            return Err(StorageError::Full {
                used: *used,
                max: self.limits.max_total_size,
                len,
            }
            .into());
        }
        let tmp = self.write_temp(&hash, data)?;
        let parent = path.parent().unwrap_or(&self.dir).to_path_buf();
        fs::create_dir_all(&parent)?;
        fs::rename(&tmp, &path)?;
        sync_dir(&parent)?;
        *used += len;
        Ok(hash)
    }

    /// Seals `data` into a synced temporary file and returns its path: the first half
    /// of [`FsStore::put`]. Until it is renamed the object does not exist; a process
    /// killed here leaves only this file, which the next [`FsStore::open`] removes.
    #[doc(hidden)]
    pub fn write_temp(&self, hash: &ContentHash, data: &[u8]) -> Result<PathBuf, FsStoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| FsStoreError::Random(e.to_string()))?;
        let sealed = self.key.seal(hash, nonce, data);
        let mut suffix = [0u8; 8];
        getrandom::fill(&mut suffix).map_err(|e| FsStoreError::Random(e.to_string()))?;
        let tmp = self
            .dir
            .join("tmp")
            .join(format!("{hash}.{:016x}.tmp", u64::from_le_bytes(suffix)));
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(&sealed)?;
        f.sync_all()?;
        Ok(tmp)
    }

    /// The object `hash`, verified; `None` if not stored; [`StorageError::Corrupt`] if
    /// the file was damaged or altered.
    pub fn get(&self, hash: &ContentHash) -> Result<Option<Bytes>, FsStoreError> {
        let sealed = match fs::read(self.path(hash)) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(Some(Bytes::from(self.key.open(hash, &sealed)?)))
    }

    /// True if an object file for `hash` exists (not verified).
    pub fn contains(&self, hash: &ContentHash) -> Result<bool, FsStoreError> {
        Ok(self.path(hash).exists())
    }

    /// Deletes the object; false if it was not stored.
    pub fn delete(&self, hash: &ContentHash) -> Result<bool, FsStoreError> {
        let mut used = self.lock_used();
        let path = self.path(hash);
        let len = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        fs::remove_file(&path)?;
        *used = used.saturating_sub(len.saturating_sub(SEAL_OVERHEAD as u64));
        Ok(true)
    }

    /// Every stored hash, ascending. Files whose names are not hashes are ignored.
    pub fn list(&self) -> Result<Vec<ContentHash>, FsStoreError> {
        let mut out = Vec::new();
        for shard in fs::read_dir(self.dir.join("objects"))? {
            let shard = shard?;
            if !shard.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(shard.path())? {
                let name = f?.file_name();
                if let Some(h) = name.to_str().and_then(|n| n.parse::<ContentHash>().ok()) {
                    out.push(h);
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

/// The shared [`ObjectStore`] interface, for code written against any backend.
impl ObjectStore for FsStore {
    type Error = FsStoreError;

    fn put(&mut self, data: &[u8]) -> Result<ContentHash, FsStoreError> {
        FsStore::put(self, data)
    }

    fn get(&self, hash: &ContentHash) -> Result<Option<Bytes>, FsStoreError> {
        FsStore::get(self, hash)
    }

    fn contains(&self, hash: &ContentHash) -> Result<bool, FsStoreError> {
        FsStore::contains(self, hash)
    }

    fn delete(&mut self, hash: &ContentHash) -> Result<bool, FsStoreError> {
        FsStore::delete(self, hash)
    }

    fn list(&self) -> Result<Vec<ContentHash>, FsStoreError> {
        FsStore::list(self)
    }
}
