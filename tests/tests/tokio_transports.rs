//! stt-tokio transports over loopback: WebSocket sessions, garbage on the WebSocket
//! listener not harming a live session, a client whose UDP port changes mid-transfer
//! (socket rebound) keeping its session, and a session moving from UDP to WebSocket
//! mid-transfer with its data intact. Every test is bounded by a timeout.

use std::net::SocketAddr;
use std::time::Duration;

use sha3::{Digest, Sha3_256};
use stt_tokio::{Identity, NetworkKey, Node, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);
const LEN: usize = 8 << 20;

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn keys(tag: u8) -> (Identity, NetworkKey) {
    (
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
    )
}

async fn server() -> Node {
    let (i, n) = keys(1);
    Node::builder(i, n)
        .bind_udp(lo())
        .bind_ws(lo())
        .build()
        .await
        .unwrap()
}

async fn client() -> Node {
    let (i, n) = keys(2);
    Node::builder(i, n).bind_udp(lo()).build().await.unwrap()
}

fn data() -> Vec<u8> {
    (0..LEN)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

/// Receives one uni stream on the next session and returns its SHA3-256 and length.
fn receiver(server: &Node) -> tokio::task::JoinHandle<(usize, Vec<u8>)> {
    let server = server.clone();
    tokio::spawn(async move {
        let s = server.accept().await.unwrap();
        let mut r = s.accept_uni().await.unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.unwrap();
        (got.len(), Sha3_256::digest(&got).to_vec())
    })
}

async fn send_in_halves<F, Fut>(session: &Session, data: &[u8], between: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut w = session.open_uni().await.unwrap();
    let half = data.len() / 2;
    w.write_all(&data[..half]).await.unwrap();
    between().await;
    w.write_all(&data[half..]).await.unwrap();
    w.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_session_and_garbage() {
    tokio::time::timeout(LIMIT, async {
        let server = server().await;
        let ws = server.ws_addrs()[0];
        let rx = receiver(&server);
        let (i, n) = keys(2);
        let client = Node::builder(i, n).build().await.unwrap();
        let s = client.connect_ws(&format!("ws://{ws}/")).await.unwrap();
        assert_eq!(s.peer(), server.node_id());
        // Handshake garbage on the same listener: closed, nothing else harmed.
        let mut raw = tokio::net::TcpStream::connect(ws).await.unwrap();
        raw.write_all(b"GARBAGE / NOT-HTTP\r\n\r\n\x00\x01")
            .await
            .unwrap();
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut sink)).await;
        let d = data();
        send_in_halves(&s, &d, || async {}).await;
        let (len, digest) = rx.await.unwrap();
        assert_eq!(len, LEN);
        assert_eq!(digest, Sha3_256::digest(&d).to_vec());
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_text_and_oversized_messages_are_rejected() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    tokio::time::timeout(LIMIT, async {
        let server = server().await;
        let ws = server.ws_addrs()[0];
        let (mut bad, _) = tokio_tungstenite::connect_async(format!("ws://{ws}/"))
            .await
            .unwrap();
        bad.send(Message::Text("hello".into())).await.unwrap();
        let (mut big, _) = tokio_tungstenite::connect_async(format!("ws://{ws}/"))
            .await
            .unwrap();
        let _ = big.send(Message::Binary(vec![0u8; 1 << 20].into())).await;
        // A real session over the same listener still works.
        let rx = receiver(&server);
        let (i, n) = keys(2);
        let client = Node::builder(i, n).build().await.unwrap();
        let s = client.connect_ws(&format!("ws://{ws}/")).await.unwrap();
        let mut w = s.open_uni().await.unwrap();
        w.write_all(b"still fine").await.unwrap();
        w.shutdown().await.unwrap();
        assert_eq!(rx.await.unwrap().0, 10);
        assert_eq!(server.stats().sessions_accepted, 1);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_rebind_keeps_the_session() {
    tokio::time::timeout(LIMIT, async {
        let server = server().await;
        let rx = receiver(&server);
        let client = client().await;
        let s = client.connect(server.udp_addrs()[0]).await.unwrap();
        let d = data();
        let old = client.udp_addrs()[0];
        let c2 = client.clone();
        send_in_halves(&s, &d, || async move {
            let new = c2.rebind_udp(old, lo()).await.unwrap();
            assert_ne!(new.port(), old.port());
        })
        .await;
        let (len, digest) = rx.await.unwrap();
        assert_eq!(len, LEN);
        assert_eq!(digest, Sha3_256::digest(&d).to_vec());
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_to_websocket_migration_keeps_data_intact() {
    tokio::time::timeout(LIMIT, async {
        let server = server().await;
        let ws = server.ws_addrs()[0];
        let rx = receiver(&server);
        let client = client().await;
        let s = client.connect(server.udp_addrs()[0]).await.unwrap();
        let d = data();
        let (c2, s2) = (client.clone(), s.clone());
        send_in_halves(&s, &d, || async move {
            c2.migrate_ws(&s2, &format!("ws://{ws}/")).await.unwrap();
        })
        .await;
        let (len, digest) = rx.await.unwrap();
        assert_eq!(len, LEN);
        assert_eq!(digest, Sha3_256::digest(&d).to_vec());
        // The same session carried the data across the move and stays on the
        // WebSocket: server packets still in flight on UDP (newer packet numbers) do
        // not pull it back.
        assert_eq!(server.stats().sessions_accepted, 1, "no second session");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(s.remote_udp_addr(), None, "session back on UDP");
    })
    .await
    .expect("test timed out");
}
