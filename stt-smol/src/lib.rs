//! STT on smol / async-io: drives one `stt_proto` node per [`Node`] over UDP (quinn-udp
//! on `async_io::Async<UdpSocket>`: GSO, GRO, batched IO) and WebSocket
//! (async-tungstenite), with streams as `futures-io`'s `AsyncRead`/`AsyncWrite`. The
//! same node, sessions and driver loop as `stt-tokio` (they are `stt-adapter`'s); this
//! crate is only [`Smol`], the runtime seam. No tokio anywhere in its dependency tree.
//!
//! The driver and WebSocket tasks run on smol's global executor (`smol::spawn`), so
//! handles can be used from any executor, e.g. `smol::block_on`.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use smol::io::AsyncWriteExt;
//! use stt_smol::{Identity, NetworkKey, Node};
//! let network = NetworkKey::from_shared_seed(&[7u8; 32])?;
//! let node = Node::builder(Identity::from_node_seed(&[1u8; 32])?, network)
//!     .bind_udp("127.0.0.1:0".parse()?)
//!     .build()
//!     .await?;
//! let session = node.connect("127.0.0.1:4433".parse()?).await?;
//! let mut stream = session.open_uni().await?;
//! stream.write_all(b"hello").await?;
//! stream.close().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod runtime;
mod udp;
mod ws;

pub use runtime::{Smol, SmolTimer};
pub use stt_adapter::{
    AllowList, BindError, ConnectionError, DEFAULT_MAX_WS_MESSAGE, DEFAULT_SOCKET_BUFFER, Identity,
    NetworkKey, NodeConfig, NodeId, NodeStats, RecvStream, SendDatagramError, SendStream,
    SessionStats, StreamIoError,
};
pub use stt_adapter::{
    ContentHash, CustomFrame, DEFAULT_ENDPOINT_QUEUE, DEFAULT_SEGMENT_SIZE, DispatcherError,
    EndpointError, EndpointId, EndpointMessage, EndpointReceiver, Event, EventStream, FetchError,
    FrameDispatcher, FsStore, FsStoreError, RecvError, ResolveError, RouteError, RouteMode,
    SOURCE_FAILED, Segment, SendError, SendFrameError, StorageKey, StorageServer, StoreLimits,
};
pub use udp::SmolUdp;

/// One STT node on smol: an identity, its sockets and its sessions. Cheap to clone.
pub type Node = stt_adapter::Node<Smol>;
/// How to build a [`Node`].
pub type Builder = stt_adapter::Builder<Smol>;
/// An established session with one peer. Cheap to clone.
pub type Session = stt_adapter::Session<Smol>;
/// Sends live segments, freshest first (docs/PRIMITIVES.md §5).
pub type LiveSender = stt_adapter::LiveSender<Smol>;
/// Receives live segments in order, skipping those dropped at their deadline.
pub type LiveReceiver = stt_adapter::LiveReceiver<Smol>;
