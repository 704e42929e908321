//! Loopback UDP goodput of the two adapters, in one process run: each round moves
//! `STT_GOODPUT_MIB` MiB (default 256) on one stream from a node to another node of the
//! same adapter, tokio then smol, and prints MB/s (10^6 bytes per second, payload only,
//! from opening the stream to the receiver reading its last byte).
//!
//! ```text
//! SMOL_THREADS=2 cargo bench -p stt-tests --bench goodput
//! ```
//!
//! tokio runs 2 worker threads; smol's global executor runs `SMOL_THREADS` (default 1).
//! Before the rounds, the same run prints the raw seal+open rate, on one core, of the
//! AEAD a session negotiates (default provider) at 1400 bytes: the ceiling the goodput
//! is compared with.

use std::time::{Duration, Instant};

use futures_util::future::join;
use smol::future::FutureExt;
use stt_adapter::{Node, Runtime};
use stt_proto::crypto::{Aead, AeadSet, default_provider};
use stt_tests::adapters::{Reader, Writer, udp_node};

const ROUNDS: usize = 5;
const LIMIT: Duration = Duration::from_secs(300);

/// Moves `len` bytes from `a` to `b` on one uni stream; returns the time it took.
async fn transfer<R: Runtime>(a: &Node<R>, b: &Node<R>, len: usize) -> Duration
where
    R::SendStream: Writer,
    R::RecvStream: Reader,
{
    let addr = b.udp_addrs()[0];
    let (sender, receiver) = join(a.connect(addr), b.accept()).await;
    let (sender, receiver) = (sender.expect("connect"), receiver.expect("inbound session"));
    let chunk: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let start = Instant::now();
    let (_, got) = join(
        async {
            let mut w = sender.open_uni().await.expect("open");
            for _ in 0..len / chunk.len() {
                w.put(&chunk).await.expect("write");
            }
            w.fin().await.expect("finish");
        },
        async {
            let mut r = receiver.accept_uni().await.expect("accept");
            let mut buf = vec![0u8; 1 << 16];
            let mut n = 0;
            loop {
                match r.get(&mut buf).await.expect("read") {
                    0 => return n,
                    k => n += k,
                }
            }
        },
    )
    .await;
    let took = start.elapsed();
    assert_eq!(got, len, "short transfer");
    sender.close(0, b"");
    took
}

/// Seals and opens a 1400-byte packet in place for about a second on this thread with
/// the AEAD sessions prefer; returns (provider and AEAD name, MB/s of payload).
fn raw_aead_rate() -> (String, f64) {
    let provider = default_provider();
    let aead = if AeadSet::preferred(provider).contains(Aead::Aes256Gcm) {
        Aead::Aes256Gcm
    } else {
        Aead::ChaCha20Poly1305
    };
    let key = provider.packet_key(aead, &[7u8; 32]).expect("packet key");
    let mut buf = vec![0u8; 1400];
    let ad = [1u8; 20];
    let mut pn = 0u64;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..1024 {
            pn += 1;
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&pn.to_be_bytes());
            let tag = key.seal_in_place(&nonce, &ad, &mut buf).expect("seal");
            key.open_in_place(&nonce, &ad, &mut buf, &tag)
                .expect("open");
        }
    }
    let took = start.elapsed();
    (
        format!("{} {aead:?}", provider.name()),
        mb_per_s(pn as usize * buf.len(), took),
    )
}

fn mb_per_s(len: usize, took: Duration) -> f64 {
    len as f64 / took.as_secs_f64() / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mib: usize = std::env::var("STT_GOODPUT_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let len = mib << 20;
    let lo = "127.0.0.1:0".parse().expect("address");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let (ta, tb) = rt.block_on(async {
        let a = udp_node::<stt_tokio::Tokio>(1, lo).await;
        (a, udp_node::<stt_tokio::Tokio>(2, lo).await)
    });
    let (sa, sb) = smol::block_on(async {
        let a = udp_node::<stt_smol::Smol>(1, lo).await;
        (a, udp_node::<stt_smol::Smol>(2, lo).await)
    });
    let (aead, aead_rate) = raw_aead_rate();
    println!("raw AEAD seal+open at 1400 bytes, one core ({aead}): {aead_rate:8.1} MB/s");
    println!(
        "goodput over loopback UDP, {mib} MiB per round, {ROUNDS} rounds; tokio 2 workers, \
         SMOL_THREADS={}",
        std::env::var("SMOL_THREADS").unwrap_or_else(|_| "unset (1)".into())
    );
    let (mut tokio_rates, mut smol_rates) = (Vec::new(), Vec::new());
    for round in 1..=ROUNDS {
        let took = rt.block_on(async {
            tokio::time::timeout(LIMIT, transfer(&ta, &tb, len))
                .await
                .expect("tokio round timed out")
        });
        tokio_rates.push(mb_per_s(len, took));
        let took = smol::block_on(transfer(&sa, &sb, len).or(async {
            smol::Timer::after(LIMIT).await;
            panic!("smol round timed out")
        }));
        smol_rates.push(mb_per_s(len, took));
        println!(
            "round {round}: stt-tokio {:8.1} MB/s   stt-smol {:8.1} MB/s",
            tokio_rates[round - 1],
            smol_rates[round - 1]
        );
    }
    println!(
        "median:  stt-tokio {:8.1} MB/s   stt-smol {:8.1} MB/s",
        median(tokio_rates),
        median(smol_rates)
    );
}
