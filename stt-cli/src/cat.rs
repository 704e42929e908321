//! `stt cat`: stdin to the peer and the peer's data to stdout, like netcat, over one
//! bidirectional stream. Each direction ends with a FIN; after reading the peer's
//! FIN a side sends a receipt (a unidirectional stream holding the byte count it
//! read), and a side closes the session only once its own data is acknowledged, it
//! has read everything, and it holds the peer's receipt. A peer's graceful close
//! (code 0) also proves the peer read everything, since it closes only after that.
//! Exit 0 means everything written was delivered and everything sent was read.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use stt_tokio::{RecvStream, SendStream, Session};
use tokio::sync::mpsc;

use crate::error::{CliError, Side};
use crate::net::{self, PeerArgs, Seeds, Target, TraceArg};
use crate::signals;
use crate::transfer::{ChunkReader, stream_error};

/// Runs `stt cat --to` or `stt cat --listen`.
pub async fn run(
    seeds: Seeds,
    to: Option<String>,
    listen: Option<SocketAddr>,
    allow: Option<PathBuf>,
    peers: PeerArgs,
    trace: TraceArg,
) -> Result<(), CliError> {
    let (identity, network) = seeds.load()?;
    let setup = async {
        match (to, listen) {
            (Some(to), _) => {
                let (node, s) = net::connect(
                    identity,
                    network,
                    seeds.config(),
                    Target::Udp(to),
                    &peers,
                    &trace,
                )
                .await?;
                let (send, recv) = s
                    .open_bi()
                    .await
                    .map_err(|e| CliError::from_connection(e, Side::Peer))?;
                Ok((node, s, send, recv))
            }
            (None, Some(bind)) => {
                let mut config = seeds.config();
                if let Some(file) = &allow {
                    config.peer_policy = Some(crate::peers::allow_policy(file)?);
                }
                let node = net::builder(identity, network, config, &trace)
                    .bind_udp(bind)
                    .build()
                    .await?;
                tracing::info!("waiting for one peer on {bind}");
                let s = node
                    .accept()
                    .await
                    .ok_or_else(|| CliError::Other("node stopped".into()))?;
                let (send, recv) = s
                    .accept_bi()
                    .await
                    .map_err(|e| CliError::from_connection(e, Side::Peer))?;
                Ok((node, s, send, recv))
            }
            (None, None) => Err(CliError::Other("give --to or --listen".into())),
        }
    };
    let (node, session, send, recv) = tokio::select! {
        r = setup => r?,
        sig = signals::interrupted() => return Err(CliError::Interrupted(sig)),
    };
    let result = tokio::select! {
        r = pipe(&session, send, recv) => r,
        sig = signals::interrupted() => {
            net::cancel(&node, sig).await;
            return Err(CliError::Interrupted(sig));
        }
    };
    match result {
        Ok(()) => {
            session.close(0, b"done");
            node.shutdown(0, b"done", Duration::from_millis(200)).await;
            Ok(())
        }
        Err(e) => {
            if !matches!(e, CliError::PeerClosed { .. } | CliError::Connection(_)) {
                net::fail(&node, crate::transfer::wire::code::PROTOCOL, &e.to_string()).await;
            }
            Err(e)
        }
    }
}

/// Moves both directions and exchanges receipts.
async fn pipe(session: &Session, mut send: SendStream, recv: RecvStream) -> Result<(), CliError> {
    let mut read_all = false;
    let mut sent = 0u64;
    let up = async {
        let mut input = stdin_reader();
        loop {
            // A session that ends (reset, timed out) ends the wait for more input too:
            // an open, silent stdin must not keep the command running.
            let chunk = tokio::select! {
                c = input.recv() => c,
                e = session.closed() => return Err(CliError::from_connection(e, Side::Peer)),
            };
            let Some(chunk) = chunk else {
                break;
            };
            let chunk = chunk.map_err(|e| CliError::Other(format!("cannot read stdin: {e}")))?;
            send.write_all(&chunk)
                .await
                .map_err(|e| stream_error(e, Side::Peer))?;
            sent += chunk.len() as u64;
        }
        send.finished()
            .await
            .map_err(|e| stream_error(e, Side::Peer))
    };
    let down = async {
        let (out, writer) = stdout_writer();
        let mut reader = ChunkReader::new(recv, Side::Peer);
        let mut got = 0u64;
        while let Some(chunk) = reader.take(usize::MAX).await? {
            got += chunk.len() as u64;
            if out.send(chunk).await.is_err() {
                break;
            }
        }
        drop(out);
        match writer.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(CliError::Other(format!("cannot write stdout: {e}"))),
            Err(e) => return Err(CliError::Other(e.to_string())),
        }
        read_all = true;
        let mut receipt = session
            .open_uni()
            .await
            .map_err(|e| CliError::from_connection(e, Side::Peer))?;
        receipt
            .write_all(&got.to_be_bytes())
            .await
            .map_err(|e| stream_error(e, Side::Peer))?;
        receipt
            .finished()
            .await
            .map_err(|e| stream_error(e, Side::Peer))
    };
    let theirs = async {
        let stream = session
            .accept_uni()
            .await
            .map_err(|e| CliError::from_connection(e, Side::Peer))?;
        let mut reader = ChunkReader::new(stream, Side::Peer);
        let mut count = [0u8; 8];
        reader.read_exact(&mut count, "its receipt").await?;
        // Up to its FIN: the peer has finished the receipt before we may close.
        if !reader.at_end().await? {
            return Err(CliError::Protocol("a receipt longer than 8 bytes".into()));
        }
        Ok::<_, CliError>(u64::from_be_bytes(count))
    };
    let (a, b, c) = tokio::join!(up, down, theirs);
    // A graceful close by the peer means it read everything we sent (it closes only
    // after reading our FIN and holding our receipt); what we still need is to have
    // read everything ourselves.
    let graceful = |e: &CliError| matches!(e, CliError::PeerClosed { code: 0, .. });
    for r in [&a, &b] {
        if let Err(e) = r
            && !(graceful(e) && read_all)
        {
            return Err(clone_err(e));
        }
    }
    match c {
        Ok(n) if n == sent => Ok(()),
        Ok(n) => Err(CliError::Protocol(format!(
            "the peer read {n} bytes but {sent} were sent"
        ))),
        Err(e) if graceful(&e) && read_all => Ok(()),
        Err(e) => Err(e),
    }
}

fn clone_err(e: &CliError) -> CliError {
    match e {
        CliError::PeerClosed { side, code, reason } => CliError::PeerClosed {
            side: *side,
            code: *code,
            reason: reason.clone(),
        },
        other => CliError::Other(other.to_string()),
    }
}

/// Reads stdin on its own thread (a blocked read cannot hold up the runtime's exit).
fn stdin_reader() -> mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if tx.blocking_send(Ok(buf[..n].to_vec())).is_err() {
                        break;
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e));
                    break;
                }
            }
        }
    });
    rx
}

/// Writes to stdout on a blocking thread, flushing whenever it has caught up (so an
/// interactive pipe sees each line at once).
fn stdout_writer() -> (
    mpsc::Sender<bytes::Bytes>,
    tokio::task::JoinHandle<std::io::Result<()>>,
) {
    let (tx, mut rx) = mpsc::channel::<bytes::Bytes>(64);
    let join = tokio::task::spawn_blocking(move || {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        while let Some(chunk) = rx.blocking_recv() {
            out.write_all(&chunk)?;
            if rx.is_empty() {
                out.flush()?;
            }
        }
        out.flush()
    });
    (tx, join)
}
