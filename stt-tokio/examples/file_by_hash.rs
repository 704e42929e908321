//! A file fetched by hash.
//!
//! An archive node stores a file in its encrypted, content-addressed store on disk
//! (key derived from its node seed) and serves it. A client that knows only the
//! file's SHA3-256 hash fetches it; the bytes are verified against the hash before
//! they are returned. A hash nobody stored is "not found".
//!
//! Run: `cargo run -p stt-tokio --example file_by_hash`

use std::sync::Arc;
use std::time::Duration;

use stt_tokio::{ContentHash, FetchError, FsStore, Identity, NetworkKey, Node, StorageKey};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let network = NetworkKey::from_shared_seed(b"example network seed of 32 bytes")?;
    let archive_seed = [1u8; 32];
    let archive = Node::builder(Identity::from_node_seed(&archive_seed)?, network.clone())
        .bind_udp("127.0.0.1:0".parse()?)
        .build()
        .await?;
    let client = Node::builder(Identity::from_node_seed(&[2; 32])?, network)
        .bind_udp("127.0.0.1:0".parse()?)
        .build()
        .await?;

    let dir = std::env::temp_dir().join(format!("stt-example-store-{}", std::process::id()));
    let store = Arc::new(FsStore::open(
        &dir,
        StorageKey::from_node_seed(&archive_seed)?,
        Default::default(),
    )?);
    let file: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let hash = tokio::task::spawn_blocking({
        let (store, file) = (store.clone(), file.clone());
        move || store.put(&file)
    })
    .await??;
    println!("archive: stored {} bytes as {hash}", file.len());
    println!("archive: on disk at {}", store.path(&hash).display());
    let _serving = archive.serve_storage(store.clone());

    let session = client.connect(archive.udp_addrs()[0]).await?;
    let started = std::time::Instant::now();
    let got = session.fetch(hash).await?;
    println!(
        "client: fetched {} bytes in {:?}, hash verified: {}",
        got.len(),
        started.elapsed(),
        ContentHash::of(&got) == hash
    );
    assert_eq!(got, file);
    match session.fetch(ContentHash::of(b"never stored")).await {
        Err(FetchError::Failed(e)) => println!("client: unknown hash: {e}"),
        other => return Err(format!("unexpected {other:?}").into()),
    }
    client.shutdown(0, b"done", Duration::from_secs(1)).await;
    archive.shutdown(0, b"done", Duration::from_secs(1)).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn runs() {
        super::main().expect("example runs");
    }
}
