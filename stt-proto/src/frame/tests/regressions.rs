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
