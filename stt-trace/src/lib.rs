//! STT's JSON-lines trace format, both ways (schema in docs/ARCHITECTURE.md "Traces").
//! [`write`](mod@write) turns the core's events and metric records into lines, for the adapters'
//! `trace_dir`/`trace_file` (`stt send --trace`) and `stt-sim --trace`; the rest reads
//! them into what a person debugging a transfer wants: a per-session [`summary`], a
//! [`qlog`] file for existing QUIC tooling (qvis), and, with the default `plot`
//! feature, an SVG `plot` of sequence, window and RTT on one time axis.
//!
//! This crate knows nothing of sockets or of the protocol's state machines: it formats
//! what `stt-proto` reports, and never changes a trace it reads.

pub mod model;
#[cfg(feature = "plot")]
pub mod plot;
pub mod qlog;
pub mod summary;
pub mod write;

pub use model::{SCHEMA_VERSION, Trace, TraceError};
pub use write::{event_json, event_json_for, header_json, metric_json};
