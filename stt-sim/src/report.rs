//! What a run produced: violations, figures for the runner's table, per-node and
//! per-link counters; and the aggregation of many runs into one table row. Pure data
//! and arithmetic; running belongs to the world.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use stt_proto::NodeStats;

use crate::invariant::Violation;
use crate::link::LinkStats;

/// The outcome of one run.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: String,
    /// Master seed.
    pub seed: u64,
    /// Every invariant broken (empty = pass).
    pub violations: Vec<Violation>,
    /// Virtual time at the end of the run.
    pub end_time: Duration,
    /// Hash of the whole event trace (determinism check).
    pub trace_hash: u64,
    /// Trace lines.
    pub trace_lines: u64,
    /// Trace write error, if any.
    pub trace_error: Option<String>,
    /// Stream bytes the applications wrote.
    pub stream_bytes_written: u64,
    /// Stream bytes the applications read (and checked).
    pub stream_bytes_read: u64,
    /// From the first stream write to the last stream read.
    pub transfer_time: Option<Duration>,
    /// Stream bytes sent again after loss (sessions' own counters).
    pub bytes_retransmitted: u64,
    /// Packets sent by sessions.
    pub packets_sent: u64,
    /// Packets declared lost by sessions.
    pub packets_lost: u64,
    /// Probe timeouts that fired in sessions.
    pub probe_timeouts: u64,
    /// Re-handshakes agreed, summed over every session's end (PROTOCOL.md §6.7).
    pub rekeys: u64,
    /// Datagrams put on the wire by all nodes.
    pub wire_packets: u64,
    /// Bytes put on the wire by all nodes.
    pub wire_bytes: u64,
    /// Initiator handshake times (connect to Connected).
    pub handshake_times: Vec<Duration>,
    /// Client sessions that completed.
    pub sessions_succeeded: u32,
    /// Client sessions that failed.
    pub sessions_failed: u32,
    /// Per node: name and engine counters.
    pub node_stats: Vec<(String, NodeStats)>,
    /// Packets dropped by the network, by reason.
    pub drops: BTreeMap<&'static str, u64>,
    /// Per link direction counters.
    pub links: Vec<((usize, usize), LinkStats)>,
    /// Every session that ended, in order.
    pub session_ends: Vec<SessionEnd>,
}

/// One session's end as its node reported it.
#[derive(Debug, Clone)]
pub struct SessionEnd {
    /// The node.
    pub node: usize,
    /// Virtual time of the `Closed` event.
    pub at: Duration,
    /// The reason given.
    pub reason: stt_proto::error::SessionError,
}

impl RunReport {
    /// True if no invariant was broken.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// Application goodput in bits per second over the transfer.
    pub fn goodput_bps(&self) -> Option<f64> {
        let t = self.transfer_time?.as_secs_f64();
        (t > 0.0).then(|| self.stream_bytes_read as f64 * 8.0 / t)
    }

    /// Retransmitted stream bytes per stream byte written.
    pub fn retransmit_ratio(&self) -> f64 {
        if self.stream_bytes_written == 0 {
            0.0
        } else {
            self.bytes_retransmitted as f64 / self.stream_bytes_written as f64
        }
    }

    /// The command that replays this run with a trace.
    pub fn replay_command(&self) -> String {
        replay_command(&self.scenario, self.seed)
    }

    /// A multi-line failure description ending with the replay command.
    pub fn failure_text(&self) -> String {
        let mut s = format!("FAIL scenario {} seed {}:\n", self.scenario, self.seed);
        for v in self.violations.iter().take(8) {
            let _ = writeln!(s, "  - {v}");
        }
        if self.violations.len() > 8 {
            let _ = writeln!(s, "  ... {} more", self.violations.len() - 8);
        }
        let _ = write!(s, "  replay: {}", self.replay_command());
        s
    }
}

/// The one-line replay command for a scenario and seed.
pub fn replay_command(scenario: &str, seed: u64) -> String {
    format!(
        "cargo run -p stt-sim --release -- --scenario {scenario} --seed {seed} --trace out.jsonl"
    )
}

/// Many runs of one scenario folded into one table row.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    /// Scenario name.
    pub scenario: String,
    /// Runs.
    pub runs: u64,
    /// Runs with violations.
    pub failures: u64,
    /// First failing seeds (up to 10).
    pub failing_seeds: Vec<u64>,
    goodputs: Vec<f64>,
    retransmitted: u64,
    written: u64,
    handshakes: Vec<Duration>,
}

impl Summary {
    /// An empty summary.
    pub fn new(scenario: &str) -> Self {
        Self {
            scenario: scenario.to_string(),
            ..Self::default()
        }
    }

    /// Adds one run.
    pub fn add(&mut self, r: &RunReport) {
        self.runs += 1;
        if !r.passed() {
            self.failures += 1;
            if self.failing_seeds.len() < 10 {
                self.failing_seeds.push(r.seed);
            }
        }
        if let Some(g) = r.goodput_bps() {
            self.goodputs.push(g);
        }
        self.retransmitted += r.bytes_retransmitted;
        self.written += r.stream_bytes_written;
        self.handshakes.extend_from_slice(&r.handshake_times);
    }

    /// Median goodput (bit/s) over runs that moved stream data.
    pub fn median_goodput(&self) -> Option<f64> {
        let mut g = self.goodputs.clone();
        g.sort_by(f64::total_cmp);
        g.get(g.len() / 2).copied()
    }

    /// Retransmitted / written stream bytes over all runs.
    pub fn retransmit_ratio(&self) -> f64 {
        if self.written == 0 {
            0.0
        } else {
            self.retransmitted as f64 / self.written as f64
        }
    }

    /// Handshake time percentile (0..=100).
    pub fn handshake_percentile(&self, pct: usize) -> Option<Duration> {
        let mut h = self.handshakes.clone();
        h.sort();
        if h.is_empty() {
            return None;
        }
        let i = ((h.len() - 1) * pct.min(100)) / 100;
        h.get(i).copied()
    }

    /// Header line of the table.
    pub fn header() -> String {
        format!(
            "{:<22} {:>6} {:>6} {:>12} {:>8} {:>9} {:>9} {:>9}",
            "scenario", "seeds", "fail", "goodput", "rtx", "hs p50", "hs p90", "hs p99"
        )
    }

    /// This summary as a table row.
    pub fn row(&self) -> String {
        let ms = |d: Option<Duration>| {
            d.map_or("-".to_string(), |d| {
                format!("{:.1}ms", d.as_secs_f64() * 1e3)
            })
        };
        format!(
            "{:<22} {:>6} {:>6} {:>12} {:>7.2}% {:>9} {:>9} {:>9}",
            self.scenario,
            self.runs,
            self.failures,
            self.median_goodput()
                .map_or("-".to_string(), |g| format!("{:.2}Mb/s", g / 1e6)),
            self.retransmit_ratio() * 100.0,
            ms(self.handshake_percentile(50)),
            ms(self.handshake_percentile(90)),
            ms(self.handshake_percentile(99)),
        )
    }
}
