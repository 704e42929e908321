//! Transport parameters each side announces inside the handshake (PROTOCOL.md §5.8).
//!
//! Encoded as a sequence of (id, value) varint pairs; unknown ids are skipped so later
//! versions can add parameters. Only the encoding and the limits live here.

use core::time::Duration;

use crate::config::TransportConfig;
use crate::frame::{DecodeError, EncodeError, Reader, Writer};

/// Longest encoded parameter block a peer may send.
pub const MAX_PARAMS_LEN: usize = 128;

/// What a node grants its peer and promises about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransportParams {
    /// Bidirectional streams the peer may open.
    pub max_streams_bidi: u64,
    /// Unidirectional streams the peer may open.
    pub max_streams_uni: u64,
    /// Initial session-wide credit, bytes.
    pub max_data: u64,
    /// Initial per-stream credit, bytes.
    pub max_stream_data: u64,
    /// Idle timeout in milliseconds (the session uses the smaller of both).
    pub idle_timeout_ms: u64,
    /// Longest this side delays an ACK, in milliseconds.
    pub max_ack_delay_ms: u64,
    /// Largest DATAGRAM payload accepted (0 = datagrams refused).
    pub max_datagram: u64,
}

const MAX_STREAMS_BIDI: u64 = 1;
const MAX_STREAMS_UNI: u64 = 2;
const MAX_DATA: u64 = 3;
const MAX_STREAM_DATA: u64 = 4;
const IDLE_TIMEOUT: u64 = 5;
const MAX_ACK_DELAY: u64 = 6;
const MAX_DATAGRAM: u64 = 7;

impl TransportParams {
    /// The parameters a node with `config` announces.
    pub fn from_config(config: &TransportConfig, max_datagram: usize) -> Self {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        Self {
            max_streams_bidi: config.max_streams_bidi,
            max_streams_uni: config.max_streams_uni,
            max_data: config.receive_window,
            max_stream_data: config.stream_receive_window,
            idle_timeout_ms: ms(config.idle_timeout),
            max_ack_delay_ms: ms(config.max_ack_delay),
            max_datagram: max_datagram as u64,
        }
    }

    /// Encodes into `buf`, returning the length.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = Writer::new(buf);
        for (id, v) in [
            (MAX_STREAMS_BIDI, self.max_streams_bidi),
            (MAX_STREAMS_UNI, self.max_streams_uni),
            (MAX_DATA, self.max_data),
            (MAX_STREAM_DATA, self.max_stream_data),
            (IDLE_TIMEOUT, self.idle_timeout_ms),
            (MAX_ACK_DELAY, self.max_ack_delay_ms),
            (MAX_DATAGRAM, self.max_datagram),
        ] {
            w.varint(id)?;
            w.varint(v)?;
        }
        Ok(w.position())
    }

    /// Decodes a peer's block; missing parameters default to zero (nothing granted).
    pub fn decode(buf: &[u8]) -> Result<Self, DecodeError> {
        if buf.len() > MAX_PARAMS_LEN {
            return Err(DecodeError::OutOfRange {
                field: "transport parameters length",
                value: buf.len() as u64,
            });
        }
        let mut p = Self {
            max_streams_bidi: 0,
            max_streams_uni: 0,
            max_data: 0,
            max_stream_data: 0,
            idle_timeout_ms: 0,
            max_ack_delay_ms: 25,
            max_datagram: 0,
        };
        let mut r = Reader::new(buf);
        while !r.is_empty() {
            let id = r.varint()?;
            let v = r.varint()?;
            let bound = |field, max: u64| {
                if v > max {
                    Err(DecodeError::OutOfRange { field, value: v })
                } else {
                    Ok(v)
                }
            };
            match id {
                MAX_STREAMS_BIDI => p.max_streams_bidi = bound("max_streams_bidi", 1 << 30)?,
                MAX_STREAMS_UNI => p.max_streams_uni = bound("max_streams_uni", 1 << 30)?,
                MAX_DATA => p.max_data = v,
                MAX_STREAM_DATA => p.max_stream_data = v,
                IDLE_TIMEOUT => p.idle_timeout_ms = v,
                MAX_ACK_DELAY => p.max_ack_delay_ms = bound("max_ack_delay", 16_383)?,
                MAX_DATAGRAM => p.max_datagram = v,
                _ => {}
            }
        }
        Ok(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_fits() {
        let p = TransportParams::from_config(&TransportConfig::default(), 1400);
        let mut buf = [0u8; MAX_PARAMS_LEN];
        let n = p.encode(&mut buf).unwrap();
        assert_eq!(TransportParams::decode(&buf[..n]).unwrap(), p);
    }

    #[test]
    fn unknown_ids_are_skipped_and_bad_values_refused() {
        assert!(TransportParams::decode(&[0x3f, 0x01]).is_ok());
        assert!(TransportParams::decode(&[0x06, 0x80, 0xff, 0xff, 0xff]).is_err());
        assert!(TransportParams::decode(&[0x06]).is_err());
    }
}
