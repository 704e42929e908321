//! Hash-addressed storage through the node: fetching an object from the peer, serving
//! one the peer asked for, and whether storage requests reach the application at all
//! (PROTOCOL.md §4.7, docs/PRIMITIVES.md). The transfer state lives in
//! `session/fetch.rs`.

use bytes::Bytes;

use super::session_ref::established;
use super::{Node, SessionRef};
use crate::error::{FetchStartError, ServeError};
use crate::event::StorageEvent;
use crate::session::{Answer, Control};
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
        let handle = self.handle;
        let Some(conn) = established(self.session()) else {
            return Err(FetchStartError::NotConnected);
        };
        let crate::session::Conn { apps, control, .. } = conn;
        let apps = crate::session::apps_of(apps, handle);
        if apps.fetches.fetching() >= t.transport.max_fetches {
            return Err(FetchStartError::TooMany {
                max: t.transport.max_fetches,
            });
        }
        if !apps.request_room() {
            return Err(FetchStartError::Blocked);
        }
        let request_id = apps.alloc_id();
        apps.fetches.start(request_id, hash, max_len);
        control.push_back(Control::StorageGet {
            request_id,
            max_len,
            hash: hash.0,
        });
        self.done(now, Ok(FetchId(request_id)))
    }

    /// Abandons a fetch: no outcome event follows, and the peer stops sending. False
    /// if it had already ended.
    pub fn cancel_fetch(&mut self, now: Instant, fetch: FetchId) -> bool {
        let Some(conn) = established(self.session()) else {
            return false;
        };
        let Some(apps) = conn.apps.as_mut() else {
            return false;
        };
        if apps.fetches.cancel(fetch.0).is_none() {
            return false;
        }
        conn.control.push_back(Control::StorageCancel {
            request_id: fetch.0,
        });
        self.done(now, true)
    }

    /// Answers a `StorageEvent::Requested`: the object's bytes, or `None` if it is not
    /// stored here. Reported as `StorageEvent::Hit` or `Miss`.
    pub fn serve_object(
        &mut self,
        now: Instant,
        request: ServeId,
        data: Option<Bytes>,
    ) -> Result<(), ServeError> {
        let Some(conn) = established(self.session()) else {
            return Err(ServeError::UnknownRequest);
        };
        let Some(apps) = conn.apps.as_mut() else {
            return Err(ServeError::UnknownRequest);
        };
        let found = data.is_some();
        let Some((hash, answer)) = apps.fetches.answer(request.0, data) else {
            return Err(ServeError::UnknownRequest);
        };
        if let Answer::Refuse(code) = answer {
            let c = Control::StorageRefuse {
                request_id: request.0,
                code,
            };
            apps.answer(c, &mut conn.control);
        }
        apps.storage(match found {
            true => StorageEvent::Hit { request, hash },
            false => StorageEvent::Miss { request, hash },
        });
        self.done(now, Ok(()))
    }
}
