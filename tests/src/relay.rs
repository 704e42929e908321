//! A seeded UDP impairment relay for tests over real sockets: clients send to its
//! front address, it forwards to one server from an upstream socket and back. Each
//! direction drops, duplicates, reorders, corrupts and delays datagrams by its own
//! seeded draws, and every `rebind_every` upstream datagrams the relay moves to a new
//! upstream socket (a new source port: a NAT rebinding as the server sees it; replies
//! to the old port are lost). Deterministic in its decisions for a given seed and
//! arrival order; stops when dropped.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// What happens to datagrams in one direction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Impairment {
    /// Probability a datagram is dropped.
    pub loss: f64,
    /// Probability a datagram is sent twice.
    pub duplicate: f64,
    /// Probability a datagram is held back behind the next few.
    pub reorder: f64,
    /// Probability one byte of a datagram is flipped.
    pub corrupt: f64,
    /// Added one-way delay.
    pub delay: Duration,
    /// Up to this much more delay, drawn per datagram.
    pub jitter: Duration,
}

/// The relay's settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct RelayConfig {
    /// Seed of every draw.
    pub seed: u64,
    /// Client → server.
    pub up: Impairment,
    /// Server → client.
    pub down: Impairment,
    /// Move to a new upstream port after this many upstream datagrams (0: never).
    pub rebind_every: u64,
}

/// Counters, readable while it runs.
#[derive(Debug, Default)]
pub struct RelayStats {
    /// Datagrams forwarded (after impairment, duplicates counted).
    pub forwarded: AtomicU64,
    /// Datagrams dropped by the loss draw.
    pub dropped: AtomicU64,
    /// Upstream rebindings done.
    pub rebinds: AtomicU64,
}

struct Xorshift(u64);

impl Xorshift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Where a scheduled datagram goes out.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Via {
    Front(SocketAddr),
    Upstream,
}

type Queue = (
    Mutex<BinaryHeap<Reverse<(Instant, u64, Via, Vec<u8>)>>>,
    Condvar,
);

/// A running relay.
pub struct Relay {
    front: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Counters.
    pub stats: Arc<RelayStats>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Relay {
    /// Starts a relay on 127.0.0.1 in front of `server`.
    pub fn start(server: SocketAddr, config: RelayConfig) -> std::io::Result<Self> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0")?);
        front.set_read_timeout(Some(Duration::from_millis(5)))?;
        let up_sock = UdpSocket::bind("127.0.0.1:0")?;
        up_sock.set_read_timeout(Some(Duration::from_millis(5)))?;
        let upstream = Arc::new(Mutex::new(Arc::new(up_sock)));
        let client = Arc::new(Mutex::new(None::<SocketAddr>));
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RelayStats::default());
        let queue: Arc<Queue> = Arc::new((Mutex::new(BinaryHeap::new()), Condvar::new()));
        let seq = Arc::new(AtomicU64::new(0));
        let front_addr = front.local_addr()?;
        let mut threads = Vec::new();
        // Client → server.
        {
            let (front, upstream, client, stop, stats, queue, seq) = (
                front.clone(),
                upstream.clone(),
                client.clone(),
                stop.clone(),
                stats.clone(),
                queue.clone(),
                seq.clone(),
            );
            threads.push(std::thread::spawn(move || {
                let mut rng = Xorshift(config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
                let mut buf = vec![0u8; 65_536];
                let mut sent_up = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let Ok((n, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    if let Ok(mut c) = client.lock() {
                        *c = Some(from);
                    }
                    sent_up += 1;
                    if config.rebind_every > 0
                        && sent_up.is_multiple_of(config.rebind_every)
                        && let Ok(s) = UdpSocket::bind("127.0.0.1:0")
                    {
                        let _ = s.set_read_timeout(Some(Duration::from_millis(5)));
                        if let Ok(mut u) = upstream.lock() {
                            *u = Arc::new(s);
                            stats.rebinds.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    impair(
                        &mut rng,
                        &config.up,
                        &buf[..n],
                        Via::Upstream,
                        &queue,
                        &seq,
                        &stats,
                    );
                }
            }));
        }
        // Server → client, from whichever upstream socket is current.
        {
            let (upstream, stop, stats, queue, seq) = (
                upstream.clone(),
                stop.clone(),
                stats.clone(),
                queue.clone(),
                seq.clone(),
            );
            let client = client.clone();
            threads.push(std::thread::spawn(move || {
                let mut rng = Xorshift(config.seed.wrapping_mul(0xD6E8_FEB8_6659_FD93) | 1);
                let mut buf = vec![0u8; 65_536];
                while !stop.load(Ordering::Relaxed) {
                    let sock = match upstream.lock() {
                        Ok(u) => u.clone(),
                        Err(_) => return,
                    };
                    let Ok((n, from)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    if from != server {
                        continue;
                    }
                    let Some(to) = client.lock().ok().and_then(|c| *c) else {
                        continue;
                    };
                    impair(
                        &mut rng,
                        &config.down,
                        &buf[..n],
                        Via::Front(to),
                        &queue,
                        &seq,
                        &stats,
                    );
                }
            }));
        }
        // The sender: releases datagrams at their time.
        {
            let (front, upstream, stop, stats, queue) = (
                front.clone(),
                upstream.clone(),
                stop.clone(),
                stats.clone(),
                queue.clone(),
            );
            threads.push(std::thread::spawn(move || {
                let (lock, cv) = &*queue;
                while !stop.load(Ordering::Relaxed) {
                    let Ok(mut q) = lock.lock() else { return };
                    let now = Instant::now();
                    let due = matches!(q.peek(), Some(Reverse((at, ..))) if *at <= now);
                    if !due {
                        let wait = q
                            .peek()
                            .map_or(Duration::from_millis(5), |Reverse((at, ..))| *at - now)
                            .min(Duration::from_millis(5));
                        let _ = cv.wait_timeout(q, wait);
                        continue;
                    }
                    let Some(Reverse((_, _, via, bytes))) = q.pop() else {
                        continue;
                    };
                    drop(q);
                    let r = match via {
                        Via::Front(to) => front.send_to(&bytes, to),
                        Via::Upstream => match upstream.lock() {
                            Ok(u) => u.send_to(&bytes, server),
                            Err(_) => return,
                        },
                    };
                    if r.is_ok() {
                        stats.forwarded.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }));
        }
        Ok(Self {
            front: front_addr,
            stop,
            stats,
            threads,
        })
    }

    /// The address clients send to.
    pub fn addr(&self) -> SocketAddr {
        self.front
    }
}

fn impair(
    rng: &mut Xorshift,
    imp: &Impairment,
    data: &[u8],
    via: Via,
    queue: &Queue,
    seq: &AtomicU64,
    stats: &RelayStats,
) {
    if rng.chance(imp.loss) {
        stats.dropped.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let mut bytes = data.to_vec();
    if rng.chance(imp.corrupt) && !bytes.is_empty() {
        let i = rng.below(bytes.len() as u64) as usize;
        bytes[i] ^= 1 << rng.below(8);
    }
    let jitter = Duration::from_micros(rng.below(imp.jitter.as_micros() as u64 + 1));
    let mut at = Instant::now() + imp.delay + jitter;
    if rng.chance(imp.reorder) {
        // Held back behind whatever arrives in the next few milliseconds.
        at += Duration::from_millis(1 + rng.below(3));
    }
    let copies = if rng.chance(imp.duplicate) { 2 } else { 1 };
    let (lock, cv) = queue;
    if let Ok(mut q) = lock.lock() {
        for _ in 0..copies {
            let n = seq.fetch_add(1, Ordering::Relaxed);
            let via = match &via {
                Via::Front(a) => Via::Front(*a),
                Via::Upstream => Via::Upstream,
            };
            q.push(Reverse((at, n, via, bytes.clone())));
        }
    }
    cv.notify_one();
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
