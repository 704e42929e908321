//! qlog export: a trace as a qlog 0.3 JSON-SEQ file (RFC 7464 records: an RS byte,
//! a JSON text, a newline), the flavour qvis reads. Recovery events use qlog's own
//! names and units (`recovery:metrics_updated` with milliseconds and bits per second,
//! `recovery:packet_lost`, `recovery:congestion_state_updated`,
//! `recovery:loss_timer_updated`); STT-only events keep an `stt:` prefix.

use std::io::{BufRead, Write};

use serde_json::{Value, json};

use crate::model::TraceError;

/// The record separator that starts every JSON-SEQ record.
pub const RS: u8 = 0x1e;

fn ms(us: u64) -> f64 {
    us as f64 / 1e3
}

fn field(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// The qlog event for one trace line (name and data), or `None` for lines qlog has no
/// use for.
fn event(name: &str, d: &Value) -> Option<(String, Value)> {
    let (name, data) = match name {
        "recovery:metrics" => (
            "recovery:metrics_updated".to_owned(),
            json!({
                "congestion_window": field(d, "cwnd"),
                "bytes_in_flight": field(d, "bytes_in_flight"),
                "smoothed_rtt": ms(field(d, "smoothed_rtt")),
                "min_rtt": ms(field(d, "min_rtt")),
                "latest_rtt": ms(field(d, "latest_rtt")),
                "pacing_rate": field(d, "pacing_rate").saturating_mul(8),
            }),
        ),
        "recovery:packet_lost" => (
            "recovery:packet_lost".to_owned(),
            json!({
                "header": {"packet_type": "1RTT", "packet_number": field(d, "packet_number")},
                "trigger": if d.get("congestion").and_then(Value::as_bool) == Some(false) {
                    "path_abandoned"
                } else {
                    "reordering_threshold"
                },
            }),
        ),
        "recovery:congestion" => (
            "recovery:congestion_state_updated".to_owned(),
            json!({
                "new": if d.get("persistent").and_then(Value::as_bool) == Some(true) {
                    "persistent_congestion"
                } else {
                    "recovery"
                },
            }),
        ),
        "recovery:pto" => (
            "recovery:loss_timer_updated".to_owned(),
            json!({"timer_type": "pto", "event_type": "expired", "count": field(d, "count")}),
        ),
        "security:key_updated" => (
            "security:key_updated".to_owned(),
            json!({"key_type": "1RTT", "trigger": "remote_update"}),
        ),
        "session:connected"
        | "session:closed"
        | "path:changed"
        | "stream:data"
        | "flow:blocked"
        | "transport:send_limit"
        | "recovery:spurious_loss" => (format!("stt:{}", name.replace(':', "_")), d.clone()),
        _ => return None,
    };
    Some((name, data))
}

/// Converts a JSON-lines trace to qlog JSON-SEQ; returns the number of events written.
pub fn convert(input: impl BufRead, mut out: impl Write, title: &str) -> Result<u64, TraceError> {
    let header = json!({
        "qlog_version": "0.3",
        "qlog_format": "JSON-SEQ",
        "title": title,
        "trace": {
            "vantage_point": {"type": "unknown", "name": "stt"},
            "common_fields": {
                "time_format": "relative",
                "reference_time": 0,
                "protocol_type": ["STT"],
            },
        },
    });
    let mut write = |v: &Value| -> Result<(), TraceError> {
        out.write_all(&[RS])?;
        serde_json::to_writer(&mut out, v).map_err(std::io::Error::from)?;
        out.write_all(b"\n")?;
        Ok(())
    };
    write(&header)?;
    let mut events = 0;
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| TraceError::Line {
            line: i + 1,
            reason: e.to_string(),
        })?;
        let (Some(name), Some(time)) = (
            v.get("name").and_then(Value::as_str),
            v.get("time").and_then(Value::as_u64),
        ) else {
            continue;
        };
        let d = v.get("data").cloned().unwrap_or(Value::Null);
        let Some((name, data)) = event(name, &d) else {
            continue;
        };
        let mut group = v
            .get("session")
            .and_then(Value::as_u64)
            .unwrap_or(0)
            .to_string();
        if let Some(node) = v.get("node").and_then(Value::as_str) {
            group = format!("{node}/{group}");
        }
        write(&json!({"time": ms(time), "name": name, "group_id": group, "data": data}))?;
        events += 1;
    }
    Ok(events)
}
