//! The end-of-run path check of scenarios that move nodes (NAT rebindings): every
//! session is still alive, sends to its peer's current address, and the engine has
//! reported that address validated (`PathChanged`). Only reads world state; nothing
//! here draws randomness.

use stt_proto::PathId;

use super::{End, World};
use crate::invariant::Violation;

impl World {
    /// Checks every session that has a peer session: alive (neither side ended), the
    /// path it sends on is the peer node's current address, and that path validated.
    pub(super) fn check_paths(&mut self) {
        let mut found = Vec::new();
        for t in 0..self.tracks.len() {
            let Some(pt) = self.tracks[t].peer_track else {
                continue;
            };
            let node = self.tracks[t].node;
            let end = self.end_of(t);
            if end != End::Open {
                found.push((
                    node,
                    t,
                    format!("session not alive at the end: {}", end.describe()),
                ));
                continue;
            }
            let peer_addr = PathId(self.nodes[self.tracks[pt].node].addr);
            let handle = self.tracks[t].handle;
            let path = self.nodes[node]
                .node
                .as_mut()
                .and_then(|n| n.session(handle).map(|mut s| s.path()));
            if path != Some(peer_addr) {
                found.push((
                    node,
                    t,
                    format!("sends on {path:?}, but its peer is at {peer_addr:?}"),
                ));
            } else if self.tracks[t].validated_path != Some(peer_addr) {
                found.push((
                    node,
                    t,
                    format!(
                        "path {peer_addr:?} in use but never validated (last validated {:?})",
                        self.tracks[t].validated_path
                    ),
                ));
            }
        }
        for (node, track, what) in found {
            self.violate(Violation::StalePath { node, track, what });
        }
    }
}
