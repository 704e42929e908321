//! The golden examples of docs/PROTOCOL.md, checked against the codec.
//!
//! Every fenced `text golden=NAME` block of the spec is parsed here, decoded, compared
//! with the typed value below and re-encoded to the same bytes. A block without a value
//! here, a value without a block, or a frame or packet type without an example fails.

use stt_proto::frame::*;

const SPEC: &str = include_str!("../../docs/PROTOCOL.md");

/// The golden blocks of the spec, in order, as (name, bytes).
fn golden_blocks() -> Vec<(&'static str, Vec<u8>)> {
    stt_testkit::golden_blocks(SPEC)
}

/// A handshake or stateless packet body.
#[derive(Debug, PartialEq, Eq)]
enum Body {
    Init(InitBody<'static>),
    Challenge(ChallengeBody<'static>),
    Response(ResponseBody<'static>),
    Cookie(CookieBody),
    Reset(ResetBody),
    Version(VersionBody<'static>),
}

impl Body {
    fn decode(ty: PacketType, b: &'static [u8]) -> Result<Self, DecodeError> {
        Ok(match ty {
            PacketType::Init => Body::Init(InitBody::decode(b)?),
            PacketType::Challenge => Body::Challenge(ChallengeBody::decode(b)?),
            PacketType::Response => Body::Response(ResponseBody::decode(b)?),
            PacketType::Cookie => Body::Cookie(CookieBody::decode(b)?),
            PacketType::Reset => Body::Reset(ResetBody::decode(b)?),
            PacketType::Version => Body::Version(VersionBody::decode(b)?),
            other => panic!("{other:?} has no fixed body"),
        })
    }

    fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            Body::Init(b) => b.encode(buf),
            Body::Challenge(b) => b.encode(buf),
            Body::Response(b) => b.encode(buf),
            Body::Cookie(b) => b.encode(buf),
            Body::Reset(b) => b.encode(buf),
            Body::Version(b) => b.encode(buf),
        }
    }
}

enum Expect {
    Header(Header),
    Frame(Frame<'static>),
    Payload(Vec<Frame<'static>>),
    Packet(Header, Body),
    /// A packet whose body has no codec: its header and total length.
    Raw(Header, usize),
}

const CHAT: EndpointId = EndpointId([
    0xed, 0xc6, 0x39, 0x3a, 0xf2, 0xa8, 0xdd, 0xaa, 0x80, 0x7d, 0xa0, 0x99, 0xa6, 0xe4, 0xdb, 0x0f,
    0x8e, 0x19, 0x84, 0x6d, 0xdb, 0x0b, 0x4f, 0xff, 0x82, 0x4d, 0x19, 0xe6, 0x23, 0xbd, 0x7c, 0x99,
]);

/// An X25519 public key for the re-handshake examples: bytes 0x00..=0x1f.
const REKEY_KEY: [u8; 32] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
];

/// SHA3-256("hello world").
const HELLO_WORLD: [u8; 32] = [
    0x64, 0x4b, 0xcc, 0x7e, 0x56, 0x43, 0x73, 0x04, 0x09, 0x99, 0xaa, 0xc8, 0x9e, 0x76, 0x22, 0xf3,
    0xca, 0x71, 0xfb, 0xa1, 0xd9, 0x72, 0xfd, 0x94, 0xa3, 0x1c, 0x3b, 0xfb, 0xf2, 0x4e, 0x39, 0x38,
];

static ACK_RANGES: [AckRange; 3] = [
    AckRange {
        smallest: 95,
        largest: 100,
    },
    AckRange {
        smallest: 90,
        largest: 92,
    },
    AckRange {
        smallest: 80,
        largest: 85,
    },
];

static COALESCED_ACK: [AckRange; 1] = [AckRange {
    smallest: 0,
    largest: 3,
}];

const fn counting<const N: usize>(start: u8) -> [u8; N] {
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = start.wrapping_add(i as u8);
        i += 1;
    }
    out
}

static SEALED_AA: [u8; 16] = [0xaa; 16];
static SEALED_CC: [u8; 16] = [0xcc; 16];
static SEALED_EE: [u8; 16] = [0xee; 16];
static V1: [u8; 1] = [1];

fn handshake_header(packet_type: PacketType, session: u64) -> Header {
    Header {
        packet_type,
        session_id: SessionId(session),
        stream_id: StreamId::CONTROL,
        sequence: 0,
        flags: Flags::new(false),
    }
}

fn expected(name: &str) -> Expect {
    const A: u64 = 0xa1a2_a3a4_a5a6_a7a8;
    const B: u64 = 0xb1b2_b3b4_b5b6_b7b8;
    let frame = |f| Expect::Frame(f);
    match name {
        "header" => Expect::Header(Header {
            packet_type: PacketType::Data,
            session_id: SessionId(0x0123_4567_89ab_cdef),
            stream_id: StreamId(4),
            sequence: 7,
            flags: Flags::new(true),
        }),
        "payload-coalesced" => Expect::Payload(vec![
            Frame::Ack(AckFrame::new(0, &COALESCED_ACK).unwrap()),
            Frame::Data(DataFrame {
                offset: 0,
                fin: false,
                data: b"hi",
            }),
            Frame::Padding { len: 3 },
        ]),
        "frame-ack" => frame(Frame::Ack(AckFrame::new(250, &ACK_RANGES).unwrap())),
        "frame-data" => frame(Frame::Data(DataFrame {
            offset: 1000,
            fin: true,
            data: b"hello",
        })),
        "frame-stream-open" => frame(Frame::StreamOpen(StreamOpen {
            stream_id: StreamId::new(Side::Initiator, Dir::Uni, 1).unwrap(),
            priority: 3,
            total_len: Some(1_000_000),
        })),
        "frame-stream-close" => frame(Frame::StreamClose(StreamClose {
            stream_id: StreamId::new(Side::Responder, Dir::Bi, 1).unwrap(),
            code: ErrorCode(0x1_0001),
            final_size: 12_345,
        })),
        "frame-stop-sending" => frame(Frame::StopSending {
            stream_id: StreamId(4),
            code: ErrorCode(ErrorCode::APPLICATION_MIN),
        }),
        "frame-padding" => frame(Frame::Padding { len: 4 }),
        "frame-keepalive" => frame(Frame::Keepalive),
        "frame-disconnect" => frame(Frame::Disconnect(Disconnect {
            code: ErrorCode::SESSION_TIMEOUT,
            reason: b"idle",
        })),
        "frame-max-data" => frame(Frame::MaxData(1 << 20)),
        "frame-max-stream-data" => frame(Frame::MaxStreamData {
            stream_id: StreamId(4),
            max: 65_536,
        }),
        "frame-max-streams-bidi" => frame(Frame::MaxStreams {
            dir: Dir::Bi,
            count: 256,
        }),
        "frame-max-streams-uni" => frame(Frame::MaxStreams {
            dir: Dir::Uni,
            count: 16,
        }),
        "frame-data-blocked" => frame(Frame::DataBlocked { limit: 1 << 20 }),
        "frame-stream-data-blocked" => frame(Frame::StreamDataBlocked {
            stream_id: StreamId(4),
            limit: 65_536,
        }),
        "frame-rekey" => frame(Frame::Rekey {
            seq: 3,
            public: REKEY_KEY,
        }),
        "frame-rekey-reply" => frame(Frame::RekeyReply {
            seq: 3,
            generation: 9,
            public: REKEY_KEY,
        }),
        "frame-path-challenge" => frame(Frame::PathChallenge([1, 2, 3, 4, 5, 6, 7, 8])),
        "frame-path-response" => frame(Frame::PathResponse([1, 2, 3, 4, 5, 6, 7, 8])),
        "frame-datagram" => frame(Frame::Datagram(Datagram { data: b"temp=21.5" })),
        "frame-endpoint-register" => frame(Frame::EndpointRegister(EndpointRegister {
            registered: true,
            endpoint: CHAT,
        })),
        "frame-endpoint-resolve" => frame(Frame::EndpointResolve(EndpointResolve {
            request_id: 42,
            kind: ResolveKind::Query,
            endpoint: CHAT,
        })),
        "frame-endpoint-route" => frame(Frame::EndpointRoute(EndpointRoute {
            endpoint: CHAT,
            message_id: 7,
            payload: b"ping",
        })),
        "frame-endpoint-refuse" => frame(Frame::EndpointRefuse(EndpointRefuse {
            message_id: 7,
            code: ErrorCode::BUFFER_OVERFLOW,
        })),
        "frame-endpoint-accept" => frame(Frame::EndpointAccept { message_id: 7 }),
        "frame-custom" => frame(Frame::Custom {
            frame_type: 0x80,
            message_id: 5,
            payload: &[0xde, 0xad, 0xbe, 0xef],
        }),
        "frame-storage-get" => frame(Frame::StorageGet(StorageGet {
            request_id: 3,
            max_len: 1 << 20,
            hash: HELLO_WORLD,
        })),
        "frame-storage-data" => frame(Frame::StorageData(StorageData {
            request_id: 3,
            total_len: 11,
            offset: 6,
            data: b"world",
        })),
        "frame-storage-refuse" => frame(Frame::StorageRefuse(StorageRefuse {
            request_id: 3,
            code: ErrorCode::OBJECT_NOT_FOUND,
        })),
        "frame-storage-cancel" => frame(Frame::StorageCancel { request_id: 3 }),
        "frame-rdv-register" => frame(Frame::RdvRegister { request_id: 7 }),
        "frame-rdv-answer" => frame(Frame::RdvAnswer(RdvAnswer {
            request_id: 7,
            status: RdvStatus::Ok,
            addr: &[4, 198, 51, 100, 7, 0x10, 0x92],
        })),
        "frame-rdv-lookup" => frame(Frame::RdvLookup {
            request_id: 8,
            node_id: [0xab; 32],
        }),
        "frame-rdv-connect" => frame(Frame::RdvConnect {
            request_id: 9,
            node_id: [0xab; 32],
        }),
        "frame-rdv-peer" => frame(Frame::RdvPeer(RdvPeer {
            request_id: 9,
            initiator: true,
            node_id: [0xab; 32],
            route_id: 42,
            start_delay_ms: 20,
            addr: &[4, 203, 0, 113, 5, 0x1f, 0x90],
        })),
        "packet-init" => Expect::Packet(
            handshake_header(PacketType::Init, A),
            Body::Init(InitBody {
                ephemeral: counting(0x00),
                payload: &SEALED_AA,
                mac2: [0; 16],
            }),
        ),
        "packet-challenge" => Expect::Packet(
            handshake_header(PacketType::Challenge, A),
            Body::Challenge(ChallengeBody {
                ephemeral: counting(0x20),
                sealed_static: [0xbb; 48],
                payload: &SEALED_CC,
            }),
        ),
        "packet-response" => Expect::Packet(
            handshake_header(PacketType::Response, B),
            Body::Response(ResponseBody {
                sealed_static: [0xdd; 48],
                payload: &SEALED_EE,
            }),
        ),
        "packet-cookie" => Expect::Packet(
            handshake_header(PacketType::Cookie, A),
            Body::Cookie(CookieBody {
                nonce: counting(0x00),
                sealed_cookie: [0xcc; 32],
            }),
        ),
        "packet-reset" => Expect::Packet(
            handshake_header(PacketType::Reset, B),
            Body::Reset(ResetBody {
                token: [15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
            }),
        ),
        "packet-version" => Expect::Packet(
            handshake_header(PacketType::Version, A),
            Body::Version(VersionBody { versions: &V1 }),
        ),
        // Hybrid handshake packets (§5.7.10) have no body codec: the handshake checks
        // their sizes and MACs. The examples pin the header and the body's length.
        "packet-init-hybrid" => Expect::Raw(
            handshake_header(PacketType::InitHybrid, A),
            stt_proto::handshake::hybrid::HYBRID_INIT_FRAG1_LEN,
        ),
        "packet-challenge-hybrid" => Expect::Raw(
            handshake_header(PacketType::ChallengeHybrid, A),
            stt_proto::handshake::hybrid::MIN_HYBRID_CHALLENGE_LEN
                - HEADER_LEN
                - stt_proto::handshake::hybrid::FRAG0_PIECE
                + stt_proto::handshake::hybrid::FRAG_OVERHEAD,
        ),
        "packet-refuse" => Expect::Raw(
            handshake_header(PacketType::Refuse, A),
            stt_proto::handshake::hybrid::REFUSE_LEN,
        ),
        other => panic!("PROTOCOL.md has golden={other} but golden.rs expects nothing for it"),
    }
}

/// Names golden.rs expects; each must appear in PROTOCOL.md exactly once.
const NAMES: &[&str] = &[
    "header",
    "payload-coalesced",
    "frame-ack",
    "frame-data",
    "frame-stream-open",
    "frame-stream-close",
    "frame-stop-sending",
    "frame-padding",
    "frame-keepalive",
    "frame-disconnect",
    "frame-max-data",
    "frame-max-stream-data",
    "frame-max-streams-bidi",
    "frame-max-streams-uni",
    "frame-data-blocked",
    "frame-stream-data-blocked",
    "frame-rekey",
    "frame-rekey-reply",
    "frame-path-challenge",
    "frame-path-response",
    "frame-datagram",
    "frame-endpoint-register",
    "frame-endpoint-resolve",
    "frame-endpoint-route",
    "frame-endpoint-refuse",
    "frame-endpoint-accept",
    "frame-custom",
    "frame-storage-get",
    "frame-storage-data",
    "frame-storage-refuse",
    "frame-storage-cancel",
    "frame-rdv-register",
    "frame-rdv-answer",
    "frame-rdv-lookup",
    "frame-rdv-connect",
    "frame-rdv-peer",
    "packet-init",
    "packet-challenge",
    "packet-response",
    "packet-cookie",
    "packet-reset",
    "packet-version",
    "packet-init-hybrid",
    "packet-challenge-hybrid",
    "packet-refuse",
];

fn check(name: &str, bytes: &'static [u8]) {
    let mut buf = [0u8; 512];
    match expected(name) {
        Expect::Header(h) => {
            assert_eq!(Header::decode(bytes), Ok(h), "{name}");
            assert_eq!(bytes.len(), HEADER_LEN, "{name}");
            assert_eq!(&h.to_bytes()[..], bytes, "{name}");
        }
        Expect::Frame(f) => {
            assert_eq!(Frame::decode_exact(bytes), Ok(f.clone()), "{name}");
            let n = f.encode(&mut buf).unwrap();
            assert_eq!(&buf[..n], bytes, "{name}: re-encoding differs");
            assert_eq!(f.encoded_len(), Ok(n), "{name}: encoded_len");
        }
        Expect::Payload(frames) => {
            let decoded: Result<Vec<_>, _> = Frames::new(bytes).collect();
            assert_eq!(decoded.as_ref(), Ok(&frames), "{name}");
            let mut w = Writer::new(&mut buf);
            for f in &frames {
                f.write(&mut w).unwrap();
            }
            let n = w.position();
            assert_eq!(&buf[..n], bytes, "{name}: re-encoding differs");
        }
        Expect::Raw(h, len) => {
            assert_eq!(Header::decode(bytes), Ok(h), "{name}");
            assert_eq!(bytes.len(), len, "{name}: length");
        }
        Expect::Packet(h, body) => {
            assert_eq!(Header::decode(bytes), Ok(h), "{name}");
            let decoded = Body::decode(h.packet_type, &bytes[HEADER_LEN..]);
            assert_eq!(decoded, Ok(body), "{name}");
            let body = decoded.unwrap();
            let n = h.encode(&mut buf).unwrap();
            let m = body.encode(&mut buf[n..]).unwrap();
            assert_eq!(&buf[..n + m], bytes, "{name}: re-encoding differs");
        }
    }
}

#[test]
fn every_golden_block_decodes_to_its_value_and_reencodes() {
    let blocks = golden_blocks();
    assert!(!blocks.is_empty(), "no golden blocks found in PROTOCOL.md");
    for (name, bytes) in blocks {
        // The blocks live as long as the test; leaking them gives the frames the
        // 'static lifetime the expected values have.
        check(name, std::boxed::Box::leak(bytes.into_boxed_slice()));
    }
}

#[test]
fn golden_names_match_the_spec_one_to_one() {
    let blocks = golden_blocks();
    for want in NAMES {
        let n = blocks.iter().filter(|(name, _)| name == want).count();
        assert_eq!(
            n, 1,
            "PROTOCOL.md has {n} golden={want} blocks, wants exactly 1"
        );
    }
    for (name, _) in &blocks {
        assert!(NAMES.contains(name), "golden={name} is not listed in NAMES");
    }
}

#[test]
fn every_frame_and_packet_type_has_a_golden_example() {
    let blocks = golden_blocks();
    let firsts: Vec<u8> = blocks
        .iter()
        .filter(|(name, _)| name.starts_with("frame-"))
        .map(|(_, b)| b[0])
        .collect();
    for code in 0u8..CUSTOM_MIN {
        if FrameType::from_u8(code).is_ok() {
            assert!(
                firsts.contains(&code),
                "frame type {code:#04x} has no golden example"
            );
        }
    }
    assert!(
        firsts.iter().any(|&c| c >= CUSTOM_MIN),
        "no custom frame example"
    );
    let types: Vec<u8> = blocks
        .iter()
        .filter(|(name, _)| name.starts_with("packet-") || *name == "header")
        .map(|(_, b)| b[2])
        .collect();
    for code in 0..=u8::MAX {
        if let Ok(ty) = PacketType::from_u8(code)
            && !ty.is_protected()
        {
            assert!(
                types.contains(&code),
                "packet type {code:#04x} has no golden example"
            );
        }
    }
    assert!(
        types.contains(&(PacketType::Data as u8)),
        "no protected packet header example"
    );
}
