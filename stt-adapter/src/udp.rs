//! UDP IO through quinn-udp: GSO/GRO and batched receive where the OS has them, plain
//! `sendmsg`/`recvmsg` otherwise, over any runtime's readiness ([`UdpPoller`]). Owns no
//! protocol state; the driver calls it.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::task::{Context, Poll};

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};

use crate::runtime::{Runtime, UdpPoller};

/// One bound UDP socket registered with the runtime, plus quinn-udp's per-socket state.
pub(crate) struct UdpIo<R: Runtime> {
    io: R::Udp,
    state: UdpSocketState,
    local: SocketAddr,
}

impl<R: Runtime> UdpIo<R> {
    /// Binds `addr` with `buffer` bytes of kernel send and receive buffer.
    pub(crate) fn bind(rt: &R, addr: SocketAddr, buffer: usize) -> io::Result<Self> {
        let domain = socket2::Domain::for_address(addr);
        let sock =
            socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
        if addr.is_ipv6() {
            // One socket per family: a v6 socket does not also take v4 traffic.
            sock.set_only_v6(true)?;
        }
        sock.bind(&addr.into())?;
        let std_sock: std::net::UdpSocket = sock.into();
        std_sock.set_nonblocking(true)?;
        let state = UdpSocketState::new((&std_sock).into())?;
        // Best effort: the kernel may clamp (net.core.rmem_max); that is not an error.
        let _ = state.set_send_buffer_size((&std_sock).into(), buffer);
        let _ = state.set_recv_buffer_size((&std_sock).into(), buffer);
        let local = std_sock.local_addr()?;
        let io = rt.udp(std_sock)?;
        Ok(Self { io, state, local })
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Datagrams per GSO batch this socket accepts (1 without GSO).
    pub(crate) fn max_gso_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// Datagrams one GRO receive may coalesce (1 without GRO).
    pub(crate) fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }

    /// Receives one batch; `Pending` registers for readability.
    pub(crate) fn poll_recv(
        &self,
        cx: &mut Context<'_>,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        self.io
            .poll_recv_with(cx, |sock| self.state.recv(sock, bufs, meta))
    }

    /// Sends now or fails with `WouldBlock` (then call [`UdpIo::poll_writable`]).
    /// Other errors are logged by quinn-udp and swallowed: UDP loss is the engine's
    /// business.
    pub(crate) fn try_send(&self, t: &Transmit<'_>) -> io::Result<()> {
        self.io.try_send_with(|sock| self.state.send(sock, t))
    }

    /// Registers for writability.
    pub(crate) fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_writable(cx)
    }
}
