//! Storage over sessions on tokio: [`Node::serve_storage`] answers peers' fetches from
//! an [`FsStore`] (on a blocking thread, never under the node lock), and
//! [`Session::fetch`] fetches an object by hash, verified by the engine before it is
//! returned.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use bytes::Bytes;
use stt_proto::driver::{ConnectionError, Pending};
use stt_proto::error::{FetchError as EngineFetchError, FetchStartError};
use stt_proto::{ContentHash, FetchId, SessionHandle};

use crate::access::{dead, with};
use crate::fs_store::FsStore;
use crate::node::Node;
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

/// Serves peers' fetches from a store while it lives; dropping it stops serving
/// (later requests are answered "not found").
pub struct StorageServer {
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for StorageServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageServer").finish_non_exhaustive()
    }
}

impl Node {
    /// Answers every peer's fetch from `store`. A corrupt object is answered "not
    /// found" (and logged), never sent. Must be called inside a tokio runtime.
    pub fn serve_storage(&self, store: Arc<FsStore>) -> StorageServer {
        self.serve_storage_with(move |hash| match store.get(&hash) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(%hash, "storage: {e}");
                None
            }
        })
    }

    /// Answers every peer's fetch with `source(hash)`, called on a blocking thread
    /// (`None`: not stored). The requester verifies what it receives against the hash.
    pub fn serve_storage_with(
        &self,
        source: impl Fn(ContentHash) -> Option<Bytes> + Send + Sync + 'static,
    ) -> StorageServer {
        let source = Arc::new(source);
        let shared = self.inner.shared.clone();
        shared.lock().node.set_storage_serving(true);
        let s = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let req = poll_fn(|cx| {
                    let mut st = s.lock();
                    if let Some(r) = st.dispatch.apps.serve_queue.pop_front() {
                        return Poll::Ready(Some(r));
                    }
                    if st.driver_done {
                        return Poll::Ready(None);
                    }
                    st.dispatch.apps.wait_serve(cx.waker());
                    Poll::Pending
                })
                .await;
                let Some(req) = req else {
                    return;
                };
                let src = source.clone();
                let hash = req.hash;
                let data = tokio::task::spawn_blocking(move || src(hash))
                    .await
                    .unwrap_or(None);
                with(&s, |st, now| {
                    if let Some(mut session) = st.node.session(req.session) {
                        // The request may have been cancelled meanwhile: nothing to do.
                        let _ = session.serve_object(now, req.request, data);
                    }
                });
            }
        });
        StorageServer { shared, task }
    }
}

impl Drop for StorageServer {
    fn drop(&mut self) {
        self.task.abort();
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

impl Session {
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
                stt_proto::driver::dispatch::register(&mut p.waker, cx.waker());
            }
            Poll::Pending
        })
        .await;
        guard.done = true;
        r
    }
}
