//! The responder's hybrid INIT pipeline (PROTOCOL.md §5.7.10): fragment checks and the
//! bounded reassembly table, then the classic pipeline's steps on the reassembled INIT
//! (cookie gate, token bucket, dedupe, replay filter, message 1 under the PSK), and only
//! then ML-KEM encapsulation, two DH and the two CHALLENGE fragments; REFUSE where this
//! node runs classic only. It must not do anything costlier than one HMAC per fragment
//! before the fragment's MAC verified.

use alloc::vec::Vec;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::*;
use crate::handshake::hybrid::{FRAG0_LEN, HYBRID_INIT_LEN, MAX_HYBRID_CHALLENGE_LEN};

impl Responder {
    /// Handles one fragment of a hybrid INIT (type `0x08`) from `path`, as
    /// [`Responder::handle_init`] handles a classic INIT. `out` must hold two full
    /// fragments (2 × 1200 bytes). A classic-only responder answers a first fragment with
    /// REFUSE; otherwise a fragment is buffered ([`InitOutcome::Pending`]) until its partner
    /// arrives and the reassembled INIT then goes through the INIT pipeline.
    #[allow(clippy::too_many_arguments)]
    pub fn handle_init_fragment(
        &mut self,
        now: Instant,
        identity: &Identity,
        network: &NetworkKey,
        path: &[u8],
        packet: &[u8],
        local_session: SessionId,
        params: &[u8],
        rng: &mut Rng,
        out: &mut [u8],
    ) -> InitOutcome {
        if out.len() < 2 * FRAG0_LEN {
            return self.drop_with(DropReason::Malformed);
        }
        let opened = hybrid::open_fragment(
            packet,
            PacketType::InitHybrid,
            network.accepted().map(|k| &k.hybrid_key),
        );
        let (frag, which) = match opened {
            Ok(f) => f,
            Err(e) => {
                self.stats.hybrid_fragments_dropped += 1;
                let reason = match e {
                    HandshakeError::Decrypt => DropReason::PskFail,
                    _ => DropReason::Malformed,
                };
                return self.drop_with(reason);
            }
        };
        self.stats.hybrid_fragments += 1;
        let Some(keys) = network.accepted().nth(which) else {
            return self.drop_with(DropReason::Crypto);
        };
        if !self.config.pq.hybrid_capable() {
            // Classic only: the first fragment (it holds e_I) gets an authenticated
            // REFUSE, smaller than it; the second is dropped.
            if frag.index != 0 {
                return self.drop_with(DropReason::HybridOff);
            }
            let mut e_i = [0u8; DH_LEN];
            e_i.copy_from_slice(&frag.piece[..DH_LEN]);
            let key = keys.hybrid_key;
            return self.refuse(
                &key,
                frag.header.session_id,
                RefuseCode::HybridUnsupported,
                &e_i,
                out,
            );
        }
        self.expire(now);
        let mut init = [0u8; HYBRID_INIT_LEN];
        let done = self.reassembly.insert(now, &frag, path, &mut init);
        if done == Reassembled::Pending {
            return InitOutcome::Pending;
        }
        self.stats.inits += 1;
        let cookie_key = keys.cookie_key;
        self.hybrid_init(
            now,
            identity,
            network,
            &cookie_key,
            path,
            &init,
            local_session,
            params,
            rng,
            out,
        )
    }

    /// The INIT pipeline (§5.7.4 steps 2–9) on a reassembled hybrid INIT.
    #[allow(clippy::too_many_arguments)]
    fn hybrid_init(
        &mut self,
        now: Instant,
        identity: &Identity,
        network: &NetworkKey,
        cookie_key: &[u8; 32],
        path: &[u8],
        init: &[u8; HYBRID_INIT_LEN],
        local_session: SessionId,
        params: &[u8],
        rng: &mut Rng,
        out: &mut [u8],
    ) -> InitOutcome {
        let Ok(header) = Header::decode(init) else {
            return self.drop_with(DropReason::Malformed);
        };
        let mac2_at = HYBRID_INIT_LEN - MAC2_LEN;
        // 2. Under load: mac2 over the logical INIT, else a stateless COOKIE.
        if self.is_under_load(now) {
            self.extend_under_load(now);
            self.cookies.rotate(now, rng);
            let (signed, mac2) = init.split_at(mac2_at);
            if !self.cookies.verify(path, signed, mac2) {
                self.stats.bad_mac2 += 1;
                if mac2.iter().all(|&b| b == 0) {
                    self.stats.cookie_required += 1;
                } else {
                    self.stats.bad_cookie += 1;
                }
                let tag = &init[mac2_at - NOISE_TAG_LEN..mac2_at];
                return self.write_cookie_with(cookie_key, path, tag, header.session_id, rng, out);
            }
        }
        // 3. The source's token bucket, under load only.
        if self.is_under_load(now) && !self.admission.take_token(now, path) {
            return self.drop_with(DropReason::RateLimited);
        }
        // 4. A retransmitted INIT: the cached CHALLENGE fragments, no KEM, no DH.
        let mut e_i = [0u8; DH_LEN];
        e_i.copy_from_slice(&init[HEADER_LEN..HEADER_LEN + DH_LEN]);
        let digest = crate::hash::sha256(&[&init[HEADER_LEN..mac2_at]]);
        if let Some(sid) = self.by_ephemeral.get(&e_i) {
            if let Some(h) = self.half_open.get(sid)
                && bool::from(h.init_digest.ct_eq(&digest))
                && h.peer_session == header.session_id
                && h.split != 0
            {
                let len = h.challenge.len();
                out[..len].copy_from_slice(&h.challenge);
                self.stats.challenges_resent += 1;
                return InitOutcome::HybridChallenge {
                    len0: h.split,
                    len1: len - h.split,
                    resent: true,
                    session: *sid,
                };
            }
            return self.drop_with(DropReason::DuplicateEphemeral);
        }
        // 5. The replay filter.
        if self.admission.is_replay(now, &e_i) {
            return self.drop_with(DropReason::Replayed);
        }
        // 6. Message 1 (psk, e, e1, payload): the PSK check, no DH, no KEM.
        let mut ek = [0u8; MLKEM768_EK_LEN];
        let mut plain = [0u8; crate::handshake::INIT_PAYLOAD_LEN];
        let sealed = &init[HEADER_LEN + DH_LEN..mac2_at];
        let Some((st, keys)) =
            rotation::open_hybrid_init(network, &e_i, sealed, &mut ek, &mut plain)
        else {
            return self.drop_with(DropReason::PskFail);
        };
        // The CHALLENGE fragments are MACed under the seed the initiator sealed with.
        let hybrid_key = keys.hybrid_key;
        // 6–8. The payload, room and the INIT rate (shared with classic INITs).
        let (peer_session, offer) =
            match self.admit(now, header.session_id, &plain, local_session, true) {
                Ok(admitted) => admitted,
                Err(NotAdmitted::Drop(reason)) => return self.drop_with(reason),
                // `admit` refuses classic INITs only; a hybrid one is never refused here.
                Err(NotAdmitted::Refuse(_)) => return self.drop_with(DropReason::Crypto),
            };
        // 9. Only now: e_R, ee, ML-KEM encapsulation, es, and the CHALLENGE fragments.
        let written = self.write_hybrid_challenge(
            identity,
            st,
            &e_i,
            &ek,
            peer_session,
            local_session,
            offer,
            params,
            &hybrid_key,
            rng,
            out,
        );
        match self.commit(now, e_i, digest, local_session, written) {
            Ok((len0, len)) => InitOutcome::HybridChallenge {
                len0,
                len1: len - len0,
                resent: false,
                session: local_session,
            },
            Err(dropped) => dropped,
        }
    }

    /// Message 2 of the hybrid pattern (`e, ee, ekem1, s, es`, payload), cut into two
    /// fragments at the start of `out`.
    #[allow(clippy::too_many_arguments)]
    fn write_hybrid_challenge(
        &mut self,
        identity: &Identity,
        mut st: SymmetricState,
        e_i: &[u8; 32],
        ek: &[u8; MLKEM768_EK_LEN],
        peer_session: SessionId,
        local_session: SessionId,
        offer: AeadSet,
        params: &[u8],
        hybrid_key: &[u8; 32],
        rng: &mut Rng,
        out: &mut [u8],
    ) -> Result<HalfOpen, HandshakeError> {
        let aead = AeadSet::choose(offer, self.config.aeads);
        let token = identity.reset_token(local_session);
        let plain = payload::encode_challenge(local_session, aead, &token, params)?;
        let ephemeral = match self.spare_ephemeral.take() {
            Some(k) => k,
            None => generate_ephemeral(self.config.provider, rng)?,
        };
        let e_pub = ephemeral.public_key();
        let mut m = rng.array32();
        let mut logical: Vec<u8> = alloc::vec![0u8; MAX_HYBRID_CHALLENGE_LEN];
        logical[..HEADER_LEN]
            .copy_from_slice(&handshake_header(PacketType::ChallengeHybrid, peer_session));
        let mut pos = HEADER_LEN;
        logical[pos..pos + DH_LEN].copy_from_slice(&e_pub);
        pos += DH_LEN;
        st.mix_hash(&e_pub);
        st.mix_key(&e_pub);
        self.stats.dh_ops += 1;
        let mut ee = dh(&*ephemeral, e_i)?;
        st.mix_key(&ee);
        ee.zeroize();
        // ekem1: EncryptAndHash(ct), then MixKey(shared secret).
        let mut ct = [0u8; MLKEM768_CT_LEN];
        let ss = self.config.provider.ml_kem().encapsulate(ek, &m, &mut ct);
        m.zeroize();
        let ss = ss.map_err(HandshakeError::Kem)?;
        pos += st.encrypt_and_hash(&ct, &mut logical[pos..])?;
        st.mix_key(&ss[..]);
        drop(ss);
        pos += st.encrypt_and_hash(&identity.public_key(), &mut logical[pos..])?;
        self.stats.dh_ops += 1;
        let mut es = dh(identity.static_key(), e_i)?;
        st.mix_key(&es);
        es.zeroize();
        pos += st.encrypt_and_hash(&plain, &mut logical[pos..])?;
        logical.truncate(pos);
        let len0 = hybrid::write_fragment(hybrid_key, &logical, 0, out)?;
        let len1 = hybrid::write_fragment(hybrid_key, &logical, 1, &mut out[len0..])?;
        Ok(HalfOpen {
            e_i: *e_i,
            init_digest: [0; 32],
            ephemeral,
            state: st,
            challenge: out[..len0 + len1].to_vec(),
            peer_session,
            aead,
            expires: Instant::ZERO,
            split: len0,
        })
    }

    /// Writes a REFUSE (§5.7.10) under `key`, bound to the INIT's ephemeral `e_i`.
    pub(super) fn refuse(
        &mut self,
        key: &[u8; 32],
        session: SessionId,
        code: RefuseCode,
        e_i: &[u8; DH_LEN],
        out: &mut [u8],
    ) -> InitOutcome {
        match hybrid::write_refuse(key, session, code, e_i, out) {
            Ok(len) => {
                self.stats.refusals_sent += 1;
                match code {
                    RefuseCode::HybridRequired => self.stats.refused_classic += 1,
                    RefuseCode::Downgrade => self.stats.refused_downgrade += 1,
                    RefuseCode::HybridUnsupported => {}
                }
                InitOutcome::Refuse { len, code }
            }
            Err(_) => self.drop_with(DropReason::Crypto),
        }
    }
}
