//! stt-tokio over real loopback UDP sockets: handshake, streams both ways, datagrams,
//! broadcast, a 64 MiB byte-exact transfer, many writers sharing a small session send
//! buffer, many messages on separate streams, small reads of read-ahead data, 50
//! concurrent sessions, a wrong network seed refused. Every test is bounded
//! by a timeout.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sha3::{Digest, Sha3_256};
use stt_tokio::{Identity, NetworkKey, Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LIMIT: Duration = Duration::from_secs(60);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn node(tag: u8, net: u8, config: NodeConfig) -> Node {
    Node::builder(
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[net; 32]).unwrap(),
    )
    .config(config)
    .bind_udp(loopback())
    .build()
    .await
    .unwrap()
}

async fn pair() -> (Node, Node, SocketAddr) {
    let server = node(1, 9, NodeConfig::default()).await;
    let client = node(2, 9, NodeConfig::default()).await;
    let addr = server.udp_addrs()[0];
    (server, client, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_streams_datagrams() {
    tokio::time::timeout(LIMIT, async {
        let trace_dir = std::env::temp_dir().join(format!("stt-trace-{}", std::process::id()));
        std::fs::create_dir_all(&trace_dir).unwrap();
        let server = Node::builder(
            Identity::from_node_seed(&[1; 32]).unwrap(),
            NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
        )
        .bind_udp(loopback())
        .trace_dir(&trace_dir)
        .build()
        .await
        .unwrap();
        let client = node(2, 9, NodeConfig::default()).await;
        let addr = server.udp_addrs()[0];
        let srv = tokio::spawn({
            let server = server.clone();
            async move {
                let s = server.accept().await.unwrap();
                let (mut send, mut recv) = s.accept_bi().await.unwrap();
                let mut got = Vec::new();
                recv.read_to_end(&mut got).await.unwrap();
                send.write_all(&got).await.unwrap();
                send.shutdown().await.unwrap();
                let d = s.recv_datagram().await.unwrap();
                assert_eq!(&d[..], b"ping");
                s.send_datagram(Bytes::from_static(b"pong")).unwrap();
                s.closed().await
            }
        });
        let s = client.connect(addr).await.unwrap();
        assert_eq!(s.peer(), server.node_id());
        let (mut send, mut recv) = s.open_bi().await.unwrap();
        send.write_all(b"hello over stt").await.unwrap();
        send.shutdown().await.unwrap();
        let mut back = Vec::new();
        recv.read_to_end(&mut back).await.unwrap();
        assert_eq!(back, b"hello over stt");
        s.send_datagram(Bytes::from_static(b"ping")).unwrap();
        assert_eq!(&s.recv_datagram().await.unwrap()[..], b"pong");
        assert_eq!(client.send_to_all(Bytes::from_static(b"all")), 1);
        let stats = s.stats().unwrap();
        assert!(stats.packets_sent > 0 && stats.rtt > Duration::ZERO);
        s.close(7, b"bye");
        let reason = srv.await.unwrap();
        assert!(
            reason.to_string().contains("bye") || reason.to_string().contains('7'),
            "{reason}"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_network_is_refused() {
    tokio::time::timeout(LIMIT, async {
        let server = node(1, 9, NodeConfig::default()).await;
        let config = NodeConfig {
            handshake_timeout: Duration::from_millis(1500),
            ..NodeConfig::default()
        };
        let intruder = node(3, 66, config).await;
        let r = intruder.connect(server.udp_addrs()[0]).await;
        assert!(r.is_err(), "handshake with the wrong shared seed succeeded");
        assert!(server.stats().dropped_handshake > 0);
        assert_eq!(server.stats().sessions_accepted, 0);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfer_64_mib_byte_exact() {
    const LEN: usize = 64 << 20;
    tokio::time::timeout(LIMIT * 2, async {
        let (server, client, addr) = pair().await;
        let pat: Vec<u8> = (0..(1 << 20) + 251).map(pattern).collect();
        let pat2 = pat.clone();
        let srv = tokio::spawn(async move {
            let pat = pat2;
            let s = server.accept().await.unwrap();
            let mut r = s.accept_uni().await.unwrap();
            let mut h = Sha3_256::new();
            let mut n = 0usize;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let k = r.read(&mut buf).await.unwrap();
                if k == 0 {
                    break;
                }
                // Byte-exact: every byte is a function of its offset.
                let at = n % 251;
                assert!(buf[..k] == pat[at..at + k], "bytes {n}..{} differ", n + k);
                h.update(&buf[..k]);
                n += k;
            }
            (n, h.finalize().to_vec())
        });
        let s = client.connect(addr).await.unwrap();
        let mut w = s.open_uni().await.unwrap();
        let mut h = Sha3_256::new();
        for i in 0..LEN >> 20 {
            let at = (i << 20) % 251;
            let chunk = &pat[at..at + (1 << 20)];
            w.write_all(chunk).await.unwrap();
            h.update(chunk);
        }
        w.shutdown().await.unwrap();
        let (n, digest) = srv.await.unwrap();
        assert_eq!(n, LEN);
        assert_eq!(digest, h.finalize().to_vec());
    })
    .await
    .expect("test timed out");
}

/// Sixteen streams written at once by sixteen tasks through a session send buffer of
/// two streams' worth: writers wait for session room and are woken as acks free it, and
/// every stream arrives whole and byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_writers_share_a_small_session_send_buffer() {
    const STREAMS: usize = 16;
    const LEN: usize = 256 << 10;
    tokio::time::timeout(LIMIT, async {
        let server = node(1, 9, NodeConfig::default()).await;
        let mut config = NodeConfig::default();
        config.transport.send_buffer = 32 << 10;
        config.transport.session_send_buffer = 64 << 10;
        let client = node(2, 9, config).await;
        let addr = server.udp_addrs()[0];
        let srv = tokio::spawn(async move {
            let s = server.accept().await.unwrap();
            let mut readers = Vec::new();
            for _ in 0..STREAMS {
                let mut r = s.accept_uni().await.unwrap();
                readers.push(tokio::spawn(async move {
                    let mut got = Vec::new();
                    r.read_to_end(&mut got).await.unwrap();
                    got
                }));
            }
            let mut seen = Vec::new();
            for r in readers {
                let got = r.await.unwrap();
                assert_eq!(got.len(), LEN);
                let k = got[0];
                assert!(
                    got.iter().enumerate().all(|(i, b)| *b == pattern(i) ^ k),
                    "stream {k} is byte-exact"
                );
                seen.push(k);
            }
            seen.sort_unstable();
            seen
        });
        let s = client.connect(addr).await.unwrap();
        let mut writers = Vec::new();
        for k in 0..STREAMS as u8 {
            let mut w = s.open_uni().await.unwrap();
            writers.push(tokio::spawn(async move {
                let data: Vec<u8> = (0..LEN).map(|i| pattern(i) ^ k).collect();
                for piece in data.chunks(20_000) {
                    w.write_all(piece).await.unwrap();
                }
                w.shutdown().await.unwrap();
            }));
        }
        for w in writers {
            w.await.unwrap();
        }
        let seen = srv.await.unwrap();
        assert_eq!(seen, (0..STREAMS as u8).collect::<Vec<_>>());
    })
    .await
    .expect("test timed out");
}

/// Row (b) of the head-to-head in small: 300 messages of 64 KiB, each on its own
/// stream, written back to back by one task. The driver joins the engine's transmits
/// into large GSO sends across stream boundaries (a stream's last packet is short);
/// every message still arrives whole and byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_messages_on_separate_streams_arrive_byte_exact() {
    const MESSAGES: usize = 300;
    const LEN: usize = 64 << 10;
    tokio::time::timeout(LIMIT, async {
        let (server, client, addr) = pair().await;
        let srv = tokio::spawn(async move {
            let s = server.accept().await.unwrap();
            let mut seen = vec![false; MESSAGES];
            for _ in 0..MESSAGES {
                let mut r = s.accept_uni().await.unwrap();
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                assert_eq!(got.len(), LEN);
                let k = usize::from(got[0]) | usize::from(got[1]) << 8;
                assert!(k < MESSAGES && !seen[k], "message {k} arrives once");
                assert!(
                    got[2..]
                        .iter()
                        .enumerate()
                        .all(|(i, b)| *b == pattern(i + k)),
                    "message {k} is byte-exact"
                );
                seen[k] = true;
            }
            seen.iter().all(|s| *s)
        });
        let s = client.connect(addr).await.unwrap();
        for k in 0..MESSAGES {
            let mut data = vec![k as u8, (k >> 8) as u8];
            data.extend((0..LEN - 2).map(|i| pattern(i + k)));
            let mut w = s.open_uni().await.unwrap();
            w.write_all(&data).await.unwrap();
            drop(w);
        }
        assert!(srv.await.unwrap(), "every message arrived");
    })
    .await
    .expect("test timed out");
}

/// A read takes up to 64 KiB ahead from the engine and hands it out in pieces: reads
/// through a 100-byte buffer and reads of chunks capped at 1,000 bytes both see every
/// byte in order, then the end of the stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_reads_see_read_ahead_data_in_order() {
    const LEN: usize = 300 << 10;
    tokio::time::timeout(LIMIT, async {
        let (server, client, addr) = pair().await;
        let srv = tokio::spawn(async move {
            let s = server.accept().await.unwrap();
            let mut r = s.accept_uni().await.unwrap();
            let mut buf = [0u8; 100];
            let mut n = 0;
            while n < LEN / 2 {
                let k = r.read(&mut buf).await.unwrap();
                assert!(k > 0, "the stream ended early at {n}");
                assert!(
                    buf[..k]
                        .iter()
                        .enumerate()
                        .all(|(i, b)| *b == pattern(n + i))
                );
                n += k;
            }
            // Asking for nothing is not the end of the stream.
            assert_eq!(r.read_chunk(0).await.unwrap().map(|c| c.len()), Some(0));
            while let Some(chunk) = r.read_chunk(1000).await.unwrap() {
                assert!(chunk.len() <= 1000);
                assert!(chunk.iter().enumerate().all(|(i, b)| *b == pattern(n + i)));
                n += chunk.len();
            }
            n
        });
        let s = client.connect(addr).await.unwrap();
        let data: Vec<u8> = (0..LEN).map(pattern).collect();
        let mut w = s.open_uni().await.unwrap();
        w.write_all(&data).await.unwrap();
        w.shutdown().await.unwrap();
        assert_eq!(srv.await.unwrap(), LEN);
    })
    .await
    .expect("test timed out");
}

/// The byte at `offset`: period 251 (prime), so a shifted or repeated block shows.
fn pattern(offset: usize) -> u8 {
    ((offset % 251) as u8).wrapping_mul(7)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_sessions_to_one_server() {
    tokio::time::timeout(LIMIT, async {
        let server = node(1, 9, NodeConfig::default()).await;
        let addr = server.udp_addrs()[0];
        let srv = tokio::spawn({
            let server = server.clone();
            async move {
                let mut tasks = Vec::new();
                for _ in 0..50 {
                    let s = server.accept().await.unwrap();
                    tasks.push(tokio::spawn(async move {
                        let (mut send, mut recv) = s.accept_bi().await.unwrap();
                        let mut got = Vec::new();
                        recv.read_to_end(&mut got).await.unwrap();
                        send.write_all(&got).await.unwrap();
                        send.shutdown().await.unwrap();
                        s.closed().await;
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            }
        });
        let mut clients = Vec::new();
        for i in 0..50u8 {
            clients.push(tokio::spawn(async move {
                let c = node(100 + i, 9, NodeConfig::default()).await;
                let s = c.connect(addr).await.unwrap();
                let (mut send, mut recv) = s.open_bi().await.unwrap();
                let msg = vec![i; 10_000 + i as usize];
                send.write_all(&msg).await.unwrap();
                send.shutdown().await.unwrap();
                let mut back = Vec::new();
                recv.read_to_end(&mut back).await.unwrap();
                assert_eq!(back, msg);
                s.close(0, b"done");
                c.shutdown(0, b"", Duration::from_millis(200)).await;
            }));
        }
        for c in clients {
            c.await.unwrap();
        }
        srv.await.unwrap();
        assert_eq!(server.stats().sessions_accepted, 50);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_connect_refuses_another_member_and_accepts_the_right_one() {
    use stt_proto::error::SessionError;
    use stt_tokio::{AllowList, ConnectionError};
    tokio::time::timeout(LIMIT, async {
        let (server, client, addr) = pair().await;
        let stranger = Identity::from_node_seed(&[3; 32]).unwrap().node_id();
        // The node at `addr` is a member, but not the one asked for: refused, both ids named,
        // and the listener never gets a session (RESPONSE was never sent).
        let err = match client.connect_to(addr, stranger).await {
            Ok(_) => panic!("a pinned connect accepted the wrong node"),
            Err(e) => e,
        };
        assert_eq!(
            err,
            ConnectionError::Closed(SessionError::PeerMismatch {
                expected: vec![stranger],
                actual: server.node_id(),
            })
        );
        let text = err.to_string();
        assert!(text.contains(&stranger.to_string()), "{text}");
        assert!(text.contains(&server.node_id().to_string()), "{text}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.stats().sessions_accepted, 0);
        // Pinned to the right id (alone, or in a set): connects.
        let s = client.connect_to(addr, server.node_id()).await.unwrap();
        assert_eq!(s.peer(), server.node_id());
        let set: AllowList = [stranger, server.node_id()]
            .into_iter()
            .collect::<AllowList>();
        let s2 = client.connect_to(addr, set).await.unwrap();
        assert_eq!(s2.peer(), server.node_id());
    })
    .await
    .unwrap();
}
