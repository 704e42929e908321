//! `stt relay`: serves as a rendezvous and relay for members of the network
//! (PROTOCOL.md §12) over UDP and, if asked, WebSocket (`ws://`, or `wss://` with a
//! certificate) with the limits given on the command line, printing its counters
//! to stderr periodically and once more when it stops. The node does all the work
//! (`NodeConfig::rendezvous`); this module only configures it and reports.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use stt_proto::config::RendezvousConfig;
use stt_tokio::{NodeStats, WssIdentity};

use crate::error::CliError;
use crate::net::{self, Seeds, TraceArg};
use crate::signals;

/// The relay's limits (PROTOCOL.md §12.7).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Limits {
    /// Most members registered at once.
    #[arg(long, default_value_t = RendezvousConfig::default().max_registrations)]
    pub max_registrations: usize,
    /// Most relayed pairs at once (each holds two routes).
    #[arg(long, default_value_t = RendezvousConfig::default().max_routes / 2)]
    pub max_pairs: usize,
    /// Most relayed pairs one member may take part in.
    #[arg(long, default_value_t = RendezvousConfig::default().max_routes_per_peer)]
    pub max_pairs_per_peer: usize,
    /// Bytes per second forwarded for one member (burst: one second's worth).
    #[arg(long, default_value_t = RendezvousConfig::default().per_peer_rate)]
    pub peer_rate: u64,
    /// Bytes per second forwarded in total (burst: one second's worth).
    #[arg(long, default_value_t = RendezvousConfig::default().total_rate)]
    pub total_rate: u64,
    /// Seconds between counter lines on stderr (0: only at the end).
    #[arg(long, default_value_t = 10)]
    pub stats: u64,
    /// When stopped, also print the counters on stdout as one JSON object.
    #[arg(long)]
    pub json: bool,
}

impl Limits {
    fn config(&self) -> RendezvousConfig {
        RendezvousConfig {
            serve: true,
            max_registrations: self.max_registrations,
            max_routes: self.max_pairs.saturating_mul(2),
            max_routes_per_peer: self.max_pairs_per_peer,
            per_peer_rate: self.peer_rate,
            total_rate: self.total_rate,
            ..RendezvousConfig::default()
        }
    }
}

/// One line of counters.
pub fn counters(s: &NodeStats, (registered, routes): (usize, usize)) -> String {
    format!(
        "relay: {registered} registered, {} relayed pairs; forwarded {} packets, {} bytes; dropped {} over rate, {} unknown route, {} wrong source, {} queue full, {} to an unproven path; {} pairs refused",
        routes / 2,
        s.relay_forwarded_packets,
        s.relay_forwarded_bytes,
        s.relay_dropped_rate,
        s.relay_dropped_unknown_route,
        s.relay_dropped_wrong_source,
        s.relay_dropped_queue_full,
        s.relay_dropped_unproven,
        s.relay_routes_refused,
    )
}

/// The counters as one JSON object (`--json`).
pub fn counters_json(s: &NodeStats, (registered, routes): (usize, usize)) -> String {
    serde_json::json!({
        "event": "relay",
        "registered": registered,
        "relayed_pairs": routes / 2,
        "forwarded_packets": s.relay_forwarded_packets,
        "forwarded_bytes": s.relay_forwarded_bytes,
        "dropped_rate": s.relay_dropped_rate,
        "dropped_unknown_route": s.relay_dropped_unknown_route,
        "dropped_wrong_source": s.relay_dropped_wrong_source,
        "dropped_queue_full": s.relay_dropped_queue_full,
        "dropped_unproven": s.relay_dropped_unproven,
        "pairs_refused": s.relay_routes_refused,
    })
    .to_string()
}

/// Runs `stt relay` until SIGINT or SIGTERM (then exits 0).
pub async fn run(
    seeds: Seeds,
    bind: SocketAddr,
    ws: Option<(SocketAddr, Option<(PathBuf, PathBuf)>)>,
    limits: Limits,
) -> Result<(), CliError> {
    let (identity, network) = seeds.load()?;
    let mut config = net::config();
    config.rendezvous = limits.config();
    config
        .rendezvous
        .validate()
        .map_err(|e| CliError::Other(format!("relay limits: {e}")))?;
    let mut b = net::builder(identity, network, config, &TraceArg::default()).bind_udp(bind);
    match ws {
        Some((addr, Some((cert, key)))) => {
            b = b.bind_wss(addr, WssIdentity::from_pem_files(cert, key)?);
        }
        Some((addr, None)) => b = b.bind_ws(addr),
        None => {}
    }
    let node = b.build().await?;
    let addrs: Vec<String> = node.udp_addrs().iter().map(|a| a.to_string()).collect();
    let ws: Vec<String> = (node.ws_addrs().iter().map(|a| format!(", ws://{a}/")))
        .chain(node.wss_addrs().iter().map(|a| format!(", wss://{a}/")))
        .collect();
    // The first line is for scripts: the relay's id and addresses.
    println!(
        "relay {} on udp {}{}",
        node.node_id(),
        addrs.join(", "),
        ws.concat()
    );
    eprintln!(
        "relaying for members of the network on udp {}{}",
        addrs.join(", "),
        ws.concat()
    );
    let every = Duration::from_secs(limits.stats);
    let mut tick = tokio::time::interval(if limits.stats == 0 {
        Duration::from_secs(86_400)
    } else {
        every
    });
    tick.tick().await;
    // One future for the whole run: a signal between two loop turns is not lost.
    let mut interrupted = std::pin::pin!(signals::interrupted());
    let sig = loop {
        tokio::select! {
            _ = tick.tick() => eprintln!("{}", counters(&node.stats(), node.rendezvous_counts())),
            sig = &mut interrupted => break sig,
        }
    };
    eprintln!("{}", counters(&node.stats(), node.rendezvous_counts()));
    if limits.json {
        println!("{}", counters_json(&node.stats(), node.rendezvous_counts()));
    }
    eprintln!("stopping on {sig}");
    node.shutdown(0, sig.as_bytes(), Duration::ZERO).await;
    Ok(())
}
