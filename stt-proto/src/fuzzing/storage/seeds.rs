//! Seed inputs for `storage_read`: steps written in the byte layout `arbitrary`'s
//! derive reads (a `u32` tag choosing `(tag × variants) >> 32`, then each field in
//! order, integers little-endian), so the checked-in corpus starts from meaningful
//! exchanges instead of noise: valid sealed records, whole fetch exchanges over a
//! lossy network, lies, refusals, then truncated and mutated copies of them.
//!
//! `tests.rs` decodes every seed back and compares it with the steps written here.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::{Damage, Op};
use crate::frame::{ErrorCode, Frame, StorageData, StorageGet, StorageRefuse};
use crate::storage::seal::NONCE_LEN;
use crate::storage::{ContentHash, StorageKey};

use super::at_rest::pattern;

/// Number of `Op` variants (the derive's tag divisor).
const OPS: u32 = 25;
/// Number of `Damage` variants.
const DAMAGES: u32 = 9;

/// Writes values as `arbitrary` reads them.
#[derive(Default)]
struct Enc(Vec<u8>);

impl Enc {
    fn tag(&mut self, i: u32, n: u32) {
        // The smallest tag t with (t × n) >> 32 == i.
        let t = ((u64::from(i) << 32) + u64::from(n) - 1) / u64::from(n);
        self.0.extend_from_slice(&(t as u32).to_le_bytes());
    }
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bool(&mut self, v: bool) {
        self.0.push(u8::from(v));
    }
    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }

    fn damage(&mut self, d: &Damage) {
        match d {
            Damage::FlipBit { at, bit } => {
                self.tag(0, DAMAGES);
                self.u16(*at);
                self.u8(*bit);
            }
            Damage::Truncate { to } => {
                self.tag(1, DAMAGES);
                self.u16(*to);
            }
            Damage::Extend { byte, count } => {
                self.tag(2, DAMAGES);
                self.u8(*byte);
                self.u8(*count);
            }
            Damage::Version(v) => {
                self.tag(3, DAMAGES);
                self.u8(*v);
            }
            Damage::SwapWith(o) => {
                self.tag(4, DAMAGES);
                self.u8(*o);
            }
            Damage::Reseal { nonce } => {
                self.tag(5, DAMAGES);
                self.u8(*nonce);
            }
            Damage::ResealWrong { nonce } => {
                self.tag(6, DAMAGES);
                self.u8(*nonce);
            }
            Damage::ForeignKey { nonce } => {
                self.tag(7, DAMAGES);
                self.u8(*nonce);
            }
            Damage::Restore => self.tag(8, DAMAGES),
        }
    }

    /// Writes `op`; its payload (if it takes one) must follow.
    fn op(&mut self, op: &Op) {
        match op {
            Op::Put { len } => {
                self.tag(0, OPS);
                self.u16(*len);
            }
            Op::PutPattern { seed, len } => {
                self.tag(1, OPS);
                self.u8(*seed);
                self.u16(*len);
            }
            Op::Get { object } => {
                self.tag(2, OPS);
                self.u8(*object);
            }
            Op::GetWrongKey { object } => {
                self.tag(3, OPS);
                self.u8(*object);
            }
            Op::GetUnknown { hash } => {
                self.tag(4, OPS);
                self.bytes(hash);
            }
            Op::Damage { object, damage } => {
                self.tag(5, OPS);
                self.u8(*object);
                self.damage(damage);
            }
            Op::Delete { object } => {
                self.tag(6, OPS);
                self.u8(*object);
            }
            Op::OpenRaw { target, len } => {
                self.tag(7, OPS);
                self.u8(*target);
                self.u16(*len);
            }
            Op::ParseHash { len } => {
                self.tag(8, OPS);
                self.u8(*len);
            }
            Op::Fetch {
                id,
                object,
                max_len,
            } => {
                self.tag(9, OPS);
                self.u8(*id);
                self.u8(*object);
                self.u16(*max_len);
            }
            Op::FetchUnknown { id, hash, max_len } => {
                self.tag(10, OPS);
                self.u8(*id);
                self.bytes(hash);
                self.u16(*max_len);
            }
            Op::Piece {
                id,
                offset,
                len,
                flip_at,
                flip,
            } => {
                self.tag(11, OPS);
                self.u8(*id);
                self.u16(*offset);
                self.u16(*len);
                self.u16(*flip_at);
                self.u8(*flip);
            }
            Op::Lie {
                id,
                total,
                offset,
                len,
                fill,
            } => {
                self.tag(12, OPS);
                self.u8(*id);
                self.u32(*total);
                self.u32(*offset);
                self.u16(*len);
                self.u8(*fill);
            }
            Op::Frames { len } => {
                self.tag(13, OPS);
                self.u16(*len);
            }
            Op::Refuse { id, code } => {
                self.tag(14, OPS);
                self.u8(*id);
                self.u8(*code);
            }
            Op::CancelFetch { id } => {
                self.tag(15, OPS);
                self.u8(*id);
            }
            Op::Request {
                id,
                object,
                max_len,
            } => {
                self.tag(16, OPS);
                self.u8(*id);
                self.u8(*object);
                self.u16(*max_len);
            }
            Op::Serve { id, found } => {
                self.tag(17, OPS);
                self.u8(*id);
                self.bool(*found);
            }
            Op::Send { max_len, room } => {
                self.tag(18, OPS);
                self.u16(*max_len);
                self.u16(*room);
            }
            Op::ReadRange {
                id,
                offset,
                len,
                room,
            } => {
                self.tag(19, OPS);
                self.u8(*id);
                self.u64(*offset);
                self.u32(*len);
                self.u16(*room);
            }
            Op::Deliver { sent } => {
                self.tag(20, OPS);
                self.u8(*sent);
            }
            Op::Ack { sent } => {
                self.tag(21, OPS);
                self.u8(*sent);
            }
            Op::Lost { sent } => {
                self.tag(22, OPS);
                self.u8(*sent);
            }
            Op::AckRange {
                id,
                offset,
                len,
                fin,
            } => {
                self.tag(23, OPS);
                self.u8(*id);
                self.u16(*offset);
                self.u16(*len);
                self.bool(*fin);
            }
            Op::PeerCancel { id } => {
                self.tag(24, OPS);
                self.u8(*id);
            }
        }
    }
}

/// A step and its payload.
pub(super) type Step = (Op, Vec<u8>);

fn plain(op: Op) -> Step {
    (op, Vec::new())
}

/// A step whose `len` is set from its payload.
fn with(payload: Vec<u8>, make: impl FnOnce(u16) -> Op) -> Step {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    (make(len), payload)
}

/// The bytes that make `storage_read` run `steps`.
pub(super) fn encode(steps: &[Step]) -> Vec<u8> {
    let mut e = Enc::default();
    for (op, payload) in steps {
        e.op(op);
        e.bytes(payload);
    }
    e.0
}

fn frame_bytes(frames: &[Frame<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for f in frames {
        let mut buf = alloc::vec![0u8; f.encoded_len().unwrap_or(0)];
        if f.encode(&mut buf).is_ok() {
            out.extend_from_slice(&buf);
        }
    }
    out
}

/// A sealed record of `content` as the oracle's store key writes it.
fn sealed(content: &[u8], nonce: u8) -> Vec<u8> {
    match StorageKey::from_node_seed(&[4; 32]) {
        Ok(k) => k.seal(&ContentHash::of(content), [nonce; NONCE_LEN], content),
        Err(_) => Vec::new(),
    }
}

/// Sending, delivering and acknowledging every piece of one answer, in order.
fn clean_transfer(pieces: u8) -> Vec<Step> {
    let mut steps = Vec::new();
    for _ in 0..pieces {
        steps.push(plain(Op::Send {
            max_len: 1200,
            room: 1400,
        }));
    }
    for i in 0..pieces {
        steps.push(plain(Op::Deliver { sent: i }));
        steps.push(plain(Op::Ack { sent: i }));
    }
    steps
}

/// The named seed scenarios, as steps.
pub(super) fn scenarios() -> Vec<(&'static str, Vec<Step>)> {
    let small = b"a small object kept at rest".to_vec();
    let big_len = 5000u16;
    let big = pattern(7, usize::from(big_len));
    let mut out = Vec::new();

    // Sealed records: put, read back, under the wrong key, deleted.
    out.push((
        "sealed-roundtrip",
        alloc::vec![
            with(small.clone(), |len| Op::Put { len }),
            plain(Op::PutPattern {
                seed: 7,
                len: big_len
            }),
            plain(Op::Get { object: 0 }),
            plain(Op::Get { object: 1 }),
            plain(Op::GetWrongKey { object: 0 }),
            plain(Op::GetUnknown { hash: [0xab; 32] }),
            plain(Op::Delete { object: 0 }),
            plain(Op::Get { object: 0 }),
            plain(Op::Delete { object: 0 }),
        ],
    ));

    // Every kind of damage at rest, each read, then repaired.
    let damages = [
        Damage::FlipBit { at: 30, bit: 3 },
        Damage::Truncate { to: 40 },
        Damage::Extend { byte: 0, count: 3 },
        Damage::Version(2),
        Damage::SwapWith(1),
        Damage::ResealWrong { nonce: 9 },
        Damage::ForeignKey { nonce: 9 },
        Damage::Reseal { nonce: 8 },
    ];
    let mut steps = alloc::vec![
        with(small.clone(), |len| Op::Put { len }),
        plain(Op::PutPattern { seed: 3, len: 100 }),
    ];
    for d in damages {
        steps.push(plain(Op::Damage {
            object: 0,
            damage: d,
        }));
        steps.push(plain(Op::Get { object: 0 }));
        steps.push(plain(Op::Damage {
            object: 0,
            damage: Damage::Restore,
        }));
        steps.push(plain(Op::Get { object: 0 }));
    }
    out.push(("sealed-damage", steps));

    // Size limits: too large, then full, then room again after a delete.
    out.push((
        "store-limits",
        alloc::vec![
            plain(Op::PutPattern {
                seed: 1,
                len: 13_000
            }),
            plain(Op::PutPattern {
                seed: 2,
                len: 11_000
            }),
            plain(Op::PutPattern {
                seed: 3,
                len: 11_000
            }),
            plain(Op::PutPattern {
                seed: 4,
                len: 11_000
            }),
            plain(Op::PutPattern {
                seed: 5,
                len: 11_000
            }),
            plain(Op::Delete { object: 1 }),
            plain(Op::PutPattern {
                seed: 5,
                len: 11_000
            }),
            plain(Op::Get { object: 2 }),
        ],
    ));

    // Raw sealed records: a valid one, then truncated, flipped and extended copies.
    let good = sealed(&small, 1);
    let mut flipped = good.clone();
    if let Some(b) = flipped.get_mut(30) {
        *b ^= 0x10;
    }
    let mut extended = good.clone();
    extended.push(0);
    out.push((
        "sealed-raw",
        alloc::vec![
            with(small.clone(), |len| Op::Put { len }),
            with(good.clone(), |len| Op::OpenRaw { target: 0, len }),
            with(good[..good.len() / 2].to_vec(), |len| Op::OpenRaw {
                target: 0,
                len
            }),
            with(good[..24].to_vec(), |len| Op::OpenRaw { target: 0, len }),
            with(flipped, |len| Op::OpenRaw { target: 0, len }),
            with(extended, |len| Op::OpenRaw { target: 0, len }),
            with(good, |len| Op::OpenRaw { target: 1, len }),
        ],
    ));

    // Hash names as the file store lists them.
    let hex = ContentHash::of(&small).to_string();
    let names = [
        hex.clone(),
        hex.to_uppercase(),
        String::from(&hex[..63]),
        alloc::format!("{hex}0"),
        alloc::format!("{}é", &hex[..62]),
    ];
    out.push((
        "hash-names",
        names
            .iter()
            .map(|n| {
                let p = n.as_bytes().to_vec();
                (Op::ParseHash { len: p.len() as u8 }, p)
            })
            .collect(),
    ));

    // A whole fetch over a clean network: 5000 bytes in five pieces.
    let mut steps = alloc::vec![
        plain(Op::PutPattern {
            seed: 7,
            len: big_len
        }),
        plain(Op::Fetch {
            id: 1,
            object: 0,
            max_len: 60_000
        }),
        plain(Op::Request {
            id: 1,
            object: 0,
            max_len: 0
        }),
        plain(Op::Serve { id: 1, found: true }),
    ];
    steps.extend(clean_transfer(5));
    out.push(("fetch-clean", steps));

    // The same over a bad network: tiny packets, losses, reordering, duplicates.
    let mut steps = alloc::vec![
        plain(Op::PutPattern {
            seed: 7,
            len: big_len
        }),
        plain(Op::Fetch {
            id: 2,
            object: 0,
            max_len: 60_000
        }),
        plain(Op::Request {
            id: 2,
            object: 0,
            max_len: 0
        }),
        plain(Op::Serve { id: 2, found: true }),
        plain(Op::Send {
            max_len: 1200,
            room: 20
        }),
    ];
    for _ in 0..6 {
        steps.push(plain(Op::Send {
            max_len: 1000,
            room: 1400,
        }));
    }
    for (op, i) in [
        (0, 2),
        (1, 2),
        (2, 0),
        (0, 4),
        (3, 0),
        (2, 3),
        (0, 1),
        (1, 1),
        (1, 4),
    ] {
        steps.push(plain(match op {
            0 => Op::Deliver { sent: i },
            1 => Op::Ack { sent: i },
            2 => Op::Lost { sent: i },
            _ => Op::Send {
                max_len: 700,
                room: 1400,
            },
        }));
    }
    out.push(("fetch-lossy", steps));

    // Pieces from a peer: honest and overlapping, then a corrupt byte, then lies.
    out.push((
        "fetch-pieces",
        alloc::vec![
            plain(Op::PutPattern {
                seed: 7,
                len: big_len
            }),
            plain(Op::Fetch {
                id: 3,
                object: 0,
                max_len: 60_000
            }),
            plain(Op::Piece {
                id: 3,
                offset: 2000,
                len: 3000,
                flip_at: 0,
                flip: 0
            }),
            plain(Op::Piece {
                id: 3,
                offset: 1000,
                len: 1500,
                flip_at: 0,
                flip: 0
            }),
            plain(Op::Piece {
                id: 3,
                offset: 0,
                len: 1000,
                flip_at: 0,
                flip: 0
            }),
            plain(Op::Fetch {
                id: 4,
                object: 0,
                max_len: 60_000
            }),
            plain(Op::Piece {
                id: 4,
                offset: 0,
                len: 4000,
                flip_at: 17,
                flip: 1
            }),
            plain(Op::Piece {
                id: 4,
                offset: 0,
                len: 5000,
                flip_at: 0,
                flip: 0
            }),
            plain(Op::Fetch {
                id: 5,
                object: 0,
                max_len: 100
            }),
            plain(Op::Piece {
                id: 5,
                offset: 0,
                len: 10,
                flip_at: 0,
                flip: 0
            }),
            plain(Op::Fetch {
                id: 6,
                object: 0,
                max_len: 60_000
            }),
            plain(Op::Lie {
                id: 6,
                total: 9,
                offset: 0,
                len: 4,
                fill: 1
            }),
            plain(Op::Lie {
                id: 6,
                total: 10,
                offset: 0,
                len: 4,
                fill: 1
            }),
            plain(Op::Lie {
                id: 7,
                total: 9,
                offset: 8,
                len: 4,
                fill: 1
            }),
            plain(Op::FetchUnknown {
                id: 8,
                hash: [0x11; 32],
                max_len: 0
            }),
            plain(Op::Lie {
                id: 8,
                total: 0,
                offset: 0,
                len: 0,
                fill: 0
            }),
        ],
    ));

    // Refusals and cancels on both sides; a damaged object is not served. Damage
    // names stored objects in hash order: pick the big one.
    let big_at = u8::from(ContentHash::of(&big) > ContentHash::of(&small));
    out.push((
        "fetch-refused",
        alloc::vec![
            with(small.clone(), |len| Op::Put { len }),
            plain(Op::PutPattern {
                seed: 7,
                len: big_len
            }),
            plain(Op::Damage {
                object: big_at,
                damage: Damage::FlipBit { at: 50, bit: 0 }
            }),
            plain(Op::Fetch {
                id: 1,
                object: 1,
                max_len: 60_000
            }),
            plain(Op::Request {
                id: 1,
                object: 0,
                max_len: 0
            }),
            plain(Op::Serve { id: 1, found: true }),
            plain(Op::Fetch {
                id: 2,
                object: 1,
                max_len: 60_000
            }),
            plain(Op::Request {
                id: 2,
                object: 0,
                max_len: 0
            }),
            plain(Op::Serve {
                id: 2,
                found: false
            }),
            plain(Op::Fetch {
                id: 3,
                object: 0,
                max_len: 10
            }),
            plain(Op::Request {
                id: 3,
                object: 0,
                max_len: 0
            }),
            plain(Op::Serve { id: 3, found: true }),
            plain(Op::Fetch {
                id: 4,
                object: 0,
                max_len: 60_000
            }),
            plain(Op::Refuse { id: 4, code: 2 }),
            plain(Op::Fetch {
                id: 5,
                object: 0,
                max_len: 60_000
            }),
            plain(Op::Refuse { id: 5, code: 7 }),
            plain(Op::Fetch {
                id: 6,
                object: 0,
                max_len: 60_000
            }),
            plain(Op::Request {
                id: 6,
                object: 0,
                max_len: 0
            }),
            plain(Op::Serve { id: 6, found: true }),
            plain(Op::Send {
                max_len: 1200,
                room: 1400
            }),
            plain(Op::CancelFetch { id: 6 }),
            plain(Op::Deliver { sent: 0 }),
            plain(Op::Serve { id: 6, found: true }),
            plain(Op::PeerCancel { id: 9 }),
        ],
    ));

    // Storage frames on the wire, whole and then cut short.
    let obj = pattern(7, 300);
    let h = ContentHash::of(&obj).0;
    let wire = frame_bytes(&[
        Frame::StorageGet(StorageGet {
            request_id: 9,
            max_len: 1000,
            hash: h,
        }),
        Frame::StorageData(StorageData {
            request_id: 1,
            total_len: 300,
            offset: 100,
            data: &obj[100..],
        }),
        Frame::StorageData(StorageData {
            request_id: 1,
            total_len: 300,
            offset: 0,
            data: &obj[..150],
        }),
        Frame::StorageRefuse(StorageRefuse {
            request_id: 2,
            code: ErrorCode::OBJECT_NOT_FOUND,
        }),
        Frame::StorageCancel { request_id: 9 },
        Frame::StorageData(StorageData {
            request_id: 3,
            total_len: 300,
            offset: 0,
            data: &obj[..10],
        }),
    ]);
    out.push((
        "frames-wire",
        alloc::vec![
            plain(Op::PutPattern { seed: 7, len: 300 }),
            plain(Op::Fetch {
                id: 1,
                object: 0,
                max_len: 1000
            }),
            plain(Op::Fetch {
                id: 2,
                object: 0,
                max_len: 1000
            }),
            plain(Op::Fetch {
                id: 3,
                object: 0,
                max_len: 1000
            }),
            with(wire.clone(), |len| Op::Frames { len }),
            with(wire[..wire.len() - 3].to_vec(), |len| Op::Frames { len }),
        ],
    ));

    // Arbitrary ranges of an answer, in and out of bounds, and arbitrary acks.
    out.push((
        "read-ranges",
        alloc::vec![
            plain(Op::PutPattern {
                seed: 7,
                len: big_len
            }),
            plain(Op::Request {
                id: 1,
                object: 0,
                max_len: 60_000
            }),
            plain(Op::Serve { id: 1, found: true }),
            plain(Op::ReadRange {
                id: 1,
                offset: 0,
                len: 100,
                room: 200
            }),
            plain(Op::ReadRange {
                id: 1,
                offset: 4900,
                len: 100,
                room: 200
            }),
            plain(Op::ReadRange {
                id: 1,
                offset: 4950,
                len: 100,
                room: 200
            }),
            plain(Op::ReadRange {
                id: 1,
                offset: u64::MAX - 10,
                len: 20,
                room: 200
            }),
            plain(Op::ReadRange {
                id: 1,
                offset: 0,
                len: u32::MAX,
                room: 200
            }),
            plain(Op::ReadRange {
                id: 1,
                offset: 0,
                len: 1000,
                room: 100
            }),
            plain(Op::ReadRange {
                id: 2,
                offset: 0,
                len: 10,
                room: 200
            }),
            plain(Op::Send {
                max_len: 2000,
                room: 2100
            }),
            plain(Op::AckRange {
                id: 1,
                offset: 0,
                len: 3000,
                fin: false
            }),
            plain(Op::ReadRange {
                id: 1,
                offset: 10,
                len: 10,
                room: 200
            }),
            plain(Op::AckRange {
                id: 1,
                offset: 0,
                len: 60_000,
                fin: true
            }),
        ],
    ));

    out
}

/// The seed corpus of the `storage_read` target, as (file name, bytes): each scenario,
/// then a truncated and a mutated copy of each.
pub fn storage_read_seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, steps) in scenarios() {
        let bytes = encode(&steps);
        let cut = bytes[..bytes.len() * 2 / 3].to_vec();
        let mut mutated = bytes.clone();
        for i in (7..mutated.len()).step_by(53) {
            mutated[i] = mutated[i].wrapping_mul(31).wrapping_add(7);
        }
        out.push((alloc::format!("seed-{name}"), bytes));
        out.push((alloc::format!("seed-{name}-truncated"), cut));
        out.push((alloc::format!("seed-{name}-mutated"), mutated));
    }
    out
}
