//! Storage over sessions in the async adapters: [`Node::serve_storage`] answers peers'
//! fetches from an [`FsStore`] (or any source) on a thread of its own, never under the
//! node lock and never on the runtime's executor; [`Session::fetch`] fetches an object
//! by hash, verified by the engine before it is returned.

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Poll, Wake, Waker};
use std::thread::Thread;

use crate::error::ConnectionError;
use crate::state::Pending;
use bytes::Bytes;
use stt_proto::error::{FetchError as EngineFetchError, FetchStartError};
use stt_proto::{ContentHash, FetchId, SessionHandle};

use crate::access::{dead, with};
use crate::fs_store::FsStore;
use crate::node::Node;
use crate::runtime::Runtime;
use crate::session::Session;
use crate::shared::Shared;

/// Why a fetch returned no object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The peer answered without the object (not found, too large, busy), or sent
    /// bytes that do not hash to the requested hash (rejected).
    #[error(transparent)]
    Failed(#[from] EngineFetchError),
    /// The fetch could not start (too many at once, limit above the configured one).
    #[error(transparent)]
    Start(#[from] FetchStartError),
    /// The session ended first.
    #[error(transparent)]
    Session(#[from] ConnectionError),
}

/// Wakes a parked thread.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Serves peers' fetches while it lives; dropping it stops serving (later requests
/// are answered "not found").
pub struct StorageServer {
    shared: Arc<Shared>,
    stop: Arc<AtomicBool>,
    thread: Thread,
}

impl std::fmt::Debug for StorageServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageServer").finish_non_exhaustive()
    }
}

impl<R: Runtime> Node<R> {
    /// Answers every peer's fetch from `store`. A corrupt object is answered "not
    /// found" (and logged), never sent.
    pub fn serve_storage(&self, store: Arc<FsStore>) -> StorageServer {
        self.serve_storage_with(move |hash| match store.get(&hash) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(%hash, "storage: {e}");
                None
            }
        })
    }

    /// Answers every peer's fetch with `source(hash)` (`None`: not stored), called on
    /// the server's own thread, so it may block on files. The requester verifies what
    /// it receives against the hash.
    pub fn serve_storage_with(
        &self,
        source: impl Fn(ContentHash) -> Option<Bytes> + Send + 'static,
    ) -> StorageServer {
        let shared = self.inner.shared.clone();
        shared.lock().node.set_storage_serving(true);
        let stop = Arc::new(AtomicBool::new(false));
        let (s, halt) = (shared.clone(), stop.clone());
        let handle = std::thread::Builder::new()
            .name("stt-storage".into())
            .spawn(move || {
                let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
                while !halt.load(Ordering::Acquire) {
                    let req = {
                        let mut st = s.lock();
                        if st.driver_done {
                            return;
                        }
                        let r = st.dispatch.apps.serve_queue.pop_front();
                        if r.is_none() {
                            st.dispatch.apps.wait_serve(&waker);
                        }
                        r
                    };
                    let Some(req) = req else {
                        std::thread::park();
                        continue;
                    };
                    let data = source(req.hash);
                    with(&s, |st, now| {
                        if let Some(mut session) = st.node.session(req.session) {
                            // Cancelled or closed meanwhile: nothing to answer.
                            let _ = session.serve_object(now, req.request, data);
                        }
                    });
                }
            });
        let thread = match handle {
            Ok(h) => h.thread().clone(),
            Err(e) => {
                // No thread: serve nothing rather than leave requests unanswered.
                tracing::warn!("storage server thread: {e}");
                shared.lock().node.set_storage_serving(false);
                std::thread::current()
            }
        };
        StorageServer {
            shared,
            stop,
            thread,
        }
    }
}

impl Drop for StorageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.thread.unpark();
        with(&self.shared, |st, now| {
            st.node.set_storage_serving(false);
            for req in std::mem::take(&mut st.dispatch.apps.serve_queue) {
                if let Some(mut s) = st.node.session(req.session) {
                    let _ = s.serve_object(now, req.request, None);
                }
            }
        });
    }
}

struct FetchGuard<'a> {
    shared: &'a Shared,
    key: (SessionHandle, FetchId),
    done: bool,
}

impl Drop for FetchGuard<'_> {
    fn drop(&mut self) {
        with(self.shared, |st, now| {
            st.dispatch.apps.fetches.remove(&self.key);
            if !self.done
                && let Some(mut s) = st.node.session(self.key.0)
            {
                // Dropped before the outcome: the peer may stop sending.
                s.cancel_fetch(now, self.key.1);
            }
        });
    }
}

impl<R: Runtime> Session<R> {
    /// Fetches the object `hash` from the peer (at most the configured
    /// `max_object_size` bytes) and returns it once every byte has arrived and
    /// hashes to `hash`. Dropping the future cancels the fetch.
    pub async fn fetch(&self, hash: ContentHash) -> Result<Bytes, FetchError> {
        let max = self
            .inner
            .shared
            .lock()
            .node
            .config()
            .transport
            .max_object_size;
        self.fetch_max(hash, max).await
    }

    /// [`Session::fetch`] accepting at most `max_len` bytes.
    pub async fn fetch_max(&self, hash: ContentHash, max_len: u64) -> Result<Bytes, FetchError> {
        let shared = &*self.inner.shared;
        let h = self.inner.handle;
        let fetch = poll_fn(|cx| -> Poll<Result<FetchId, FetchError>> {
            with(shared, |st, now| {
                let r = match st.node.session(h) {
                    Some(mut s) => s.fetch(now, hash, max_len),
                    None => return Poll::Ready(Err(crate::session::gone(st, h).into())),
                };
                match r {
                    Ok(f) => {
                        st.dispatch.apps.fetches.insert((h, f), Pending::default());
                        Poll::Ready(Ok(f))
                    }
                    Err(FetchStartError::Blocked) => {
                        st.dispatch.apps.wait_writable(h, cx.waker());
                        Poll::Pending
                    }
                    Err(FetchStartError::NotConnected) => {
                        Poll::Ready(Err(crate::session::gone(st, h).into()))
                    }
                    Err(e) => Poll::Ready(Err(e.into())),
                }
            })
        })
        .await?;
        let mut guard = FetchGuard {
            shared,
            key: (h, fetch),
            done: false,
        };
        let r = poll_fn(|cx| {
            let mut st = shared.lock();
            if let Some(r) = st
                .dispatch
                .apps
                .fetches
                .get_mut(&guard.key)
                .and_then(|p| p.result.take())
            {
                return Poll::Ready(r.map_err(FetchError::from));
            }
            if let Some(e) = dead(&st, h) {
                return Poll::Ready(Err(e.into()));
            }
            if let Some(p) = st.dispatch.apps.fetches.get_mut(&guard.key) {
                crate::state::dispatch::register(&mut p.waker, cx.waker());
            }
            Poll::Pending
        })
        .await;
        guard.done = true;
        r
    }
}
