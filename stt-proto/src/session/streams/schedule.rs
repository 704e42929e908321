//! Which stream sends next: priority, then round-robin in turns of [`TURN_BYTES`];
//! chunks handed to the packet builder and their acknowledgement or loss; and live-mode
//! deadlines (a sending side not delivered in time is reset with `STREAM_EXPIRED`).
//! It never parses frames or touches keys.

use super::{SendState, Streams};
use alloc::collections::VecDeque;
use alloc::vec::Vec;

use crate::error::StreamError;
use crate::event::StreamEvent;
use crate::frame::{ErrorCode, StreamId};
use crate::stream::Chunk;
use crate::time::Instant;

use crate::session::Control;

/// Bytes a stream sends in one turn before the next ready stream of its priority goes.
/// Whole turns rather than one packet each keep a stream's packets together, because
/// each change of stream is a change of packet key (PROTOCOL.md §6.2): with many ready
/// streams the 8-key cache misses on every turn, and a miss (HKDF-Expand plus the
/// AEAD's key schedule on both ends) costs about as much as sealing a packet. A turn of
/// about 47 full packets keeps that under ~2% of the work; 16 KiB turns cost 13% of the
/// wall time of 1000 × 64 KiB messages (versus_quinn row b). At 100 Mb/s a turn lasts
/// about 5 ms, so no ready stream of the same priority waits long.
pub(crate) const TURN_BYTES: usize = 64 << 10;

impl Streams {
    /// Sets a stream's send priority (higher first).
    pub(crate) fn set_priority(&mut self, id: StreamId, priority: u8) -> Result<(), StreamError> {
        if !self.streams.contains_key(&id) {
            return Err(StreamError::Closed);
        }
        self.change_priority(id, priority);
        Ok(())
    }

    /// Sets a stream's priority, moving it to the new priority's ready queue.
    pub(super) fn change_priority(&mut self, id: StreamId, priority: u8) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        let (old, queued) = (s.priority, s.queued);
        s.priority = priority;
        if queued && old != priority {
            self.unqueue(id, old);
            self.enqueue(id, false);
        }
    }

    pub(super) fn mark_ready(&mut self, id: StreamId) {
        self.enqueue(id, false);
    }

    /// Queues a stream (at the back of its priority's queue, or the front to go on
    /// with its turn) unless it is queued already.
    pub(super) fn enqueue(&mut self, id: StreamId, front: bool) {
        let Some(s) = self.streams.get_mut(&id) else {
            return;
        };
        if s.queued {
            return;
        }
        s.queued = true;
        let q = self.ready.entry(s.priority).or_default();
        if front {
            q.push_front(id);
        } else {
            q.push_back(id);
        }
    }

    /// Takes the first stream of the highest-priority queue.
    pub(super) fn dequeue(&mut self) -> Option<StreamId> {
        // A queue that runs empty stays in the map (one per priority in use) so that a
        // stream going on with its turn costs no map update and no allocation;
        // `next_chunk` prunes empty queues once nothing is left to send.
        let id = self
            .ready
            .values_mut()
            .rev()
            .find_map(VecDeque::pop_front)?;
        if let Some(s) = self.streams.get_mut(&id) {
            s.queued = false;
        }
        Some(id)
    }

    /// Removes a queued stream from the queue of `priority`.
    pub(super) fn unqueue(&mut self, id: StreamId, priority: u8) {
        if let Some(q) = self.ready.get_mut(&priority) {
            q.retain(|r| *r != id);
            if q.is_empty() {
                self.ready.remove(&priority);
            }
        }
        if let Some(s) = self.streams.get_mut(&id) {
            s.queued = false;
        }
    }

    /// True if some stream has bytes (or a FIN) to send now.
    pub(crate) fn has_pending(&self) -> bool {
        self.ready.values().any(|q| !q.is_empty())
    }

    /// Picks the highest-priority ready stream (the first in round-robin order among
    /// equals; a stream keeps the front until its turn's [`TURN_BYTES`] are sent) and
    /// takes its next chunk of at most `max_len` bytes (new bytes limited by stream and
    /// session credit).
    pub(crate) fn next_chunk(&mut self, max_len: usize) -> Option<(StreamId, Chunk)> {
        let mut tries: usize = self.ready.values().map(VecDeque::len).sum();
        while tries > 0 {
            tries -= 1;
            let Some(id) = self.dequeue() else {
                break;
            };
            let session_room = self.peer_max_data.saturating_sub(self.sent_data);
            let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
                continue;
            };
            if send.state != SendState::Open {
                continue;
            }
            let limit = send
                .max_data
                .min(send.buf.unsent_offset().saturating_add(session_room));
            let before = send.buf.unsent_offset();
            let Some(chunk) = send.buf.next_chunk(max_len, limit) else {
                if send.buf.has_pending() {
                    // Blocked by credit: tell the peer once per limit.
                    if send.buf.unsent_offset() >= send.max_data
                        && send.blocked_reported != Some(send.max_data)
                    {
                        send.blocked_reported = Some(send.max_data);
                        let limit = send.max_data;
                        self.control.push(Control::StreamDataBlocked { id, limit });
                    } else if session_room == 0
                        && self.data_blocked_reported != Some(self.peer_max_data)
                    {
                        self.data_blocked_reported = Some(self.peer_max_data);
                        self.control.push(Control::DataBlocked(self.peer_max_data));
                    }
                }
                continue;
            };
            self.sent_data += send.buf.unsent_offset() - before;
            self.last_chunk_resent = send.buf.unsent_offset() == before && chunk.len > 0;
            let served = match self.turn {
                Some((t, n)) if t == id => n,
                _ => 0,
            } + chunk.len.max(1);
            if send.buf.has_pending() {
                // Still its turn: it stays first among its priority; else it goes last.
                let go_on = served < TURN_BYTES;
                self.turn = go_on.then_some((id, served));
                self.enqueue(id, go_on);
            } else {
                self.turn = None;
            }
            return Some((id, chunk));
        }
        self.ready.retain(|_, q| !q.is_empty());
        None
    }

    /// Copies chunk bytes into a packet.
    pub(crate) fn copy_chunk(&self, id: StreamId, chunk: &Chunk, out: &mut [u8]) -> bool {
        self.streams
            .get(&id)
            .and_then(|s| s.send.as_ref())
            .is_some_and(|s| s.buf.copy_chunk(chunk.offset, chunk.len, out).is_ok())
    }

    /// A packet carrying this chunk was acknowledged.
    pub(crate) fn on_chunk_acked(&mut self, id: StreamId, chunk: &Chunk) {
        let limit = self.limits.send_buffer;
        let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
            return;
        };
        let held = send.buf.unacked();
        send.buf.on_ack(chunk.offset, chunk.len, chunk.fin);
        let freed = held.saturating_sub(send.buf.unacked());
        let fully_acked = send.buf.is_fully_acked() && !send.finished_reported;
        if fully_acked {
            send.finished_reported = true;
        }
        // Wakes the writers waiting for session room, this one included if listed.
        self.release_held(freed);
        let session_full = self.send_held >= self.limits.session_send_buffer;
        if let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut())
            && send.want_writable
            && send.buf.unacked() < limit
        {
            if !session_full {
                send.want_writable = false;
                self.events.push_back(StreamEvent::Writable(id));
            } else if !self.session_blocked.contains(&id) {
                // Its own room is back but the session's is not: wait with the others.
                self.session_blocked.push(id);
            }
        }
        if fully_acked {
            self.events.push_back(StreamEvent::Finished(id));
            if let Some(s) = self.streams.get_mut(&id) {
                s.send = None;
            }
            self.maybe_forget(id);
        }
    }

    /// A packet carrying this chunk was lost.
    pub(crate) fn on_chunk_lost(&mut self, id: StreamId, chunk: &Chunk) {
        let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
            return;
        };
        if send.state != SendState::Open {
            return;
        }
        send.buf.on_lost(chunk.offset, chunk.len, chunk.fin);
        self.mark_ready(id);
    }

    /// Our STREAM_CLOSE for `id` was acknowledged.
    pub(crate) fn on_reset_acked(&mut self, id: StreamId) {
        if let Some(s) = self.streams.get_mut(&id) {
            if let Some(send) = s.send.as_mut()
                && let SendState::Reset { acked, .. } = &mut send.state
            {
                *acked = true;
            }
            s.send = None;
        }
        self.maybe_forget(id);
    }

    /// Abandons the sending side of `id` (reset with `STREAM_EXPIRED`) if everything
    /// written, and the FIN, is not acknowledged by `at`. A later call replaces it.
    pub(crate) fn set_deadline(&mut self, id: StreamId, at: Instant) -> Result<(), StreamError> {
        let s = self.streams.get(&id).ok_or(StreamError::Closed)?;
        if s.send.is_none() {
            return Err(StreamError::Closed);
        }
        self.deadlines.insert(id, at);
        Ok(())
    }

    /// The earliest stream deadline.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.values().min().copied()
    }

    /// Resets every sending side whose deadline passed undelivered.
    pub(crate) fn expire(&mut self, now: Instant) {
        let due: Vec<StreamId> = self
            .deadlines
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.deadlines.remove(&id);
            let live = self
                .streams
                .get(&id)
                .and_then(|s| s.send.as_ref())
                .is_some_and(|send| send.state == SendState::Open && !send.buf.is_fully_acked());
            if live && self.reset(id, ErrorCode::STREAM_EXPIRED).is_ok() {
                self.events.push_back(StreamEvent::Expired(id));
            }
        }
    }
}
