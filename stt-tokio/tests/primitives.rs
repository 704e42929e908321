//! The application primitives on tokio over real loopback UDP: named endpoints (name
//! collisions, unknown names, full queue refused or waited for), custom frames through
//! the dispatcher (0x7F refused, 0x80 and 0xFF delivered), the event subscription (lag
//! indicator), fetch by hash (hit, missing hash, a peer serving wrong bytes), and the
//! streaming helpers (bounded with progress, length mismatch, live segments).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use stt_tokio::{
    ContentHash, DispatcherError, EndpointError, Event, FetchError, FrameDispatcher, Identity,
    NetworkKey, Node, RecvError, RouteError, SendError, SendFrameError, Session,
};
use tokio::sync::mpsc;

const LIMIT: Duration = Duration::from_secs(30);

async fn node(tag: u8) -> Node {
    Node::builder(
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[42; 32]).unwrap(),
    )
    .bind_udp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
    .build()
    .await
    .unwrap()
}

/// A server and a client session to it; also the server's side of the session.
async fn pair() -> (Node, Node, Session, Session) {
    let server = node(1).await;
    let client = node(2).await;
    let s = client.connect(server.udp_addrs()[0]).await.unwrap();
    let srv = server.accept().await.unwrap();
    (server, client, s, srv)
}

async fn run<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(LIMIT, f)
        .await
        .expect("test timed out")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_route_resolve_collide_and_refuse_unknown_names() {
    run(async {
        let (server, client, s, _srv) = pair().await;
        let mut rx = server.endpoint("sensor.telemetry").unwrap();
        assert!(matches!(
            server.endpoint("sensor.telemetry"),
            Err(EndpointError::AlreadyRegistered(_))
        ));
        assert!(s.resolve("sensor.telemetry").await.unwrap());
        assert!(!s.resolve("nobody").await.unwrap());
        for i in 0..20u8 {
            s.route_wait("sensor.telemetry", vec![i; 100])
                .await
                .unwrap();
        }
        for i in 0..20u8 {
            let m = rx.recv().await.unwrap();
            assert_eq!(m.payload, Bytes::from(vec![i; 100]));
            assert_eq!(m.peer, client.node_id());
        }
        assert_eq!(
            s.route("nobody", &b"hello?"[..]).await,
            Err(RouteError::NotFound)
        );
        assert!(s.peer_endpoints().contains(&rx.id()));
        drop(rx);
        // The name is free again once its receiver is gone.
        let _again = server.endpoint("sensor.telemetry").unwrap();
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_refuses_or_makes_the_sender_wait() {
    run(async {
        let (server, _client, s, _srv) = pair().await;
        let mut rx = server.endpoint_with_capacity("slow", 2).unwrap();
        s.route("slow", &b"1"[..]).await.unwrap();
        s.route("slow", &b"2"[..]).await.unwrap();
        assert_eq!(s.route("slow", &b"3"[..]).await, Err(RouteError::QueueFull));
        assert_eq!(rx.queued(), 2, "the queue never grows past its capacity");
        let waiting = tokio::spawn({
            let s = s.clone();
            async move { s.route_wait("slow", &b"3"[..]).await }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!waiting.is_finished(), "waits while the queue is full");
        assert_eq!(rx.recv().await.unwrap().payload, &b"1"[..]);
        waiting.await.unwrap().unwrap();
        assert_eq!(rx.recv().await.unwrap().payload, &b"2"[..]);
        assert_eq!(rx.recv().await.unwrap().payload, &b"3"[..]);
        assert_eq!(rx.try_recv(), None);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_frames_through_the_dispatcher_at_the_code_boundaries() {
    run(async {
        let (server, client, s, srv) = pair().await;
        let dispatcher = FrameDispatcher::new(&server);
        let (tx, mut got) = mpsc::unbounded_channel();
        for ty in [0x80u8, 0xff] {
            let tx = tx.clone();
            dispatcher
                .register_handler(ty, move |f| {
                    let _ = tx.send((f.frame_type, f.payload, f.peer));
                })
                .unwrap();
        }
        assert_eq!(
            dispatcher.register_handler(0x7f, |_| {}),
            Err(DispatcherError::ReservedType(0x7f))
        );
        assert_eq!(
            dispatcher.register_handler(0x80, |_| {}),
            Err(DispatcherError::AlreadyRegistered(0x80))
        );
        assert_eq!(
            s.send_custom_frame(0x7f, b"no").await,
            Err(SendFrameError::ReservedType(0x7f))
        );
        assert_eq!(
            s.send_custom_frame(0x00, b"no").await,
            Err(SendFrameError::ReservedType(0x00))
        );
        s.send_custom_frame(0x80, b"low").await.unwrap();
        s.send_custom_frame(0xff, b"high").await.unwrap();
        s.send_custom_frame(0x90, b"nobody handles me")
            .await
            .unwrap();
        let mut seen = [got.recv().await.unwrap(), got.recv().await.unwrap()];
        seen.sort();
        assert_eq!(seen[0].0, 0x80);
        assert_eq!(seen[0].1, &b"low"[..]);
        assert_eq!(seen[1].0, 0xff);
        assert_eq!(seen[1].2, Some(client.node_id()));
        // Replies go back on the session the frame came in on.
        let reply = server.session_by_handle(srv.handle()).unwrap();
        let (ctx, mut client_got) = mpsc::unbounded_channel();
        let client_dispatcher = FrameDispatcher::new(&client);
        client_dispatcher
            .register_handler(0x81, move |f| {
                let _ = ctx.send(f.payload);
            })
            .unwrap();
        reply.send_custom_frame(0x81, b"pong").await.unwrap();
        assert_eq!(client_got.recv().await.unwrap(), &b"pong"[..]);
        while dispatcher.unhandled() == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(dispatcher.handled(), 2);
        assert_eq!(dispatcher.lagged(), 0);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_subscription_reports_lag_and_never_blocks_the_driver() {
    run(async {
        let server = node(1).await;
        let client = node(2).await;
        let mut all = server.events();
        let mut tiny = server.events_with(2, None);
        let s = client.connect(server.udp_addrs()[0]).await.unwrap();
        let _srv = server.accept().await.unwrap();
        let mut rx = server.endpoint("e").unwrap();
        // Many events while `tiny` reads nothing: the session still works.
        for i in 0..50u8 {
            s.route_wait("e", vec![i]).await.unwrap();
            rx.recv().await.unwrap();
        }
        assert!(matches!(all.recv().await, Ok(Event::Connected { .. })));
        let mut messages = 0;
        while messages < 50 {
            if let Ok(Event::Endpoint { .. }) = all.recv().await {
                messages += 1;
            }
        }
        match tiny.recv().await {
            Err(RecvError::Lagged(n)) => assert!(n >= 48, "missed {n}"),
            other => panic!("expected a lag report, got {other:?}"),
        }
        assert!(tiny.recv().await.is_ok(), "goes on after the lag report");
    })
    .await
}

fn object(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_by_hash_hit_miss_and_wrong_bytes() {
    run(async {
        let (server, _client, s, _srv) = pair().await;
        let dir = std::env::temp_dir().join(format!("stt-fetch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let key = stt_tokio::StorageKey::from_node_seed(&[1; 32]).unwrap();
        let store = Arc::new(stt_tokio::FsStore::open(&dir, key, Default::default()).unwrap());
        let data = object(300_000);
        let h = store.put(&data).unwrap();
        let missing = ContentHash::of(b"not stored");
        // Serving off: "not found".
        assert_eq!(
            s.fetch(h).await,
            Err(FetchError::Failed(stt_proto::error::FetchError::NotFound))
        );
        let server_task = server.serve_storage(store.clone());
        assert_eq!(s.fetch(h).await.unwrap(), data);
        assert_eq!(
            s.fetch(missing).await,
            Err(FetchError::Failed(stt_proto::error::FetchError::NotFound))
        );
        assert_eq!(
            s.fetch_max(h, 1000).await,
            Err(FetchError::Failed(stt_proto::error::FetchError::TooLarge))
        );
        drop(server_task);
        // A peer that serves other bytes for the hash is rejected.
        let _liar = server.serve_storage_with(move |_| Some(Bytes::from(object(300_001))));
        assert_eq!(
            s.fetch(h).await,
            Err(FetchError::Failed(
                stt_proto::error::FetchError::HashMismatch
            ))
        );
        let _ = std::fs::remove_dir_all(&dir);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_live_and_freshest_first_streaming() {
    run(async {
        let (_server, _client, s, srv) = pair().await;
        let data = Bytes::from(object(200_000));
        let recv = tokio::spawn({
            let srv = srv.clone();
            async move {
                let mut r = srv.accept_uni().await.unwrap();
                let mut got = Vec::new();
                let mut saw_total = None;
                while let Some(chunk) = r.read_chunk(16 * 1024).await.unwrap() {
                    assert!(chunk.len() <= 16 * 1024, "chunks respect the segment size");
                    got.extend_from_slice(&chunk);
                    saw_total = srv.recv_progress(r.id()).map(|p| p.1).or(saw_total);
                }
                (got, saw_total)
            }
        });
        s.send_bytes(data.clone()).await.unwrap();
        let (got, total) = recv.await.unwrap();
        assert_eq!(got, data);
        assert_eq!(total, Some(Some(200_000)));
        // Live mode from a reader.
        let src = object(70_000);
        let recv = tokio::spawn({
            let srv = srv.clone();
            async move {
                srv.accept_uni()
                    .await
                    .unwrap()
                    .read_to_vec(1 << 20)
                    .await
                    .unwrap()
            }
        });
        let sent = s.send_reader(&src[..], None, 4096).await.unwrap();
        assert_eq!(sent, 70_000);
        assert_eq!(recv.await.unwrap(), src);
        // A source shorter than announced never looks complete to the receiver.
        let recv = tokio::spawn({
            let srv = srv.clone();
            async move { srv.accept_uni().await.unwrap().read_to_vec(1 << 20).await }
        });
        assert!(matches!(
            s.send_reader(&src[..1000], Some(5000), 4096).await,
            Err(SendError::LengthMismatch {
                announced: 5000,
                got: 1000
            })
        ));
        assert!(recv.await.unwrap().is_err(), "the receiver sees a reset");
        // Live segments arrive in order with their sequence numbers.
        let mut live = s.live_sender(Duration::from_secs(2));
        let mut rx = srv.live_receiver(64 * 1024);
        for i in 0..10u8 {
            assert_eq!(
                live.send_segment(Bytes::from(vec![i; 5000])).await.unwrap(),
                i as u64
            );
        }
        for i in 0..10u8 {
            let seg = rx.next_segment().await.unwrap();
            assert_eq!((seg.seq, seg.data[0], seg.data.len()), (i as u64, i, 5000));
        }
        assert_eq!(rx.skipped(), 0);
    })
    .await
}
