//! Flow control of one session's streams: receive windows with auto-tuning (a window
//! doubles when credit updates come faster than every two RTTs), the room a write may
//! take, the peer's MAX_DATA / MAX_STREAM_DATA / MAX_STREAMS, and the credit this side
//! advertised. It never chooses what to send (that is `schedule.rs`).

use super::{SendState, Streams, Violation, dir_index};
use alloc::vec::Vec;
use core::time::Duration;

use crate::error::WriteError;
use crate::event::StreamEvent;
use crate::frame::{Dir, ErrorCode, StreamId};
use crate::time::Instant;

/// A receive window and its auto-tuning state.
#[derive(Debug, Clone)]
pub(super) struct RecvWindow {
    /// Highest offset (or session byte count) the peer may send up to.
    pub(super) advertised: u64,
    /// Current window size.
    pub(super) window: u64,
    /// Largest the window may grow to.
    pub(super) max_window: u64,
    /// When the last credit update was sent (for auto-tuning).
    pub(super) last_update: Option<Instant>,
}

impl RecvWindow {
    pub(super) fn new(window: u64, max_window: u64) -> Self {
        Self {
            advertised: window,
            window,
            max_window,
            last_update: None,
        }
    }

    /// After the application consumed up to `consumed`, returns a new limit to
    /// advertise if at least half the window has been used. Doubles the window when
    /// updates come faster than every two RTTs (the window limits throughput).
    pub(super) fn update(&mut self, consumed: u64, now: Instant, rtt: Duration) -> Option<u64> {
        if self.advertised.saturating_sub(consumed) > self.window / 2 {
            return None;
        }
        if let Some(last) = self.last_update
            && now.saturating_duration_since(last) < rtt * 2
        {
            self.window = (self.window * 2).min(self.max_window);
        }
        self.last_update = Some(now);
        self.advertised = consumed + self.window;
        Some(self.advertised)
    }
}

impl Streams {
    /// How many of `len` bytes a write may take now (errors as `write`).
    pub(super) fn write_room(&mut self, id: StreamId, len: usize) -> Result<usize, WriteError> {
        let limit = self.limits.send_buffer;
        let s = self.streams.get_mut(&id).ok_or(WriteError::Closed)?;
        if let Some(code) = s.stopped {
            return Err(WriteError::Stopped(code));
        }
        let send = s.send.as_mut().ok_or(WriteError::Closed)?;
        if let Some(code) = send.stopped {
            return Err(WriteError::Stopped(code));
        }
        if send.state != SendState::Open || send.buf.is_finished() {
            return Err(WriteError::Closed);
        }
        if let Some(total) = send.total_len {
            let left = total - send.buf.written().min(total);
            if len as u64 > left {
                return Err(WriteError::TooLong);
            }
        }
        let session_room = self
            .limits
            .session_send_buffer
            .saturating_sub(self.send_held);
        let stream_room = limit.saturating_sub(send.buf.unacked());
        let room = (len as u64).min(stream_room).min(session_room);
        if room == 0 && len > 0 {
            send.want_writable = true;
            if session_room == 0 && !self.session_blocked.contains(&id) {
                self.session_blocked.push(id);
            }
            return Err(WriteError::Blocked);
        }
        Ok(room as usize)
    }

    /// MAX_STREAM_DATA from the peer.
    pub(crate) fn on_max_stream_data(&mut self, id: StreamId, max: u64) -> Result<(), Violation> {
        if !self.is_local(id) && id.dir() == Dir::Uni {
            return Err(ErrorCode::STREAM_ID_CONFLICT);
        }
        self.ensure_stream(id)?;
        let Some(s) = self.streams.get_mut(&id) else {
            return Ok(());
        };
        // Our sending side is finished and gone: credit for it is moot.
        let Some(send) = s.send.as_mut() else {
            return Ok(());
        };
        if max > send.max_data {
            send.max_data = max;
            send.blocked_reported = None;
            if send.want_writable {
                send.want_writable = false;
                self.events.push_back(StreamEvent::Writable(id));
            }
            if send.buf.has_pending() {
                self.mark_ready(id);
            }
        }
        Ok(())
    }

    /// MAX_DATA from the peer.
    pub(crate) fn on_max_data(&mut self, max: u64) {
        if max > self.peer_max_data {
            self.peer_max_data = max;
            self.data_blocked_reported = None;
            let ids: Vec<StreamId> = self
                .streams
                .iter()
                .filter(|(_, s)| s.send.as_ref().is_some_and(|h| h.buf.has_pending()))
                .map(|(id, _)| *id)
                .collect();
            for id in ids {
                self.mark_ready(id);
            }
        }
    }

    /// MAX_STREAMS from the peer.
    pub(crate) fn on_max_streams(&mut self, dir: Dir, count: u64) {
        let d = dir_index(dir);
        if count > self.peer_max_streams[d] {
            self.peer_max_streams[d] = count;
            self.events.push_back(StreamEvent::Available(dir));
        }
    }

    /// `bytes` of held send data were acknowledged or dropped. Once the session is
    /// below its send buffer again, every writer waiting for session room is told it
    /// may write (those still short of stream room keep waiting for their own acks).
    pub(super) fn release_held(&mut self, bytes: u64) {
        self.send_held = self.send_held.saturating_sub(bytes);
        if self.session_blocked.is_empty() || self.send_held >= self.limits.session_send_buffer {
            return;
        }
        let limit = self.limits.send_buffer;
        for id in core::mem::take(&mut self.session_blocked) {
            let Some(send) = self.streams.get_mut(&id).and_then(|s| s.send.as_mut()) else {
                continue;
            };
            if send.want_writable && send.buf.unacked() < limit {
                send.want_writable = false;
                self.events.push_back(StreamEvent::Writable(id));
            }
        }
    }

    /// Some stream data waits for the peer's flow-control credit (a blocked frame was
    /// queued for the current limit and no more credit came since).
    pub(crate) fn credit_blocked(&self) -> bool {
        self.data_blocked_reported.is_some()
            || self.streams.values().any(|s| {
                s.send
                    .as_ref()
                    .is_some_and(|s| s.blocked_reported.is_some())
            })
    }

    /// Current advertised limits, to refresh a lost credit frame with the latest value.
    pub(crate) fn advertised_stream_data(&self, id: StreamId) -> Option<u64> {
        Some(self.streams.get(&id)?.recv.as_ref()?.window.advertised)
    }

    /// Current session-level advertised limit.
    pub(crate) fn advertised_data(&self) -> u64 {
        self.window.advertised
    }

    /// Current advertised stream-count limit.
    pub(crate) fn advertised_streams(&self, dir: Dir) -> u64 {
        self.remote_limit[dir_index(dir)]
    }
}

#[cfg(feature = "test-hooks")]
impl Streams {
    /// What this side holds against what it advertised, from its own counters (the
    /// simulator checks it after every step).
    pub(crate) fn flow_audit(&self) -> crate::session::FlowAudit {
        let mut streams_over = Vec::new();
        for (id, s) in &self.streams {
            if let Some(r) = s.recv.as_ref()
                && r.buf.highest_received() > r.window.advertised
            {
                streams_over.push((*id, r.buf.highest_received(), r.window.advertised));
            }
        }
        crate::session::FlowAudit {
            session_received: self.received_data,
            session_advertised: self.window.advertised,
            streams_over,
            peer_streams_opened: self.remote_opened,
            peer_streams_limit: self.remote_limit,
        }
    }
}
