//! The event subscription shared by the async adapters:
//! every engine [`Event`] fanned out to any number of subscribers, each with its own
//! bounded queue and an optional filter. Publishing never waits: a subscriber whose
//! queue is full loses its oldest event and is told how many it missed ([`Lagged`]).
//!
//! Plain `std` and `Waker`s; no runtime, no protocol decisions.

use std::collections::{BTreeMap, VecDeque};
use std::task::{Poll, Waker};

use stt_proto::Event;

/// Default number of events a subscriber may fall behind before it lags.
pub const DEFAULT_SUBSCRIBER_CAPACITY: usize = 1024;

/// A subscriber missed this many events (dropped for it alone, oldest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("subscriber lagged: {0} events missed")]
pub struct Lagged(pub u64);

/// Names one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SubscriberId(u64);

/// Which events a subscription wants.
pub type EventFilter = fn(&Event) -> bool;

struct Subscriber {
    queue: VecDeque<Event>,
    capacity: usize,
    missed: u64,
    filter: Option<EventFilter>,
    waker: Option<Waker>,
}

/// The fan-out.
#[derive(Default)]
pub struct EventBus {
    subscribers: BTreeMap<SubscriberId, Subscriber>,
    next_id: u64,
}

impl core::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EventBus")
            .field("subscribers", &self.subscribers.len())
            .finish()
    }
}

impl EventBus {
    /// Starts a subscription to the events published from now on (those `filter`
    /// accepts, or all), holding at most `capacity` (at least 1) unread.
    pub fn subscribe(&mut self, capacity: usize, filter: Option<EventFilter>) -> SubscriberId {
        let id = SubscriberId(self.next_id);
        self.next_id += 1;
        self.subscribers.insert(
            id,
            Subscriber {
                queue: VecDeque::new(),
                capacity: capacity.max(1),
                missed: 0,
                filter,
                waker: None,
            },
        );
        id
    }

    /// Ends a subscription; a task waiting on it is woken (and then finds it gone).
    pub fn unsubscribe(&mut self, id: SubscriberId) {
        if let Some(w) = self.subscribers.remove(&id).and_then(|s| s.waker) {
            w.wake();
        }
    }

    /// Number of subscriptions.
    #[cfg(test)]
    pub fn subscribers(&self) -> usize {
        self.subscribers.len()
    }

    /// Publishes an event to every subscriber that wants it. Costs nothing without
    /// subscribers; never more than one clone (a reference count for payloads) each.
    pub fn publish(&mut self, event: &Event) {
        for s in self.subscribers.values_mut() {
            if s.filter.is_some_and(|f| !f(event)) {
                continue;
            }
            if s.queue.len() >= s.capacity {
                s.queue.pop_front();
                s.missed += 1;
            }
            s.queue.push_back(event.clone());
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }

    /// The subscriber's next event; first `Err(Lagged)` if it lost events since its
    /// last read; `Pending` with `waker` stored if there is none; `Ready(None)` if the
    /// subscription does not exist.
    pub fn poll_recv(
        &mut self,
        id: SubscriberId,
        waker: &Waker,
    ) -> Poll<Option<Result<Event, Lagged>>> {
        let Some(s) = self.subscribers.get_mut(&id) else {
            return Poll::Ready(None);
        };
        if s.missed > 0 {
            let missed = core::mem::take(&mut s.missed);
            return Poll::Ready(Some(Err(Lagged(missed))));
        }
        if let Some(e) = s.queue.pop_front() {
            return Poll::Ready(Some(Ok(e)));
        }
        match &s.waker {
            Some(w) if w.will_wake(waker) => {}
            _ => s.waker = Some(waker.clone()),
        }
        Poll::Pending
    }

    /// Wakes every subscriber (the node is shutting down).
    pub fn wake_all(&mut self) {
        for s in self.subscribers.values_mut() {
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    fn ev(n: u32) -> Event {
        Event::KeyUpdated {
            session: crate::state::test_handle(n),
        }
    }

    fn next(bus: &mut EventBus, id: SubscriberId) -> Option<Result<Event, Lagged>> {
        match bus.poll_recv(id, Waker::noop()) {
            Poll::Ready(r) => r,
            Poll::Pending => None,
        }
    }

    #[test]
    fn every_subscriber_sees_every_event_in_order() {
        let mut bus = EventBus::default();
        bus.publish(&ev(0)); // nobody listens: not kept
        let a = bus.subscribe(8, None);
        let b = bus.subscribe(8, None);
        for i in 1..=3 {
            bus.publish(&ev(i));
        }
        for i in 1..=3 {
            assert_eq!(next(&mut bus, a), Some(Ok(ev(i))));
        }
        assert_eq!(next(&mut bus, a), None);
        for i in 1..=3 {
            assert_eq!(next(&mut bus, b), Some(Ok(ev(i))));
        }
    }

    #[test]
    fn a_slow_subscriber_lags_alone_and_is_told_how_much() {
        let mut bus = EventBus::default();
        let slow = bus.subscribe(4, None);
        let fast = bus.subscribe(100, None);
        for i in 0..10 {
            bus.publish(&ev(i));
            assert_eq!(next(&mut bus, fast), Some(Ok(ev(i))));
        }
        assert_eq!(next(&mut bus, slow), Some(Err(Lagged(6))));
        for i in 6..10 {
            assert_eq!(next(&mut bus, slow), Some(Ok(ev(i))));
        }
        assert_eq!(next(&mut bus, slow), None);
        bus.unsubscribe(slow);
        assert_eq!(next(&mut bus, slow), None);
        assert_eq!(bus.subscribers(), 1);
    }

    #[test]
    fn a_filter_keeps_unwanted_events_from_filling_the_queue() {
        let mut bus = EventBus::default();
        let only_odd = bus.subscribe(2, Some(|e| e.session() == crate::state::test_handle(1)));
        for i in 0..100 {
            bus.publish(&ev(i % 2));
        }
        assert_eq!(next(&mut bus, only_odd), Some(Err(Lagged(48))));
        assert_eq!(next(&mut bus, only_odd), Some(Ok(ev(1))));
    }
}
