//! `relay_forward`: how fast a relay node forwards relay datagrams (PROTOCOL.md §12.3),
//! per core: one thread feeds a relay `Node` the same full-size relay datagram of an
//! established relayed pair (set up in `stt_sim::rendezvous`, symmetric NAT so the pair
//! stays relayed) and drains `poll_transmit`, with and without GSO batches of 32. The
//! reference, measured in the same run, is the floor any forwarder pays here: copying
//! the datagram in (the adapter's receive copy) and out (into the send buffer).
//! Prints packets/s and MB/s. `cargo bench -p stt-tests --bench relay_forward`.

use std::hint::black_box;
use std::time::{Duration, Instant as Wall};

use bytes::BytesMut;
use stt_proto::RemoteAddr;
use stt_sim::nat::Mapping;
use stt_sim::rendezvous::{B, RELAY, RdvWorld, member_config};

const PACKETS: u64 = 400_000;

fn main() {
    let mut cfg = member_config();
    cfg.rendezvous.serve = true;
    cfg.rendezvous.per_peer_rate = 1 << 40;
    cfg.rendezvous.total_rate = 1 << 40;
    cfg.rendezvous.forward_queue = 1 << 16;
    let mut w = RdvWorld::with_relay(Mapping::Symmetric, Mapping::EndpointIndependent, cfg);
    w.capture = true;
    let t = w.now + Duration::from_secs(5);
    assert!(w.register_both(t), "both members register");
    assert!(w.send_to_b(1 << 20));
    let t = w.now + Duration::from_secs(30);
    w.run(t, |w| w.hosts[B].finished);
    assert!(w.hosts[B].finished, "the relayed transfer completes");
    // The largest relay datagram A sent: a full data packet.
    let (src, datagram) = w
        .captured
        .iter()
        .max_by_key(|(_, d)| d.len())
        .cloned()
        .expect("A sent through the relay");
    let path = w.hosts[RELAY].path_of(src).expect("the relay knows A");
    let remote = RemoteAddr::from(src);
    let now = w.now;
    let relay = &mut w.hosts[RELAY].node;
    let before = relay.stats().relay_forwarded_packets;
    let mut buf = vec![0u8; 64 * 1024];
    let size = datagram.len();
    println!(
        "relay_forward: {size}-byte relay datagrams, {PACKETS} per run, one thread ({})",
        std::env::consts::ARCH
    );

    let mut run = |name: &str, batch: u64, relay: &mut stt_proto::Node| {
        let start = Wall::now();
        let mut out = 0u64;
        for i in 0..PACKETS {
            relay.handle_datagram_from(now, path, &remote, BytesMut::from(&datagram[..]));
            if (i + 1) % batch == 0 {
                while let Some(t) = relay.poll_transmit(now, &mut buf) {
                    out += t.len as u64;
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        assert_eq!(out, PACKETS * size as u64, "every datagram forwarded");
        report(name, secs, size);
    };
    run("forward, one datagram per poll_transmit", 1, relay);
    run("forward, GSO batches of 32", 32, relay);
    let forwarded = relay.stats().relay_forwarded_packets - before;
    assert_eq!(forwarded, 2 * PACKETS);

    // Reference: the two copies alone.
    let start = Wall::now();
    for _ in 0..PACKETS {
        let d = BytesMut::from(&datagram[..]);
        buf[..size].copy_from_slice(&d);
        black_box(&buf);
    }
    report(
        "reference: copy in and out only",
        start.elapsed().as_secs_f64(),
        size,
    );
}

fn report(name: &str, secs: f64, size: usize) {
    let pps = PACKETS as f64 / secs;
    println!(
        "  {name:<42} {:>9.0} packets/s  {:>8.1} MB/s  {:>6.0} ns/packet",
        pps,
        pps * size as f64 / 1e6,
        1e9 / pps
    );
}
