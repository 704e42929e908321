//! STT on tokio: drives one `stt_proto` node per [`Node`] over UDP (quinn-udp: GSO,
//! GRO, batched IO) and WebSocket (tokio-tungstenite; `wss://` with tokio-rustls), with streams as tokio's
//! `AsyncRead`/`AsyncWrite`. The adapter is thin: [`Tokio`] implements
//! `stt_adapter::Runtime` (spawning, timers, socket readiness, WebSocket accept and
//! dial); the node, sessions and driver loop are `stt-adapter`'s, every protocol
//! decision is `stt-proto`'s. This crate is a library only: the `stt` command is the
//! `stt-cli` crate, so none of its dependencies reach a user of this one.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use stt_tokio::{Identity, NetworkKey, Node};
//! let network = NetworkKey::from_shared_seed(&[7u8; 32])?;
//! let node = Node::builder(Identity::from_node_seed(&[1u8; 32])?, network)
//!     .bind_udp("127.0.0.1:0".parse()?)
//!     .build()
//!     .await?;
//! let session = node.connect("127.0.0.1:4433".parse()?).await?;
//! let mut stream = session.open_uni().await?;
//! stream.write_all(b"hello").await?;
//! stream.finished().await?;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod compat;
mod runtime;
mod stream;
mod udp;
mod ws;

pub use compat::{CompatReader, compat_reader};
pub use runtime::{Tokio, TokioTimer};
pub use stream::{RecvStream, SendStream};
pub use stt_adapter::{
    AllowList, BindError, ConnectionError, DEFAULT_MAX_WS_MESSAGE, DEFAULT_SOCKET_BUFFER, Identity,
    NetworkKey, NodeConfig, NodeId, NodeStats, SendDatagramError, SessionStats, StreamIoError,
    TlsConfigError, TlsError, WssIdentity, WssTrust, pki_types,
};
pub use stt_adapter::{
    ContentHash, CustomFrame, DEFAULT_ENDPOINT_QUEUE, DEFAULT_SEGMENT_SIZE, DispatcherError,
    EndpointError, EndpointId, EndpointMessage, EndpointReceiver, Event, EventStream, FetchError,
    FrameDispatcher, FsStore, FsStoreError, RecvError, ResolveError, RouteError, RouteMode,
    SOURCE_FAILED, Segment, SendError, SendFrameError, StorageKey, StorageServer, StoreLimits,
};
pub use udp::TokioUdp;

/// One STT node on tokio: an identity, its sockets and its sessions. Cheap to clone.
pub type Node = stt_adapter::Node<Tokio>;
/// How to build a [`Node`]; `build` must run inside a tokio runtime.
pub type Builder = stt_adapter::Builder<Tokio>;
/// An established session with one peer. Cheap to clone.
pub type Session = stt_adapter::Session<Tokio>;
/// Sends live segments, freshest first (docs/PRIMITIVES.md §5).
pub type LiveSender = stt_adapter::LiveSender<Tokio>;
/// Receives live segments in order, skipping those dropped at their deadline.
pub type LiveReceiver = stt_adapter::LiveReceiver<Tokio>;
