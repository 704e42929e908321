//! One session's metrics log: what the hooks in ACK handling, loss detection, the probe
//! timer and packet assembly record while `TransportConfig::metrics` is on.
//!
//! The log only remembers enough to record changes (the last recovery sample and send
//! limit); the node takes the records after every call into the session. It decides
//! nothing about the protocol and must never be consulted by it.

use alloc::vec::Vec;

use super::Conn;
use crate::metrics::{Metric, RecoverySample, SendLimit};
use crate::time::Instant;

/// Records of one session not yet taken by the node.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricsLog {
    pub records: Vec<(Instant, Metric)>,
    last: Option<RecoverySample>,
    limit: Option<SendLimit>,
    spurious: u64,
}

impl MetricsLog {
    pub(crate) fn push(&mut self, now: Instant, metric: Metric) {
        self.records.push((now, metric));
    }

    /// Records the send limit if it changed.
    pub(crate) fn send_limit(&mut self, now: Instant, limit: SendLimit) {
        if self.limit != Some(limit) {
            self.limit = Some(limit);
            self.push(now, Metric::SendLimit(limit));
        }
    }

    /// Records the recovery figures (and new spurious losses) if they changed.
    fn recovery(&mut self, now: Instant, sample: RecoverySample, spurious: u64) {
        if spurious != self.spurious {
            self.spurious = spurious;
            self.push(now, Metric::SpuriousLoss { total: spurious });
        }
        if self.last != Some(sample) {
            self.last = Some(sample);
            self.push(now, Metric::Recovery(sample));
        }
    }
}

impl Conn {
    /// The congestion and RTT figures now; `pacing` says whether the pacer is in use.
    fn recovery_sample(&self, pacing: bool) -> RecoverySample {
        let cwnd = self.cc.window();
        let smoothed_rtt = self.rtt.smoothed_rtt();
        // The pacer's rate (PROTOCOL.md §6.3): 1.25 · window / smoothed RTT.
        let pacing_rate = match (pacing, smoothed_rtt.as_nanos()) {
            (false, _) | (_, 0) => 0,
            (true, rtt) => {
                let rate = u128::from(cwnd) * 5 / 4 * 1_000_000_000 / rtt;
                u64::try_from(rate).unwrap_or(u64::MAX)
            }
        };
        RecoverySample {
            cwnd,
            bytes_in_flight: self.sent.bytes_in_flight(),
            smoothed_rtt,
            min_rtt: self.rtt.min_rtt(),
            latest_rtt: self.rtt.latest_rtt(),
            pacing_rate,
        }
    }

    /// Records the recovery figures if metrics are on and they changed.
    pub(crate) fn record_recovery(&mut self, now: Instant, pacing: bool) {
        if self.metrics.is_none() {
            return;
        }
        let sample = self.recovery_sample(pacing);
        let spurious = self.sent.spurious_losses();
        if let Some(log) = self.metrics.as_mut() {
            log.recovery(now, sample, spurious);
        }
    }

    /// Records `metric` if metrics are on.
    pub(crate) fn record(&mut self, now: Instant, metric: Metric) {
        if let Some(log) = self.metrics.as_mut() {
            log.push(now, metric);
        }
    }
}
