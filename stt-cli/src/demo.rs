//! `stt demo`: two nodes on 127.0.0.1 in one process, each on its own thread and
//! runtime; handshake, bulk data over several streams, a datagram burst, SHA3-256
//! verification of every stream, and a summary table. Needs no files or flags.

use std::net::SocketAddr;
use std::sync::mpsc as std_mpsc;
use std::time::{Duration, Instant};

use crate::seed::random_seed;
use bytes::Bytes;
use sha3::{Digest, Sha3_256};
use stt_tokio::{Identity, NetworkKey, Node, SessionStats};

/// What the receiving side reports back.
struct Received {
    digests: Vec<(u64, Vec<u8>, usize)>,
    datagrams: u64,
    done_at: Instant,
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))
}

/// Deterministic filler for stream `i` (xorshift64*), so the sender can hash it first.
fn payload(i: u64, len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (i + 1).wrapping_mul(0xD6E8_FEB8_6659_FD93);
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        v.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    v.truncate(len);
    v
}

fn keys() -> Result<(Identity, Identity, NetworkKey), String> {
    let r = |e: getrandom::Error| format!("randomness: {e}");
    let a = Identity::from_node_seed(&random_seed().map_err(r)?[..]).map_err(|e| e.to_string())?;
    let b = Identity::from_node_seed(&random_seed().map_err(r)?[..]).map_err(|e| e.to_string())?;
    let n =
        NetworkKey::from_shared_seed(&random_seed().map_err(r)?[..]).map_err(|e| e.to_string())?;
    Ok((a, b, n))
}

/// Raw AEAD seal+open of 1400-byte packets on one core for about 200 ms, in MB/s:
/// the ceiling the transfer is compared with, measured in the same run.
fn raw_aead(aead: stt_proto::crypto::Aead) -> Option<f64> {
    let key = stt_proto::crypto::default_provider()
        .packet_key(aead, &[7; 32])
        .ok()?;
    let mut buf = vec![0xa5u8; 1400];
    let ad = [0u8; 20];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_millis(200) {
        for _ in 0..256 {
            n += 1;
            let mut nonce = [0u8; 12];
            nonce[4..].copy_from_slice(&n.to_be_bytes());
            let tag = key.seal_in_place(&nonce, &ad, &mut buf).ok()?;
            key.open_in_place(&nonce, &ad, &mut buf, &tag).ok()?;
        }
    }
    Some(n as f64 * 1400.0 / start.elapsed().as_secs_f64() / 1e6)
}

/// Runs the demo and prints the table.
pub fn run(mib: u64, streams: u64, datagrams: u64) -> Result<(), String> {
    let streams = streams.max(1);
    let per_stream = ((mib << 20) / streams) as usize;
    let total = per_stream as u64 * streams;
    let (server_id, client_id, network) = keys()?;
    // The AEAD ceiling first, while nothing else runs.
    let aes = raw_aead(stt_proto::crypto::Aead::Aes256Gcm);
    let chacha = raw_aead(stt_proto::crypto::Aead::ChaCha20Poly1305);
    println!(
        "stt demo: {streams} streams x {} MiB = {} MiB over UDP on 127.0.0.1, plus {datagrams} datagrams",
        per_stream >> 20,
        total >> 20
    );

    let (addr_tx, addr_rx) = std_mpsc::channel::<Result<SocketAddr, String>>();
    let (res_tx, res_rx) = std_mpsc::channel::<Result<Received, String>>();
    let net2 = network.clone();
    let server = std::thread::spawn(move || {
        let rt = match runtime() {
            Ok(rt) => rt,
            Err(e) => {
                let _ = addr_tx.send(Err(e));
                return;
            }
        };
        rt.block_on(async move {
            let node = match Node::builder(server_id, net2)
                .bind_udp(SocketAddr::from(([127, 0, 0, 1], 0)))
                .build()
                .await
            {
                Ok(n) => n,
                Err(e) => {
                    let _ = addr_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = addr_tx.send(Ok(node.udp_addrs()[0]));
            let r = serve(&node, streams, datagrams).await;
            let _ = res_tx.send(r);
            node.shutdown(0, b"", Duration::from_millis(500)).await;
        });
    });
    let addr = addr_rx
        .recv()
        .map_err(|_| "server thread died".to_string())??;

    // Prepare the data (and its digests) before the clock starts.
    let data: Vec<Bytes> = (0..streams)
        .map(|i| Bytes::from(payload(i, per_stream)))
        .collect();
    let digests: Vec<Vec<u8>> = data.iter().map(|d| Sha3_256::digest(d).to_vec()).collect();

    let rt = runtime()?;
    let (hs, started, stats) = rt.block_on(async {
        let node = Node::builder(client_id, network)
            .bind_udp(SocketAddr::from(([127, 0, 0, 1], 0)))
            .build()
            .await
            .map_err(|e| e.to_string())?;
        let t0 = Instant::now();
        let session = node.connect(addr).await.map_err(|e| e.to_string())?;
        let hs = t0.elapsed();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for d in data.clone() {
            let session = session.clone();
            tasks.push(tokio::spawn(async move {
                let mut s = session
                    .open_uni_with(0, Some(d.len() as u64))
                    .await
                    .map_err(|e| e.to_string())?;
                for chunk in d.chunks(1 << 16) {
                    s.write_all(chunk).await.map_err(|e| e.to_string())?;
                }
                s.finished().await.map_err(|e| e.to_string())
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())??;
        }
        let payload = Bytes::from(vec![0xA5u8; 1000]);
        for i in 0..datagrams {
            let _ = session.send_datagram(payload.clone());
            // A burst, not a flood: the engine drops the oldest queued datagrams
            // beyond its send buffer, so let each small batch leave first.
            if i % 16 == 15 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        // The receiver closes the session once the burst is over.
        // Statistics vanish with the session: keep the last snapshot.
        let mut stats = session.stats().unwrap_or_default();
        let closed = session.closed();
        tokio::pin!(closed);
        for _ in 0..1000 {
            tokio::select! {
                _ = &mut closed => break,
                _ = tokio::time::sleep(Duration::from_millis(10)) => {
                    if let Some(s) = session.stats() {
                        stats = s;
                    }
                }
            }
        }
        node.shutdown(0, b"", Duration::from_millis(200)).await;
        Ok::<_, String>((hs, started, stats))
    })?;
    let received = res_rx
        .recv_timeout(Duration::from_secs(120))
        .map_err(|_| "server did not report".to_string())??;
    let _ = server.join();
    let took = received.done_at.saturating_duration_since(started);
    let mut ok = received.digests.len() == streams as usize;
    for (i, d, len) in &received.digests {
        let want = digests.get(*i as usize);
        ok &= want == Some(d) && *len == per_stream;
    }
    print_table(
        hs,
        took,
        total,
        &stats,
        datagrams,
        received.datagrams,
        ok,
        &digests,
    );
    println!(
        "raw AEAD seal+open, 1400 B, one core ({}): aes-256-gcm {:.0} MB/s, chacha20-poly1305 {:.0} MB/s",
        stt_proto::crypto::default_provider().name(),
        aes.unwrap_or(0.0),
        chacha.unwrap_or(0.0)
    );
    if ok {
        Ok(())
    } else {
        Err("content verification FAILED".into())
    }
}

async fn serve(node: &Node, streams: u64, datagrams: u64) -> Result<Received, String> {
    let session = node.accept().await.ok_or("no session")?;
    // Drain datagrams as they come: the engine keeps only a bounded receive queue.
    // The burst ends when none arrived for 500 ms (datagrams may be lost).
    let dg = tokio::spawn({
        let session = session.clone();
        async move {
            let mut got = 0;
            while got < datagrams {
                let next =
                    tokio::time::timeout(Duration::from_millis(500), session.recv_datagram());
                match next.await {
                    Ok(Ok(_)) => got += 1,
                    Ok(Err(_)) => break,
                    Err(_) if got > 0 => break,
                    Err(_) => {}
                }
            }
            got
        }
    });
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let mut r = session.accept_uni().await.map_err(|e| e.to_string())?;
        tasks.push(tokio::spawn(async move {
            let idx = r.id().index() as u64 - 1;
            // Keep the chunks (no copy) and hash after the clock stops, so the
            // goodput figure measures the transport, not SHA3.
            let mut chunks = Vec::new();
            while let Some(c) = r.read_chunk(usize::MAX).await.map_err(|e| e.to_string())? {
                chunks.push(c);
            }
            Ok::<_, String>((idx, chunks))
        }));
    }
    let mut received = Vec::new();
    for t in tasks {
        received.push(t.await.map_err(|e| e.to_string())??);
    }
    let done_at = Instant::now();
    let got = match tokio::time::timeout(Duration::from_secs(10), dg).await {
        Ok(Ok(n)) => n,
        _ => 0,
    };
    session.close(0, b"demo done");
    let digests = received
        .into_iter()
        .map(|(idx, chunks)| {
            let mut h = Sha3_256::new();
            let mut n = 0;
            for c in &chunks {
                h.update(c);
                n += c.len();
            }
            (idx, h.finalize().to_vec(), n)
        })
        .collect();
    Ok(Received {
        digests,
        datagrams: got,
        done_at,
    })
}

#[allow(clippy::too_many_arguments)]
fn print_table(
    hs: Duration,
    took: Duration,
    total: u64,
    s: &SessionStats,
    sent: u64,
    got: u64,
    ok: bool,
    digests: &[Vec<u8>],
) {
    let secs = took.as_secs_f64().max(1e-9);
    let rows = [
        ("handshake", format!("{:.3} ms", hs.as_secs_f64() * 1e3)),
        ("data", format!("{} MiB in {:.3} s", total >> 20, secs)),
        (
            "goodput",
            format!(
                "{:.1} MB/s ({:.2} Gbit/s)",
                total as f64 / secs / 1e6,
                total as f64 * 8.0 / secs / 1e9
            ),
        ),
        (
            "rtt (smoothed / min)",
            format!(
                "{:.3} ms / {:.3} ms",
                s.rtt.as_secs_f64() * 1e3,
                s.min_rtt.as_secs_f64() * 1e3
            ),
        ),
        (
            "packets sent / lost",
            format!("{} / {}", s.packets_sent, s.packets_lost),
        ),
        ("bytes retransmitted", format!("{}", s.bytes_retransmitted)),
        (
            "datagrams sent / received",
            format!(
                "{sent} / {got} ({} dropped by the sender's queue)",
                s.datagrams_dropped
            ),
        ),
        (
            "content (sha3-256)",
            format!(
                "{} ({} streams, first {}…)",
                if ok { "verified" } else { "MISMATCH" },
                digests.len(),
                digests
                    .first()
                    .map(|d| hex::encode(&d[..8]))
                    .unwrap_or_default()
            ),
        ),
    ];
    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!("{}", "-".repeat(w + 40));
    for (k, v) in rows {
        println!("{k:<w$}  {v}");
    }
    println!("{}", "-".repeat(w + 40));
}
