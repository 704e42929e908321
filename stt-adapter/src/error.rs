//! Typed errors the async adapters return from session, stream and datagram calls.
//!
//! They wrap the engine's own errors; `StreamIoError` converts into `std::io::Error`
//! so `AsyncRead`/`AsyncWrite` implementations can carry it without losing the type.

use stt_proto::error::{ConnectError, DatagramError, SessionError};
use stt_proto::frame::ErrorCode;

/// Why a session (or an attempt to make one) is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionError {
    /// The engine refused to start the handshake.
    #[error("cannot connect: {0}")]
    Connect(#[from] ConnectError),
    /// The session ended.
    #[error("session closed: {0}")]
    Closed(SessionError),
    /// The session is closing; its final reason is not known yet.
    #[error("session closing")]
    Closing,
    /// The node was shut down or its driver stopped.
    #[error("node shut down")]
    NodeShutDown,
    /// The address cannot be reached from any bound socket or URL.
    #[error("no transport for {0}")]
    NoTransport(String),
    /// A transport error (socket, WebSocket handshake) before the session existed.
    #[error("transport: {0}")]
    Transport(String),
    /// The TLS layer of a `wss://` connection refused the server or failed.
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    /// The rendezvous could not introduce the peer (not registered, a relay limit, or
    /// the node does not serve rendezvous: PROTOCOL.md §12.2).
    #[error("rendezvous: {0:?}")]
    Rendezvous(stt_proto::frame::RdvStatus),
    /// The request to the rendezvous was not sent: too many wait for their answers.
    #[error("rendezvous request not sent: {0}")]
    RendezvousBusy(stt_proto::error::RendezvousError),
}

/// Why the TLS layer of a `wss://` connection failed. The adapter maps its TLS
/// library's errors onto these; the text is that library's description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// No trust roots are configured, so no server certificate can be verified.
    #[error("no trust roots configured for wss://")]
    NoTrustRoots,
    /// The URL's host is not a valid TLS server name.
    #[error("invalid server name {0:?}")]
    InvalidServerName(String),
    /// The server's certificate does not chain to a trusted root.
    #[error("server certificate not trusted: {0}")]
    UntrustedCertificate(String),
    /// The certificate chains to a trusted root but is unusable here (wrong name,
    /// expired, not yet valid, revoked, wrong purpose).
    #[error("server certificate invalid: {0}")]
    InvalidCertificate(String),
    /// The TLS handshake failed otherwise (an alert from the peer, not TLS at all).
    #[error("handshake failed: {0}")]
    Handshake(String),
}

/// Errors of stream reads and writes, carried inside `std::io::Error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIoError {
    /// The peer reset the stream.
    #[error("stream reset by peer: {0}")]
    Reset(ErrorCode),
    /// The peer asked us to stop sending.
    #[error("stream stopped by peer: {0}")]
    Stopped(ErrorCode),
    /// The stream is already finished or closed.
    #[error("stream closed")]
    Closed,
    /// Writing more than the bounded stream announced.
    #[error("write exceeds the announced total length")]
    TooLong,
    /// The session ended (the text is the session's own reason, not repeated here).
    #[error(transparent)]
    Session(#[from] ConnectionError),
}

impl From<StreamIoError> for std::io::Error {
    fn from(e: StreamIoError) -> Self {
        use std::io::ErrorKind;
        let kind = match &e {
            StreamIoError::Reset(_) => ErrorKind::ConnectionReset,
            StreamIoError::Stopped(_) => ErrorKind::BrokenPipe,
            StreamIoError::Closed => ErrorKind::NotConnected,
            StreamIoError::TooLong => ErrorKind::InvalidInput,
            StreamIoError::Session(_) => ErrorKind::ConnectionAborted,
        };
        std::io::Error::new(kind, e)
    }
}

/// Errors of sending an unreliable datagram.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendDatagramError {
    /// The engine refused it (too large, not connected).
    #[error(transparent)]
    Datagram(#[from] DatagramError),
    /// The session ended.
    #[error(transparent)]
    Session(#[from] ConnectionError),
}
