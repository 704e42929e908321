//! Warn-level, rate-limited log lines for handshakes the engine refused as
//! unauthenticated (`stt_proto::Node::poll_rejected_handshake`), by source: a
//! listener's user learns that someone with another network seed keeps trying, and
//! from where, without one line per packet. Logging only; no protocol decisions.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use stt_proto::RejectCause;

use crate::shared::Remote;

/// At most one line per source in this long (the first attempt is logged at once).
const INTERVAL: Duration = Duration::from_secs(5);
/// Sources tracked at once; a flood from more shares one counter.
const MAX_SOURCES: usize = 256;

#[derive(Default)]
struct Source {
    last_line: Option<Instant>,
    unreported: u64,
}

/// Per-source counters of refused handshakes since each source's last log line.
#[derive(Default)]
pub(crate) struct RejectionLog {
    sources: HashMap<Option<Remote>, Source>,
}

fn describe(cause: RejectCause) -> &'static str {
    match cause {
        RejectCause::WrongNetwork => {
            "it was sealed with another network seed (the peer's --network/STT_NETWORK differs from this node's)"
        }
        RejectCause::AuthFailed => "its final message did not authenticate",
    }
}

impl RejectionLog {
    /// Counts one refused handshake from `remote` and logs if the source is due.
    pub(crate) fn record(&mut self, remote: Option<Remote>, cause: RejectCause, now: Instant) {
        let key = if self.sources.len() >= MAX_SOURCES && !self.sources.contains_key(&remote) {
            None
        } else {
            remote
        };
        let source = self.sources.entry(key).or_default();
        source.unreported += 1;
        let due = source
            .last_line
            .is_none_or(|t| now.duration_since(t) >= INTERVAL);
        if !due {
            return;
        }
        let from = match key {
            Some(Remote::Udp(a)) => format!("udp {a}"),
            Some(Remote::Ws(n)) => format!("WebSocket connection {n}"),
            None => "unknown or too many sources".to_string(),
        };
        let n = source.unreported;
        tracing::warn!(
            "{n} handshake{} from {from} failed authentication: {}",
            if n == 1 { "" } else { "s" },
            describe(cause)
        );
        source.unreported = 0;
        source.last_line = Some(now);
        // Forget sources quiet for a long time so the table stays small.
        self.sources.retain(|_, s| {
            s.last_line
                .is_some_and(|t| now.duration_since(t) < INTERVAL * 12)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_one_line_per_interval_and_the_table_stays_bounded() {
        let mut log = RejectionLog::default();
        let t0 = Instant::now();
        let a = Some(Remote::Udp("127.0.0.1:1".parse().unwrap()));
        log.record(a, RejectCause::WrongNetwork, t0);
        assert_eq!(
            log.sources[&a].unreported, 0,
            "the first attempt is logged at once"
        );
        log.record(a, RejectCause::WrongNetwork, t0 + Duration::from_secs(1));
        log.record(a, RejectCause::WrongNetwork, t0 + Duration::from_secs(2));
        assert_eq!(log.sources[&a].unreported, 2);
        log.record(a, RejectCause::WrongNetwork, t0 + INTERVAL);
        assert_eq!(log.sources[&a].unreported, 0);
        for port in 0..2 * MAX_SOURCES as u16 {
            let r = Some(Remote::Udp(format!("10.0.0.1:{port}").parse().unwrap()));
            log.record(r, RejectCause::WrongNetwork, t0 + INTERVAL);
        }
        assert!(log.sources.len() <= MAX_SOURCES + 1);
    }
}
