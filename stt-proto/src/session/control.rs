//! Control frames a session has queued to send, as owned values.
//!
//! A `Control` is re-queued when the packet carrying it is lost; credit frames are
//! refreshed with the latest value at that point instead of repeating a stale one.
//! Application messages (routes, custom frames, storage requests) keep their message
//! id across re-sends (PROTOCOL.md §4.8).

use bytes::Bytes;

use crate::frame::{
    Dir, EncodeError, EndpointId, EndpointRefuse, EndpointRegister, EndpointResolve, EndpointRoute,
    ErrorCode, Frame, RdvAnswer, RdvPeer, RdvStatus, ResolveKind, StorageGet, StorageRefuse,
    StreamClose, StreamId, StreamOpen, Writer,
};
use crate::handshake::admission::RemoteAddr;
use crate::rendezvous::RequestKind;

/// An owned, retransmittable control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Control {
    StreamOpen {
        id: StreamId,
        priority: u8,
        total_len: Option<u64>,
    },
    StreamClose {
        id: StreamId,
        code: ErrorCode,
        final_size: u64,
    },
    StopSending {
        id: StreamId,
        code: ErrorCode,
    },
    MaxData(u64),
    MaxStreamData {
        id: StreamId,
        max: u64,
    },
    MaxStreams {
        dir: Dir,
        count: u64,
    },
    DataBlocked(u64),
    StreamDataBlocked {
        id: StreamId,
        limit: u64,
    },
    Custom {
        frame_type: u8,
        message_id: u64,
        payload: Bytes,
    },
    EndpointRegister {
        endpoint: EndpointId,
        registered: bool,
    },
    EndpointResolve {
        request_id: u64,
        kind: ResolveKind,
        endpoint: EndpointId,
    },
    Route {
        endpoint: EndpointId,
        message_id: u64,
        payload: Bytes,
    },
    /// ENDPOINT_ACCEPT (`code` None) or ENDPOINT_REFUSE.
    RouteAnswer {
        message_id: u64,
        code: Option<ErrorCode>,
    },
    StorageGet {
        request_id: u64,
        max_len: u64,
        hash: [u8; 32],
    },
    StorageRefuse {
        request_id: u64,
        code: ErrorCode,
    },
    StorageCancel {
        request_id: u64,
    },
    Rekey {
        seq: u64,
        public: [u8; 32],
    },
    RekeyReply {
        seq: u64,
        generation: u64,
        public: [u8; 32],
    },
    /// A rendezvous request (PROTOCOL.md §12.2): REGISTER (`node` None), LOOKUP or
    /// CONNECT.
    RdvRequest {
        kind: RequestKind,
        request_id: u64,
        node: [u8; 32],
    },
    RdvAnswer {
        request_id: u64,
        status: RdvStatus,
        addr: RemoteAddr,
    },
    RdvPeer {
        request_id: u64,
        initiator: bool,
        node: [u8; 32],
        route: u64,
        start_delay_ms: u64,
        addr: RemoteAddr,
    },
}

impl Control {
    /// The frame this control sends.
    pub(crate) fn frame(&self) -> Frame<'_> {
        match self {
            Control::StreamOpen {
                id,
                priority,
                total_len,
            } => Frame::StreamOpen(StreamOpen {
                stream_id: *id,
                priority: *priority,
                total_len: *total_len,
            }),
            Control::StreamClose {
                id,
                code,
                final_size,
            } => Frame::StreamClose(StreamClose {
                stream_id: *id,
                code: *code,
                final_size: *final_size,
            }),
            Control::StopSending { id, code } => Frame::StopSending {
                stream_id: *id,
                code: *code,
            },
            Control::MaxData(max) => Frame::MaxData(*max),
            Control::MaxStreamData { id, max } => Frame::MaxStreamData {
                stream_id: *id,
                max: *max,
            },
            Control::MaxStreams { dir, count } => Frame::MaxStreams {
                dir: *dir,
                count: *count,
            },
            Control::DataBlocked(limit) => Frame::DataBlocked { limit: *limit },
            Control::StreamDataBlocked { id, limit } => Frame::StreamDataBlocked {
                stream_id: *id,
                limit: *limit,
            },
            Control::Custom {
                frame_type,
                message_id,
                payload,
            } => Frame::Custom {
                frame_type: *frame_type,
                message_id: *message_id,
                payload,
            },
            Control::EndpointRegister {
                endpoint,
                registered,
            } => Frame::EndpointRegister(EndpointRegister {
                registered: *registered,
                endpoint: *endpoint,
            }),
            Control::EndpointResolve {
                request_id,
                kind,
                endpoint,
            } => Frame::EndpointResolve(EndpointResolve {
                request_id: *request_id,
                kind: *kind,
                endpoint: *endpoint,
            }),
            Control::Route {
                endpoint,
                message_id,
                payload,
            } => Frame::EndpointRoute(EndpointRoute {
                endpoint: *endpoint,
                message_id: *message_id,
                payload,
            }),
            Control::RouteAnswer { message_id, code } => match code {
                None => Frame::EndpointAccept {
                    message_id: *message_id,
                },
                Some(code) => Frame::EndpointRefuse(EndpointRefuse {
                    message_id: *message_id,
                    code: *code,
                }),
            },
            Control::StorageGet {
                request_id,
                max_len,
                hash,
            } => Frame::StorageGet(StorageGet {
                request_id: *request_id,
                max_len: *max_len,
                hash: *hash,
            }),
            Control::StorageRefuse { request_id, code } => Frame::StorageRefuse(StorageRefuse {
                request_id: *request_id,
                code: *code,
            }),
            Control::StorageCancel { request_id } => Frame::StorageCancel {
                request_id: *request_id,
            },
            Control::Rekey { seq, public } => Frame::Rekey {
                seq: *seq,
                public: *public,
            },
            Control::RekeyReply {
                seq,
                generation,
                public,
            } => Frame::RekeyReply {
                seq: *seq,
                generation: *generation,
                public: *public,
            },
            Control::RdvRequest {
                kind,
                request_id,
                node,
            } => match kind {
                RequestKind::Register => Frame::RdvRegister {
                    request_id: *request_id,
                },
                RequestKind::Lookup => Frame::RdvLookup {
                    request_id: *request_id,
                    node_id: *node,
                },
                RequestKind::Connect => Frame::RdvConnect {
                    request_id: *request_id,
                    node_id: *node,
                },
            },
            Control::RdvAnswer {
                request_id,
                status,
                addr,
            } => Frame::RdvAnswer(RdvAnswer {
                request_id: *request_id,
                status: *status,
                addr: addr.as_bytes(),
            }),
            Control::RdvPeer {
                request_id,
                initiator,
                node,
                route,
                start_delay_ms,
                addr,
            } => Frame::RdvPeer(RdvPeer {
                request_id: *request_id,
                initiator: *initiator,
                node_id: *node,
                route_id: *route,
                start_delay_ms: *start_delay_ms,
                addr: addr.as_bytes(),
            }),
        }
    }

    /// Bytes the frame takes on the wire.
    pub(crate) fn encoded_len(&self) -> Result<usize, EncodeError> {
        self.frame().encoded_len()
    }

    /// Writes the frame; fails without writing if it does not fit.
    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), EncodeError> {
        let frame = self.frame();
        let len = frame.encoded_len()?;
        w.reserve(len)?;
        frame.write(w)
    }
}
