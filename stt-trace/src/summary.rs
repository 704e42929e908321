//! The per-session table of `stt trace summary`: goodput, losses, retransmissions,
//! probe timeouts and where the time went (sending, or held back by congestion,
//! pacing, flow control or the application). Computed from a [`Trace`] only.

use std::fmt::Write;

use crate::model::{DataKind, SessionKey, SessionTrace, Trace};

/// The figures of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSummary {
    /// Which session.
    pub key: SessionKey,
    /// From the first to the last line of the session, seconds.
    pub duration: f64,
    /// Stream bytes sent for the first time.
    pub bytes_sent: u64,
    /// Stream bytes sent again.
    pub bytes_resent: u64,
    /// Stream bytes acknowledged.
    pub bytes_acked: u64,
    /// Acknowledged stream bytes per second, from the first data sent to the last ACK.
    pub goodput: f64,
    /// Packets declared lost.
    pub packets_lost: u64,
    /// Losses that turned out to be reordering.
    pub spurious_losses: u64,
    /// Window cuts.
    pub congestion_events: u64,
    /// Probe timeouts.
    pub ptos: u64,
    /// Path changes.
    pub path_changes: u64,
    /// Last smoothed and minimum RTT, ms.
    pub rtt_ms: (f64, f64),
    /// Seconds spent in each send limit, in [`LIMITS`] order.
    pub limit_secs: [f64; LIMITS.len()],
}

/// The send limits, in table order.
pub const LIMITS: [&str; 5] = [
    "sending",
    "congestion",
    "pacing",
    "flow_control",
    "application",
];

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// The summary of one session.
pub fn summarize(key: &SessionKey, s: &SessionTrace) -> SessionSummary {
    let (start, end) = s.span.unwrap_or((0, 0));
    let mut bytes = [0u64; 3];
    let mut first_sent = None;
    let mut last_ack = None;
    for d in &s.data {
        let i = match d.kind {
            DataKind::Sent => 0,
            DataKind::Resent => 1,
            DataKind::Acked => 2,
        };
        bytes[i] += d.len;
        if d.kind == DataKind::Sent && first_sent.is_none() {
            first_sent = Some(d.time);
        }
        if d.kind == DataKind::Acked {
            last_ack = Some(d.time);
        }
    }
    let goodput = match (first_sent, last_ack) {
        (Some(a), Some(b)) if b > a => bytes[2] as f64 / secs(b - a),
        _ => 0.0,
    };
    let mut limit_secs = [0.0; LIMITS.len()];
    for (i, (t, name)) in s.limits.iter().enumerate() {
        let until = s.limits.get(i + 1).map_or(end, |(t, _)| *t);
        if let Some(ix) = LIMITS.iter().position(|l| l == name) {
            limit_secs[ix] += secs(until.saturating_sub(*t));
        }
    }
    let rtt_ms = s.recovery.last().map_or((0.0, 0.0), |r| {
        (r.smoothed_rtt as f64 / 1e3, r.min_rtt as f64 / 1e3)
    });
    SessionSummary {
        key: key.clone(),
        duration: secs(end.saturating_sub(start)),
        bytes_sent: bytes[0],
        bytes_resent: bytes[1],
        bytes_acked: bytes[2],
        goodput,
        packets_lost: s.losses.len() as u64,
        spurious_losses: s.spurious_losses,
        congestion_events: s.congestion_events.len() as u64,
        ptos: s.ptos.len() as u64,
        path_changes: s.path_changes.len() as u64,
        rtt_ms,
        limit_secs,
    }
}

/// Summaries of every session with transport metrics.
pub fn summaries(trace: &Trace) -> Vec<SessionSummary> {
    trace.measured().map(|(k, s)| summarize(k, s)).collect()
}

/// The table `stt trace summary` prints.
pub fn table(summaries: &[SessionSummary]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<14} {:>8} {:>11} {:>11} {:>7} {:>6} {:>9} {:>5} {:>5} {:>13}  time held back by",
        "session",
        "secs",
        "acked MB",
        "goodput",
        "lost",
        "spur.",
        "resent %",
        "PTOs",
        "paths",
        "srtt/min ms"
    );
    for s in summaries {
        let resent = if s.bytes_sent == 0 {
            0.0
        } else {
            100.0 * s.bytes_resent as f64 / s.bytes_sent as f64
        };
        let mut held = String::new();
        let total: f64 = s.limit_secs.iter().sum();
        for (name, t) in LIMITS.iter().zip(s.limit_secs) {
            if t > 0.0 && total > 0.0 {
                let _ = write!(held, "{name} {:.0}% ", 100.0 * t / total);
            }
        }
        let _ = writeln!(
            o,
            "{:<14} {:>8.2} {:>11.2} {:>9.2}MB/s {:>7} {:>6} {:>8.2}% {:>5} {:>5} {:>6.1}/{:<6.1}  {}",
            s.key.to_string(),
            s.duration,
            s.bytes_acked as f64 / 1e6,
            s.goodput / 1e6,
            s.packets_lost,
            s.spurious_losses,
            resent,
            s.ptos,
            s.path_changes,
            s.rtt_ms.0,
            s.rtt_ms.1,
            held.trim_end()
        );
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goodput_and_time_shares() {
        let text = r#"{"time":0,"session":1,"name":"transport:send_limit","data":{"limit":"sending"}}
{"time":0,"session":1,"name":"stream:data","data":{"stream":4,"offset":0,"len":1000000,"kind":"sent"}}
{"time":500000,"session":1,"name":"transport:send_limit","data":{"limit":"congestion"}}
{"time":1000000,"session":1,"name":"stream:data","data":{"stream":4,"offset":0,"len":1000000,"kind":"acked"}}
"#;
        let t = Trace::read(text.as_bytes()).unwrap();
        let s = &summaries(&t)[0];
        assert_eq!(s.bytes_acked, 1_000_000);
        assert!((s.goodput - 1e6).abs() < 1.0, "{}", s.goodput);
        assert!((s.limit_secs[0] - 0.5).abs() < 1e-9);
        assert!((s.limit_secs[1] - 0.5).abs() < 1e-9);
        let text = table(std::slice::from_ref(s));
        assert!(text.contains("sending 50% congestion 50%"), "{text}");
    }
}
