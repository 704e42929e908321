//! Executes [`Action::Attack`](crate::scenario::Action::Attack): the attacker's
//! established session seals a packet that breaks one of its peer's limits (the
//! `test-hooks` hook, genuine keys) and the world routes it like any other. At the
//! end of the run every delivered attack must have made the peer close that session
//! with the attack's error code. Nothing here draws randomness.

use stt_proto::error::SessionError;
use stt_proto::frame::{DataFrame, Dir, Frame, Side, StreamId, StreamOpen};

use super::{End, World};
use crate::adversary::{Attack, SMALL_WINDOW, STREAM_LIMIT};
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
        let side = if self.tracks[t].initiator {
            Side::Initiator
        } else {
            Side::Responder
        };
        let bytes = [0x5au8; 100];
        // A stream the attacker never used, inside the stream limit.
        let fresh = StreamId::new(side, Dir::Uni, STREAM_LIMIT as u32);
        let past_limit = StreamId::new(side, Dir::Uni, 64);
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
        self.attacks.push((t, attack));
        self.route(ix, path, buf);
    }

    /// Every delivered attack made the attacked side close with the attack's code.
    pub(super) fn check_attacks(&mut self) {
        for (t, attack) in std::mem::take(&mut self.attacks) {
            let expected = SessionError::ProtocolViolation(attack.expected_code());
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
}
