//! Writing the JSON-lines trace (schema in docs/ARCHITECTURE.md "Traces"): a
//! [`header_json`] line, then one object per engine [`Event`] and per [`MetricRecord`],
//! qlog-style (`time` in µs, `name` as `category:event`, then `data`), each built from a
//! small serde struct. Adapters write it per session or per process when the user opts
//! in and the simulator writes the same lines, so this crate's readers take a real run
//! and a simulated one alike. Formatting only: no files, no decisions about what to trace.

use std::fmt::Display;

use serde::{Serialize, Serializer};
use stt_proto::frame::Dir;
use stt_proto::metrics::Metric;
use stt_proto::{EndpointEvent, Event, Instant, MetricRecord, StorageEvent, StreamEvent};

use crate::model::SCHEMA_VERSION;

/// The first line of a trace.
#[derive(Serialize)]
struct Header<'a> {
    schema: &'static str,
    version: u64,
    source: &'a str,
}

/// Every other line: when, which session, which node (when the trace holds several),
/// what happened, and its data.
#[derive(Serialize)]
struct Line<'a, D> {
    time: u64,
    session: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    node: Option<&'a str>,
    name: &'static str,
    data: D,
}

/// A value written as its `Display` text (node ids, close reasons, errors).
struct Shown<T>(T);

impl<T: Display> Serialize for Shown<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// Bytes written as lowercase hex (endpoint ids, content hashes).
struct Hex<'a>(&'a [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

/// `"data":{}`.
#[derive(Serialize)]
struct NoData {}

/// The start of a line, to which each event or metric adds its name and data.
#[derive(Clone, Copy)]
struct Envelope<'a> {
    time: Instant,
    session: u64,
    node: Option<&'a str>,
}

impl Envelope<'_> {
    /// The whole line (without the trailing newline).
    fn line(self, name: &'static str, data: impl Serialize) -> String {
        to_json(&Line {
            time: self.time.as_micros(),
            session: self.session,
            node: self.node,
            name,
            data,
        })
    }
}

/// Serializes one line. Nothing written here can fail: every field is a number, a
/// bool, a string or a struct of them, and maps have string keys.
fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).expect("a trace line always serializes")
}

/// The first line of a trace: the schema, its version ([`SCHEMA_VERSION`]) and who wrote
/// it (`source`, e.g. `"stt-tokio"`, `"stt-sim"`).
pub fn header_json(source: &str) -> String {
    to_json(&Header {
        schema: "stt-trace",
        version: SCHEMA_VERSION,
        source,
    })
}

/// One JSON line (without the trailing newline) describing `event` at `now`.
pub fn event_json(now: Instant, event: &Event) -> String {
    event_json_for(now, event, None)
}

/// [`event_json`] naming the node that saw the event, for traces holding several.
pub fn event_json_for(now: Instant, event: &Event, node: Option<&str>) -> String {
    let env = Envelope {
        time: now,
        session: event.session().id(),
        node,
    };
    match event {
        Event::Connected {
            peer, initiator, ..
        } => {
            #[derive(Serialize)]
            struct Connected<'a> {
                peer: Shown<&'a stt_proto::NodeId>,
                initiator: bool,
            }
            env.line(
                "session:connected",
                Connected {
                    peer: Shown(peer),
                    initiator: *initiator,
                },
            )
        }
        Event::Closed { reason, .. } => {
            #[derive(Serialize)]
            struct Closed<'a> {
                reason: Shown<&'a stt_proto::error::SessionError>,
            }
            env.line(
                "session:closed",
                Closed {
                    reason: Shown(reason),
                },
            )
        }
        Event::Stream { event, .. } => stream_line(env, event),
        Event::DatagramReceived { .. } => env.line("datagram:received", NoData {}),
        Event::CustomFrame {
            frame_type,
            payload,
            ..
        } => {
            #[derive(Serialize)]
            struct Custom {
                #[serde(rename = "type")]
                frame_type: u8,
                len: usize,
            }
            env.line(
                "frame:custom",
                Custom {
                    frame_type: *frame_type,
                    len: payload.len(),
                },
            )
        }
        Event::PathChanged { path, .. } => {
            #[derive(Serialize)]
            struct Path {
                path: u64,
            }
            env.line("path:changed", Path { path: path.0 })
        }
        Event::KeyUpdated { .. } => env.line("security:key_updated", NoData {}),
        Event::Endpoint { event, .. } => endpoint_line(env, event),
        Event::Storage { event, .. } => storage_line(env, event),
        Event::MessagesWritable { .. } => env.line("messages:writable", NoData {}),
        Event::Rendezvous(event) => rendezvous_line(env, event),
    }
}

/// `rendezvous:registered|found|failed|peer` (PROTOCOL.md §12.2).
fn rendezvous_line(env: Envelope<'_>, event: &stt_proto::RendezvousEvent) -> String {
    use stt_proto::RendezvousEvent as R;
    #[derive(Serialize)]
    struct Rdv {
        request: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        addr: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        relayed_path: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        initiator: Option<bool>,
    }
    let shown = |a: &stt_proto::RemoteAddr| {
        a.to_socket_addr()
            .map_or_else(|| format!("{a:?}"), |s| s.to_string())
    };
    let (name, data) = match event {
        R::Registered {
            request, observed, ..
        } => (
            "rendezvous:registered",
            Rdv {
                request: *request,
                addr: Some(shown(observed)),
                status: None,
                relayed_path: None,
                initiator: None,
            },
        ),
        R::Found { request, addr, .. } => (
            "rendezvous:found",
            Rdv {
                request: *request,
                addr: Some(shown(addr)),
                status: None,
                relayed_path: None,
                initiator: None,
            },
        ),
        R::Failed {
            request, status, ..
        } => (
            "rendezvous:failed",
            Rdv {
                request: *request,
                addr: None,
                status: Some(format!("{status:?}")),
                relayed_path: None,
                initiator: None,
            },
        ),
        R::Peer {
            request,
            addr,
            path,
            initiator,
            ..
        } => (
            "rendezvous:peer",
            Rdv {
                request: *request,
                addr: Some(shown(addr)),
                status: None,
                relayed_path: Some(path.0),
                initiator: Some(*initiator),
            },
        ),
    };
    env.line(name, data)
}

fn stream_line(env: Envelope<'_>, event: &StreamEvent) -> String {
    /// Every stream event but `available`: the stream and, for some, one figure more.
    #[derive(Serialize)]
    struct Stream {
        stream: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        total_len: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<u64>,
    }
    let plain = |id: stt_proto::frame::StreamId| Stream {
        stream: id.0,
        total_len: None,
        code: None,
    };
    let (name, data) = match event {
        StreamEvent::Opened { id, total_len } => (
            "stream:opened",
            Stream {
                total_len: *total_len,
                ..plain(*id)
            },
        ),
        StreamEvent::Readable(id) => ("stream:readable", plain(*id)),
        StreamEvent::Writable(id) => ("stream:writable", plain(*id)),
        StreamEvent::Finished(id) => ("stream:finished", plain(*id)),
        StreamEvent::Expired(id) => ("stream:expired", plain(*id)),
        StreamEvent::Stopped { id, code } => (
            "stream:stopped",
            Stream {
                code: Some(code.0),
                ..plain(*id)
            },
        ),
        StreamEvent::Reset { id, code } => (
            "stream:reset",
            Stream {
                code: Some(code.0),
                ..plain(*id)
            },
        ),
        StreamEvent::Available(d) => {
            #[derive(Serialize)]
            struct Available {
                dir: &'static str,
            }
            let dir = match d {
                Dir::Bi => "bi",
                Dir::Uni => "uni",
            };
            return env.line("stream:available", Available { dir });
        }
    };
    env.line(name, data)
}

fn endpoint_line(env: Envelope<'_>, event: &EndpointEvent) -> String {
    /// The fields an endpoint event has, in the order they are written.
    #[derive(Serialize, Default)]
    struct Endpoint<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        endpoint: Option<Hex<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        request: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        found: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        route: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<u64>,
    }
    let (name, data) = match event {
        EndpointEvent::PeerRegistered(id) => (
            "endpoint:peer_registered",
            Endpoint {
                endpoint: Some(Hex(&id.0)),
                ..Endpoint::default()
            },
        ),
        EndpointEvent::PeerWithdrawn(id) => (
            "endpoint:peer_withdrawn",
            Endpoint {
                endpoint: Some(Hex(&id.0)),
                ..Endpoint::default()
            },
        ),
        EndpointEvent::Resolved {
            request,
            endpoint,
            found,
        } => (
            "endpoint:resolved",
            Endpoint {
                endpoint: Some(Hex(&endpoint.0)),
                request: Some(*request),
                found: Some(*found),
                ..Endpoint::default()
            },
        ),
        EndpointEvent::Message { endpoint } => (
            "endpoint:message",
            Endpoint {
                endpoint: Some(Hex(&endpoint.0)),
                ..Endpoint::default()
            },
        ),
        EndpointEvent::Delivered { route } => (
            "endpoint:delivered",
            Endpoint {
                route: Some(route.0),
                ..Endpoint::default()
            },
        ),
        EndpointEvent::Refused { route, code } => (
            "endpoint:refused",
            Endpoint {
                route: Some(route.0),
                code: Some(code.0),
                ..Endpoint::default()
            },
        ),
    };
    env.line(name, data)
}

fn storage_line(env: Envelope<'_>, event: &StorageEvent) -> String {
    /// The request (or fetch) and hash every storage event names, then its one figure.
    #[derive(Serialize)]
    struct Storage<'a> {
        request: u64,
        hash: Hex<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        max_len: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        len: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<Shown<&'a stt_proto::error::FetchError>>,
    }
    let (name, request, hash) = match event {
        StorageEvent::Requested { request, hash, .. } => ("storage:requested", request.0, hash),
        StorageEvent::Hit { request, hash } => ("storage:hit", request.0, hash),
        StorageEvent::Miss { request, hash } => ("storage:miss", request.0, hash),
        StorageEvent::Fetched { fetch, hash, .. } => ("storage:fetched", fetch.0, hash),
        StorageEvent::FetchFailed { fetch, hash, .. } => ("storage:fetch_failed", fetch.0, hash),
    };
    let mut data = Storage {
        request,
        hash: Hex(&hash.0),
        max_len: None,
        len: None,
        error: None,
    };
    match event {
        StorageEvent::Requested { max_len, .. } => data.max_len = Some(*max_len),
        StorageEvent::Fetched { data: bytes, .. } => data.len = Some(bytes.len()),
        StorageEvent::FetchFailed { error, .. } => data.error = Some(Shown(error)),
        StorageEvent::Hit { .. } | StorageEvent::Miss { .. } => {}
    }
    env.line(name, data)
}

/// One JSON line (without the trailing newline) describing a metric record; `node`
/// names the node that recorded it when one trace holds several (the simulator).
pub fn metric_json(record: &MetricRecord, node: Option<&str>) -> String {
    let env = Envelope {
        time: record.time,
        session: record.session.id(),
        node,
    };
    match record.metric {
        Metric::Recovery(r) => {
            /// RTTs in µs.
            #[derive(Serialize)]
            struct Recovery {
                cwnd: u64,
                bytes_in_flight: u64,
                smoothed_rtt: u128,
                min_rtt: u128,
                latest_rtt: u128,
                pacing_rate: u64,
            }
            env.line(
                "recovery:metrics",
                Recovery {
                    cwnd: r.cwnd,
                    bytes_in_flight: r.bytes_in_flight,
                    smoothed_rtt: r.smoothed_rtt.as_micros(),
                    min_rtt: r.min_rtt.as_micros(),
                    latest_rtt: r.latest_rtt.as_micros(),
                    pacing_rate: r.pacing_rate,
                },
            )
        }
        Metric::PacketLost {
            packet_number,
            bytes,
            congestion,
        } => {
            #[derive(Serialize)]
            struct PacketLost {
                packet_number: u64,
                bytes: u64,
                congestion: bool,
            }
            env.line(
                "recovery:packet_lost",
                PacketLost {
                    packet_number,
                    bytes,
                    congestion,
                },
            )
        }
        Metric::SpuriousLoss { total } => {
            #[derive(Serialize)]
            struct SpuriousLoss {
                total: u64,
            }
            env.line("recovery:spurious_loss", SpuriousLoss { total })
        }
        Metric::CongestionEvent { window, persistent } => {
            #[derive(Serialize)]
            struct Congestion {
                window: u64,
                persistent: bool,
            }
            env.line("recovery:congestion", Congestion { window, persistent })
        }
        Metric::ProbeTimeout { count } => {
            #[derive(Serialize)]
            struct Pto {
                count: u32,
            }
            env.line("recovery:pto", Pto { count })
        }
        Metric::StreamData {
            stream,
            offset,
            len,
            kind,
        } => {
            #[derive(Serialize)]
            struct StreamData {
                stream: u32,
                offset: u64,
                len: u64,
                kind: &'static str,
            }
            env.line(
                "stream:data",
                StreamData {
                    stream: stream.0,
                    offset,
                    len,
                    kind: kind.name(),
                },
            )
        }
        Metric::FlowBlocked {
            stream,
            limit,
            peer,
        } => {
            /// `stream` is null for the session-wide limit.
            #[derive(Serialize)]
            struct FlowBlocked {
                stream: Option<u32>,
                limit: u64,
                peer: bool,
            }
            env.line(
                "flow:blocked",
                FlowBlocked {
                    stream: stream.map(|s| s.0),
                    limit,
                    peer,
                },
            )
        }
        Metric::SendLimit(limit) => {
            #[derive(Serialize)]
            struct SendLimit {
                limit: &'static str,
            }
            env.line(
                "transport:send_limit",
                SendLimit {
                    limit: limit.name(),
                },
            )
        }
    }
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
