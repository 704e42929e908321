//! The two async adapters behind one face for tests and benches: stream IO through
//! each adapter's own traits (tokio's `AsyncRead`/`AsyncWrite` for stt-tokio,
//! futures-io's for stt-smol), and a node builder per runtime, so an exchange can be
//! written once, generic over `stt_adapter::Runtime`.
// Test-only traits: no caller needs `Send` bounds on these futures.
#![allow(async_fn_in_trait)]

use std::io;
use std::net::SocketAddr;

use stt_adapter::{Node, Runtime};
use stt_proto::{Identity, NetworkKey};

/// Stream writing through the adapter's own `AsyncWrite`.
pub trait Writer {
    /// Writes all of `data`.
    async fn put(&mut self, data: &[u8]) -> io::Result<()>;
    /// Finishes the stream and waits for the peer's acknowledgement.
    async fn fin(&mut self) -> io::Result<()>;
    /// Resets the stream with `code`.
    fn abandon(&mut self, code: u64);
}

/// Stream reading through the adapter's own `AsyncRead`.
pub trait Reader {
    /// Reads some bytes; 0 at the end of the stream.
    async fn get(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

impl Writer for stt_tokio::SendStream {
    async fn put(&mut self, data: &[u8]) -> io::Result<()> {
        tokio::io::AsyncWriteExt::write_all(self, data).await
    }
    async fn fin(&mut self) -> io::Result<()> {
        tokio::io::AsyncWriteExt::shutdown(self).await
    }
    fn abandon(&mut self, code: u64) {
        self.reset(code);
    }
}

impl Reader for stt_tokio::RecvStream {
    async fn get(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        tokio::io::AsyncReadExt::read(self, buf).await
    }
}

impl Writer for stt_smol::SendStream {
    async fn put(&mut self, data: &[u8]) -> io::Result<()> {
        smol::io::AsyncWriteExt::write_all(self, data).await
    }
    async fn fin(&mut self) -> io::Result<()> {
        smol::io::AsyncWriteExt::close(self).await
    }
    fn abandon(&mut self, code: u64) {
        self.reset(code);
    }
}

impl Reader for stt_smol::RecvStream {
    async fn get(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        smol::io::AsyncReadExt::read(self, buf).await
    }
}

/// The node keys of test node `tag` on the shared test network.
pub fn keys(tag: u8) -> (Identity, NetworkKey) {
    (
        Identity::from_node_seed(&[tag; 32]).expect("seed long enough"),
        NetworkKey::from_shared_seed(&[9; 32]).expect("seed long enough"),
    )
}

/// A node `tag` on runtime `R` with one UDP socket on `addr`.
pub async fn udp_node<R: Runtime>(tag: u8, addr: SocketAddr) -> Node<R> {
    let (identity, network) = keys(tag);
    Node::builder(identity, network)
        .bind_udp(addr)
        .build()
        .await
        .expect("node binds")
}

/// A 2-worker tokio runtime, as the adapters' tests use.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}
