//! Video frames over live mode, freshest first.
//!
//! A camera node sends 30 frames per second for one second; each frame is one live
//! segment with a 150 ms deadline: a frame not delivered by then is dropped rather
//! than delaying the frames after it. The viewer prints what arrives and how many
//! frames were dropped. Both nodes run in this process over loopback UDP.
//!
//! Run: `cargo run -p stt-tokio --example live_video`

use std::time::{Duration, Instant};

use bytes::Bytes;
use stt_tokio::{Identity, NetworkKey, Node};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network = NetworkKey::from_shared_seed(b"example network seed of 32 bytes")?;
    let viewer = Node::builder(Identity::from_node_seed(&[1; 32])?, network.clone())
        .bind_udp("127.0.0.1:0".parse()?)
        .build()
        .await?;
    let camera = Node::builder(Identity::from_node_seed(&[2; 32])?, network)
        .bind_udp("127.0.0.1:0".parse()?)
        .build()
        .await?;

    let watch = tokio::spawn({
        let viewer = viewer.clone();
        async move {
            let session = viewer.accept().await.ok_or("viewer: no session")?;
            let mut frames = session.live_receiver(256 * 1024);
            let mut bytes = 0;
            for _ in 0..30 {
                let frame = frames.next_segment().await?;
                bytes += frame.data.len();
                if frame.seq % 10 == 0 {
                    println!(
                        "viewer: frame {:>2}, {:>6} bytes",
                        frame.seq,
                        frame.data.len()
                    );
                }
            }
            println!(
                "viewer: {bytes} bytes in 30 frames, {} dropped at their deadline",
                frames.skipped()
            );
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
        }
    });

    let session = camera.connect(viewer.udp_addrs()[0]).await?;
    let mut live = session.live_sender(Duration::from_millis(150));
    let start = Instant::now();
    for n in 0..30u64 {
        // A key frame every 10 frames, smaller delta frames between.
        let size = if n % 10 == 0 { 120_000 } else { 12_000 };
        live.send_segment(Bytes::from(vec![n as u8; size])).await?;
        let next = start + Duration::from_millis(33 * (n + 1));
        tokio::time::sleep_until(next.into()).await;
    }
    watch.await?.map_err(|e| e.to_string())?;
    camera.shutdown(0, b"done", Duration::from_secs(1)).await;
    viewer.shutdown(0, b"done", Duration::from_secs(1)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        super::main().expect("example runs");
    }
}
