//! File IO off the async threads, in large blocks: the sender's reader task (reads
//! each file in 1 MiB blocks, hashes it, frames it as the data stream's records) and
//! the receiver's writer task (writes ≥ 1 MiB at a time, hashes, syncs on close).
//! Both run on tokio's blocking pool; the async side only moves owned buffers.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use tokio::sync::{mpsc, oneshot};

use super::hash::Sha3;
use super::wire::record_header;
use crate::error::CliError;

/// Size of the blocks both sides move between the disk and the stream.
pub const BLOCK: usize = 1 << 20;
/// Blocks queued between the disk task and the stream task.
const QUEUE: usize = 8;

/// SHA3-256 state after the first `len` bytes of `path`; an error if it is shorter.
pub fn hash_prefix(path: &Path, len: u64) -> std::io::Result<Sha3> {
    let mut f = File::open(path)?;
    let mut hasher = Sha3::default();
    let mut left = len;
    let mut buf = vec![0u8; BLOCK];
    while left > 0 {
        let want = left.min(BLOCK as u64) as usize;
        let n = f.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher)
}

/// One file the sender streams: its record starts at `start`, `hasher` already holds
/// the first `start` bytes.
pub struct Plan {
    /// Index in the offer.
    pub index: u32,
    /// Local path.
    pub path: PathBuf,
    /// Offered size.
    pub size: u64,
    /// First byte to send.
    pub start: u64,
    /// Digest state of bytes `..start`.
    pub hasher: Sha3,
}

/// The reader's task: every file's digest, or why it stopped.
pub type ReaderTask = tokio::task::JoinHandle<Result<Vec<[u8; 32]>, CliError>>;

/// Starts the reader: it sends the data stream's bytes (record header, file bytes,
/// digest trailer, for each plan in order) in blocks of up to [`BLOCK`], then
/// returns every file's digest. A file that is shorter than offered, or unreadable,
/// ends it with the error.
pub fn spawn_reader(plans: Vec<Plan>) -> (mpsc::Receiver<Vec<u8>>, ReaderTask) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let join = tokio::task::spawn_blocking(move || {
        let mut digests = Vec::with_capacity(plans.len());
        let mut block = Vec::with_capacity(BLOCK);
        for mut plan in plans {
            let mut f = File::open(&plan.path).map_err(|e| CliError::read(&plan.path, e))?;
            f.seek(SeekFrom::Start(plan.start))
                .map_err(|e| CliError::read(&plan.path, e))?;
            block.extend_from_slice(&record_header(plan.index, plan.start));
            let mut left = plan.size - plan.start.min(plan.size);
            while left > 0 {
                if block.len() >= BLOCK {
                    let full = std::mem::replace(&mut block, Vec::with_capacity(BLOCK));
                    if tx.blocking_send(full).is_err() {
                        return Err(CliError::Other("transfer aborted".into()));
                    }
                }
                let room = (BLOCK - block.len()).min(left.min(BLOCK as u64) as usize);
                let at = block.len();
                block.resize(at + room, 0);
                let n = f
                    .read(&mut block[at..])
                    .map_err(|e| CliError::read(&plan.path, e))?;
                block.truncate(at + n);
                if n == 0 {
                    return Err(CliError::Other(format!(
                        "{} changed while being sent: it is shorter than the {} bytes offered",
                        plan.path.display(),
                        plan.size
                    )));
                }
                plan.hasher.update(&block[at..]);
                left -= n as u64;
            }
            let digest: [u8; 32] = plan.hasher.finish();
            block.extend_from_slice(&digest);
            digests.push(digest);
        }
        if !block.is_empty() && tx.blocking_send(block).is_err() {
            return Err(CliError::Other("transfer aborted".into()));
        }
        Ok(digests)
    });
    (rx, join)
}

enum Op {
    Open {
        path: PathBuf,
        start: u64,
        hasher: Sha3,
    },
    Data(Vec<u8>),
    Close(oneshot::Sender<[u8; 32]>),
}

/// The receiver's writer: files are written one at a time, in order.
pub struct Writer {
    tx: mpsc::Sender<Op>,
    join: tokio::task::JoinHandle<Result<(), CliError>>,
}

impl Writer {
    /// Starts the writer task.
    pub fn spawn() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        let join = tokio::task::spawn_blocking(move || write_loop(rx));
        Self { tx, join }
    }

    async fn send(&mut self, op: Op) -> Result<(), CliError> {
        if self.tx.send(op).await.is_ok() {
            return Ok(());
        }
        Err(self.failure().await)
    }

    /// The error that stopped the task.
    async fn failure(&mut self) -> CliError {
        match (&mut self.join).await {
            Ok(Err(e)) => e,
            Ok(Ok(())) => CliError::Other("the writer stopped early".into()),
            Err(e) => CliError::Other(format!("the writer failed: {e}")),
        }
    }

    /// Starts writing `path` at `start` (keeping bytes before it); `hasher` holds
    /// the digest state of those bytes.
    pub async fn open(&mut self, path: PathBuf, start: u64, hasher: Sha3) -> Result<(), CliError> {
        self.send(Op::Open {
            path,
            start,
            hasher,
        })
        .await
    }

    /// Appends bytes to the open file.
    pub async fn data(&mut self, bytes: Vec<u8>) -> Result<(), CliError> {
        self.send(Op::Data(bytes)).await
    }

    /// Flushes and syncs the open file; returns its whole digest.
    pub async fn close(&mut self) -> Result<[u8; 32], CliError> {
        let (tx, rx) = oneshot::channel();
        self.send(Op::Close(tx)).await?;
        match rx.await {
            Ok(d) => Ok(d),
            Err(_) => Err(self.failure().await),
        }
    }

    /// Ends the task and reports any error it hit.
    pub async fn finish(mut self) -> Result<(), CliError> {
        drop(self.tx);
        match (&mut self.join).await {
            Ok(r) => r,
            Err(e) => Err(CliError::Other(format!("the writer failed: {e}"))),
        }
    }
}

fn write_loop(mut rx: mpsc::Receiver<Op>) -> Result<(), CliError> {
    let mut open: Option<(File, PathBuf, Sha3)> = None;
    while let Some(op) = rx.blocking_recv() {
        match op {
            Op::Open {
                path,
                start,
                hasher,
            } => {
                let mut f = OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(start == 0)
                    .open(&path)
                    .map_err(|e| CliError::write(&path, e))?;
                f.set_len(start).map_err(|e| CliError::write(&path, e))?;
                f.seek(SeekFrom::Start(start))
                    .map_err(|e| CliError::write(&path, e))?;
                open = Some((f, path, hasher));
            }
            Op::Data(bytes) => {
                let Some((f, path, hasher)) = open.as_mut() else {
                    return Err(CliError::Other("data before a file was opened".into()));
                };
                hasher.update(&bytes);
                f.write_all(&bytes).map_err(|e| CliError::write(path, e))?;
            }
            Op::Close(reply) => {
                let Some((f, path, hasher)) = open.take() else {
                    return Err(CliError::Other("close before a file was opened".into()));
                };
                f.sync_all().map_err(|e| CliError::write(&path, e))?;
                let _ = reply.send(hasher.finish());
            }
        }
    }
    Ok(())
}
