//! `stt listen`: accepts transfers, writes each under a temporary name in the output
//! directory (`.NAME.stt-partial`), checks every file's SHA3-256, syncs, and only
//! then renames it into place and confirms to the sender. A failed or interrupted
//! transfer leaves only the temporary, which the next attempt resumes from. An
//! existing name is never replaced without `--overwrite`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use stt_tokio::{Session, WssIdentity};
use tokio::task::JoinSet;

use super::disk::{self, BLOCK, Writer};
use super::hash::Sha3;
use super::tree::{self, MAX_ENTRIES};
use super::wire::{self, Accept, Done, Entry, Held, Kind, Message, Offer, TreeDigest, code};
use super::{ChunkReader, Control};
use crate::error::{CliError, Side};
use crate::net::{self, Seeds};
use crate::report::{Output, Summary};
use crate::signals;

/// How long a new session may take to make its offer.
const OFFER_TIMEOUT: Duration = Duration::from_secs(10);

/// The listener's settings.
pub struct Listen {
    /// Seeds.
    pub seeds: Seeds,
    /// UDP address.
    pub bind: SocketAddr,
    /// WebSocket address, with a certificate and key for wss.
    pub ws: Option<(SocketAddr, Option<(PathBuf, PathBuf)>)>,
    /// Output directory.
    pub out: PathBuf,
    /// Replace existing files.
    pub overwrite: bool,
    /// Transfers to handle before exiting (0: until interrupted).
    pub count: u64,
    /// A file of the only NodeIds allowed to send.
    pub allow: Option<PathBuf>,
    /// Where to write the trace.
    pub trace: net::TraceArg,
    /// Output mode.
    pub output: Output,
    /// `--via HOST:PORT`: register with this rendezvous and relay, and take transfers
    /// that come through it too.
    pub via: Option<String>,
    /// `--ws-ca`: what to trust for a wss:// `via`.
    pub via_ca: Option<PathBuf>,
    /// With `via`: never try a direct path.
    pub no_punch: bool,
}

/// Checks that `dir` exists, is a directory, and takes a new file.
pub fn check_out_dir(dir: &Path) -> Result<(), CliError> {
    let meta = std::fs::metadata(dir).map_err(|e| CliError::OutDir {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    if !meta.is_dir() {
        return Err(CliError::OutDir {
            path: dir.to_path_buf(),
            reason: "not a directory".into(),
        });
    }
    let probe = dir.join(format!(".stt-probe-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| CliError::OutDir {
        path: dir.to_path_buf(),
        reason: format!("cannot create files in it: {e}"),
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Runs `stt listen`.
pub async fn run(args: Listen) -> Result<(), CliError> {
    check_out_dir(&args.out)?;
    let (identity, network) = args.seeds.load()?;
    let mut config = args.seeds.config();
    config.rendezvous.punch = !args.no_punch;
    if let Some(file) = &args.allow {
        config.peer_policy = Some(crate::peers::allow_policy(file)?);
    }
    let mut b = net::builder(identity, network, config, &args.trace).bind_udp(args.bind);
    match &args.ws {
        Some((addr, Some((cert, key)))) => {
            b = b.bind_wss(*addr, WssIdentity::from_pem_files(cert, key)?);
        }
        Some((addr, None)) => b = b.bind_ws(*addr),
        None => {}
    }
    if let Some(via) = &args.via {
        b = net::trust_for(b, via, args.via_ca.as_deref())?;
    }
    let node = b.build().await?;
    // The registration (and every relayed path) lasts as long as the session with the
    // relay; a task holds it and registers again whenever it ends.
    let registration = match &args.via {
        Some(via) => {
            let session = net::register_via(&node, via, &args.output).await?;
            Some(crate::registration::keep(
                node.clone(),
                via.clone(),
                session,
                args.output,
            ))
        }
        None => None,
    };
    // Stops the task on every way out of this function, and before the node stops
    // (so that its end is not reported as a lost relay).
    let registration = AbortOnDrop(registration);
    let mut where_ = format!("udp {}", join(&node.udp_addrs()));
    if !node.ws_addrs().is_empty() {
        where_ += &format!(", ws {}", join(&node.ws_addrs()));
    }
    if !node.wss_addrs().is_empty() {
        where_ += &format!(", wss {}", join(&node.wss_addrs()));
    }
    args.output.info(format!(
        "listening as {} on {where_}, storing into {}",
        node.node_id(),
        args.out.display()
    ));
    let busy = Arc::new(Mutex::new(HashSet::new()));
    let shared = Arc::new(args);
    let mut tasks = JoinSet::new();
    let (mut done, mut failed) = (0u64, 0u64);
    loop {
        tokio::select! {
            s = node.accept() => {
                let Some(session) = s else { break };
                let (shared, busy) = (shared.clone(), busy.clone());
                tasks.spawn(async move {
                    let peer = session.peer();
                    let r = receive(&session, &shared, &busy).await;
                    (peer, r)
                });
            }
            Some(joined) = tasks.join_next() => {
                done += 1;
                match joined {
                    Ok((_, Ok(summary))) => shared.output.summary(&summary),
                    Ok((peer, Err(e))) => {
                        failed += 1;
                        eprintln!("stt: transfer from {peer} failed: {e}");
                    }
                    Err(e) => {
                        failed += 1;
                        eprintln!("stt: transfer task failed: {e}");
                    }
                }
                if shared.count != 0 && done >= shared.count {
                    break;
                }
            }
            sig = signals::interrupted() => {
                let busy = !tasks.is_empty();
                registration.stop();
                net::cancel(&node, sig).await;
                if busy || shared.count != 0 {
                    return Err(CliError::Interrupted(sig));
                }
                return Ok(());
            }
        }
    }
    registration.stop();
    node.shutdown(0, b"", Duration::from_millis(500)).await;
    if failed > 0 {
        return Err(CliError::Failed(format!(
            "{failed} of {done} transfers failed"
        )));
    }
    Ok(())
}

/// A task (if any) aborted by [`AbortOnDrop::stop`] or when dropped.
struct AbortOnDrop(Option<tokio::task::JoinHandle<()>>);

impl AbortOnDrop {
    fn stop(&self) {
        if let Some(t) = &self.0 {
            t.abort();
        }
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.stop();
    }
}

fn join(addrs: &[SocketAddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A name in progress; released on drop.
struct Claim<'a> {
    busy: &'a Mutex<HashSet<String>>,
    name: String,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if let Ok(mut b) = self.busy.lock() {
            b.remove(&self.name);
        }
    }
}

async fn receive(
    session: &Session,
    args: &Listen,
    busy: &Mutex<HashSet<String>>,
) -> Result<Summary, CliError> {
    let r = receive_inner(session, args, busy).await;
    if let Err(e) = &r {
        let code = match e {
            CliError::PeerClosed { .. } | CliError::Connection(_) => None,
            CliError::Refused(_) => Some(code::REFUSED),
            CliError::Protocol(_) => Some(code::PROTOCOL),
            _ => Some(code::RECEIVER_FAILED),
        };
        if let Some(code) = code {
            session.close(code, net::clip(&e.to_string()).as_bytes());
            // Let the DISCONNECT leave before the task (and maybe the process) ends.
            let _ = tokio::time::timeout(Duration::from_millis(200), session.closed()).await;
        }
    }
    r
}

/// The offer's entries as local paths under `root`, checked.
fn local_paths(offer: &Offer, root: &Path) -> Result<Vec<PathBuf>, CliError> {
    if offer.entries.len() > MAX_ENTRIES {
        return Err(CliError::Refused(format!(
            "more than {MAX_ENTRIES} entries"
        )));
    }
    match offer.kind {
        Kind::File => match offer.entries.as_slice() {
            [Entry::File { .. }] => Ok(vec![root.to_path_buf()]),
            _ => Err(CliError::Protocol(
                "a file offer must list exactly one file".into(),
            )),
        },
        Kind::Dir => offer
            .entries
            .iter()
            .map(|e| {
                let p = match e {
                    Entry::File { path, .. } | Entry::Dir { path } => path,
                };
                tree::safe_relative(p)
                    .map(|rel| root.join(rel))
                    .map_err(CliError::Refused)
            })
            .collect(),
    }
}

/// Prepares the temporary tree and hashes what an earlier attempt left of each file.
fn prepare(offer: &Offer, temp: &Path, paths: &[PathBuf]) -> Result<Vec<(Held, Sha3)>, CliError> {
    let want_dir = offer.kind == Kind::Dir;
    if let Ok(m) = std::fs::symlink_metadata(temp)
        && m.is_dir() != want_dir
    {
        let r = if m.is_dir() {
            std::fs::remove_dir_all(temp)
        } else {
            std::fs::remove_file(temp)
        };
        r.map_err(|e| CliError::write(temp, e))?;
    }
    // Never create the output directory itself: if it vanished, that is an error.
    if want_dir && !temp.is_dir() {
        std::fs::create_dir(temp).map_err(|e| CliError::write(temp, e))?;
    }
    let mut held = Vec::new();
    for (index, (entry, path)) in offer.entries.iter().zip(paths).enumerate() {
        match entry {
            Entry::Dir { .. } => {
                std::fs::create_dir_all(path).map_err(|e| CliError::write(path, e))?
            }
            Entry::File { size, .. } => {
                if want_dir && let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent).map_err(|e| CliError::write(parent, e))?;
                }
                let len = match std::fs::symlink_metadata(path) {
                    Ok(m) if m.is_file() => m.len(),
                    _ => continue,
                };
                if len == 0 || len > *size {
                    continue;
                }
                let hasher = disk::hash_prefix(path, len).map_err(|e| CliError::read(path, e))?;
                held.push((
                    Held {
                        index: index as u32,
                        len,
                        sha3_256: hex::encode(hasher.clone().finish()),
                    },
                    hasher,
                ));
            }
        }
    }
    Ok(held)
}

/// Renames the finished temporary into place (replacing only with `--overwrite`) and
/// syncs the directory so the rename survives a crash.
fn commit(temp: &Path, target: &Path, out: &Path, overwrite: bool) -> Result<(), CliError> {
    if let Ok(m) = std::fs::symlink_metadata(target) {
        if !overwrite {
            return Err(CliError::Refused(format!(
                "{} appeared while receiving; not replaced (the listener can pass --overwrite)",
                target.display()
            )));
        }
        if m.is_dir() {
            std::fs::remove_dir_all(target).map_err(|e| CliError::write(target, e))?;
        }
    }
    if let Ok(d) = std::fs::File::open(temp)
        && d.metadata().is_ok_and(|m| m.is_dir())
    {
        d.sync_all().map_err(|e| CliError::write(temp, e))?;
    }
    std::fs::rename(temp, target).map_err(|e| CliError::write(target, e))?;
    std::fs::File::open(out)
        .and_then(|d| d.sync_all())
        .map_err(|e| CliError::write(out, e))
}

async fn receive_inner(
    session: &Session,
    args: &Listen,
    busy: &Mutex<HashSet<String>>,
) -> Result<Summary, CliError> {
    let (send, recv) = match tokio::time::timeout(OFFER_TIMEOUT, session.accept_bi()).await {
        Ok(r) => r.map_err(|e| CliError::from_connection(e, Side::Sender))?,
        Err(_) => return Err(CliError::Protocol("no offer within 10 s".into())),
    };
    let mut control = Control::new(send, recv, Side::Sender);
    let offer = match tokio::time::timeout(OFFER_TIMEOUT, control.read()).await {
        Ok(Ok(Message::Offer(o))) => o,
        Ok(Ok(other)) => {
            return Err(CliError::Protocol(format!(
                "expected an offer, got {other:?}"
            )));
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(CliError::Protocol("no offer within 10 s".into())),
    };
    if offer.version != wire::VERSION {
        return Err(CliError::Refused(format!(
            "offer of version {}; this listener speaks version {}",
            offer.version,
            wire::VERSION
        )));
    }
    let name = tree::safe_name(&offer.name);
    let target = args.out.join(&name);
    let temp = args.out.join(format!(".{name}.stt-partial"));
    let _claim = {
        let mut b = busy
            .lock()
            .map_err(|_| CliError::Other("lock poisoned".into()))?;
        if !b.insert(name.clone()) {
            return Err(CliError::Refused(format!(
                "another transfer of {name} is in progress"
            )));
        }
        Claim {
            busy,
            name: name.clone(),
        }
    };
    if std::fs::symlink_metadata(&target).is_ok() && !args.overwrite {
        return Err(CliError::Refused(format!(
            "{} already exists (the listener can pass --overwrite to replace it)",
            target.display()
        )));
    }
    let paths = local_paths(&offer, &temp)?;
    let held = {
        let (offer, temp, paths) = (offer.clone(), temp.clone(), paths.clone());
        tokio::task::spawn_blocking(move || prepare(&offer, &temp, &paths))
            .await
            .map_err(|e| CliError::Other(e.to_string()))??
    };
    let total = offer.total_bytes();
    let started = Instant::now();
    control
        .write(&Message::Accept(Accept {
            held: held.iter().map(|(h, _)| h.clone()).collect(),
        }))
        .await?;
    let data = session
        .accept_uni()
        .await
        .map_err(|e| CliError::from_connection(e, Side::Sender))?;
    let mut data = ChunkReader::new(data, Side::Sender);
    let pb = args.output.bar(total);
    pb.set_message(format!("receiving {name}"));
    let mut held = held;
    let mut writer = Writer::spawn();
    let mut digest = TreeDigest::new(offer.kind);
    let mut resumed = 0u64;
    for (index, (entry, path)) in offer.entries.iter().zip(&paths).enumerate() {
        let (rel, size) = match entry {
            Entry::Dir { path } => {
                digest.dir(path);
                continue;
            }
            Entry::File { path, size } => (path, *size),
        };
        let mut header = [0u8; wire::RECORD_HEADER];
        data.read_exact(&mut header, "a record header").await?;
        let (got, start) = wire::parse_record_header(&header);
        let prefix = held
            .iter()
            .position(|(h, _)| h.index as usize == index)
            .map(|i| held.swap_remove(i));
        let hasher = match prefix {
            _ if got as usize != index => None,
            Some((h, hasher)) if start == h.len => Some(hasher),
            _ if start == 0 => Some(Sha3::default()),
            _ => None,
        };
        let Some(hasher) = hasher else {
            return Err(CliError::Protocol(format!(
                "record for entry {got} at {start}, expected entry {index}"
            )));
        };
        resumed = resumed.saturating_add(start);
        pb.inc(start);
        writer.open(path.clone(), start, hasher).await?;
        let mut left = size - start.min(size);
        let mut block = Vec::with_capacity(BLOCK.min(left as usize));
        while left > 0 {
            let Some(piece) = data.take(left.min(BLOCK as u64) as usize).await? else {
                return Err(CliError::Protocol(format!(
                    "the sender ended the data stream inside {rel}"
                )));
            };
            left -= piece.len() as u64;
            pb.inc(piece.len() as u64);
            block.extend_from_slice(&piece);
            if block.len() >= BLOCK || left == 0 {
                let full =
                    std::mem::replace(&mut block, Vec::with_capacity(BLOCK.min(left as usize)));
                writer.data(full).await?;
            }
        }
        let mut trailer = [0u8; wire::RECORD_TRAILER];
        data.read_exact(&mut trailer, "a file digest").await?;
        let stored = writer.close().await?;
        if stored != trailer {
            return Err(CliError::Failed(format!(
                "{rel} arrived damaged: its SHA3-256 {} differs from the sender's {}",
                hex::encode(stored),
                hex::encode(trailer)
            )));
        }
        digest.file(rel, size, stored);
    }
    if !data.at_end().await? {
        return Err(CliError::Protocol("data after the last file".into()));
    }
    writer.finish().await?;
    {
        let (temp, target, out, overwrite) = (
            temp.clone(),
            target.clone(),
            args.out.clone(),
            args.overwrite,
        );
        tokio::task::spawn_blocking(move || commit(&temp, &target, &out, overwrite))
            .await
            .map_err(|e| CliError::Other(e.to_string()))??;
    }
    pb.finish_and_clear();
    let digest = digest.finish();
    control
        .write(&Message::Done(Done {
            files: offer.file_count(),
            bytes: total,
            sha3_256: digest.clone(),
        }))
        .await?;
    control.finish().await?;
    let relayed = args.via.as_ref().and_then(|_| session.is_relayed());
    // The sender closes once it has read the confirmation; don't cut it off.
    let _ = tokio::time::timeout(Duration::from_secs(5), session.closed()).await;
    Ok(Summary::new(
        "received",
        target.display().to_string(),
        &offer,
        resumed,
        digest,
        session.peer(),
        started.elapsed(),
    )
    .with_handshake(net::handshake_name(session))
    .with_path(relayed))
}
