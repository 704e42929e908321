//! STT on tokio: drives one `stt_proto` node per [`Node`] over UDP (quinn-udp: GSO,
//! GRO, batched IO) and WebSocket (tokio-tungstenite), with streams as
//! `AsyncRead`/`AsyncWrite`. The adapter is thin: sockets, one timer, wakers; every
//! protocol decision lives in `stt-proto`, and the runtime-independent bookkeeping in
//! `stt_proto::driver`.
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

mod access;
mod dispatcher;
mod driver;
mod endpoint;
mod events;
mod fs_store;
mod node;
pub mod seed;
mod session;
mod shared;
mod storage;
mod streaming;
mod udp;
mod ws;

pub use dispatcher::{CustomFrame, DispatcherError, FrameDispatcher, SendFrameError};
pub use endpoint::{DEFAULT_ENDPOINT_QUEUE, EndpointReceiver, ResolveError, RouteError};
pub use events::{EventStream, RecvError};
pub use fs_store::{FsStore, FsStoreError};
pub use node::{BindError, Builder, DEFAULT_MAX_WS_MESSAGE, DEFAULT_SOCKET_BUFFER, Node};
pub use session::{RecvStream, SendStream, Session};
pub use storage::{FetchError, StorageServer};
pub use streaming::{
    DEFAULT_SEGMENT_SIZE, LiveReceiver, LiveSender, SOURCE_FAILED, Segment, SendError,
};
pub use stt_proto::config::NodeConfig;
pub use stt_proto::driver::{ConnectionError, SendDatagramError, StreamIoError};
pub use stt_proto::error::EndpointError;
pub use stt_proto::session::SessionStats;
pub use stt_proto::storage::{ContentHash, StorageKey, StoreLimits};
pub use stt_proto::{EndpointId, EndpointMessage, Event, RouteMode};
pub use stt_proto::{Identity, NetworkKey, NodeId, NodeStats};
