//! # stt-testkit: test support for STT (never published; never a dependency of a build
//! that ships)
//!
//! Owns the fuzz oracles (each feeds untrusted input to the protocol and panics on a
//! broken invariant), the entry points the cargo-fuzz targets and the corpus replay
//! tests call, the storage oracle's seed corpus, the in-memory network the engine
//! oracles run on, and [`pair`], the two-node harness of stt-proto's integration tests.
//! It drives `stt-proto` through its public API and, where that cannot reach, through
//! `stt_proto::test_hooks` (so it enables stt-proto's test-only `test-hooks` feature,
//! refused in release builds). It must be a dependency only of tests and fuzz targets.

#![warn(missing_docs)]

extern crate alloc;

mod codec;
mod handshake;
pub mod pair;
mod reassembly;
mod rendezvous;
mod session;
mod storage;
mod world;

pub use codec::{
    check_bodies, check_challenge, check_cookie, check_frame, check_frames, check_init,
    check_reset, check_response, check_version, frame_decode, golden_blocks,
};
pub use handshake::{handshake_initiator, handshake_responder};
pub use reassembly::stream_reassembly;
pub use rendezvous::{RelayWorld, rendezvous_relay};
pub use session::{EstablishedPair, session_established};
pub use storage::{StorageStats, storage_read, storage_read_seeds, storage_read_stats};
