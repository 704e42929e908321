//! Plaintext layouts of the encrypted handshake payloads (PROTOCOL.md §5.7.3).
//!
//! INIT carries the initiator's session id and AEAD offer, padded; CHALLENGE the responder's
//! session id, chosen AEAD, reset token and transport parameters; RESPONSE the initiator's
//! reset token and transport parameters. Only parsing and layout live here, no crypto.

use alloc::vec::Vec;

use super::{HandshakeError, INIT_PAYLOAD_LEN};
use crate::crypto::{Aead, AeadSet};
use crate::frame::SessionId;

/// Largest opaque transport-parameter block an engine may send.
pub const MAX_PARAMS_LEN: usize = 128;
/// CHALLENGE payload bytes before the parameters: session id, AEAD, reset token, length.
pub const CHALLENGE_FIXED: usize = 8 + 1 + 16 + 1;
/// RESPONSE payload bytes before the parameters: reset token, length.
pub const RESPONSE_FIXED: usize = 16 + 1;

/// INIT payload flag (byte 9): this classic INIT follows a member's refusal of this
/// initiator's hybrid INIT (PROTOCOL.md §5.7.10). Zero in every other INIT, so a classic
/// INIT of a node that never offered hybrid is byte-identical to the original format.
pub const INIT_FLAG_HYBRID_REFUSED: u8 = 0x01;

/// INIT payload: `u64be(session_id) ‖ offer ‖ flags ‖ zero padding` to [`INIT_PAYLOAD_LEN`].
pub(crate) fn encode_init(session: SessionId, offer: AeadSet, flags: u8) -> [u8; INIT_PAYLOAD_LEN] {
    let mut out = [0u8; INIT_PAYLOAD_LEN];
    out[..8].copy_from_slice(&session.0.to_be_bytes());
    out[8] = offer.bits();
    out[9] = flags;
    out
}

/// Parses an INIT payload (session id, offer, flags); longer payloads are accepted
/// (padding and later extensions).
pub(crate) fn decode_init(p: &[u8]) -> Result<(SessionId, AeadSet, u8), HandshakeError> {
    if p.len() < 10 {
        return Err(HandshakeError::Malformed);
    }
    let mut sid = [0u8; 8];
    sid.copy_from_slice(&p[..8]);
    Ok((
        SessionId(u64::from_be_bytes(sid)),
        AeadSet::from_bits(p[8]),
        p[9],
    ))
}

/// A parsed CHALLENGE payload.
pub(crate) struct ChallengePayload {
    pub session: SessionId,
    pub aead: Aead,
    pub reset_token: [u8; 16],
    pub params: Vec<u8>,
}

pub(crate) fn check_params(params: &[u8]) -> Result<(), HandshakeError> {
    if params.len() > MAX_PARAMS_LEN {
        return Err(HandshakeError::ParamsTooLong(params.len()));
    }
    Ok(())
}

/// CHALLENGE payload: `u64be(session) ‖ aead ‖ reset_token(16) ‖ len ‖ params`.
pub(crate) fn encode_challenge(
    session: SessionId,
    aead: Aead,
    reset_token: &[u8; 16],
    params: &[u8],
) -> Result<Vec<u8>, HandshakeError> {
    check_params(params)?;
    let mut out = Vec::with_capacity(CHALLENGE_FIXED + params.len());
    out.extend_from_slice(&session.0.to_be_bytes());
    out.push(aead as u8);
    out.extend_from_slice(reset_token);
    out.push(params.len() as u8);
    out.extend_from_slice(params);
    Ok(out)
}

pub(crate) fn decode_challenge(p: &[u8]) -> Result<ChallengePayload, HandshakeError> {
    if p.len() < CHALLENGE_FIXED {
        return Err(HandshakeError::Malformed);
    }
    let mut sid = [0u8; 8];
    sid.copy_from_slice(&p[..8]);
    let aead = Aead::from_u8(p[8]).ok_or(HandshakeError::BadAead)?;
    let mut reset_token = [0u8; 16];
    reset_token.copy_from_slice(&p[9..25]);
    let len = usize::from(p[25]);
    if len > MAX_PARAMS_LEN || p.len() != CHALLENGE_FIXED + len {
        return Err(HandshakeError::Malformed);
    }
    Ok(ChallengePayload {
        session: SessionId(u64::from_be_bytes(sid)),
        aead,
        reset_token,
        params: p[CHALLENGE_FIXED..].to_vec(),
    })
}

/// RESPONSE payload: `reset_token(16) ‖ len ‖ params`.
pub(crate) fn encode_response(
    reset_token: &[u8; 16],
    params: &[u8],
) -> Result<Vec<u8>, HandshakeError> {
    check_params(params)?;
    let mut out = Vec::with_capacity(RESPONSE_FIXED + params.len());
    out.extend_from_slice(reset_token);
    out.push(params.len() as u8);
    out.extend_from_slice(params);
    Ok(out)
}

pub(crate) fn decode_response(p: &[u8]) -> Result<([u8; 16], Vec<u8>), HandshakeError> {
    if p.len() < RESPONSE_FIXED {
        return Err(HandshakeError::Malformed);
    }
    let mut reset_token = [0u8; 16];
    reset_token.copy_from_slice(&p[..16]);
    let len = usize::from(p[16]);
    if len > MAX_PARAMS_LEN || p.len() != RESPONSE_FIXED + len {
        return Err(HandshakeError::Malformed);
    }
    Ok((reset_token, p[RESPONSE_FIXED..].to_vec()))
}
