//! Shared scaffolding of the stt-tokio loopback transfer tests
//! (`tests/tests/tokio_transports.rs`): a server node on UDP and WebSocket, a UDP
//! client, an 8 MiB pattern, a receiver that hashes one uni stream, and a transfer in
//! two halves with something happening between them. Every wait is bounded.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use sha3::{Digest, Sha3_256};
use stt_tokio::{Node, Session};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::adapters::keys;

/// Bound on each test.
pub const LIMIT: Duration = Duration::from_secs(60);
/// Bytes of the transferred pattern.
pub const LEN: usize = 8 << 20;

/// Any free port on 127.0.0.1.
pub fn lo() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Runs `test`, failing it after [`LIMIT`].
pub async fn within<F: Future>(test: F) -> F::Output {
    tokio::time::timeout(LIMIT, test)
        .await
        .expect("test timed out")
}

/// Node 1 on UDP and WebSocket loopback ports.
pub async fn server() -> Node {
    let (i, n) = keys(1);
    Node::builder(i, n)
        .bind_udp(lo())
        .bind_ws(lo())
        .build()
        .await
        .expect("server binds")
}

/// Node 2 on a UDP loopback port.
pub async fn client() -> Node {
    let (i, n) = keys(2);
    Node::builder(i, n)
        .bind_udp(lo())
        .build()
        .await
        .expect("client binds")
}

/// Node 2 with no socket (it dials WebSocket only).
pub async fn ws_client() -> Node {
    let (i, n) = keys(2);
    Node::builder(i, n).build().await.expect("client builds")
}

/// The [`LEN`]-byte pattern.
pub fn data() -> Vec<u8> {
    (0..LEN)
        .map(|i| (i % 251) as u8 ^ (i >> 16) as u8)
        .collect()
}

/// Receives one uni stream on the next session and returns its length and SHA3-256.
pub fn receiver(server: &Node) -> tokio::task::JoinHandle<(usize, Vec<u8>)> {
    let server = server.clone();
    tokio::spawn(async move {
        let s = server.accept().await.expect("a session");
        let mut r = s.accept_uni().await.expect("a uni stream");
        let mut got = Vec::new();
        r.read_to_end(&mut got)
            .await
            .expect("the stream reads to its end");
        (got.len(), Sha3_256::digest(&got).to_vec())
    })
}

/// Writes [`data`] on a new uni stream of `session` in two halves, awaiting `between`
/// after the first, then asserts that `rx` (a [`receiver`]) got every byte.
pub async fn transfer_in_halves<F, Fut>(
    session: &Session,
    rx: tokio::task::JoinHandle<(usize, Vec<u8>)>,
    between: F,
) where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ()>,
{
    let d = data();
    let mut w = session.open_uni().await.expect("a uni stream");
    let half = d.len() / 2;
    w.write_all(&d[..half]).await.expect("first half written");
    between().await;
    w.write_all(&d[half..]).await.expect("second half written");
    w.shutdown().await.expect("stream finished");
    let (len, digest) = rx.await.expect("receiver task");
    assert_eq!(len, LEN);
    assert_eq!(digest, Sha3_256::digest(&d).to_vec());
}
