//! The JSON-lines trace (schema in docs/ARCHITECTURE.md "Traces"): a [`header_json`]
//! line, then one object per engine [`Event`] and per [`MetricRecord`], qlog-style
//! (`time` in µs, `name` as `category:event`, then `data`). Adapters write it per
//! session or per process when the user opts in, the simulator writes the same lines,
//! so the `stt-trace` tools read a real run and a simulated one alike.

use std::fmt::Write;

use stt_proto::frame::Dir;
use stt_proto::metrics::Metric;
use stt_proto::{EndpointEvent, Event, Instant, MetricRecord, StorageEvent, StreamEvent};

use crate::model::SCHEMA_VERSION;

fn escape(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn hex(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

fn endpoint_json(o: &mut String, event: &EndpointEvent) {
    let (name, id) = match event {
        EndpointEvent::PeerRegistered(id) => ("peer_registered", Some(id)),
        EndpointEvent::PeerWithdrawn(id) => ("peer_withdrawn", Some(id)),
        EndpointEvent::Resolved { endpoint, .. } => ("resolved", Some(endpoint)),
        EndpointEvent::Message { endpoint } => ("message", Some(endpoint)),
        EndpointEvent::Delivered { .. } => ("delivered", None),
        EndpointEvent::Refused { .. } => ("refused", None),
    };
    let _ = write!(o, "endpoint:{name}\",\"data\":{{");
    if let Some(id) = id {
        o.push_str("\"endpoint\":\"");
        hex(o, &id.0);
        o.push('"');
    }
    match event {
        EndpointEvent::Resolved { request, found, .. } => {
            let _ = write!(o, ",\"request\":{request},\"found\":{found}");
        }
        EndpointEvent::Delivered { route } => {
            let _ = write!(o, "\"route\":{}", route.0);
        }
        EndpointEvent::Refused { route, code } => {
            let _ = write!(o, "\"route\":{},\"code\":{}", route.0, code.0);
        }
        _ => {}
    }
    o.push('}');
}

fn storage_json(o: &mut String, event: &StorageEvent) {
    let (name, id, hash) = match event {
        StorageEvent::Requested { request, hash, .. } => ("requested", request.0, hash),
        StorageEvent::Hit { request, hash } => ("hit", request.0, hash),
        StorageEvent::Miss { request, hash } => ("miss", request.0, hash),
        StorageEvent::Fetched { fetch, hash, .. } => ("fetched", fetch.0, hash),
        StorageEvent::FetchFailed { fetch, hash, .. } => ("fetch_failed", fetch.0, hash),
    };
    let _ = write!(
        o,
        "storage:{name}\",\"data\":{{\"request\":{id},\"hash\":\""
    );
    hex(o, &hash.0);
    o.push('"');
    match event {
        StorageEvent::Requested { max_len, .. } => {
            let _ = write!(o, ",\"max_len\":{max_len}");
        }
        StorageEvent::Fetched { data, .. } => {
            let _ = write!(o, ",\"len\":{}", data.len());
        }
        StorageEvent::FetchFailed { error, .. } => {
            o.push_str(",\"error\":\"");
            escape(o, &format!("{error}"));
            o.push('"');
        }
        _ => {}
    }
    o.push('}');
}

fn dir(d: Dir) -> &'static str {
    match d {
        Dir::Bi => "bi",
        Dir::Uni => "uni",
    }
}

/// The start of every line up to the opening quote of its `name`: time, session and,
/// when the trace holds several nodes, the node.
fn envelope(o: &mut String, time: Instant, session: u64, node: Option<&str>) {
    let _ = write!(o, "{{\"time\":{},\"session\":{session},", time.as_micros());
    if let Some(node) = node {
        o.push_str("\"node\":\"");
        escape(o, node);
        o.push_str("\",");
    }
    o.push_str("\"name\":\"");
}

/// One JSON line (without the trailing newline) describing `event` at `now`.
pub fn event_json(now: Instant, event: &Event) -> String {
    event_json_for(now, event, None)
}

/// [`event_json`] naming the node that saw the event, for traces holding several.
pub fn event_json_for(now: Instant, event: &Event, node: Option<&str>) -> String {
    let mut o = String::with_capacity(96);
    envelope(&mut o, now, event.session().id(), node);
    match event {
        Event::Connected {
            peer, initiator, ..
        } => {
            let _ = write!(
                o,
                "session:connected\",\"data\":{{\"peer\":\"{peer}\",\"initiator\":{initiator}}}"
            );
        }
        Event::Closed { reason, .. } => {
            o.push_str("session:closed\",\"data\":{\"reason\":\"");
            escape(&mut o, &format!("{reason}"));
            o.push_str("\"}");
        }
        Event::Stream { event, .. } => {
            let (name, id, extra) = match event {
                StreamEvent::Opened { id, total_len } => (
                    "opened",
                    id.0,
                    total_len.map(|t| format!(",\"total_len\":{t}")),
                ),
                StreamEvent::Readable(id) => ("readable", id.0, None),
                StreamEvent::Writable(id) => ("writable", id.0, None),
                StreamEvent::Finished(id) => ("finished", id.0, None),
                StreamEvent::Expired(id) => ("expired", id.0, None),
                StreamEvent::Stopped { id, code } => {
                    ("stopped", id.0, Some(format!(",\"code\":{}", code.0)))
                }
                StreamEvent::Reset { id, code } => {
                    ("reset", id.0, Some(format!(",\"code\":{}", code.0)))
                }
                StreamEvent::Available(d) => {
                    let _ = write!(o, "stream:available\",\"data\":{{\"dir\":\"{}\"}}", dir(*d));
                    o.push('}');
                    return o;
                }
            };
            let _ = write!(
                o,
                "stream:{name}\",\"data\":{{\"stream\":{id}{}}}",
                extra.unwrap_or_default()
            );
        }
        Event::DatagramReceived { .. } => o.push_str("datagram:received\",\"data\":{}"),
        Event::CustomFrame {
            frame_type,
            payload,
            ..
        } => {
            let _ = write!(
                o,
                "frame:custom\",\"data\":{{\"type\":{frame_type},\"len\":{}}}",
                payload.len()
            );
        }
        Event::PathChanged { path, .. } => {
            let _ = write!(o, "path:changed\",\"data\":{{\"path\":{}}}", path.0);
        }
        Event::KeyUpdated { .. } => o.push_str("security:key_updated\",\"data\":{}"),
        Event::Endpoint { event, .. } => endpoint_json(&mut o, event),
        Event::Storage { event, .. } => storage_json(&mut o, event),
        Event::MessagesWritable { .. } => o.push_str("messages:writable\",\"data\":{}"),
    }
    o.push('}');
    o
}

/// The first line of a trace: the schema, its version and who wrote it (`source`,
/// e.g. `"stt-tokio"`, `"stt-sim"`).
pub fn header_json(source: &str) -> String {
    let mut o = String::with_capacity(64);
    let _ = write!(
        o,
        "{{\"schema\":\"stt-trace\",\"version\":{SCHEMA_VERSION},\"source\":\""
    );
    escape(&mut o, source);
    o.push_str("\"}");
    o
}

/// One JSON line (without the trailing newline) describing a metric record; `node`
/// names the node that recorded it when one trace holds several (the simulator).
pub fn metric_json(record: &MetricRecord, node: Option<&str>) -> String {
    let mut o = String::with_capacity(160);
    envelope(&mut o, record.time, record.session.id(), node);
    match record.metric {
        Metric::Recovery(r) => {
            let _ = write!(
                o,
                "recovery:metrics\",\"data\":{{\"cwnd\":{},\"bytes_in_flight\":{},\
                 \"smoothed_rtt\":{},\"min_rtt\":{},\"latest_rtt\":{},\"pacing_rate\":{}}}",
                r.cwnd,
                r.bytes_in_flight,
                r.smoothed_rtt.as_micros(),
                r.min_rtt.as_micros(),
                r.latest_rtt.as_micros(),
                r.pacing_rate
            );
        }
        Metric::PacketLost {
            packet_number,
            bytes,
            congestion,
        } => {
            let _ = write!(
                o,
                "recovery:packet_lost\",\"data\":{{\"packet_number\":{packet_number},\
                 \"bytes\":{bytes},\"congestion\":{congestion}}}"
            );
        }
        Metric::SpuriousLoss { total } => {
            let _ = write!(o, "recovery:spurious_loss\",\"data\":{{\"total\":{total}}}");
        }
        Metric::CongestionEvent { window, persistent } => {
            let _ = write!(
                o,
                "recovery:congestion\",\"data\":{{\"window\":{window},\"persistent\":{persistent}}}"
            );
        }
        Metric::ProbeTimeout { count } => {
            let _ = write!(o, "recovery:pto\",\"data\":{{\"count\":{count}}}");
        }
        Metric::StreamData {
            stream,
            offset,
            len,
            kind,
        } => {
            let _ = write!(
                o,
                "stream:data\",\"data\":{{\"stream\":{},\"offset\":{offset},\"len\":{len},\
                 \"kind\":\"{}\"}}",
                stream.0,
                kind.name()
            );
        }
        Metric::FlowBlocked {
            stream,
            limit,
            peer,
        } => {
            o.push_str("flow:blocked\",\"data\":{\"stream\":");
            match stream {
                Some(s) => {
                    let _ = write!(o, "{}", s.0);
                }
                None => o.push_str("null"),
            }
            let _ = write!(o, ",\"limit\":{limit},\"peer\":{peer}}}");
        }
        Metric::SendLimit(limit) => {
            let _ = write!(
                o,
                "transport:send_limit\",\"data\":{{\"limit\":\"{}\"}}",
                limit.name()
            );
        }
    }
    o.push('}');
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use stt_proto::frame::StreamId;
    use stt_proto::{Node, PathId};

    fn test_node() -> Node {
        Node::new(
            std::sync::Arc::new(stt_proto::config::NodeConfig::default()),
            stt_proto::Identity::from_node_seed(&[1; 32]).unwrap(),
            stt_proto::NetworkKey::from_shared_seed(&[2; 32]).unwrap(),
            [3; 32],
        )
        .unwrap()
    }

    #[test]
    fn metric_lines_and_header() {
        use stt_proto::metrics::{DataKind, Metric, RecoverySample, SendLimit};
        let mut node = test_node();
        let session = node.connect(Instant::from_micros(0), PathId(1)).unwrap();
        let at = |time, metric| MetricRecord {
            session,
            time: Instant::from_micros(time),
            metric,
        };
        assert_eq!(
            header_json("x\"y"),
            r#"{"schema":"stt-trace","version":1,"source":"x\"y"}"#
        );
        let sample = RecoverySample {
            cwnd: 12_000,
            bytes_in_flight: 2_400,
            smoothed_rtt: core::time::Duration::from_micros(20_500),
            min_rtt: core::time::Duration::from_millis(20),
            latest_rtt: core::time::Duration::from_millis(21),
            pacing_rate: 731_707,
        };
        assert_eq!(
            metric_json(&at(9, Metric::Recovery(sample)), Some("client")),
            r#"{"time":9,"session":0,"node":"client","name":"recovery:metrics","data":{"cwnd":12000,"bytes_in_flight":2400,"smoothed_rtt":20500,"min_rtt":20000,"latest_rtt":21000,"pacing_rate":731707}}"#
        );
        let data = Metric::StreamData {
            stream: StreamId(6),
            offset: 1200,
            len: 1184,
            kind: DataKind::Resent,
        };
        assert_eq!(
            metric_json(&at(10, data), None),
            r#"{"time":10,"session":0,"name":"stream:data","data":{"stream":6,"offset":1200,"len":1184,"kind":"resent"}}"#
        );
        let blocked = Metric::FlowBlocked {
            stream: None,
            limit: 4096,
            peer: true,
        };
        assert_eq!(
            metric_json(&at(11, blocked), None),
            r#"{"time":11,"session":0,"name":"flow:blocked","data":{"stream":null,"limit":4096,"peer":true}}"#
        );
        assert_eq!(
            metric_json(&at(12, Metric::SendLimit(SendLimit::FlowControl)), None),
            r#"{"time":12,"session":0,"name":"transport:send_limit","data":{"limit":"flow_control"}}"#
        );
    }

    #[test]
    fn lines_are_json_objects() {
        let mut node = test_node();
        let h = node.connect(Instant::from_micros(0), PathId(1)).unwrap();
        let l = event_json(
            Instant::from_micros(5),
            &Event::Stream {
                session: h,
                event: StreamEvent::Readable(StreamId(4)),
            },
        );
        assert_eq!(
            l,
            r#"{"time":5,"session":0,"name":"stream:readable","data":{"stream":4}}"#
        );
        let l = event_json(
            Instant::from_micros(6),
            &Event::PathChanged {
                session: h,
                path: PathId(3),
            },
        );
        assert_eq!(
            l,
            r#"{"time":6,"session":0,"name":"path:changed","data":{"path":3}}"#
        );
        let l = event_json(
            Instant::from_micros(7),
            &Event::Endpoint {
                session: h,
                event: EndpointEvent::Refused {
                    route: stt_proto::RouteId(2),
                    code: stt_proto::frame::ErrorCode::BUFFER_OVERFLOW,
                },
            },
        );
        assert_eq!(
            l,
            r#"{"time":7,"session":0,"name":"endpoint:refused","data":{"route":2,"code":1538}}"#
        );
        let l = event_json(
            Instant::from_micros(8),
            &Event::Storage {
                session: h,
                event: StorageEvent::FetchFailed {
                    fetch: stt_proto::FetchId(4),
                    hash: stt_proto::ContentHash([0xab; 32]),
                    error: stt_proto::error::FetchError::HashMismatch,
                },
            },
        );
        assert!(l.starts_with(
            r#"{"time":8,"session":0,"name":"storage:fetch_failed","data":{"request":4,"hash":"abab"#
        ));
        assert!(l.ends_with(r#""error":"received bytes do not match the requested hash"}}"#));
    }

    /// Lines written here are read back by this crate's reader with the same figures:
    /// the two halves of the format agree.
    #[test]
    fn written_lines_read_back() {
        use crate::model::{DataPoint, RecoveryPoint, SessionKey};
        use stt_proto::metrics::{DataKind, RecoverySample};
        let mut node = test_node();
        let session = node.connect(Instant::from_micros(0), PathId(1)).unwrap();
        let at = |time, metric| MetricRecord {
            session,
            time: Instant::from_micros(time),
            metric,
        };
        let sample = RecoverySample {
            cwnd: 12_000,
            bytes_in_flight: 2_400,
            smoothed_rtt: core::time::Duration::from_micros(20_500),
            min_rtt: core::time::Duration::from_millis(20),
            latest_rtt: core::time::Duration::from_millis(21),
            pacing_rate: 731_707,
        };
        let lines = [
            header_json("round-trip"),
            metric_json(&at(9, Metric::Recovery(sample)), Some("a\nb")),
            metric_json(
                &at(
                    10,
                    Metric::StreamData {
                        stream: StreamId(6),
                        offset: 1200,
                        len: 1184,
                        kind: DataKind::Acked,
                    },
                ),
                Some("a\nb"),
            ),
            event_json_for(
                Instant::from_micros(11),
                &Event::Closed {
                    session,
                    reason: stt_proto::error::SessionError::HandshakeTimeout,
                },
                Some("a\nb"),
            ),
        ];
        let text = lines.join("\n");
        let trace = crate::Trace::read(text.as_bytes()).expect("the reader takes the lines");
        assert_eq!(trace.source.as_deref(), Some("round-trip"));
        let key = SessionKey {
            node: Some("a\nb".to_owned()),
            session: 0,
        };
        let s = &trace.sessions[&key];
        assert_eq!(
            s.recovery,
            [RecoveryPoint {
                time: 9,
                cwnd: 12_000,
                bytes_in_flight: 2_400,
                smoothed_rtt: 20_500,
                min_rtt: 20_000,
                latest_rtt: 21_000,
                pacing_rate: 731_707,
            }]
        );
        assert_eq!(
            s.data,
            [DataPoint {
                time: 10,
                stream: 6,
                offset: 1200,
                len: 1184,
                kind: crate::model::DataKind::Acked,
            }]
        );
        assert_eq!(s.closed.as_deref(), Some("handshake timed out"));
        assert_eq!(s.span, Some((9, 11)));
    }

    /// Every event kind makes one JSON object with the envelope's fields, named in its
    /// category.
    #[test]
    fn every_event_is_one_object() {
        use stt_proto::frame::{Dir, ErrorCode};
        use stt_proto::{EndpointId, FetchId, ServeId};
        let mut node = test_node();
        let session = node.connect(Instant::from_micros(0), PathId(1)).unwrap();
        let id = EndpointId([7; 32]);
        let hash = stt_proto::ContentHash([1; 32]);
        let stream = StreamId(4);
        let events = [
            Event::Connected {
                session,
                peer: node.node_id(),
                initiator: true,
            },
            Event::Stream {
                session,
                event: StreamEvent::Opened {
                    id: stream,
                    total_len: Some(9),
                },
            },
            Event::Stream {
                session,
                event: StreamEvent::Reset {
                    id: stream,
                    code: ErrorCode(3),
                },
            },
            Event::Stream {
                session,
                event: StreamEvent::Available(Dir::Uni),
            },
            Event::DatagramReceived { session },
            Event::CustomFrame {
                session,
                frame_type: 0x80,
                payload: bytes_of(5),
            },
            Event::KeyUpdated { session },
            Event::Endpoint {
                session,
                event: EndpointEvent::Resolved {
                    request: 2,
                    endpoint: id,
                    found: true,
                },
            },
            Event::Endpoint {
                session,
                event: EndpointEvent::Delivered {
                    route: stt_proto::RouteId(8),
                },
            },
            Event::Storage {
                session,
                event: StorageEvent::Requested {
                    request: ServeId(1),
                    hash,
                    max_len: 100,
                },
            },
            Event::Storage {
                session,
                event: StorageEvent::Fetched {
                    fetch: FetchId(2),
                    hash,
                    data: bytes_of(3),
                },
            },
            Event::MessagesWritable { session },
        ];
        let expected = [
            ("session:connected", r#"{"peer":"PEER","initiator":true}"#),
            ("stream:opened", r#"{"stream":4,"total_len":9}"#),
            ("stream:reset", r#"{"stream":4,"code":3}"#),
            ("stream:available", r#"{"dir":"uni"}"#),
            ("datagram:received", "{}"),
            ("frame:custom", r#"{"type":128,"len":5}"#),
            ("security:key_updated", "{}"),
            (
                "endpoint:resolved",
                r#"{"endpoint":"0707070707070707070707070707070707070707070707070707070707070707","request":2,"found":true}"#,
            ),
            ("endpoint:delivered", r#"{"route":8}"#),
            (
                "storage:requested",
                r#"{"request":1,"hash":"0101010101010101010101010101010101010101010101010101010101010101","max_len":100}"#,
            ),
            (
                "storage:fetched",
                r#"{"request":2,"hash":"0101010101010101010101010101010101010101010101010101010101010101","len":3}"#,
            ),
            ("messages:writable", "{}"),
        ];
        let peer = node.node_id().to_string();
        for (event, (name, data)) in events.iter().zip(expected) {
            let data = data.replace("PEER", &peer);
            assert_eq!(
                event_json(Instant::from_micros(3), event),
                format!(r#"{{"time":3,"session":0,"name":"{name}","data":{data}}}"#)
            );
        }
    }

    fn bytes_of(n: usize) -> bytes::Bytes {
        bytes::Bytes::from(vec![0u8; n])
    }
}
