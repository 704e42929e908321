//! Addresses, nodes and sessions for the commands: `HOST:PORT` parsing with a clear
//! error for a missing port, the node configuration the tool uses (a 10 s idle
//! timeout, so a vanished peer is reported within 10 s), connecting (pinned by
//! `--peer` or the known-peers file) with errors that name the likely causes, and
//! cancelling on a signal.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use crate::seed::{SeedKind, random_seed, read_identity, read_network, write_seed};
use stt_proto::PqMode;
use stt_proto::error::SessionError;
use stt_tokio::{
    ConnectionError, Identity, NetworkKey, Node, NodeConfig, NodeId, Session, WssTrust,
};

use crate::error::CliError;
use crate::peers::{Known, KnownPeers, default_known_peers, grouped, parse_node_id};
use crate::transfer::wire::code;

/// A session is declared dead after this long without a packet from the peer.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Keep-alives make an idle but healthy session send well within [`IDLE_TIMEOUT`].
const KEEPALIVE: Duration = Duration::from_secs(2);

/// Where the seeds come from.
#[derive(clap::Args, Debug, Clone)]
pub struct Seeds {
    /// Node seed file (your identity); default `~/.config/stt/node.seed`
    /// (`$XDG_CONFIG_HOME/stt/node.seed`), made on first use.
    #[arg(long, env = "STT_NODE_SEED")]
    pub node_seed: Option<PathBuf>,
    /// Shared network seed file (every member of the network has the same one).
    #[arg(long, env = "STT_NETWORK")]
    pub network: PathBuf,
    /// The network seed being rotated to (optional): incoming handshakes sealed with
    /// either seed are accepted, outgoing ones use --network. See docs/PRIMITIVES.md §8
    /// for the steps of a rotation.
    #[arg(long, env = "STT_NEXT_NETWORK", value_name = "FILE")]
    pub next_network: Option<PathBuf>,
    /// Post-quantum hybrid handshake (X25519 + ML-KEM-768, docs/PROTOCOL.md §5.7.10):
    /// `off` runs the classic handshake only; `prefer` offers hybrid and agrees on classic
    /// with a member that runs classic only; `require` refuses classic peers.
    #[arg(long, env = "STT_PQ", value_enum, default_value_t = Pq::Off)]
    pub pq: Pq,
}

/// `--pq`: the node's handshake mode.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pq {
    /// Classic X25519 handshake only.
    Off,
    /// Hybrid when the peer runs it, else classic.
    Prefer,
    /// Hybrid only.
    Require,
}

impl From<Pq> for PqMode {
    fn from(p: Pq) -> Self {
        match p {
            Pq::Off => PqMode::Off,
            Pq::Prefer => PqMode::Prefer,
            Pq::Require => PqMode::Require,
        }
    }
}

/// How a summary names the handshake a session ran.
pub fn handshake_name(session: &Session) -> &'static str {
    if session.is_hybrid() {
        "hybrid X25519+ML-KEM-768"
    } else {
        "classic X25519"
    }
}

impl Seeds {
    /// The node configuration of every `stt` command, in this `--pq` mode.
    pub fn config(&self) -> NodeConfig {
        let mut c = config();
        c.pq = self.pq.into();
        c
    }

    /// The identity and network key.
    pub fn load(&self) -> Result<(Identity, NetworkKey), CliError> {
        let mut network = read_network(&self.network)?;
        if let Some(next) = &self.next_network {
            network = network.with_next(&read_network(next)?);
        }
        let identity = match &self.node_seed {
            Some(p) => read_identity(p)?,
            None => match default_identity() {
                Ok(id) => id,
                Err(why) => {
                    tracing::warn!("no --node-seed and {why}: using a one-off identity");
                    let seed = random_seed().map_err(CliError::Random)?;
                    Identity::from_node_seed(&seed[..])
                        .map_err(|e| CliError::Other(e.to_string()))?
                }
            },
        };
        Ok((identity, network))
    }
}

/// The identity a command uses without `--node-seed`: `node.seed` in the tool's
/// directory, made on first use (mode 0600), like an SSH host key, so a listener keeps
/// its NodeId across restarts and the senders' known-peers entries stay valid.
fn default_identity() -> Result<Identity, String> {
    let dir = crate::peers::config_dir().ok_or("neither XDG_CONFIG_HOME nor HOME is set")?;
    let path = dir.join("node.seed");
    if !path.exists() {
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // Write under a temporary name and link it into place: two commands starting at
        // once agree on one identity, and none reads a half-written file.
        let temp = dir.join(format!(".node.seed.{}", std::process::id()));
        let _ = std::fs::remove_file(&temp);
        let seed = random_seed().map_err(|e| format!("no OS randomness: {e}"))?;
        write_seed(&temp, SeedKind::Node, &seed).map_err(|e| e.to_string())?;
        let linked = std::fs::hard_link(&temp, &path);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => eprintln!(
                "stt: created this machine's node identity in {}",
                path.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
        }
    }
    read_identity(&path).map_err(|e| e.to_string())
}

/// `--trace FILE`: where a command writes its JSON-lines trace.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct TraceArg {
    /// Write a JSON-lines trace of the session (events, congestion window, RTT, losses,
    /// flow control) to FILE; read it with `stt trace summary|plot|qlog FILE`.
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// A node builder with `config` and, if asked for, the trace file.
pub fn builder(
    identity: Identity,
    network: NetworkKey,
    config: NodeConfig,
    trace: &TraceArg,
) -> stt_tokio::Builder {
    let b = Node::builder(identity, network).config(config);
    match &trace.trace {
        Some(path) => b.trace_file(path),
        None => b,
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

/// Where to connect: a UDP address, a WebSocket URL, or a node through a relay.
pub enum Target {
    /// `--to HOST:PORT`.
    Udp(String),
    /// `--ws ws://…` or `wss://…`, with an optional CA file for wss.
    Ws(String, Option<PathBuf>),
    /// `--to-node NODEID --via HOST:PORT` (or a ws:// or wss:// URL).
    Via {
        /// The rendezvous and relay.
        relay: String,
        /// `--ws-ca`: what to trust for a wss:// relay instead of the system's roots.
        ca: Option<PathBuf>,
        /// The node to meet there.
        node: NodeId,
        /// Try a direct path (off: `--no-punch`).
        punch: bool,
    },
}

/// Connects to `target`; through a relay, also returns the session with the relay,
/// which the caller must hold while the transfer runs.
pub async fn connect_any(
    identity: Identity,
    network: NetworkKey,
    config: NodeConfig,
    target: Target,
    peers: &PeerArgs,
    trace: &TraceArg,
    out: crate::report::Output,
) -> Result<(Node, Session, Option<Session>), CliError> {
    match target {
        Target::Via {
            relay,
            ca,
            node: peer,
            punch,
        } => {
            let mut config = config;
            config.rendezvous.punch = punch;
            // Over WebSocket the relay is reached by TCP; the UDP socket (any
            // address) still serves a direct path if punching finds one.
            let local = if is_ws(&relay) {
                SocketAddr::from(([0u8; 4], 0))
            } else {
                wildcard(resolve(&relay).await?)
            };
            let b = builder(identity, network, config, trace).bind_udp(local);
            let node = trust_for(b, &relay, ca.as_deref())?.build().await?;
            let relay_session = register_via(&node, &relay, &out).await?;
            match node.connect_via(&relay_session, peer).await {
                Ok(s) => {
                    out.info(format!(
                        "met {peer} through {relay} ({})",
                        if s.is_relayed() == Some(false) {
                            "direct"
                        } else {
                            "relayed; trying a direct path"
                        }
                    ));
                    Ok((node, s, Some(relay_session)))
                }
                Err(ConnectionError::Rendezvous(status)) => Err(CliError::Other(format!(
                    "the relay {relay} cannot introduce {peer}: {}",
                    rendezvous_reason(status)
                ))),
                Err(e) => Err(CliError::Connection(e)),
            }
        }
        other => {
            let (n, s) = connect(identity, network, config, other, peers, trace).await?;
            Ok((n, s, None))
        }
    }
}

/// `b` set to verify a `wss://` `url` against `ca` (a PEM file), or the system's roots
/// without one; unchanged for any other URL.
pub fn trust_for(
    b: stt_tokio::Builder,
    url: &str,
    ca: Option<&std::path::Path>,
) -> Result<stt_tokio::Builder, CliError> {
    if !url.starts_with("wss://") {
        return Ok(b);
    }
    Ok(b.wss_trust(match ca {
        Some(file) => WssTrust::from_pem_file(file)?,
        None => WssTrust::platform()?,
    }))
}

/// Whether `--via` names a WebSocket relay (`ws://…` or `wss://…`).
fn is_ws(via: &str) -> bool {
    via.starts_with("ws://") || via.starts_with("wss://")
}

/// What an RDV_ANSWER status means for the user.
fn rendezvous_reason(status: stt_proto::frame::RdvStatus) -> &'static str {
    use stt_proto::frame::RdvStatus;
    match status {
        RdvStatus::Ok => "no answer",
        RdvStatus::NotFound => "that node is not registered there (is `stt listen --via` running?)",
        RdvStatus::Refused => "a relay limit refused it",
        RdvStatus::NotServed => "that node does not run `stt relay`",
    }
}

/// Connects `node` to the rendezvous and relay at `via` (any member of the network)
/// and registers there. The returned session must be held: the registration and
/// every relayed path through it last as long as it does.
pub async fn register_via(
    node: &Node,
    via: &str,
    out: &crate::report::Output,
) -> Result<Session, CliError> {
    let (connected, addr) = if is_ws(via) {
        (node.connect_ws(via).await, via.to_string())
    } else {
        let addr = resolve(via).await?;
        (node.connect(addr).await, addr.to_string())
    };
    let relay = match connected {
        Ok(s) => s,
        Err(ConnectionError::Closed(SessionError::HandshakeTimeout)) => {
            return Err(CliError::NoAnswer {
                to: addr,
                after: config().handshake_timeout,
            });
        }
        Err(ConnectionError::Transport(e)) => {
            return Err(CliError::Other(format!("cannot reach {addr}: {e}")));
        }
        Err(ConnectionError::Tls(e)) => {
            return Err(CliError::Other(format!(
                "cannot reach the relay at {addr}: tls: {e} (give its certificate or CA with --ws-ca)"
            )));
        }
        Err(e) => return Err(CliError::Connection(e)),
    };
    match relay.register_rendezvous().await {
        Ok(observed) => {
            out.info(format!(
                "registered with relay {} at {addr} as {}{}",
                relay.peer(),
                node.node_id(),
                observed
                    .map(|o| format!(", seen from {o}"))
                    .unwrap_or_default()
            ));
            Ok(relay)
        }
        Err(ConnectionError::Rendezvous(status)) => Err(CliError::Other(format!(
            "cannot register with {addr}: {}",
            rendezvous_reason(status)
        ))),
        Err(e) => Err(CliError::Connection(e)),
    }
}

/// Who the peer must be: an explicit `--peer`, else what the known-peers file recorded
/// for the target at first contact.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct PeerArgs {
    /// The peer's NodeId (64 hex digits; groups of 4 separated by spaces are fine). Any
    /// other node is refused before this side identifies itself. Overrides, and on
    /// success replaces, what the known-peers file records for the address.
    #[arg(long, value_name = "NODEID", value_parser = parse_node_id)]
    pub peer: Option<NodeId>,
    /// Known-peers file (trust on first use, like SSH's known_hosts): the first
    /// connection to an address records the NodeId that answered; later ones insist on
    /// it. Default: $XDG_CONFIG_HOME/stt/known_peers or ~/.config/stt/known_peers.
    #[arg(long, env = "STT_KNOWN_PEERS", value_name = "FILE")]
    pub known_peers: Option<PathBuf>,
}

/// The id a connect insists on, and where that came from.
enum Pin {
    /// `--peer`.
    Flag(NodeId),
    /// A known-peers line.
    Known(Known),
}

/// Builds a client node and completes the handshake with the target, pinned as
/// [`PeerArgs`] says; on success records the peer in the known-peers file.
pub async fn connect(
    identity: Identity,
    network: NetworkKey,
    config: NodeConfig,
    target: Target,
    peers: &PeerArgs,
    trace: &TraceArg,
) -> Result<(Node, Session), CliError> {
    let handshake = config.handshake_timeout;
    let key = match &target {
        Target::Udp(to) => to.clone(),
        Target::Ws(url, _) => url.clone(),
        Target::Via { relay, .. } => relay.clone(),
    };
    let known = peers
        .known_peers
        .clone()
        .or_else(default_known_peers)
        .map(KnownPeers::new);
    if known.is_none() {
        tracing::warn!("no known-peers file (set HOME or STT_KNOWN_PEERS): the peer is not pinned");
    }
    let pin = match (peers.peer, &known) {
        (Some(id), _) => Some(Pin::Flag(id)),
        (None, Some(k)) => k.lookup(&key)?.map(Pin::Known),
        (None, None) => None,
    };
    let expected = pin.as_ref().map(|p| match p {
        Pin::Flag(id) => *id,
        Pin::Known(k) => k.id,
    });
    let (node, result, shown) = match target {
        Target::Udp(to) => {
            let addr = resolve(&to).await?;
            let node = builder(identity, network, config, trace)
                .bind_udp(wildcard(addr))
                .build()
                .await?;
            let r = match expected {
                Some(id) => node.connect_to(addr, id).await,
                None => node.connect(addr).await,
            };
            (node, r, addr.to_string())
        }
        Target::Ws(url, ca) => {
            let b = builder(identity, network, config, trace);
            let node = trust_for(b, &url, ca.as_deref())?.build().await?;
            let r = match expected {
                Some(id) => node.connect_ws_to(&url, id).await,
                None => node.connect_ws(&url).await,
            };
            (node, r, url)
        }
        Target::Via { .. } => {
            return Err(CliError::Other(
                "a relayed target goes through connect_any".into(),
            ));
        }
    };
    match result {
        Ok(s) => {
            let fresh = !matches!(pin, Some(Pin::Known(_)));
            if let (true, Some(k)) = (fresh, &known) {
                match k.record(&key, &s.peer()) {
                    Ok(()) if peers.peer.is_none() => eprintln!(
                        "first contact with {key}: its NodeId {} ({}) is now recorded in {}; later connections insist on it",
                        s.peer(),
                        grouped(&s.peer()),
                        k.path().display()
                    ),
                    Ok(()) => {}
                    Err(e) => tracing::warn!("cannot record the peer: {e}"),
                }
            }
            Ok((node, s))
        }
        Err(ConnectionError::Closed(SessionError::PeerMismatch { actual, .. })) => {
            node.shutdown(0, b"", Duration::ZERO).await;
            Err(match pin {
                Some(Pin::Known(k)) => CliError::KnownPeerChanged {
                    target: key,
                    known: k.id,
                    actual,
                    file: known.map(|f| f.path().to_path_buf()).unwrap_or_default(),
                    line: k.line,
                },
                _ => CliError::PeerMismatch {
                    target: shown,
                    expected: expected.unwrap_or(actual),
                    actual,
                },
            })
        }
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
