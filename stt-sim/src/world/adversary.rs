//! Executes [`Action::Attack`](crate::scenario::Action::Attack): the attacker's
//! established session seals a packet that breaks one of its peer's limits (the
//! `test-hooks` hook, genuine keys) and the world routes it like any other; or, for
//! [`Attack::WrongPathResponse`], moves the attacker to a new address, mutes its
//! engine and delivers sealed PATH_RESPONSE frames with wrong data from there. At the
//! end of the run every delivered limit attack must have made the peer close that
//! session with the attack's error code, and a wrong-answer attack must have left the
//! peer on the new address, validated by the honest answer that came after the mute
//! (that it was not validated sooner, the path oracle checks as it happens). Nothing
//! here draws randomness.

use stt_proto::PathId;
use stt_proto::error::SessionError;
use stt_proto::frame::{DataFrame, Dir, Frame, Side, StreamId, StreamOpen};

use super::Ev;
use super::{End, World};
use crate::adversary::{Attack, FORGED_RESPONSES, MUTE, SMALL_WINDOW, STREAM_LIMIT};
use crate::invariant::Violation;
use crate::trace::Val;

impl World {
    /// Node `ix` breaks its peer's limit now, on its first established session. An
    /// attacker with no session up is a broken scenario (the run would check nothing).
    pub(super) fn attack(&mut self, ix: usize, attack: Attack) {
        let Some(t) = self.nodes[ix]
            .tracks
            .iter()
            .copied()
            .find(|&t| self.tracks[t].up)
        else {
            self.violate(Violation::App {
                node: ix,
                what: format!("{attack:?}: the attacker has no established session"),
            });
            return;
        };
        if attack == Attack::WrongPathResponse {
            self.wrong_path_response(ix, t);
            return;
        }
        let side = if self.tracks[t].initiator {
            Side::Initiator
        } else {
            Side::Responder
        };
        let bytes = [0x5au8; 100];
        // A stream the attacker never used, inside the stream limit.
        let fresh = StreamId::new(side, Dir::Uni, STREAM_LIMIT as u32);
        // Just past the limit (its own earlier stream, closed, may have raised it by one),
        // so a limit checked loosely lets it through.
        let past_limit = StreamId::new(side, Dir::Uni, STREAM_LIMIT as u32 + 2);
        let (Some(fresh), Some(past_limit)) = (fresh, past_limit) else {
            return;
        };
        let (stream, frame) = match attack {
            Attack::DataPastStreamWindow => (
                fresh,
                Frame::Data(DataFrame {
                    offset: SMALL_WINDOW,
                    fin: false,
                    data: &bytes,
                }),
            ),
            Attack::DataPastSessionWindow => (
                fresh,
                Frame::Data(DataFrame {
                    offset: SMALL_WINDOW - 50,
                    fin: false,
                    data: &bytes,
                }),
            ),
            Attack::StreamPastLimit => (
                StreamId::CONTROL,
                Frame::StreamOpen(StreamOpen {
                    stream_id: past_limit,
                    priority: 0,
                    total_len: None,
                }),
            ),
            Attack::WrongPathResponse => return,
        };
        let mut payload = [0u8; 256];
        let Ok(n) = frame.encode(&mut payload) else {
            return;
        };
        let mut buf = vec![0u8; 2048];
        let now = self.now;
        let handle = self.tracks[t].handle;
        let sealed = self.nodes[ix].node.as_mut().and_then(|node| {
            let mut s = node.session(handle)?;
            let path = s.path();
            let len = s.seal_raw_frames(now, stream, &payload[..n], &mut buf)?;
            Some((path, len))
        });
        let Some((path, len)) = sealed else {
            return;
        };
        buf.truncate(len);
        self.trace.record(
            now.as_micros(),
            "attack",
            &[
                ("node", Val::U(ix as u64)),
                ("session", Val::U(t as u64)),
                ("what", Val::S(&format!("{attack:?}"))),
            ],
        );
        self.attacks.push((t, attack, 0));
        self.route(ix, path, buf);
    }

    /// [`Attack::WrongPathResponse`] from node `ix`'s session `t`.
    fn wrong_path_response(&mut self, ix: usize, t: usize) {
        let now = self.now;
        let old = self.nodes[ix].addr;
        let new = self.next_addr;
        self.next_addr += 1;
        self.nodes[ix].addr = new;
        self.addr_owner.insert(new, ix);
        self.addr_owner.remove(&old);
        self.old_addrs.insert(old);
        self.muted.insert(ix, now + MUTE);
        let handle = self.tracks[t].handle;
        let mut sealed = Vec::new();
        let mut path = None;
        for i in 0..FORGED_RESPONSES {
            // Not the peer's challenge: that is random, these are fixed.
            let wrong = (0x5741_524e_0000_0000u64 | i).to_be_bytes();
            let mut payload = [0u8; 16];
            let Ok(n) = Frame::PathResponse(wrong).encode(&mut payload) else {
                return;
            };
            let mut buf = vec![0u8; 256];
            let Some(node) = self.nodes[ix].node.as_mut() else {
                return;
            };
            let Some(mut s) = node.session(handle) else {
                return;
            };
            path = Some(s.path());
            let Some(len) = s.seal_raw_frames(now, StreamId::CONTROL, &payload[..n], &mut buf)
            else {
                return;
            };
            buf.truncate(len);
            sealed.push(buf);
        }
        let Some(PathId(to_addr)) = path else {
            return;
        };
        let Some(&to) = self.addr_owner.get(&to_addr) else {
            return;
        };
        self.trace.record(
            now.as_micros(),
            "attack",
            &[
                ("node", Val::U(ix as u64)),
                ("session", Val::U(t as u64)),
                ("what", Val::S("WrongPathResponse")),
                ("from", Val::U(new)),
            ],
        );
        self.attacks.push((t, Attack::WrongPathResponse, new));
        // Spread over the mute, delivered as forged (no honest sender: the path
        // oracle must not count them as the owner's answer).
        let step = MUTE / (FORGED_RESPONSES as u32 + 1);
        for (i, bytes) in sealed.into_iter().enumerate() {
            self.schedule(
                now + step * (i as u32 + 1),
                Ev::Deliver {
                    from: None,
                    sent_at: now,
                    to,
                    to_addr,
                    from_addr: new,
                    bytes,
                    corrupted: false,
                    duplicate: false,
                },
            );
        }
    }

    /// Every delivered attack made the attacked side close with the attack's code.
    pub(super) fn check_attacks(&mut self) {
        for (t, attack, new_addr) in std::mem::take(&mut self.attacks) {
            let Some(code) = attack.expected_code() else {
                self.check_moved(t, new_addr);
                continue;
            };
            let expected = SessionError::ProtocolViolation(code);
            let got = self.tracks[t].peer_track.map(|pt| self.end_of(pt));
            if got != Some(End::Error(expected.to_string())) {
                let node = self.tracks[t]
                    .peer_track
                    .map_or(self.tracks[t].node, |pt| self.tracks[pt].node);
                self.violate(Violation::App {
                    node,
                    what: format!(
                        "{attack:?} from session {t}: expected the peer to close with \
                         \"{expected}\", its session ended {got:?}"
                    ),
                });
            }
        }
    }

    /// The peer session of attacker session `t`: its node, its path and whether that
    /// path is validated (`None` if the session is gone).
    fn peer_path(&mut self, t: usize) -> (usize, Option<(PathId, bool)>) {
        let Some(pt) = self.tracks[t].peer_track else {
            return (self.tracks[t].node, None);
        };
        let node = self.tracks[pt].node;
        let handle = self.tracks[pt].handle;
        let state = self.nodes[node]
            .node
            .as_mut()
            .and_then(|n| n.session(handle))
            .map(|mut s| (s.path(), s.path_validated()));
        (node, state)
    }

    /// A wrong-answer attack whose peer has not yet validated the attacker's new
    /// address while its session is open (the run keeps going, up to its deadline).
    pub(super) fn wrong_answer_pending(&mut self) -> bool {
        let pending: Vec<(usize, u64)> = self
            .attacks
            .iter()
            .filter(|a| a.1 == Attack::WrongPathResponse)
            .map(|a| (a.0, a.2))
            .collect();
        pending.into_iter().any(|(t, new_addr)| {
            let (_, state) = self.peer_path(t);
            state.is_some_and(|st| st != (PathId(new_addr), true))
        })
    }

    /// After a wrong-answer attack from session `t`: the peer's session is open, on
    /// the attacker's new address, validated (by the honest answer after the mute).
    fn check_moved(&mut self, t: usize, new_addr: u64) {
        let Some(pt) = self.tracks[t].peer_track else {
            return;
        };
        let (node, state) = self.peer_path(t);
        if state != Some((PathId(new_addr), true)) {
            self.violate(Violation::App {
                node,
                what: format!(
                    "WrongPathResponse from session {t}: expected the peer on address \
                     {new_addr}, validated; its session is at {state:?} ({})",
                    self.end_of(pt).describe()
                ),
            });
        }
    }
}
