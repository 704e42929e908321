//! Test-only hooks (feature `test-hooks`), for the oracles of `stt-testkit`, the fuzz
//! targets, the attack tests and the simulator's adversary. Refused in release builds
//! (see the crate doc); the protocol never calls anything here.
//!
//! The hooks are: [`SessionRef::seal_raw_frames`](crate::SessionRef::seal_raw_frames)
//! (an authenticated peer that breaks the rules),
//! [`SessionRef::flow_audit`](crate::SessionRef::flow_audit) ([`FlowAudit`]: the
//! receive-side flow-control counters the simulator checks), [`FetchTable`] (one session's
//! storage fetch table, driven frame by frame by the storage oracle), and the stream
//! buffers the reassembly oracle drives alone ([`RecvBuffer`], [`Chunk`]), which are
//! otherwise internal. Nothing else.

use bytes::Bytes;

use crate::error::FetchError;
use crate::frame::{EncodeError, ErrorCode, StorageData, Writer};
pub use crate::session::FlowAudit;
use crate::session::{Answer, DataOutcome, Fetches};
use crate::storage::ContentHash;
pub use crate::stream::{Chunk, RecvBuffer, RecvError};

/// How a STORAGE_DATA frame left a fetch (what a session turns into events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchOutcome {
    /// Not for a live fetch, or more bytes to come.
    Pending,
    /// Every byte arrived; `data` is what the session delivers to the application.
    Done {
        /// The requested hash.
        hash: ContentHash,
        /// The object's bytes.
        data: Bytes,
    },
    /// The fetch failed.
    Failed {
        /// The requested hash.
        hash: ContentHash,
        /// Why.
        error: FetchError,
        /// The session sends STORAGE_CANCEL to the server.
        cancel: bool,
    },
}

/// What the serving side decided on the application's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeAnswer {
    /// The object is sent.
    Send,
    /// The request is refused with this code.
    Refuse(ErrorCode),
}

/// One session's storage fetch table (both directions: fetches it asked for and peer
/// requests it answers), without the session around it: the storage oracle feeds it
/// decoded frames and acknowledges or loses the pieces it writes.
#[derive(Debug, Clone, Default)]
pub struct FetchTable(Fetches);

impl FetchTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a fetch of `hash` (at most `max_len` bytes) as request `request_id`.
    pub fn start(&mut self, request_id: u64, hash: ContentHash, max_len: u64) {
        self.0.start(request_id, hash, max_len);
    }

    /// The application cancels a fetch; its hash if it was in progress.
    pub fn cancel(&mut self, request_id: u64) -> Option<ContentHash> {
        self.0.cancel(request_id)
    }

    /// A STORAGE_REFUSE arrives: the failed fetch's hash and error, if it was live.
    pub fn on_refuse(
        &mut self,
        request_id: u64,
        code: ErrorCode,
    ) -> Option<(ContentHash, FetchError)> {
        self.0.on_refuse(request_id, code)
    }

    /// A STORAGE_DATA arrives.
    pub fn on_data(&mut self, d: &StorageData<'_>) -> FetchOutcome {
        match self.0.on_data(d) {
            DataOutcome::Pending => FetchOutcome::Pending,
            DataOutcome::Done { hash, data } => FetchOutcome::Done { hash, data },
            DataOutcome::Failed {
                hash,
                error,
                cancel,
            } => FetchOutcome::Failed {
                hash,
                error,
                cancel,
            },
        }
    }

    /// Fetches in progress.
    pub fn fetching(&self) -> usize {
        self.0.fetching()
    }

    /// True while fetch `request_id` is in progress.
    pub fn is_fetching(&self, request_id: u64) -> bool {
        self.0.is_fetching(request_id)
    }

    /// Bytes of reassembly buffer held for fetch `request_id`.
    pub fn buffer_len(&self, request_id: u64) -> Option<usize> {
        self.0.buffer_len(request_id)
    }

    /// A STORAGE_GET arrives: the request awaits the application's answer.
    pub fn await_answer(&mut self, request_id: u64, hash: ContentHash, max_len: u64) {
        self.0.await_answer(request_id, hash, max_len);
    }

    /// The application answers with the object's bytes, or `None` for "not stored";
    /// `None` if the request is not awaiting an answer.
    pub fn answer(
        &mut self,
        request_id: u64,
        data: Option<Bytes>,
    ) -> Option<(ContentHash, ServeAnswer)> {
        self.0.answer(request_id, data).map(|(hash, a)| {
            let a = match a {
                Answer::Send => ServeAnswer::Send,
                Answer::Refuse(code) => ServeAnswer::Refuse(code),
            };
            (hash, a)
        })
    }

    /// A STORAGE_CANCEL arrives.
    pub fn on_cancel(&mut self, request_id: u64) {
        self.0.on_cancel(request_id);
    }

    /// Peer requests being answered (awaiting the application or sending).
    pub fn serving(&self) -> usize {
        self.0.serving()
    }

    /// True while peer request `request_id` is awaiting an answer or being sent.
    pub fn is_serving(&self, request_id: u64) -> bool {
        self.0.is_serving(request_id)
    }

    /// True if some answer has bytes to send.
    pub fn has_pending(&self) -> bool {
        self.0.has_pending()
    }

    /// The next piece to send, at most `max_len` bytes: (request, total, chunk).
    pub fn next_chunk(&mut self, max_len: usize) -> Option<(u64, u64, Chunk)> {
        self.0.next_chunk(max_len)
    }

    /// Writes STORAGE_DATA for `chunk` of answer `request_id`; fails without writing if
    /// it does not fit or is not part of the answer.
    pub fn write_chunk(
        &self,
        w: &mut Writer<'_>,
        request_id: u64,
        total: u64,
        chunk: &Chunk,
    ) -> Result<(), EncodeError> {
        self.0.write_chunk(w, request_id, total, chunk)
    }

    /// A packet carrying `chunk` was acknowledged.
    pub fn on_chunk_acked(&mut self, request_id: u64, chunk: &Chunk) {
        self.0.on_chunk_acked(request_id, chunk);
    }

    /// A packet carrying `chunk` was lost.
    pub fn on_chunk_lost(&mut self, request_id: u64, chunk: &Chunk) {
        self.0.on_chunk_lost(request_id, chunk);
    }
}
