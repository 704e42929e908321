//! The `stt` command: seeds and identities (`keygen`, `id`, `network new`, `pair`), file and directory
//! transfer (`listen`, `send`), a rendezvous and relay (`relay`), a netcat-like pipe (`cat`), trace reading (`trace`)
//! and a self-contained benchmark (`demo`). Logs go through `tracing` (set `RUST_LOG`); all protocol work
//! is the library's. Exit codes: 0 success, 1 failure, 2 usage, 130/143 after
//! SIGINT/SIGTERM.

#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::seed::{SeedKind, random_seed, write_seed};
use clap::{Parser, Subcommand};
use stt_tokio::Identity;

mod cat;
mod demo;
mod error;
mod net;
mod peers;
mod registration;
mod relay;
mod report;
mod seed;
mod signals;
mod trace_cmd;
mod transfer;

use error::CliError;
use net::{PeerArgs, Seeds, Target, TraceArg};
use report::Output;

/// STT: secure binary transport over UDP and WebSocket.
#[derive(Parser, Debug)]
#[command(name = "stt", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write a new node seed file (mode 0600) and print its NodeId (on stdout; in groups
    /// of four hex digits for comparing aloud on stderr).
    Keygen {
        /// Output file.
        #[arg(long, short, default_value = "node.seed")]
        out: PathBuf,
    },
    /// Print the NodeId of a node seed file (on stdout, as `--peer`, known-peers and
    /// `--allow` files take it; in groups of four hex digits for comparing aloud on stderr).
    Id {
        /// The node seed file.
        #[arg(long, env = "STT_NODE_SEED", value_name = "FILE")]
        node_seed: PathBuf,
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
    /// Receive files and directories sent with `stt send`.
    ///
    /// Each transfer is written under a temporary name (`.NAME.stt-partial`) in the
    /// output directory, checked by SHA3-256, synced, and renamed into place; an
    /// interrupted one is resumed by re-running the same `stt send`.
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
        /// Directory to store received files in (must exist).
        #[arg(long, default_value = ".")]
        out: PathBuf,
        /// Replace an existing file or directory of the same name (otherwise the
        /// transfer is refused and the sender is told why).
        #[arg(long)]
        overwrite: bool,
        /// Exit after this many transfers (0 = until interrupted); the exit code is
        /// non-zero if any of them failed.
        #[arg(long, default_value_t = 1)]
        count: u64,
        /// Accept senders only if their NodeId is listed in this file (one per line,
        /// `#` comments); others are refused after the handshake proves who they are.
        #[arg(long, value_name = "FILE")]
        allow: Option<PathBuf>,
        /// Also register with this rendezvous and relay (`stt relay`, HOST:PORT, or
        /// ws://HOST:PORT/ or wss://HOST:PORT/ when only TCP gets out) and take
        /// transfers that come through it (`stt send --to-node … --via …`). If the
        /// session with the relay ends (the relay restarted, the network went away),
        /// the listener reconnects and registers again, backing off from 0.5 s to 10 s.
        #[arg(long, value_name = "HOST:PORT|ws://HOST:PORT/|wss://HOST:PORT/")]
        via: Option<String>,
        /// Trust the certificates in this PEM file for a wss:// --via (a private CA or
        /// the relay's self-signed certificate) instead of the system's root store.
        #[arg(long, value_name = "FILE", requires = "via")]
        ws_ca: Option<PathBuf>,
        /// With --via: never try a direct path; transfers through the relay stay there.
        #[arg(long, requires = "via")]
        no_punch: bool,
        #[command(flatten)]
        trace: TraceArg,
        #[command(flatten)]
        output: Output,
    },
    /// Send a file or a directory to a listening node; exits 0 only once the receiver
    /// has stored it and confirmed its SHA3-256.
    #[command(group(clap::ArgGroup::new("target").required(true).args(["to", "ws", "to_node"])))]
    #[command(group(clap::ArgGroup::new("dialer").multiple(true).args(["ws", "via"])))]
    Send {
        #[command(flatten)]
        seeds: Seeds,
        /// The file or directory.
        path: PathBuf,
        /// The listener's UDP address (HOST:PORT).
        #[arg(long)]
        to: Option<String>,
        /// The listener's WebSocket URL (ws://HOST:PORT/ or wss://HOST:PORT/).
        #[arg(long)]
        ws: Option<String>,
        /// Trust the certificates in this PEM file for wss:// (--ws or --via; a private
        /// CA or the listener's or relay's self-signed certificate) instead of the
        /// system's root store.
        #[arg(long, value_name = "FILE", requires = "dialer")]
        ws_ca: Option<PathBuf>,
        /// The listener's NodeId, to meet through the relay given with --via (the
        /// listener runs `stt listen --via` with the same relay).
        #[arg(long, value_name = "NODEID", value_parser = peers::parse_node_id, requires = "via")]
        to_node: Option<stt_tokio::NodeId>,
        /// The rendezvous and relay (`stt relay`, HOST:PORT, or ws://HOST:PORT/ or
        /// wss://HOST:PORT/ when only TCP gets out) to meet --to-node through: the
        /// transfer goes direct if hole punching succeeds, else through the relay; the
        /// summary says which.
        #[arg(
            long,
            value_name = "HOST:PORT|ws://HOST:PORT/|wss://HOST:PORT/",
            requires = "to_node"
        )]
        via: Option<String>,
        /// With --via: never try a direct path; the transfer stays on the relay.
        #[arg(long, requires = "via")]
        no_punch: bool,
        #[command(flatten)]
        peers: PeerArgs,
        #[command(flatten)]
        trace: TraceArg,
        #[command(flatten)]
        output: Output,
    },
    /// Pipe stdin to a peer and the peer's data to stdout, like netcat; exits 0 only
    /// when both directions were delivered and read.
    #[command(group(clap::ArgGroup::new("side").required(true).args(["to", "listen"])))]
    Cat {
        #[command(flatten)]
        seeds: Seeds,
        /// Connect to this UDP address (HOST:PORT)…
        #[arg(long)]
        to: Option<String>,
        /// …or wait for one peer on this UDP address.
        #[arg(long)]
        listen: Option<SocketAddr>,
        /// With --listen: accept only a peer whose NodeId is listed in this file.
        #[arg(long, value_name = "FILE", requires = "listen")]
        allow: Option<PathBuf>,
        #[command(flatten)]
        peers: PeerArgs,
        #[command(flatten)]
        trace: TraceArg,
    },
    /// Serve as a rendezvous and relay for members of the network: they register
    /// (`stt listen --via`), meet (`stt send --to-node … --via`), punch through their
    /// NATs, and fall back to forwarding through here. The relay forwards sealed
    /// packets it cannot read or alter. Counters go to stderr every --stats seconds.
    Relay {
        #[command(flatten)]
        seeds: Seeds,
        /// UDP address to serve on.
        #[arg(long, default_value = "0.0.0.0:4434")]
        bind: SocketAddr,
        /// Also serve members over WebSocket on this TCP address (for members whose
        /// UDP is blocked: they use `--via ws://HOST:PORT/`, or `--via wss://HOST:PORT/`
        /// with --ws-cert and --ws-key).
        #[arg(long)]
        ws: Option<SocketAddr>,
        /// Serve wss:// on --ws with this PEM certificate chain (leaf first); members
        /// that do not trust it through the system's roots pass it (or its CA) with
        /// --ws-ca.
        #[arg(long, value_name = "FILE", requires_all = ["ws", "ws_key"])]
        ws_cert: Option<PathBuf>,
        /// The PEM private key of --ws-cert (PKCS#8, PKCS#1 or SEC1).
        #[arg(long, value_name = "FILE", requires = "ws_cert")]
        ws_key: Option<PathBuf>,
        #[command(flatten)]
        limits: relay::Limits,
    },
    /// Read a trace written with --trace: a summary table, an SVG plot, or qlog.
    Trace {
        #[command(subcommand)]
        command: trace_cmd::TraceCommand,
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

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo {
            mib,
            streams,
            datagrams,
        } => demo::run(mib, streams, datagrams).map_err(CliError::Other),
        Command::Trace { command } => trace_cmd::run(command),
        other => match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => {
                let r = rt.block_on(run(other));
                // Blocking reads of stdin cannot be cancelled; don't wait for them.
                rt.shutdown_timeout(Duration::from_millis(100));
                r
            }
            Err(e) => Err(CliError::Other(format!("cannot start the runtime: {e}"))),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stt: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(cmd: Command) -> Result<(), CliError> {
    match cmd {
        Command::Keygen { out } => {
            let seed = random_seed().map_err(CliError::Random)?;
            let id = Identity::from_node_seed(&seed[..])
                .map_err(|e| CliError::Other(e.to_string()))?
                .node_id();
            write_seed(&out, SeedKind::Node, &seed)?;
            println!("{id}");
            eprintln!("to compare aloud: {}", peers::grouped(&id));
            eprintln!("node seed written to {} (mode 0600)", out.display());
            Ok(())
        }
        Command::Id { node_seed } => {
            let id = crate::seed::read_identity(&node_seed)?.node_id();
            println!("{id}");
            eprintln!("to compare aloud: {}", peers::grouped(&id));
            Ok(())
        }
        Command::Network {
            command: NetworkCommand::New { out },
        } => {
            let seed = random_seed().map_err(CliError::Random)?;
            write_seed(&out, SeedKind::Network, &seed)?;
            eprintln!(
                "shared network seed written to {} (mode 0600); give it to members with `stt pair`",
                out.display()
            );
            Ok(())
        }
        Command::Pair { network } => {
            let seed = crate::seed::read_seed(&network, SeedKind::Network)?;
            // An older file may hold more than 32 bytes: shown as hex, as it was.
            let text = zeroize::Zeroizing::new(match <[u8; 32]>::try_from(seed.as_slice()) {
                Ok(s) => crate::seed::text::encode(SeedKind::Network, &s),
                Err(_) => hex::encode(seed.as_slice()),
            });
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
            println!("{}", text.as_str());
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
            overwrite,
            count,
            allow,
            via,
            ws_ca,
            no_punch,
            trace,
            output,
        } => {
            transfer::receive::run(transfer::receive::Listen {
                seeds,
                bind,
                ws: ws.map(|a| (a, ws_cert.zip(ws_key))),
                out,
                overwrite,
                count,
                allow,
                trace,
                output,
                via,
                via_ca: ws_ca,
                no_punch,
            })
            .await
        }
        Command::Relay {
            seeds,
            bind,
            ws,
            ws_cert,
            ws_key,
            limits,
        } => relay::run(seeds, bind, ws.map(|a| (a, ws_cert.zip(ws_key))), limits).await,
        Command::Send {
            seeds,
            path,
            to,
            ws,
            ws_ca,
            to_node,
            via,
            no_punch,
            peers,
            trace,
            output,
        } => {
            let target = match (to, ws, to_node.zip(via)) {
                (Some(to), _, _) => Target::Udp(to),
                (None, Some(url), _) => Target::Ws(url, ws_ca),
                (None, None, Some((node, relay))) => Target::Via {
                    relay,
                    ca: ws_ca,
                    node,
                    punch: !no_punch,
                },
                (None, None, None) => {
                    return Err(CliError::Other(
                        "give --to, --ws, or --to-node with --via".into(),
                    ));
                }
            };
            transfer::send::run(seeds, path, target, peers, trace, output).await
        }
        Command::Cat {
            seeds,
            to,
            listen,
            allow,
            peers,
            trace,
        } => cat::run(seeds, to, listen, allow, peers, trace).await,
        Command::Demo { .. } | Command::Trace { .. } => Ok(()),
    }
}
