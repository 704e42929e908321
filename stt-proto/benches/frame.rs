//! Criterion benchmarks of the frame codec: header encode/decode and a full-size DATA
//! packet (20-byte header + one DATA frame of 1400 bytes) encode/decode.
//!
//! Decode of DATA borrows the payload from the packet, so it must not allocate; the
//! proof of that is `tests/no_alloc.rs`, not this file. Run with
//! `cargo bench -p stt-proto --bench frame`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stt_proto::frame::{
    DataFrame, Flags, Frame, Frames, HEADER_LEN, Header, PacketType, SessionId, StreamId,
};

const PAYLOAD: usize = 1400;

fn sample_header() -> Header {
    Header {
        packet_type: PacketType::Data,
        session_id: SessionId(0x0123_4567_89ab_cdef),
        stream_id: StreamId(4),
        sequence: 7,
        flags: Flags::new(false),
    }
}

/// Writes header + one DATA frame into `buf`, returning the packet length.
fn encode_data_packet(header: &Header, data: &[u8], buf: &mut [u8]) -> usize {
    let n = header.encode(buf).expect("header fits");
    let frame = Frame::Data(DataFrame {
        offset: 1 << 20,
        fin: false,
        data,
    });
    n + frame.encode(&mut buf[n..]).expect("frame fits")
}

fn header(c: &mut Criterion) {
    let h = sample_header();
    let bytes = h.to_bytes();
    let mut g = c.benchmark_group("header");
    g.throughput(Throughput::Bytes(HEADER_LEN as u64));
    g.bench_function("encode", |b| {
        let mut buf = [0u8; HEADER_LEN];
        b.iter(|| black_box(black_box(&h).encode(&mut buf)))
    });
    g.bench_function("decode", |b| {
        b.iter(|| black_box(Header::decode(black_box(&bytes[..]))))
    });
    g.finish();
}

fn data_packet(c: &mut Criterion) {
    let h = sample_header();
    let data = vec![0x5au8; PAYLOAD];
    let mut packet = vec![0u8; 1472];
    let len = encode_data_packet(&h, &data, &mut packet);
    packet.truncate(len);
    let mut g = c.benchmark_group("data_packet_1400");
    g.throughput(Throughput::Bytes(len as u64));
    g.bench_function("encode", |b| {
        let mut buf = vec![0u8; 1472];
        b.iter(|| {
            black_box(encode_data_packet(
                black_box(&h),
                black_box(&data),
                &mut buf,
            ))
        })
    });
    g.bench_function("decode", |b| {
        b.iter(|| {
            let bytes = black_box(&packet[..]);
            let header = Header::decode(bytes).expect("valid header");
            // Touch the borrowed payload (first and last byte) so the slice is real.
            let mut touched = 0usize;
            for frame in Frames::new(&bytes[HEADER_LEN..]) {
                if let Ok(Frame::Data(d)) = frame {
                    touched += d.data.len()
                        + usize::from(d.data[0])
                        + usize::from(d.data[d.data.len() - 1]);
                }
            }
            black_box((header, touched))
        })
    });
    g.finish();
}

criterion_group!(benches, header, data_packet);
criterion_main!(benches);
