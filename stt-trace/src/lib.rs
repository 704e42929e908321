//! Reads the JSON-lines traces STT writes (`stt send --trace`, the adapters'
//! `trace_dir`/`trace_file`, `stt-sim --trace`; schema in docs/ARCHITECTURE.md
//! "Traces") and turns them into what a person debugging a transfer wants: a
//! per-session [`summary`], a [`qlog`] file for existing QUIC tooling (qvis), and an
//! SVG [`plot`] of sequence, window and RTT on one time axis.
//!
//! This crate only reads traces; it knows nothing of sockets or of the protocol's
//! state machines, and never changes a trace.

pub mod model;
pub mod plot;
pub mod qlog;
pub mod summary;

pub use model::{Trace, TraceError};
