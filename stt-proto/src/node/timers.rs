//! The node's single timer heap: each session's next deadline, kept lazily (entries
//! are checked against the slot's generation and deadline when popped) and recomputed
//! only for sessions marked since the last read. It never decides what a timer means:
//! `session` does that in its `handle_timeout`.

use super::Node;
use alloc::vec::Vec;
use core::cmp::Reverse;

use crate::time::Instant;

impl Node {
    /// Fires every timer due at `now`. Calling it early or twice is harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.responder.expire(now);
        self.refresh_timers();
        // Take what is due first: handling a timer may schedule another at `now`
        // (work for `poll_transmit`), which must not be fired again in this call.
        let mut due = Vec::new();
        while let Some(Reverse((at, index, generation))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            let slot = &mut self.slots[index as usize];
            if slot.generation == generation && slot.deadline == Some(at) {
                slot.deadline = None;
                due.push(index);
            }
        }
        for index in due {
            let config = self.config.clone();
            if let Some(s) = self.slots[index as usize].session.as_mut() {
                s.handle_timeout(now, &config, &mut self.rng_secret);
            }
            self.touch(index, now);
        }
    }

    /// The next instant [`Node::handle_timeout`] must be called, if any.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        self.refresh_timers();
        while let Some(Reverse((at, index, generation))) = self.timers.peek().copied() {
            let slot = &self.slots[index as usize];
            if slot.generation == generation && slot.deadline == Some(at) {
                break;
            }
            self.timers.pop();
        }
        let session = self.timers.peek().map(|Reverse((at, _, _))| *at);
        match (session, self.responder.next_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// After anything happened to a session: collect its events, reschedule its timer,
    /// queue it for transmission, free it if it closed.
    pub(crate) fn touch(&mut self, index: u32, _now: Instant) {
        let slot = &mut self.slots[index as usize];
        if slot.session.is_some() && !slot.queued {
            slot.queued = true;
            self.dirty.push_back(index);
        }
        self.mark_timer(index);
        self.collect(index);
    }

    /// Notes that a session's deadline may have moved.
    pub(super) fn mark_timer(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        if !slot.timer_stale {
            slot.timer_stale = true;
            self.stale_timers.push(index);
        }
    }

    /// Recomputes the deadlines of every session marked since the last call.
    pub(super) fn refresh_timers(&mut self) {
        let mut stale = core::mem::take(&mut self.stale_timers);
        for index in stale.drain(..) {
            self.slots[index as usize].timer_stale = false;
            self.touch_timer(index);
        }
        self.stale_timers = stale;
    }

    pub(super) fn touch_timer(&mut self, index: u32) {
        let slot = &mut self.slots[index as usize];
        let Some(s) = slot.session.as_ref() else {
            return;
        };
        let deadline = s.next_timeout(&self.config);
        if deadline != slot.deadline {
            slot.deadline = deadline;
            if let Some(at) = deadline {
                self.timers.push(Reverse((at, index, slot.generation)));
            }
        }
        // Lazy deletion leaves stale entries behind; rebuild once they dominate so the
        // heap stays proportional to the number of sessions.
        if self.timers.len() > 2 * self.by_local_id.len() + 64 {
            self.timers = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let at = s.deadline?;
                    s.session.as_ref()?;
                    Some(Reverse((at, i as u32, s.generation)))
                })
                .collect();
        }
    }
}
