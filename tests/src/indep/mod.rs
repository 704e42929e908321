//! A second, independent implementation of STT's hybrid handshake and just enough of the
//! record layer to prove key agreement, written from `docs/PROTOCOL.md` alone (§5.7,
//! §5.7.10, §6, §11) by composing RustCrypto primitives by hand — no `snow`, no stt-proto
//! internals. Test-only: it exists to check that the document specifies the wire exactly
//! (issue 22) and to drive a real node with packets it did not build. It must never be
//! used by product code, and it never reads stt-proto's handshake, crypto or frame source.

pub mod frames;
pub mod handshake;
pub mod noise;
pub mod prims;
pub mod record;
