//! The runtime-generic half of STT's async adapters (`stt-tokio`, `stt-smol`): the
//! node handle and its builder, sessions, stream halves, the driver loop (UDP via
//! quinn-udp, WebSocket via tungstenite messages), shutdown and the event trace, once;
//! and the faces of the application primitives (docs/PRIMITIVES.md): event
//! subscriptions, named endpoints, custom frames and their dispatcher, the file-system
//! store with serving and fetch by hash, and the streaming helpers.
//!
//! A runtime plugs in through [`Runtime`]: spawning, sleeping, registering sockets with
//! its reactor, one timer, and WebSocket accept/dial with its tungstenite binding. An
//! adapter crate is that implementation plus type aliases (`Node = Node<Tokio>`) and,
//! where its users expect other IO traits than `futures-io`'s, stream wrappers.
//!
//! Everything here waits on wakers only, so handle futures run on any executor. Every
//! protocol decision lives in `stt-proto`; the runtime-free table-keeping (paths,
//! waker dispatch, event bus) is in `state`, the trace format in `stt-trace`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod access;
mod dispatcher;
mod driver;
mod endpoint;
mod error;
mod events;
mod fs_store;
mod node;
mod packet_pool;
mod rejections;
mod rendezvous;
mod runtime;
mod send_batch;
mod session;
mod shared;
mod state;
mod storage;
mod stream;
mod streaming;
pub mod tls;
mod trace_log;
mod udp;
pub mod ws;

pub use dispatcher::{CustomFrame, DispatcherError, FrameDispatcher, SendFrameError};
pub use endpoint::{DEFAULT_ENDPOINT_QUEUE, EndpointReceiver, ResolveError, RouteError};
pub use error::{ConnectionError, SendDatagramError, StreamIoError, TlsError};
pub use events::{EventStream, RecvError};
pub use fs_store::{FsStore, FsStoreError};
pub use node::{BindError, Builder, DEFAULT_MAX_WS_MESSAGE, DEFAULT_SOCKET_BUFFER, Node};
pub use quinn_udp::UdpSockRef;
pub use runtime::{DriverTimer, Runtime, UdpPoller};
/// rustls' certificate and key types, for [`WssIdentity::from_der`] and [`WssTrust::from_der`].
pub use rustls::pki_types;
pub use session::Session;
pub use shared::Shared;
pub use state::paths::{DEFAULT_IDLE_PATHS, PathTable};
pub use storage::{FetchError, StorageServer};
pub use stream::{RecvStream, SendStream};
pub use streaming::{
    DEFAULT_SEGMENT_SIZE, LiveReceiver, LiveSender, SOURCE_FAILED, Segment, SendError,
};
pub use stt_proto::SessionStats;
pub use stt_proto::config::NodeConfig;
pub use stt_proto::error::EndpointError;
pub use stt_proto::storage::{ContentHash, StorageKey, StoreLimits};
pub use stt_proto::{AllowList, Identity, NetworkKey, NodeId, NodeStats};
pub use stt_proto::{EndpointId, EndpointMessage, Event, RouteMode};
pub use tls::{TlsConfigError, WssIdentity, WssTrust};
pub use tungstenite;
