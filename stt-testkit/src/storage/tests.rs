//! Tests of the storage oracle itself: the seed encoder writes what `arbitrary` reads,
//! and each seed reaches the outcomes it was written for.

use alloc::vec;

use super::encode::{Step, encode};
use super::seeds::scenarios;
use super::{Damage, Op, decode_steps, storage_read, storage_read_seeds, storage_read_stats};

/// One step of every kind, each field away from zero.
fn every_op() -> alloc::vec::Vec<Step> {
    let damages = [
        Damage::FlipBit { at: 300, bit: 5 },
        Damage::Truncate { to: 9 },
        Damage::Extend { byte: 3, count: 4 },
        Damage::Version(7),
        Damage::SwapWith(2),
        Damage::Reseal { nonce: 1 },
        Damage::ResealWrong { nonce: 2 },
        Damage::ForeignKey { nonce: 3 },
        Damage::Restore,
    ];
    let mut steps = vec![
        (Op::Put { len: 3 }, vec![1, 2, 3]),
        (Op::PutPattern { seed: 9, len: 700 }, vec![]),
        (Op::Get { object: 4 }, vec![]),
        (Op::GetWrongKey { object: 5 }, vec![]),
        (Op::GetUnknown { hash: [6; 32] }, vec![]),
        (Op::Delete { object: 7 }, vec![]),
        (Op::OpenRaw { target: 8, len: 2 }, vec![9, 9]),
        (Op::ParseHash { len: 1 }, vec![b'a']),
        (
            Op::Fetch {
                id: 1,
                object: 2,
                max_len: 3000,
            },
            vec![],
        ),
        (
            Op::FetchUnknown {
                id: 3,
                hash: [4; 32],
                max_len: 5,
            },
            vec![],
        ),
        (
            Op::Piece {
                id: 1,
                offset: 2,
                len: 3,
                flip_at: 4,
                flip: 5,
            },
            vec![],
        ),
        (
            Op::Lie {
                id: 1,
                total: 70_000,
                offset: 80_000,
                len: 9,
                fill: 10,
            },
            vec![],
        ),
        (Op::Frames { len: 2 }, vec![0x62, 0x01]),
        (Op::Refuse { id: 11, code: 12 }, vec![]),
        (Op::CancelFetch { id: 13 }, vec![]),
        (
            Op::Request {
                id: 14,
                object: 15,
                max_len: 1600,
            },
            vec![],
        ),
        (
            Op::Serve {
                id: 17,
                found: true,
            },
            vec![],
        ),
        (
            Op::Send {
                max_len: 1800,
                room: 1900,
            },
            vec![],
        ),
        (
            Op::ReadRange {
                id: 2,
                offset: 1 << 40,
                len: 1 << 20,
                room: 3,
            },
            vec![],
        ),
        (Op::Deliver { sent: 20 }, vec![]),
        (Op::Ack { sent: 21 }, vec![]),
        (Op::Lost { sent: 22 }, vec![]),
        (
            Op::AckRange {
                id: 23,
                offset: 24,
                len: 25,
                fin: true,
            },
            vec![],
        ),
        (Op::PeerCancel { id: 26 }, vec![]),
    ];
    for damage in damages {
        steps.push((Op::Damage { object: 1, damage }, vec![]));
    }
    steps
}

#[test]
fn the_seed_encoder_writes_what_arbitrary_reads() {
    let steps = every_op();
    assert_eq!(decode_steps(&encode(&steps)), steps);
    for (name, steps) in scenarios() {
        assert_eq!(decode_steps(&encode(&steps)), steps, "scenario {name}");
    }
}

#[test]
fn seeds_reach_the_outcomes_they_were_written_for() {
    let stats = |name: &str| {
        let (_, steps) = scenarios()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no scenario {name}"));
        storage_read_stats(&encode(&steps))
    };
    let s = stats("sealed-roundtrip");
    assert_eq!((s.sound_reads, s.corrupt_reads), (3, 0));
    // Seven kinds of damage are each caught; the eight repairs and the reseal read back.
    let s = stats("sealed-damage");
    assert_eq!((s.sound_reads, s.corrupt_reads), (9, 7));
    assert_eq!(
        stats("sealed-raw").raw_opened,
        1,
        "only the intact record opens"
    );
    let s = stats("fetch-clean");
    assert_eq!((s.fetched, s.pieces, s.serves_finished), (1, 5, 1));
    let s = stats("fetch-lossy");
    assert_eq!((s.fetched, s.serves_finished), (1, 1));
    assert!(s.pieces > 5, "lost pieces are sent again");
    let s = stats("fetch-pieces");
    assert_eq!((s.fetched, s.hash_mismatches, s.bad_responses), (1, 2, 2));
    let s = stats("fetch-refused");
    assert_eq!((s.refused, s.fetched), (5, 0));
    let s = stats("frames-wire");
    assert_eq!((s.fetched, s.refused), (1, 1));
    let s = stats("read-ranges");
    assert_eq!((s.ranges_read, s.pieces, s.serves_finished), (2, 4, 1));
}

#[test]
fn every_seed_and_pseudo_random_input_passes() {
    for (name, bytes) in storage_read_seeds() {
        storage_read(&bytes);
        assert!(!bytes.is_empty(), "{name} is empty");
    }
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..200 {
        let input: alloc::vec::Vec<u8> = (0..64 + i * 13)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        storage_read(&input);
    }
}
