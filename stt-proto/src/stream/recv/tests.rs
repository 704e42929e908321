//! RecvBuffer tests: edge cases, then proptests that shred a byte string into
//! overlapping, duplicated, reordered pieces and check it reads back exactly once.

use super::*;
use crate::range_set::RangeSet;
use alloc::vec::Vec;
use proptest::prelude::*;

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

fn read_all(r: &mut RecvBuffer, max: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(x) = r.read(max) {
        assert!(!x.is_empty() && x.len() <= max);
        out.extend_from_slice(&x);
    }
    out
}

#[test]
fn in_order_and_out_of_order() {
    let mut r = RecvBuffer::new();
    assert_eq!(r.insert(3, b("def"), false), Ok(3));
    assert!(!r.has_readable());
    assert_eq!(r.read(10), None);
    assert_eq!(r.highest_received(), 6);
    assert_eq!(r.insert(0, b("abc"), false), Ok(3));
    assert!(r.has_readable());
    assert_eq!(r.buffered(), 6);
    assert_eq!(r.read(0), None);
    assert_eq!(r.read(2).as_deref(), Some(&b"ab"[..]));
    assert_eq!(r.read(10).as_deref(), Some(&b"c"[..]));
    assert_eq!(r.read(10).as_deref(), Some(&b"def"[..]));
    assert_eq!(r.read_offset(), 6);
    assert_eq!(r.buffered(), 0);
    assert!(!r.is_finished());
}

#[test]
fn overlaps_are_trimmed_and_never_delivered_twice() {
    let mut r = RecvBuffer::new();
    assert_eq!(r.insert(2, b("cd"), false), Ok(2));
    assert_eq!(r.insert(6, b("gh"), false), Ok(2));
    // Covers both stored pieces and the gaps around them.
    assert_eq!(r.insert(0, b("abcdefghij"), false), Ok(6));
    assert_eq!(r.buffered(), 10);
    assert_eq!(r.insert(0, b("abcdefghij"), false), Ok(0));
    assert_eq!(r.insert(4, b("ef"), false), Ok(0));
    assert_eq!(r.buffered(), 10);
    assert_eq!(read_all(&mut r, 3), b"abcdefghij");
    // Already-read data is dropped; only the tail past it is new.
    assert_eq!(r.insert(8, b("ijkl"), false), Ok(2));
    assert_eq!(r.buffered(), 2);
    assert_eq!(read_all(&mut r, 100), b"kl");
}

#[test]
fn duplicates_do_not_grow_memory() {
    let mut r = RecvBuffer::new();
    r.insert(10, b("xxxx"), false).unwrap();
    for _ in 0..1000 {
        assert_eq!(r.insert(10, b("xxxx"), false), Ok(0));
        assert_eq!(r.insert(11, b("xx"), false), Ok(0));
    }
    assert_eq!(r.segments.len(), 1);
    assert_eq!(r.buffered(), 4);
}

#[test]
fn fin_sets_final_size_and_finishes() {
    let mut r = RecvBuffer::new();
    assert_eq!(r.insert(3, b("de"), true), Ok(2));
    assert_eq!(r.final_size(), Some(5));
    assert_eq!(r.insert(0, b("abc"), false), Ok(3));
    assert_eq!(r.insert(5, Bytes::new(), true), Ok(0)); // same FIN again, alone
    assert_eq!(read_all(&mut r, 4), b"abcde");
    assert!(r.is_finished());
    assert_eq!(r.insert(0, b("abcde"), true), Ok(0));
}

#[test]
fn empty_stream_finishes_at_zero() {
    let mut r = RecvBuffer::new();
    assert!(!r.is_finished());
    assert_eq!(r.insert(0, Bytes::new(), true), Ok(0));
    assert!(r.is_finished());
    assert_eq!(r.read(10), None);
}

#[test]
fn final_size_violations() {
    let mut r = RecvBuffer::new();
    r.insert(0, b("abcdef"), false).unwrap();
    // A FIN below data already received.
    assert_eq!(
        r.insert(0, b("abc"), true),
        Err(RecvError::FinalSize {
            final_size: 3,
            end: 6
        })
    );
    assert_eq!(r.final_size(), None);
    r.insert(6, b("g"), true).unwrap();
    // Data past the final size, and a different final size.
    assert_eq!(
        r.insert(6, b("gh"), false),
        Err(RecvError::FinalSize {
            final_size: 7,
            end: 8
        })
    );
    assert_eq!(
        r.insert(0, b("ab"), true),
        Err(RecvError::FinalSize {
            final_size: 7,
            end: 2
        })
    );
    assert_eq!(
        r.insert(100, Bytes::new(), false),
        Err(RecvError::FinalSize {
            final_size: 7,
            end: 100
        })
    );
    // Errors leave the buffer as it was.
    assert_eq!(r.highest_received(), 7);
    assert_eq!(read_all(&mut r, 100), b"abcdefg");
    assert!(r.is_finished());
}

#[test]
fn offsets_past_u62_are_refused() {
    let mut r = RecvBuffer::new();
    assert_eq!(
        r.insert(varint::MAX, b("a"), false),
        Err(RecvError::OffsetOverflow {
            offset: varint::MAX,
            len: 1
        })
    );
    assert!(matches!(
        r.insert(u64::MAX, b("a"), true),
        Err(RecvError::OffsetOverflow { .. })
    ));
    assert_eq!(r.insert(varint::MAX - 1, b("a"), false), Ok(1));
    assert_eq!(r.insert(varint::MAX, Bytes::new(), true), Ok(0));
    assert_eq!(r.final_size(), Some(varint::MAX));
}

#[test]
fn reads_are_zero_copy_slices() {
    let data = Bytes::from(alloc::vec![7u8; 64]);
    let mut r = RecvBuffer::new();
    r.insert(0, data.slice(0..64), false).unwrap();
    let head = r.read(10).unwrap();
    assert_eq!(head.as_ptr(), data.as_ptr());
    let rest = r.read(100).unwrap();
    assert_eq!(rest.as_ptr(), data[10..].as_ptr());
}

/// A byte string and pieces of it (start, end) that cover it, duplicated and
/// overlapping, in random order; plus a read size after each insert.
fn shredded() -> impl Strategy<Value = (Vec<u8>, Vec<(usize, usize, usize)>)> {
    proptest::collection::vec(any::<u8>(), 0..200).prop_flat_map(|data| {
        let n = data.len();
        let cuts = proptest::collection::vec(0..=n, 0..12);
        let extras = proptest::collection::vec((0..=n, 0..=n), 0..12);
        (Just(data), cuts, extras).prop_flat_map(move |(data, mut cuts, extras)| {
            cuts.push(0);
            cuts.push(n);
            cuts.sort_unstable();
            let mut pieces: Vec<(usize, usize)> = cuts.windows(2).map(|w| (w[0], w[1])).collect();
            pieces.extend(extras.into_iter().map(|(a, b)| (a.min(b), a.max(b))));
            let len = pieces.len();
            (
                Just(data),
                Just(pieces).prop_shuffle(),
                proptest::collection::vec(0usize..40, len),
            )
                .prop_map(|(data, pieces, reads)| {
                    let ops = pieces
                        .into_iter()
                        .zip(reads)
                        .map(|((a, b), r)| (a, b, r))
                        .collect();
                    (data, ops)
                })
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn shredded_stream_reads_back_once((data, ops) in shredded()) {
        let n = data.len() as u64;
        let src = Bytes::from(data.clone());
        let mut r = RecvBuffer::new();
        let mut seen = RangeSet::new();
        let mut out = Vec::new();
        for (a, b, read) in ops {
            let fin = b as u64 == n;
            let new = r.insert(a as u64, src.slice(a..b), fin).unwrap();
            // Exactly the bytes neither seen before nor already read are new.
            let before: u64 = seen.iter().map(|x| x.end - x.start).sum();
            seen.insert(a as u64..b as u64);
            let after: u64 = seen.iter().map(|x| x.end - x.start).sum();
            prop_assert_eq!(new as u64, after - before);
            if let Some(x) = r.read(read) {
                prop_assert!(x.len() <= read);
                out.extend_from_slice(&x);
            }
            // Memory held is exactly the distinct received bytes not yet read.
            let unread: u64 = seen
                .intersecting(r.read_offset()..u64::MAX)
                .map(|x| x.end - x.start)
                .sum();
            prop_assert_eq!(r.buffered(), unread);
            let stored: u64 = r.segments.values().map(|s| s.len() as u64).sum::<u64>()
                + r.ready.iter().map(|s| s.len() as u64).sum::<u64>();
            prop_assert_eq!(r.ready_len, r.ready.iter().map(|s| s.len() as u64).sum::<u64>());
            prop_assert_eq!(stored, unread);
            prop_assert_eq!(r.read_offset(), out.len() as u64);
        }
        while let Some(x) = r.read(7) {
            out.extend_from_slice(&x);
        }
        prop_assert_eq!(&out, &data);
        prop_assert_eq!(r.final_size(), Some(n));
        prop_assert!(r.is_finished());
        prop_assert_eq!(r.buffered(), 0);
        prop_assert!(r.segments.is_empty() && r.ready.is_empty());
        prop_assert_eq!(r.highest_received(), n);
        // Replaying any piece now adds nothing and delivers nothing.
        prop_assert_eq!(r.insert(0, src.clone(), true), Ok(0));
        prop_assert_eq!(r.read(usize::MAX), None);
    }

    #[test]
    fn conflicting_final_sizes_error(len in 0u64..100, other in 0u64..100, first_fin in any::<bool>()) {
        let mut r = RecvBuffer::new();
        let data = Bytes::from(alloc::vec![1u8; len as usize]);
        if first_fin {
            r.insert(0, data, true).unwrap();
            let res = r.insert(other, Bytes::new(), true);
            if other == len {
                prop_assert_eq!(res, Ok(0));
            } else {
                prop_assert_eq!(res, Err(RecvError::FinalSize { final_size: len, end: other }));
            }
            let res = r.insert(other, Bytes::from_static(b"z"), false);
            if other < len {
                prop_assert!(res.is_ok());
            } else {
                let refused = matches!(res, Err(RecvError::FinalSize { .. }));
                prop_assert!(refused);
            }
        } else {
            // Data first, then a FIN that is too early is refused.
            r.insert(0, data, false).unwrap();
            let res = r.insert(other, Bytes::new(), true);
            prop_assert_eq!(res.is_ok(), other >= len);
            prop_assert_eq!(r.final_size(), res.ok().map(|_| other));
        }
    }
}
