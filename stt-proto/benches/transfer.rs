//! `transfer`: two in-memory Nodes move 256 MiB over one stream with the fast AEAD
//! provider, next to the raw seal+open rate of the same AEAD at 1400 bytes measured in
//! the same run; and the heap held by an idle established session (printed once).
#![allow(clippy::field_reassign_with_default)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stt_proto::config::NodeConfig;
use stt_proto::crypto::{Aead, AeadSet, CryptoProvider, PacketKey, RING};
use stt_proto::frame::Dir;
use stt_proto::{Event, Identity, Instant, NetworkKey, Node, PathId};

/// Counts live heap bytes. Sound: every call forwards unchanged to `System`, which
/// upholds the `GlobalAlloc` contract; the counter is a plain atomic on the side.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: see the type's doc; layouts and pointers are passed through untouched.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same layout the caller gave us.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const TOTAL: usize = 256 << 20;
const CHUNK: usize = 1 << 20;
/// Batches of 16 packets the in-memory link carries per 10 µs round (~9 GB/s): enough
/// never to be the bottleneck, small enough that a round's packets stay in cache as
/// they would between a sender and a receiver that keeps up.
const LINK_BATCHES: usize = 4;

fn node(tag: u8, config: &Arc<NodeConfig>) -> Node {
    Node::new(
        config.clone(),
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9u8; 32]).unwrap(),
        [tag + 50; 32],
    )
    .unwrap()
}

fn config() -> Arc<NodeConfig> {
    let mut c = NodeConfig::default();
    c.crypto = &RING;
    c.transport.receive_window = 64 << 20;
    c.transport.stream_receive_window = 16 << 20;
    c.transport.send_buffer = 8 << 20;
    c.transport.session_send_buffer = 8 << 20;
    Arc::new(c)
}

/// One GSO batch: 16 full-size packets.
const BATCH: usize = 16 * 1472;
/// One region of the link's receive memory.
const REGION: usize = 16 * BATCH;

/// The in-memory link's receive memory, reused the way a socket's receive buffer is:
/// packets are written straight into it and the receiver takes ownership of slices of
/// it, so nothing is copied between the two nodes. A region whose slices the receiver
/// has all dropped is written over again without being cleared first (as the kernel
/// overwrites a receive ring); a new region is allocated only while every region still
/// has live slices.
#[derive(Default)]
struct Pool {
    /// Regions, each with the address of its allocation.
    regions: Vec<(BytesMut, usize)>,
    current: usize,
}

impl Pool {
    /// A buffer with room for at least one batch.
    fn room(&mut self) -> &mut BytesMut {
        if self
            .regions
            .get(self.current)
            .is_none_or(|r| r.0.len() < BATCH)
        {
            self.next_region();
        }
        &mut self.regions[self.current].0
    }

    fn next_region(&mut self) {
        let n = self.regions.len();
        for i in 1..=n {
            let j = (self.current + i) % n;
            let (region, base) = &mut self.regions[j];
            region.clear();
            // `try_reclaim` succeeds only when this handle is the last one on the
            // allocation, and then moves the view back to the allocation's start.
            if region.try_reclaim(REGION) && region.as_ptr() as usize == *base {
                // SAFETY: the view now starts at the allocation's first byte with a
                // capacity of at least REGION (both checked above). All REGION bytes of
                // that allocation were initialised when it was created by
                // `BytesMut::zeroed(REGION)`, the allocation stayed alive since (this
                // handle kept it), and every later write (packets, in-place decryption)
                // stored initialised bytes; so the first REGION bytes are initialised.
                unsafe { region.set_len(REGION) };
                self.current = j;
                return;
            }
        }
        let region = BytesMut::zeroed(REGION);
        let base = region.as_ptr() as usize;
        self.regions.push((region, base));
        self.current = self.regions.len() - 1;
    }
}

/// Passes up to [`LINK_BATCHES`] GSO batches from one node to the other (the link's
/// capacity per 10 µs round); true if anything moved.
fn pump(from: &mut Node, to: &mut Node, now: Instant, pool: &mut Pool) -> bool {
    let mut moved = false;
    for _ in 0..LINK_BATCHES {
        let room = pool.room();
        let Some(t) = from.poll_transmit(now, &mut room[..BATCH]) else {
            break;
        };
        let mut batch = room.split_to(t.len);
        let seg = t.segment_size.unwrap_or(t.len);
        while !batch.is_empty() {
            let d = batch.split_to(seg.min(batch.len()));
            to.handle_datagram(now, PathId(1), d);
        }
        moved = true;
    }
    moved
}

fn connect(
    a: &mut Node,
    b: &mut Node,
    now: &mut Instant,
) -> (stt_proto::SessionHandle, stt_proto::SessionHandle) {
    let mut buf = Pool::default();
    let sa = a.connect(*now, PathId(1)).unwrap();
    let mut sb = None;
    let mut up = false;
    while !(up && sb.is_some()) {
        pump(a, b, *now, &mut buf);
        pump(b, a, *now, &mut buf);
        while let Some(e) = a.poll_event() {
            up |= matches!(e, Event::Connected { .. });
        }
        while let Some(e) = b.poll_event() {
            if let Event::Connected { session, .. } = e {
                sb = Some(session);
            }
        }
        *now = *now + Duration::from_micros(10);
    }
    (sa, sb.unwrap())
}

/// Moves TOTAL bytes; virtual time advances 10 µs per round (a 1 µs-ish "link").
fn transfer_once(config: &Arc<NodeConfig>) -> usize {
    let mut a = node(1, config);
    let mut b = node(2, config);
    let mut now = Instant::from_micros(1);
    let (sa, sb) = connect(&mut a, &mut b, &mut now);
    let data = bytes::Bytes::from(vec![0x5au8; CHUNK]);
    let id = a
        .session(sa)
        .unwrap()
        .open_stream(now, Dir::Uni, 0, None)
        .unwrap();
    let mut buf = Pool::default();
    let (mut written, mut read) = (0usize, 0usize);
    let mut rid = None;
    while read < TOTAL {
        {
            let mut s = a.session(sa).unwrap();
            while written < TOTAL {
                let end = (written % CHUNK) + (TOTAL - written).min(CHUNK - written % CHUNK);
                match s.write_bytes(now, id, data.slice(written % CHUNK..end)) {
                    Ok(n) => written += n,
                    Err(_) => break,
                }
            }
            if written == TOTAL {
                let _ = s.finish(now, id);
            }
        }
        let moved = pump(&mut a, &mut b, now, &mut buf) | pump(&mut b, &mut a, now, &mut buf);
        while a.poll_event().is_some() {}
        while b.poll_event().is_some() {}
        let mut s = b.session(sb).unwrap();
        if rid.is_none() {
            rid = s.accept_stream(Dir::Uni);
        }
        if let Some(r) = rid {
            while let Ok(Some(bytes)) = s.read(now, r, usize::MAX) {
                read += bytes.len();
            }
        }
        now = now + Duration::from_micros(10);
        if !moved {
            let next = [a.poll_timeout(), b.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            if let Some(t) = next {
                now = now.max(t);
            }
            a.handle_timeout(now);
            b.handle_timeout(now);
        }
    }
    read
}

/// The AEAD the fast provider prefers on this machine.
fn fast_aead() -> Aead {
    if AeadSet::preferred(&RING).contains(Aead::Aes256Gcm) {
        Aead::Aes256Gcm
    } else {
        Aead::ChaCha20Poly1305
    }
}

/// Seals and opens one 1400-byte packet in place with packet number `pn`.
fn seal_open_1400(key: &dyn PacketKey, buf: &mut [u8; 1400], pn: u64) {
    let ad = [1u8; 20];
    let mut nonce = [0u8; 12];
    nonce[4..].copy_from_slice(&pn.to_be_bytes());
    let tag = key.seal_in_place(&nonce, &ad, buf).unwrap();
    key.open_in_place(&nonce, &ad, buf, &tag).unwrap();
}

fn raw_aead(c: &mut Criterion) {
    let mut g = c.benchmark_group("raw_aead_1400");
    g.throughput(Throughput::Bytes(1400));
    let aead = fast_aead();
    let key = RING.packet_key(aead, &[7u8; 32]).unwrap();
    let mut buf = [0u8; 1400];
    let mut pn = 0u64;
    g.bench_function(format!("ring_{aead:?}_seal_open"), |b| {
        b.iter(|| {
            pn += 1;
            seal_open_1400(key.as_ref(), &mut buf, pn);
        })
    });
    g.finish();
}

/// The headline ratio, measured robustly: raw seal+open of 256 MiB in 1400-byte
/// packets and one 256 MiB transfer, alternated in pairs so both see the same machine
/// (a noisy neighbour slows a pair, not one side of the comparison). Prints each pair's
/// ratio and the median.
fn paired_ratio(_c: &mut Criterion) {
    // STT_TRANSFER_PAIRS=1 makes one quick pair, e.g. under `valgrind --tool=callgrind`.
    let pairs: usize = std::env::var("STT_TRANSFER_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9)
        .max(1);
    let config = config();
    let key = RING.packet_key(fast_aead(), &[7u8; 32]).unwrap();
    let mut buf = [0u8; 1400];
    let packets = (TOTAL / 1400) as u64;
    let mut pn = 0u64;
    let mut ratios = Vec::new();
    let mut rates = Vec::new();
    transfer_once(&config); // warm-up
    for i in 0..pairs {
        let mut raw = || {
            let t = Clocks::start();
            for _ in 0..packets {
                pn += 1;
                seal_open_1400(key.as_ref(), &mut buf, pn);
            }
            t.rates((packets * 1400) as f64)
        };
        let moved = || {
            let t = Clocks::start();
            let n = transfer_once(&config);
            t.rates(n as f64)
        };
        // Alternate which side goes first.
        let (r, m) = if i % 2 == 0 {
            let r = raw();
            (r, moved())
        } else {
            let m = moved();
            (raw(), m)
        };
        ratios.push((m.0 / r.0, m.1 / r.1));
        rates.push((m.0, r.0));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let wall = median(ratios.iter().map(|r| r.0).collect());
    let cpu = median(ratios.iter().map(|r| r.1).collect());
    rates.sort_by(|a, b| (a.0 / a.1).total_cmp(&(b.0 / b.1)));
    let (m, r) = rates[pairs / 2];
    let list: Vec<String> = ratios
        .iter()
        .map(|x| format!("{:.1}%", x.0 * 100.0))
        .collect();
    println!(
        "paired_ratio: transfer / raw seal+open = {:.1}% (wall clock, median of {pairs} pairs [{}]; median pair: transfer {:.0} MiB/s, raw {:.0} MiB/s); by thread CPU time {:.1}%",
        wall * 100.0,
        list.join(" "),
        m / f64::from(1 << 20),
        r / f64::from(1 << 20),
        cpu * 100.0,
    );
}

/// Wall clock and this thread's CPU time, started together.
struct Clocks {
    wall: std::time::Instant,
    cpu: Duration,
}

impl Clocks {
    fn start() -> Self {
        Self {
            wall: std::time::Instant::now(),
            cpu: thread_cpu_time(),
        }
    }

    /// `bytes` per second by wall clock and by CPU time since `start`.
    fn rates(&self, bytes: f64) -> (f64, f64) {
        let wall = self.wall.elapsed().as_secs_f64();
        let cpu = (thread_cpu_time() - self.cpu).as_secs_f64();
        (bytes / wall, bytes / cpu.max(1e-9))
    }
}

/// CPU time this thread has used: time it was descheduled by a busy machine does not
/// count, so the ratio by CPU time shows the work done, independent of load.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call, and
    // CLOCK_THREAD_CPUTIME_ID is a clock every Linux kernel supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn transfer(c: &mut Criterion) {
    let config = config();
    let mut g = c.benchmark_group("transfer");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.bench_function("256MiB_one_stream_ring", |b| {
        b.iter(|| transfer_once(&config))
    });
    g.finish();
}

/// Moves datagrams between one server and many clients until nothing moves. The
/// server sees client `i` on path `100 + i`; each client sees the server on path 1.
fn exchange(server: &mut Node, clients: &mut [Node], now: Instant, buf: &mut [u8]) {
    loop {
        let mut moved = false;
        for (i, c) in clients.iter_mut().enumerate() {
            while let Some(t) = c.poll_transmit(now, buf) {
                let seg = t.segment_size.unwrap_or(t.len);
                for d in buf[..t.len].chunks(seg) {
                    server.handle_datagram(now, PathId(100 + i as u64), BytesMut::from(d));
                }
                moved = true;
            }
            while c.poll_event().is_some() {}
        }
        while let Some(t) = server.poll_transmit(now, buf) {
            let seg = t.segment_size.unwrap_or(t.len);
            if let Some(c) = clients.get_mut((t.path.0 - 100) as usize) {
                for d in buf[..t.len].chunks(seg) {
                    c.handle_datagram(now, PathId(1), BytesMut::from(d));
                }
            }
            moved = true;
        }
        while server.poll_event().is_some() {}
        if !moved {
            return;
        }
    }
}

fn idle_session_memory(_c: &mut Criterion) {
    const N: usize = 1000;
    let config = config();
    let mut server = node(1, &config);
    let mut buf = vec![0u8; 64 * 1472];
    let mut now = Instant::from_micros(1);
    // Warm up with one session (its client stays, first in the list, idle throughout) so
    // the server's lazily built tables exist; the baseline holds none of the N below.
    let mut clients = vec![node(202, &config)];
    clients[0].connect(now, PathId(1)).unwrap();
    exchange(&mut server, &mut clients, now, &mut buf);
    let before = LIVE.load(Ordering::Relaxed);
    // Each client its own random stream (a shared one would repeat INIT ephemerals,
    // which the responder refuses as replays).
    clients.extend((0..N).map(|i| {
        let mut rng = [7u8; 32];
        rng[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let identity = Identity::from_node_seed(&[2 + (i % 200) as u8; 32]).unwrap();
        let network = NetworkKey::from_shared_seed(&[9u8; 32]).unwrap();
        Node::new(config.clone(), identity, network, rng).unwrap()
    }));
    for c in clients.iter_mut().skip(1) {
        c.connect(now, PathId(1)).unwrap();
    }
    // Handshakes, then 15 s of idling: confirmations and keepalives acknowledged,
    // every timer has run at least once.
    for _ in 0..60 {
        exchange(&mut server, &mut clients, now, &mut buf);
        now = now + Duration::from_millis(250);
        server.handle_timeout(now);
        for c in clients.iter_mut() {
            c.handle_timeout(now);
        }
    }
    exchange(&mut server, &mut clients, now, &mut buf);
    let after = LIVE.load(Ordering::Relaxed);
    let established = server.session_count();
    // What stays after the N clients are gone is the server's: its sessions (still
    // established, idle) plus its tables, and the warm-up client.
    clients.truncate(1);
    let server_only = LIVE.load(Ordering::Relaxed);
    let per_server_session = (server_only - before) / (established as isize - 1);
    let per_client_node = (after - server_only) / N as isize;
    println!(
        "idle_session_memory: {per_server_session} heap bytes per idle established session on a server holding {established} sessions; a client node with its one session: {per_client_node} bytes"
    );
}

criterion_group!(
    benches,
    raw_aead,
    transfer,
    paired_ratio,
    idle_session_memory
);
criterion_main!(benches);
