//! A custom frame protocol.
//!
//! Two frame types of the application range 0x80–0xFF make a tiny protocol: 0x80 PING
//! carries a counter, 0x81 PONG echoes it. Each node registers one handler per type;
//! handlers reply on the session the frame came in on. Types below 0x80 belong to STT
//! and are refused.
//!
//! Run: `cargo run -p stt-tokio --example custom_frames`

use std::time::Duration;

use stt_tokio::{FrameDispatcher, Identity, NetworkKey, Node, SendFrameError};
use tokio::sync::mpsc;

const PING: u8 = 0x80;
const PONG: u8 = 0x81;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network = NetworkKey::from_shared_seed(b"example network seed of 32 bytes")?;
    let server = Node::builder(Identity::from_node_seed(&[1; 32])?, network.clone())
        .bind_udp("127.0.0.1:0".parse()?)
        .build()
        .await?;
    let client = Node::builder(Identity::from_node_seed(&[2; 32])?, network)
        .bind_udp("127.0.0.1:0".parse()?)
        .build()
        .await?;

    // Server: answer every PING with a PONG carrying the same counter.
    let server_frames = FrameDispatcher::new(&server);
    let (ping_tx, mut pings) = mpsc::unbounded_channel();
    server_frames.register_handler(PING, move |frame| {
        // Handlers must not block: hand the work to a task.
        let _ = ping_tx.send(frame);
    })?;
    let answer = tokio::spawn({
        let server = server.clone();
        async move {
            let _session = server.accept().await;
            while let Some(ping) = pings.recv().await {
                if let Some(session) = server.session_by_handle(ping.session) {
                    let _ = session.send_custom_frame(PONG, &ping.payload).await;
                }
            }
        }
    });

    // Client: count PONGs.
    let client_frames = FrameDispatcher::new(&client);
    let (pong_tx, mut pongs) = mpsc::unbounded_channel();
    client_frames.register_handler(PONG, move |frame| {
        let _ = pong_tx.send(u32::from_be_bytes(
            frame.payload[..4].try_into().unwrap_or([0; 4]),
        ));
    })?;

    let session = client.connect(server.udp_addrs()[0]).await?;
    for n in 0..5u32 {
        session.send_custom_frame(PING, &n.to_be_bytes()).await?;
        let echoed = pongs.recv().await.ok_or("no pong")?;
        println!("client: PING {n} -> PONG {echoed}");
        assert_eq!(echoed, n);
    }
    match session.send_custom_frame(0x7f, b"not mine").await {
        Err(SendFrameError::ReservedType(t)) => {
            println!("client: type {t:#04x} refused: reserved for STT")
        }
        other => return Err(format!("unexpected {other:?}").into()),
    }
    println!(
        "server dispatcher: {} handled, {} unhandled, {} lagged",
        server_frames.handled(),
        server_frames.unhandled(),
        server_frames.lagged()
    );
    client.shutdown(0, b"done", Duration::from_secs(1)).await;
    server.shutdown(0, b"done", Duration::from_secs(1)).await;
    answer.abort();
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        super::main().expect("example runs");
    }
}
