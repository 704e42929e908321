//! [`Node`]: one STT identity on some [`Runtime`]. Building it binds the sockets and
//! spawns the one driver task; `connect`/`connect_ws`/`accept` hand out [`Session`]s;
//! shutdown finishes streams, closes sessions and stops the driver.

use std::future::poll_fn;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use crate::error::ConnectionError;
use crate::state::dispatch::register;
use bytes::Bytes;
use futures_util::future::{Either, select};
use stt_proto::config::NodeConfig;
use stt_proto::frame::ErrorCode;
use stt_proto::{AllowList, Identity, NetworkKey, NodeId, NodeStats, PathId, SessionHandle};

use crate::driver::{Command, Driver};
use crate::runtime::Runtime;
use crate::session::Session;
use crate::shared::{Remote, Shared, State};
use crate::tls::{WssIdentity, WssTrust};
use crate::trace_log::{TraceLog, TraceTarget};
use crate::udp::UdpIo;

/// Seed default for kernel socket buffers (2 MiB each way).
pub const DEFAULT_SOCKET_BUFFER: usize = 2 << 20;
/// Largest WebSocket message accepted by default: one STT packet plus slack.
pub const DEFAULT_MAX_WS_MESSAGE: usize = 65_536;

/// Errors of building a node.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// A socket could not be bound.
    #[error("bind {addr}: {source}")]
    Io {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
    /// The engine configuration is invalid.
    #[error("configuration: {0}")]
    Config(#[from] stt_proto::config::ConfigError),
    /// The OS random generator failed.
    #[error("no OS randomness: {0}")]
    Random(getrandom::Error),
    /// Not called inside the adapter's async runtime.
    #[error("not inside the adapter's async runtime")]
    NoRuntime,
    /// The trace file could not be created.
    #[error("cannot create trace file {}: {source}", path.display())]
    Trace {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// How to build a [`Node`].
pub struct Builder<R: Runtime> {
    identity: Identity,
    network: NetworkKey,
    config: NodeConfig,
    udp: Vec<SocketAddr>,
    ws: Vec<SocketAddr>,
    wss: Vec<(SocketAddr, WssIdentity)>,
    wss_trust: Option<WssTrust>,
    socket_buffer: usize,
    max_ws_message: usize,
    trace: Option<TraceTarget>,
    runtime: PhantomData<fn() -> R>,
}

impl<R: Runtime> std::fmt::Debug for Builder<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Builder")
            .field("udp", &self.udp)
            .field("ws", &self.ws)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Builder<R> {
    /// Engine configuration (limits, timers, congestion control, crypto provider).
    pub fn config(mut self, config: NodeConfig) -> Self {
        self.config = config;
        self
    }

    /// Binds a UDP socket (call once per address family wanted; port 0 picks one).
    pub fn bind_udp(mut self, addr: SocketAddr) -> Self {
        self.udp.push(addr);
        self
    }

    /// Listens for WebSocket clients on a TCP address (`ws://`).
    pub fn bind_ws(mut self, addr: SocketAddr) -> Self {
        self.ws.push(addr);
        self
    }

    /// Listens for WebSocket-over-TLS clients on a TCP address (`wss://`), presenting
    /// `identity`'s certificate. Only runtimes with TLS support serve it (stt-tokio);
    /// on others `build` fails with [`BindError::Io`] (`Unsupported`).
    pub fn bind_wss(mut self, addr: SocketAddr, identity: WssIdentity) -> Self {
        self.wss.push((addr, identity));
        self
    }

    /// The roots [`Node::connect_ws`] verifies `wss://` servers against (without
    /// them, `wss://` URLs fail with `TlsError::NoTrustRoots`). [`WssTrust::platform`]
    /// gives the operating system's roots.
    pub fn wss_trust(mut self, trust: WssTrust) -> Self {
        self.wss_trust = Some(trust);
        self
    }

    /// Kernel send/receive buffer per UDP socket (default 2 MiB; the OS may clamp).
    pub fn socket_buffer(mut self, bytes: usize) -> Self {
        self.socket_buffer = bytes;
        self
    }

    /// Largest WebSocket message accepted; larger ones close that connection only.
    pub fn max_ws_message(mut self, bytes: usize) -> Self {
        self.max_ws_message = bytes;
        self
    }

    /// Writes a JSON-lines trace (events and metrics, docs/ARCHITECTURE.md "Traces")
    /// per session into this directory (opt-in; turns `TransportConfig::metrics` on).
    pub fn trace_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.trace = Some(TraceTarget::Dir(dir.into()));
        self
    }

    /// Writes the JSON-lines trace of every session of this node into one file,
    /// created (or truncated) by `build` (opt-in; turns `TransportConfig::metrics` on).
    pub fn trace_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.trace = Some(TraceTarget::File(path.into()));
        self
    }

    /// Binds everything and starts the driver task. Must run inside the runtime.
    pub async fn build(self) -> Result<Node<R>, BindError> {
        let rt = R::current().ok_or(BindError::NoRuntime)?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(BindError::Random)?;
        let max_packet = self.config.max_packet_size;
        let traces = TraceLog::open(self.trace.clone()).map_err(|source| BindError::Trace {
            path: self
                .trace
                .as_ref()
                .map(TraceTarget::path)
                .unwrap_or_default(),
            source,
        })?;
        let mut config = self.config;
        config.transport.metrics |= self.trace.is_some();
        let node = stt_proto::Node::new(Arc::new(config), self.identity, self.network, seed);
        zeroize::Zeroize::zeroize(&mut seed);
        let node = node?;
        let node_id = node.node_id();
        let span = tracing::info_span!("stt_node", id = %node_id);
        let io_err = |addr: SocketAddr| move |source| BindError::Io { addr, source };
        let mut udp = Vec::new();
        for addr in &self.udp {
            udp.push(UdpIo::bind(&rt, *addr, self.socket_buffer).map_err(io_err(*addr))?);
        }
        let udp_addrs: Vec<SocketAddr> = udp.iter().map(|u| u.local_addr()).collect();
        let mut listeners = Vec::new();
        let (mut ws_addrs, mut wss_addrs) = (Vec::new(), Vec::new());
        let plain = self.ws.iter().map(|a| (*a, None));
        let secure = self.wss.iter().map(|(a, id)| (*a, Some(id.clone())));
        for (addr, tls) in plain.chain(secure) {
            let l = std::net::TcpListener::bind(addr).map_err(io_err(addr))?;
            l.set_nonblocking(true).map_err(io_err(addr))?;
            let local = l.local_addr().map_err(io_err(addr))?;
            match tls {
                Some(_) => wss_addrs.push(local),
                None => ws_addrs.push(local),
            }
            listeners.push((l, local, tls));
        }
        let (ws_tx, ws_rx) = async_channel::bounded(4096);
        let shared = Shared::new(
            State::new(node, traces, span.clone()),
            ws_tx,
            self.max_ws_message,
        );
        let mut servers = Vec::new();
        for (l, addr, tls) in listeners {
            servers.push(rt.serve_ws(l, shared.clone(), tls).map_err(io_err(addr))?);
        }
        let (cmd_tx, cmd_rx) = async_channel::unbounded();
        let driver = Driver::new(shared.clone(), udp, cmd_rx, ws_rx, rt.timer(), max_packet);
        rt.spawn(driver);
        for server in servers {
            rt.spawn(server);
        }
        tracing::info!(parent: &span, udp = ?udp_addrs, ws = ?ws_addrs, wss = ?wss_addrs, "node up");
        Ok(Node {
            inner: Arc::new(NodeInner {
                rt,
                shared,
                commands: cmd_tx,
                node_id,
                udp_addrs: std::sync::Mutex::new(udp_addrs),
                ws_addrs,
                wss_addrs,
                wss_trust: self.wss_trust,
                socket_buffer: self.socket_buffer,
            }),
        })
    }
}

pub(crate) struct NodeInner<R: Runtime> {
    pub(crate) rt: R,
    pub(crate) shared: Arc<Shared>,
    commands: async_channel::Sender<Command<R>>,
    node_id: NodeId,
    udp_addrs: std::sync::Mutex<Vec<SocketAddr>>,
    ws_addrs: Vec<SocketAddr>,
    wss_addrs: Vec<SocketAddr>,
    wss_trust: Option<WssTrust>,
    socket_buffer: usize,
}

impl<R: Runtime> Drop for NodeInner<R> {
    fn drop(&mut self) {
        // The last node handle is gone: sessions still held by the user keep working
        // until they are dropped; then the driver stops.
        let mut st = self.shared.lock();
        st.node_handles = 0;
        st.wake_driver();
    }
}

/// What a connect goes to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// A UDP address or WebSocket connection: the path table names it.
    Remote(Remote),
    /// A path the engine named (a relayed path, PROTOCOL.md §12.3).
    Path(PathId),
}

/// One STT node on runtime `R`: an identity, its sockets and its sessions. Cheap to
/// clone.
pub struct Node<R: Runtime> {
    pub(crate) inner: Arc<NodeInner<R>>,
}

impl<R: Runtime> Clone for Node<R> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<R: Runtime> std::fmt::Debug for Node<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.inner.node_id)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Node<R> {
    /// Starts building a node from its identity and network key.
    pub fn builder(identity: Identity, network: NetworkKey) -> Builder<R> {
        Builder {
            identity,
            network,
            config: NodeConfig::default(),
            udp: Vec::new(),
            ws: Vec::new(),
            wss: Vec::new(),
            wss_trust: None,
            socket_buffer: DEFAULT_SOCKET_BUFFER,
            max_ws_message: DEFAULT_MAX_WS_MESSAGE,
            trace: None,
            runtime: PhantomData,
        }
    }

    /// This node's public id.
    pub fn node_id(&self) -> NodeId {
        self.inner.node_id
    }

    /// The bound UDP addresses.
    pub fn udp_addrs(&self) -> Vec<SocketAddr> {
        self.inner
            .udp_addrs
            .lock()
            .map(|a| a.clone())
            .unwrap_or_default()
    }

    /// The bound WebSocket listener addresses (`ws://`).
    pub fn ws_addrs(&self) -> Vec<SocketAddr> {
        self.inner.ws_addrs.clone()
    }

    /// The bound WebSocket-over-TLS listener addresses (`wss://`).
    pub fn wss_addrs(&self) -> Vec<SocketAddr> {
        self.inner.wss_addrs.clone()
    }

    /// Remote paths the adapter currently maps (sessions' paths, live WebSocket
    /// connections, and a bounded set of recently seen idle sources).
    pub fn path_count(&self) -> usize {
        self.inner.shared.lock().paths.len()
    }

    /// Remote paths the adapter holds pinned (sessions' current paths, live WebSocket
    /// connections, paths being punched): they are never recycled while pinned, so
    /// this returns to its former value when the sessions using them end.
    pub fn pinned_path_count(&self) -> usize {
        let st = self.inner.shared.lock();
        st.paths.len() - st.paths.idle_len()
    }

    /// Node-wide counters (dropped packets by reason, sessions accepted…).
    pub fn stats(&self) -> NodeStats {
        self.inner.shared.lock().node.stats()
    }

    /// Starts a handshake on `path` (pinned to `expected` if given) and waits for it to
    /// complete.
    pub(crate) async fn connect_path(
        &self,
        remote: Remote,
        expected: Option<AllowList>,
    ) -> Result<Session<R>, ConnectionError> {
        self.connect_on(Target::Remote(remote), expected).await
    }

    /// Starts a handshake toward `target` (a remote, or a path the engine named, such
    /// as a relayed one) and waits for it to complete.
    pub(crate) async fn connect_on(
        &self,
        target: Target,
        expected: Option<AllowList>,
    ) -> Result<Session<R>, ConnectionError> {
        let shared = &self.inner.shared;
        let now = shared.now();
        let handle = {
            let mut st = shared.lock();
            if st.driver_done {
                return Err(ConnectionError::NodeShutDown);
            }
            let path = match target {
                Target::Remote(remote) => st.paths.path_for(&remote),
                Target::Path(path) => path,
            };
            let h = match expected {
                Some(expected) => st.node.connect_to(now, path, expected)?,
                None => st.node.connect(now, path)?,
            };
            st.paths.set_session_path(h, path);
            st.dispatch.insert(h);
            // Count the pending connect as a handle so a Closed event keeps its reason.
            // Under the same lock as the insert: once the driver runs, a refused
            // CHALLENGE can close the session at once, and a Closed event for a session
            // nobody holds forgets it (the connect then saw `NodeShutDown`).
            st.dispatch.acquire(h);
            st.wake_driver();
            h
        };
        let r = poll_fn(|cx| {
            let mut st = shared.lock();
            if st.driver_done {
                return Poll::Ready(Err(ConnectionError::NodeShutDown));
            }
            let Some(s) = st.dispatch.get_mut(handle) else {
                return Poll::Ready(Err(ConnectionError::NodeShutDown));
            };
            if let Some(reason) = &s.closed {
                return Poll::Ready(Err(ConnectionError::Closed(reason.clone())));
            }
            match (s.connected, s.peer) {
                (true, Some(peer)) => Poll::Ready(Ok(peer)),
                _ => {
                    register(&mut s.connect, cx.waker());
                    Poll::Pending
                }
            }
        })
        .await;
        let session = r.map(|peer| Session::new(shared.clone(), handle, peer));
        // Drop the connect's own count (the Session, if any, holds its own).
        shared.lock().dispatch.release(handle);
        session
    }

    /// Connects over UDP to `addr` and completes the handshake with whichever node
    /// answers there. This **authenticates some member of the network**, not a
    /// particular node: anyone holding the shared seed who can answer at (or spoof)
    /// `addr` gets the session, and [`Session::peer`] tells who it was. Use
    /// [`Node::connect_to`] to insist on a node.
    pub async fn connect(&self, addr: SocketAddr) -> Result<Session<R>, ConnectionError> {
        self.connect_udp(addr, None).await
    }

    /// Connects over UDP to `addr` and completes the handshake only with a node whose
    /// authenticated id is in `expected` (one [`NodeId`] converts into a set). Any other
    /// member is refused before this node authenticates itself to it, and the connect
    /// fails with [`ConnectionError::Closed`] of
    /// [`SessionError::PeerMismatch`](stt_proto::error::SessionError::PeerMismatch),
    /// which names both ids.
    pub async fn connect_to(
        &self,
        addr: SocketAddr,
        expected: impl Into<AllowList>,
    ) -> Result<Session<R>, ConnectionError> {
        self.connect_udp(addr, Some(expected.into())).await
    }

    async fn connect_udp(
        &self,
        addr: SocketAddr,
        expected: Option<AllowList>,
    ) -> Result<Session<R>, ConnectionError> {
        let has_family = self
            .udp_addrs()
            .iter()
            .any(|a| a.is_ipv4() == addr.is_ipv4());
        if !has_family {
            return Err(ConnectionError::NoTransport(addr.to_string()));
        }
        self.connect_path(Remote::Udp(addr), expected).await
    }

    /// Connects over WebSocket (`ws://host:port/`, or `wss://host:port/` verified
    /// against the roots given to [`Builder::wss_trust`]) and completes the handshake
    /// with whichever network member answers (see [`Node::connect`]; the TLS
    /// certificate names a server, not a node). A refused certificate is a
    /// [`ConnectionError::Tls`].
    pub async fn connect_ws(&self, url: &str) -> Result<Session<R>, ConnectionError> {
        let conn = self.dial_ws(url).await?;
        self.connect_path(Remote::Ws(conn), None).await
    }

    /// [`Node::connect_ws`] pinned to the nodes in `expected`, as [`Node::connect_to`].
    pub async fn connect_ws_to(
        &self,
        url: &str,
        expected: impl Into<AllowList>,
    ) -> Result<Session<R>, ConnectionError> {
        let conn = self.dial_ws(url).await?;
        self.connect_path(Remote::Ws(conn), Some(expected.into()))
            .await
    }

    async fn dial_ws(&self, url: &str) -> Result<u64, ConnectionError> {
        let trust = self.inner.wss_trust.as_ref();
        self.inner.rt.dial_ws(&self.inner.shared, url, trust).await
    }

    /// Waits for the next inbound session; `None` once the node has shut down.
    pub async fn accept(&self) -> Option<Session<R>> {
        let shared = &self.inner.shared;
        let handle: Option<SessionHandle> = poll_fn(|cx| {
            let mut st = shared.lock();
            if st.driver_done {
                return Poll::Ready(None);
            }
            match st.dispatch.poll_incoming(cx.waker()) {
                Some(h) => Poll::Ready(Some(h)),
                None => Poll::Pending,
            }
        })
        .await;
        let handle = handle?;
        let peer = shared.lock().dispatch.get(handle).and_then(|s| s.peer)?;
        Some(Session::new(shared.clone(), handle, peer))
    }

    /// Sends `data` as an unreliable datagram to every established session (the
    /// broadcast). Returns how many sessions it was queued on.
    pub fn send_to_all(&self, data: Bytes) -> usize {
        let shared = &self.inner.shared;
        let now = shared.now();
        let mut st = shared.lock();
        let mut n = 0;
        for h in st.node.sessions() {
            if let Some(mut s) = st.node.session(h)
                && s.is_established()
                && s.send_datagram(now, data.clone()).is_ok()
            {
                n += 1;
            }
        }
        st.drain_events(now);
        st.wake_driver();
        n
    }

    /// Replaces the UDP socket bound to `old` by a fresh one on `new` (port 0 picks
    /// one); sessions carry on, and peers see the new source address.
    pub async fn rebind_udp(
        &self,
        old: SocketAddr,
        new: SocketAddr,
    ) -> Result<SocketAddr, BindError> {
        let io = UdpIo::bind(&self.inner.rt, new, self.inner.socket_buffer)
            .map_err(|source| BindError::Io { addr: new, source })?;
        let local = io.local_addr();
        let _ = self.inner.commands.try_send(Command::ReplaceUdp(old, io));
        if let Ok(mut a) = self.inner.udp_addrs.lock() {
            a.retain(|x| *x != old);
            a.push(local);
        }
        self.inner.shared.lock().wake_driver();
        Ok(local)
    }

    /// Moves a session to a new WebSocket connection to `url`: the engine sends on the
    /// connection's path from now on, the peer validates it when the first packets
    /// arrive, and packets still in flight on the old path do not pull the session back.
    pub async fn migrate_ws(&self, session: &Session<R>, url: &str) -> Result<(), ConnectionError> {
        let conn = self.dial_ws(url).await?;
        self.move_session(session, |st| {
            // `None`: the connection ended before the move.
            st.paths
                .get(&Remote::Ws(conn))
                .ok_or_else(|| ConnectionError::Transport("WebSocket closed".into()))
        })
    }

    /// Moves a session to UDP address `addr` (say, from a WebSocket once UDP is found to
    /// work): the engine sends there from now on, within the anti-amplification budget
    /// until the peer's answer validates the path.
    pub async fn migrate_udp(
        &self,
        session: &Session<R>,
        addr: SocketAddr,
    ) -> Result<(), ConnectionError> {
        let has_family = self
            .udp_addrs()
            .iter()
            .any(|a| a.is_ipv4() == addr.is_ipv4());
        if !has_family {
            return Err(ConnectionError::NoTransport(addr.to_string()));
        }
        self.move_session(session, |st| Ok(st.paths.path_for(&Remote::Udp(addr))))
    }

    /// Points `session` at the path `path` picks (under the lock) and lets the driver
    /// send there: the one move both migrations share.
    fn move_session(
        &self,
        session: &Session<R>,
        path: impl FnOnce(&mut crate::shared::State) -> Result<PathId, ConnectionError>,
    ) -> Result<(), ConnectionError> {
        let shared = &self.inner.shared;
        let now = shared.now();
        let mut st = shared.lock();
        let path = path(&mut st)?;
        let moved = match st.node.session(session.handle()) {
            Some(mut s) => s.migrate(now, path),
            None => return Err(ConnectionError::Closing),
        };
        moved.map_err(|_| ConnectionError::Closing)?;
        st.drain_events(now);
        st.wake_driver();
        Ok(())
    }

    /// Graceful shutdown: waits (up to `timeout`) until every finished stream is
    /// acknowledged and nothing is in flight, closes every session with `code`, lets
    /// the DISCONNECTs go out, then stops the driver.
    pub async fn shutdown(&self, code: u64, reason: &[u8], timeout: Duration) {
        let shared = &self.inner.shared;
        let deadline = std::time::Instant::now() + timeout;
        let flushed = poll_fn(|cx| {
            let mut st = shared.lock();
            let mut busy = false;
            let handles: Vec<_> = st.dispatch.handles().collect();
            for h in handles {
                let unfinished = st.dispatch.get(h).map_or(0, |s| s.unfinished_streams());
                let in_flight = st
                    .node
                    .session(h)
                    .map_or(0, |mut s| s.stats().bytes_in_flight);
                if unfinished > 0 || in_flight > 0 {
                    busy = true;
                }
            }
            if busy {
                register(&mut st.dispatch.idle, cx.waker());
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        });
        // In-flight bytes drain without an event; poll the condition periodically.
        let mut flushed = pin!(flushed);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            let tick = pin!(self.inner.rt.sleep(left.min(Duration::from_millis(5))));
            if let Either::Left(_) = select(flushed.as_mut(), tick).await {
                break;
            }
        }
        {
            let now = shared.now();
            let mut st = shared.lock();
            for h in st.node.sessions() {
                if let Some(mut s) = st.node.session(h) {
                    s.close(now, ErrorCode(code), reason);
                }
            }
            st.drain_events(now);
            st.wake_driver();
        }
        // Give the DISCONNECTs a moment to leave the sockets.
        self.inner.rt.sleep(Duration::from_millis(20)).await;
        let mut st = shared.lock();
        st.stop = true;
        st.wake_driver();
    }
}
