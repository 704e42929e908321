//! # stt-proto: the STT protocol as a pure state machine
//!
//! STT moves encrypted, ordered, multiplexed bytes between peers that hold pre-shared
//! seeds. This crate is the whole protocol and nothing else: it never opens a socket,
//! never reads a clock, never spawns a thread and never asks the operating system for
//! randomness. Datagrams, timer expiries and application calls go in; datagrams to
//! send, the next deadline and application events come out. The adapters
//! (`stt-tokio`, `stt-smol`) and the simulator (`stt-sim`) own all IO.
//!
//! The wire format is specified in `docs/PROTOCOL.md`; [`frame`] is its codec.
//!
//! With `default-features = false` the crate is `#![no_std]` and needs only `alloc`.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod frame;
#[cfg(any(test, feature = "fuzzing"))]
pub mod fuzzing;
pub mod time;

pub use time::Instant;
