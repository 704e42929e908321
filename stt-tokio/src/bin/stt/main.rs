//! The `stt` command: seeds (`keygen`, `network new`, `pair`), file transfer
//! (`listen`, `send`), a netcat-like pipe (`cat`) and a self-contained benchmark
//! (`demo`). Logs go through `tracing` (set `RUST_LOG`); all protocol work is the
//! library's.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use sha3::{Digest, Sha3_256};
use stt_tokio::seed::{SeedFileError, random_seed, read_identity, read_network, write_seed};
use stt_tokio::{Identity, NetworkKey, Node, Session, WssIdentity, WssTrust};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod demo;

/// STT: secure binary transport over UDP and WebSocket.
#[derive(Parser, Debug)]
#[command(name = "stt", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the seeds come from.
#[derive(clap::Args, Debug, Clone)]
struct Seeds {
    /// Node seed file (your identity); a fresh one-off identity if absent.
    #[arg(long, env = "STT_NODE_SEED")]
    node_seed: Option<PathBuf>,
    /// Shared network seed file (every member of the network has the same one).
    #[arg(long, env = "STT_NETWORK")]
    network: PathBuf,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a new node seed file (mode 0600) and print its NodeId.
    Keygen {
        /// Output file.
        #[arg(long, short, default_value = "node.seed")]
        out: PathBuf,
    },
    /// Shared network seeds.
    Network {
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// Show a shared seed as a terminal QR code and as text, for out-of-band pairing.
    Pair {
        /// The shared seed file.
        #[arg(long, env = "STT_NETWORK")]
        network: PathBuf,
    },
    /// Receive files sent with `stt send`.
    Listen {
        #[command(flatten)]
        seeds: Seeds,
        /// UDP address to listen on.
        #[arg(long, default_value = "0.0.0.0:4433")]
        bind: SocketAddr,
        /// Also accept WebSocket clients on this TCP address (ws://, or wss:// with
        /// --ws-cert and --ws-key).
        #[arg(long)]
        ws: Option<SocketAddr>,
        /// Serve wss:// on --ws with this PEM certificate chain (leaf first).
        #[arg(long, value_name = "FILE", requires_all = ["ws", "ws_key"])]
        ws_cert: Option<PathBuf>,
        /// The PEM private key of --ws-cert (PKCS#8, PKCS#1 or SEC1).
        #[arg(long, value_name = "FILE", requires = "ws_cert")]
        ws_key: Option<PathBuf>,
        /// Directory to store received files in.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Exit after this many files (0 = run forever).
        #[arg(long, default_value_t = 1)]
        count: u64,
    },
    /// Send a file to a listening node.
    Send {
        #[command(flatten)]
        seeds: Seeds,
        /// The file.
        file: PathBuf,
        /// The listener's UDP address (HOST:PORT).
        #[arg(long, conflicts_with = "ws", required_unless_present = "ws")]
        to: Option<String>,
        /// The listener's WebSocket URL (ws://HOST:PORT/ or wss://HOST:PORT/).
        #[arg(long)]
        ws: Option<String>,
        /// Trust the certificates in this PEM file for wss:// (a private CA or the
        /// listener's self-signed certificate) instead of the system's root store.
        #[arg(long, value_name = "FILE", requires = "ws")]
        ws_ca: Option<PathBuf>,
    },
    /// Pipe stdin to a peer and the peer's data to stdout, like netcat.
    Cat {
        #[command(flatten)]
        seeds: Seeds,
        /// Connect to this UDP address (HOST:PORT)…
        #[arg(long, conflicts_with = "listen", required_unless_present = "listen")]
        to: Option<String>,
        /// …or wait for one peer on this UDP address.
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Two nodes on 127.0.0.1 in one process: handshake, 256 MiB over 4 streams and a
    /// datagram burst, verified by SHA3-256, then a summary table. Needs no files.
    Demo {
        /// Total bytes to move, in MiB.
        #[arg(long, default_value_t = 256)]
        mib: u64,
        /// Number of parallel streams.
        #[arg(long, default_value_t = 4)]
        streams: u64,
        /// Datagrams in the burst.
        #[arg(long, default_value_t = 1000)]
        datagrams: u64,
    },
}

#[derive(Subcommand, Debug)]
enum NetworkCommand {
    /// Write a new shared network seed file (mode 0600).
    New {
        /// Output file.
        #[arg(long, short, default_value = "network.seed")]
        out: PathBuf,
    },
}

/// Everything that can make a command fail.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Seed(#[from] SeedFileError),
    #[error("no OS randomness: {0}")]
    Random(getrandom::Error),
    #[error(transparent)]
    Bind(#[from] stt_tokio::BindError),
    #[error("tls: {0}")]
    Tls(#[from] stt_tokio::TlsConfigError),
    #[error(transparent)]
    Connection(#[from] stt_tokio::ConnectionError),
    #[error(transparent)]
    Stream(#[from] stt_tokio::StreamIoError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("cannot resolve {0}")]
    Resolve(String),
    #[error("{0}")]
    Other(String),
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stt: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Demo {
            mib,
            streams,
            datagrams,
        } => demo::run(mib, streams, datagrams).map_err(CliError::Other),
        other => rt.block_on(run(other)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stt: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Keygen { out } => {
            let seed = random_seed().map_err(CliError::Random)?;
            let id = Identity::from_node_seed(&seed)
                .map_err(|e| CliError::Other(e.to_string()))?
                .node_id();
            write_seed(&out, &seed)?;
            println!("{id}");
            eprintln!("node seed written to {} (mode 0600)", out.display());
            Ok(())
        }
        Command::Network {
            command: NetworkCommand::New { out },
        } => {
            let seed = random_seed().map_err(CliError::Random)?;
            write_seed(&out, &seed)?;
            eprintln!(
                "shared network seed written to {} (mode 0600); give it to members with `stt pair`",
                out.display()
            );
            Ok(())
        }
        Command::Pair { network } => {
            let seed = stt_tokio::seed::read_seed(&network)?;
            let text = hex::encode(&seed);
            match qrcode::QrCode::new(text.as_bytes()) {
                Ok(code) => {
                    let img = code
                        .render::<qrcode::render::unicode::Dense1x2>()
                        .quiet_zone(true)
                        .build();
                    println!("{img}");
                }
                Err(e) => eprintln!("no QR code: {e}"),
            }
            println!("{text}");
            eprintln!("save the text above to a file (chmod 600) and pass it with --network");
            Ok(())
        }
        Command::Listen {
            seeds,
            bind,
            ws,
            ws_cert,
            ws_key,
            out,
            count,
        } => {
            let tls = ws_cert.zip(ws_key);
            listen(seeds, bind, ws, tls, out, count).await
        }
        Command::Send {
            seeds,
            file,
            to,
            ws,
            ws_ca,
        } => send(seeds, file, to, ws, ws_ca).await,
        Command::Cat { seeds, to, listen } => cat(seeds, to, listen).await,
        Command::Demo { .. } => Ok(()),
    }
}

fn load(seeds: &Seeds) -> Result<(Identity, NetworkKey), CliError> {
    let network = read_network(&seeds.network)?;
    let identity = match &seeds.node_seed {
        Some(p) => read_identity(p)?,
        None => {
            let seed = random_seed().map_err(CliError::Random)?;
            tracing::info!("no --node-seed: using a one-off identity");
            Identity::from_node_seed(&seed).map_err(|e| CliError::Other(e.to_string()))?
        }
    };
    Ok((identity, network))
}

async fn resolve(host: &str) -> Result<SocketAddr, CliError> {
    tokio::net::lookup_host(host)
        .await
        .map_err(|_| CliError::Resolve(host.to_string()))?
        .next()
        .ok_or_else(|| CliError::Resolve(host.to_string()))
}

fn wildcard(for_addr: SocketAddr) -> SocketAddr {
    if for_addr.is_ipv4() {
        "0.0.0.0:0".parse().unwrap_or(for_addr)
    } else {
        "[::]:0".parse().unwrap_or(for_addr)
    }
}

fn bar(len: u64) -> indicatif::ProgressBar {
    let pb = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
    ) {
        pb.set_style(style);
    }
    pb
}

fn summary(what: &str, name: &str, bytes: u64, took: Duration, digest: &[u8]) -> String {
    let secs = took.as_secs_f64().max(1e-9);
    format!(
        "{what} {name}: {bytes} bytes in {secs:.3} s, {:.1} MB/s, sha3-256 {}",
        bytes as f64 / secs / 1e6,
        hex::encode(digest)
    )
}

async fn send(
    seeds: Seeds,
    file: PathBuf,
    to: Option<String>,
    ws: Option<String>,
    ws_ca: Option<PathBuf>,
) -> Result<(), CliError> {
    let (identity, network) = load(&seeds)?;
    let meta = tokio::fs::metadata(&file).await?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let (node, session) = match (to, ws) {
        (Some(to), _) => {
            let addr = resolve(&to).await?;
            let node = Node::builder(identity, network)
                .bind_udp(wildcard(addr))
                .build()
                .await?;
            let s = node.connect(addr).await?;
            (node, s)
        }
        (None, Some(url)) => {
            let mut b = Node::builder(identity, network);
            if url.starts_with("wss://") {
                b = b.wss_trust(match ws_ca {
                    Some(file) => WssTrust::from_pem_file(file)?,
                    None => WssTrust::platform()?,
                });
            }
            let node = b.build().await?;
            let s = node.connect_ws(&url).await?;
            (node, s)
        }
        (None, None) => return Err(CliError::Other("give --to or --ws".into())),
    };
    eprintln!("connected to {}", session.peer());
    let header_len = 2 + name.len() as u64;
    let mut stream = session
        .open_uni_with(0, Some(header_len + meta.len()))
        .await?;
    let mut header = (name.len() as u16).to_be_bytes().to_vec();
    header.extend_from_slice(name.as_bytes());
    stream.write_all(&header).await?;
    let mut f = tokio::fs::File::open(&file).await?;
    let pb = bar(meta.len());
    let started = Instant::now();
    let mut hash = Sha3_256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
        pb.set_position(total);
    }
    stream.finished().await?;
    pb.finish_and_clear();
    println!(
        "{}",
        summary("sent", &name, total, started.elapsed(), &hash.finalize())
    );
    // The receiver closes once it has read everything (closing first would discard
    // data it has acknowledged but not yet read).
    let _ = tokio::time::timeout(Duration::from_secs(30), session.closed()).await;
    node.shutdown(0, b"", Duration::from_millis(200)).await;
    Ok(())
}

/// A received file name reduced to its last component, never empty or special.
fn safe_name(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    let base = Path::new(s.as_ref())
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if base.is_empty() || base == "." || base == ".." {
        "received.bin".into()
    } else {
        base
    }
}

async fn receive_file(session: Session, out: PathBuf) -> Result<(), CliError> {
    let mut stream = session.accept_uni().await?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut name = vec![0u8; u16::from_be_bytes(len) as usize];
    stream.read_exact(&mut name).await?;
    let name = safe_name(&name);
    let path = out.join(&name);
    let mut f = tokio::fs::File::create(&path).await?;
    let pb = bar(0);
    let started = Instant::now();
    let mut hash = Sha3_256::new();
    let mut total = 0u64;
    while let Some(chunk) = stream.read_chunk(1 << 16).await? {
        hash.update(&chunk);
        f.write_all(&chunk).await?;
        total += chunk.len() as u64;
        pb.set_position(total);
    }
    f.flush().await?;
    pb.finish_and_clear();
    println!(
        "received {}: {total} bytes in {:.3} s, {:.1} MB/s, sha3-256 {} (from {})",
        path.display(),
        started.elapsed().as_secs_f64(),
        total as f64 / started.elapsed().as_secs_f64().max(1e-9) / 1e6,
        hex::encode(hash.finalize()),
        session.peer()
    );
    session.close(0, b"received");
    Ok(())
}

async fn listen(
    seeds: Seeds,
    bind: SocketAddr,
    ws: Option<SocketAddr>,
    tls: Option<(PathBuf, PathBuf)>,
    out: PathBuf,
    count: u64,
) -> Result<(), CliError> {
    let (identity, network) = load(&seeds)?;
    let mut b = Node::builder(identity, network).bind_udp(bind);
    match (ws, tls) {
        (Some(ws), Some((cert, key))) => {
            b = b.bind_wss(ws, WssIdentity::from_pem_files(cert, key)?);
        }
        (Some(ws), None) => b = b.bind_ws(ws),
        (None, _) => {}
    }
    let node = b.build().await?;
    eprintln!(
        "listening as {} on udp {:?} ws {:?} wss {:?}",
        node.node_id(),
        node.udp_addrs(),
        node.ws_addrs(),
        node.wss_addrs()
    );
    let mut done = 0;
    while let Some(session) = node.accept().await {
        match receive_file(session, out.clone()).await {
            Ok(()) => {}
            Err(e) => eprintln!("transfer failed: {e}"),
        }
        done += 1;
        if count != 0 && done >= count {
            break;
        }
    }
    node.shutdown(0, b"", Duration::from_millis(200)).await;
    Ok(())
}

async fn cat(seeds: Seeds, to: Option<String>, listen: Option<SocketAddr>) -> Result<(), CliError> {
    let (identity, network) = load(&seeds)?;
    let (node, session, (mut send, mut recv)) = match (to, listen) {
        (Some(to), _) => {
            let addr = resolve(&to).await?;
            let node = Node::builder(identity, network)
                .bind_udp(wildcard(addr))
                .build()
                .await?;
            let s = node.connect(addr).await?;
            let streams = s.open_bi().await?;
            (node, s, streams)
        }
        (None, Some(bind)) => {
            let node = Node::builder(identity, network)
                .bind_udp(bind)
                .build()
                .await?;
            let s = node
                .accept()
                .await
                .ok_or_else(|| CliError::Other("node stopped".into()))?;
            let streams = s.accept_bi().await?;
            (node, s, streams)
        }
        (None, None) => return Err(CliError::Other("give --to or --listen".into())),
    };
    let up = async {
        let mut stdin = tokio::io::stdin();
        tokio::io::copy(&mut stdin, &mut send).await?;
        send.shutdown().await?;
        Ok::<_, std::io::Error>(())
    };
    let down = async {
        let mut stdout = tokio::io::stdout();
        tokio::io::copy(&mut recv, &mut stdout).await?;
        stdout.flush().await?;
        Ok::<_, std::io::Error>(())
    };
    let (a, b) = tokio::join!(up, down);
    a?;
    b?;
    session.close(0, b"");
    node.shutdown(0, b"", Duration::from_millis(100)).await;
    Ok(())
}
