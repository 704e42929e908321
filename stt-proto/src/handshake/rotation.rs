//! The responder's side of a network-seed rotation (PROTOCOL.md §5.7.9): Noise message 1
//! (classic or hybrid) is tried under each PSK the [`NetworkKey`] accepts (current, then next), which costs one
//! HKDF chain and one AEAD open per seed and no Diffie-Hellman, and a COOKIE is sealed
//! with the cookie key of the seed the INIT was sealed with. It owns no state and must not
//! decide admission (that is the responder pipeline's).

use super::noise::SymmetricState;
use crate::identity::{NetSecrets, NetworkKey};

/// Runs Noise message 1 (`psk`, `e`, payload) under each accepted seed. On success the
/// symmetric state after it (the payload decrypted into `plain`) and the seed that opened it.
pub(super) fn open_init<'a>(
    network: &'a NetworkKey,
    e_i: &[u8; 32],
    sealed: &[u8],
    plain: &mut [u8],
) -> Option<(SymmetricState, &'a NetSecrets)> {
    network.accepted().find_map(|keys| {
        let mut st = SymmetricState::initialize();
        st.mix_key_and_hash(&keys.psk);
        st.mix_hash(e_i);
        st.mix_key(e_i);
        st.decrypt_and_hash(sealed, plain).ok().map(|_| (st, keys))
    })
}

/// The cookie-reply key to seal a COOKIE for this INIT with: the key of the seed whose PSK
/// opens message 1, found by trial only while a next seed is configured; the current
/// seed's otherwise (also when no seed opens it: a non-member cannot read either).
pub(super) fn cookie_key_for<'a>(
    network: &'a NetworkKey,
    e_i: &[u8; 32],
    sealed: &[u8],
) -> &'a [u8; 32] {
    if network.has_next() {
        let mut plain = [0u8; super::INIT_PAYLOAD_LEN];
        if let Some((_, keys)) = open_init(network, e_i, sealed, &mut plain) {
            return &keys.cookie_key;
        }
    }
    network.cookie_key()
}

/// Runs hybrid Noise message 1 (`psk`, `e`, `e1`, payload) under each accepted seed:
/// `sealed` is the sealed encapsulation key followed by the sealed payload. On success the
/// state after it and the seed that opened it, with `ek` and `plain` filled.
pub(super) fn open_hybrid_init<'a>(
    network: &'a NetworkKey,
    e_i: &[u8; 32],
    sealed: &[u8],
    ek: &mut [u8; crate::crypto::MLKEM768_EK_LEN],
    plain: &mut [u8],
) -> Option<(SymmetricState, &'a NetSecrets)> {
    let split = crate::crypto::MLKEM768_EK_LEN + super::NOISE_TAG_LEN;
    let (sealed_ek, sealed_payload) = sealed.split_at_checked(split)?;
    network.accepted().find_map(|keys| {
        let mut st = SymmetricState::initialize_named(super::HYBRID_PROTOCOL_NAME);
        st.mix_key_and_hash(&keys.psk);
        st.mix_hash(e_i);
        st.mix_key(e_i);
        st.decrypt_and_hash(sealed_ek, ek).ok()?;
        st.decrypt_and_hash(sealed_payload, plain)
            .ok()
            .map(|_| (st, keys))
    })
}
