//! The rows, written once over [`Contender`]: bulk transfer (with its CPU time),
//! many messages on separate streams, sequential handshake latency and concurrent
//! handshake rate. Each runs inside one child process, server and client in the same
//! tokio runtime, and returns its figures as `key=value` pairs for the parent.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::contender::{Contender, Knobs};
use crate::measure::{cpu_time, mean_p99_ms};
use stt_tests::relay::{Relay, RelayConfig};

/// Bytes per write call in both transfer rows.
const WRITE: usize = 64 << 10;

/// Serves `server`: holds every inbound session until it ends and reads each of its
/// unidirectional streams to the end, reporting the stream's length on the channel.
fn sink<C: Contender>(server: Arc<C::Server>) -> mpsc::UnboundedReceiver<u64> {
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Some(conn) = C::accept(&server).await {
            let tx = tx.clone();
            tokio::spawn(async move {
                while let Some(mut r) = C::accept_uni(&conn).await {
                    let tx = tx.clone();
                    tokio::spawn(async move {
                        let mut n = 0u64;
                        while let Some(k) = C::read_chunk(&mut r).await {
                            n += k as u64;
                        }
                        let _ = tx.send(n);
                    });
                }
            });
        }
    });
    rx
}

/// A payload buffer of `len` pseudo-random bytes (neither stack compresses; this only
/// avoids sending an all-zero buffer).
fn payload(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A server with its sink and one connected client.
async fn pair<C: Contender>() -> (Arc<C::Server>, mpsc::UnboundedReceiver<u64>, C::Client) {
    pair_with::<C>(Knobs::default()).await
}

/// [`pair`] with `knobs` on both ends.
async fn pair_with<C: Contender>(
    knobs: Knobs,
) -> (Arc<C::Server>, mpsc::UnboundedReceiver<u64>, C::Client) {
    let server = Arc::new(C::server(knobs).await);
    let done = sink::<C>(server.clone());
    let client = C::client(knobs, C::ticket(&server)).await;
    (server, done, client)
}

/// Sends `bytes` on one new stream of `conn` and waits until the server has read them
/// all; returns the figures every transfer row reports.
async fn one_stream<C: Contender>(
    conn: C::Conn,
    done: &mut mpsc::UnboundedReceiver<u64>,
    bytes: u64,
) -> String {
    let buf = payload(WRITE);
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let mut s = C::open_uni(&conn).await;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(WRITE as u64) as usize;
        C::write_all(&mut s, &buf[..n]).await;
        left -= n as u64;
    }
    C::finish(s);
    let got = done.recv().await.expect("the server reports the stream");
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    assert_eq!(got, bytes, "{}: the server read every byte", C::NAME);
    let lost = C::lost_packets(&conn);
    let details = C::details(&conn);
    C::close(conn);
    format!("secs={secs} cpu={cpu} lost={lost}{details}")
}

/// (a) + (f): `bytes` on one stream. Reports seconds, CPU seconds (whole process:
/// both ends) and lost packets; time runs from opening the stream to the server's
/// reading the end.
pub async fn bulk<C: Contender>(bytes: u64) -> String {
    let (_server, mut done, client) = pair::<C>().await;
    let conn = C::connect(&client).await.expect("connect");
    one_stream::<C>(conn, &mut done, bytes).await
}

/// (g)–(j): `bytes` on one stream through the seeded impairment relay
/// (`tests/src/relay.rs`) in front of the server: the same drops, reordering, delay and
/// rebindings for both stacks. Time runs as in (a).
pub async fn impaired<C: Contender>(bytes: u64, config: RelayConfig) -> String {
    let server = Arc::new(C::server(Knobs::default()).await);
    let mut done = sink::<C>(server.clone());
    let mut ticket = C::ticket(&server);
    let relay = Relay::start(ticket.addr, config).expect("relay");
    ticket.addr = relay.addr();
    let client = C::client(Knobs::default(), ticket).await;
    let conn = C::connect(&client)
        .await
        .expect("connect through the relay");
    let figures = one_stream::<C>(conn, &mut done, bytes).await;
    let drops = relay.stats.dropped.load(Ordering::Relaxed);
    let rebinds = relay.stats.rebinds.load(Ordering::Relaxed);
    format!("{figures} relay_drops={drops} rebinds={rebinds}")
}

/// (b): `count` messages of `size` bytes, each on its own stream, opened one after
/// another on one session. Time runs from the first open to the server's reading the
/// end of the last stream.
pub async fn messages<C: Contender>(count: usize, size: usize) -> String {
    let (_server, mut done, client) = pair::<C>().await;
    let conn = C::connect(&client).await.expect("connect");
    let buf = payload(size);
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let writer = {
        let conn = conn.clone();
        tokio::spawn(async move {
            for _ in 0..count {
                let mut s = C::open_uni(&conn).await;
                C::write_all(&mut s, &buf).await;
                C::finish(s);
            }
        })
    };
    for _ in 0..count {
        let got = done.recv().await.expect("the server reports each stream");
        assert_eq!(got, size as u64, "{}: a whole message", C::NAME);
    }
    let secs = t0.elapsed().as_secs_f64();
    let cpu = (cpu_time() - cpu0).as_secs_f64();
    writer.await.expect("writer task");
    let lost = C::lost_packets(&conn);
    let details = C::details(&conn);
    C::close(conn);
    format!("secs={secs} cpu={cpu} lost={lost}{details}")
}

/// (c): `count` sequential handshakes from one client endpoint (after `warmup`
/// untimed ones), each closed before the next. Reports mean and p99 in ms, and the
/// process CPU time (both ends) per handshake in µs.
/// With `knobs.pq` (row c′) every handshake must have run the hybrid key exchange, as
/// the stack reports it: the child fails otherwise, and the figures carry the counts.
pub async fn latency<C: Contender>(knobs: Knobs, warmup: usize, count: usize) -> String {
    let (_server, _done, client) = pair_with::<C>(knobs).await;
    let kx0 = C::key_exchanges();
    let mut samples = Vec::with_capacity(count);
    let mut cpu0 = cpu_time();
    for i in 0..warmup + count {
        if i == warmup {
            cpu0 = cpu_time();
        }
        let t0 = Instant::now();
        let conn = C::connect(&client).await.expect("connect");
        let dt = t0.elapsed();
        C::close(conn);
        if i >= warmup {
            samples.push(dt);
        }
    }
    let cpu_us = (cpu_time() - cpu0).as_secs_f64() * 1e6 / count.max(1) as f64;
    let (mean, p99) = mean_p99_ms(&samples);
    let kx1 = C::key_exchanges();
    let (hybrid, classic) = (kx1.0 - kx0.0, kx1.1 - kx0.1);
    if knobs.pq {
        eprintln!(
            "{}: {hybrid} of {} handshakes negotiated X25519+ML-KEM-768 (X25519MLKEM768), {classic} classic",
            C::NAME,
            warmup + count
        );
        assert!(
            classic == 0 && hybrid >= (warmup + count) as u64,
            "{}: a handshake of row c′ was not hybrid ({hybrid} hybrid, {classic} classic)",
            C::NAME
        );
    }
    format!("mean_ms={mean} p99_ms={p99} cpu_us={cpu_us} hybrid_kx={hybrid} classic_kx={classic}")
}

/// (d): `clients` client endpoints, each connecting and closing in a loop against one
/// server for `duration`. Reports completed handshakes per second, failures and the
/// process CPU time (both ends) per completed handshake in µs.
pub async fn rate<C: Contender>(clients: usize, duration: Duration) -> String {
    let server = Arc::new(C::server(Knobs::default()).await);
    let _done = sink::<C>(server.clone());
    let ticket = C::ticket(&server);
    let mut endpoints = Vec::with_capacity(clients);
    for _ in 0..clients {
        endpoints.push(C::client(Knobs::default(), ticket.clone()).await);
    }
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let cpu0 = cpu_time();
    let t0 = Instant::now();
    let deadline = t0 + duration;
    let mut tasks = Vec::with_capacity(clients);
    for client in endpoints {
        let (ok, failed) = (ok.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                match C::connect(&client).await {
                    Ok(conn) => {
                        ok.fetch_add(1, Ordering::Relaxed);
                        C::close(conn);
                    }
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            client
        }));
    }
    let mut keep = Vec::with_capacity(clients);
    for t in tasks {
        keep.push(t.await.expect("client task"));
    }
    let secs = t0.elapsed().as_secs_f64();
    let ok = ok.load(Ordering::Relaxed);
    let failed = failed.load(Ordering::Relaxed);
    let cpu_us = (cpu_time() - cpu0).as_secs_f64() * 1e6 / ok.max(1) as f64;
    format!(
        "per_sec={} ok={ok} failed={failed} cpu_us={cpu_us}",
        ok as f64 / secs
    )
}
