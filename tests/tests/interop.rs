//! A tokio node and a smol node talk to each other over loopback: over UDP (smol dials
//! tokio) and over WebSocket (tokio dials smol's listener, and, lighter, smol dials
//! tokio's). On one session each side
//! sends 64 MiB on a stream while receiving the other's 64 MiB (checked byte by byte),
//! then each resets a stream the other reads (the code must cross), datagrams are
//! echoed byte-exact, and the client's close reason reaches the server.
//!
//! The exchange is written once, generic over `stt_adapter::Runtime`; the stream IO
//! goes through each adapter's own traits (tokio's and futures-io's).

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join;
use smol::future::FutureExt;
use stt_adapter::{ConnectionError, Runtime, Session, StreamIoError};
use stt_proto::error::SessionError;
use stt_proto::frame::ErrorCode;
use stt_tests::adapters::{Reader, Writer, keys};

const LEN: usize = 64 << 20;
const CHUNK: usize = 1 << 20;
const LIMIT: Duration = Duration::from_secs(300);
/// Bytes written on a stream before it is reset.
const BEFORE_RESET: usize = 100_000;
const CLOSE_CODE: u64 = 5;

/// The byte at `offset` of the stream sent by side `tag`: period 251 (prime), so a
/// shifted, repeated or crossed block shows.
fn pattern(tag: u8, offset: usize) -> u8 {
    ((offset % 251) as u8).wrapping_mul(7) ^ tag
}

/// Sends `len` bytes (whole chunks) of `tag`'s pattern and finishes.
async fn send_bulk(w: &mut impl Writer, tag: u8, len: usize) {
    let pat: Vec<u8> = (0..CHUNK + 251).map(|i| pattern(tag, i)).collect();
    for i in 0..len / CHUNK {
        let at = (i * CHUNK) % 251;
        w.put(&pat[at..at + CHUNK]).await.expect("bulk write");
    }
    w.fin().await.expect("bulk finish");
}

/// Reads a stream to its end, checking every byte against `tag`'s pattern.
async fn recv_bulk(r: &mut impl Reader, tag: u8) -> usize {
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0;
    loop {
        let k = r.get(&mut buf).await.expect("bulk read");
        if k == 0 {
            return n;
        }
        let bad = (0..k).find(|&i| buf[i] != pattern(tag, n + i));
        assert!(
            bad.is_none(),
            "side {tag}: byte {} differs",
            n + bad.unwrap_or(0)
        );
        n += k;
    }
}

/// Reads a stream the peer resets; returns the reset code and the bytes seen before.
async fn recv_reset(r: &mut impl Reader, tag: u8) -> (ErrorCode, usize) {
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 0;
    loop {
        match r.get(&mut buf).await {
            Ok(0) => panic!("reset stream ended cleanly after {n} bytes"),
            Ok(k) => {
                assert!(
                    (0..k).all(|i| buf[i] == pattern(tag, n + i)),
                    "reset stream data"
                );
                n += k;
            }
            Err(e) => match e.get_ref().and_then(|e| e.downcast_ref::<StreamIoError>()) {
                Some(StreamIoError::Reset(code)) => return (*code, n),
                other => panic!("expected a reset, got {e} ({other:?})"),
            },
        }
    }
}

/// One side of the exchange of `len` bytes each way. `tag` tells the sides apart (and
/// is the reset code).
async fn exchange<R: Runtime>(s: &Session<R>, tag: u8, peer_tag: u8, len: usize)
where
    R::SendStream: Writer,
    R::RecvStream: Reader,
{
    // Both ways at once on one session.
    let (_, got) = join(
        async {
            let mut w = s.open_uni().await.expect("open bulk");
            send_bulk(&mut w, tag, len).await;
        },
        async {
            let mut r = s.accept_uni().await.expect("accept bulk");
            recv_bulk(&mut r, peer_tag).await
        },
    )
    .await;
    assert_eq!(got, len, "side {tag} received a short stream");
    // A stream reset mid-way: the peer's code must arrive intact.
    let ((), (code, seen)) = join(
        async {
            let mut w = s.open_uni().await.expect("open reset stream");
            let data: Vec<u8> = (0..BEFORE_RESET).map(|i| pattern(tag, i)).collect();
            w.put(&data).await.expect("write before reset");
            w.abandon(u64::from(tag));
        },
        async {
            let mut r = s.accept_uni().await.expect("accept reset stream");
            recv_reset(&mut r, peer_tag).await
        },
    )
    .await;
    assert_eq!(code, ErrorCode(u64::from(peer_tag)));
    assert!(seen <= BEFORE_RESET);
}

/// The client's datagrams come back byte-exact (each re-sent until its echo arrives).
async fn datagrams_echoed<R: Runtime>(s: &Session<R>) {
    let rt = R::current().expect("inside the runtime");
    for i in 0..20u32 {
        let msg = Bytes::from(format!("datagram {i} from the client").into_bytes());
        let mut echoed = None;
        for _ in 0..25 {
            s.send_datagram(msg.clone()).expect("send datagram");
            let wait = async { Some(s.recv_datagram().await.expect("recv datagram")) };
            let timeout = async {
                rt.sleep(Duration::from_millis(200)).await;
                None
            };
            if let Some(d) = wait.or(timeout).await {
                echoed = Some(d);
                break;
            }
        }
        // An earlier try's echo may arrive late; it is still the same bytes.
        let d = echoed.expect("no echo after 25 tries");
        assert!(
            d.starts_with(b"datagram ") && d.ends_with(b" from the client"),
            "{d:?}"
        );
        let n: u32 = std::str::from_utf8(&d[9..d.len() - 16])
            .expect("utf8")
            .parse()
            .expect("number");
        assert!(n <= i, "echo of a datagram not yet sent");
    }
}

async fn client<R: Runtime>(s: Session<R>, len: usize)
where
    R::SendStream: Writer,
    R::RecvStream: Reader,
{
    exchange(&s, 1, 2, len).await;
    datagrams_echoed(&s).await;
    let stats = s.stats().expect("session alive");
    assert!(stats.packets_sent > 0 && stats.rtt > Duration::ZERO);
    s.close(CLOSE_CODE, b"interop done");
}

async fn server<R: Runtime>(s: Session<R>, len: usize)
where
    R::SendStream: Writer,
    R::RecvStream: Reader,
{
    exchange(&s, 2, 1, len).await;
    while let Ok(d) = s.recv_datagram().await {
        s.send_datagram(d).expect("echo datagram");
    }
    match s.closed().await {
        ConnectionError::Closed(SessionError::ClosedByPeer { code, reason }) => {
            assert_eq!(code, ErrorCode(CLOSE_CODE));
            assert_eq!(reason, b"interop done");
        }
        other => panic!("server saw {other}"),
    }
}

fn lo() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Runs `f` on the test thread under smol, failing the test after `LIMIT`.
fn smol_within<T>(f: impl Future<Output = T>) -> T {
    smol::block_on(f.or(async {
        smol::Timer::after(LIMIT).await;
        panic!("test timed out");
    }))
}

#[test]
fn udp_smol_client_tokio_server() {
    let rt = tokio_rt();
    let (i, n) = keys(1);
    let tokio_node = rt.block_on(async {
        stt_tokio::Node::builder(i, n)
            .bind_udp(lo())
            .build()
            .await
            .unwrap()
    });
    let addr = tokio_node.udp_addrs()[0];
    let srv = rt.spawn(async move {
        let s = tokio_node.accept().await.expect("inbound session");
        server(s, LEN).await;
    });
    smol_within(async {
        let (i, n) = keys(2);
        let smol_node = stt_smol::Node::builder(i, n)
            .bind_udp(lo())
            .build()
            .await
            .unwrap();
        let s = smol_node.connect(addr).await.expect("connect over UDP");
        assert_eq!(s.remote_udp_addr(), Some(addr));
        client(s, LEN).await;
        srv.await.expect("tokio server");
    });
}

#[test]
fn websocket_tokio_client_smol_server() {
    let rt = tokio_rt();
    let (smol_node, ws) = smol_within(async {
        let (i, n) = keys(1);
        let node = stt_smol::Node::builder(i, n)
            .bind_ws(lo())
            .build()
            .await
            .unwrap();
        let ws = node.ws_addrs()[0];
        (node, ws)
    });
    let srv = smol::spawn(async move {
        let s = smol_node.accept().await.expect("inbound session");
        server(s, LEN).await;
    });
    rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let (i, n) = keys(2);
            let tokio_node = stt_tokio::Node::builder(i, n).build().await.unwrap();
            let s = tokio_node
                .connect_ws(&format!("ws://{ws}/"))
                .await
                .expect("connect over WebSocket");
            assert_eq!(s.remote_udp_addr(), None);
            client(s, LEN).await;
            srv.await;
        })
        .await
        .expect("test timed out");
    });
}

/// The other pairing over WebSocket, lighter: smol dials tokio's listener (4 MiB each
/// way); URLs smol cannot dial fail with a typed error, not a hang.
#[test]
fn websocket_smol_client_tokio_server() {
    let rt = tokio_rt();
    let (i, n) = keys(1);
    let tokio_node = rt.block_on(async {
        stt_tokio::Node::builder(i, n)
            .bind_ws(lo())
            .build()
            .await
            .unwrap()
    });
    let ws = tokio_node.ws_addrs()[0];
    let srv = rt.spawn(async move {
        let s = tokio_node.accept().await.expect("inbound session");
        server(s, 4 * CHUNK).await;
    });
    smol_within(async {
        let (i, n) = keys(2);
        let smol_node = stt_smol::Node::builder(i, n).build().await.unwrap();
        for bad in ["wss://127.0.0.1:1/", "http://127.0.0.1:1/", "not a url"] {
            let e = smol_node.connect_ws(bad).await.expect_err(bad);
            assert!(matches!(e, ConnectionError::Transport(_)), "{bad}: {e}");
        }
        let closed_port = std::net::TcpListener::bind(lo())
            .unwrap()
            .local_addr()
            .unwrap();
        let e = smol_node
            .connect_ws(&format!("ws://{closed_port}/"))
            .await
            .expect_err("nothing listens there");
        assert!(matches!(e, ConnectionError::Transport(_)), "{e}");
        let s = smol_node
            .connect_ws(&format!("ws://{ws}/"))
            .await
            .expect("connect over WebSocket");
        client(s, 4 * CHUNK).await;
        srv.await.expect("tokio server");
    });
}
