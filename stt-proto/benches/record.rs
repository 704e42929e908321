//! Record layer: seal + open of a 1400-byte packet through `PacketProtection`, against the
//! raw AEAD of the same provider (same key, same buffer). Target: the record layer with the
//! fast provider within 15% of its raw AEAD rate (issue #3).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stt_proto::Instant;
use stt_proto::crypto::{Aead, CryptoProvider, PacketProtection, RUST_CRYPTO};
use stt_proto::frame::{HEADER_LEN, PacketType, SessionId, StreamId};

const PAYLOAD: usize = 1400;

fn providers() -> Vec<&'static dyn CryptoProvider> {
    #[allow(unused_mut)]
    let mut v: Vec<&'static dyn CryptoProvider> = vec![&RUST_CRYPTO];
    #[cfg(feature = "ring")]
    v.push(&stt_proto::crypto::RING);
    v
}

fn record(c: &mut Criterion) {
    let mut g = c.benchmark_group("seal_open_1400");
    g.throughput(Throughput::Bytes(PAYLOAD as u64));
    for p in providers() {
        for (aead, name) in [
            (Aead::ChaCha20Poly1305, "chacha20poly1305"),
            (Aead::Aes256Gcm, "aes256gcm"),
        ] {
            let key = p.packet_key(aead, &[7; 32]).unwrap();
            let mut buf = vec![0xa5u8; PAYLOAD];
            let ad = [0u8; HEADER_LEN];
            let mut n = 0u64;
            g.bench_function(format!("{}/{name}/raw", p.name()), |b| {
                b.iter(|| {
                    n += 1;
                    let mut nonce = [0u8; 12];
                    nonce[4..].copy_from_slice(&n.to_be_bytes());
                    let tag = key.seal_in_place(&nonce, &ad, &mut buf).unwrap();
                    key.open_in_place(&nonce, &ad, &mut buf, &tag).unwrap();
                })
            });
            let mut tx = PacketProtection::from_secrets(p, aead, &[1; 32], &[2; 32], true).unwrap();
            let mut rx = PacketProtection::from_secrets(p, aead, &[2; 32], &[1; 32], true).unwrap();
            let mut pkt = vec![0u8; HEADER_LEN + PAYLOAD + 16];
            g.bench_function(format!("{}/{name}/record", p.name()), |b| {
                b.iter(|| {
                    let s = tx
                        .seal(
                            PacketType::Data,
                            SessionId(9),
                            StreamId(4),
                            &mut pkt,
                            PAYLOAD,
                        )
                        .unwrap();
                    let o = rx.open(Instant::ZERO, &mut pkt[..s.len]).unwrap();
                    assert_eq!(o.payload.len(), PAYLOAD);
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, record);
criterion_main!(benches);
