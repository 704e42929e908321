//! Rendezvous, hole punching and relay in the simulator (PROTOCOL.md §12), through the
//! NAT models of `stt_sim::nat`: punching goes direct through endpoint-independent
//! NATs, a symmetric or address-dependent NAT keeps the session on the relay, a
//! relayed session moves to the direct path when it opens, and back to the relay when
//! the direct path is cut. Every transfer is checked byte for byte.

use std::net::IpAddr;
use std::time::Duration;

use stt_sim::nat::Mapping;
use stt_sim::rendezvous::{A, B, RELAY, RdvWorld};

const EIM: Mapping = Mapping::EndpointIndependent;

fn ip(a: u8) -> IpAddr {
    IpAddr::from([a, 0, 0, 1])
}

#[test]
fn endpoint_independent_nats_punch_through_and_the_relay_carries_almost_nothing() {
    let mut w = RdvWorld::standard(EIM, EIM);
    let size = 4 << 20;
    let o = w.transfer(size, Duration::from_secs(30));
    eprintln!("{o:?}");
    assert!(o.finished && !o.corrupt, "{o:?}");
    assert_eq!(o.received, size);
    assert_eq!(
        (o.a_relayed, o.b_relayed),
        (Some(false), Some(false)),
        "{o:?}"
    );
    assert!(
        o.relay_bytes * 100 < size,
        "the relay forwarded {} of {size} bytes",
        o.relay_bytes
    );
}

#[test]
fn a_symmetric_nat_keeps_the_transfer_on_the_relay() {
    for (a, b) in [(Mapping::Symmetric, EIM), (EIM, Mapping::Symmetric)] {
        let mut w = RdvWorld::standard(a, b);
        let size = 1 << 20;
        let o = w.transfer(size, Duration::from_secs(30));
        eprintln!("{o:?}");
        assert!(o.finished && !o.corrupt && o.received == size, "{o:?}");
        assert_eq!(
            (o.a_relayed, o.b_relayed),
            (Some(true), Some(true)),
            "{o:?}"
        );
        assert!(o.relay_bytes > size, "{o:?}");
    }
}

#[test]
fn an_address_dependent_nat_keeps_it_on_the_relay_too() {
    let mut w = RdvWorld::standard(Mapping::AddressDependent, Mapping::AddressDependent);
    let o = w.transfer(256 << 10, Duration::from_secs(30));
    assert!(o.finished && !o.corrupt, "{o:?}");
    assert_eq!(o.a_relayed, Some(true), "{o:?}");
}

#[test]
fn a_relayed_session_moves_to_the_direct_path_once_it_opens() {
    let mut w = RdvWorld::standard(EIM, EIM);
    // The homes cannot reach each other at first.
    w.blocked.insert((ip(2), ip(3)));
    let size = 40 << 20;
    let t0 = w.now;
    assert!(w.register_both(t0 + Duration::from_secs(5)));
    assert!(w.send_to_b(size));
    // The first round of probes fails (10 probes 100 ms apart).
    w.run(w.now + Duration::from_millis(1500), |_| false);
    assert!(w.hosts[B].received > 0 && !w.hosts[B].finished);
    assert_eq!(w.hosts[A].relayed(), Some(true), "starts relayed");
    let relayed_so_far = w.relay_stats().relay_forwarded_bytes;
    let left = size - w.hosts[B].received;
    // The path opens: the next round of probes finds it, within the reprobe interval
    // (1 s in `member_config`) and a round trip.
    w.blocked.clear();
    let opened = w.now;
    w.run(opened + Duration::from_secs(5), |w| {
        w.hosts[A].relayed() == Some(false)
    });
    assert!(
        w.now - opened <= Duration::from_millis(1100),
        "direct after {:?}",
        w.now - opened
    );
    let relayed_then = w.relay_stats().relay_forwarded_bytes;
    w.run(w.now + Duration::from_secs(60), |w| w.hosts[B].finished);
    let o = w.outcome(t0);
    eprintln!("{o:?}");
    assert!(o.finished && !o.corrupt && o.received == size, "{o:?}");
    assert_eq!(
        (o.a_relayed, o.b_relayed),
        (Some(false), Some(false)),
        "{o:?}"
    );
    assert!(relayed_so_far > 0 && left > 0);
    // What was already in flight through the relay at the move still arrives there.
    assert!(
        (o.relay_bytes - relayed_then) * 20 < left,
        "once direct, the relay forwarded {} bytes, for {left} left: {o:?}",
        o.relay_bytes - relayed_then
    );
}

#[test]
fn cutting_the_direct_path_mid_transfer_falls_back_to_the_relay() {
    let mut w = RdvWorld::standard(EIM, EIM);
    let size = 32 << 20;
    let t0 = w.now;
    assert!(w.register_both(t0 + Duration::from_secs(5)));
    assert!(w.send_to_b(size));
    w.run(w.now + Duration::from_secs(20), |w| {
        w.hosts[B].received > size / 4 && w.hosts[A].relayed() == Some(false)
    });
    assert_eq!(w.hosts[A].relayed(), Some(false), "went direct first");
    let before = w.relay_stats().relay_forwarded_bytes;
    let received = w.hosts[B].received;
    assert!(received < size, "cut before the end");
    w.blocked.insert((ip(2), ip(3)));
    w.run(w.now + Duration::from_secs(120), |w| w.hosts[B].finished);
    let o = w.outcome(t0);
    eprintln!("{o:?}");
    assert!(o.finished && !o.corrupt && o.received == size, "{o:?}");
    assert_eq!(o.a_relayed, Some(true), "{o:?}");
    assert!(
        o.relay_bytes - before >= size - received,
        "the rest went through the relay: {o:?}"
    );
    let _ = RELAY;
}
