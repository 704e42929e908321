//! Event → waker dispatch: what each session and stream handle is waiting for, and
//! which engine [`Event`] wakes it. Edge events become level state here (connected,
//! closed reason, finished) so a handle polled late still sees what happened.
//!
//! Callers hold one lock over the engine and this table, so a check followed by a
//! waker registration can never miss the event in between.

use std::collections::{HashMap, VecDeque};
use std::task::Waker;

use stt_proto::error::SessionError;
use stt_proto::frame::{Dir, ErrorCode, StreamId};
use stt_proto::{Event, NodeId, PathId, SessionHandle, StreamEvent};

/// Moves the waker in `slot`, if any, to `woken`: the caller wakes them once it has
/// released its lock, so a woken task does not run straight into it.
fn wake(woken: &mut Vec<Waker>, slot: &mut Option<Waker>) {
    woken.extend(slot.take());
}

/// Stores `waker` in `slot` unless an equivalent one is already there.
pub fn register(slot: &mut Option<Waker>, waker: &Waker) {
    match slot {
        Some(w) if w.will_wake(waker) => {}
        _ => *slot = Some(waker.clone()),
    }
}

fn dir_index(dir: Dir) -> usize {
    match dir {
        Dir::Bi => 0,
        Dir::Uni => 1,
    }
}

/// Waiters and remembered edges of one stream.
#[derive(Debug, Default)]
pub struct StreamState {
    /// A reader waiting for data.
    pub read: Option<Waker>,
    /// A writer waiting for room, or for `Finished` after `finish`.
    pub write: Option<Waker>,
    /// Everything written and the FIN were acknowledged.
    pub finished: bool,
    /// `finish` was called and `finished` is not yet true.
    pub finishing: bool,
    /// The peer sent STOP with this code.
    pub stopped: Option<ErrorCode>,
    /// The sending half has a live handle.
    pub send_open: bool,
    /// The receiving half has a live handle.
    pub recv_open: bool,
}

/// Waiters and remembered edges of one session.
#[derive(Debug, Default)]
pub struct SessionState {
    /// The handshake completed.
    pub connected: bool,
    /// The peer's id, once connected.
    pub peer: Option<NodeId>,
    /// Why the session ended, once it has.
    pub closed: Option<SessionError>,
    /// The path the engine last reported (`PathChanged`), if any.
    pub path: Option<PathId>,
    /// `connect` waiting for the handshake.
    pub connect: Option<Waker>,
    /// `accept_bi` / `accept_uni` waiting for a peer-opened stream.
    pub accept: [Option<Waker>; 2],
    /// `open_bi` / `open_uni` waiting for stream credit.
    pub open: [Option<Waker>; 2],
    /// A datagram receiver.
    pub datagram: Option<Waker>,
    /// Someone waiting for the session to close, or for a path change.
    pub closed_waiter: Option<Waker>,
    /// Per-stream state, for streams that have a handle.
    pub streams: HashMap<StreamId, StreamState>,
    /// Live user handles (sessions and streams); the adapter counts them.
    pub handles: usize,
}

impl SessionState {
    fn wake_all(&mut self, woken: &mut Vec<Waker>) {
        wake(woken, &mut self.connect);
        self.accept.iter_mut().for_each(|slot| wake(woken, slot));
        self.open.iter_mut().for_each(|slot| wake(woken, slot));
        wake(woken, &mut self.datagram);
        wake(woken, &mut self.closed_waiter);
        for s in self.streams.values_mut() {
            wake(woken, &mut s.read);
            wake(woken, &mut s.write);
        }
    }

    /// Slot for an accept waiter of `dir`.
    pub fn accept_slot(&mut self, dir: Dir) -> &mut Option<Waker> {
        &mut self.accept[dir_index(dir)]
    }

    /// Slot for an open waiter of `dir`.
    pub fn open_slot(&mut self, dir: Dir) -> &mut Option<Waker> {
        &mut self.open[dir_index(dir)]
    }

    /// The state of stream `id`, created if missing.
    pub fn stream(&mut self, id: StreamId) -> &mut StreamState {
        self.streams.entry(id).or_default()
    }

    /// Marks one half of a stream released; forgets the stream once both are.
    pub fn release_stream(&mut self, id: StreamId, send: bool) {
        if let Some(s) = self.streams.get_mut(&id) {
            if send {
                s.send_open = false;
            } else {
                s.recv_open = false;
            }
            if !s.send_open && !s.recv_open {
                self.streams.remove(&id);
            }
        }
    }

    /// Streams whose `finish` is not yet acknowledged.
    pub fn unfinished_streams(&self) -> usize {
        self.streams.values().filter(|s| s.finishing).count()
    }
}

/// The whole table: sessions by handle, the queue of accepted inbound sessions, and
/// the node-level waiters.
#[derive(Debug, Default)]
pub struct Dispatch {
    sessions: HashMap<SessionHandle, SessionState>,
    incoming: VecDeque<SessionHandle>,
    /// `accept` waiting for an inbound session.
    pub accept: Option<Waker>,
    /// Someone waiting for any session to finish its streams or close (shutdown).
    pub idle: Option<Waker>,
    /// Event subscriptions (every event is published here first).
    pub bus: super::EventBus,
    /// Waiters of the application primitives.
    pub apps: super::AppWaiters,
    /// Wakers of the handles the events since the last [`take_woken`](Self::take_woken)
    /// concern, to be woken by the caller after it releases its lock.
    woken: Vec<Waker>,
}

impl Dispatch {
    /// Tracks a session this node initiated.
    pub fn insert(&mut self, handle: SessionHandle) -> &mut SessionState {
        self.sessions.entry(handle).or_default()
    }

    /// The state of a tracked session.
    pub fn get(&self, handle: SessionHandle) -> Option<&SessionState> {
        self.sessions.get(&handle)
    }

    /// The state of a tracked session, mutably.
    pub fn get_mut(&mut self, handle: SessionHandle) -> Option<&mut SessionState> {
        self.sessions.get_mut(&handle)
    }

    /// Tracked sessions.
    pub fn handles(&self) -> impl Iterator<Item = SessionHandle> + '_ {
        self.sessions.keys().copied()
    }

    /// True when no session is tracked.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Takes the next inbound session, or registers `waker` for one.
    pub fn poll_incoming(&mut self, waker: &Waker) -> Option<SessionHandle> {
        while let Some(h) = self.incoming.pop_front() {
            match self.sessions.get(&h) {
                Some(s) if s.closed.is_none() => return Some(h),
                _ => {
                    self.sessions.remove(&h);
                }
            }
        }
        register(&mut self.accept, waker);
        None
    }

    /// Counts one more user handle on `handle`.
    pub fn acquire(&mut self, handle: SessionHandle) {
        if let Some(s) = self.sessions.get_mut(&handle) {
            s.handles += 1;
        }
    }

    /// Counts one handle fewer; returns true when it was the last one (the adapter
    /// then closes the session if it is still open). A closed session with no handle
    /// left is forgotten.
    pub fn release(&mut self, handle: SessionHandle) -> bool {
        let Some(s) = self.sessions.get_mut(&handle) else {
            return false;
        };
        s.handles = s.handles.saturating_sub(1);
        if s.handles > 0 {
            return false;
        }
        if s.closed.is_some() {
            self.sessions.remove(&handle);
        }
        true
    }

    /// The wakers the events applied since the last call concern: wake them after
    /// releasing the lock this table is under.
    pub fn take_woken(&mut self) -> Vec<Waker> {
        core::mem::take(&mut self.woken)
    }

    /// Applies one engine event: updates remembered state and queues the wakers of
    /// whoever waits for [`take_woken`](Self::take_woken).
    pub fn on_event(&mut self, event: &Event) {
        self.bus.publish(event);
        self.apps.on_event(event);
        match event {
            Event::Connected {
                session,
                peer,
                initiator,
            } => {
                let s = self.sessions.entry(*session).or_default();
                s.connected = true;
                s.peer = Some(*peer);
                wake(&mut self.woken, &mut s.connect);
                if !initiator {
                    self.incoming.push_back(*session);
                    wake(&mut self.woken, &mut self.accept);
                }
            }
            Event::Closed { session, reason } => {
                let forget = match self.sessions.get_mut(session) {
                    Some(s) => {
                        s.closed = Some(reason.clone());
                        s.wake_all(&mut self.woken);
                        s.handles == 0 && !self.incoming.contains(session)
                    }
                    None => false,
                };
                if forget {
                    self.sessions.remove(session);
                }
                wake(&mut self.woken, &mut self.idle);
            }
            Event::Stream { session, event } => {
                let Some(s) = self.sessions.get_mut(session) else {
                    return;
                };
                match event {
                    StreamEvent::Opened { id, .. } => {
                        wake(&mut self.woken, s.accept_slot(id.dir()))
                    }
                    StreamEvent::Available(dir) => wake(&mut self.woken, s.open_slot(*dir)),
                    StreamEvent::Readable(id) | StreamEvent::Reset { id, .. } => {
                        if let Some(st) = s.streams.get_mut(id) {
                            wake(&mut self.woken, &mut st.read);
                        }
                    }
                    StreamEvent::Writable(id) => {
                        if let Some(st) = s.streams.get_mut(id) {
                            wake(&mut self.woken, &mut st.write);
                        }
                    }
                    StreamEvent::Finished(id) => {
                        if let Some(st) = s.streams.get_mut(id) {
                            st.finished = true;
                            st.finishing = false;
                            wake(&mut self.woken, &mut st.write);
                        }
                        wake(&mut self.woken, &mut self.idle);
                    }
                    StreamEvent::Expired(id) => {
                        if let Some(st) = s.streams.get_mut(id) {
                            st.stopped = Some(ErrorCode::STREAM_EXPIRED);
                            st.finishing = false;
                            wake(&mut self.woken, &mut st.write);
                        }
                        wake(&mut self.woken, &mut self.idle);
                    }
                    StreamEvent::Stopped { id, code } => {
                        if let Some(st) = s.streams.get_mut(id) {
                            st.stopped = Some(*code);
                            st.finishing = false;
                            wake(&mut self.woken, &mut st.write);
                        }
                        wake(&mut self.woken, &mut self.idle);
                    }
                }
            }
            Event::DatagramReceived { session } => {
                if let Some(s) = self.sessions.get_mut(session) {
                    wake(&mut self.woken, &mut s.datagram);
                }
            }
            Event::PathChanged { session, path } => {
                if let Some(s) = self.sessions.get_mut(session) {
                    s.path = Some(*path);
                    wake(&mut self.woken, &mut s.closed_waiter);
                }
            }
            Event::CustomFrame { .. }
            | Event::KeyUpdated { .. }
            | Event::Endpoint { .. }
            | Event::Storage { .. }
            | Event::MessagesWritable { .. }
            | Event::Rendezvous(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use super::*;
    use stt_proto::frame::Side;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn events_queue_wakers_for_the_caller_to_wake_after_unlocking() {
        let mut d = Dispatch::default();
        let h = crate::state::test_handle(1);
        let id = StreamId::new(Side::Initiator, Dir::Uni, 0).unwrap();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        register(
            &mut d.insert(h).stream(id).read,
            &Waker::from(count.clone()),
        );
        d.on_event(&Event::Stream {
            session: h,
            event: StreamEvent::Readable(id),
        });
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "woken inside on_event");
        let woken = d.take_woken();
        assert_eq!(woken.len(), 1);
        woken.into_iter().for_each(Waker::wake);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(d.take_woken().is_empty(), "handed out once");
    }
}
