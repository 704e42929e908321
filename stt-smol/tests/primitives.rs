//! The application primitives work on smol too (they are `stt-adapter`'s): a routed
//! message into a full queue that waits for room, a custom frame through the
//! dispatcher, a fetch by hash and live segments, over loopback UDP.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use smol::future::FutureExt;
use stt_smol::{ContentHash, FetchError, FrameDispatcher, Identity, NetworkKey, Node, RouteError};

async fn node(tag: u8) -> Node {
    Node::builder(
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
    )
    .bind_udp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
    .build()
    .await
    .unwrap()
}

#[test]
fn endpoints_custom_frames_fetch_and_live_segments_on_smol() {
    smol::block_on(
        async {
            let server = node(1).await;
            let client = node(2).await;
            let s = client.connect(server.udp_addrs()[0]).await.unwrap();
            let srv = server.accept().await.unwrap();

            let mut rx = server.endpoint_with_capacity("q", 1).unwrap();
            s.route("q", &b"one"[..]).await.unwrap();
            assert_eq!(s.route("q", &b"two"[..]).await, Err(RouteError::QueueFull));
            let waiting = smol::spawn({
                let s = s.clone();
                async move { s.route_wait("q", &b"two"[..]).await }
            });
            assert_eq!(rx.recv().await.unwrap().payload, &b"one"[..]);
            waiting.await.unwrap();
            assert_eq!(rx.recv().await.unwrap().payload, &b"two"[..]);

            let dispatcher = FrameDispatcher::new(&server);
            let (tx, got) = smol::channel::unbounded();
            dispatcher
                .register_handler(0xff, move |f| {
                    let _ = tx.try_send(f.payload);
                })
                .unwrap();
            s.send_custom_frame(0xff, b"frame").await.unwrap();
            assert_eq!(got.recv().await.unwrap(), &b"frame"[..]);

            let data = Bytes::from(vec![9u8; 100_000]);
            let hash = ContentHash::of(&data);
            let _serving = server.serve_storage_with(move |h| (h == hash).then(|| data.clone()));
            assert_eq!(s.fetch(hash).await.unwrap().len(), 100_000);
            assert_eq!(
                s.fetch(ContentHash::of(b"missing")).await,
                Err(FetchError::Failed(stt_proto::error::FetchError::NotFound))
            );

            let mut live = s.live_sender(Duration::from_secs(2));
            let mut frames = srv.live_receiver(1 << 16);
            for i in 0..3u8 {
                live.send_segment(Bytes::from(vec![i; 1000])).await.unwrap();
            }
            for i in 0..3u64 {
                assert_eq!(frames.next_segment().await.unwrap().seq, i);
            }
        }
        .or(async {
            smol::Timer::after(Duration::from_secs(30)).await;
            panic!("test timed out");
        }),
    )
}
