//! The adapter's path table under a flood over loopback: thousands of UDP source
//! addresses (distinct 127.1.x.y hosts) send garbage while a session moves data; the
//! table stays bounded, the session keeps its path and its data arrives intact.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use sha3::{Digest, Sha3_256};
use stt_adapter::DEFAULT_IDLE_PATHS;
use stt_tokio::{Identity, NetworkKey, Node};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);
const SOURCES: usize = DEFAULT_IDLE_PATHS * 2;
const LEN: usize = 4 << 20;

async fn node(tag: u8) -> Node {
    Node::builder(
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
    )
    .bind_udp("127.0.0.1:0".parse().unwrap())
    .build()
    .await
    .unwrap()
}

/// One garbage datagram from each of `n` distinct source hosts, paced so the
/// receiver's socket buffer does not overflow.
fn flood(to: SocketAddr, n: usize) {
    for i in 0..n {
        let host = Ipv4Addr::new(127, 1, (i >> 8) as u8, i as u8);
        let s = UdpSocket::bind((host, 0)).unwrap();
        s.send_to(&[0xEE; 64], to).unwrap();
        if i % 256 == 255 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_sources_leaves_the_table_bounded_and_the_session_alive() {
    tokio::time::timeout(LIMIT, async {
        let server = node(1).await;
        let client = node(2).await;
        let to = server.udp_addrs()[0];
        let rx = tokio::spawn({
            let server = server.clone();
            async move {
                let s = server.accept().await.unwrap();
                let mut r = s.accept_uni().await.unwrap();
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                (s, got)
            }
        });
        let s = client.connect(to).await.unwrap();
        let data: Vec<u8> = (0..LEN).map(|i| (i % 249) as u8).collect();
        let mut w = s.open_uni().await.unwrap();
        w.write_all(&data[..LEN / 2]).await.unwrap();
        tokio::task::spawn_blocking(move || flood(to, SOURCES))
            .await
            .unwrap();
        w.write_all(&data[LEN / 2..]).await.unwrap();
        w.shutdown().await.unwrap();
        let (server_session, got) = rx.await.unwrap();
        assert_eq!(got.len(), LEN);
        assert_eq!(Sha3_256::digest(&got), Sha3_256::digest(&data));
        // The flood reached the engine (each datagram a new path first)...
        let mut dropped = 0;
        for _ in 0..200 {
            dropped = server.stats().dropped_malformed;
            if dropped as usize >= SOURCES * 9 / 10 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            dropped as usize > DEFAULT_IDLE_PATHS + 1,
            "only {dropped} flood datagrams arrived"
        );
        // ...yet the table holds at most the idle bound plus the pinned session path,
        // and that path still leads to the client.
        let paths = server.path_count();
        assert!(paths <= DEFAULT_IDLE_PATHS + 1, "{paths} paths");
        assert_eq!(
            server_session.remote_udp_addr(),
            Some(client.udp_addrs()[0])
        );
        // The session still works both ways after the flood.
        let (mut w2, mut r2) = server_session.open_bi().await.unwrap();
        w2.write_all(b"after the flood").await.unwrap();
        w2.shutdown().await.unwrap();
        let (mut cw, mut cr) = s.accept_bi().await.unwrap();
        let mut echo = Vec::new();
        cr.read_to_end(&mut echo).await.unwrap();
        assert_eq!(echo, b"after the flood");
        cw.shutdown().await.unwrap();
        let mut end = Vec::new();
        r2.read_to_end(&mut end).await.unwrap();
        assert!(end.is_empty());
    })
    .await
    .expect("test timed out");
}
