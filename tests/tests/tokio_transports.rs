//! stt-tokio transports over loopback: WebSocket sessions, garbage on the WebSocket
//! listener not harming a live session, a client whose UDP port changes mid-transfer
//! (socket rebound) keeping its session, and a session moving from UDP to WebSocket
//! mid-transfer with its data intact. Every test is bounded by a timeout; the shared
//! scaffolding is `stt_tests::loopback`.

use std::time::Duration;

use stt_tests::loopback::{client, lo, receiver, server, transfer_in_halves, within, ws_client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_session_and_garbage() {
    within(async {
        let server = server().await;
        let ws = server.ws_addrs()[0];
        let rx = receiver(&server);
        let client = ws_client().await;
        let s = client.connect_ws(&format!("ws://{ws}/")).await.unwrap();
        assert_eq!(s.peer(), server.node_id());
        // Handshake garbage on the same listener: closed, nothing else harmed.
        let mut raw = tokio::net::TcpStream::connect(ws).await.unwrap();
        raw.write_all(b"GARBAGE / NOT-HTTP\r\n\r\n\x00\x01")
            .await
            .unwrap();
        let mut sink = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), raw.read_to_end(&mut sink)).await;
        transfer_in_halves(&s, rx, || async {}).await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_text_and_oversized_messages_are_rejected() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    within(async {
        let server = server().await;
        let ws = server.ws_addrs()[0];
        let (mut bad, _) = tokio_tungstenite::connect_async(format!("ws://{ws}/"))
            .await
            .unwrap();
        bad.send(Message::Text("hello".into())).await.unwrap();
        let (mut big, _) = tokio_tungstenite::connect_async(format!("ws://{ws}/"))
            .await
            .unwrap();
        let _ = big.send(Message::Binary(vec![0u8; 1 << 20].into())).await;
        // A real session over the same listener still works.
        let rx = receiver(&server);
        let client = ws_client().await;
        let s = client.connect_ws(&format!("ws://{ws}/")).await.unwrap();
        let mut w = s.open_uni().await.unwrap();
        w.write_all(b"still fine").await.unwrap();
        w.shutdown().await.unwrap();
        assert_eq!(rx.await.unwrap().0, 10);
        assert_eq!(server.stats().sessions_accepted, 1);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_rebind_keeps_the_session() {
    within(async {
        let server = server().await;
        let rx = receiver(&server);
        let client = client().await;
        let s = client.connect(server.udp_addrs()[0]).await.unwrap();
        let old = client.udp_addrs()[0];
        let c2 = client.clone();
        transfer_in_halves(&s, rx, || async move {
            let new = c2.rebind_udp(old, lo()).await.unwrap();
            assert_ne!(new.port(), old.port());
        })
        .await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_to_websocket_migration_keeps_data_intact() {
    within(async {
        let server = server().await;
        let ws = server.ws_addrs()[0];
        let rx = receiver(&server);
        let client = client().await;
        let s = client.connect(server.udp_addrs()[0]).await.unwrap();
        let (c2, s2) = (client.clone(), s.clone());
        transfer_in_halves(&s, rx, || async move {
            c2.migrate_ws(&s2, &format!("ws://{ws}/")).await.unwrap();
        })
        .await;
        // The same session carried the data across the move and stays on the
        // WebSocket: server packets still in flight on UDP (newer packet numbers) do
        // not pull it back.
        assert_eq!(server.stats().sessions_accepted, 1, "no second session");
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(s.remote_udp_addr(), None, "session back on UDP");
    })
    .await;
}
