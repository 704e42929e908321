//! One test per codec bug found after the first cut, named after what went wrong.

use super::super::*;

/// Encoders of frames naming a stream used to accept the control stream 0, which every
/// decoder rejects: the encoder produced bytes its own peer could not parse.
#[test]
fn stream_frames_refuse_control_stream_on_encode() {
    let mut buf = [0u8; 32];
    let frames = [
        Frame::StopSending {
            stream_id: StreamId::CONTROL,
            code: ErrorCode::NO_ERROR,
        },
        Frame::MaxStreamData {
            stream_id: StreamId::CONTROL,
            max: 1,
        },
        Frame::StreamDataBlocked {
            stream_id: StreamId::CONTROL,
            limit: 1,
        },
    ];
    for f in frames {
        assert_eq!(
            f.encode(&mut buf),
            Err(EncodeError::OutOfRange {
                field: "stream id",
                value: 0
            }),
            "{f:?}"
        );
    }
}

/// INIT, CHALLENGE and RESPONSE encoders used to accept a sealed payload shorter than
/// the 16-byte tag, producing bodies their decoders reject as too short.
#[test]
fn handshake_bodies_refuse_payload_shorter_than_tag() {
    let mut buf = [0u8; 256];
    let short = [0u8; TAG_LEN - 1];
    let refused = Err(EncodeError::OutOfRange {
        field: "sealed payload length",
        value: 15,
    });
    let init = InitBody {
        ephemeral: [1; 32],
        payload: &short,
        mac2: [0; 16],
    };
    assert_eq!(init.encode(&mut buf), refused);
    let challenge = ChallengeBody {
        ephemeral: [1; 32],
        sealed_static: [2; 48],
        payload: &short,
    };
    assert_eq!(challenge.encode(&mut buf), refused);
    let response = ResponseBody {
        sealed_static: [2; 48],
        payload: &short,
    };
    assert_eq!(response.encode(&mut buf), refused);
    // A payload of exactly the tag length is the smallest valid one and round-trips.
    let tag_only = [9u8; TAG_LEN];
    let init = InitBody {
        payload: &tag_only,
        ..init
    };
    let n = init.encode(&mut buf).unwrap();
    assert_eq!(InitBody::decode(&buf[..n]).unwrap(), init);
}

/// A packet of a future version that sets flag bits version 1 reserves was reported as
/// `ReservedBits`, so a responder could not tell it to answer with VERSION.
#[test]
fn future_version_is_reported_before_reserved_bits() {
    let mut raw = Header {
        packet_type: PacketType::Init,
        session_id: SessionId(1),
        stream_id: StreamId::CONTROL,
        sequence: 0,
        flags: Flags::new(false),
    }
    .to_bytes();
    raw[19] = 0x80 | 0x02;
    assert_eq!(
        Header::decode(&raw),
        Err(DecodeError::UnsupportedVersion(2))
    );
    raw[19] = 0x80 | VERSION;
    assert_eq!(Header::decode(&raw), Err(DecodeError::ReservedBits(0x81)));
}

/// Stream ids 1–3 have index 0, which PROTOCOL.md §4.1 says names no stream, yet frames
/// carrying them were accepted both ways.
#[test]
fn stream_ids_with_index_zero_are_out_of_range() {
    let mut buf = [0u8; 32];
    for id in 1..4u32 {
        let open = Frame::StreamOpen(StreamOpen {
            stream_id: StreamId(id),
            priority: 0,
            total_len: None,
        });
        assert_eq!(
            open.encode(&mut buf),
            Err(EncodeError::OutOfRange {
                field: "stream id",
                value: u64::from(id),
            })
        );
        // STREAM_OPEN, stream id, priority 0, live mode.
        let wire = [0x11, id as u8, 0, 0];
        assert_eq!(
            Frame::decode_exact(&wire),
            Err(DecodeError::OutOfRange {
                field: "stream id",
                value: u64::from(id),
            })
        );
    }
    let ok = [0x11, 4, 0, 0];
    assert!(Frame::decode_exact(&ok).is_ok());
}
