//! Stateless reset (PROTOCOL.md §5.5, §5.7.7). A node answers a protected packet for a
//! session it does not hold (after a restart, say) with RESET carrying that session id's
//! token, which only the holder of the node seed can compute and which the peer learnt,
//! encrypted, in the handshake; the peer then ends the session at once with
//! [`SessionError::Reset`] instead of waiting for its idle timeout. RESETs are never larger
//! than their trigger and at most [`RESETS_PER_SECOND`] go out. This module owns the rate
//! limit and the index of sessions by the peer's session id; it must not touch a
//! session beyond ending it.

use alloc::collections::BTreeMap;
use core::time::Duration;

use super::{Node, OUTBOX_LIMIT, PathId};
use crate::frame::{Flags, HEADER_LEN, Header, PacketType, ResetBody, SessionId, StreamId};
use crate::time::Instant;

/// Most RESETs a node sends per second; further triggers are dropped unanswered.
pub(crate) const RESETS_PER_SECOND: u32 = 32;
/// A RESET's size: a header and the 16-byte token. Only longer packets are answered.
pub(crate) const RESET_LEN: usize = HEADER_LEN + ResetBody::LEN;

/// The node's stateless-reset bookkeeping.
#[derive(Clone, Default)]
pub(crate) struct Resets {
    /// Established sessions by the peer's receive id (what a RESET's header names).
    /// Entries are checked against the session on use, so a stale one is harmless, and
    /// an entry is never replaced by another session's: a peer that picks the same id
    /// cannot hide an existing session from its genuine RESET.
    by_peer_id: BTreeMap<SessionId, u32>,
    /// Start of the current one-second rate window, and RESETs sent in it.
    window: Option<(Instant, u32)>,
}

impl Node {
    /// Indexes the session in slot `index` (just established) by its peer's session id.
    pub(super) fn index_peer_id(&mut self, index: u32) {
        let Some(peer) = self.peer_session_of(index) else {
            return;
        };
        let stale = self
            .resets
            .by_peer_id
            .get(&peer)
            .is_none_or(|&i| self.peer_session_of(i) != Some(peer));
        if stale {
            self.resets.by_peer_id.insert(peer, index);
        }
    }

    /// Drops the index entry of the session leaving slot `index`, if it is its own.
    pub(super) fn unindex_peer_id(&mut self, index: u32, peer: Option<SessionId>) {
        if let Some(peer) = peer
            && self.resets.by_peer_id.get(&peer) == Some(&index)
        {
            self.resets.by_peer_id.remove(&peer);
        }
    }

    fn peer_session_of(&self, index: u32) -> Option<SessionId> {
        let s = self.slots.get(index as usize)?.session.as_ref()?;
        s.peer_session()
    }

    /// A protected packet of `trigger_len` bytes named `id`, a session this node does not
    /// hold: answer with RESET if it would be smaller than the trigger and the rate allows.
    /// An id of a half-open handshake is not answered: the initiator may send data before
    /// its RESPONSE arrives (lost or reordered), and its session is not gone.
    pub(super) fn answer_reset(
        &mut self,
        now: Instant,
        path: PathId,
        id: SessionId,
        trigger_len: usize,
    ) {
        if trigger_len <= RESET_LEN
            || self.responder.contains_session(id)
            || self.outbox.len() >= OUTBOX_LIMIT
        {
            return;
        }
        let window = match self.resets.window {
            Some((start, sent))
                if now.saturating_duration_since(start) < Duration::from_secs(1) =>
            {
                (start, sent)
            }
            _ => (now, 0),
        };
        if window.1 >= RESETS_PER_SECOND {
            self.stats.resets_limited += 1;
            return;
        }
        self.resets.window = Some((window.0, window.1 + 1));
        let header = Header {
            packet_type: PacketType::Reset,
            session_id: id,
            stream_id: StreamId::CONTROL,
            sequence: 0,
            flags: Flags::new(false),
        };
        let mut out = alloc::vec![0u8; RESET_LEN];
        out[..HEADER_LEN].copy_from_slice(&header.to_bytes());
        let body = ResetBody {
            token: self.identity.reset_token(id),
        };
        if body.encode(&mut out[HEADER_LEN..]).is_err() {
            return;
        }
        self.stats.resets_sent += 1;
        self.outbox.push_back((path, out));
    }

    /// A RESET arrived: end the session it names if the token is the one its peer gave
    /// in the handshake (compared in constant time); otherwise drop it.
    pub(super) fn handle_reset(&mut self, now: Instant, header: &Header, datagram: &[u8]) {
        // The header decoded, so the body starts at HEADER_LEN; `get` keeps that an
        // assumption this function does not panic on.
        let Some(Ok(body)) = datagram.get(HEADER_LEN..).map(ResetBody::decode) else {
            self.stats.dropped_malformed += 1;
            return;
        };
        let Some(&index) = self.resets.by_peer_id.get(&header.session_id) else {
            self.stats.dropped_unknown_session += 1;
            return;
        };
        let Some(s) = self.slots[index as usize].session.as_mut() else {
            self.stats.dropped_unknown_session += 1;
            return;
        };
        let genuine = s.reset_is_genuine(header.session_id, &body.token);
        if !genuine {
            self.stats.dropped_unexpected += 1;
            return;
        }
        self.stats.resets_received += 1;
        s.on_reset();
        self.touch(index, now);
    }
}
