//! [`Tokio`]: the tokio side of `stt_adapter::Runtime` — spawning on the runtime the
//! node was built in, tokio timers, socket registration, WebSocket accept and dial.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use stt_adapter::ConnectionError;
use stt_adapter::{DriverTimer, Runtime, Shared, WssIdentity, WssTrust};
use tokio::runtime::Handle;

use crate::stream::{RecvStream, SendStream};
use crate::udp::TokioUdp;

/// The tokio runtime a node was built in (a handle to it).
#[derive(Debug, Clone)]
pub struct Tokio(Handle);

impl Tokio {
    /// The runtime the caller runs in; panics outside one (only called from tasks).
    pub(crate) fn here() -> Self {
        Self(Handle::current())
    }
}

/// The driver's timer: one tokio `Sleep`, re-armed in place.
#[derive(Debug)]
pub struct TokioTimer(Pin<Box<tokio::time::Sleep>>);

impl DriverTimer for TokioTimer {
    fn reset(&mut self, at: std::time::Instant) {
        self.0.as_mut().reset(at.into());
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Runtime for Tokio {
    type Udp = TokioUdp;
    type Timer = TokioTimer;
    type SendStream = SendStream;
    type RecvStream = RecvStream;

    fn current() -> Option<Self> {
        Handle::try_current().ok().map(Self)
    }

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        self.0.spawn(future);
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        let _guard = self.0.enter();
        tokio::time::sleep(duration)
    }

    fn timer(&self) -> TokioTimer {
        let _guard = self.0.enter();
        TokioTimer(Box::pin(tokio::time::sleep(Duration::from_secs(3600))))
    }

    fn udp(&self, socket: std::net::UdpSocket) -> io::Result<TokioUdp> {
        let _guard = self.0.enter();
        tokio::net::UdpSocket::from_std(socket).map(TokioUdp)
    }

    fn serve_ws(
        &self,
        listener: std::net::TcpListener,
        shared: Arc<Shared>,
        tls: Option<WssIdentity>,
    ) -> io::Result<impl Future<Output = ()> + Send + 'static> {
        let _guard = self.0.enter();
        let listener = tokio::net::TcpListener::from_std(listener)?;
        Ok(crate::ws::serve(listener, shared, tls))
    }

    async fn dial_ws(
        &self,
        shared: &Arc<Shared>,
        url: &str,
        trust: Option<&WssTrust>,
    ) -> Result<u64, ConnectionError> {
        crate::ws::dial(shared, url, trust).await
    }
}
