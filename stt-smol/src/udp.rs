//! UDP readiness on async-io: quinn-udp's syscalls run on the socket directly; a
//! `WouldBlock` waits for the reactor. Owns no protocol state.

use std::io;
use std::net::UdpSocket;
use std::task::{Context, Poll, ready};

use smol::Async;
use stt_adapter::{UdpPoller, UdpSockRef};

/// One UDP socket registered with async-io's reactor.
#[derive(Debug)]
pub struct SmolUdp(pub(crate) Async<UdpSocket>);

impl UdpPoller for SmolUdp {
    fn poll_recv_with<T>(
        &self,
        cx: &mut Context<'_>,
        mut op: impl FnMut(UdpSockRef<'_>) -> io::Result<T>,
    ) -> Poll<io::Result<T>> {
        loop {
            match op(self.0.get_ref().into()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    ready!(self.0.poll_readable(cx))?;
                }
                r => return Poll::Ready(r),
            }
        }
    }

    fn try_send_with<T>(&self, op: impl FnOnce(UdpSockRef<'_>) -> io::Result<T>) -> io::Result<T> {
        op(self.0.get_ref().into())
    }

    fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_writable(cx)
    }
}
