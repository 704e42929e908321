//! [`Smol`]: the smol / async-io side of `stt_adapter::Runtime` — spawning on smol's
//! global executor, async-io timers and socket registration, WebSocket accept and dial.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use smol::{Async, Timer};
use stt_adapter::ConnectionError;
use stt_adapter::{DriverTimer, RecvStream, Runtime, SendStream, Shared, WssIdentity, WssTrust};

use crate::udp::SmolUdp;

/// smol's global executor and async-io's reactor (both need no handle).
#[derive(Debug, Clone, Copy, Default)]
pub struct Smol;

/// The driver's timer: one async-io `Timer`, re-armed in place.
#[derive(Debug)]
pub struct SmolTimer(Timer);

impl DriverTimer for SmolTimer {
    fn reset(&mut self, at: std::time::Instant) {
        self.0.set_at(at);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(drop)
    }
}

impl Runtime for Smol {
    type Udp = SmolUdp;
    type Timer = SmolTimer;
    type SendStream = SendStream;
    type RecvStream = RecvStream;

    fn current() -> Option<Self> {
        Some(Smol)
    }

    fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        smol::spawn(future).detach();
    }

    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        let timer = Timer::after(duration);
        async move {
            timer.await;
        }
    }

    fn timer(&self) -> SmolTimer {
        SmolTimer(Timer::never())
    }

    fn udp(&self, socket: std::net::UdpSocket) -> io::Result<SmolUdp> {
        Async::new(socket).map(SmolUdp)
    }

    fn serve_ws(
        &self,
        listener: std::net::TcpListener,
        shared: Arc<Shared>,
        tls: Option<WssIdentity>,
    ) -> io::Result<impl Future<Output = ()> + Send + 'static> {
        if tls.is_some() {
            // wss:// is tokio-only for now (stt-tokio wraps TCP in tokio-rustls).
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "wss:// is not supported on smol",
            ));
        }
        Ok(crate::ws::serve(Async::new(listener)?, shared))
    }

    async fn dial_ws(
        &self,
        shared: &Arc<Shared>,
        url: &str,
        _trust: Option<&WssTrust>,
    ) -> Result<u64, ConnectionError> {
        // Only ws:// here: a wss:// URL fails in the WebSocket client (no TLS on smol).
        crate::ws::dial(shared, url).await
    }
}
