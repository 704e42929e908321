//! The one way the primitives' handles (events, endpoints, custom frames, storage,
//! streaming helpers) reach the engine: lock the node, act, pass the engine's events
//! on and wake the driver. No protocol logic here.

use crate::error::ConnectionError;
use stt_proto::SessionHandle;

use crate::shared::{Shared, State};

/// Runs `f` on the locked node state, then drains events and wakes the driver.
pub(crate) fn with<T>(shared: &Shared, f: impl FnOnce(&mut State, stt_proto::Instant) -> T) -> T {
    let (mut st, now) = shared.lock_now();
    let r = f(&mut st, now);
    st.drain_events(now);
    st.wake_driver();
    r
}

/// `Some(error)` if the session can no longer complete anything: closed, closing
/// for good, or the node is gone.
pub(crate) fn dead(st: &State, h: SessionHandle) -> Option<ConnectionError> {
    let closed = st.driver_done || st.dispatch.get(h).is_none_or(|s| s.closed.is_some());
    closed.then(|| crate::session::gone(st, h))
}
