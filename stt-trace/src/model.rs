//! A trace read into per-session series: the parsing of schema version 1 lines and
//! nothing else (no formatting, no statistics). Lines of categories it does not plot
//! (the simulator's own `sim:*` lines, stream edge events) are skipped.

use std::collections::BTreeMap;
use std::io::BufRead;

use serde_json::Value;

/// The trace schema version this crate writes ([`crate::write::header_json`]) and reads
/// (docs/ARCHITECTURE.md "Traces"); a change to any line's shape bumps it.
pub const SCHEMA_VERSION: u64 = 1;

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// Reading the file failed.
    #[error("cannot read the trace: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a JSON object of the schema.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The header names another schema or version.
    #[error("unsupported trace: {0} (this tool reads stt-trace version {SCHEMA_VERSION})")]
    Unsupported(String),
    /// Nothing in the trace describes a session's transport.
    #[error("the trace holds no session metrics (was it written with metrics on?)")]
    Empty,
}

/// One session in a trace: the node that recorded it (simulator traces hold several)
/// and its session number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey {
    /// The recording node's name, when the trace names one.
    pub node: Option<String>,
    /// The session number (`SessionHandle::id`).
    pub session: u64,
}

impl std::fmt::Display for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.node {
            Some(n) => write!(f, "{n}/{}", self.session),
            None => write!(f, "{}", self.session),
        }
    }
}

/// Congestion and RTT figures at one instant (times in µs, sizes in bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryPoint {
    /// When, µs.
    pub time: u64,
    /// Congestion window.
    pub cwnd: u64,
    /// Bytes in flight.
    pub bytes_in_flight: u64,
    /// Smoothed RTT, µs.
    pub smoothed_rtt: u64,
    /// Minimum RTT, µs.
    pub min_rtt: u64,
    /// Latest RTT sample, µs.
    pub latest_rtt: u64,
    /// Pacing rate, bytes per second.
    pub pacing_rate: u64,
}

/// What a stream-data record says about its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataKind {
    /// First transmission.
    Sent,
    /// Retransmission.
    Resent,
    /// Acknowledged.
    Acked,
}

/// Stream bytes sent, resent or acknowledged at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataPoint {
    /// When, µs.
    pub time: u64,
    /// The stream.
    pub stream: u64,
    /// First byte's offset.
    pub offset: u64,
    /// Bytes.
    pub len: u64,
    /// Sent, resent or acked.
    pub kind: DataKind,
}

/// Everything a trace says about one session, in time order.
#[derive(Debug, Clone, Default)]
pub struct SessionTrace {
    /// Congestion and RTT samples.
    pub recovery: Vec<RecoveryPoint>,
    /// Losses: (time, packet number, bytes).
    pub losses: Vec<(u64, u64, u64)>,
    /// Spurious losses in total (the last figure recorded).
    pub spurious_losses: u64,
    /// Window cuts: (time, window after, persistent).
    pub congestion_events: Vec<(u64, u64, bool)>,
    /// Probe timeouts: (time, consecutive count).
    pub ptos: Vec<(u64, u64)>,
    /// Path changes, µs.
    pub path_changes: Vec<u64>,
    /// Key updates, µs.
    pub key_updates: Vec<u64>,
    /// Stream data.
    pub data: Vec<DataPoint>,
    /// Send limit changes: (time, limit name).
    pub limits: Vec<(u64, String)>,
    /// Flow-control blocks: (time, stream or None for the session, limit, by the peer).
    pub blocked: Vec<(u64, Option<u64>, u64, bool)>,
    /// First and last instant of any line of this session, µs.
    pub span: Option<(u64, u64)>,
    /// The close reason, if the session closed within the trace.
    pub closed: Option<String>,
}

/// A whole trace, by session.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Who wrote it (the header's `source`).
    pub source: Option<String>,
    /// Sessions in order of their keys.
    pub sessions: BTreeMap<SessionKey, SessionTrace>,
}

fn field(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

impl Trace {
    /// Reads a trace from JSON lines.
    pub fn read(input: impl BufRead) -> Result<Self, TraceError> {
        let mut trace = Trace::default();
        for (i, line) in input.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let bad = |reason: &str| TraceError::Line {
                line: i + 1,
                reason: reason.to_owned(),
            };
            let v: Value = serde_json::from_str(&line).map_err(|e| bad(&e.to_string()))?;
            if let Some(schema) = v.get("schema") {
                let version = field(&v, "version");
                if schema.as_str() != Some("stt-trace") || version != SCHEMA_VERSION {
                    return Err(TraceError::Unsupported(format!(
                        "{schema} version {version}"
                    )));
                }
                trace.source = v.get("source").and_then(Value::as_str).map(str::to_owned);
                continue;
            }
            let name = v
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("no \"name\""))?;
            let time = v
                .get("time")
                .and_then(Value::as_u64)
                .ok_or_else(|| bad("no \"time\""))?;
            let Some(session) = v.get("session").and_then(Value::as_u64) else {
                continue;
            };
            let key = SessionKey {
                node: v.get("node").and_then(Value::as_str).map(str::to_owned),
                session,
            };
            let data = v.get("data").cloned().unwrap_or(Value::Null);
            trace
                .sessions
                .entry(key)
                .or_default()
                .add(time, name, &data);
        }
        Ok(trace)
    }

    /// Sessions with transport metrics (at least one recovery sample or data record).
    pub fn measured(&self) -> impl Iterator<Item = (&SessionKey, &SessionTrace)> {
        self.sessions
            .iter()
            .filter(|(_, s)| !s.recovery.is_empty() || !s.data.is_empty())
    }
}

impl SessionTrace {
    fn add(&mut self, time: u64, name: &str, d: &Value) {
        self.span = Some(match self.span {
            None => (time, time),
            Some((a, b)) => (a.min(time), b.max(time)),
        });
        match name {
            "recovery:metrics" => self.recovery.push(RecoveryPoint {
                time,
                cwnd: field(d, "cwnd"),
                bytes_in_flight: field(d, "bytes_in_flight"),
                smoothed_rtt: field(d, "smoothed_rtt"),
                min_rtt: field(d, "min_rtt"),
                latest_rtt: field(d, "latest_rtt"),
                pacing_rate: field(d, "pacing_rate"),
            }),
            "recovery:packet_lost" => {
                self.losses
                    .push((time, field(d, "packet_number"), field(d, "bytes")))
            }
            "recovery:spurious_loss" => self.spurious_losses = field(d, "total"),
            "recovery:congestion" => self.congestion_events.push((
                time,
                field(d, "window"),
                d.get("persistent")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )),
            "recovery:pto" => self.ptos.push((time, field(d, "count"))),
            "path:changed" => self.path_changes.push(time),
            "security:key_updated" => self.key_updates.push(time),
            "stream:data" => {
                let kind = match d.get("kind").and_then(Value::as_str) {
                    Some("sent") => DataKind::Sent,
                    Some("resent") => DataKind::Resent,
                    Some("acked") => DataKind::Acked,
                    _ => return,
                };
                self.data.push(DataPoint {
                    time,
                    stream: field(d, "stream"),
                    offset: field(d, "offset"),
                    len: field(d, "len"),
                    kind,
                });
            }
            "transport:send_limit" => {
                if let Some(l) = d.get("limit").and_then(Value::as_str) {
                    self.limits.push((time, l.to_owned()));
                }
            }
            "flow:blocked" => self.blocked.push((
                time,
                d.get("stream").and_then(Value::as_u64),
                field(d, "limit"),
                d.get("peer").and_then(Value::as_bool).unwrap_or(false),
            )),
            "session:closed" => {
                self.closed = d.get("reason").and_then(Value::as_str).map(str::to_owned)
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_header_metrics_and_skips_other_lines() {
        let text = r#"{"schema":"stt-trace","version":1,"source":"test"}
{"time":10,"session":4,"name":"recovery:metrics","data":{"cwnd":12000,"bytes_in_flight":2400,"smoothed_rtt":20000,"min_rtt":19000,"latest_rtt":21000,"pacing_rate":750000}}
{"time":11,"session":4,"name":"stream:data","data":{"stream":4,"offset":0,"len":1200,"kind":"sent"}}
{"time":12,"name":"sim:packet_sent","data":{}}
{"time":13,"session":4,"name":"recovery:packet_lost","data":{"packet_number":7,"bytes":1250,"congestion":true}}
"#;
        let t = Trace::read(text.as_bytes()).unwrap();
        assert_eq!(t.source.as_deref(), Some("test"));
        let s = &t.sessions[&SessionKey {
            node: None,
            session: 4,
        }];
        assert_eq!(s.recovery[0].cwnd, 12_000);
        assert_eq!(s.data[0].kind, DataKind::Sent);
        assert_eq!(s.losses, vec![(13, 7, 1250)]);
        assert_eq!(s.span, Some((10, 13)));
    }

    #[test]
    fn refuses_other_versions_and_broken_lines() {
        let v2 = r#"{"schema":"stt-trace","version":2}"#;
        assert!(matches!(
            Trace::read(v2.as_bytes()),
            Err(TraceError::Unsupported(_))
        ));
        let broken = "{\"time\":1,\"session\":1,\"name\":\"x\"}\n{not json";
        assert!(matches!(
            Trace::read(broken.as_bytes()),
            Err(TraceError::Line { line: 2, .. })
        ));
    }
}
