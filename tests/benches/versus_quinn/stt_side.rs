//! STT as a [`Contender`]: stt-tokio nodes over UDP on 127.0.0.1 with the aws-lc
//! provider (stt-tokio's default: X25519 and AES-256-GCM where the CPU has AES
//! instructions, as here) and the default congestion control. The only departure from `NodeConfig::default()` is a session
//! limit above the 10,000 the memory row needs (and its idle timeout).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use stt_proto::PqMode;
use stt_proto::crypto::AWS_LC;
use stt_tokio::{Identity, NetworkKey, Node, NodeConfig, RecvStream, SendStream, Session};

use crate::contender::{Contender, Knobs, Ticket};

/// The STT contender.
pub struct Stt;

/// Sessions one node may hold: above the memory row's 10,001 and the handshake-rate
/// row's closing sessions, so no row meets the limit.
const MAX_SESSIONS: usize = 65_536;

/// The shared network seed of every node in the bench.
const NETWORK: [u8; 32] = [0x5e; 32];

/// A distinct node seed per node built in this process.
fn next_identity() -> Identity {
    static NEXT: AtomicU32 = AtomicU32::new(1);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&n.to_le_bytes());
    seed[4] = 0xa5;
    Identity::from_node_seed(&seed).expect("valid node seed")
}

fn config(knobs: Knobs) -> NodeConfig {
    let mut c = NodeConfig {
        max_sessions: MAX_SESSIONS,
        crypto: &AWS_LC,
        ..NodeConfig::default()
    };
    if let Some(t) = knobs.idle_timeout {
        c.transport.idle_timeout = t;
    }
    if knobs.pq {
        c.pq = PqMode::Require;
    }
    c
}

/// Handshakes completed by clients of this process: (hybrid, classic).
static KX: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

async fn node(knobs: Knobs) -> Node {
    Node::builder(
        next_identity(),
        NetworkKey::from_shared_seed(&NETWORK).expect("valid network seed"),
    )
    .config(config(knobs))
    .bind_udp("127.0.0.1:0".parse().expect("address"))
    .build()
    .await
    .expect("bind an STT node")
}

/// A client node and the server address it connects to.
pub struct SttClient {
    node: Node,
    to: std::net::SocketAddr,
}

impl Contender for Stt {
    const NAME: &'static str = "STT";
    type Server = Node;
    type Client = SttClient;
    type Conn = Session;
    type Send = SendStream;
    type Recv = RecvStream;

    async fn server(knobs: Knobs) -> Node {
        node(knobs).await
    }

    fn ticket(server: &Node) -> Ticket {
        Ticket {
            addr: server.udp_addrs()[0],
            cert: Vec::new(),
        }
    }

    async fn accept(server: &Node) -> Option<Session> {
        server.accept().await
    }

    async fn client(knobs: Knobs, to: Ticket) -> SttClient {
        SttClient {
            node: node(knobs).await,
            to: to.addr,
        }
    }

    async fn connect(client: &SttClient) -> Result<Session, String> {
        let s = client
            .node
            .connect(client.to)
            .await
            .map_err(|e| e.to_string())?;
        KX[usize::from(!s.is_hybrid())].fetch_add(1, Ordering::Relaxed);
        Ok(s)
    }

    fn key_exchanges() -> (u64, u64) {
        (KX[0].load(Ordering::Relaxed), KX[1].load(Ordering::Relaxed))
    }

    fn close(conn: Session) {
        conn.close(0, b"");
    }

    fn lost_packets(conn: &Session) -> u64 {
        conn.stats().map_or(0, |s| s.packets_lost)
    }

    fn details(conn: &Session) -> String {
        conn.stats().map_or_else(String::new, |s| {
            format!(
                " sent={} received={} retx_bytes={} pto={} rtt_us={} cwnd={}",
                s.packets_sent,
                s.packets_received,
                s.bytes_retransmitted,
                s.pto_count,
                s.rtt.as_micros(),
                s.cwnd
            )
        })
    }

    async fn open_uni(conn: &Session) -> SendStream {
        conn.open_uni().await.expect("open an STT stream")
    }

    async fn accept_uni(conn: &Session) -> Option<RecvStream> {
        conn.accept_uni().await.ok()
    }

    async fn write_all(s: &mut SendStream, data: &[u8]) {
        s.write_all(data).await.expect("write to an STT stream");
    }

    fn finish(s: SendStream) {
        // Dropping an unfinished send stream finishes it; nothing waits for the ACK.
        drop(s);
    }

    async fn read_chunk(r: &mut RecvStream) -> Option<usize> {
        match r.read_chunk(usize::MAX).await {
            Ok(Some(b)) => Some(b.len()),
            Ok(None) | Err(_) => None,
        }
    }
}
