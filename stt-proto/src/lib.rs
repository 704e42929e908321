//! # stt-proto: the STT protocol as a pure state machine
//!
//! STT moves encrypted, ordered, multiplexed bytes between peers that hold pre-shared
//! seeds. This crate is the whole protocol and nothing else: it never opens a socket,
//! never reads a clock, never spawns a thread and never asks the operating system for
//! randomness. Datagrams, timer expiries and application calls go in; datagrams to
//! send, the next deadline and application events come out. The adapters
//! (`stt-tokio`, `stt-smol`) and the simulator (`stt-sim`) own all IO.
//!
//! ## The event loop
//!
//! A [`Node`] owns every session of one identity. Drive it like this (here two nodes
//! talk through an in-memory "network"; a real program reads and writes a socket
//! where this one pushes to the other node, and sleeps until `poll_timeout`):
//!
//! ```
//! use std::sync::Arc;
//! use bytes::BytesMut;
//! use stt_proto::config::NodeConfig;
//! use stt_proto::frame::Dir;
//! use stt_proto::{Identity, NetworkKey};
//! use stt_proto::{Event, Instant, Node, PathId};
//!
//! let network = NetworkKey::from_shared_seed(&[42u8; 32]).unwrap();
//! let config = Arc::new(NodeConfig::default());
//! let mut alice = Node::new(config.clone(), Identity::from_node_seed(&[1u8; 32]).unwrap(),
//!     network.clone(), [11u8; 32]).unwrap();
//! let mut bob = Node::new(config, Identity::from_node_seed(&[2u8; 32]).unwrap(),
//!     network, [22u8; 32]).unwrap();
//!
//! let mut now = Instant::from_micros(0);
//! // Alice reaches Bob on the path she calls 1; Bob sees Alice on the path he calls 1.
//! let session = alice.connect(now, PathId(1)).unwrap();
//! let mut stream = None;
//! let mut received = Vec::new();
//! let mut buf = vec![0u8; 65536];
//! for _ in 0..200 {
//!     // 1. Send what each node has to send (here: hand it to the other node).
//!     while let Some(t) = alice.poll_transmit(now, &mut buf) {
//!         bob.handle_datagram(now, PathId(1), BytesMut::from(&buf[..t.len]));
//!     }
//!     while let Some(t) = bob.poll_transmit(now, &mut buf) {
//!         alice.handle_datagram(now, PathId(1), BytesMut::from(&buf[..t.len]));
//!     }
//!     // 2. React to events.
//!     while let Some(event) = alice.poll_event() {
//!         if let Event::Connected { .. } = event {
//!             let mut s = alice.session(session).unwrap();
//!             let id = s.open_stream(now, Dir::Uni, 0, None).unwrap();
//!             s.write(now, id, b"hello bob").unwrap();
//!             s.finish(now, id).unwrap();
//!         }
//!     }
//!     while let Some(event) = bob.poll_event() {
//!         if let Event::Connected { session, .. } = event {
//!             stream = Some(session);
//!         }
//!     }
//!     if let Some(s) = stream {
//!         let mut s = bob.session(s).unwrap();
//!         if let Some(id) = s.accept_stream(Dir::Uni) {
//!             while let Ok(Some(bytes)) = s.read(now, id, 1024) {
//!                 received.extend_from_slice(&bytes);
//!             }
//!         }
//!     }
//!     // 3. Advance time to the next deadline and fire timers.
//!     let next = [alice.poll_timeout(), bob.poll_timeout()].into_iter().flatten().min();
//!     now = next.map_or(now, |t| t.max(now));
//!     alice.handle_timeout(now);
//!     bob.handle_timeout(now);
//!     if received == b"hello bob" { break; }
//! }
//! assert_eq!(received, b"hello bob");
//! ```
//!
//! The wire format is specified in `docs/PROTOCOL.md`; [`frame`] is its codec. The
//! session state machine and memory bounds are described in `docs/ARCHITECTURE.md`.
//!
//! With `default-features = false` the crate is `#![no_std]` and needs only `alloc`.
//!
//! ## Test-only hooks
//!
//! The `test-hooks` feature exposes the module `test_hooks` (and
//! `SessionRef::seal_raw_frames`): ways to break the protocol's rules that only test
//! code may use (the oracles of `stt-testkit`, the fuzz targets, the attack tests, the
//! simulator's adversary). It is refused in release builds (`debug_assertions` off),
//! except under cargo-fuzz (`--cfg fuzzing`) and inside this repository's own workspace,
//! whose `.cargo/config.toml` sets `STT_TEST_HOOKS_IN_RELEASE`: `cargo bench --workspace`
//! unifies features across every member, so the release benches and the release
//! simulator (whose adversary uses the hook) build with it. A dependent crate never
//! reads that file, so its release builds refuse the feature.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

// Public modules: the parts of the API a user configures or plugs into (limits,
// congestion controllers, crypto providers, error types, the wire codec, object stores,
// metric records), and the handshake state machines on their own (for tools and benches
// that drive a Noise handshake without a node). Everything else is internal; its public
// types are re-exported below.
pub mod config;
pub mod congestion;
pub mod crypto;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod metrics;
pub mod storage;

mod endpoint;
mod event;
mod hash;
mod hex;
mod identity;
mod ids;
mod node;
mod range_set;
mod recovery;
mod rendezvous;
mod rng;
mod session;
mod stats;
mod stream;
mod time;

#[cfg(feature = "test-hooks")]
pub mod test_hooks;

// The hooks seal arbitrary frames as an authenticated peer: never in a release build
// outside this workspace (see "Test-only hooks" above).
#[cfg(all(feature = "test-hooks", not(debug_assertions), not(fuzzing)))]
const _: () = assert!(
    option_env!("STT_TEST_HOOKS_IN_RELEASE").is_some(),
    "stt-proto's `test-hooks` feature is test-only: refused in release builds (crate doc, \"Test-only hooks\")"
);

// The node and its sessions.
pub use node::{
    Node, RejectCause, RejectedHandshake, SessionRef, Transmit, max_custom_payload,
    max_route_payload,
};
pub use session::{SessionStats, TransportParams};
pub use stats::NodeStats;
// Identities, ids and handles.
pub use config::PqMode;
pub use handshake::AllowList;
pub use handshake::admission::RemoteAddr;
pub use identity::{Identity, MIN_SEED_LEN, NetworkKey, NodeId, NodeIdParseError, SeedError};
pub use ids::{PathId, RouteId, SessionHandle};
// What the node reports.
pub use event::{EndpointEvent, Event, MetricRecord, RendezvousEvent, StorageEvent, StreamEvent};
// Named endpoints and storage.
pub use endpoint::{EndpointMessage, RouteMode};
pub use frame::EndpointId;
pub use storage::{ContentHash, FetchId, ServeId};
// Time and randomness come from the caller.
pub use rng::Rng;
pub use time::Instant;
