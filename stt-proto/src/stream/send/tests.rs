//! SendBuffer tests: edge cases, then a proptest that plays a lossy, reordering
//! network against the buffer and checks what a receiver would reconstruct.

use super::*;
use alloc::vec;
use alloc::vec::Vec;
use proptest::prelude::*;

fn buf_with(parts: &[&'static [u8]]) -> SendBuffer {
    let mut b = SendBuffer::new();
    for p in parts {
        b.write(Bytes::from_static(p)).unwrap();
    }
    b
}

fn c(offset: u64, len: usize, fin: bool) -> Chunk {
    Chunk { offset, len, fin }
}

#[test]
fn new_data_respects_max_len_and_max_offset() {
    let mut b = buf_with(&[b"hello", b" world"]);
    assert_eq!(b.written(), 11);
    assert!(b.has_pending());
    assert_eq!(b.next_chunk(4, u64::MAX), Some(c(0, 4, false)));
    assert_eq!(b.next_chunk(100, 6), Some(c(4, 2, false)));
    assert_eq!(b.next_chunk(100, 6), None); // flow control blocks
    assert!(b.has_pending());
    assert_eq!(b.next_chunk(0, u64::MAX), None);
    assert_eq!(b.next_chunk(100, u64::MAX), Some(c(6, 5, false)));
    assert_eq!(b.unsent_offset(), 11);
    assert!(!b.has_pending());
    assert_eq!(b.next_chunk(100, u64::MAX), None);
}

#[test]
fn copy_spans_segments_and_chunk_bytes_is_zero_copy() {
    let b = buf_with(&[b"ab", b"", b"cde", b"f"]);
    let mut out = [0u8; 8];
    b.copy_chunk(1, 4, &mut out).unwrap();
    assert_eq!(&out[..4], b"bcde");
    b.copy_chunk(0, 6, &mut out).unwrap();
    assert_eq!(&out[..6], b"abcdef");
    b.copy_chunk(6, 0, &mut out).unwrap();
    assert_eq!(b.chunk_bytes(2, 3).as_deref(), Some(&b"cde"[..]));
    assert_eq!(b.chunk_bytes(1, 2), None); // spans two segments
    assert_eq!(b.chunk_bytes(6, 0).as_deref(), Some(&b""[..]));
    assert!(matches!(
        b.copy_chunk(4, 3, &mut out),
        Err(SendBufferError::NotHeld { .. })
    ));
    assert!(matches!(
        b.copy_chunk(u64::MAX, 3, &mut out),
        Err(SendBufferError::NotHeld { .. })
    ));
    assert_eq!(
        b.copy_chunk(0, 6, &mut out[..3]),
        Err(SendBufferError::BufferTooSmall { need: 6, have: 3 })
    );
}

#[test]
fn acked_prefix_frees_segments_and_refuses_copies() {
    let mut b = buf_with(&[b"aaaa", b"bbbb", b"cccc"]);
    while b.next_chunk(3, u64::MAX).is_some() {}
    b.on_ack(4, 4, false); // out of order: held until the prefix arrives
    assert_eq!(b.segments.len(), 3);
    assert_eq!(b.unacked(), 12);
    b.on_ack(0, 3, false);
    assert_eq!(b.unacked(), 9);
    assert_eq!(b.segments.len(), 3);
    let mut out = [0u8; 4];
    assert!(b.copy_chunk(2, 1, &mut out).is_err());
    b.copy_chunk(3, 4, &mut out).unwrap();
    assert_eq!(&out, b"abbb");
    b.on_ack(3, 1, false); // joins 0..3 and 4..8
    assert_eq!(b.unacked(), 4);
    assert_eq!(b.segments.len(), 1);
    assert_eq!(b.chunk_bytes(8, 4).as_deref(), Some(&b"cccc"[..]));
    b.on_ack(9, 2, false);
    assert_eq!(b.segments.len(), 1);
    b.on_ack(8, 1, false);
    assert_eq!(b.unacked(), 1);
    assert_eq!(b.chunk_bytes(11, 1).as_deref(), Some(&b"c"[..]));
    // Duplicate and out-of-range acks change nothing and never panic.
    b.on_ack(0, 12, false);
    b.on_ack(u64::MAX, usize::MAX, false);
    b.on_ack(12, 100, false);
    assert_eq!(b.unacked(), 0);
    assert!(b.segments.is_empty());
    assert!(!b.is_fully_acked()); // not finished
}

#[test]
fn lost_ranges_go_first_ignore_max_offset_and_skip_acked() {
    let mut b = buf_with(&[b"0123456789"]);
    assert_eq!(b.next_chunk(10, u64::MAX), Some(c(0, 10, false)));
    b.on_ack(3, 2, false);
    b.on_lost(0, 10, false);
    assert_eq!(b.next_chunk(100, 0), Some(c(0, 3, false)));
    assert_eq!(b.next_chunk(2, 0), Some(c(5, 2, false)));
    // Spurious loss: the ack arrives after the range was queued again.
    b.on_ack(8, 2, false);
    assert_eq!(b.next_chunk(100, 0), Some(c(7, 1, false)));
    assert_eq!(b.next_chunk(100, u64::MAX), None);
    assert!(!b.has_pending());
    // Losses outside what was sent are ignored.
    b.on_lost(10, 5, false);
    b.on_lost(u64::MAX, usize::MAX, false);
    assert!(!b.has_pending());
}

#[test]
fn loss_of_a_merged_resend_skips_every_acked_hole() {
    let mut b = buf_with(&[b"aaaaabbbbbcccccddddd"]);
    for i in 0..4 {
        assert_eq!(b.next_chunk(5, u64::MAX), Some(c(i * 5, 5, false)));
    }
    for i in 0..4 {
        b.on_lost(i * 5, 5, false);
    }
    // The four losses merged: one resend covers them all.
    assert_eq!(b.next_chunk(100, 0), Some(c(0, 20, false)));
    // Two of the "lost" originals turn up after all.
    b.on_ack(5, 5, false);
    b.on_ack(15, 5, false);
    b.on_lost(0, 20, false);
    let got: Vec<_> = b.retransmit.iter().collect();
    assert_eq!(got, [0..5, 10..15]);
    assert_eq!(b.next_chunk(100, 0), Some(c(0, 5, false)));
    assert_eq!(b.next_chunk(100, 0), Some(c(10, 5, false)));
    assert_eq!(b.next_chunk(100, 0), None);
}

#[test]
fn fin_rides_on_last_chunk_or_alone() {
    let mut b = buf_with(&[b"abc"]);
    b.finish().unwrap();
    assert_eq!(
        b.write(Bytes::from_static(b"x")),
        Err(SendBufferError::Finished)
    );
    assert_eq!(b.next_chunk(2, u64::MAX), Some(c(0, 2, false)));
    assert_eq!(b.next_chunk(2, u64::MAX), Some(c(2, 1, true)));
    assert!(!b.has_pending());
    // The FIN is lost on its own: it goes out alone, even with no room for bytes.
    b.on_lost(3, 0, true);
    assert!(b.has_pending());
    assert_eq!(b.next_chunk(0, 0), Some(c(3, 0, true)));
    assert_eq!(b.next_chunk(0, 0), None);
    b.on_ack(0, 3, false);
    assert!(!b.is_fully_acked());
    b.on_ack(3, 0, true);
    assert!(b.is_fully_acked());
    // A FIN lost after it was acknowledged stays acknowledged.
    b.on_lost(2, 1, true);
    assert!(!b.has_pending());
    assert!(b.is_fully_acked());
}

#[test]
fn fin_waits_for_data_and_is_idempotent() {
    let mut b = buf_with(&[b"abcd"]);
    b.finish().unwrap();
    assert_eq!(b.next_chunk(0, u64::MAX), None); // data must go first
    assert_eq!(b.next_chunk(10, 2), Some(c(0, 2, false)));
    assert_eq!(b.next_chunk(10, 2), None); // blocked: no FIN alone either
    assert_eq!(b.next_chunk(10, 4), Some(c(2, 2, true)));
    b.finish().unwrap(); // must not re-arm the FIN
    assert!(!b.has_pending());
}

#[test]
fn empty_finished_stream() {
    let mut b = SendBuffer::new();
    b.write(Bytes::new()).unwrap();
    b.finish().unwrap();
    assert_eq!(b.next_chunk(100, 0), Some(c(0, 0, true)));
    assert_eq!(b.next_chunk(100, 0), None);
    b.on_ack(0, 0, true);
    assert!(b.is_fully_acked());
}

#[test]
fn retransmitted_end_carries_fin_again() {
    let mut b = buf_with(&[b"abcdef"]);
    b.finish().unwrap();
    assert_eq!(b.next_chunk(10, u64::MAX), Some(c(0, 6, true)));
    b.on_lost(0, 6, true);
    assert_eq!(b.next_chunk(4, u64::MAX), Some(c(0, 4, false)));
    assert_eq!(b.next_chunk(4, u64::MAX), Some(c(4, 2, true)));
    assert!(!b.has_pending());
}

#[test]
fn offset_limit_is_enforced() {
    let mut b = SendBuffer::new();
    b.written = varint::MAX - 1;
    b.unsent = b.written;
    b.acked_prefix = b.written;
    b.write(Bytes::from_static(b"a")).unwrap();
    assert_eq!(
        b.write(Bytes::from_static(b"b")),
        Err(SendBufferError::OffsetOverflow {
            offset: varint::MAX,
            len: 1
        })
    );
}

#[test]
fn reset_drops_everything_and_is_inert() {
    let mut b = buf_with(&[b"abcdef"]);
    b.finish().unwrap();
    b.next_chunk(4, u64::MAX).unwrap();
    b.on_lost(0, 4, false);
    b.reset();
    assert!(b.is_reset());
    assert!(!b.has_pending());
    assert_eq!(b.next_chunk(100, u64::MAX), None);
    assert_eq!(b.unacked(), 0);
    assert_eq!(b.unsent_offset(), 4); // the final size a reset reports
    assert!(b.segments.is_empty());
    let mut out = [0u8; 4];
    assert!(b.copy_chunk(0, 4, &mut out).is_err());
    assert_eq!(b.chunk_bytes(4, 0), None);
    b.on_ack(0, 4, true);
    b.on_lost(0, 4, true);
    assert!(!b.has_pending() && !b.is_fully_acked());
    assert_eq!(
        b.write(Bytes::from_static(b"x")),
        Err(SendBufferError::Reset)
    );
    assert_eq!(b.finish(), Err(SendBufferError::Reset));
}

/// One step of the simulated sender, network and application.
#[derive(Debug, Clone)]
enum Op {
    /// The application writes this many bytes.
    Write(usize),
    /// The application finishes the stream.
    Finish,
    /// The packet builder asks for a chunk.
    Send { max_len: usize, credit: u64 },
    /// The in-flight chunk at this index (modulo) is acknowledged.
    Ack(usize),
    /// The in-flight chunk at this index is declared lost; it may still arrive.
    Lose { idx: usize, delivered: bool },
    /// A timeout: every in-flight chunk is declared lost; bit i of the mask says
    /// whether chunk i was in fact delivered (and may be acknowledged late).
    LoseAll(u64),
    /// A chunk declared lost but delivered anyway is acknowledged late.
    LateAck(usize),
    /// A spurious loss report for an arbitrary range (possibly unsent or acked).
    LoseRange { offset: u64, len: usize, fin: bool },
}

fn op() -> impl Strategy<Value = Op> {
    // Small and large packets mixed: small chunks acknowledged late inside a large
    // merged resend are what exercise the hole-skipping paths.
    let max_len = prop_oneof![1usize..6, 0usize..40];
    prop_oneof![
        3 => (0usize..40).prop_map(Op::Write),
        1 => Just(Op::Finish),
        6 => (max_len, 0u64..64).prop_map(|(max_len, credit)| Op::Send { max_len, credit }),
        2 => any::<usize>().prop_map(Op::Ack),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(idx, delivered)| Op::Lose { idx, delivered }),
        1 => any::<u64>().prop_map(Op::LoseAll),
        3 => any::<usize>().prop_map(Op::LateAck),
        1 => (0u64..700, 0usize..200, any::<bool>())
            .prop_map(|(offset, len, fin)| Op::LoseRange { offset, len, fin }),
    ]
}

/// The simulated peer: bytes and FIN it has received.
#[derive(Default)]
struct Receiver {
    data: Vec<u8>,
    got: RangeSet,
    fin_at: Option<u64>,
}

impl Receiver {
    fn deliver(&mut self, chunk: Chunk, bytes: &[u8]) {
        let end = chunk.offset as usize + chunk.len;
        if self.data.len() < end {
            self.data.resize(end, 0);
        }
        self.data[chunk.offset as usize..end].copy_from_slice(bytes);
        self.got.insert(chunk.offset..end as u64);
        if chunk.fin {
            assert!(self.fin_at.is_none_or(|f| f == end as u64));
            self.fin_at = Some(end as u64);
        }
    }
}

struct Sim {
    b: SendBuffer,
    model: Vec<u8>,
    /// Highest max_offset granted so far: new bytes must stay below it.
    credit: u64,
    in_flight: Vec<(Chunk, Vec<u8>)>,
    late: Vec<(Chunk, Vec<u8>)>,
    rx: Receiver,
}

impl Sim {
    fn send(&mut self, max_len: usize, max_offset: u64) -> Result<bool, TestCaseError> {
        let unsent = self.b.unsent_offset();
        let retransmit_pending = !self.b.retransmit.is_empty();
        let Some(ch) = self.b.next_chunk(max_len, max_offset) else {
            return Ok(false);
        };
        let end = ch.offset + ch.len as u64;
        prop_assert!(ch.len <= max_len);
        prop_assert!(end <= self.b.written());
        prop_assert!(ch.len > 0 || ch.fin);
        if ch.fin {
            prop_assert_eq!(end, self.b.written());
            prop_assert!(self.b.is_finished());
        }
        if !retransmit_pending && ch.len > 0 {
            // New data continues exactly where the last left off, within credit.
            prop_assert_eq!(ch.offset, unsent);
            prop_assert!(end <= max_offset);
        }
        let mut bytes = vec![0xEE; ch.len + 3];
        self.b
            .copy_chunk(ch.offset, ch.len, &mut bytes)
            .map_err(|e| TestCaseError::fail(alloc::format!("{e}")))?;
        bytes.truncate(ch.len);
        prop_assert_eq!(&bytes[..], &self.model[ch.offset as usize..end as usize]);
        if let Some(z) = self.b.chunk_bytes(ch.offset, ch.len) {
            prop_assert_eq!(&z[..], &bytes[..]);
        }
        self.in_flight.push((ch, bytes));
        Ok(true)
    }

    fn ack(&mut self, ch: Chunk, bytes: Vec<u8>) {
        self.rx.deliver(ch, &bytes);
        self.b.on_ack(ch.offset, ch.len, ch.fin);
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let b = &self.b;
        prop_assert_eq!(b.unacked(), b.written() - b.acked_prefix);
        let held: u64 = b.segments.iter().map(|(_, s)| s.len() as u64).sum();
        prop_assert_eq!(held, b.unacked());
        prop_assert!(b.unsent_offset() <= b.written());
        if let Some(r) = b.retransmit.first_range() {
            prop_assert!(r.start >= b.acked_prefix);
        }
        if let Some(m) = b.retransmit.max() {
            prop_assert!(m < b.unsent_offset());
        }
        for r in b.retransmit.iter() {
            prop_assert!(b.acked.intersecting(r).next().is_none());
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]
    #[test]
    fn lossy_network_reconstructs_exactly(ops in proptest::collection::vec(op(), 0..120),
                                          seed in any::<u8>()) {
        let mut sim = Sim {
            b: SendBuffer::new(),
            model: Vec::new(),
            credit: 0,
            in_flight: Vec::new(),
            late: Vec::new(),
            rx: Receiver::default(),
        };
        let mut next_byte = seed;
        for op in ops {
            match op {
                Op::Write(n) => {
                    let data: Vec<u8> = (0..n)
                        .map(|_| {
                            next_byte = next_byte.wrapping_add(7);
                            next_byte
                        })
                        .collect();
                    let r = sim.b.write(Bytes::from(data.clone()));
                    if sim.b.is_finished() {
                        prop_assert_eq!(r, Err(SendBufferError::Finished));
                    } else {
                        prop_assert_eq!(r, Ok(()));
                        sim.model.extend_from_slice(&data);
                    }
                }
                Op::Finish => sim.b.finish().unwrap(),
                Op::Send { max_len, credit } => {
                    sim.credit += credit;
                    let limit = sim.credit;
                    sim.send(max_len, limit)?;
                }
                Op::Ack(i) if !sim.in_flight.is_empty() => {
                    let (ch, bytes) = sim.in_flight.swap_remove(i % sim.in_flight.len());
                    sim.ack(ch, bytes);
                }
                Op::Lose { idx, delivered } if !sim.in_flight.is_empty() => {
                    let (ch, bytes) = sim.in_flight.swap_remove(idx % sim.in_flight.len());
                    sim.b.on_lost(ch.offset, ch.len, ch.fin);
                    if delivered {
                        sim.late.push((ch, bytes));
                    }
                }
                Op::LoseAll(mask) => {
                    for (i, (ch, bytes)) in core::mem::take(&mut sim.in_flight).into_iter().enumerate() {
                        sim.b.on_lost(ch.offset, ch.len, ch.fin);
                        if mask >> (i % 64) & 1 == 1 {
                            sim.late.push((ch, bytes));
                        }
                    }
                }
                Op::LoseRange { offset, len, fin } => sim.b.on_lost(offset, len, fin),
                Op::LateAck(i) if !sim.late.is_empty() => {
                    let (ch, bytes) = sim.late.swap_remove(i % sim.late.len());
                    sim.ack(ch, bytes);
                }
                _ => {}
            }
            sim.check()?;
        }
        // Drain: the application finishes, the network turns reliable, and every
        // outstanding chunk is either acknowledged or lost and sent again.
        sim.b.finish().unwrap();
        let mut rounds = 0;
        while sim.b.has_pending() || !sim.in_flight.is_empty() {
            rounds += 1;
            prop_assert!(rounds < 10_000, "no progress");
            if !sim.send(17, u64::MAX)? {
                for (ch, bytes) in core::mem::take(&mut sim.in_flight) {
                    sim.ack(ch, bytes);
                }
            }
            sim.check()?;
        }
        prop_assert!(sim.b.is_fully_acked());
        prop_assert!(sim.b.segments.is_empty());
        prop_assert_eq!(sim.b.unacked(), 0);
        prop_assert_eq!(sim.b.written(), sim.model.len() as u64);
        prop_assert_eq!(&sim.rx.data, &sim.model);
        prop_assert_eq!(sim.rx.fin_at, Some(sim.model.len() as u64));
        if !sim.model.is_empty() {
            prop_assert!(sim.rx.got.covers(0..sim.model.len() as u64));
            prop_assert_eq!(sim.rx.got.len(), 1);
        }
        // Nothing is pending once all is acknowledged, whatever the late traffic says.
        for (ch, _) in sim.late.drain(..) {
            sim.b.on_lost(ch.offset, ch.len, ch.fin);
        }
        prop_assert!(!sim.b.has_pending());
        prop_assert!(sim.b.is_fully_acked());
    }
}
