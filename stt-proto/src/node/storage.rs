//! Hash-addressed storage through the node: fetching an object from the peer, serving
//! one the peer asked for, and whether storage requests reach the application at all
//! (PROTOCOL.md §4.7, docs/PRIMITIVES.md). The transfer state lives in
//! `session/fetch.rs`.

use bytes::Bytes;

use super::{Node, SessionRef};
use crate::error::{FetchStartError, ServeError};
use crate::storage::{ContentHash, FetchId, ServeId};
use crate::time::Instant;

impl Node {
    /// Lets peer storage requests reach the application as
    /// `StorageEvent::Requested` (answered with [`SessionRef::serve_object`]). Off
    /// (the default), the node answers every request "not found".
    pub fn set_storage_serving(&mut self, on: bool) {
        self.serve_storage = on;
    }

    /// True if peer storage requests reach the application.
    pub fn storage_serving(&self) -> bool {
        self.serve_storage
    }
}

impl SessionRef<'_> {
    /// Fetches the object `hash` from the peer, accepting at most `max_len` bytes. The
    /// outcome arrives as `StorageEvent::Fetched` (verified against `hash`) or
    /// `FetchFailed`.
    pub fn fetch(
        &mut self,
        now: Instant,
        hash: ContentHash,
        max_len: u64,
    ) -> Result<FetchId, FetchStartError> {
        let t = self.node.config.clone();
        if max_len > t.transport.max_object_size {
            return Err(FetchStartError::TooLarge {
                max_len,
                limit: t.transport.max_object_size,
            });
        }
        let r = self.session().fetch(&t.transport, hash, max_len);
        self.done(now, r)
    }

    /// Abandons a fetch: no outcome event follows, and the peer stops sending. False
    /// if it had already ended.
    pub fn cancel_fetch(&mut self, now: Instant, fetch: FetchId) -> bool {
        let cancelled = self.session().cancel_fetch(fetch);
        self.done(now, cancelled)
    }

    /// Answers a `StorageEvent::Requested`: the object's bytes, or `None` if it is not
    /// stored here. Reported as `StorageEvent::Hit` or `Miss`.
    pub fn serve_object(
        &mut self,
        now: Instant,
        request: ServeId,
        data: Option<Bytes>,
    ) -> Result<(), ServeError> {
        let r = self.session().serve_object(request, data);
        self.done(now, r)
    }
}
