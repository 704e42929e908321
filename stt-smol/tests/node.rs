//! stt-smol on its own over loopback UDP: broadcast to every session, graceful
//! shutdown reaching the peers with its code, a client whose UDP socket is replaced
//! mid-session keeping the session. Every test is bounded by a timer.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use smol::future::FutureExt;
use smol::io::{AsyncReadExt, AsyncWriteExt};
use stt_proto::error::SessionError;
use stt_proto::frame::ErrorCode;
use stt_smol::{ConnectionError, Identity, NetworkKey, Node};

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn node(tag: u8) -> Node {
    Node::builder(
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
    )
    .bind_udp(lo())
    .build()
    .await
    .unwrap()
}

fn run<T>(f: impl Future<Output = T>) -> T {
    smol::block_on(f.or(async {
        smol::Timer::after(Duration::from_secs(60)).await;
        panic!("test timed out");
    }))
}

#[test]
fn broadcast_then_shutdown() {
    run(async {
        let server = node(1).await;
        let addr = server.udp_addrs()[0];
        let (a, b) = (node(2).await, node(3).await);
        let (sa, sb) = (
            a.connect(addr).await.unwrap(),
            b.connect(addr).await.unwrap(),
        );
        let _inbound = (
            server.accept().await.unwrap(),
            server.accept().await.unwrap(),
        );
        assert_eq!(server.send_to_all(Bytes::from_static(b"to all")), 2);
        assert_eq!(&sa.recv_datagram().await.unwrap()[..], b"to all");
        assert_eq!(&sb.recv_datagram().await.unwrap()[..], b"to all");
        assert_eq!(server.stats().sessions_accepted, 2);
        server
            .shutdown(3, b"maintenance", Duration::from_secs(2))
            .await;
        for s in [&sa, &sb] {
            match s.closed().await {
                ConnectionError::Closed(SessionError::ClosedByPeer { code, reason }) => {
                    assert_eq!(code, ErrorCode(3));
                    assert_eq!(reason, b"maintenance");
                }
                other => panic!("client saw {other}"),
            }
        }
        assert!(server.accept().await.is_none(), "accept after shutdown");
        assert!(matches!(
            server.connect(a.udp_addrs()[0]).await,
            Err(ConnectionError::NodeShutDown)
        ));
    });
}

#[test]
fn rebound_client_keeps_its_session() {
    run(async {
        let server = node(1).await;
        let addr = server.udp_addrs()[0];
        let client = node(2).await;
        let s = client.connect(addr).await.unwrap();
        let inbound = server.accept().await.unwrap();
        let old = client.udp_addrs()[0];
        let new = client.rebind_udp(old, lo()).await.unwrap();
        assert_ne!(new, old);
        assert_eq!(client.udp_addrs(), vec![new]);
        let (mut send, mut recv) = s.open_bi().await.unwrap();
        let msg = vec![0x5a; 300_000];
        send.write_all(&msg).await.unwrap();
        send.close().await.unwrap();
        let (mut back_send, mut back_recv) = inbound.accept_bi().await.unwrap();
        let mut got = Vec::new();
        back_recv.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, msg);
        back_send.write_all(b"ok").await.unwrap();
        back_send.close().await.unwrap();
        let mut reply = Vec::new();
        recv.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"ok");
        assert_eq!(inbound.remote_udp_addr(), Some(new));
    });
}
