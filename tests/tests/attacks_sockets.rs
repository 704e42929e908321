//! The attack suite over real loopback sockets (stt-tokio): garbage, truncated,
//! oversized and session-id-guessing datagrams from many UDP sockets at a server with a
//! live session; an INIT flood from many source addresses while a legitimate client
//! connects; binary garbage over WebSocket. Each test asserts the defence and prints
//! the counters the attack moved (`-- --nocapture`). Every test is bounded in time.

use std::net::SocketAddr;
use std::time::Duration;

use stt_proto::frame::{Flags, HEADER_LEN, Header, PacketType, SessionId, StreamId};
use stt_tests::mem::{XorShift, counters_moved, node as proto_node};
use stt_tokio::{Identity, NetworkKey, Node, NodeConfig, NodeStats};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

const LIMIT: Duration = Duration::from_secs(60);

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn server(config: NodeConfig) -> Node {
    Node::builder(
        Identity::from_node_seed(&[1; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
    )
    .config(config)
    .bind_udp(lo())
    .bind_ws(lo())
    .build()
    .await
    .unwrap()
}

async fn client(tag: u8) -> Node {
    Node::builder(
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
    )
    .bind_udp(lo())
    .build()
    .await
    .unwrap()
}

fn dropped(s: &NodeStats) -> u64 {
    s.dropped_malformed
        + s.dropped_unauthenticated
        + s.dropped_replayed
        + s.dropped_unknown_session
        + s.dropped_over_limit
        + s.dropped_handshake
        + s.dropped_unexpected
        + s.dropped_version
}

/// Waits until the server counted `n` more drops than `before` (or 10 s passed).
async fn await_drops(server: &Node, before: &NodeStats, n: u64) -> NodeStats {
    for _ in 0..200 {
        let now = server.stats();
        if dropped(&now) >= dropped(before) + n {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stats()
}

/// Echoes one bidirectional stream per accepted session.
fn echo(server: &Node) -> tokio::task::JoinHandle<()> {
    let server = server.clone();
    tokio::spawn(async move {
        while let Some(s) = server.accept().await {
            tokio::spawn(async move {
                while let Ok((mut send, mut recv)) = s.accept_bi().await {
                    let mut got = Vec::new();
                    if recv.read_to_end(&mut got).await.is_err() {
                        return;
                    }
                    let _ = send.write_all(&got).await;
                    let _ = send.shutdown().await;
                }
            });
        }
    })
}

async fn round_trip(s: &stt_tokio::Session, len: usize) {
    let msg: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
    let (mut send, mut recv) = s.open_bi().await.unwrap();
    send.write_all(&msg).await.unwrap();
    send.shutdown().await.unwrap();
    let mut back = Vec::new();
    recv.read_to_end(&mut back).await.unwrap();
    assert!(back == msg, "echo corrupted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_garbage_from_many_sockets_leaves_a_live_session_intact() {
    tokio::time::timeout(LIMIT, async {
        let server = server(NodeConfig::default()).await;
        let addr = server.udp_addrs()[0];
        let _echo = echo(&server);
        let c = client(2).await;
        let s = c.connect(addr).await.unwrap();
        round_trip(&s, 100_000).await;
        let before = server.stats();
        let mut rng = XorShift(0xfeed);
        let mut sockets = Vec::new();
        for _ in 0..32 {
            sockets.push(UdpSocket::bind(lo()).await.unwrap());
        }
        let (mut sent, mut empty) = (0u64, 0u64);
        for i in 0..3200usize {
            let sock = &sockets[i % sockets.len()];
            let bytes = match i % 4 {
                // Random bytes of every length class.
                0 => rng.bytes([0, 1, 19, 20, 35, 36, 700, 1472][i / 4 % 8]),
                // A valid-looking header with a guessed session id.
                1 | 2 => {
                    let kind = [PacketType::Data, PacketType::Confirm, PacketType::Response][i % 3];
                    let mut b = Header {
                        packet_type: kind,
                        session_id: SessionId(rng.next_u64()),
                        stream_id: StreamId(rng.below(100) as u32),
                        sequence: rng.next_u64() as u32,
                        flags: Flags::new(false),
                    }
                    .to_bytes()
                    .to_vec();
                    let n = 16 + rng.below(1200) as usize;
                    b.extend(rng.bytes(n));
                    b
                }
                // Oversized: past the node's maximum packet size.
                _ => {
                    let n = 1473 + rng.below(8000) as usize;
                    rng.bytes(n)
                }
            };
            sock.send_to(&bytes, addr).await.unwrap();
            sent += 1;
            empty += u64::from(bytes.is_empty());
            if i % 64 == 0 {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        // Empty datagrams may end in the socket layer, before the engine counts them.
        let after = await_drops(&server, &before, sent - empty).await;
        let moved = counters_moved("UDP garbage from 32 sockets", &before, &after);
        let counted = dropped(&after) - dropped(&before);
        println!("ATTACK UDP garbage: {sent} sent ({empty} empty), {counted} counted as dropped");
        assert!(counted >= sent - empty && counted <= sent, "{moved:?}");
        assert_eq!(after.sessions_accepted, before.sessions_accepted);
        // No answer to any of it but stateless RESETs (PROTOCOL.md §5.5) to guessed
        // DATA/CONFIRM ids: 36 bytes, smaller than their trigger, rate-limited.
        let mut buf = [0u8; 2048];
        for sock in &sockets {
            while let Ok(r) =
                tokio::time::timeout(Duration::from_millis(20), sock.recv_from(&mut buf)).await
            {
                let n = r.map(|(n, _)| n).unwrap_or(0);
                assert!(
                    n == 36 && buf[2] == PacketType::Reset as u8,
                    "an attacker socket got an answer that is not a RESET ({n} bytes)"
                );
            }
        }
        round_trip(&s, 100_000).await;
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_flood_from_many_addresses_while_a_legitimate_client_connects() {
    tokio::time::timeout(LIMIT, async {
        let config = NodeConfig {
            max_half_open: 128,
            cookie_threshold: 16,
            ..NodeConfig::default()
        };
        let server = server(config).await;
        let addr = server.udp_addrs()[0];
        let _echo = echo(&server);
        // A malicious member makes fresh INITs; 100 sockets send 4 each.
        let mut evil = proto_node(
            66,
            9,
            NodeConfig {
                max_sessions: 1000,
                ..NodeConfig::default()
            },
        );
        let now = stt_proto::Instant::from_micros(1);
        let mut buf = vec![0u8; 2048];
        let mut inits = Vec::new();
        for _ in 0..400 {
            evil.connect(now, stt_proto::PathId(1)).unwrap();
            while let Some(t) = evil.poll_transmit(now, &mut buf) {
                inits.push(buf[..t.len].to_vec());
            }
        }
        let mut sockets = Vec::new();
        for _ in 0..100 {
            sockets.push(UdpSocket::bind(lo()).await.unwrap());
        }
        let before = server.stats();
        let flood = {
            let sockets: Vec<_> = sockets.into_iter().map(std::sync::Arc::new).collect();
            let s2 = sockets.clone();
            let task = tokio::spawn(async move {
                for (i, init) in inits.iter().enumerate() {
                    s2[i % s2.len()].send_to(init, addr).await.unwrap();
                    if i % 20 == 0 {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
                inits.iter().map(|b| b.len() as u64).sum::<u64>()
            });
            (sockets, task)
        };
        // The legitimate client connects during the flood.
        let c = client(2).await;
        let s = c.connect(addr).await.unwrap();
        round_trip(&s, 10_000).await;
        let flood_bytes = flood.1.await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        // What came back to the flooders: never more than they sent.
        let mut back = 0u64;
        let mut b = [0u8; 2048];
        for sock in &flood.0 {
            while let Ok(Ok((n, _))) =
                tokio::time::timeout(Duration::from_millis(5), sock.recv_from(&mut b)).await
            {
                back += n as u64;
            }
        }
        let after = server.stats();
        let moved = counters_moved("INIT flood from 100 addresses", &before, &after);
        println!("ATTACK INIT flood: {flood_bytes} bytes in, {back} bytes back to the flooders");
        assert!(
            after.cookies_sent > 0,
            "cookie path did not engage: {moved:?}"
        );
        assert!(back <= flood_bytes);
        assert_eq!(after.sessions_accepted - before.sessions_accepted, 1);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_binary_garbage_is_dropped_and_the_session_lives() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    tokio::time::timeout(LIMIT, async {
        let server = server(NodeConfig::default()).await;
        let ws = server.ws_addrs()[0];
        let _echo = echo(&server);
        let c = Node::builder(
            Identity::from_node_seed(&[2; 32]).unwrap(),
            NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
        )
        .build()
        .await
        .unwrap();
        let s = c.connect_ws(&format!("ws://{ws}/")).await.unwrap();
        round_trip(&s, 50_000).await;
        let before = server.stats();
        let (mut bad, _) = tokio_tungstenite::connect_async(format!("ws://{ws}/"))
            .await
            .unwrap();
        let mut rng = XorShift(31);
        let n = 500u64;
        for i in 0..n {
            let mut b = rng.bytes([0, 5, HEADER_LEN, 40, 1200][i as usize % 5]);
            if i % 2 == 0 && b.len() >= HEADER_LEN {
                let h = Header {
                    packet_type: PacketType::Data,
                    session_id: SessionId(rng.next_u64()),
                    stream_id: StreamId(4),
                    sequence: i as u32,
                    flags: Flags::new(false),
                };
                b[..HEADER_LEN].copy_from_slice(&h.to_bytes());
            }
            bad.send(Message::Binary(b.into())).await.unwrap();
        }
        let after = await_drops(&server, &before, n).await;
        let moved = counters_moved("WebSocket binary garbage", &before, &after);
        assert_eq!(dropped(&after) - dropped(&before), n, "{moved:?}");
        // Non-HTTP bytes on the listener and a text message close those connections only.
        let mut raw = tokio::net::TcpStream::connect(ws).await.unwrap();
        raw.write_all(b"\x16\x03\x01garbage\r\n\r\n").await.unwrap();
        bad.send(Message::Text("not stt".into())).await.unwrap();
        round_trip(&s, 50_000).await;
        assert_eq!(server.stats().sessions_accepted, 1);
    })
    .await
    .expect("test timed out");
}
