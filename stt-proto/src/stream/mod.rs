//! Stream data: what one stream sends and receives, independent of packets.
//!
//! [`SendBuffer`] holds written bytes until acknowledged and picks what to (re)send;
//! [`RecvBuffer`] reassembles incoming pieces for in-order reading. Neither knows about
//! sessions, packets or timers; flow control and scheduling live beside them.

mod recv;
mod send;

pub use recv::RecvBuffer;
#[cfg(any(test, feature = "test-hooks"))]
pub use recv::RecvError;
pub use send::{Chunk, SendBuffer};
