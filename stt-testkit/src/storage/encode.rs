//! The seed encoder of `storage_read`: writes steps in the byte layout `arbitrary`'s
//! derive reads (a `u32` tag choosing variant `(tag × variants) >> 32`, then each field
//! in order, integers little-endian), each step followed by its payload. `tests.rs`
//! decodes what it writes and compares.

use alloc::vec::Vec;

use super::{Damage, Op};

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
        let t = (u64::from(i) << 32).div_ceil(u64::from(n));
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

/// The bytes that make `storage_read` run `steps`.
pub(super) fn encode(steps: &[Step]) -> Vec<u8> {
    let mut e = Enc::default();
    for (op, payload) in steps {
        e.op(op);
        e.bytes(payload);
    }
    e.0
}
