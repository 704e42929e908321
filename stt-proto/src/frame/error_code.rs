//! Error codes carried by DISCONNECT, STREAM_CLOSE, STOP_SENDING, ENDPOINT_REFUSE and
//! STORAGE_REFUSE (PROTOCOL.md §7), in families by their high byte: 0x01xx connection,
//! 0x02xx session, 0x03xx stream, 0x04xx protocol, 0x05xx transport, 0x06xx application.
//! Codes from [`ErrorCode::APPLICATION_MIN`] up are the application's own.

use core::fmt;

/// A wire error code (a varint).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ErrorCode(pub u64);

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        impl ErrorCode {
            $($(#[$doc])* pub const $name: ErrorCode = ErrorCode($value);)*

            /// The code's name, if STT defines it.
            pub fn name(self) -> Option<&'static str> {
                match self.0 {
                    $($value => Some(stringify!($name)),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// Graceful close, no error.
    NO_ERROR = 0x0000,
    /// The handshake or session timed out.
    CONNECTION_TIMEOUT = 0x0101,
    /// The peer refused the session (policy, allow-list, manual refusal).
    CONNECTION_REFUSED = 0x0102,
    /// The peer could not be authenticated.
    AUTHENTICATION_FAILED = 0x0103,
    /// The peer does not speak this protocol version.
    PROTOCOL_VERSION_MISMATCH = 0x0105,
    /// The session was closed by the application.
    SESSION_CLOSED = 0x0201,
    /// No packet arrived within the idle timeout.
    SESSION_TIMEOUT = 0x0202,
    /// The node has no room for another session.
    TOO_MANY_SESSIONS = 0x0203,
    /// A frame referred to a stream in a state that does not allow it.
    STREAM_CLOSED = 0x0301,
    /// The peer opened more streams than it was granted.
    TOO_MANY_STREAMS = 0x0302,
    /// A stream id was used by the wrong side or for the wrong direction.
    STREAM_ID_CONFLICT = 0x0303,
    /// The peer sent more than the flow-control credit allowed.
    FLOW_CONTROL_VIOLATION = 0x0304,
    /// The final size of a stream changed or was exceeded.
    FINAL_SIZE_ERROR = 0x0305,
    /// A live-mode stream missed its sender's deadline and was abandoned.
    STREAM_EXPIRED = 0x0306,
    /// A frame could not be decoded.
    INVALID_FRAME = 0x0401,
    /// Packet protection failed beyond what loss explains (e.g. AEAD limits).
    ENCRYPTION_ERROR = 0x0402,
    /// A frame type is not allowed here.
    UNKNOWN_FRAME_TYPE = 0x0404,
    /// The handshake failed.
    HANDSHAKE_FAILURE = 0x0405,
    /// Any other breach of the protocol (e.g. an ACK for a packet never sent).
    PROTOCOL_VIOLATION = 0x0406,
    /// The AEAD confidentiality or integrity limit was reached.
    AEAD_LIMIT_REACHED = 0x0407,
    /// Packet numbers ran out before a rekey.
    PACKET_NUMBER_EXHAUSTED = 0x0408,
    /// A key update broke the rules of PROTOCOL.md §6.
    KEY_UPDATE_ERROR = 0x0409,
    /// The transport under the session failed (socket, WebSocket closed).
    TRANSPORT_ERROR = 0x0501,
    /// An application-level timeout.
    APPLICATION_TIMEOUT = 0x0601,
    /// A bounded queue or buffer is full.
    BUFFER_OVERFLOW = 0x0602,
    /// The receiver is out of some resource.
    RESOURCE_EXHAUSTED = 0x0603,
    /// No endpoint by that id is served here.
    ENDPOINT_NOT_FOUND = 0x0604,
    /// No object with that hash is stored here.
    OBJECT_NOT_FOUND = 0x0605,
    /// The object is larger than the requester accepts.
    OBJECT_TOO_LARGE = 0x0606,
}

impl ErrorCode {
    /// Codes from here up belong to the application; STT never assigns them.
    pub const APPLICATION_MIN: u64 = 0x1_0000;

    /// True for an application-defined code.
    pub fn is_application(self) -> bool {
        self.0 >= Self::APPLICATION_MIN
    }
}

impl fmt::Debug for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{name}"),
            None => write!(f, "ErrorCode({:#x})", self.0),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}
