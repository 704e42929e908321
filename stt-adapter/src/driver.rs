//! The one driver task per node: receive datagrams (UDP via quinn-udp, WebSocket via a
//! channel) → `handle_datagram`; fire timers; `poll_transmit` → send; drain events →
//! wake handles; when idle, `prepare_idle` (ephemeral keys for the next handshakes). A hand-written future like quinn's endpoint driver, so the lock is
//! taken in short turns and never held across IO. Generic over the [`Runtime`], which
//! supplies only socket readiness and the timer.

use std::future::Future;
use std::io::IoSliceMut;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_channel::{Receiver, TrySendError};
use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use quinn_udp::RecvMeta;
use stt_proto::RemoteAddr;

use crate::packet_pool::{POOL_SLOTS, PacketPool};
use crate::runtime::{DriverTimer, Runtime};
use crate::send_batch::SendBatch;
use crate::shared::{Remote, Shared};
use crate::udp::UdpIo;

/// Commands from handles to the driver that change its sockets.
pub(crate) enum Command<R: Runtime> {
    /// Replace the socket with this local address by a new one (rebinding).
    ReplaceUdp(std::net::SocketAddr, UdpIo<R>),
}

/// Receive buffers per batch (each large enough for one GRO super-datagram).
const RECV_BATCH: usize = 8;
/// Work per poll before yielding to other tasks.
const WORK_LIMIT: usize = 64;
/// Datagrams one poll hands to the engine before it yields: the tasks reading what
/// they carried get to run before the next batch arrives, so the receive pool's
/// regions come free again (one unbounded poll once held every region of the pool).
const RECV_BUDGET: usize = 256;

pub(crate) struct Driver<R: Runtime> {
    shared: Arc<Shared>,
    udp: Vec<UdpIo<R>>,
    commands: Pin<Box<Receiver<Command<R>>>>,
    ws_in: Pin<Box<Receiver<(stt_proto::PathId, RemoteAddr, BytesMut)>>>,
    timer: R::Timer,
    timer_at: Option<stt_proto::Instant>,
    send_buf: Vec<u8>,
    /// Batches gathered and not yet sent (a full socket met them), oldest first; at
    /// most two: a batch and the transmit after it that could not join it.
    pending: Vec<SendBatch>,
    recv_bufs: Vec<Vec<u8>>,
    /// One recycled buffer per received datagram, handed to the engine.
    packets: PacketPool,
    max_packet: usize,
    /// Datagrams handed to the engine during the current poll.
    received: usize,
    /// When the engine's random streams next get fresh OS entropy.
    next_reseed: Option<stt_proto::Instant>,
}

/// How often the driver mixes OS entropy into the engine ([`stt_proto::Node::reseed`]).
pub(crate) const RESEED_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

impl<R: Runtime> Driver<R> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        udp: Vec<UdpIo<R>>,
        commands: Receiver<Command<R>>,
        ws_in: Receiver<(stt_proto::PathId, RemoteAddr, BytesMut)>,
        timer: R::Timer,
        max_packet: usize,
    ) -> Self {
        let mut d = Self {
            shared,
            udp: Vec::new(),
            commands: Box::pin(commands),
            ws_in: Box::pin(ws_in),
            timer,
            timer_at: None,
            send_buf: Vec::new(),
            pending: Vec::new(),
            recv_bufs: Vec::new(),
            packets: PacketPool::new(
                max_packet.max(stt_proto::frame::DEFAULT_MAX_PACKET),
                POOL_SLOTS,
            ),
            max_packet,
            received: 0,
            next_reseed: None,
        };
        for u in udp {
            d.add_udp(u);
        }
        if d.send_buf.is_empty() {
            d.send_buf = vec![0; max_packet];
        }
        d
    }

    fn add_udp(&mut self, u: UdpIo<R>) {
        // The send buffer holds one GSO batch of the largest socket.
        let gso = u.max_gso_segments().clamp(1, 64);
        let want = self.max_packet * gso.min(65_535 / self.max_packet).max(1);
        if self.send_buf.len() < want {
            self.send_buf = vec![0; want];
        }
        let gro = u.gro_segments().max(1);
        let recv = (self.max_packet * gro).clamp(self.max_packet, 65_535);
        if self.recv_bufs.first().is_none_or(|b| b.len() < recv) {
            self.recv_bufs = (0..RECV_BATCH).map(|_| vec![0; recv]).collect();
        }
        tracing::debug!(local = %u.local_addr(), gso, gro, "udp socket added");
        self.udp.push(u);
    }

    fn socket_for(&self, dst: std::net::SocketAddr) -> Option<usize> {
        self.udp
            .iter()
            .position(|u| u.local_addr().is_ipv4() == dst.is_ipv4())
    }

    /// Receives what the UDP sockets have; returns true if it did any work.
    fn poll_udp_recv(&mut self, cx: &mut Context<'_>) -> bool {
        let mut worked = false;
        let mut meta = [RecvMeta::default(); RECV_BATCH];
        for i in 0..self.udp.len() {
            for _ in 0..WORK_LIMIT / 4 {
                if self.received >= RECV_BUDGET {
                    return worked;
                }
                let n = {
                    let mut slices: Vec<IoSliceMut<'_>> = self
                        .recv_bufs
                        .iter_mut()
                        .map(|b| IoSliceMut::new(b))
                        .collect();
                    match self.udp[i].poll_recv(cx, &mut slices, &mut meta) {
                        Poll::Ready(Ok(n)) => n,
                        Poll::Ready(Err(e)) => {
                            // ICMP errors (port unreachable) surface here; not fatal.
                            tracing::trace!("udp recv: {e}");
                            worked = true;
                            continue;
                        }
                        Poll::Pending => break,
                    }
                };
                worked = true;
                let now = self.shared.now();
                let mut guard = self.shared.lock();
                let st = &mut *guard;
                for (m, buf) in meta.iter().zip(&self.recv_bufs).take(n) {
                    // Paths the engine still uses (half-open handshakes…) are never
                    // forgotten; cookies are bound to the address bytes, not the id.
                    let path = st.paths.path_for_node(&Remote::Udp(m.addr), &st.node);
                    let remote = RemoteAddr::from(m.addr);
                    let data = &buf[..m.len.min(buf.len())];
                    let stride = if m.stride == 0 { data.len() } else { m.stride };
                    for d in data.chunks(stride.max(1)) {
                        self.received += 1;
                        st.node
                            .handle_datagram_from(now, path, &remote, self.packets.take(d));
                    }
                }
            }
        }
        worked
    }

    fn poll_ws_recv(&mut self, cx: &mut Context<'_>) -> bool {
        let mut worked = false;
        for _ in 0..WORK_LIMIT * 4 {
            match self.ws_in.as_mut().poll_next(cx) {
                Poll::Ready(Some((path, remote, data))) => {
                    worked = true;
                    let now = self.shared.now();
                    self.shared
                        .lock()
                        .node
                        .handle_datagram_from(now, path, &remote, data);
                }
                Poll::Ready(None) | Poll::Pending => break,
            }
        }
        worked
    }

    fn poll_commands(&mut self, cx: &mut Context<'_>) {
        while let Poll::Ready(Some(cmd)) = self.commands.as_mut().poll_next(cx) {
            match cmd {
                Command::ReplaceUdp(old, u) => {
                    self.udp.retain(|s| s.local_addr() != old);
                    // Pending batches name sockets by index, which just moved: drop
                    // them (loss recovery resends what they carried).
                    self.pending.clear();
                    self.add_udp(u);
                }
            }
        }
    }

    /// Sends what the engine has; returns (did work, blocked on a socket).
    fn poll_transmit(&mut self, cx: &mut Context<'_>) -> (bool, bool) {
        let mut worked = false;
        for _ in 0..WORK_LIMIT {
            while let Some(b) = self.pending.first().copied() {
                let t = quinn_udp::Transmit {
                    destination: b.dst,
                    ecn: None,
                    contents: &self.send_buf[b.start..b.end()],
                    segment_size: b.segment_size(),
                    src_ip: None,
                };
                match self.udp[b.socket].try_send(&t) {
                    Ok(()) => {
                        self.pending.remove(0);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        match self.udp[b.socket].poll_writable(cx) {
                            Poll::Ready(_) => continue,
                            Poll::Pending => return (worked, true),
                        }
                    }
                    Err(e) => {
                        tracing::trace!("udp send: {e}");
                        self.pending.remove(0);
                    }
                }
            }
            let (gathered, engine_done) = self.gather();
            worked |= gathered;
            if engine_done && self.pending.is_empty() {
                return (worked, false);
            }
        }
        cx.waker().wake_by_ref();
        (worked, false)
    }

    /// Takes transmits from the engine into the send buffer while they join one UDP
    /// batch ([`SendBatch`]), and queues it in `pending` (with the transmit that
    /// ended it, if any). WebSocket transmits go out at once. Returns (took any,
    /// the engine had nothing more).
    fn gather(&mut self) -> (bool, bool) {
        let mut st = self.shared.lock();
        let mut took = false;
        let mut batch: Option<SendBatch> = None;
        let mut at = 0;
        // While there is room for at least one more full packet.
        while let Some(buf) = self
            .send_buf
            .get_mut(at..)
            .filter(|b| at == 0 || b.len() >= self.max_packet)
        {
            // A fresh time for each call: the pacer lets more go as time passes.
            let Some(t) = st.node.poll_transmit(self.shared.now(), buf) else {
                if let Some(b) = batch {
                    self.pending.push(b);
                }
                return (took, true);
            };
            took = true;
            match st.paths.addr(t.path).copied() {
                Some(Remote::Udp(dst)) => {
                    if let Some(b) = &mut batch
                        && b.try_join(dst, t.len, t.segment_size)
                    {
                        at = b.end();
                        continue;
                    }
                    let Some(socket) = self.socket_for(dst) else {
                        // No socket of that family: the transmit is dropped.
                        continue;
                    };
                    let next = SendBatch::new(socket, dst, at, t.len, t.segment_size);
                    match batch {
                        // It cannot join: the batch and it go out in turn.
                        Some(b) => {
                            self.pending.push(b);
                            self.pending.push(next);
                            return (took, false);
                        }
                        None => {
                            at = next.end();
                            batch = Some(next);
                        }
                    }
                }
                Some(Remote::Ws(conn)) => {
                    let seg = t.segment_size.unwrap_or(t.len).max(1);
                    let mut closed = false;
                    if let Some(tx) = st.ws_out.get(&conn) {
                        for d in self.send_buf[at..at + t.len].chunks(seg) {
                            match tx.try_send(Bytes::copy_from_slice(d)) {
                                Ok(()) => {}
                                // A full WebSocket queue is a full socket buffer: the
                                // engine's loss recovery handles the drop.
                                Err(TrySendError::Full(_)) => {}
                                Err(TrySendError::Closed(_)) => closed = true,
                            }
                        }
                    }
                    if closed {
                        st.ws_out.remove(&conn);
                    }
                }
                None => {}
            }
        }
        if let Some(b) = batch {
            self.pending.push(b);
        }
        (took, false)
    }
}

impl<R: Runtime> Driver<R> {
    /// Mixes 32 bytes of OS entropy into the engine once per [`RESEED_INTERVAL`] (the
    /// first time one interval after start: the node was seeded from the OS then).
    fn reseed_if_due(&mut self) {
        let now = self.shared.now();
        let due = *self.next_reseed.get_or_insert(now + RESEED_INTERVAL);
        if now < due {
            return;
        }
        let mut entropy = [0u8; 32];
        match getrandom::fill(&mut entropy) {
            Ok(()) => self.shared.lock().node.reseed(&entropy),
            Err(e) => tracing::warn!("no OS randomness to reseed the node: {e}"),
        }
        zeroize::Zeroize::zeroize(&mut entropy);
        self.next_reseed = Some(now + RESEED_INTERVAL);
    }
}

impl<R: Runtime> Future for Driver<R> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        {
            let mut st = this.shared.lock();
            // Stop on shutdown, or once no node handle and no session is left.
            if st.stop || (st.node_handles == 0 && st.dispatch.is_empty()) {
                st.driver_done = true;
                st.dispatch_shutdown();
                return Poll::Ready(());
            }
            match &st.driver {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => st.driver = Some(cx.waker().clone()),
            }
        }
        let span = this.shared.lock().node_span.clone();
        let _enter = span.enter();
        this.reseed_if_due();
        let mut rounds = 0;
        this.received = 0;
        loop {
            rounds += 1;
            this.poll_commands(cx);
            let mut worked = this.poll_udp_recv(cx);
            worked |= this.poll_ws_recv(cx);
            let now = this.shared.now();
            {
                let mut st = this.shared.lock();
                if let Some(t) = st.node.poll_timeout()
                    && t <= now
                {
                    st.node.handle_timeout(now);
                }
            }
            let (sent, _blocked) = this.poll_transmit(cx);
            worked |= sent;
            let deadline = {
                let mut st = this.shared.lock();
                st.drain_events(now);
                st.node.poll_timeout()
            };
            if let Some(t) = deadline {
                if t <= this.shared.now() {
                    if rounds < 8 {
                        continue;
                    }
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                if this.timer_at != Some(t) {
                    this.timer_at = Some(t);
                    this.timer.reset(this.shared.deadline(t));
                }
                if this.timer.poll_expired(cx).is_ready() {
                    this.timer_at = None;
                    if rounds < 8 {
                        continue;
                    }
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
            }
            if !worked {
                // Idle: prepare the next handshakes' ephemeral keys now, off their path.
                // Cheap once they are ready (nothing to do until a handshake uses one).
                this.shared.lock().node.prepare_idle();
                return Poll::Pending;
            }
            if rounds >= 8 || this.received >= RECV_BUDGET {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
        }
    }
}

impl crate::shared::State {
    /// The driver stopped: every waiter learns the node is gone.
    pub(crate) fn dispatch_shutdown(&mut self) {
        if let Some(w) = self.dispatch.accept.take() {
            w.wake();
        }
        let handles: Vec<_> = self.dispatch.handles().collect();
        for h in handles {
            if let Some(s) = self.dispatch.get_mut(h)
                && s.closed.is_none()
            {
                s.closed = Some(stt_proto::error::SessionError::LocallyClosed {
                    code: stt_proto::frame::ErrorCode(0),
                });
            }
        }
        let events: Vec<_> = self
            .dispatch
            .handles()
            .map(|h| stt_proto::Event::Closed {
                session: h,
                reason: stt_proto::error::SessionError::LocallyClosed {
                    code: stt_proto::frame::ErrorCode(0),
                },
            })
            .collect();
        for e in &events {
            self.dispatch.on_event(e);
        }
        self.ws_out.clear();
        self.dispatch.apps.wake_all();
        self.dispatch.bus.wake_all();
    }
}
