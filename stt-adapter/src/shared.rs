//! State shared by the driver task and every user handle: the engine, the dispatch
//! table, the path table and the WebSocket senders behind one mutex (quinn's
//! `ConnectionRef` pattern), plus the per-session JSON-lines trace files.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;

use crate::state::{Dispatch, PathTable, PunchPins, RendezvousWaits};
use bytes::{Bytes, BytesMut};
use stt_proto::{Event, Instant, PathId, RemoteAddr, RendezvousEvent, SessionHandle};

use crate::rejections::RejectionLog;
use crate::trace_log::TraceLog;

/// Where a path leads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Remote {
    /// A UDP peer address.
    Udp(SocketAddr),
    /// One WebSocket connection, by adapter-local number.
    Ws(u64),
}

/// Everything behind the lock.
pub(crate) struct State {
    pub(crate) node: stt_proto::Node,
    pub(crate) dispatch: Dispatch,
    pub(crate) paths: PathTable<Remote>,
    /// The punch paths pinned in `paths`, and when each is released.
    pub(crate) punch_pins: PunchPins,
    /// Rendezvous answers awaited by `connect_via` and `register_rendezvous`.
    pub(crate) rendezvous: RendezvousWaits,
    pub(crate) driver: Option<Waker>,
    pub(crate) ws_out: HashMap<u64, async_channel::Sender<Bytes>>,
    pub(crate) next_ws: u64,
    pub(crate) node_handles: usize,
    pub(crate) stop: bool,
    pub(crate) driver_done: bool,
    traces: TraceLog,
    pub(crate) spans: HashMap<SessionHandle, tracing::Span>,
    pub(crate) node_span: tracing::Span,
    /// [`wake_driver`](Self::wake_driver) was called under the current lock.
    wake_pending: bool,
    rejections: RejectionLog,
}

impl State {
    pub(crate) fn new(node: stt_proto::Node, traces: TraceLog, node_span: tracing::Span) -> Self {
        Self {
            node,
            dispatch: Dispatch::default(),
            paths: PathTable::default(),
            punch_pins: PunchPins::default(),
            rendezvous: RendezvousWaits::default(),
            driver: None,
            ws_out: HashMap::new(),
            next_ws: 1,
            node_handles: 1,
            stop: false,
            driver_done: false,
            traces,
            spans: HashMap::new(),
            node_span,
            wake_pending: false,
            rejections: RejectionLog::default(),
        }
    }

    /// Wakes the driver so it transmits what an application call queued, once the
    /// lock is released ([`Locked`]).
    pub(crate) fn wake_driver(&mut self) {
        self.wake_pending = true;
    }

    /// Drains engine events into the dispatch table, the tracing spans and the trace
    /// files. Called by the driver and after every application call.
    pub(crate) fn drain_events(&mut self, now: Instant) {
        while let Some(r) = self.node.poll_rejected_handshake() {
            let remote = self.paths.addr(r.path).copied();
            self.rejections
                .record(remote, r.cause, std::time::Instant::now());
        }
        // Metrics first: a session's last records precede its `Closed` event.
        while let Some(record) = self.node.poll_metric() {
            self.traces.metric(&record);
        }
        while let Some(event) = self.node.poll_event() {
            let session = session_of(&event);
            if let Event::Connected { session, peer, .. } = &event {
                let path = self
                    .node
                    .session(*session)
                    .map(|mut s| s.path())
                    .and_then(|p| self.paths.addr(p).copied());
                let span = tracing::info_span!(
                    parent: &self.node_span,
                    "session",
                    id = ?session,
                    peer = %peer,
                    path = ?path
                );
                self.spans.insert(*session, span);
                self.traces.on_connected(*session, peer, now);
            }
            if let Some(span) = self.spans.get(&session) {
                span.in_scope(|| tracing::debug!(event = ?event, "stt event"));
            }
            self.traces.event(now, &event);
            self.dispatch.on_event(&event);
            self.paths.on_event(&event, &mut self.node);
            self.punch_pins.on_event(&event, &mut self.paths);
            self.rendezvous.on_event(&event);
            if let Event::Rendezvous(RendezvousEvent::Peer {
                session,
                peer,
                addr,
                ..
            }) = &event
                && let Some(sa) = addr.to_socket_addr()
            {
                // The peer's observed address becomes a path the core probes for a
                // direct route (PROTOCOL.md §12.4); pinned, so it is not recycled while
                // the probes may still use it, until the peer's sessions or the
                // introducing rendezvous session end (`PunchPins`).
                let path = self.paths.path_for(&Remote::Udp(sa));
                self.punch_pins
                    .introduced(*session, *peer, path, &mut self.paths);
                self.node.punch(now, *peer, path);
            }
            if let Event::Closed { session, .. } = &event {
                self.spans.remove(session);
                self.traces.on_closed(*session);
            }
        }
        self.traces.flush();
    }
}

fn session_of(e: &Event) -> SessionHandle {
    e.session()
}

/// One node's state as its driver, its handles and its WebSocket tasks share it: the
/// lock and the clock. Runtimes see it only through [`Shared::is_stopped`],
/// [`Shared::max_ws_message`] and [`crate::ws::attach`].
pub struct Shared {
    state: Mutex<State>,
    epoch: std::time::Instant,
    /// Inbound WebSocket packets for the driver.
    pub(crate) ws_in: async_channel::Sender<(PathId, RemoteAddr, BytesMut)>,
    /// Largest WebSocket message accepted.
    max_ws_message: usize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").finish_non_exhaustive()
    }
}

impl Shared {
    pub(crate) fn new(
        state: State,
        ws_in: async_channel::Sender<(PathId, RemoteAddr, BytesMut)>,
        max_ws_message: usize,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(state),
            epoch: std::time::Instant::now(),
            ws_in,
            max_ws_message,
        })
    }

    /// Engine time: microseconds since this node started.
    pub(crate) fn now(&self) -> Instant {
        Instant::from_micros(self.epoch.elapsed().as_micros() as u64)
    }

    /// The wall-clock instant of an engine instant (for the runtime's timer).
    pub(crate) fn deadline(&self, t: Instant) -> std::time::Instant {
        self.epoch + std::time::Duration::from_micros(t.as_micros())
    }

    /// True once the driver has stopped: accept loops and WebSocket tasks end.
    pub fn is_stopped(&self) -> bool {
        self.lock().driver_done
    }

    /// Largest WebSocket message accepted; larger ones close their connection.
    pub fn max_ws_message(&self) -> usize {
        self.max_ws_message
    }

    /// Locks the state after draining pending engine events, so a handle never sees
    /// a freed session before its `Closed` reason; returns the current time too.
    pub(crate) fn lock_now(&self) -> (Locked<'_>, Instant) {
        let now = self.now();
        let mut st = self.lock();
        st.drain_events(now);
        (st, now)
    }

    /// Locks the state. A panic while locked cannot leave the engine half-updated in
    /// a way later calls could observe unsafely, so poisoning is ignored.
    pub(crate) fn lock(&self) -> Locked<'_> {
        Locked(Some(self.state.lock().unwrap_or_else(|p| p.into_inner())))
    }
}

/// The locked state. After unlocking it wakes the handles the engine's events concern
/// and the driver, if a call asked for it: woken under the lock, their threads would
/// only run into it and sleep again.
pub(crate) struct Locked<'a>(Option<MutexGuard<'a, State>>);

impl std::ops::Deref for Locked<'_> {
    type Target = State;

    fn deref(&self) -> &State {
        match &self.0 {
            Some(g) => g,
            None => unreachable!("the guard is only taken in drop"),
        }
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut State {
        match &mut self.0 {
            Some(g) => g,
            None => unreachable!("the guard is only taken in drop"),
        }
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let Some(mut guard) = self.0.take() else {
            return;
        };
        let driver = if std::mem::take(&mut guard.wake_pending) {
            guard.driver.take()
        } else {
            None
        };
        let woken = guard.dispatch.take_woken();
        drop(guard);
        woken.into_iter().chain(driver).for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn shared() -> Arc<Shared> {
        let node = stt_proto::Node::new(
            Arc::new(stt_proto::config::NodeConfig::default()),
            stt_proto::Identity::from_node_seed(&[1; 32]).unwrap(),
            stt_proto::NetworkKey::from_shared_seed(&[2; 32]).unwrap(),
            [3; 32],
        )
        .unwrap();
        let (ws_in, _) = async_channel::bounded(1);
        Shared::new(
            State::new(node, TraceLog::default(), tracing::Span::none()),
            ws_in,
            1 << 16,
        )
    }

    #[test]
    fn the_driver_is_woken_after_the_lock_is_released() {
        let shared = shared();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        shared.lock().driver = Some(Waker::from(count.clone()));
        {
            let mut st = shared.lock();
            st.wake_driver();
            assert_eq!(count.0.load(Ordering::SeqCst), 0, "woken under the lock");
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        // The waker was used up; a lock without a wake request wakes nobody.
        drop(shared.lock());
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(shared.lock().driver.is_none());
    }
}
