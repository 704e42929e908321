//! Packet protection for one established session (PROTOCOL.md §6): seal and open with
//! the header as associated data, packet-number encoding and recovery, the replay window,
//! key updates and AEAD usage limits.
//!
//! It owns a session's traffic keys and nothing else: no timers of its own (the caller
//! passes `now` and asks [`PacketProtection::poll_timeout`]), no routing, no frames.

use alloc::boxed::Box;
use core::time::Duration;

use super::keys::DirectionKeys;
use super::rekey::RekeyMix;
use super::replay::{ReplayError, ReplayWindow};
use super::{Aead, CryptoError, CryptoProvider, TAG_LEN};
use crate::Instant;
use crate::frame::{DecodeError, Flags, HEADER_LEN, Header, PacketType, SessionId, StreamId};

/// Packet numbers stop here: the session must close first (a re-handshake does not reset them).
pub const MAX_PN: u64 = 1 << 62;

/// Time old receive keys are kept after a key update until the engine sets its own
/// (a session sets about 3 PTO from its RTT estimate as soon as it is established).
pub const DEFAULT_OLD_KEY_RETENTION: Duration = Duration::from_secs(1);

/// AEAD usage limits of a session; [`RecordLimits::for_aead`] gives the protocol's values and
/// tests lower them to exercise the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// Packets sealed under one key before a key update is started automatically.
    pub update_threshold: u64,
    /// Packets one key may ever seal (confidentiality limit).
    pub confidentiality: u64,
    /// Failed opens tolerated per session (integrity limit).
    pub integrity: u64,
    /// First packet number that may not be sent.
    pub max_pn: u64,
}

impl RecordLimits {
    /// The limits of PROTOCOL.md §6.6 for `aead`.
    pub fn for_aead(aead: Aead) -> Self {
        Self {
            update_threshold: aead.update_threshold(),
            confidentiality: aead.confidentiality_limit(),
            integrity: aead.integrity_limit(),
            max_pn: MAX_PN,
        }
    }
}

/// Why a packet could not be sealed or opened. Every open error leaves the session unchanged
/// except [`RecordError::Forged`] / [`RecordError::IntegrityLimit`], which count a failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The packet number was already accepted.
    #[error("replayed packet {0}")]
    Replayed(u64),
    /// The packet number is below the replay window.
    #[error("packet {0} too old for the replay window")]
    TooOld(u64),
    /// The tag did not verify (forged, corrupted or wrong keys).
    #[error("packet failed authentication")]
    Forged,
    /// The packet uses a key phase whose keys are already discarded.
    #[error("packet of a discarded key phase")]
    KeyDiscarded,
    /// Too many forged packets: close the session with AEAD_LIMIT_REACHED.
    #[error("AEAD integrity limit reached")]
    IntegrityLimit,
    /// The key hit its confidentiality limit and no key update is possible yet.
    #[error("AEAD confidentiality limit reached")]
    KeyLimit,
    /// Packet numbers are used up: close.
    #[error("packet numbers exhausted")]
    Exhausted,
    /// A key update is not allowed now (handshake unconfirmed, or the last update is not
    /// yet acknowledged).
    #[error("key update not allowed yet")]
    KeyUpdateBlocked,
    /// The packet is too short or its header does not decode.
    #[error("malformed packet: {0}")]
    Malformed(DecodeError),
    /// The packet type is not a protected one.
    #[error("packet type {0:?} is not protected")]
    NotProtected(PacketType),
    /// A re-handshake named a key phase this side cannot mix into (already derived,
    /// or too far ahead): close with KEY_UPDATE_ERROR.
    #[error("re-handshake for key phase {0} out of range")]
    RekeyGeneration(u64),
    /// The buffer cannot hold header, payload and tag.
    #[error("buffer too small: need {need}, have {have}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// The AEAD provider failed.
    #[error("crypto provider: {0}")]
    Crypto(CryptoError),
}

/// A sealed packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// Its packet number.
    pub pn: u64,
    /// Bytes of the packet (header + ciphertext + tag).
    pub len: usize,
}

/// An opened packet.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'b> {
    /// Its full packet number.
    pub pn: u64,
    /// Its header.
    pub header: Header,
    /// The plaintext, decrypted in place.
    pub payload: &'b mut [u8],
    /// Whether this packet started a key update by the peer (we updated our send keys too).
    pub key_updated: bool,
}

#[derive(Clone, Debug)]
struct SendKeys {
    generation: u64,
    keys: DirectionKeys,
    next_pn: u64,
    sealed_with_key: u64,
    first_pn_of_generation: u64,
    acked_in_generation: bool,
}

#[derive(Clone, Debug)]
struct RecvKeys {
    generation: u64,
    current: DirectionKeys,
    /// Derived when the first flipped key-phase packet arrives, before its tag is
    /// checked, and kept: so opening costs the same whether that packet is authentic or
    /// not (RFC 9001 §9.5), without holding a third expanded key in every idle session.
    next: Option<Box<DirectionKeys>>,
    /// Boxed: held only briefly after a key update, so idle sessions pay one word.
    previous: Option<Box<(DirectionKeys, Instant)>>,
    first_pn_of_generation: Option<u64>,
    window: ReplayWindow,
}

/// One session's packet protection: send and receive keys, packet numbers, replay window.
#[derive(Clone)]
pub struct PacketProtection {
    provider: &'static dyn CryptoProvider,
    aead: Aead,
    tx: SendKeys,
    rx: RecvKeys,
    failed_opens: u64,
    limits: RecordLimits,
    confirmed: bool,
    retention: Duration,
    /// This side sent REKEY and awaits the answer: it starts no key update meanwhile.
    rekey_outstanding: bool,
    /// The agreed re-handshake DH, until both directions have passed its phase.
    rekey: Option<Box<RekeyMix>>,
}

impl core::fmt::Debug for PacketProtection {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PacketProtection")
            .field("provider", &self.provider.name())
            .field("aead", &self.aead)
            .field("next_pn", &self.tx.next_pn)
            .field("tx_generation", &self.tx.generation)
            .field("rx_generation", &self.rx.generation)
            .finish_non_exhaustive()
    }
}

/// Recovers a full packet number from its low 32 bits and the largest authenticated one
/// (RFC 9000 Appendix A.3 with a 2³² window).
pub fn decode_pn(largest: Option<u64>, truncated: u32) -> u64 {
    const WIN: u64 = 1 << 32;
    const HWIN: u64 = WIN / 2;
    let expected = largest.map_or(0, |l| l + 1);
    let candidate = (expected & !(WIN - 1)) | u64::from(truncated);
    if candidate + HWIN <= expected && candidate < (1 << 62) - WIN {
        candidate + WIN
    } else if candidate > expected + HWIN && candidate >= WIN {
        candidate - WIN
    } else {
        candidate
    }
}

impl PacketProtection {
    /// Builds a session's protection from its two traffic secrets (the handshake's Split).
    /// `confirmed` says whether the handshake is already confirmed (responder: yes).
    pub fn from_secrets(
        provider: &'static dyn CryptoProvider,
        aead: Aead,
        tx_secret: &[u8; 32],
        rx_secret: &[u8; 32],
        confirmed: bool,
    ) -> Result<Self, CryptoError> {
        let tx = DirectionKeys::new(provider, aead, tx_secret)?;
        let rx = DirectionKeys::new(provider, aead, rx_secret)?;
        Ok(Self {
            provider,
            aead,
            tx: SendKeys {
                generation: 0,
                keys: tx,
                next_pn: 0,
                sealed_with_key: 0,
                first_pn_of_generation: 0,
                acked_in_generation: false,
            },
            rx: RecvKeys {
                generation: 0,
                current: rx,
                next: None,
                previous: None,
                first_pn_of_generation: None,
                window: ReplayWindow::new(),
            },
            failed_opens: 0,
            limits: RecordLimits::for_aead(aead),
            confirmed,
            retention: DEFAULT_OLD_KEY_RETENTION,
            rekey_outstanding: false,
            rekey: None,
        })
    }

    /// The negotiated AEAD.
    pub fn aead(&self) -> Aead {
        self.aead
    }

    /// The provider the keys come from.
    pub fn provider(&self) -> &'static dyn CryptoProvider {
        self.provider
    }

    /// Replaces the usage limits (tests lower them; engines may tighten them).
    pub fn set_limits(&mut self, limits: RecordLimits) {
        self.limits = limits;
    }

    /// The usage limits in force.
    pub fn limits(&self) -> RecordLimits {
        self.limits
    }

    /// How long old receive keys are kept after a key update (about 3 PTO).
    pub fn set_old_key_retention(&mut self, d: Duration) {
        self.retention = d;
    }

    /// Packets sealed so far (= the next packet number).
    pub fn packets_sent(&self) -> u64 {
        self.tx.next_pn
    }

    /// The largest authenticated packet number received.
    pub fn largest_received(&self) -> Option<u64> {
        self.rx.window.largest()
    }

    /// Failed opens counted against the integrity limit.
    pub fn failed_opens(&self) -> u64 {
        self.failed_opens
    }

    /// Key-update generation of the send keys (the key-phase bit is its low bit).
    pub fn send_generation(&self) -> u64 {
        self.tx.generation
    }

    /// Key-update generation of the receive keys.
    pub fn recv_generation(&self) -> u64 {
        self.rx.generation
    }

    /// Whether the peer has proven it holds the keys (a packet from it opened). Key updates
    /// wait for this.
    pub fn is_confirmed(&self) -> bool {
        self.confirmed
    }

    /// Marks the handshake confirmed (the engine calls this if it learns it otherwise).
    pub fn confirm(&mut self) {
        self.confirmed = true;
    }

    /// Whether previous-phase receive keys are still held.
    pub fn has_old_keys(&self) -> bool {
        self.rx.previous.is_some()
    }

    /// When the previous-phase receive keys are due to be discarded.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.rx.previous.as_ref().map(|p| p.1)
    }

    /// Discards previous-phase keys whose retention ended by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_some_and(|at| at <= now) {
            self.discard_old_keys();
        }
    }

    /// Discards (and zeroizes) the previous-phase receive keys now.
    pub fn discard_old_keys(&mut self) {
        self.rx.previous = None;
    }

    /// The peer acknowledged packet `pn`: once a packet of the current send phase is
    /// acknowledged, the next key update is allowed.
    pub fn on_packet_acked(&mut self, pn: u64) {
        if pn >= self.tx.first_pn_of_generation && pn < self.tx.next_pn {
            self.tx.acked_in_generation = true;
        }
    }

    /// Whether [`initiate_key_update`](Self::initiate_key_update) would succeed now.
    /// Besides RFC 9001's rules, no update starts while this side awaits a REKEY_REPLY,
    /// and the side that answered a re-handshake does not start the mixed update.
    pub fn can_update_keys(&self) -> bool {
        self.confirmed
            && self.tx.acked_in_generation
            && self.tx.generation == self.rx.generation
            && !self.rekey_outstanding
            && !self
                .rekey
                .as_ref()
                .is_some_and(|m| !m.may_initiate && self.tx.generation + 1 == m.generation)
    }

    /// Whether a re-handshake is under way: REKEY sent and unanswered, or its DH agreed
    /// and not yet in use in both directions.
    pub fn is_rekeying(&self) -> bool {
        self.rekey_outstanding || self.rekey.is_some()
    }

    /// The session initiator sent REKEY: no key update starts until the answer is in.
    pub fn begin_rekey(&mut self) {
        self.rekey_outstanding = true;
    }

    /// The key phase a re-handshake answered now mixes into: the first phase neither
    /// direction has entered.
    pub fn rekey_generation(&self) -> u64 {
        self.tx.generation.max(self.rx.generation) + 1
    }

    /// Installs a re-handshake's DH output (PROTOCOL.md §6.7). Its phase must be one
    /// neither direction has entered and at most two ahead; next-phase receive keys
    /// derived before are dropped so they are derived again with the mix.
    pub fn install_rekey(&mut self, mix: RekeyMix) -> Result<(), RecordError> {
        let entered = self.tx.generation.max(self.rx.generation);
        if mix.generation <= entered || mix.generation > entered + 2 || self.rekey.is_some() {
            return Err(RecordError::RekeyGeneration(mix.generation));
        }
        if self.rx.generation + 1 == mix.generation {
            self.rx.next = None;
        }
        self.rekey = Some(Box::new(mix));
        self.rekey_outstanding = false;
        Ok(())
    }

    /// Forgets the re-handshake DH once both directions are past its phase.
    fn settle_rekey(&mut self) {
        if self.rekey.as_ref().is_some_and(|m| {
            self.tx.generation >= m.generation && self.rx.generation >= m.generation
        }) {
            self.rekey = None;
        }
    }

    /// The next-phase keys after `keys` (of phase `generation`): mixed with the
    /// re-handshake DH when the next phase is the one it applies to.
    fn next_keys(
        &self,
        keys: &DirectionKeys,
        generation: u64,
    ) -> Result<DirectionKeys, RecordError> {
        match self.rekey.as_ref() {
            Some(m) if m.generation == generation + 1 => m.next_keys(self.provider, keys),
            _ => keys.next(self.provider),
        }
        .map_err(RecordError::Crypto)
    }

    /// Starts a key update: later packets use the next send phase. Allowed only after the
    /// handshake is confirmed and a packet of the current phase was acknowledged (RFC 9001
    /// §6); the peer answers by updating its own send keys.
    pub fn initiate_key_update(&mut self) -> Result<(), RecordError> {
        if !self.can_update_keys() {
            return Err(RecordError::KeyUpdateBlocked);
        }
        self.update_send_keys()
    }

    fn update_send_keys(&mut self) -> Result<(), RecordError> {
        let next = self.next_keys(&self.tx.keys, self.tx.generation)?;
        self.tx.keys = next;
        self.tx.generation += 1;
        self.tx.sealed_with_key = 0;
        self.tx.first_pn_of_generation = self.tx.next_pn;
        self.tx.acked_in_generation = false;
        self.settle_rekey();
        Ok(())
    }

    /// Seals a packet in place. The caller put the plaintext at
    /// `buf[HEADER_LEN..HEADER_LEN + payload_len]`; `buf` must have [`TAG_LEN`] more bytes.
    /// Writes the header (sequence = low 32 bits of the packet number, key-phase flag) and
    /// the tag. Starts a key update by itself when the key nears its usage limit.
    pub fn seal(
        &mut self,
        packet_type: PacketType,
        session_id: SessionId,
        stream_id: StreamId,
        buf: &mut [u8],
        payload_len: usize,
    ) -> Result<Sealed, RecordError> {
        if !packet_type.is_protected() {
            return Err(RecordError::NotProtected(packet_type));
        }
        let len = HEADER_LEN + payload_len + TAG_LEN;
        if buf.len() < len {
            return Err(RecordError::BufferTooSmall {
                need: len,
                have: buf.len(),
            });
        }
        let pn = self.tx.next_pn;
        if pn >= self.limits.max_pn {
            return Err(RecordError::Exhausted);
        }
        let rekey_due = self
            .rekey
            .as_ref()
            .is_some_and(|m| m.may_initiate && self.tx.generation + 1 == m.generation);
        if (rekey_due || self.tx.sealed_with_key >= self.limits.update_threshold)
            && self.can_update_keys()
        {
            self.update_send_keys()?;
        }
        if self.tx.sealed_with_key >= self.limits.confidentiality {
            return Err(RecordError::KeyLimit);
        }
        let header = Header {
            packet_type,
            session_id,
            stream_id,
            sequence: pn as u32,
            flags: Flags::new(self.tx.generation & 1 == 1),
        };
        let (hdr, rest) = buf.split_at_mut(HEADER_LEN);
        hdr.copy_from_slice(&header.to_bytes());
        let (body, tail) = rest.split_at_mut(payload_len);
        let nonce = self.tx.keys.nonce(pn);
        let key = self
            .tx
            .keys
            .key_for(self.provider, stream_id)
            .map_err(RecordError::Crypto)?;
        let tag = key
            .seal_in_place(&nonce, hdr, body)
            .map_err(RecordError::Crypto)?;
        tail[..TAG_LEN].copy_from_slice(&tag);
        self.tx.next_pn += 1;
        self.tx.sealed_with_key += 1;
        Ok(Sealed { pn, len })
    }

    /// Opens a protected packet in place (`packet` = the whole datagram). Order: header and
    /// length checks, packet-number recovery, replay check, AEAD open; only after the tag
    /// verifies are the replay window, largest packet number and key phase updated.
    pub fn open<'b>(
        &mut self,
        now: Instant,
        packet: &'b mut [u8],
    ) -> Result<Opened<'b>, RecordError> {
        if packet.len() < HEADER_LEN + TAG_LEN {
            return Err(RecordError::Malformed(DecodeError::Short {
                need: HEADER_LEN + TAG_LEN,
                have: packet.len(),
            }));
        }
        let header = Header::decode(packet).map_err(RecordError::Malformed)?;
        if !header.packet_type.is_protected() {
            return Err(RecordError::NotProtected(header.packet_type));
        }
        let pn = decode_pn(self.rx.window.largest(), header.sequence);
        self.rx.window.check(pn).map_err(|e| match e {
            ReplayError::Duplicate(pn) => RecordError::Replayed(pn),
            ReplayError::TooOld(pn) => RecordError::TooOld(pn),
        })?;

        #[derive(PartialEq)]
        enum Phase {
            Current,
            Previous,
            Next,
        }
        let phase = if header.flags.key_phase() == (self.rx.generation & 1 == 1) {
            Phase::Current
        } else if self.rx.first_pn_of_generation.is_some_and(|f| pn < f) {
            if self.rx.previous.is_none() {
                return Err(RecordError::KeyDiscarded);
            }
            Phase::Previous
        } else {
            Phase::Next
        };

        let body_len = packet.len() - HEADER_LEN - TAG_LEN;
        let (hdr, rest) = packet.split_at_mut(HEADER_LEN);
        let (body, tag_bytes) = rest.split_at_mut(body_len);
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(tag_bytes);
        let keys = match phase {
            Phase::Current => &mut self.rx.current,
            Phase::Next => {
                if self.rx.next.is_none() {
                    let derived = self.next_keys(&self.rx.current, self.rx.generation)?;
                    self.rx.next = Some(Box::new(derived));
                }
                match self.rx.next.as_mut() {
                    Some(k) => k,
                    None => return Err(RecordError::KeyDiscarded),
                }
            }
            Phase::Previous => match self.rx.previous.as_mut() {
                Some(p) => &mut p.0,
                None => return Err(RecordError::KeyDiscarded),
            },
        };
        let nonce = keys.nonce(pn);
        let key = keys
            .key_for(self.provider, header.stream_id)
            .map_err(RecordError::Crypto)?;
        if key.open_in_place(&nonce, hdr, body, &tag).is_err() {
            self.failed_opens += 1;
            if self.failed_opens >= self.limits.integrity {
                return Err(RecordError::IntegrityLimit);
            }
            return Err(RecordError::Forged);
        }

        // Authenticated: now, and only now, change state.
        self.rx.window.mark(pn);
        self.confirmed = true;
        let mut key_updated = false;
        match phase {
            Phase::Current => {
                let first = self.rx.first_pn_of_generation.get_or_insert(pn);
                *first = (*first).min(pn);
            }
            Phase::Previous => {}
            Phase::Next => {
                let Some(new_current) = self.rx.next.take().map(|b| *b) else {
                    return Err(RecordError::KeyDiscarded);
                };
                let old = core::mem::replace(&mut self.rx.current, new_current);
                self.rx.previous = Some(Box::new((old, now + self.retention)));
                self.rx.generation += 1;
                self.rx.first_pn_of_generation = Some(pn);
                if self.tx.generation < self.rx.generation {
                    self.update_send_keys()?;
                    key_updated = true;
                }
                self.settle_rekey();
            }
        }
        Ok(Opened {
            pn,
            header,
            payload: body,
            key_updated,
        })
    }

    #[cfg(test)]
    pub(crate) fn send_keys(&self) -> &DirectionKeys {
        &self.tx.keys
    }

    #[cfg(test)]
    pub(crate) fn recv_keys(&self) -> &DirectionKeys {
        &self.rx.current
    }
}
