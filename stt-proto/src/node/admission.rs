//! The node's side of INIT admission (PROTOCOL.md §5.7.8): INITs enter with the remote
//! address bytes the adapter supplies ([`Node::handle_datagram_from`]), the responder's
//! verdict is counted in [`crate::NodeStats`], and the node remembers which paths carry a
//! half-open handshake or a session it accepted so the adapter's path table keeps them
//! ([`Node::path_in_use`]).
//!
//! The admission limits themselves live in `handshake::admission`; this file only wires
//! them to paths and counters. It must not grow per-packet state beyond its bound
//! (one entry per half-open handshake or accepted session).

use alloc::collections::BTreeSet;
use bytes::BytesMut;

use super::{Node, OUTBOX_LIMIT, PathId, RejectCause};
use crate::frame::SessionId;
use crate::handshake::admission::RemoteAddr;
use crate::handshake::{DropReason, InitOutcome, Responder};
use crate::identity::{Identity, NetworkKey};
use crate::rng::Rng;
use crate::time::Instant;

/// [`Responder::handle_init`] or [`Responder::handle_init_fragment`].
type RespondFn = fn(
    &mut Responder,
    Instant,
    &Identity,
    &NetworkKey,
    &[u8],
    &[u8],
    SessionId,
    &[u8],
    &mut Rng,
    &mut [u8],
) -> InitOutcome;

/// Paths that carry a half-open handshake or a session accepted here, by local session
/// id; entries whose handshake or session ended are pruned lazily.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeldPaths {
    set: BTreeSet<(PathId, SessionId)>,
    /// The same entries by session id first: a RESPONSE's lookup is a range, not a scan
    /// of every held path (there is one per accepted session).
    by_sid: BTreeSet<(SessionId, PathId)>,
    /// Prune when the set reaches this size (doubles with what stays).
    prune_at: usize,
}

impl Node {
    /// Feeds one received datagram that came from `remote`: the address bytes (at most
    /// [`crate::handshake::admission::MAX_REMOTE_ADDR_LEN`]) that cookies and the per-source
    /// INIT limit are bound to. Adapters pass the peer's socket address (IP and port), so a
    /// client retrying from the same address validates its cookie even if its path id was
    /// recycled. Otherwise as [`Node::handle_datagram`].
    pub fn handle_datagram_from(
        &mut self,
        now: Instant,
        path: PathId,
        remote: &RemoteAddr,
        datagram: BytesMut,
    ) {
        self.dispatch_datagram(now, path, remote, datagram);
    }

    /// Whether the adapter must keep `path` (not forget it as idle): a half-open handshake,
    /// a session accepted here or a queued reply uses it.
    pub fn path_in_use(&self, path: PathId) -> bool {
        let held = self
            .held_paths
            .set
            .range((path, SessionId(0))..=(path, SessionId(u64::MAX)))
            .any(|&(p, sid)| self.holds(p, sid));
        held || self.outbox.iter().any(|(p, _)| *p == path)
    }

    /// Whether `(path, sid)` still names a half-open handshake or a session on `path`.
    fn holds(&self, path: PathId, sid: SessionId) -> bool {
        if self.responder.contains_session(sid) {
            return true;
        }
        self.by_local_id.get(&sid).is_some_and(|&i| {
            self.slots[i as usize]
                .session
                .as_ref()
                .is_some_and(|s| s.path_id() == path)
        })
    }

    fn hold_path(&mut self, path: PathId, sid: SessionId) {
        self.held_paths.set.insert((path, sid));
        self.held_paths.by_sid.insert((sid, path));
        if self.held_paths.set.len() >= self.held_paths.prune_at.max(64) {
            let set = core::mem::take(&mut self.held_paths.set);
            let kept: BTreeSet<_> = set.into_iter().filter(|&(p, s)| self.holds(p, s)).collect();
            self.held_paths.prune_at = kept.len() * 2;
            self.held_paths.by_sid = kept.iter().map(|&(p, s)| (s, p)).collect();
            self.held_paths.set = kept;
        }
    }

    /// The one path the CHALLENGE of half-open handshake `sid` went to, or `None` if it
    /// went to several (its INIT was repeated from elsewhere) or none is held: then no
    /// path is proven by the RESPONSE alone (PROTOCOL.md §5.7.6).
    pub(super) fn challenged_path_of(&self, sid: SessionId) -> Option<PathId> {
        let mut paths = self
            .held_paths
            .by_sid
            .range((sid, PathId(0))..=(sid, PathId(u64::MAX)));
        match (paths.next(), paths.next()) {
            (Some(&(_, p)), None) => Some(p),
            _ => None,
        }
    }

    /// Entries of the held-path set (bounded by half-open handshakes plus accepted
    /// sessions, times two before a prune).
    pub fn held_paths_len(&self) -> usize {
        self.held_paths.set.len()
    }

    /// Bytes held by the responder's admission tables and the most they can hold.
    pub fn admission_memory(&self) -> (usize, usize) {
        self.responder.admission_memory()
    }

    pub(super) fn handle_init(
        &mut self,
        now: Instant,
        path: PathId,
        remote: &RemoteAddr,
        d: &[u8],
    ) {
        let out_len = self.config.max_packet_size;
        self.admit(now, path, remote, d, 1, out_len, Responder::handle_init);
    }

    /// A hybrid INIT fragment (PROTOCOL.md §5.7.10): as [`Node::handle_init`], with room
    /// for two CHALLENGE fragments in the reply buffer.
    pub(super) fn handle_init_fragment(
        &mut self,
        now: Instant,
        path: PathId,
        remote: &RemoteAddr,
        d: &[u8],
    ) {
        let out_len = self
            .config
            .max_packet_size
            .max(2 * crate::handshake::hybrid::FRAG0_LEN);
        self.admit(
            now,
            path,
            remote,
            d,
            2,
            out_len,
            Responder::handle_init_fragment,
        );
    }

    /// The node's checks before the responder sees an INIT (accepting at all, the
    /// session table, room in the outbox for `replies` datagrams), then `respond` with a
    /// fresh local session id and a reply buffer of `out_len` bytes.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &mut self,
        now: Instant,
        path: PathId,
        remote: &RemoteAddr,
        d: &[u8],
        replies: usize,
        out_len: usize,
        respond: RespondFn,
    ) {
        if !self.config.accept_incoming {
            self.stats.dropped_unexpected += 1;
            return;
        }
        if self.by_local_id.len() >= self.config.max_sessions
            || self.outbox.len() + replies > OUTBOX_LIMIT
        {
            self.stats.dropped_over_limit += 1;
            return;
        }
        let local = self.fresh_session_id();
        // One scratch buffer for every INIT: a flood of INITs that are dropped allocates
        // nothing; a reply is copied out at its own size.
        let mut out = core::mem::take(&mut self.reply_scratch);
        out.resize(out_len, 0);
        let outcome = respond(
            &mut self.responder,
            now,
            &self.identity,
            &self.network,
            remote.as_bytes(),
            d,
            local,
            &self.params,
            &mut self.rng_secret,
            &mut out,
        );
        self.on_init_outcome(path, outcome, &out);
        self.reply_scratch = out;
    }

    /// Queues the reply an INIT (or INIT fragment) earned and counts the verdict.
    fn on_init_outcome(&mut self, path: PathId, outcome: InitOutcome, out: &[u8]) {
        match outcome {
            InitOutcome::HybridChallenge {
                len0,
                len1,
                session,
                ..
            } => {
                self.outbox.push_back((path, out[..len0].to_vec()));
                self.outbox
                    .push_back((path, out[len0..len0 + len1].to_vec()));
                self.hold_path(path, session);
            }
            InitOutcome::Refuse { len, .. } => {
                self.outbox.push_back((path, out[..len].to_vec()));
            }
            InitOutcome::Pending => {}
            InitOutcome::Challenge { len, session, .. } => {
                self.outbox.push_back((path, out[..len].to_vec()));
                // Every path a CHALLENGE went to is held: a resent one (a retransmitted
                // or replayed INIT from elsewhere) makes the INIT's path ambiguous.
                self.hold_path(path, session);
            }
            InitOutcome::Cookie { len } => {
                self.stats.cookies_sent += 1;
                self.outbox.push_back((path, out[..len].to_vec()));
            }
            InitOutcome::Drop(reason) => match reason {
                DropReason::TableFull => {
                    self.stats.dropped_over_limit += 1;
                    self.stats.inits_table_full += 1;
                }
                DropReason::SessionCollision | DropReason::RateLimited => {
                    self.stats.dropped_over_limit += 1;
                }
                DropReason::Replayed => self.stats.dropped_replayed += 1,
                DropReason::PskFail => {
                    self.stats.dropped_handshake += 1;
                    self.reject(path, RejectCause::WrongNetwork);
                }
                _ => self.stats.dropped_handshake += 1,
            },
        }
    }

    /// A session accepted on `path` keeps it held while the session stays there.
    pub(super) fn hold_accepted(&mut self, path: PathId, sid: SessionId) {
        self.hold_path(path, sid);
    }
}
