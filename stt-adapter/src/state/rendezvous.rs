//! What [`Node::connect_via`](crate::Node::connect_via) and
//! [`Session::register_rendezvous`](crate::Session::register_rendezvous) wait for: the
//! rendezvous's answer to one request (PROTOCOL.md §12.2), by session and request id,
//! kept until taken. Only awaited requests are kept, so nothing grows unasked.
//! Plain `std` and `Waker`s; no runtime, no protocol decisions.

use std::collections::HashMap;
use std::task::Waker;

use stt_proto::{Event, RendezvousEvent, SessionHandle};

/// A request being waited for: its answer once it came, and the waiting task.
#[derive(Debug, Default)]
struct Wait {
    answer: Option<RendezvousEvent>,
    waker: Option<Waker>,
}

/// Rendezvous requests being waited for.
#[derive(Debug, Default)]
pub struct RendezvousWaits {
    waits: HashMap<(SessionHandle, u64), Wait>,
}

impl RendezvousWaits {
    /// Someone will wait for request `request` on `session`.
    pub fn expect(&mut self, session: SessionHandle, request: u64) {
        self.waits.entry((session, request)).or_default();
    }

    /// The answer, taken (the wait ends), or `None` with `waker` registered.
    pub fn poll(
        &mut self,
        session: SessionHandle,
        request: u64,
        waker: &Waker,
    ) -> Option<RendezvousEvent> {
        let w = self.waits.get_mut(&(session, request))?;
        if let Some(a) = w.answer.take() {
            self.waits.remove(&(session, request));
            return Some(a);
        }
        w.waker = Some(waker.clone());
        None
    }

    /// Gives up a wait (its future was dropped or failed).
    pub fn cancel(&mut self, session: SessionHandle, request: u64) {
        self.waits.remove(&(session, request));
    }

    /// Stores an answer someone waits for; a closed session wakes its waiters (they
    /// find it closed).
    pub fn on_event(&mut self, event: &Event) {
        let (session, request) = match event {
            Event::Rendezvous(
                RendezvousEvent::Registered {
                    session, request, ..
                }
                | RendezvousEvent::Found {
                    session, request, ..
                }
                | RendezvousEvent::Failed {
                    session, request, ..
                }
                | RendezvousEvent::Peer {
                    session, request, ..
                },
            ) => (*session, *request),
            Event::Closed { session, .. } => {
                for ((s, _), w) in self.waits.iter_mut() {
                    if s == session
                        && let Some(k) = w.waker.take()
                    {
                        k.wake();
                    }
                }
                return;
            }
            _ => return,
        };
        let Event::Rendezvous(e) = event else {
            return;
        };
        if let Some(w) = self.waits.get_mut(&(session, request)) {
            w.answer = Some(e.clone());
            if let Some(k) = w.waker.take() {
                k.wake();
            }
        }
    }
}
