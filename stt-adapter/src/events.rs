//! [`EventStream`]: a subscription to every engine event of a node (an event
//! emitter). Bounded and lossy by design: the driver never waits for a slow
//! subscriber; the subscriber instead learns how many events it missed.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::state::{DEFAULT_SUBSCRIBER_CAPACITY, EventFilter, SubscriberId};
use stt_proto::Event;

use crate::node::Node;
use crate::runtime::Runtime;
use crate::shared::Shared;

/// Why [`EventStream::recv`] returned no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// This subscriber fell behind and missed this many events; the next `recv`
    /// continues with the oldest one still held.
    #[error("lagged: {0} events missed")]
    Lagged(u64),
    /// The node shut down.
    #[error("node shut down")]
    Closed,
}

/// A subscription to a node's events. Dropping it unsubscribes.
pub struct EventStream {
    shared: Arc<Shared>,
    id: SubscriberId,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream").field("id", &self.id).finish()
    }
}

impl<R: Runtime> Node<R> {
    /// Subscribes to every event from now on, holding up to 1024 unread.
    pub fn events(&self) -> EventStream {
        self.events_with(DEFAULT_SUBSCRIBER_CAPACITY, None)
    }

    /// Subscribes to the events `filter` accepts (all if `None`), holding up to
    /// `capacity` unread before the oldest are dropped for this subscriber.
    pub fn events_with(&self, capacity: usize, filter: Option<EventFilter>) -> EventStream {
        let shared = self.inner.shared.clone();
        let id = shared.lock().dispatch.bus.subscribe(capacity, filter);
        EventStream { shared, id }
    }
}

impl EventStream {
    /// The subscription's id on the node's bus.
    pub(crate) fn id(&self) -> SubscriberId {
        self.id
    }

    /// Polls for the next event.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<Event, RecvError>> {
        let mut st = self.shared.lock();
        match st.dispatch.bus.poll_recv(self.id, cx.waker()) {
            Poll::Ready(Some(Ok(e))) => Poll::Ready(Ok(e)),
            Poll::Ready(Some(Err(lag))) => Poll::Ready(Err(RecvError::Lagged(lag.0))),
            Poll::Ready(None) => Poll::Ready(Err(RecvError::Closed)),
            Poll::Pending if st.driver_done => Poll::Ready(Err(RecvError::Closed)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Waits for the next event.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl futures_util::Stream for EventStream {
    type Item = Result<Event, RecvError>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.get_mut().poll_recv(cx) {
            Poll::Ready(Err(RecvError::Closed)) => Poll::Ready(None),
            Poll::Ready(r) => Poll::Ready(Some(r)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.shared.lock().dispatch.bus.unsubscribe(self.id);
    }
}
