//! Codec tests that need the crate's internals: regressions for bugs found by review
//! and property testing. Each bug fix adds its case to `regressions` so it cannot come
//! back. The golden vectors of docs/PROTOCOL.md and the proptests, which need only the
//! public codec and the oracles of `stt-testkit`, are `tests/codec_golden.rs` and
//! `tests/codec_props.rs`.

mod regressions;
