//! Engine tests of the application primitives over the in-memory pair: named
//! endpoints (collisions, unknown names, full queues in both modes, the message
//! window), custom frames (code boundaries, exactly once under loss and duplication),
//! storage fetches (hit, miss, serving off, wrong bytes, too large, loss, cancel) and
//! live-mode deadlines.

use stt_testkit::pair as common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use common::{Fate, Pair};
use stt_proto::config::NodeConfig;
use stt_proto::error::{CustomFrameError, EndpointError, FetchError, RouteError};
use stt_proto::frame::{Dir, ErrorCode};
use stt_proto::storage::{MemoryStore, ObjectStore, StorageKey, StoreLimits};
use stt_proto::{
    ContentHash, EndpointEvent, EndpointId, Event, FetchId, RouteId, RouteMode, SessionHandle,
    StorageEvent, StreamEvent,
};

fn endpoint_events(events: &[Event]) -> Vec<EndpointEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Endpoint { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn storage_events(events: &[Event]) -> Vec<StorageEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Storage { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

/// Outcomes of routes seen so far on node `i`: route → Ok or the refusal code.
fn outcomes(pair: &Pair, i: usize) -> BTreeMap<RouteId, Result<(), ErrorCode>> {
    let mut out = BTreeMap::new();
    for e in endpoint_events(&pair.peers[i].events) {
        match e {
            EndpointEvent::Delivered { route } => {
                assert!(out.insert(route, Ok(())).is_none(), "two outcomes");
            }
            EndpointEvent::Refused { route, code } => {
                assert!(out.insert(route, Err(code)).is_none(), "two outcomes");
            }
            _ => {}
        }
    }
    out
}

fn drain(pair: &mut Pair, i: usize, id: EndpointId) -> Vec<Bytes> {
    let now = pair.now;
    let mut got = Vec::new();
    while let Some(m) = pair.peers[i].node.endpoint_recv(now, id) {
        got.push(m.payload);
    }
    got
}

fn route(
    pair: &mut Pair,
    a: SessionHandle,
    id: EndpointId,
    body: &[u8],
    mode: RouteMode,
) -> RouteId {
    let now = pair.now;
    pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .route(now, id, Bytes::copy_from_slice(body), mode)
        .unwrap()
}

#[test]
fn routed_messages_reach_a_named_endpoint_with_sender_and_outcome() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    let id = pair.peers[1]
        .node
        .register_endpoint(now, "sensor.telemetry", 8)
        .unwrap();
    assert_eq!(id, EndpointId::from_name("sensor.telemetry"));
    let (a, b) = pair.connect();
    pair.run_until(Duration::from_millis(200), |_| false);
    assert!(
        endpoint_events(&pair.peers[0].events).contains(&EndpointEvent::PeerRegistered(id)),
        "a session learns the endpoints served at connect time"
    );
    assert_eq!(
        pair.peers[0].node.session(a).unwrap().peer_endpoints(),
        [id]
    );
    let routes: Vec<RouteId> = (0..3u8)
        .map(|i| route(&mut pair, a, id, &[b't', i], RouteMode::Refuse))
        .collect();
    pair.run_until(Duration::from_millis(300), |_| false);
    let o = outcomes(&pair, 0);
    for r in &routes {
        assert_eq!(o.get(r), Some(&Ok(())));
    }
    let messages = endpoint_events(&pair.peers[1].events)
        .iter()
        .filter(|e| **e == EndpointEvent::Message { endpoint: id })
        .count();
    assert_eq!(messages, 3, "one event per message");
    let now = pair.now;
    let m = pair.peers[1].node.endpoint_recv(now, id).unwrap();
    assert_eq!((m.session, m.endpoint), (b, id));
    assert_eq!(m.peer, pair.peers[0].node.node_id());
    assert_eq!(m.payload, Bytes::from_static(&[b't', 0]));
    let rest = drain(&mut pair, 1, id);
    assert_eq!(
        rest,
        [
            Bytes::from_static(&[b't', 1]),
            Bytes::from_static(&[b't', 2])
        ]
    );
}

#[test]
fn name_collisions_and_registration_limits_are_typed_errors() {
    let mut pair = Pair::default_pair();
    let now = pair.now;
    let node = &mut pair.peers[1].node;
    let id = node.register_endpoint(now, "chat", 4).unwrap();
    assert_eq!(
        node.register_endpoint(now, "chat", 4),
        Err(EndpointError::AlreadyRegistered(id))
    );
    assert!(matches!(
        node.register_endpoint(now, "zero", 0),
        Err(EndpointError::Capacity { capacity: 0, .. })
    ));
    assert!(matches!(
        node.register_endpoint(now, "huge", 1 << 30),
        Err(EndpointError::Capacity { .. })
    ));
    assert!(node.unregister_endpoint(now, id));
    assert!(!node.unregister_endpoint(now, id));
    node.register_endpoint(now, "chat", 4).unwrap();
    let config = NodeConfig {
        max_endpoints: 2,
        ..NodeConfig::default()
    };
    let mut small = common::node(9, &[7; 32], config);
    small.register_endpoint(now, "a", 1).unwrap();
    small.register_endpoint(now, "b", 1).unwrap();
    assert_eq!(
        small.register_endpoint(now, "c", 1),
        Err(EndpointError::TooMany { max: 2 })
    );
}

#[test]
fn unknown_names_are_refused_and_resolve_answers_both_ways() {
    let mut pair = Pair::default_pair();
    let (a, _) = pair.connect();
    let now = pair.now;
    let served = pair.peers[1]
        .node
        .register_endpoint(now, "here", 4)
        .unwrap();
    let nobody = EndpointId::from_name("nobody");
    let r = route(&mut pair, a, nobody, b"hello?", RouteMode::Wait);
    let q1 = pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .resolve(now, nobody)
        .unwrap();
    let q2 = pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .resolve(now, served)
        .unwrap();
    pair.run_until(Duration::from_millis(300), |_| false);
    assert_eq!(
        outcomes(&pair, 0).get(&r),
        Some(&Err(ErrorCode::ENDPOINT_NOT_FOUND)),
        "even a waiting route fails at once for an unknown name"
    );
    let ev = endpoint_events(&pair.peers[0].events);
    assert!(ev.contains(&EndpointEvent::Resolved {
        request: q1,
        endpoint: nobody,
        found: false
    }));
    assert!(ev.contains(&EndpointEvent::Resolved {
        request: q2,
        endpoint: served,
        found: true
    }));
    assert!(
        ev.contains(&EndpointEvent::PeerRegistered(served)),
        "registering later announces to open sessions"
    );
    pair.peers[1].node.unregister_endpoint(now, served);
    pair.run_until(Duration::from_millis(100), |_| false);
    assert!(endpoint_events(&pair.peers[0].events).contains(&EndpointEvent::PeerWithdrawn(served)));
}

#[test]
fn a_full_queue_refuses_in_refuse_mode_and_never_grows() {
    let mut pair = Pair::default_pair();
    let (a, _) = pair.connect();
    let now = pair.now;
    let id = pair.peers[1].node.register_endpoint(now, "q", 2).unwrap();
    pair.run_until(Duration::from_millis(50), |_| false);
    let routes: Vec<RouteId> = (0..5u8)
        .map(|i| route(&mut pair, a, id, &[i], RouteMode::Refuse))
        .collect();
    pair.run_until(Duration::from_millis(300), |p| {
        assert!(p.peers[1].node.endpoint_queued(id).unwrap() <= 2);
        false
    });
    let o = outcomes(&pair, 0);
    let ok = routes.iter().filter(|r| o.get(r) == Some(&Ok(()))).count();
    let full = routes
        .iter()
        .filter(|r| o.get(r) == Some(&Err(ErrorCode::BUFFER_OVERFLOW)))
        .count();
    assert_eq!((ok, full), (2, 3));
    assert_eq!(drain(&mut pair, 1, id).len(), 2);
}

#[test]
fn a_full_queue_makes_waiting_routes_wait_until_room_and_delivers_each_once() {
    let mut pair = Pair::default_pair();
    let (a, _) = pair.connect();
    let now = pair.now;
    let id = pair.peers[1]
        .node
        .register_endpoint(now, "slow", 2)
        .unwrap();
    pair.run_until(Duration::from_millis(50), |_| false);
    let routes: Vec<RouteId> = (0..8u8)
        .map(|i| route(&mut pair, a, id, &[i], RouteMode::Wait))
        .collect();
    let mut got = Vec::new();
    // The receiver drains one message every 50 ms.
    for _ in 0..40 {
        pair.run_until(Duration::from_millis(50), |_| false);
        let now = pair.now;
        assert!(pair.peers[1].node.endpoint_queued(id).unwrap() <= 2);
        if let Some(m) = pair.peers[1].node.endpoint_recv(now, id) {
            got.push(m.payload[0]);
        }
    }
    got.sort_unstable();
    assert_eq!(
        got,
        (0..8).collect::<Vec<u8>>(),
        "every message exactly once"
    );
    let o = outcomes(&pair, 0);
    assert!(routes.iter().all(|r| o.get(r) == Some(&Ok(()))), "{o:?}");
}

#[test]
fn the_message_window_blocks_with_a_typed_error_and_reopens() {
    let mut config = NodeConfig::default();
    config.transport.max_messages_in_flight = 4;
    let mut pair = Pair::new(config, NodeConfig::default());
    let (a, _) = pair.connect();
    let now = pair.now;
    let id = pair.peers[1].node.register_endpoint(now, "w", 64).unwrap();
    for i in 0..4u8 {
        route(&mut pair, a, id, &[i], RouteMode::Refuse);
    }
    let mut s = pair.peers[0].node.session(a).unwrap();
    assert_eq!(
        s.route(now, id, Bytes::from_static(b"x"), RouteMode::Refuse),
        Err(RouteError::Blocked)
    );
    assert_eq!(
        s.send_custom_frame(now, 0x80, b"x"),
        Err(CustomFrameError::Blocked)
    );
    let too_big = vec![0u8; s.max_route_size() + 1];
    assert!(matches!(
        s.route(now, id, Bytes::from(too_big), RouteMode::Refuse),
        Err(RouteError::TooLarge { .. })
    ));
    pair.run_until(Duration::from_millis(200), |_| false);
    assert!(
        pair.peers[0]
            .events
            .iter()
            .any(|e| matches!(e, Event::MessagesWritable { session } if *session == a))
    );
    route(&mut pair, a, id, b"again", RouteMode::Refuse);
}

#[test]
fn custom_frame_codes_at_the_boundaries() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let now = pair.now;
    let mut s = pair.peers[0].node.session(a).unwrap();
    for reserved in [0x00, 0x10, 0x7f] {
        assert_eq!(
            s.send_custom_frame(now, reserved, b"no"),
            Err(CustomFrameError::ReservedType(reserved))
        );
    }
    s.send_custom_frame(now, 0x80, b"lowest").unwrap();
    s.send_custom_frame(now, 0xff, b"highest").unwrap();
    s.send_custom_frame(now, 0x90, b"").unwrap();
    let max = stt_proto::max_custom_payload(1472);
    s.send_custom_frame(now, 0x81, &vec![1; max]).unwrap();
    assert!(matches!(
        s.send_custom_frame(now, 0x81, &vec![1; max + 1]),
        Err(CustomFrameError::TooLarge { .. })
    ));
    pair.run_until(Duration::from_millis(300), |_| false);
    let got: Vec<(u8, usize)> = pair.peers[1]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CustomFrame {
                session,
                frame_type,
                payload,
            } => {
                assert_eq!(*session, b);
                Some((*frame_type, payload.len()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(got.len(), 4);
    for want in [(0x80, 6), (0xff, 7), (0x90, 0), (0x81, max)] {
        assert!(got.contains(&want), "{want:?} missing from {got:?}");
    }
}

/// Drops, duplicates and delays packets in a fixed pattern (no randomness).
fn lossy(pattern: u64) -> common::Hook {
    Box::new(move |_, n, _| match (n * pattern) % 17 {
        0 | 5 => Fate::Drop,
        3 => Fate::Duplicate,
        7 => Fate::Delay(Duration::from_millis(30)),
        _ => Fate::Deliver,
    })
}

#[test]
fn custom_frames_and_routes_arrive_exactly_once_under_loss_and_duplication() {
    let mut pair = Pair::default_pair();
    let (a, _) = pair.connect();
    let now = pair.now;
    let id = pair.peers[1]
        .node
        .register_endpoint(now, "log", 4096)
        .unwrap();
    pair.run_until(Duration::from_millis(50), |_| false);
    pair.hook = Some(lossy(7));
    for i in 0..200u16 {
        let now = pair.now;
        let mut s = pair.peers[0].node.session(a).unwrap();
        s.send_custom_frame(now, 0x80 + (i % 128) as u8, &i.to_be_bytes())
            .unwrap();
        s.route(
            now,
            id,
            Bytes::copy_from_slice(&i.to_be_bytes()),
            RouteMode::Wait,
        )
        .unwrap();
        pair.step();
    }
    pair.run_until(Duration::from_secs(5), |_| false);
    let mut custom: Vec<u16> = pair.peers[1]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::CustomFrame { payload, .. } => {
                Some(u16::from_be_bytes([payload[0], payload[1]]))
            }
            _ => None,
        })
        .collect();
    custom.sort_unstable();
    assert_eq!(custom, (0..200).collect::<Vec<u16>>());
    let mut routed: Vec<u16> = drain(&mut pair, 1, id)
        .iter()
        .map(|p| u16::from_be_bytes([p[0], p[1]]))
        .collect();
    routed.sort_unstable();
    assert_eq!(routed, (0..200).collect::<Vec<u16>>());
    assert_eq!(outcomes(&pair, 0).len(), 200);
}

fn store(tag: u8) -> MemoryStore {
    MemoryStore::new(
        StorageKey::from_node_seed(&[tag; 32]).unwrap(),
        [tag; 32],
        StoreLimits::default(),
    )
}

/// Node 1 serves `store`'s objects; node 0 fetches `hashes`; returns node 0's outcomes.
fn fetch_all(
    pair: &mut Pair,
    a: SessionHandle,
    store: &MemoryStore,
    hashes: &[(ContentHash, u64)],
    liar: bool,
) -> BTreeMap<FetchId, Result<Bytes, FetchError>> {
    let now = pair.now;
    let seen = pair.peers[0].events.len();
    let ids: Vec<FetchId> = hashes
        .iter()
        .map(|(h, max)| {
            pair.peers[0]
                .node
                .session(a)
                .unwrap()
                .fetch(now, *h, *max)
                .unwrap()
        })
        .collect();
    let mut served = pair.peers[1].events.len();
    let mut out = BTreeMap::new();
    for _ in 0..2000 {
        pair.step();
        let requests: Vec<_> = storage_events(&pair.peers[1].events[served..])
            .into_iter()
            .collect();
        served = pair.peers[1].events.len();
        for e in requests {
            if let StorageEvent::Requested { request, hash, .. } = e {
                let b = pair.peers[1].node.sessions()[0];
                let data = store.get(&hash).unwrap().map(|d| {
                    if liar {
                        let mut v = d.to_vec();
                        v[0] ^= 1;
                        Bytes::from(v)
                    } else {
                        d
                    }
                });
                let now = pair.now;
                pair.peers[1]
                    .node
                    .session(b)
                    .unwrap()
                    .serve_object(now, request, data)
                    .unwrap();
            }
        }
        for e in storage_events(&pair.peers[0].events[seen..]) {
            match e {
                StorageEvent::Fetched { fetch, hash, data } => {
                    assert_eq!(ContentHash::of(&data), hash);
                    out.insert(fetch, Ok(data));
                }
                StorageEvent::FetchFailed { fetch, error, .. } => {
                    out.insert(fetch, Err(error));
                }
                _ => {}
            }
        }
        if ids.iter().all(|i| out.contains_key(i)) {
            break;
        }
    }
    assert_eq!(out.len(), ids.len(), "every fetch has exactly one outcome");
    out
}

#[test]
fn fetch_by_hash_hit_miss_too_large_and_serving_off() {
    let mut pair = Pair::default_pair();
    let (a, _) = pair.connect();
    let mut st = store(3);
    let small = st.put(b"hello world").unwrap();
    let big_data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let big = st.put(&big_data).unwrap();
    let empty = st.put(b"").unwrap();
    let missing = ContentHash::of(b"never stored");
    // Serving off: every request is "not found", reported as a miss on the server.
    let o = fetch_all(&mut pair, a, &st, &[(small, 100)], false);
    assert_eq!(o.values().next(), Some(&Err(FetchError::NotFound)));
    assert!(
        storage_events(&pair.peers[1].events)
            .iter()
            .any(|e| matches!(e, StorageEvent::Miss { hash, .. } if *hash == small))
    );
    pair.peers[1].node.set_storage_serving(true);
    let o = fetch_all(
        &mut pair,
        a,
        &st,
        &[
            (small, 100),
            (big, 1 << 20),
            (empty, 0),
            (missing, 100),
            (big, 1000),
        ],
        false,
    );
    let v: Vec<_> = o.values().cloned().collect();
    assert_eq!(v[0], Ok(Bytes::from_static(b"hello world")));
    assert_eq!(v[1].as_deref().ok(), Some(&big_data[..]));
    assert_eq!(v[2], Ok(Bytes::new()));
    assert_eq!(v[3], Err(FetchError::NotFound));
    assert_eq!(v[4], Err(FetchError::TooLarge));
    let ev = storage_events(&pair.peers[1].events);
    assert!(
        ev.iter()
            .any(|e| matches!(e, StorageEvent::Hit { hash, .. } if *hash == big))
    );
    assert!(
        ev.iter()
            .any(|e| matches!(e, StorageEvent::Miss { hash, .. } if *hash == missing))
    );
}

#[test]
fn a_peer_serving_wrong_bytes_for_a_hash_is_rejected() {
    let mut pair = Pair::default_pair();
    let (a, _) = pair.connect();
    pair.peers[1].node.set_storage_serving(true);
    let mut st = store(4);
    let h = st.put(&[9u8; 5000]).unwrap();
    let o = fetch_all(&mut pair, a, &st, &[(h, 10_000)], true);
    assert_eq!(o.values().next(), Some(&Err(FetchError::HashMismatch)));
    assert!(
        !storage_events(&pair.peers[0].events)
            .iter()
            .any(|e| matches!(e, StorageEvent::Fetched { .. })),
        "nothing is delivered"
    );
    // The session survives and a later honest fetch works.
    let o = fetch_all(&mut pair, a, &st, &[(h, 10_000)], false);
    assert!(o.values().all(Result::is_ok));
}

#[test]
fn a_large_fetch_survives_loss_and_duplication() {
    let mut pair = Pair::default_pair();
    let (a, _) = pair.connect();
    pair.peers[1].node.set_storage_serving(true);
    let mut st = store(5);
    let data: Vec<u8> = (0..400_000u32).map(|i| (i % 253) as u8).collect();
    let h = st.put(&data).unwrap();
    pair.hook = Some(lossy(5));
    let o = fetch_all(&mut pair, a, &st, &[(h, 1 << 20)], false);
    assert_eq!(o.values().next().unwrap().as_deref().ok(), Some(&data[..]));
}

#[test]
fn cancelled_fetch_reports_nothing_and_the_server_stops() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    pair.peers[1].node.set_storage_serving(true);
    let mut st = store(6);
    let h = st.put(&vec![1u8; 200_000]).unwrap();
    let now = pair.now;
    let f = pair.peers[0]
        .node
        .session(a)
        .unwrap()
        .fetch(now, h, 1 << 20)
        .unwrap();
    pair.run_until(Duration::from_millis(20), |p| {
        !storage_events(&p.peers[1].events).is_empty()
    });
    let Some(StorageEvent::Requested { request, .. }) = storage_events(&pair.peers[1].events).pop()
    else {
        panic!("no request");
    };
    let now = pair.now;
    pair.peers[1]
        .node
        .session(b)
        .unwrap()
        .serve_object(now, request, st.get(&h).unwrap())
        .unwrap();
    pair.step();
    assert!(
        pair.peers[0]
            .node
            .session(a)
            .unwrap()
            .cancel_fetch(pair.now, f)
    );
    assert!(
        !pair.peers[0]
            .node
            .session(a)
            .unwrap()
            .cancel_fetch(pair.now, f)
    );
    pair.run_until(Duration::from_secs(1), |_| false);
    assert!(storage_events(&pair.peers[0].events).is_empty());
    let sent = pair.peers[1].node.session(b).unwrap().stats().bytes_sent;
    assert!(
        sent < 150_000,
        "the server stopped early ({sent} bytes sent)"
    );
}

#[test]
fn a_live_stream_past_its_deadline_is_dropped_not_stalled() {
    let mut pair = Pair::default_pair();
    let (a, b) = pair.connect();
    let now = pair.now;
    let old = {
        let mut s = pair.peers[0].node.session(a).unwrap();
        let old = s.open_stream(now, Dir::Uni, 0, None).unwrap();
        s.write(now, old, &[1; 20_000]).unwrap();
        s.finish(now, old).unwrap();
        s.set_deadline(now, old, now + Duration::from_millis(100))
            .unwrap();
        old
    };
    // The link goes dark for 300 ms: the segment cannot make its deadline.
    pair.hook = Some(Box::new(|from, _, _| match from {
        0 => Fate::Drop,
        _ => Fate::Deliver,
    }));
    pair.run_until(Duration::from_millis(300), |_| false);
    pair.hook = None;
    pair.run_until(Duration::from_secs(3), |_| false);
    assert!(
        pair.peers[0].events.iter().any(
            |e| matches!(e, Event::Stream { event: StreamEvent::Expired(id), .. } if *id == old)
        )
    );
    assert!(pair.peers[1].events.iter().any(|e| matches!(
        e,
        Event::Stream { session, event: StreamEvent::Reset { code, .. } }
            if *session == b && *code == ErrorCode::STREAM_EXPIRED
    )));
    // A stream delivered in time is not touched by its deadline.
    let now = pair.now;
    let mut s = pair.peers[0].node.session(a).unwrap();
    let ok = s.open_stream(now, Dir::Uni, 0, None).unwrap();
    s.write(now, ok, b"fresh").unwrap();
    s.finish(now, ok).unwrap();
    s.set_deadline(now, ok, now + Duration::from_millis(500))
        .unwrap();
    pair.run_until(Duration::from_secs(1), |_| false);
    let finished = pair.peers[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::Stream { event: StreamEvent::Finished(id), .. } if *id == ok));
    let expired = pair.peers[0]
        .events
        .iter()
        .any(|e| matches!(e, Event::Stream { event: StreamEvent::Expired(id), .. } if *id == ok));
    assert!(finished && !expired);
}
