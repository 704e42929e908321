//! Rendezvous and relay through the adapters (PROTOCOL.md §12), on loopback: a relay
//! node, a listener registered with it and a sender that meets the listener through it
//! (`Node::connect_via`), all on smol and all on tokio (the code is written once,
//! generic over `stt_adapter::Runtime`). 4 MiB cross, checked byte by byte; with
//! punching the session ends direct (loopback always lets it through), without it
//! (`RendezvousConfig::punch` off on the sender) it stays relayed and the relay's
//! counters show the bytes. Meeting a node that never registered fails with NOT_FOUND.
//! The path an introduction pins for punching is released once the sessions with that
//! peer end: a listener met by three senders in turn ends with only its relay path
//! pinned.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::join;
use smol::future::FutureExt;
use stt_adapter::{ConnectionError, Node, NodeConfig, Runtime};
use stt_proto::frame::RdvStatus;
use stt_tests::adapters::{Reader, Writer, keys};

const LEN: usize = 4 << 20;
const LIMIT: Duration = Duration::from_secs(120);

fn pattern(offset: usize) -> u8 {
    ((offset % 251) as u8).wrapping_mul(13)
}

async fn node<R: Runtime>(tag: u8, config: NodeConfig) -> Node<R> {
    let (identity, network) = keys(tag);
    Node::builder(identity, network)
        .config(config)
        .bind_udp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .build()
        .await
        .expect("node binds")
}

/// Relay, listener and sender; returns (relayed at the end, bytes the relay forwarded).
async fn meet<R: Runtime>(punch: bool) -> (bool, u64)
where
    R::SendStream: Writer,
    R::RecvStream: Reader,
{
    let mut serving = NodeConfig::default();
    serving.rendezvous.serve = true;
    let relay = node::<R>(1, serving).await;
    let relay_addr = relay.udp_addrs()[0];
    let listener = node::<R>(2, NodeConfig::default()).await;
    let mut sender_cfg = NodeConfig::default();
    sender_cfg.rendezvous.punch = punch;
    let sender = node::<R>(3, sender_cfg).await;

    let l_relay = listener
        .connect(relay_addr)
        .await
        .expect("listener reaches relay");
    let seen = l_relay
        .register_rendezvous()
        .await
        .expect("listener registers");
    assert_eq!(seen, Some(listener.udp_addrs()[0]), "observed address");
    let s_relay = sender
        .connect(relay_addr)
        .await
        .expect("sender reaches relay");
    s_relay
        .register_rendezvous()
        .await
        .expect("sender registers");

    let (session, incoming) = join(sender.connect_via(&s_relay, listener.node_id()), async {
        listener.accept().await
    })
    .await;
    let session = session.expect("met through the relay");
    let incoming = incoming.expect("the listener accepts");
    assert_eq!(incoming.peer(), sender.node_id());
    join(
        async {
            let mut w = session.open_uni().await.expect("open");
            let data: Vec<u8> = (0..LEN).map(pattern).collect();
            w.put(&data).await.expect("write");
            w.fin().await.expect("finish");
        },
        async {
            let mut r = incoming.accept_uni().await.expect("accept");
            let mut buf = vec![0u8; 1 << 16];
            let mut n = 0;
            loop {
                let k = r.get(&mut buf).await.expect("read");
                if k == 0 {
                    break;
                }
                assert!((0..k).all(|i| buf[i] == pattern(n + i)), "data at {n}");
                n += k;
            }
            assert_eq!(n, LEN);
        },
    )
    .await;
    let relayed = session.is_relayed().expect("session alive");
    assert_eq!(incoming.is_relayed(), Some(relayed), "both ends agree");

    // Nobody registered this id.
    let nobody = stt_proto::NodeId([0x77; 32]);
    match sender.connect_via(&s_relay, nobody).await {
        Err(ConnectionError::Rendezvous(RdvStatus::NotFound)) => {}
        other => panic!("expected NOT_FOUND, got {:?}", other.map(|s| s.peer())),
    }
    (relayed, relay.stats().relay_forwarded_bytes)
}

fn smol_within<T>(f: impl Future<Output = T>) -> T {
    smol::block_on(f.or(async {
        smol::Timer::after(LIMIT).await;
        panic!("test timed out");
    }))
}

fn tokio_within<T>(f: impl Future<Output = T>) -> T {
    stt_tests::adapters::tokio_runtime().block_on(async {
        tokio::time::timeout(LIMIT, f)
            .await
            .expect("test timed out")
    })
}

#[test]
fn smol_nodes_meet_through_the_relay_and_go_direct() {
    let (relayed, forwarded) = smol_within(meet::<stt_smol::Smol>(true));
    assert!(!relayed);
    assert!(forwarded < LEN as u64 / 2, "forwarded {forwarded}");
}

#[test]
fn smol_nodes_that_do_not_punch_stay_relayed() {
    let (relayed, forwarded) = smol_within(meet::<stt_smol::Smol>(false));
    assert!(relayed);
    assert!(forwarded > LEN as u64, "forwarded {forwarded}");
}

#[test]
fn tokio_nodes_meet_through_the_relay_both_ways() {
    let (relayed, _) = tokio_within(meet::<stt_tokio::Tokio>(true));
    assert!(!relayed);
    let (relayed, forwarded) = tokio_within(meet::<stt_tokio::Tokio>(false));
    assert!(relayed);
    assert!(forwarded > LEN as u64, "forwarded {forwarded}");
}

/// A listener met through the relay by three senders in turn (each punching toward
/// it): once each sender's session ends, the listener again pins only its path to the
/// relay, not one more path per introduction.
#[test]
fn punch_paths_are_released_when_the_sessions_with_the_peer_end() {
    tokio_within(async {
        let mut serving = NodeConfig::default();
        serving.rendezvous.serve = true;
        let relay = node::<stt_tokio::Tokio>(1, serving).await;
        let relay_addr = relay.udp_addrs()[0];
        let listener = node::<stt_tokio::Tokio>(2, NodeConfig::default()).await;
        let l_relay = listener.connect(relay_addr).await.expect("reach relay");
        l_relay.register_rendezvous().await.expect("register");
        let before = listener.pinned_path_count();
        assert_eq!(before, 1, "the path to the relay");
        for tag in 10..13 {
            let sender = node::<stt_tokio::Tokio>(tag, NodeConfig::default()).await;
            let s_relay = sender.connect(relay_addr).await.expect("reach relay");
            s_relay.register_rendezvous().await.expect("register");
            let (session, incoming) =
                join(sender.connect_via(&s_relay, listener.node_id()), async {
                    listener.accept().await
                })
                .await;
            let session = session.expect("met");
            let incoming = incoming.expect("accepted");
            assert!(
                listener.pinned_path_count() > before,
                "punching pins a path"
            );
            session.close(0, b"done");
            let _ = tokio::time::timeout(Duration::from_secs(10), incoming.closed()).await;
            sender.shutdown(0, b"", Duration::from_millis(200)).await;
            let start = std::time::Instant::now();
            while listener.pinned_path_count() != before {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "sender {tag}: {} paths still pinned, {before} expected",
                    listener.pinned_path_count()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    });
}
