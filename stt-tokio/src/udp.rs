//! UDP readiness on tokio: quinn-udp's syscalls run inside `try_io`, so a `WouldBlock`
//! clears tokio's cached readiness. Owns no protocol state.

use std::io;
use std::task::{Context, Poll, ready};

use stt_adapter::{UdpPoller, UdpSockRef};
use tokio::io::Interest;

/// One UDP socket registered with tokio's reactor.
#[derive(Debug)]
pub struct TokioUdp(pub(crate) tokio::net::UdpSocket);

impl UdpPoller for TokioUdp {
    fn poll_recv_with<T>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(UdpSockRef<'_>) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            ready!(self.0.poll_recv_ready(cx))?;
            match self.0.try_io(Interest::READABLE, || op((&self.0).into())) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                r => return Poll::Ready(r),
            }
        }
    }

    fn try_send_with<T>(&self, op: impl FnOnce(UdpSockRef<'_>) -> io::Result<T>) -> io::Result<T> {
        self.0.try_io(Interest::WRITABLE, || op((&self.0).into()))
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_send_ready(cx)
    }
}
