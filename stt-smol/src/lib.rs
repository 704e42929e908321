//! STT on smol / async-io: the same thin adapter as `stt-tokio`, without tokio.
//!
//! Status: skeleton. The smol adapter issue fills this crate with `stt_smol::Node`
//! built on `async-io`. Shared driver logic lives in `stt-proto`, not here.
#![forbid(unsafe_code)]
