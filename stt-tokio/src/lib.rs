//! STT on tokio: drives an `stt_proto` node over UDP and WebSocket sockets.
//!
//! Status: skeleton. The tokio adapter issue fills this crate with `stt_tokio::Node`
//! (bind, connect, accept, streams as `AsyncRead`/`AsyncWrite`, datagrams) and the
//! `stt` command-line tool. It will stay thin: sockets, one timer and wakers only;
//! every protocol decision lives in `stt-proto`.
#![forbid(unsafe_code)]
