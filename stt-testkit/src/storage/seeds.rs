//! Seed inputs for `storage_read`: steps written in the byte layout `arbitrary`'s
//! derive reads (a `u32` tag choosing `(tag × variants) >> 32`, then each field in
//! order, integers little-endian), so the checked-in corpus starts from meaningful
//! exchanges instead of noise: valid sealed records, whole fetch exchanges over a
//! lossy network, lies, refusals, then truncated and mutated copies of them.
//!
//! The byte layout is `encode.rs`'s; `tests.rs` decodes every seed back and compares
//! it with the steps written here.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::encode::{Step, encode};
use super::{Damage, Op};
use stt_proto::frame::{ErrorCode, Frame, StorageData, StorageGet, StorageRefuse};
use stt_proto::storage::seal::NONCE_LEN;
use stt_proto::storage::{ContentHash, StorageKey};

use super::at_rest::pattern;

fn plain(op: Op) -> Step {
    (op, Vec::new())
}

/// A step whose `len` is set from its payload.
fn with(payload: Vec<u8>, make: impl FnOnce(u16) -> Op) -> Step {
    let len = u16::try_from(payload.len()).unwrap_or(u16::MAX);
    (make(len), payload)
}

/// Short forms of the steps the scenarios use most.
fn put_pattern(seed: u8, len: u16) -> Step {
    plain(Op::PutPattern { seed, len })
}
fn fetch(id: u8, object: u8, max_len: u16) -> Step {
    plain(Op::Fetch {
        id,
        object,
        max_len,
    })
}
fn request(id: u8, object: u8, max_len: u16) -> Step {
    plain(Op::Request {
        id,
        object,
        max_len,
    })
}
fn serve(id: u8, found: bool) -> Step {
    plain(Op::Serve { id, found })
}
fn piece(id: u8, offset: u16, len: u16, flip_at: u16, flip: u8) -> Step {
    plain(Op::Piece {
        id,
        offset,
        len,
        flip_at,
        flip,
    })
}
fn lie(id: u8, total: u32, offset: u32, len: u16, fill: u8) -> Step {
    plain(Op::Lie {
        id,
        total,
        offset,
        len,
        fill,
    })
}
fn send(max_len: u16, room: u16) -> Step {
    plain(Op::Send { max_len, room })
}
fn read_range(id: u8, offset: u64, len: u32, room: u16) -> Step {
    plain(Op::ReadRange {
        id,
        offset,
        len,
        room,
    })
}
fn ack_range(id: u8, offset: u16, len: u16, fin: bool) -> Step {
    plain(Op::AckRange {
        id,
        offset,
        len,
        fin,
    })
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
        steps.push(send(1200, 1400));
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
            put_pattern(7, big_len),
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
        put_pattern(3, 100),
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
            put_pattern(1, 13_000),
            put_pattern(2, 11_000),
            put_pattern(3, 11_000),
            put_pattern(4, 11_000),
            put_pattern(5, 11_000),
            plain(Op::Delete { object: 1 }),
            put_pattern(5, 11_000),
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
        put_pattern(7, big_len),
        fetch(1, 0, 60_000),
        request(1, 0, 0),
        serve(1, true),
    ];
    steps.extend(clean_transfer(5));
    out.push(("fetch-clean", steps));

    // The same over a bad network: tiny packets, losses, reordering, duplicates.
    let mut steps = alloc::vec![
        put_pattern(7, big_len),
        fetch(2, 0, 60_000),
        request(2, 0, 0),
        serve(2, true),
        send(1200, 20),
    ];
    for _ in 0..6 {
        steps.push(send(1000, 1400));
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
            put_pattern(7, big_len),
            fetch(3, 0, 60_000),
            piece(3, 2000, 3000, 0, 0),
            piece(3, 1000, 1500, 0, 0),
            piece(3, 0, 1000, 0, 0),
            fetch(4, 0, 60_000),
            piece(4, 0, 4000, 17, 1),
            piece(4, 0, 5000, 0, 0),
            fetch(5, 0, 100),
            piece(5, 0, 10, 0, 0),
            fetch(6, 0, 60_000),
            lie(6, 9, 0, 4, 1),
            lie(6, 10, 0, 4, 1),
            lie(7, 9, 8, 4, 1),
            plain(Op::FetchUnknown {
                id: 8,
                hash: [0x11; 32],
                max_len: 0
            }),
            lie(8, 0, 0, 0, 0),
        ],
    ));

    // Refusals and cancels on both sides; a damaged object is not served. Damage
    // names stored objects in hash order: pick the big one.
    let big_at = u8::from(ContentHash::of(&big) > ContentHash::of(&small));
    out.push((
        "fetch-refused",
        alloc::vec![
            with(small.clone(), |len| Op::Put { len }),
            put_pattern(7, big_len),
            plain(Op::Damage {
                object: big_at,
                damage: Damage::FlipBit { at: 50, bit: 0 }
            }),
            fetch(1, 1, 60_000),
            request(1, 0, 0),
            serve(1, true),
            fetch(2, 1, 60_000),
            request(2, 0, 0),
            serve(2, false),
            fetch(3, 0, 10),
            request(3, 0, 0),
            serve(3, true),
            fetch(4, 0, 60_000),
            plain(Op::Refuse { id: 4, code: 2 }),
            fetch(5, 0, 60_000),
            plain(Op::Refuse { id: 5, code: 7 }),
            fetch(6, 0, 60_000),
            request(6, 0, 0),
            serve(6, true),
            send(1200, 1400),
            plain(Op::CancelFetch { id: 6 }),
            plain(Op::Deliver { sent: 0 }),
            serve(6, true),
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
            put_pattern(7, 300),
            fetch(1, 0, 1000),
            fetch(2, 0, 1000),
            fetch(3, 0, 1000),
            with(wire.clone(), |len| Op::Frames { len }),
            with(wire[..wire.len() - 3].to_vec(), |len| Op::Frames { len }),
        ],
    ));

    // Arbitrary ranges of an answer, in and out of bounds, and arbitrary acks.
    out.push((
        "read-ranges",
        alloc::vec![
            put_pattern(7, big_len),
            request(1, 0, 60_000),
            serve(1, true),
            read_range(1, 0, 100, 200),
            read_range(1, 4900, 100, 200),
            read_range(1, 4950, 100, 200),
            read_range(1, u64::MAX - 10, 20, 200),
            read_range(1, 0, u32::MAX, 200),
            read_range(1, 0, 1000, 100),
            read_range(2, 0, 10, 200),
            send(2000, 2100),
            ack_range(1, 0, 3000, false),
            read_range(1, 10, 10, 200),
            ack_range(1, 0, 60_000, true),
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
