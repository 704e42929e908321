//! Both adapters over real UDP sockets through the impairment relay: 20 MiB from a
//! client whose path the relay rebinds every 2,000 datagrams, with 1% loss both ways,
//! arrives byte-exact (smol client → tokio server, and tokio client → smol server),
//! also when the session starts on a WebSocket and moves to UDP through the relay.

use std::net::SocketAddr;
use std::time::Duration;

use smol::future::FutureExt;
use stt_adapter::{Node, Runtime};
use stt_tests::adapters::{Reader, Writer, tokio_runtime, udp_node};
use stt_tests::loopback::lo;
use stt_tests::relay::{Impairment, Relay, RelayConfig};

const LEN: usize = 20 << 20;
const LIMIT: Duration = Duration::from_secs(120);

fn byte(i: usize) -> u8 {
    (i as u64).wrapping_mul(0x9E37_79B9) as u8 ^ (i >> 13) as u8
}

fn relay(server: SocketAddr, seed: u64) -> Relay {
    let loss = Impairment {
        loss: 0.01,
        ..Default::default()
    };
    Relay::start(
        server,
        RelayConfig {
            seed,
            up: loss,
            down: loss,
            rebind_every: 2000,
        },
    )
    .expect("relay")
}

async fn send_all<R: Runtime>(node: Node<R>, to: SocketAddr)
where
    R::SendStream: Writer,
{
    let s = node.connect(to).await.expect("connect through the relay");
    let mut w = s.open_uni().await.expect("open");
    let block: Vec<u8> = (0..LEN).map(byte).collect();
    for chunk in block.chunks(1 << 16) {
        w.put(chunk).await.expect("write");
    }
    w.fin().await.expect("every byte acknowledged");
}

async fn receive_all<R: Runtime>(node: Node<R>) -> usize
where
    R::RecvStream: Reader,
{
    let s = node.accept().await.expect("inbound session");
    let mut r = s.accept_uni().await.expect("stream");
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0usize;
    loop {
        let n = r.get(&mut buf).await.expect("read");
        if n == 0 {
            break;
        }
        for (k, b) in buf[..n].iter().enumerate() {
            assert_eq!(*b, byte(at + k), "byte {}", at + k);
        }
        at += n;
    }
    at
}

/// Every byte arrived, and the relay rebound the client's path at least `rebinds` times.
fn delivered_through(relay: &Relay, received: usize, rebinds: u64) {
    assert_eq!(received, LEN);
    let done = relay
        .stats
        .rebinds
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(done >= rebinds, "the relay rebound {done} times");
}

/// Fails the test once `LIMIT` has passed (raced against the work under smol).
async fn smol_deadline<T>() -> T {
    smol::Timer::after(LIMIT).await;
    panic!("timed out after {LIMIT:?}");
}

#[test]
fn smol_client_rebinding_under_loss_reaches_a_tokio_server() {
    let rt = tokio_runtime();
    let server: Node<stt_tokio::Tokio> = rt.block_on(udp_node(1, lo()));
    let relay = relay(server.udp_addrs()[0], 7);
    let got = rt.spawn(receive_all(server));
    smol::block_on(
        async {
            let client: Node<stt_smol::Smol> = udp_node(2, lo()).await;
            send_all(client, relay.addr()).await;
        }
        .or(smol_deadline()),
    );
    let n = rt
        .block_on(async { tokio::time::timeout(LIMIT, got).await })
        .expect("in time")
        .expect("task");
    delivered_through(&relay, n, 3);
}

#[test]
fn tokio_client_rebinding_under_loss_reaches_a_smol_server() {
    let server: Node<stt_smol::Smol> = smol::block_on(udp_node(3, lo()));
    let relay = relay(server.udp_addrs()[0], 8);
    let got = smol::spawn(receive_all(server));
    let rt = tokio_runtime();
    rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let client: Node<stt_tokio::Tokio> = udp_node(4, lo()).await;
            send_all(client, relay.addr()).await;
        })
        .await
        .expect("timed out");
    });
    let n = smol::block_on(got.or(smol_deadline()));
    delivered_through(&relay, n, 3);
}

#[test]
fn a_session_moved_from_websocket_to_udp_under_loss_and_rebinding_delivers_everything() {
    let rt = tokio_runtime();
    let server: Node<stt_tokio::Tokio> = rt.block_on(async {
        let (identity, network) = stt_tests::adapters::keys(5);
        Node::builder(identity, network)
            .bind_udp(lo())
            .bind_ws(lo())
            .build()
            .await
            .expect("server binds")
    });
    let relay = relay(server.udp_addrs()[0], 9);
    let ws = server.ws_addrs()[0];
    let got = rt.spawn(receive_all(server));
    rt.block_on(async {
        tokio::time::timeout(LIMIT, async {
            let client: Node<stt_tokio::Tokio> = udp_node(6, lo()).await;
            let s = client
                .connect_ws(&format!("ws://{ws}/"))
                .await
                .expect("connect over WebSocket");
            let mut w = s.open_uni().await.expect("open");
            let block: Vec<u8> = (0..LEN).map(byte).collect();
            let (first, second) = block.split_at(LEN / 2);
            for chunk in first.chunks(1 << 16) {
                w.put(chunk).await.expect("write on the WebSocket");
            }
            client
                .migrate_udp(&s, relay.addr())
                .await
                .expect("move to UDP");
            for chunk in second.chunks(1 << 16) {
                w.put(chunk).await.expect("write on UDP");
            }
            w.fin().await.expect("every byte acknowledged");
            assert!(s.remote_udp_addr().is_some(), "the session is on UDP");
        })
        .await
        .expect("timed out");
    });
    let n = rt
        .block_on(async { tokio::time::timeout(LIMIT, got).await })
        .expect("in time")
        .expect("task");
    delivered_through(&relay, n, 1);
}
