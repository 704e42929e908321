//! `stt send PATH`: offers a file or a tree, resumes from what the receiver holds
//! (checked by SHA3-256 of the held prefix), streams the data in large blocks, and
//! succeeds only on the receiver's confirmation that everything is stored and its
//! digest matches ours.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stt_tokio::Session;

use super::disk::{self, Plan};
use super::hash::Sha3;
use super::tree::{self, Local};
use super::wire::{self, Accept, Entry, Message, TreeDigest, code};
use super::{Control, stream_error};
use crate::error::{CliError, Side};
use crate::net::{self, PeerArgs, Seeds, Target, TraceArg};
use crate::report::{Output, Summary};
use crate::signals;

/// Runs `stt send`.
pub async fn run(
    seeds: Seeds,
    path: PathBuf,
    target: Target,
    peers: PeerArgs,
    trace: TraceArg,
    out: Output,
) -> Result<(), CliError> {
    let (identity, network) = seeds.load()?;
    let local = tokio::task::spawn_blocking(move || tree::walk(&path))
        .await
        .map_err(|e| CliError::Other(e.to_string()))??;
    let via = matches!(target, Target::Via { .. });
    // `_relay`: the session with the relay, held while a relayed path may need it.
    let (node, session, _relay) = tokio::select! {
        r = net::connect_any(identity, network, seeds.config(), target, &peers, &trace, out) => r?,
        sig = signals::interrupted() => return Err(CliError::Interrupted(sig)),
    };
    out.info(format!(
        "connected to {} ({} handshake)",
        session.peer(),
        net::handshake_name(&session)
    ));
    let result = tokio::select! {
        r = transfer(&session, &local, out, via) => r,
        sig = signals::interrupted() => {
            net::cancel(&node, sig).await;
            return Err(CliError::Interrupted(sig));
        }
    };
    match result {
        Ok(summary) => {
            session.close(0, b"done");
            node.shutdown(0, b"done", Duration::from_millis(500)).await;
            out.summary(&summary);
            Ok(())
        }
        Err(e) => {
            let code = match &e {
                CliError::PeerClosed { .. } | CliError::Connection(_) => None,
                CliError::Protocol(_) => Some(code::PROTOCOL),
                _ => Some(code::SENDER_FAILED),
            };
            if let Some(code) = code {
                net::fail(&node, code, &e.to_string()).await;
            }
            Err(e)
        }
    }
}

/// Where each file starts, after checking what the receiver says it holds.
fn plan(local: &Local, accept: &Accept) -> Result<Vec<Plan>, CliError> {
    let mut plans = Vec::new();
    for (index, (entry, path)) in local.offer.entries.iter().zip(&local.paths).enumerate() {
        let Entry::File { size, .. } = entry else {
            continue;
        };
        let held = accept
            .held
            .iter()
            .find(|h| h.index as usize == index && h.len <= *size);
        let (start, hasher) = match held {
            Some(h) => {
                let prefix = disk::hash_prefix(path, h.len).map_err(|e| CliError::read(path, e))?;
                if hex::encode(prefix.clone().finish()) == h.sha3_256 {
                    (h.len, prefix)
                } else {
                    tracing::info!(
                        "{}: the receiver's partial copy differs; sending it whole",
                        path.display()
                    );
                    (0, Sha3::default())
                }
            }
            None => (0, Sha3::default()),
        };
        plans.push(Plan {
            index: index as u32,
            path: path.clone(),
            size: *size,
            start,
            hasher,
        });
    }
    Ok(plans)
}

async fn transfer(
    session: &Session,
    local: &Local,
    out: Output,
    via: bool,
) -> Result<Summary, CliError> {
    let started = Instant::now();
    let offer = &local.offer;
    let (send, recv) = session
        .open_bi()
        .await
        .map_err(|e| CliError::from_connection(e, Side::Receiver))?;
    let mut control = Control::new(send, recv, Side::Receiver);
    control.write(&Message::Offer(offer.clone())).await?;
    let accept = match control.read().await? {
        Message::Accept(a) => a,
        other => {
            return Err(CliError::Protocol(format!(
                "expected accept, got {other:?}"
            )));
        }
    };
    let plans = {
        let l = Local {
            offer: offer.clone(),
            paths: local.paths.clone(),
        };
        tokio::task::spawn_blocking(move || plan(&l, &accept))
            .await
            .map_err(|e| CliError::Other(e.to_string()))??
    };
    let starts: Vec<u64> = plans.iter().map(|p| p.start).collect();
    let resumed: u64 = starts.iter().sum();
    let total = offer.total_bytes();
    let data_len = wire::data_stream_len(offer, &starts);
    let mut stream = session
        .open_uni_with(0, Some(data_len))
        .await
        .map_err(|e| CliError::from_connection(e, Side::Receiver))?;
    // The bar counts the data stream (file bytes plus 44 bytes of framing a file).
    let pb = out.bar(resumed + data_len);
    pb.set_message("sending");
    pb.set_position(resumed);
    let (mut blocks, reader) = disk::spawn_reader(plans);
    while let Some(block) = blocks.recv().await {
        stream
            .write_all(&block)
            .await
            .map_err(|e| stream_error(e, Side::Receiver))?;
        pb.inc(block.len() as u64);
    }
    let digests = reader.await.map_err(|e| CliError::Other(e.to_string()))??;
    stream
        .finished()
        .await
        .map_err(|e| stream_error(e, Side::Receiver))?;
    pb.set_message("waiting for the receiver to store it");
    let mut digest = TreeDigest::new(offer.kind);
    let mut files = digests.iter();
    for e in &offer.entries {
        match e {
            Entry::Dir { path } => digest.dir(path),
            Entry::File { path, size } => {
                let d = files.next().copied().unwrap_or_default();
                digest.file(path, *size, d);
            }
        }
    }
    let digest = digest.finish();
    let done = match control.read().await? {
        Message::Done(d) => d,
        other => return Err(CliError::Protocol(format!("expected done, got {other:?}"))),
    };
    pb.finish_and_clear();
    let relayed = via.then(|| session.is_relayed()).flatten();
    if done.sha3_256 != digest || done.bytes != total {
        return Err(CliError::Other(format!(
            "the receiver stored {} bytes with sha3-256 {}, but we sent {total} bytes with sha3-256 {digest}",
            done.bytes, done.sha3_256
        )));
    }
    Ok(Summary::new(
        "sent",
        offer.name.clone(),
        offer,
        resumed,
        digest,
        session.peer(),
        started.elapsed(),
    )
    .with_handshake(net::handshake_name(session))
    .with_path(relayed))
}
