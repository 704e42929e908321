//! The seam between the generic adapter and one async runtime: [`Runtime`] (spawning,
//! sleeping, registering sockets, WebSocket accept and dial), [`UdpPoller`] (readiness
//! of one registered UDP socket) and [`DriverTimer`] (the driver's one timer).
//!
//! An implementation only does IO and scheduling; it must not touch the engine.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use crate::error::ConnectionError;
use quinn_udp::UdpSockRef;

use crate::shared::Shared;
use crate::stream::{RecvStream, SendStream};
use crate::tls::{WssIdentity, WssTrust};

/// One async runtime, as the generic adapter needs it. A value is a handle to the
/// runtime (cheap to clone); the node keeps one and does all its spawning through it.
pub trait Runtime: Clone + Send + Sync + Sized + 'static {
    /// A UDP socket registered with the runtime's reactor.
    type Udp: UdpPoller;
    /// The driver's timer.
    type Timer: DriverTimer;
    /// The sending half of a stream as the runtime's users see it (its `AsyncWrite`).
    type SendStream: From<SendStream>;
    /// The receiving half of a stream as the runtime's users see it (its `AsyncRead`).
    type RecvStream: From<RecvStream>;

    /// The runtime the caller runs in, or `None` outside of one.
    fn current() -> Option<Self>;

    /// Runs `future` to completion in the background.
    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static);

    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static;

    /// A fresh, unarmed driver timer.
    fn timer(&self) -> Self::Timer;

    /// Registers a bound, non-blocking UDP socket with the reactor.
    fn udp(&self, socket: std::net::UdpSocket) -> io::Result<Self::Udp>;

    /// Registers a bound, non-blocking TCP listener and returns the future that accepts
    /// WebSocket clients on it (with `tls`, a TLS handshake with its
    /// [`WssIdentity::server_config`] first; then the WebSocket handshake and
    /// [`crate::ws::attach`]) until the node stops ([`Shared::is_stopped`]). The caller
    /// spawns the future. A runtime without TLS support refuses `tls` with
    /// `io::ErrorKind::Unsupported`.
    fn serve_ws(
        &self,
        listener: std::net::TcpListener,
        shared: Arc<Shared>,
        tls: Option<WssIdentity>,
    ) -> io::Result<impl Future<Output = ()> + Send + 'static>;

    /// Dials a `ws://` URL (or `wss://`, verified against `trust`'s
    /// [`WssTrust::client_config`]), completes the WebSocket handshake and attaches the
    /// connection ([`crate::ws::attach`]); returns its connection number.
    fn dial_ws(
        &self,
        shared: &Arc<Shared>,
        url: &str,
        trust: Option<&WssTrust>,
    ) -> impl Future<Output = Result<u64, ConnectionError>> + Send;
}

/// Readiness of one registered UDP socket; the syscalls themselves are quinn-udp's,
/// run by the adapter's UDP driver (`udp.rs`) through these methods.
pub trait UdpPoller: Send + Sync + Unpin + Sized + 'static {
    /// Runs `op` once the socket may be readable; an `op` that fails with
    /// `WouldBlock` waits for readiness again. `Pending` registers for readability.
    fn poll_recv_with<T>(
        &self,
        cx: &mut Context<'_>,
        op: impl FnMut(UdpSockRef<'_>) -> io::Result<T>,
    ) -> Poll<io::Result<T>>;

    /// Runs `op` now; `WouldBlock` means: call [`UdpPoller::poll_writable`].
    fn try_send_with<T>(&self, op: impl FnOnce(UdpSockRef<'_>) -> io::Result<T>) -> io::Result<T>;

    /// Registers for writability.
    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
}

/// The driver's one timer, re-armed at each new engine deadline.
pub trait DriverTimer: Send + Unpin + 'static {
    /// Arms the timer for `at` (replacing any earlier deadline).
    fn reset(&mut self, at: std::time::Instant);

    /// `Ready` once the armed deadline has passed.
    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()>;
}
