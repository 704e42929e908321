//! The runtime-generic half of STT's async adapters (`stt-tokio`, `stt-smol`): the
//! node handle and its builder, sessions, stream halves, the driver loop (UDP via
//! quinn-udp, WebSocket via tungstenite messages), shutdown and the event trace, once.
//!
//! A runtime plugs in through [`Runtime`]: spawning, sleeping, registering sockets with
//! its reactor, one timer, and WebSocket accept/dial with its tungstenite binding. An
//! adapter crate is that implementation plus type aliases (`Node = Node<Tokio>`) and,
//! where its users expect other IO traits than `futures-io`'s, stream wrappers.
//!
//! Everything here waits on wakers only, so handle futures run on any executor. Every
//! protocol decision lives in `stt-proto`, and the table-keeping in `stt_proto::driver`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod driver;
mod node;
mod runtime;
mod session;
mod shared;
mod stream;
mod udp;
pub mod ws;

pub use node::{BindError, Builder, DEFAULT_MAX_WS_MESSAGE, DEFAULT_SOCKET_BUFFER, Node};
pub use quinn_udp::UdpSockRef;
pub use runtime::{DriverTimer, Runtime, UdpPoller};
pub use session::Session;
pub use shared::Shared;
pub use stream::{RecvStream, SendStream};
pub use stt_proto::config::NodeConfig;
pub use stt_proto::driver::{ConnectionError, SendDatagramError, StreamIoError};
pub use stt_proto::session::SessionStats;
pub use stt_proto::{Identity, NetworkKey, NodeId, NodeStats};
pub use tungstenite;
