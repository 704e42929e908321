//! Addresses, nodes and sessions for the commands: `HOST:PORT` parsing with a clear
//! error for a missing port, the node configuration the tool uses (a 10 s idle
//! timeout, so a vanished peer is reported within 10 s), connecting with errors that
//! name the likely causes, and cancelling on a signal.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use stt_proto::error::SessionError;
use stt_tokio::seed::{random_seed, read_identity, read_network};
use stt_tokio::{ConnectionError, Identity, NetworkKey, Node, NodeConfig, Session, WssTrust};

use crate::error::CliError;
use crate::transfer::wire::code;

/// A session is declared dead after this long without a packet from the peer.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alives make an idle but healthy session send well within [`IDLE_TIMEOUT`].
const KEEPALIVE: Duration = Duration::from_secs(2);

/// Where the seeds come from.
#[derive(clap::Args, Debug, Clone)]
pub struct Seeds {
    /// Node seed file (your identity); a fresh one-off identity if absent.
    #[arg(long, env = "STT_NODE_SEED")]
    pub node_seed: Option<PathBuf>,
    /// Shared network seed file (every member of the network has the same one).
    #[arg(long, env = "STT_NETWORK")]
    pub network: PathBuf,
}

impl Seeds {
    /// The identity and network key.
    pub fn load(&self) -> Result<(Identity, NetworkKey), CliError> {
        let network = read_network(&self.network)?;
        let identity = match &self.node_seed {
            Some(p) => read_identity(p)?,
            None => {
                let seed = random_seed().map_err(CliError::Random)?;
                tracing::info!("no --node-seed: using a one-off identity");
                Identity::from_node_seed(&seed).map_err(|e| CliError::Other(e.to_string()))?
            }
        };
        Ok((identity, network))
    }
}

/// The node configuration of every `stt` command.
pub fn config() -> NodeConfig {
    let mut c = NodeConfig::default();
    c.transport.idle_timeout = IDLE_TIMEOUT;
    c.transport.keepalive_interval = Some(KEEPALIVE);
    c
}

/// Resolves `HOST:PORT`; a host without a port is its own error.
pub async fn resolve(target: &str) -> Result<SocketAddr, CliError> {
    if let Ok(a) = target.parse::<SocketAddr>() {
        return Ok(a);
    }
    let bare = target.trim_start_matches('[').trim_end_matches(']');
    if bare.parse::<IpAddr>().is_ok() || !target.contains(':') {
        return Err(CliError::MissingPort(target.to_string()));
    }
    let mut addrs = tokio::net::lookup_host(target)
        .await
        .map_err(|e| CliError::Resolve {
            host: target.to_string(),
            reason: e.to_string(),
        })?;
    addrs.next().ok_or_else(|| CliError::Resolve {
        host: target.to_string(),
        reason: "no addresses".into(),
    })
}

fn wildcard(for_addr: SocketAddr) -> SocketAddr {
    match for_addr {
        SocketAddr::V4(_) => SocketAddr::from(([0u8; 4], 0)),
        SocketAddr::V6(_) => SocketAddr::from(([0u16; 8], 0)),
    }
}

/// Where to connect: a UDP address or a WebSocket URL.
pub enum Target {
    /// `--to HOST:PORT`.
    Udp(String),
    /// `--ws ws://…` or `wss://…`, with an optional CA file for wss.
    Ws(String, Option<PathBuf>),
}

/// Builds a client node and completes the handshake with the target.
pub async fn connect(
    identity: Identity,
    network: NetworkKey,
    target: Target,
) -> Result<(Node, Session), CliError> {
    let handshake = config().handshake_timeout;
    let (node, result, shown) = match target {
        Target::Udp(to) => {
            let addr = resolve(&to).await?;
            let node = Node::builder(identity, network)
                .config(config())
                .bind_udp(wildcard(addr))
                .build()
                .await?;
            let r = node.connect(addr).await;
            (node, r, addr.to_string())
        }
        Target::Ws(url, ca) => {
            let mut b = Node::builder(identity, network).config(config());
            if url.starts_with("wss://") {
                b = b.wss_trust(match ca {
                    Some(file) => WssTrust::from_pem_file(file)?,
                    None => WssTrust::platform()?,
                });
            }
            let node = b.build().await?;
            let r = node.connect_ws(&url).await;
            (node, r, url)
        }
    };
    match result {
        Ok(s) => Ok((node, s)),
        Err(ConnectionError::Closed(SessionError::HandshakeTimeout)) => Err(CliError::NoAnswer {
            to: shown,
            after: handshake,
        }),
        Err(ConnectionError::Transport(e)) => {
            Err(CliError::Other(format!("cannot reach {shown}: {e}")))
        }
        Err(e) => Err(CliError::Connection(e)),
    }
}

/// Closes every session of `node` with [`code::CANCELLED`] and the signal's name as
/// the reason, so the peer can say why, and stops the node.
pub async fn cancel(node: &Node, signal: &str) {
    node.shutdown(code::CANCELLED, signal.as_bytes(), Duration::ZERO)
        .await;
}

/// Closes every session of `node` with `code` and `reason` (truncated to what the
/// wire carries) and stops the node.
pub async fn fail(node: &Node, code: u64, reason: &str) {
    node.shutdown(code, clip(reason).as_bytes(), Duration::ZERO)
        .await;
}

/// A reason cut to the 256 bytes a DISCONNECT carries, on a character boundary.
pub fn clip(reason: &str) -> &str {
    let mut end = reason.len().min(256);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    &reason[..end]
}
