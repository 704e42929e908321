//! Sessions coming into being: `connect` starts an initiator, and a RESPONSE that
//! completes a responder handshake creates the accepted session (on the path the
//! CHALLENGE proved). INIT admission (cookies, rate limits) is in `admission.rs`; the
//! handshake cryptography is in `handshake`.

use super::{Node, RejectCause};
use crate::crypto::AeadSet;
use crate::error::ConnectError;
use crate::frame::Header;
use crate::handshake::initiator::{generate_ephemeral, generate_kem_key};
use crate::handshake::{AllowList, DropReason, Initiator};
use crate::ids::{PathId, SessionHandle};
use crate::session::Session;
use crate::time::Instant;

impl Node {
    /// Starts a handshake with whichever node answers at `path`. The session is usable
    /// once [`Event::Connected`](crate::Event::Connected) reports it.
    ///
    /// An unpinned connect **authenticates some member of the network**: any holder of
    /// the shared seed who can answer at (or spoof) `path` completes the handshake as
    /// itself, and the session's [`SessionRef::peer`](crate::SessionRef::peer) says who that was. To talk to one
    /// particular node, use [`Node::connect_to`].
    pub fn connect(&mut self, now: Instant, path: PathId) -> Result<SessionHandle, ConnectError> {
        self.start_connect(now, path, None)
    }

    /// Starts a handshake with the node at `path` that must prove one of the ids in
    /// `expected` (one [`NodeId`](crate::NodeId) converts into a set). The initiator checks the
    /// responder's authenticated id before it sends RESPONSE, so it never authenticates
    /// itself to anyone else; a mismatch closes the session with
    /// [`SessionError::PeerMismatch`](crate::error::SessionError::PeerMismatch) carrying both ids.
    pub fn connect_to(
        &mut self,
        now: Instant,
        path: PathId,
        expected: impl Into<AllowList>,
    ) -> Result<SessionHandle, ConnectError> {
        self.start_connect(now, path, Some(expected.into()))
    }

    pub(super) fn start_connect(
        &mut self,
        now: Instant,
        path: PathId,
        expected: Option<AllowList>,
    ) -> Result<SessionHandle, ConnectError> {
        if self.by_local_id.len() >= self.config.max_sessions {
            return Err(ConnectError::TooManySessions);
        }
        let local_id = self.fresh_session_id();
        let ephemeral = match self.spare_ephemeral.take() {
            Some(k) => k,
            None => generate_ephemeral(self.config.crypto, &mut self.rng_secret)
                .map_err(|_| ConnectError::Internal)?,
        };
        let initiator = Initiator::with_ephemeral(
            &self.identity,
            &self.network,
            local_id,
            AeadSet::preferred(self.config.crypto),
            &self.params,
            ephemeral,
        )
        .map_err(|_| ConnectError::Internal)?
        .with_provider(self.config.crypto);
        let kem = if self.config.pq.hybrid_capable() {
            match self.spare_kem.take() {
                Some(k) => Some(k),
                None => Some(
                    generate_kem_key(self.config.crypto, &mut self.rng_secret)
                        .map_err(|_| ConnectError::Internal)?,
                ),
            }
        } else {
            None
        };
        let initiator = initiator
            .with_pq(self.config.pq, kem)
            .map_err(|_| ConnectError::Internal)?;
        let initiator = match expected {
            Some(allow) => initiator.with_allow_list(allow),
            None => initiator,
        };
        let handle = self.alloc_slot(local_id);
        let session = Session::new_initiator(handle, local_id, path, initiator, now, &self.config);
        self.slots[handle.index as usize].session = Some(session);
        self.touch(handle.index, now);
        Ok(handle)
    }

    /// Counts a session that just came up by the handshake mode it ran.
    pub(super) fn count_mode(&mut self, index: u32) {
        let hybrid = self.slots[index as usize]
            .session
            .as_ref()
            .is_some_and(|s| s.is_hybrid());
        if hybrid {
            self.stats.handshakes_hybrid += 1;
        } else {
            self.stats.handshakes_classic += 1;
        }
    }

    pub(super) fn handle_response(
        &mut self,
        now: Instant,
        path: PathId,
        header: &Header,
        datagram: &[u8],
    ) {
        if !self.responder.contains_session(header.session_id) {
            if let Some(index) = self.lookup(header.session_id) {
                // A repeated RESPONSE for a session we already hold: our CONFIRM packets
                // were lost. Answer with a fresh one (one small packet, to the session's
                // own path only) so the initiator stops waiting.
                self.stats.dropped_replayed += 1;
                if let Some(s) = self.slots[index as usize].session.as_mut() {
                    s.on_repeated_response(path);
                }
                self.touch(index, now);
            } else {
                self.stats.dropped_unknown_session += 1;
            }
            return;
        }
        if self.by_local_id.len() >= self.config.max_sessions {
            self.stats.dropped_over_limit += 1;
            return;
        }
        // The session starts on the INIT's path when the CHALLENGE went there alone: the
        // RESPONSE proves the initiator received it there. A RESPONSE from elsewhere (a NAT
        // rebinding, or a copy replayed from a spoofed address) moves it to an unvalidated
        // path like any other packet would. If the CHALLENGE went to several paths (the
        // INIT was repeated from elsewhere, perhaps replayed from a spoofed address),
        // nothing is proven: the session starts unvalidated on the RESPONSE's path
        // (PROTOCOL.md §5.7.6).
        let proven = self.challenged_path_of(header.session_id);
        let est = match self.responder.handle_response(now, datagram) {
            Ok(est) => est,
            Err(reason) => {
                self.stats.dropped_handshake += 1;
                if reason == DropReason::AuthFail {
                    self.reject(path, RejectCause::AuthFailed);
                }
                return;
            }
        };
        if let Some(policy) = &self.config.peer_policy
            && !policy.allow(&est.peer)
        {
            self.stats.refused_peers += 1;
            return;
        }
        let handle = self.alloc_slot(header.session_id);
        let config = self.config.clone();
        let start = proven.unwrap_or(path);
        match Session::new_responder(handle, header.session_id, start, est, now, &config) {
            Ok(mut s) => {
                if proven.is_none() {
                    s.start_unproven(datagram.len(), &mut self.rng_public);
                } else if path != start {
                    s.on_packet_path(now, path, datagram.len(), true, &mut self.rng_public);
                }
                self.slots[handle.index as usize].session = Some(s);
                self.stats.sessions_accepted += 1;
                self.count_mode(handle.index);
                self.hold_accepted(path, header.session_id);
                self.index_peer_id(handle.index);
                self.touch(handle.index, now);
            }
            Err(_) => {
                self.by_local_id.remove(&header.session_id);
                self.free.push(handle.index);
                self.stats.dropped_handshake += 1;
            }
        }
    }
}
