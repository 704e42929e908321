//! End-of-run checks and the run report: no silent loss, losses reached the congestion
//! controller, configured key updates and re-handshakes happened, no half-open session, every
//! plan's expected outcome (plus the apps', attacks' and paths' own end checks), then
//! the counters gathered into a [`RunReport`]. It only reads the world as the run left
//! it; it must not step the world further.

use std::time::Duration;

use super::World;
use super::sessions::End;
use crate::invariant::Violation;
use crate::link::LinkStats;
use crate::report::RunReport;
use crate::scenario::Expect;

/// Congestion losses after which a session must have cut its window.
const LOSSES_WITHOUT_CUT: u64 = 8;

impl World {
    /// End-of-run checks; builds the report.
    pub(super) fn finish(mut self) -> RunReport {
        self.apps_finish();
        self.check_attacks();
        if self.scenario.check_paths {
            self.check_paths();
        }
        // No silent loss: each stream is delivered whole, or both applications heard
        // of an error.
        for k in 0..self.records.len() {
            let r = &self.records[k];
            if r.fin && r.got == r.total {
                continue;
            }
            let sender = self.end_of(r.sender);
            let receiver = r
                .receiver
                .or(self.tracks[r.sender].peer_track)
                .map(|t| self.end_of(t));
            let receiver_ok = receiver.as_ref().is_none_or(End::is_failure);
            if !(sender.is_failure() && receiver_ok) {
                let v = Violation::SilentLoss {
                    key: k as u64,
                    got: r.got,
                    written: r.written,
                    sender: sender.describe(),
                    receiver: receiver.map_or("never opened".into(), |e| e.describe()),
                };
                self.violate(v);
            }
        }
        // Loss reaches the congestion controller: a session that declared this many
        // packets lost as congestion (not those sent before a path change) has cut its
        // window at least once.
        for t in 0..self.tracks.len() {
            let tr = &self.tracks[t];
            let lost = tr.last_stats.congestion_losses;
            if lost >= LOSSES_WITHOUT_CUT && !tr.window_cut {
                let v = Violation::WindowNeverReduced {
                    node: tr.node,
                    track: t,
                    lost,
                };
                self.violate(v);
            }
        }
        // Both ends hear of an error.
        for t in 0..self.tracks.len() {
            let Some(pt) = self.tracks[t].peer_track else {
                continue;
            };
            let (mine, theirs) = (self.end_of(t), self.end_of(pt));
            if mine == End::Open
                && let End::Error(_) = theirs
            {
                let v = Violation::HalfOpen {
                    node: self.tracks[t].node,
                    track: t,
                    peer_end: theirs.describe(),
                };
                self.violate(v);
            }
        }
        // Expected outcomes.
        for p in 0..self.plans.len() {
            let plan = &self.plans[p];
            let ok = match plan.spec.expect {
                Expect::Complete => plan.succeeded >= plan.spec.sessions,
                Expect::Fail => plan.done && plan.succeeded == 0,
                Expect::Either => plan.done,
            };
            if !ok {
                let v = Violation::Outcome {
                    node: plan.node,
                    plan: plan.index,
                    expected: format!("{:?}", plan.spec.expect),
                    got: format!(
                        "{} succeeded, {} failed, {}",
                        plan.succeeded,
                        plan.failed,
                        if plan.done {
                            "done"
                        } else {
                            "unfinished at end of run"
                        }
                    ),
                };
                self.violate(v);
            }
        }
        let mut retransmitted = 0;
        let mut packets_sent = 0;
        let mut packets_lost = 0;
        let mut probe_timeouts = 0;
        let mut rekeys = 0;
        let mut key_updates = 0;
        for tr in &self.tracks {
            probe_timeouts += tr.last_stats.pto_count;
            rekeys += tr.last_stats.rekeys;
            key_updates += tr.last_stats.key_updates;
            retransmitted += tr.last_stats.bytes_retransmitted;
            packets_sent += tr.last_stats.packets_sent;
            packets_lost += tr.last_stats.packets_lost;
        }
        self.check_key_schedule(key_updates, rekeys);
        let links: Vec<((usize, usize), LinkStats)> =
            self.links.iter().map(|(k, l)| (*k, l.stats)).collect();
        self.trace.flush();
        let transfer_time = match (self.first_write, self.last_read) {
            (Some(a), Some(b)) => Some(b.saturating_duration_since(a)),
            _ => None,
        };
        RunReport {
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            violations: self.violations,
            end_time: Duration::from_micros(self.now.as_micros()),
            trace_hash: self.trace.hash(),
            trace_lines: self.trace.lines(),
            trace_error: self.trace.error.as_ref().map(|e| e.to_string()),
            stream_bytes_written: self.stream_bytes_written,
            stream_bytes_read: self.stream_bytes_read,
            transfer_time,
            bytes_retransmitted: retransmitted,
            packets_sent,
            packets_lost,
            probe_timeouts,
            rekeys,
            wire_packets: self.wire_packets,
            wire_bytes: self.wire_bytes,
            handshake_times: self.handshake_times,
            sessions_succeeded: self.plans.iter().map(|p| p.succeeded).sum(),
            sessions_failed: self.plans.iter().map(|p| p.failed).sum(),
            node_stats: self
                .nodes
                .iter()
                .map(|n| (n.name.clone(), n.last_stats))
                .collect(),
            drops: self.drops,
            session_ends: self.session_ends,
            links,
        }
    }

    /// Key updates and re-handshakes happen when configured: a run that lasted ten of
    /// a node's intervals while moving data saw at least one of each kind configured
    /// (`key_updates`, `rekeys`: the sums over all sessions). Key updates are drawn in
    /// some `rebind-mix` runs; re-handshakes (with key updates) in `rehandshake-loss`.
    fn check_key_schedule(&mut self, key_updates: u64, rekeys: u64) {
        let ran = Duration::from_micros(self.now.as_micros());
        if self.stream_bytes_read == 0 {
            return;
        }
        let mut missing = Vec::new();
        for (ix, n) in self.scenario.nodes.iter().enumerate() {
            let t = &n.config.transport;
            // (A re-handshake ends in a key update of its own, so when re-handshakes
            // were due too only they are checked.)
            if t.key_update_interval.is_some_and(|k| ran > k * 10)
                && t.rekey_interval.is_none_or(|r| ran <= r)
                && key_updates == 0
            {
                missing.push((ix, "key updates"));
            }
            if t.rekey_interval.is_some_and(|k| ran > k * 10) && rekeys == 0 {
                missing.push((ix, "re-handshakes"));
            }
        }
        for (node, what) in missing {
            self.violate(Violation::App {
                node,
                what: format!("{what} are configured but none happened in {ran:?}"),
            });
        }
    }
}
