//! Runtime-independent bookkeeping shared by the async adapters (`stt-tokio`, later
//! `stt-smol`): the PathId ⇄ address table, event → waker dispatch, per-handle state,
//! the adapters' typed errors and the JSON-lines event trace.
//!
//! Plain `std` and `core::task::Waker` only: no IO, no runtime, no protocol decisions.

pub mod apps;
pub mod bus;
pub mod dispatch;
pub mod error;
pub mod paths;
pub mod trace;

pub use apps::{AppWaiters, Pending, ServeRequest};
pub use bus::{DEFAULT_SUBSCRIBER_CAPACITY, EventBus, EventFilter, Lagged, SubscriberId};
pub use dispatch::{Dispatch, SessionState, StreamState};
pub use error::{ConnectionError, SendDatagramError, StreamIoError, TlsError};
pub use paths::PathTable;
