//! Deterministic network simulator for STT.
//!
//! Status: skeleton. The simulator issue fills this crate with a virtual clock, one
//! seeded RNG, link models (loss, delay, reordering, duplication, corruption,
//! bandwidth, MTU, partitions) and invariant checkers that drive real `stt-proto`
//! nodes. It depends on `stt-proto` alone: no async runtime, no wall clock.
#![forbid(unsafe_code)]
