//! The hybrid handshake `Noise_XXhfspsk0_25519+MLKEM768_ChaChaPoly_SHA256` of PROTOCOL.md
//! §5.7.10 for both roles: logical INIT_H / CHALLENGE_H, their two fragments with `fmac`,
//! reassembly, message 2 on a copy of the state, RESPONSE, `Split`. No timers, no sockets,
//! no admission policy (cookies, buckets, replay filter): those are local responder rules.

use super::noise::Symmetric;
use super::prims::{self, KemDk, Keys, Rng};

/// The hybrid protocol name (48 ASCII bytes, §5.7.10).
pub const NAME_HYBRID: &[u8] = b"Noise_XXhfspsk0_25519+MLKEM768_ChaChaPoly_SHA256";
/// The classic protocol name (§5.7.1).
pub const NAME_CLASSIC: &[u8] = b"Noise_XXpsk0_25519_ChaChaPoly_SHA256";
/// The Noise prologue.
pub const PROLOGUE: &[u8] = b"STT/1";
/// Packet type of an INIT_H fragment.
pub const T_INIT_H: u8 = 0x08;
/// Packet type of a CHALLENGE_H fragment.
pub const T_CHALLENGE_H: u8 = 0x09;
/// Packet type of a classic INIT.
pub const T_INIT: u8 = 0x01;
/// Packet type of a classic CHALLENGE.
pub const T_CHALLENGE: u8 = 0x02;
/// Packet type of REFUSE.
pub const T_REFUSE: u8 = 0x0a;
/// `payload_1` flag: sent after a verified REFUSE(1) (§5.7.10).
pub const FLAG_HYBRID_REFUSED: u8 = 0x01;
/// Packet type of RESPONSE.
pub const T_RESPONSE: u8 = 0x03;
/// Where `piece_0` ends in a logical packet.
const SPLIT: usize = 1183;
/// Logical INIT_H length.
pub const INIT_H_LEN: usize = 1476;
/// The AEAD code of ChaCha20-Poly1305 (the only one this implementation offers).
pub const AEAD_CHACHA: u8 = 0x01;

/// Why a handshake message was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum HsError {
    /// Wrong length or layout.
    Malformed,
    /// An AEAD, MAC or header check failed.
    Auth,
    /// A non-contributory X25519 result.
    LowOrder,
    /// The ML-KEM encapsulation key failed the FIPS 203 input check.
    BadEk,
    /// The peer chose an AEAD that was not offered.
    BadAead,
}

/// The strict 20-byte header of a handshake packet (§5.7.3).
pub fn header(ty: u8, sid: u64) -> [u8; 20] {
    let mut h = [0u8; 20];
    h[0] = 0x53;
    h[1] = 0x54;
    h[2] = ty;
    h[3..11].copy_from_slice(&sid.to_be_bytes());
    h[19] = 0x01;
    h
}

fn strict_header(d: &[u8], ty: u8) -> Option<u64> {
    let h = d.get(..20)?;
    let mut want = header(ty, 0);
    want[3..11].copy_from_slice(&h[3..11]);
    (h == want).then(|| u64::from_be_bytes(h[3..11].try_into().expect("8")))
}

fn fmac(hybrid_key: &[u8; 32], head: &[u8]) -> [u8; 16] {
    let mut m = [0u8; 16];
    m.copy_from_slice(&prims::hmac(hybrid_key, &[head])[..16]);
    m
}

/// Splits logical packet `l` into its two fragments: `H ‖ u8(i) ‖ piece_i ‖ fmac`.
pub fn fragments(l: &[u8], hybrid_key: &[u8; 32]) -> [Vec<u8>; 2] {
    let h = &l[..20];
    let piece = |i: u8, p: &[u8]| {
        let mut f = h.to_vec();
        f.push(i);
        f.extend_from_slice(p);
        let m = fmac(hybrid_key, &f);
        f.extend_from_slice(&m);
        f
    };
    [piece(0, &l[20..SPLIT]), piece(1, &l[SPLIT..])]
}

/// Two-slot reassembly of one logical packet of type `ty` (the newer copy of an index wins).
#[derive(Default)]
pub struct Reassembly {
    header: Option<[u8; 20]>,
    pieces: [Option<Vec<u8>>; 2],
}

impl Reassembly {
    /// Checks a fragment (strict header, index, size, `fmac`) and stores it; returns the
    /// logical packet once both pieces with the same header are in.
    pub fn push(&mut self, d: &[u8], ty: u8, hybrid_key: &[u8; 32]) -> Option<Vec<u8>> {
        strict_header(d, ty)?;
        if d.len() < 20 + 1 + 16 {
            return None;
        }
        let (head, mac) = d.split_at(d.len() - 16);
        if fmac(hybrid_key, head).as_slice() != mac {
            return None;
        }
        let index = d[20];
        let ok_len = match (ty, index) {
            (_, 0) => d.len() == 1200,
            (T_INIT_H, 1) => d.len() == 330,
            (T_CHALLENGE_H, 1) => (100..=228).contains(&d.len()),
            _ => false,
        };
        if !ok_len {
            return None;
        }
        let h: [u8; 20] = d[..20].try_into().expect("20");
        if self.header.is_some_and(|old| old != h) {
            self.pieces = [None, None];
        }
        self.header = Some(h);
        self.pieces[usize::from(index)] = Some(head[21..].to_vec());
        if let [Some(a), Some(b)] = &self.pieces {
            let mut l = h.to_vec();
            l.extend_from_slice(a);
            l.extend_from_slice(b);
            Some(l)
        } else {
            None
        }
    }

    /// Forgets both pieces (after a message-2 failure, §5.7.10).
    pub fn clear(&mut self) {
        *self = Self::default();
    }
}

/// What both sides hold after message 3 (§5.7.6).
#[derive(Debug, Clone)]
pub struct Established {
    /// The handshake hash `h`.
    pub h: [u8; 32],
    /// Initiator-to-responder traffic secret.
    pub i2r: [u8; 32],
    /// Responder-to-initiator traffic secret.
    pub r2i: [u8; 32],
    /// The peer's receive session id (where our packets go).
    pub peer_sid: u64,
    /// The peer's static X25519 public key.
    pub peer_static: [u8; 32],
    /// The peer's stateless-reset token.
    pub peer_reset_token: [u8; 16],
    /// The peer's opaque transport parameters.
    pub peer_params: Vec<u8>,
    /// The chosen AEAD code.
    pub aead: u8,
}

/// Settings of one side.
pub struct Config<'a> {
    /// The node seed (static key, reset key).
    pub node_seed: &'a [u8],
    /// The network's shared seed (PSK, hybrid key).
    pub shared_seed: &'a [u8],
    /// The seed of the handshake RNG (§5.7.2).
    pub rng_seed: [u8; 32],
    /// This side's receive session id.
    pub sid: u64,
    /// This side's opaque transport parameters (≤ 128 bytes).
    pub params: &'a [u8],
}

fn payload_1(sid: u64, offer: u8, flags: u8) -> Vec<u8> {
    let mut p = vec![0u8; 192];
    p[..8].copy_from_slice(&sid.to_be_bytes());
    p[8] = offer;
    p[9] = flags;
    p
}

/// What a datagram did to an initiator.
#[derive(Debug)]
pub enum Step {
    /// Message 2 verified: RESPONSE to send, and the session.
    Done(Vec<u8>, Box<Established>),
    /// A REFUSE bound to our `e_I` verified: its code.
    Refused(u8),
    /// A COOKIE for our INIT opened: `mac2` is filled, send the INIT again.
    Cookie,
}

/// Packet type of COOKIE.
pub const T_COOKIE: u8 = 0x05;

/// The initiator, hybrid (§5.7.10) or classic (§5.7.3; only as a fallback or for §11.2).
pub struct Initiator {
    keys: Keys,
    sym: Symmetric,
    e: [u8; 32],
    e_pub: [u8; 32],
    /// The KEM key pair of a hybrid INIT; `None` for a classic one.
    dk: Option<KemDk>,
    params: Vec<u8>,
    init_h: Vec<u8>,
    reassembly: Reassembly,
}

impl Initiator {
    /// Draws `e` then `d ‖ z` and writes message 1 (`psk, e, e1`, payload_1) as INIT_H.
    pub fn new(cfg: &Config<'_>) -> Self {
        let keys = Keys::new(cfg.node_seed, cfg.shared_seed);
        let mut rng = Rng::new(cfg.rng_seed);
        let e: [u8; 32] = rng.draw();
        let dz: [u8; 64] = rng.draw();
        let e_pub = prims::x25519_public(&e);
        let (dk, ek) = prims::kem_keygen(&dz);
        let mut sym = Symmetric::new(NAME_HYBRID);
        sym.mix_hash(PROLOGUE);
        sym.mix_key_and_hash(&keys.psk);
        sym.mix_hash(&e_pub);
        sym.mix_key(&e_pub);
        let mut l = header(T_INIT_H, cfg.sid).to_vec();
        l.extend_from_slice(&e_pub);
        l.extend_from_slice(&sym.encrypt_and_hash(&ek));
        l.extend_from_slice(&sym.encrypt_and_hash(&payload_1(cfg.sid, AEAD_CHACHA, 0)));
        l.extend_from_slice(&[0u8; 16]); // mac2: no cookie
        debug_assert_eq!(l.len(), INIT_H_LEN);
        Self {
            keys,
            sym,
            e,
            e_pub,
            dk: Some(dk),
            params: cfg.params.to_vec(),
            init_h: l,
            reassembly: Reassembly::default(),
        }
    }

    /// A classic initiator (`psk, e`; §5.7.3) with ephemeral secret `e` and `payload_1`
    /// flags `flags`; INIT is 276 bytes.
    pub fn classic(cfg: &Config<'_>, e: [u8; 32], flags: u8) -> Self {
        let keys = Keys::new(cfg.node_seed, cfg.shared_seed);
        let e_pub = prims::x25519_public(&e);
        let mut sym = Symmetric::new(NAME_CLASSIC);
        sym.mix_hash(PROLOGUE);
        sym.mix_key_and_hash(&keys.psk);
        sym.mix_hash(&e_pub);
        sym.mix_key(&e_pub);
        let mut l = header(T_INIT, cfg.sid).to_vec();
        l.extend_from_slice(&e_pub);
        l.extend_from_slice(&sym.encrypt_and_hash(&payload_1(cfg.sid, AEAD_CHACHA, flags)));
        l.extend_from_slice(&[0u8; 16]);
        debug_assert_eq!(l.len(), 276);
        Self {
            keys,
            sym,
            e,
            e_pub,
            dk: None,
            params: cfg.params.to_vec(),
            init_h: l,
            reassembly: Reassembly::default(),
        }
    }

    /// The classic fallback after a verified REFUSE(1): same `e_I`, flags = `0x01`.
    pub fn fallback(&self, cfg: &Config<'_>) -> Self {
        Self::classic(cfg, self.e, FLAG_HYBRID_REFUSED)
    }

    /// The datagrams that carry our INIT: two fragments (hybrid) or the INIT itself.
    pub fn init_datagrams(&self) -> Vec<Vec<u8>> {
        if self.dk.is_some() {
            self.init_fragments().to_vec()
        } else {
            vec![self.init_h.clone()]
        }
    }

    /// §5.7.5 on our INIT (classic or INIT_H): the cookie is sealed with the cookie-reply
    /// key, `ad` = the tag of `payload_1` (the 16 bytes before `mac2`); `mac2` =
    /// `HMAC(cookie, INIT without mac2)[0..16]`.
    fn on_cookie(&mut self, d: &[u8]) -> Option<()> {
        strict_header(d, T_COOKIE)?;
        if d.len() != 76 || d[3..11] != self.init_h[3..11] {
            return None;
        }
        let n = self.init_h.len();
        let nonce: [u8; 24] = d[20..44].try_into().ok()?;
        let ad = &self.init_h[n - 32..n - 16];
        let cookie = prims::xopen(&self.keys.cookie_key, &nonce, ad, &d[44..])?;
        let mac2 = prims::hmac(&cookie, &[&self.init_h[..n - 16]]);
        self.init_h[n - 16..].copy_from_slice(&mac2[..16]);
        Some(())
    }

    fn check_refuse(&self, d: &[u8]) -> Option<u8> {
        strict_header(d, T_REFUSE)?;
        if d.len() != 37 || d[3..11] != self.init_h[3..11] {
            return None;
        }
        let mac = prims::hmac(&self.keys.hybrid_key, &[&d[..21], &self.e_pub]);
        (mac[..16] == d[21..]).then_some(d[20])
    }

    /// The logical INIT_H.
    pub fn init_h(&self) -> &[u8] {
        &self.init_h
    }

    /// The derived keys (for building tampered packets in tests).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The two INIT_H fragments, as sent.
    pub fn init_fragments(&self) -> [Vec<u8>; 2] {
        fragments(&self.init_h, &self.keys.hybrid_key)
    }

    /// Feeds one datagram; once a CHALLENGE_H is complete and message 2 verifies, returns
    /// RESPONSE and the session. A failing message 2 leaves the initiator unchanged
    /// apart from forgetting the pieces.
    pub fn on_datagram(&mut self, d: &[u8]) -> Option<Result<Step, HsError>> {
        if let Some(code) = self.check_refuse(d) {
            return Some(Ok(Step::Refused(code)));
        }
        if self.on_cookie(d).is_some() {
            return Some(Ok(Step::Cookie));
        }
        let l = if self.dk.is_some() {
            self.reassembly
                .push(d, T_CHALLENGE_H, &self.keys.hybrid_key)?
        } else {
            strict_header(d, T_CHALLENGE)?;
            d.to_vec()
        };
        let r = self.message_2(&l);
        if r.is_err() {
            self.reassembly.clear();
        }
        Some(r.map(|(resp, est)| Step::Done(resp, Box::new(est))))
    }

    fn message_2(&self, l: &[u8]) -> Result<(Vec<u8>, Established), HsError> {
        let kem = if self.dk.is_some() { 1104 } else { 0 };
        let min = 20 + 32 + kem + 48 + 42;
        if l.len() < min || l.len() > min + 128 || l[3..11] != self.init_h[3..11] {
            return Err(HsError::Malformed);
        }
        let mut sym = self.sym.clone();
        let e_r: [u8; 32] = l[20..52].try_into().expect("32");
        sym.mix_hash(&e_r);
        sym.mix_key(&e_r);
        sym.mix_key(&prims::x25519(&self.e, &e_r).ok_or(HsError::LowOrder)?);
        if let Some(dk) = &self.dk {
            let ct = sym.decrypt_and_hash(&l[52..1156]).ok_or(HsError::Auth)?;
            let ss = prims::kem_decaps(dk, &ct).ok_or(HsError::Malformed)?;
            sym.mix_key(&ss);
        }
        let at = 52 + kem;
        let s_r: [u8; 32] = sym
            .decrypt_and_hash(&l[at..at + 48])
            .ok_or(HsError::Auth)?
            .try_into()
            .map_err(|_| HsError::Malformed)?;
        sym.mix_key(&prims::x25519(&self.e, &s_r).ok_or(HsError::LowOrder)?);
        let p2 = sym.decrypt_and_hash(&l[at + 48..]).ok_or(HsError::Auth)?;
        if p2.len() < 26 || p2.len() != 26 + usize::from(p2[25]) {
            return Err(HsError::Malformed);
        }
        let aead = p2[8];
        if aead != AEAD_CHACHA {
            return Err(HsError::BadAead);
        }
        // Message 3: s, se, payload_3.
        let mut resp = header(
            T_RESPONSE,
            u64::from_be_bytes(p2[..8].try_into().expect("8")),
        )
        .to_vec();
        resp.extend_from_slice(&sym.encrypt_and_hash(&self.keys.static_public));
        sym.mix_key(&prims::x25519(&self.keys.static_secret, &e_r).ok_or(HsError::LowOrder)?);
        let my_sid = u64::from_be_bytes(self.init_h[3..11].try_into().expect("8"));
        let mut p3 = self.keys.reset_token(my_sid).to_vec();
        p3.push(u8::try_from(self.params.len()).map_err(|_| HsError::Malformed)?);
        p3.extend_from_slice(&self.params);
        resp.extend_from_slice(&sym.encrypt_and_hash(&p3));
        let (i2r, r2i) = sym.split();
        Ok((
            resp,
            Established {
                h: sym.h(),
                i2r,
                r2i,
                peer_sid: u64::from_be_bytes(p2[..8].try_into().expect("8")),
                peer_static: s_r,
                peer_reset_token: p2[9..25].try_into().expect("16"),
                peer_params: p2[26..].to_vec(),
                aead,
            },
        ))
    }

    /// Our ephemeral public key `e_I`.
    pub fn e_pub(&self) -> [u8; 32] {
        self.e_pub
    }
}

/// Test hooks of the responder: deliberate corruptions.
#[derive(Default, Clone, Copy)]
pub struct Tamper {
    /// Flip bit 0 of the ML-KEM ciphertext before `EncryptAndHash(ct)`.
    pub kem_ciphertext: bool,
}

struct Pending {
    sym: Symmetric,
    e: [u8; 32],
    peer_sid: u64,
    challenge: [Vec<u8>; 2],
}

/// The hybrid responder for one handshake (no admission policy, no cookies).
pub struct Responder {
    keys: Keys,
    rng: Rng,
    sid: u64,
    params: Vec<u8>,
    reassembly: Reassembly,
    pending: Option<Pending>,
    /// Deliberate corruptions for tests.
    pub tamper: Tamper,
}

impl Responder {
    /// A responder with its keys and RNG.
    pub fn new(cfg: &Config<'_>) -> Self {
        Self {
            keys: Keys::new(cfg.node_seed, cfg.shared_seed),
            rng: Rng::new(cfg.rng_seed),
            sid: cfg.sid,
            params: cfg.params.to_vec(),
            reassembly: Reassembly::default(),
            pending: None,
            tamper: Tamper::default(),
        }
    }

    /// Feeds an INIT_H fragment; once INIT_H is whole and message 1 verifies, returns the two
    /// CHALLENGE_H fragments (the cached ones for a retransmitted INIT_H).
    pub fn on_init_fragment(&mut self, d: &[u8]) -> Option<Result<[Vec<u8>; 2], HsError>> {
        let l = self.reassembly.push(d, T_INIT_H, &self.keys.hybrid_key)?;
        if let Some(p) = &self.pending {
            return Some(Ok(p.challenge.clone()));
        }
        Some(self.message_1_and_2(&l))
    }

    fn message_1_and_2(&mut self, l: &[u8]) -> Result<[Vec<u8>; 2], HsError> {
        if l.len() != INIT_H_LEN {
            return Err(HsError::Malformed);
        }
        let peer_sid = u64::from_be_bytes(l[3..11].try_into().expect("8"));
        let mut sym = Symmetric::new(NAME_HYBRID);
        sym.mix_hash(PROLOGUE);
        sym.mix_key_and_hash(&self.keys.psk);
        let e_i: [u8; 32] = l[20..52].try_into().expect("32");
        sym.mix_hash(&e_i);
        sym.mix_key(&e_i);
        let ek = sym.decrypt_and_hash(&l[52..1252]).ok_or(HsError::Auth)?;
        let p1 = sym.decrypt_and_hash(&l[1252..1460]).ok_or(HsError::Auth)?;
        if p1[..8] != l[3..11] || p1[8] & AEAD_CHACHA == 0 {
            return Err(HsError::Auth);
        }
        // Message 2: e, ee, ekem1, s, es, payload_2.
        let e: [u8; 32] = self.rng.draw();
        let m: [u8; 32] = self.rng.draw();
        let e_pub = prims::x25519_public(&e);
        let mut c = header(T_CHALLENGE_H, peer_sid).to_vec();
        c.extend_from_slice(&e_pub);
        sym.mix_hash(&e_pub);
        sym.mix_key(&e_pub);
        sym.mix_key(&prims::x25519(&e, &e_i).ok_or(HsError::LowOrder)?);
        let (mut ct, ss) = prims::kem_encaps(&ek, &m).ok_or(HsError::BadEk)?;
        if self.tamper.kem_ciphertext {
            ct[0] ^= 1;
        }
        c.extend_from_slice(&sym.encrypt_and_hash(&ct));
        sym.mix_key(&ss);
        c.extend_from_slice(&sym.encrypt_and_hash(&self.keys.static_public));
        sym.mix_key(&prims::x25519(&self.keys.static_secret, &e_i).ok_or(HsError::LowOrder)?);
        let mut p2 = self.sid.to_be_bytes().to_vec();
        p2.push(AEAD_CHACHA);
        p2.extend_from_slice(&self.keys.reset_token(self.sid));
        p2.push(u8::try_from(self.params.len()).map_err(|_| HsError::Malformed)?);
        p2.extend_from_slice(&self.params);
        c.extend_from_slice(&sym.encrypt_and_hash(&p2));
        let challenge = fragments(&c, &self.keys.hybrid_key);
        self.pending = Some(Pending {
            sym,
            e,
            peer_sid,
            challenge: challenge.clone(),
        });
        Ok(challenge)
    }

    /// Feeds a RESPONSE; on success the handshake is done.
    pub fn on_response(&mut self, d: &[u8]) -> Result<Established, HsError> {
        let p = self.pending.as_ref().ok_or(HsError::Malformed)?;
        if strict_header(d, T_RESPONSE) != Some(self.sid) || d.len() < 20 + 48 + 33 {
            return Err(HsError::Malformed);
        }
        let mut sym = p.sym.clone();
        let s_i: [u8; 32] = sym
            .decrypt_and_hash(&d[20..68])
            .ok_or(HsError::Auth)?
            .try_into()
            .map_err(|_| HsError::Malformed)?;
        sym.mix_key(&prims::x25519(&p.e, &s_i).ok_or(HsError::LowOrder)?);
        let p3 = sym.decrypt_and_hash(&d[68..]).ok_or(HsError::Auth)?;
        if p3.len() < 17 || p3.len() != 17 + usize::from(p3[16]) {
            return Err(HsError::Malformed);
        }
        let (i2r, r2i) = sym.split();
        Ok(Established {
            h: sym.h(),
            i2r,
            r2i,
            peer_sid: p.peer_sid,
            peer_static: s_i,
            peer_reset_token: p3[..16].try_into().expect("16"),
            peer_params: p3[17..].to_vec(),
            aead: AEAD_CHACHA,
        })
    }

    /// The derived keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }
}
