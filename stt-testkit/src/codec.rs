//! The codec oracle, shared by the `frame_decode` fuzz target, the corpus replay test and
//! stt-proto's codec proptests: each function feeds untrusted bytes to every decoder of
//! `stt_proto::frame` and checks the codec's invariants (a broken one panics; that is
//! the failure signal a fuzzer or test runner needs). Public codec API only.

use alloc::vec;

use stt_proto::frame::{
    ChallengeBody, CookieBody, DecodeError, EncodeError, Frame, Frames, HEADER_LEN, Header,
    InitBody, PacketType, Reader, ResetBody, ResponseBody, VersionBody, route_key,
};

/// Decodes `data` as a packet and checks every invariant of the codec.
///
/// A packet with a valid header has its body decoded as its type says; the body of a
/// protected packet (DATA, CONFIRM) is treated as already-decrypted frames, since
/// decryption is not the codec's business. Bytes without a valid header are still fed
/// to the frame and body decoders, so any input exercises all of them.
pub fn frame_decode(data: &[u8]) {
    match Header::decode(data) {
        Ok(header) => {
            assert_eq!(
                &header.to_bytes()[..],
                &data[..HEADER_LEN],
                "header does not re-encode to its bytes"
            );
            assert_eq!(route_key(data), Some(header.session_id));
            let body = &data[HEADER_LEN..];
            match header.packet_type {
                PacketType::Data | PacketType::Confirm => check_frames(body),
                PacketType::Init => check_init(body),
                PacketType::Challenge => check_challenge(body),
                PacketType::Response => check_response(body),
                PacketType::Cookie => check_cookie(body),
                PacketType::Reset => check_reset(body),
                PacketType::Version => check_version(body),
                // Hybrid fragments and REFUSE have no body codec: the handshake checks
                // their MACs and sizes (PROTOCOL.md §5.7.10).
                PacketType::InitHybrid | PacketType::ChallengeHybrid | PacketType::Refuse => {}
            }
        }
        Err(_) => {
            check_frames(data);
            check_bodies(data);
        }
    }
}

/// Feeds `data` to every handshake body decoder.
pub fn check_bodies(data: &[u8]) {
    check_init(data);
    check_challenge(data);
    check_response(data);
    check_cookie(data);
    check_reset(data);
    check_version(data);
}

/// Walks a decrypted payload frame by frame, checking that the [`Frames`] iterator
/// agrees with a manual walk and that every decoded frame re-encodes faithfully.
pub fn check_frames(payload: &[u8]) {
    let mut iter = Frames::new(payload);
    let mut r = Reader::new(payload);
    while !r.is_empty() {
        let start = r.position();
        let decoded = Frame::decode(&mut r);
        assert_eq!(
            iter.next(),
            Some(decoded.clone()),
            "Frames disagrees with Frame::decode"
        );
        match decoded {
            Ok(frame) => {
                assert!(r.position() > start, "a frame consumed no bytes");
                check_frame(&frame, &payload[start..r.position()]);
            }
            Err(_) => break,
        }
    }
    assert_eq!(
        iter.next(),
        None,
        "Frames goes on after the end or an error"
    );
    // The iterator stays finished.
    assert_eq!(iter.next(), None);
}

/// Checks one decoded frame against the bytes it was decoded from.
///
/// Encoders are minimal and decoders accept non-minimal varints, so the re-encoding is
/// never longer than the input, and when it is as long it must be identical (every
/// field then had its minimal length). Decoding the re-encoding gives the same frame.
pub fn check_frame(frame: &Frame<'_>, consumed: &[u8]) {
    assert_eq!(
        Frame::decode_exact(consumed).as_ref(),
        Ok(frame),
        "decode_exact disagrees with decode on the same bytes"
    );
    let len = match frame.encoded_len() {
        Ok(len) => len,
        Err(e) => panic!("decoded frame {frame:?} has no encoded length: {e}"),
    };
    let mut buf = vec![0u8; len];
    assert_eq!(
        frame.encode(&mut buf),
        Ok(len),
        "encoded_len disagrees with encode"
    );
    assert!(
        len <= consumed.len(),
        "re-encoding of {frame:?} is longer than its input"
    );
    if len == consumed.len() {
        assert_eq!(
            &buf[..],
            consumed,
            "canonical {frame:?} re-encodes differently"
        );
    }
    assert_eq!(
        Frame::decode_exact(&buf).as_ref(),
        Ok(frame),
        "re-encoded frame decodes differently"
    );
    if len > 0 {
        let mut short = vec![0u8; len - 1];
        assert!(
            matches!(
                frame.encode(&mut short),
                Err(EncodeError::BufferTooSmall { .. })
            ),
            "encoding {frame:?} into a buffer one byte short did not report it"
        );
    }
}

/// Handshake bodies hold raw bytes only, so a decoded body re-encodes to its exact
/// input and decodes again to the same value.
macro_rules! body_checker {
    ($(#[$doc:meta])* $name:ident, $ty:ident) => {
        $(#[$doc])*
        pub fn $name(body: &[u8]) {
            let decoded: Result<$ty, DecodeError> = $ty::decode(body);
            if let Ok(value) = decoded {
                let mut buf = vec![0u8; body.len()];
                assert_eq!(value.encode(&mut buf), Ok(body.len()), "{value:?}");
                assert_eq!(&buf[..], body, "{value:?} re-encodes differently");
                assert_eq!($ty::decode(&buf), Ok(value));
                if !body.is_empty() {
                    let mut short = vec![0u8; body.len() - 1];
                    assert!(matches!(
                        value.encode(&mut short),
                        Err(EncodeError::BufferTooSmall { .. })
                    ));
                }
            }
        }
    };
}

body_checker!(
    /// Checks [`InitBody`] decoding of `body`.
    check_init, InitBody
);
body_checker!(
    /// Checks [`ChallengeBody`] decoding of `body`.
    check_challenge, ChallengeBody
);
body_checker!(
    /// Checks [`ResponseBody`] decoding of `body`.
    check_response, ResponseBody
);
body_checker!(
    /// Checks [`CookieBody`] decoding of `body`.
    check_cookie, CookieBody
);
body_checker!(
    /// Checks [`ResetBody`] decoding of `body`.
    check_reset, ResetBody
);
body_checker!(
    /// Checks [`VersionBody`] decoding of `body`.
    check_version, VersionBody
);

/// The golden examples of `docs/PROTOCOL.md` (fenced `text golden=NAME` blocks), in
/// order, as (name, bytes): hex bytes separated by white space, `#` starts a comment.
/// Shared by the codec's golden test and the corpus tooling; it panics on a malformed
/// block, since the spec is checked-in test data, not network input.
pub fn golden_blocks(spec: &str) -> alloc::vec::Vec<(&str, alloc::vec::Vec<u8>)> {
    let mut out = alloc::vec::Vec::new();
    let mut lines = spec.lines();
    while let Some(line) = lines.next() {
        let Some(name) = line.trim().strip_prefix("```text golden=") else {
            continue;
        };
        let mut bytes = alloc::vec::Vec::new();
        for body in lines.by_ref() {
            if body.trim() == "```" {
                break;
            }
            let data = body.split('#').next().unwrap_or("");
            for tok in data.split_whitespace() {
                assert_eq!(tok.len(), 2, "golden={name}: {tok:?} is not two hex digits");
                let b = u8::from_str_radix(tok, 16)
                    .unwrap_or_else(|_| panic!("golden={name}: {tok:?} is not a hex byte"));
                bytes.push(b);
            }
        }
        out.push((name, bytes));
    }
    out
}
