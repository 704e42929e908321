//! The hybrid post-quantum handshake (PROTOCOL.md §5.7.10) between stt-tokio nodes over
//! real loopback UDP sockets: hybrid between two `require` nodes with data both ways,
//! `prefer` agreeing on classic with an `off` node, and `require` against `off` refused
//! with the typed error on the requiring side, promptly (not by the handshake timeout).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use stt_proto::PqMode;
use stt_proto::error::SessionError;
use stt_tokio::{ConnectionError, Identity, NetworkKey, Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);

async fn node(tag: u8, pq: PqMode) -> Node {
    let config = NodeConfig {
        pq,
        ..NodeConfig::default()
    };
    Node::builder(
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
    )
    .config(config)
    .bind_udp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
    .build()
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_over_udp_and_the_typed_refusals() {
    tokio::time::timeout(LIMIT, async {
        // require ↔ require: hybrid, and data flows both ways.
        let server = node(1, PqMode::Require).await;
        let client = node(2, PqMode::Require).await;
        let addr = server.udp_addrs()[0];
        let srv = tokio::spawn({
            let server = server.clone();
            async move {
                let s = server.accept().await.unwrap();
                assert!(s.is_hybrid());
                let (mut send, mut recv) = s.accept_bi().await.unwrap();
                let mut buf = vec![0u8; 5];
                recv.read_exact(&mut buf).await.unwrap();
                send.write_all(&buf).await.unwrap();
                send.shutdown().await.unwrap();
                s
            }
        });
        let s = client.connect(addr).await.unwrap();
        assert!(s.is_hybrid());
        let (mut send, mut recv) = s.open_bi().await.unwrap();
        send.write_all(b"hello").await.unwrap();
        let mut back = Vec::new();
        recv.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"hello");
        let _srv_session = srv.await.unwrap();
        assert_eq!(client.stats().handshakes_hybrid, 1);
        assert_eq!(server.stats().handshakes_hybrid, 1);

        // prefer → off: one REFUSE, then classic.
        let classic = node(3, PqMode::Off).await;
        let prefer = node(4, PqMode::Prefer).await;
        let s = prefer.connect(classic.udp_addrs()[0]).await.unwrap();
        assert!(!s.is_hybrid());
        assert_eq!(classic.stats().refusals_sent, 1);

        // require → off: the typed error, within a round trip or two.
        let strict = node(5, PqMode::Require).await;
        let t0 = Instant::now();
        let r = strict.connect(classic.udp_addrs()[0]).await;
        assert!(
            matches!(
                r,
                Err(ConnectionError::Closed(SessionError::HybridRequired))
            ),
            "{:?}",
            r.err()
        );
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
        // off → require: the typed error on the classic side.
        let r = classic.connect(strict.udp_addrs()[0]).await;
        assert!(
            matches!(
                r,
                Err(ConnectionError::Closed(SessionError::PeerRequiresHybrid))
            ),
            "{:?}",
            r.err()
        );
        assert_eq!(strict.stats().refused_classic, 1);
    })
    .await
    .expect("test timed out");
}
