//! Property tests: every frame, the header and every handshake body round-trip with
//! arbitrary field values, and no input — random or a mutated valid encoding — makes
//! a decoder panic or break the invariants of the codec oracle (`stt_testkit`).

use proptest::collection::vec as pvec;
use proptest::prelude::*;

use stt_proto::frame::*;
use stt_testkit as oracle;

/// A frame whose variable parts are owned, so a strategy can produce it.
#[derive(Debug, Clone)]
enum Owned {
    Frame(Frame<'static>),
    Data {
        offset: u64,
        fin: bool,
        data: Vec<u8>,
    },
    Ack {
        delay: u64,
        ranges: Vec<AckRange>,
    },
    Disconnect {
        code: u64,
        reason: Vec<u8>,
    },
    Route {
        endpoint: [u8; 32],
        message_id: u64,
        payload: Vec<u8>,
    },
    Datagram(Vec<u8>),
    Custom {
        frame_type: u8,
        message_id: u64,
        payload: Vec<u8>,
    },
    StorageData {
        request_id: u64,
        total_len: u64,
        offset: u64,
        data: Vec<u8>,
    },
}

impl Owned {
    fn frame(&self) -> Frame<'_> {
        match self {
            Owned::Frame(f) => f.clone(),
            Owned::Data { offset, fin, data } => Frame::Data(DataFrame {
                offset: *offset,
                fin: *fin,
                data,
            }),
            Owned::Ack { delay, ranges } => Frame::Ack(AckFrame::new(*delay, ranges).unwrap()),
            Owned::Disconnect { code, reason } => Frame::Disconnect(Disconnect {
                code: ErrorCode(*code),
                reason,
            }),
            Owned::Route {
                endpoint,
                message_id,
                payload,
            } => Frame::EndpointRoute(EndpointRoute {
                endpoint: EndpointId(*endpoint),
                message_id: *message_id,
                payload,
            }),
            Owned::Datagram(data) => Frame::Datagram(Datagram { data }),
            Owned::Custom {
                frame_type,
                message_id,
                payload,
            } => Frame::Custom {
                frame_type: *frame_type,
                message_id: *message_id,
                payload,
            },
            Owned::StorageData {
                request_id,
                total_len,
                offset,
                data,
            } => Frame::StorageData(StorageData {
                request_id: *request_id,
                total_len: *total_len,
                offset: *offset,
                data,
            }),
        }
    }
}

/// Varints spread over all four encoded lengths, not just the (mostly 8-byte) uniform.
fn varint() -> impl Strategy<Value = u64> + Clone {
    prop_oneof![
        0..=0x3fu64,
        0x40..=0x3fffu64,
        0x4000..=0x3fff_ffffu64,
        0..=varint::MAX
    ]
}

fn stream_id() -> impl Strategy<Value = StreamId> + Clone {
    prop_oneof![4..=64u32, 4..=u32::MAX].prop_map(StreamId)
}

fn code() -> impl Strategy<Value = ErrorCode> + Clone {
    varint().prop_map(ErrorCode)
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> + Clone {
    pvec(any::<u8>(), 0..=max)
}

fn arb_padding() -> impl Strategy<Value = Owned> {
    (1..=1500usize).prop_map(|len| Owned::Frame(Frame::Padding { len }))
}

fn arb_data() -> impl Strategy<Value = Owned> {
    (bytes(1500), any::<bool>(), varint()).prop_map(|(data, fin, offset)| {
        // Keep offset + length within 2^62 - 1, as the wire requires.
        let offset = offset.min(varint::MAX - data.len() as u64);
        Owned::Data { offset, fin, data }
    })
}

fn arb_stream_open() -> impl Strategy<Value = Owned> {
    (stream_id(), any::<u8>(), prop::option::of(0..varint::MAX)).prop_map(
        |(stream_id, priority, total_len)| {
            Owned::Frame(Frame::StreamOpen(StreamOpen {
                stream_id,
                priority,
                total_len,
            }))
        },
    )
}

fn arb_stream_close() -> impl Strategy<Value = Owned> {
    (stream_id(), code(), varint()).prop_map(|(stream_id, code, final_size)| {
        Owned::Frame(Frame::StreamClose(StreamClose {
            stream_id,
            code,
            final_size,
        }))
    })
}

/// Ranges built downwards from `largest` by (gap, length) steps, stopping where a step
/// would go below packet number 0.
fn arb_ack() -> impl Strategy<Value = Owned> {
    let step = prop_oneof![0..=8u64, 0..=1u64 << 20];
    (
        varint(),
        varint(),
        prop_oneof![0..=8u64, varint()],
        pvec((step.clone(), step), 0..MAX_ACK_RANGES),
    )
        .prop_map(|(largest, delay, first, steps)| {
            let mut ranges = Vec::new();
            let mut range = AckRange {
                smallest: largest.saturating_sub(first),
                largest,
            };
            ranges.push(range);
            for (gap, len) in steps {
                let Some(top) = range
                    .smallest
                    .checked_sub(gap)
                    .and_then(|v| v.checked_sub(2))
                else {
                    break;
                };
                range = AckRange {
                    smallest: top.saturating_sub(len),
                    largest: top,
                };
                ranges.push(range);
            }
            Owned::Ack { delay, ranges }
        })
}

fn arb_disconnect() -> impl Strategy<Value = Owned> {
    (varint(), bytes(MAX_REASON_LEN)).prop_map(|(code, reason)| Owned::Disconnect { code, reason })
}

fn arb_stop_sending() -> impl Strategy<Value = Owned> {
    (stream_id(), code())
        .prop_map(|(stream_id, code)| Owned::Frame(Frame::StopSending { stream_id, code }))
}

fn arb_endpoint_register() -> impl Strategy<Value = Owned> {
    (any::<bool>(), any::<[u8; 32]>()).prop_map(|(registered, id)| {
        Owned::Frame(Frame::EndpointRegister(EndpointRegister {
            registered,
            endpoint: EndpointId(id),
        }))
    })
}

fn arb_endpoint_resolve() -> impl Strategy<Value = Owned> {
    let kind = prop_oneof![
        Just(ResolveKind::Query),
        Just(ResolveKind::Found),
        Just(ResolveKind::NotFound)
    ];
    (varint(), kind, any::<[u8; 32]>()).prop_map(|(request_id, kind, id)| {
        Owned::Frame(Frame::EndpointResolve(EndpointResolve {
            request_id,
            kind,
            endpoint: EndpointId(id),
        }))
    })
}

fn arb_endpoint_route() -> impl Strategy<Value = Owned> {
    (any::<[u8; 32]>(), varint(), bytes(1400)).prop_map(|(endpoint, message_id, payload)| {
        Owned::Route {
            endpoint,
            message_id,
            payload,
        }
    })
}

fn arb_endpoint_refuse() -> impl Strategy<Value = Owned> {
    (varint(), code()).prop_map(|(message_id, code)| {
        Owned::Frame(Frame::EndpointRefuse(EndpointRefuse { message_id, code }))
    })
}

fn arb_flow() -> impl Strategy<Value = Owned> {
    let dir = prop_oneof![Just(Dir::Bi), Just(Dir::Uni)];
    prop_oneof![
        varint().prop_map(Frame::MaxData),
        (stream_id(), varint())
            .prop_map(|(stream_id, max)| Frame::MaxStreamData { stream_id, max }),
        (dir, 0..=(u32::MAX >> 2) as u64).prop_map(|(dir, count)| Frame::MaxStreams { dir, count }),
        varint().prop_map(|limit| Frame::DataBlocked { limit }),
        (stream_id(), varint())
            .prop_map(|(stream_id, limit)| Frame::StreamDataBlocked { stream_id, limit }),
    ]
    .prop_map(Owned::Frame)
}

fn arb_simple() -> impl Strategy<Value = Owned> {
    prop_oneof![
        Just(Frame::Keepalive),
        any::<[u8; 8]>().prop_map(Frame::PathChallenge),
        any::<[u8; 8]>().prop_map(Frame::PathResponse),
        (varint(), any::<[u8; 32]>()).prop_map(|(seq, public)| Frame::Rekey { seq, public }),
        (varint(), varint(), any::<[u8; 32]>()).prop_map(|(seq, generation, public)| {
            Frame::RekeyReply {
                seq,
                generation,
                public,
            }
        }),
    ]
    .prop_map(Owned::Frame)
}

fn arb_datagram() -> impl Strategy<Value = Owned> {
    bytes(1400).prop_map(Owned::Datagram)
}

fn arb_custom() -> impl Strategy<Value = Owned> {
    (CUSTOM_MIN..=u8::MAX, varint(), bytes(1400)).prop_map(|(frame_type, message_id, payload)| {
        Owned::Custom {
            frame_type,
            message_id,
            payload,
        }
    })
}

fn arb_endpoint_accept() -> impl Strategy<Value = Owned> {
    varint().prop_map(|message_id| Owned::Frame(Frame::EndpointAccept { message_id }))
}

/// Every storage frame; STORAGE_DATA keeps `offset + len <= total_len`.
fn arb_storage() -> impl Strategy<Value = Owned> {
    prop_oneof![
        (varint(), varint(), any::<[u8; 32]>()).prop_map(|(request_id, max_len, hash)| {
            Owned::Frame(Frame::StorageGet(StorageGet {
                request_id,
                max_len,
                hash,
            }))
        }),
        (varint(), varint(), varint(), bytes(1400)).prop_map(
            |(request_id, extra, offset, data)| {
                let offset = offset.min(varint::MAX - data.len() as u64);
                let end = offset + data.len() as u64;
                Owned::StorageData {
                    request_id,
                    total_len: end + extra.min(varint::MAX - end),
                    offset,
                    data,
                }
            }
        ),
        (varint(), code()).prop_map(|(request_id, code)| {
            Owned::Frame(Frame::StorageRefuse(StorageRefuse { request_id, code }))
        }),
        varint().prop_map(|request_id| Owned::Frame(Frame::StorageCancel { request_id })),
    ]
}

fn arb_frame() -> impl Strategy<Value = Owned> {
    prop_oneof![
        arb_padding(),
        arb_data(),
        arb_stream_open(),
        arb_stream_close(),
        arb_ack(),
        arb_disconnect(),
        arb_stop_sending(),
        arb_endpoint_register(),
        arb_endpoint_resolve(),
        arb_endpoint_route(),
        arb_endpoint_refuse(),
        arb_endpoint_accept(),
        arb_storage(),
        arb_flow(),
        arb_simple(),
        arb_datagram(),
        arb_custom(),
    ]
}

fn arb_header() -> impl Strategy<Value = Header> {
    let ty = prop_oneof![
        Just(PacketType::Init),
        Just(PacketType::Challenge),
        Just(PacketType::Response),
        Just(PacketType::Confirm),
        Just(PacketType::Cookie),
        Just(PacketType::Reset),
        Just(PacketType::Version),
        Just(PacketType::Data),
    ];
    (ty, any::<u64>(), any::<u32>(), any::<u32>(), any::<bool>()).prop_map(
        |(packet_type, sid, stream, sequence, key_phase)| Header {
            packet_type,
            session_id: SessionId(sid),
            stream_id: StreamId(stream),
            sequence,
            flags: Flags::new(key_phase),
        },
    )
}

/// Encodes, checks the length bookkeeping, decodes and compares; then hands the bytes
/// to the codec oracle, which re-checks canonical re-encoding.
fn round_trip(owned: &Owned) -> Result<(), TestCaseError> {
    let frame = owned.frame();
    let len = frame.encoded_len().unwrap();
    let mut buf = vec![0u8; len];
    prop_assert_eq!(frame.encode(&mut buf), Ok(len));
    prop_assert_eq!(Frame::decode_exact(&buf), Ok(frame.clone()));
    // Encoders are minimal, so the decoded frame re-encodes to the very same bytes.
    oracle::check_frame(&frame, &buf);
    // The frame also survives inside a packet with other frames around it.
    let mut packet = vec![0x14];
    packet.extend_from_slice(&buf);
    packet.push(0x14);
    let decoded: Vec<_> = Frames::new(&packet).collect::<Result<_, _>>().unwrap();
    prop_assert_eq!(
        decoded,
        vec![Frame::Keepalive, frame.clone(), Frame::Keepalive]
    );
    // Followed by padding (or nothing), the frame is the packet's last one that counts;
    // followed by the KEEPALIVE above, it is not.
    if !matches!(frame, Frame::Padding { .. }) {
        for pad in [0, 1, 17] {
            let mut padded = buf.clone();
            padded.resize(len + pad, FrameType::Padding as u8);
            let mut frames = Frames::new(&padded);
            prop_assert_eq!(frames.next(), Some(Ok(frame.clone())));
            prop_assert!(frames.only_padding_left());
            prop_assert_eq!(frames.position(), len);
        }
        let mut frames = Frames::new(&packet);
        prop_assert_eq!(frames.next(), Some(Ok(Frame::Keepalive)));
        prop_assert!(!frames.only_padding_left());
        prop_assert_eq!(frames.next(), Some(Ok(frame)));
        prop_assert!(!frames.only_padding_left());
    }
    Ok(())
}

/// Applies (position, xor mask) flips, then a truncation or an extension.
fn mutate(mut bytes: Vec<u8>, flips: &[(usize, u8)], cut: Option<usize>, tail: &[u8]) -> Vec<u8> {
    if !bytes.is_empty() {
        for &(at, mask) in flips {
            let i = at % bytes.len();
            bytes[i] ^= mask;
        }
    }
    match cut {
        Some(c) if !bytes.is_empty() => bytes.truncate(c % bytes.len()),
        _ => bytes.extend_from_slice(tail),
    }
    bytes
}

fn data_packet(frames: &[u8]) -> Vec<u8> {
    let header = Header {
        packet_type: PacketType::Data,
        session_id: SessionId(0x0123_4567_89ab_cdef),
        stream_id: StreamId(4),
        sequence: 1,
        flags: Flags::new(false),
    };
    let mut packet = header.to_bytes().to_vec();
    packet.extend_from_slice(frames);
    packet
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trip_padding(f in arb_padding()) { round_trip(&f)?; }
    #[test]
    fn round_trip_data(f in arb_data()) { round_trip(&f)?; }
    #[test]
    fn round_trip_stream_open(f in arb_stream_open()) { round_trip(&f)?; }
    #[test]
    fn round_trip_stream_close(f in arb_stream_close()) { round_trip(&f)?; }
    #[test]
    fn round_trip_ack(f in arb_ack()) { round_trip(&f)?; }
    #[test]
    fn round_trip_disconnect(f in arb_disconnect()) { round_trip(&f)?; }
    #[test]
    fn round_trip_stop_sending(f in arb_stop_sending()) { round_trip(&f)?; }
    #[test]
    fn round_trip_endpoint_register(f in arb_endpoint_register()) { round_trip(&f)?; }
    #[test]
    fn round_trip_endpoint_resolve(f in arb_endpoint_resolve()) { round_trip(&f)?; }
    #[test]
    fn round_trip_endpoint_route(f in arb_endpoint_route()) { round_trip(&f)?; }
    #[test]
    fn round_trip_endpoint_refuse(f in arb_endpoint_refuse()) { round_trip(&f)?; }
    #[test]
    fn round_trip_flow_control(f in arb_flow()) { round_trip(&f)?; }
    #[test]
    fn round_trip_keepalive_and_path(f in arb_simple()) { round_trip(&f)?; }
    #[test]
    fn round_trip_datagram(f in arb_datagram()) { round_trip(&f)?; }
    #[test]
    fn round_trip_custom(f in arb_custom()) { round_trip(&f)?; }
    #[test]
    fn round_trip_endpoint_accept(f in arb_endpoint_accept()) { round_trip(&f)?; }
    #[test]
    fn round_trip_storage(f in arb_storage()) { round_trip(&f)?; }

    #[test]
    fn round_trip_init(e in any::<[u8; 32]>(), p in pvec(any::<u8>(), TAG_LEN..600), m in any::<[u8; 16]>()) {
        let body = InitBody { ephemeral: e, payload: &p, mac2: m };
        let mut buf = vec![0u8; 32 + p.len() + 16];
        prop_assert_eq!(body.encode(&mut buf), Ok(buf.len()));
        prop_assert_eq!(InitBody::decode(&buf), Ok(body));
    }

    #[test]
    fn round_trip_challenge(e in any::<[u8; 32]>(), s in pvec(any::<u8>(), 48), p in pvec(any::<u8>(), TAG_LEN..600)) {
        let body = ChallengeBody { ephemeral: e, sealed_static: s.try_into().unwrap(), payload: &p };
        let mut buf = vec![0u8; 32 + 48 + p.len()];
        prop_assert_eq!(body.encode(&mut buf), Ok(buf.len()));
        prop_assert_eq!(ChallengeBody::decode(&buf), Ok(body));
    }

    #[test]
    fn round_trip_response(s in pvec(any::<u8>(), 48), p in pvec(any::<u8>(), TAG_LEN..600)) {
        let body = ResponseBody { sealed_static: s.try_into().unwrap(), payload: &p };
        let mut buf = vec![0u8; 48 + p.len()];
        prop_assert_eq!(body.encode(&mut buf), Ok(buf.len()));
        prop_assert_eq!(ResponseBody::decode(&buf), Ok(body));
    }

    #[test]
    fn round_trip_cookie(n in any::<[u8; 24]>(), c in any::<[u8; 32]>()) {
        let body = CookieBody { nonce: n, sealed_cookie: c };
        let mut buf = [0u8; CookieBody::LEN];
        prop_assert_eq!(body.encode(&mut buf), Ok(CookieBody::LEN));
        prop_assert_eq!(CookieBody::decode(&buf), Ok(body));
    }

    #[test]
    fn round_trip_reset(t in any::<[u8; 16]>()) {
        let body = ResetBody { token: t };
        let mut buf = [0u8; ResetBody::LEN];
        prop_assert_eq!(body.encode(&mut buf), Ok(ResetBody::LEN));
        prop_assert_eq!(ResetBody::decode(&buf), Ok(body));
    }

    #[test]
    fn round_trip_version(v in pvec(1..=7u8, 1..=MAX_VERSIONS)) {
        let body = VersionBody { versions: &v };
        let mut buf = [0u8; MAX_VERSIONS];
        prop_assert_eq!(body.encode(&mut buf), Ok(v.len()));
        prop_assert_eq!(VersionBody::decode(&buf[..v.len()]), Ok(body));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn round_trip_header(h in arb_header()) {
        let mut buf = [0u8; HEADER_LEN];
        prop_assert_eq!(h.encode(&mut buf), Ok(HEADER_LEN));
        prop_assert_eq!(Header::decode(&buf), Ok(h));
        prop_assert_eq!(route_key(&buf), Some(h.session_id));
        prop_assert!(h.encode(&mut buf[..HEADER_LEN - 1]).is_err());
    }

    /// Arbitrary bytes: every decoder returns Ok or Err and the oracle's invariants hold.
    #[test]
    fn arbitrary_bytes_never_panic(data in pvec(any::<u8>(), 0..1600)) {
        oracle::frame_decode(&data);
        oracle::check_frames(&data);
        oracle::check_bodies(&data);
        let _ = Frame::decode_exact(&data);
        let _ = Header::decode(&data);
    }

    /// Arbitrary bytes behind a valid DATA header, so the frame decoders see them.
    #[test]
    fn arbitrary_payload_never_panics(data in pvec(any::<u8>(), 0..1600)) {
        oracle::frame_decode(&data_packet(&data));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Valid packets of several frames with bytes flipped, cut or appended.
    #[test]
    fn mutated_frames_never_panic(
        frames in pvec(arb_frame(), 1..4),
        flips in pvec((any::<usize>(), 1..=u8::MAX), 0..4),
        cut in prop::option::of(any::<usize>()),
        tail in bytes(16),
    ) {
        let mut payload = Vec::new();
        for f in &frames {
            let frame = f.frame();
            let mut buf = vec![0u8; frame.encoded_len().unwrap()];
            frame.encode(&mut buf).unwrap();
            payload.extend_from_slice(&buf);
        }
        let mutated = mutate(payload, &flips, cut, &tail);
        oracle::frame_decode(&data_packet(&mutated));
        oracle::check_frames(&mutated);
        let _ = Frame::decode_exact(&mutated);
    }

    /// Valid handshake packets and headers with bytes flipped, cut or appended.
    #[test]
    fn mutated_packets_never_panic(
        header in arb_header(),
        body in pvec(any::<u8>(), 0..200),
        flips in pvec((any::<usize>(), 1..=u8::MAX), 0..4),
        cut in prop::option::of(any::<usize>()),
        tail in bytes(16),
    ) {
        let mut packet = header.to_bytes().to_vec();
        packet.extend_from_slice(&body);
        let mutated = mutate(packet, &flips, cut, &tail);
        oracle::frame_decode(&mutated);
        if mutated.len() > HEADER_LEN {
            oracle::check_bodies(&mutated[HEADER_LEN..]);
        }
    }
}
