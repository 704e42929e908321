//! Codec tests that need the crate's internals: regressions for bugs found by review
//! and property testing, the golden vectors of docs/PROTOCOL.md, and proptests.
//! Each bug fix adds its case to `regressions` so it cannot come back.

mod golden;
mod props;
mod regressions;
