//! Self-tests of the relay topology (`stt_tests::topology`): each would fail if the
//! namespaces were wired, routed or NATed other than the relay tests assume. Plain
//! `std::net` sockets made inside the namespaces, no `stt`. Root only: without root
//! or `ip`/`nft` each test prints why it is skipped and passes.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use stt_tests::topology::{Host, Nat, PUBLIC_2, RELAY, Topology, build_or_skip};

/// How long a test waits before it concludes that nothing arrives (a veth hop takes
/// microseconds; this is generous).
const NOTHING: Duration = Duration::from_millis(400);
/// The rendezvous port the public side observes on.
const RDV: u16 = 3478;

fn any() -> SocketAddr {
    "0.0.0.0:0".parse().unwrap()
}

fn at(ip: std::net::Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::from((ip, port))
}

/// The next datagram on `sock` within `within`, with its source.
fn recv(sock: &UdpSocket, within: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    sock.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1500];
    sock.recv_from(&mut buf)
        .ok()
        .map(|(n, from)| (buf[..n].to_vec(), from))
}

/// Sends one datagram from `sock` to each of `to` (listeners made on the public side)
/// and returns the source address each listener saw.
fn observed(topo: &Topology, sock: &UdpSocket, to: &[SocketAddr]) -> Vec<SocketAddr> {
    let listeners: Vec<_> = to
        .iter()
        .map(|a| topo.udp(Host::Public, *a).expect("public listener"))
        .collect();
    for a in to {
        sock.send_to(b"where am I", a).unwrap();
    }
    listeners
        .iter()
        .zip(to)
        .map(|(l, a)| {
            recv(l, Duration::from_secs(2))
                .unwrap_or_else(|| panic!("nothing reached the public side at {a}"))
                .1
        })
        .collect()
}

/// Both sides send to each other's mapped address every 20 ms for up to `within`,
/// as hole punching does; each returns where its first datagram came from, if any.
fn punch(
    a: &UdpSocket,
    a_to: SocketAddr,
    b: &UdpSocket,
    b_to: SocketAddr,
    within: Duration,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let side = |sock: &UdpSocket, to: SocketAddr| {
        let end = Instant::now() + within;
        let mut got = None;
        // After the first arrival keep sending a little, so the other side gets one too.
        let mut linger = None;
        while Instant::now() < end && linger.is_none_or(|l| Instant::now() < l) {
            sock.send_to(b"punch", to).unwrap();
            if let Some((_, from)) = recv(sock, Duration::from_millis(20))
                && got.is_none()
            {
                got = Some(from);
                linger = Some(Instant::now() + Duration::from_millis(200));
            }
        }
        got
    };
    std::thread::scope(|s| {
        let ta = s.spawn(|| side(a, a_to));
        let tb = s.spawn(|| side(b, b_to));
        (ta.join().unwrap(), tb.join().unwrap())
    })
}

/// Empties `sock` of datagrams already queued.
/// One UDP socket in each home and each one's mapped address as the relay sees it:
/// what a rendezvous would tell each side about the other.
fn homes_as_seen_from_the_relay(topo: &Topology) -> (UdpSocket, UdpSocket, SocketAddr, SocketAddr) {
    let (a, b) = (
        topo.udp(Host::HomeA, any()).unwrap(),
        topo.udp(Host::HomeB, any()).unwrap(),
    );
    let a_mapped = observed(topo, &a, &[at(RELAY, RDV)])[0];
    let b_mapped = observed(topo, &b, &[at(RELAY, RDV)])[0];
    (a, b, a_mapped, b_mapped)
}

fn drain(sock: &UdpSocket) {
    while recv(sock, Duration::from_millis(50)).is_some() {}
}

#[test]
fn udp_from_a_home_reaches_the_public_side_from_its_nat_address() {
    let Some(topo) = build_or_skip(
        "udp_from_a_home_reaches_the_public_side_from_its_nat_address",
        Topology::builder(),
    ) else {
        return;
    };
    for (home, nat) in [(Host::HomeA, Host::NatA), (Host::HomeB, Host::NatB)] {
        let sock = topo.udp(home, any()).unwrap();
        let seen = observed(&topo, &sock, &[at(RELAY, RDV)])[0];
        assert_eq!(seen.ip(), nat.addr(), "{home:?} seen as {seen}");
        assert_ne!(seen.ip(), home.addr());
    }
}

#[test]
fn an_endpoint_independent_nat_shows_one_mapping_to_every_destination() {
    let Some(topo) = build_or_skip(
        "an_endpoint_independent_nat_shows_one_mapping_to_every_destination",
        Topology::builder(),
    ) else {
        return;
    };
    let sock = topo.udp(Host::HomeA, any()).unwrap();
    let local = sock.local_addr().unwrap().port();
    let seen = observed(&topo, &sock, &[at(RELAY, RDV), at(PUBLIC_2, RDV)]);
    assert_eq!(seen[0], seen[1], "one mapping for both destinations");
    // Linux masquerade keeps the source port when it is free.
    assert_eq!(seen[0].port(), local, "source port kept: {seen:?}");
}

#[test]
fn a_symmetric_nat_shows_a_new_port_per_destination() {
    let Some(topo) = build_or_skip(
        "a_symmetric_nat_shows_a_new_port_per_destination",
        Topology::builder().nat_a(Nat::Symmetric),
    ) else {
        return;
    };
    let sock = topo.udp(Host::HomeA, any()).unwrap();
    let seen = observed(
        &topo,
        &sock,
        &[at(RELAY, RDV), at(PUBLIC_2, RDV), at(RELAY, RDV + 1)],
    );
    assert!(seen.iter().all(|s| s.ip() == Host::NatA.addr()));
    // A keyed hash per destination: two of three ports could collide by chance
    // (1 in ~64,000); all three only with a NAT that is not symmetric.
    let ports: BTreeSet<u16> = seen.iter().map(|s| s.port()).collect();
    assert!(ports.len() >= 2, "one port for every destination: {seen:?}");
}

#[test]
fn a_udp_blocked_nat_lets_out_only_tcp_to_the_relay_port() {
    let Some(topo) = build_or_skip(
        "a_udp_blocked_nat_lets_out_only_tcp_to_the_relay_port",
        Topology::builder().nat_a(Nat::UdpBlocked),
    ) else {
        return;
    };
    let port = topo.relay_tcp_port();
    let udp = topo.udp(Host::Public, at(RELAY, RDV)).unwrap();
    let relay_tcp = topo.tcp_listen(Host::Public, at(RELAY, port)).unwrap();
    let other_tcp = topo.tcp_listen(Host::Public, at(RELAY, 8443)).unwrap();

    // UDP from A does not get out; from B (endpoint-independent) it does.
    let a = topo.udp(Host::HomeA, any()).unwrap();
    a.send_to(b"udp from A", at(RELAY, RDV)).unwrap();
    assert_eq!(recv(&udp, NOTHING), None, "UDP left the UDP-blocked NAT");
    let b = topo.udp(Host::HomeB, any()).unwrap();
    b.send_to(b"udp from B", at(RELAY, RDV)).unwrap();
    let (got, from) = recv(&udp, Duration::from_secs(2)).expect("B's UDP arrives");
    assert_eq!(
        (got.as_slice(), from.ip()),
        (&b"udp from B"[..], std::net::IpAddr::V4(Host::NatB.addr()))
    );

    // TCP from A to the relay's port works, both ways.
    let mut conn = topo
        .tcp_connect(Host::HomeA, at(RELAY, port), Duration::from_secs(2))
        .expect("TCP to the relay port");
    conn.write_all(b"tcp from A").unwrap();
    let (mut accepted, peer) = relay_tcp.accept().unwrap();
    assert_eq!(peer.ip(), Host::NatA.addr());
    let mut buf = [0u8; 10];
    accepted.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"tcp from A");
    accepted.write_all(b"ok").unwrap();
    let mut ok = [0u8; 2];
    conn.read_exact(&mut ok).unwrap();
    assert_eq!(&ok, b"ok");

    // TCP from A to any other port does not; from B it does.
    assert!(
        topo.tcp_connect(Host::HomeA, at(RELAY, 8443), NOTHING)
            .is_err(),
        "TCP to another port left the UDP-blocked NAT"
    );
    topo.tcp_connect(Host::HomeB, at(RELAY, 8443), Duration::from_secs(2))
        .expect("B reaches the other port");
    drop(other_tcp);
}

#[test]
fn a_home_cannot_reach_the_other_homes_private_address() {
    let Some(topo) = build_or_skip(
        "a_home_cannot_reach_the_other_homes_private_address",
        Topology::builder(),
    ) else {
        return;
    };
    let b = topo.udp(Host::HomeB, at(Host::HomeB.addr(), 5000)).unwrap();
    let _b_tcp = topo
        .tcp_listen(Host::HomeB, at(Host::HomeB.addr(), 5001))
        .unwrap();
    let a = topo.udp(Host::HomeA, any()).unwrap();
    a.send_to(b"direct", at(Host::HomeB.addr(), 5000)).unwrap();
    assert_eq!(recv(&b, NOTHING), None, "A reached B's private address");
    assert!(
        topo.tcp_connect(Host::HomeA, at(Host::HomeB.addr(), 5001), NOTHING)
            .is_err(),
        "A connected to B's private address"
    );
    // The socket B listens on does receive: a reply from the public side comes in.
    let public = topo.udp(Host::Public, at(RELAY, RDV)).unwrap();
    b.send_to(b"hello", at(RELAY, RDV)).unwrap();
    let (_, b_mapped) = recv(&public, Duration::from_secs(2)).expect("B reaches the relay");
    public.send_to(b"reply", b_mapped).unwrap();
    assert!(
        recv(&b, Duration::from_secs(2)).is_some(),
        "B's socket works"
    );
}

#[test]
fn two_endpoint_independent_homes_punch_a_udp_pair() {
    let Some(topo) = build_or_skip(
        "two_endpoint_independent_homes_punch_a_udp_pair",
        Topology::builder(),
    ) else {
        return;
    };
    let (a, b, a_mapped, b_mapped) = homes_as_seen_from_the_relay(&topo);
    let started = Instant::now();
    let (a_got, b_got) = punch(&a, b_mapped, &b, a_mapped, Duration::from_secs(3));
    eprintln!(
        "punched {a_mapped} <-> {b_mapped} in {:?}",
        started.elapsed()
    );
    assert_eq!(a_got, Some(b_mapped), "A heard B from its mapped address");
    assert_eq!(b_got, Some(a_mapped), "B heard A from its mapped address");
}

#[test]
fn a_symmetric_home_defeats_plain_punching() {
    let Some(topo) = build_or_skip(
        "a_symmetric_home_defeats_plain_punching",
        Topology::builder().nat_a(Nat::Symmetric),
    ) else {
        return;
    };
    let (a, b, a_mapped, b_mapped) = homes_as_seen_from_the_relay(&topo);
    let (a_got, b_got) = punch(&a, b_mapped, &b, a_mapped, Duration::from_millis(1500));
    assert_eq!((a_got, b_got), (None, None), "punching got through");
}

#[test]
fn cutting_the_direct_path_stops_punched_traffic_but_not_the_relay() {
    let Some(topo) = build_or_skip(
        "cutting_the_direct_path_stops_punched_traffic_but_not_the_relay",
        Topology::builder(),
    ) else {
        return;
    };
    let (a, b, a_mapped, b_mapped) = homes_as_seen_from_the_relay(&topo);
    let (a_got, b_got) = punch(&a, b_mapped, &b, a_mapped, Duration::from_secs(3));
    assert!(a_got.is_some() && b_got.is_some(), "punching failed");
    drain(&a);
    drain(&b);

    topo.cut_direct().unwrap();
    a.send_to(b"cut", b_mapped).unwrap();
    b.send_to(b"cut", a_mapped).unwrap();
    assert_eq!(recv(&b, NOTHING), None, "A reached B across the cut");
    assert_eq!(recv(&a, NOTHING), None, "B reached A across the cut");
    // The relay is still reachable from both homes, and can answer.
    let relay = topo.udp(Host::Public, at(RELAY, RDV)).unwrap();
    for home in [&a, &b] {
        home.send_to(b"via relay", at(RELAY, RDV)).unwrap();
        let (_, from) = recv(&relay, Duration::from_secs(2)).expect("relay reached");
        relay.send_to(b"relayed", from).unwrap();
        let (got, _) = recv(home, Duration::from_secs(2)).expect("relay answered");
        assert_eq!(got, b"relayed");
    }

    topo.restore_direct().unwrap();
    a.send_to(b"restored", b_mapped).unwrap();
    let (got, from) = recv(&b, Duration::from_secs(2)).expect("direct path back");
    assert_eq!((got.as_slice(), from), (&b"restored"[..], a_mapped));
}

#[test]
fn commands_run_inside_their_namespace() {
    let Some(topo) = build_or_skip("commands_run_inside_their_namespace", Topology::builder())
    else {
        return;
    };
    for (host, mine, not) in [
        (Host::HomeA, "10.11.0.2/24", "10.99."),
        (Host::Public, "10.99.0.1/32", "10.11."),
    ] {
        let out = topo
            .command(host, "ip")
            .args(["-4", "-o", "addr", "show"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(mine) && !text.contains(not),
            "{host:?}: {text}"
        );
    }
}

fn namespaces() -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_namespaces_go_on_drop_and_after_a_panic() {
    let Some(topo) = build_or_skip(
        "the_namespaces_go_on_drop_and_after_a_panic",
        Topology::builder(),
    ) else {
        return;
    };
    let names = topo.names().to_vec();
    assert_eq!(names.len(), 5);
    let listed = namespaces();
    assert!(
        names.iter().all(|n| listed.contains(n.as_str())),
        "{listed}"
    );
    // A process left running inside is killed with its namespace.
    let mut stray = topo
        .command(Host::HomeA, "sleep")
        .arg("30")
        .spawn()
        .unwrap();
    drop(topo);
    let listed = namespaces();
    assert!(
        !names.iter().any(|n| listed.contains(n.as_str())),
        "{listed}"
    );
    let status = stray.wait().unwrap();
    assert!(!status.success(), "the stray process was killed: {status}");

    let mut names = Vec::new();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let topo = Topology::builder().build().unwrap();
        names = topo.names().to_vec();
        panic!("a test failing with its topology built");
    }));
    assert!(result.is_err());
    assert_eq!(names.len(), 5);
    let listed = namespaces();
    assert!(
        !names.iter().any(|n| listed.contains(n.as_str())),
        "{listed}"
    );
}

#[test]
fn leftovers_of_a_dead_run_are_removed_and_those_of_live_runs_kept() {
    // Building one first checks the prerequisites (and removes leftovers once).
    let Some(topo) = build_or_skip(
        "leftovers_of_a_dead_run_are_removed_and_those_of_live_runs_kept",
        Topology::builder(),
    ) else {
        return;
    };
    // A pid that was ours a moment ago and is gone now.
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let dead_ns = format!("stt-t{dead}-0-p");
    let live_ns = format!("stt-t{}-4000000000-p", std::process::id());
    for ns in [&dead_ns, &live_ns] {
        stt_tests::netns::ip(&["netns", "add", ns]).unwrap();
    }
    let mut stray = std::process::Command::new("ip")
        .args(["netns", "exec", &dead_ns, "sleep", "30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    stt_tests::topology::remove_leftovers();
    let listed = namespaces();
    let _ = stt_tests::netns::ip(&["netns", "del", &live_ns]);
    assert!(!listed.contains(dead_ns.as_str()), "{listed}");
    assert!(listed.contains(live_ns.as_str()), "{listed}");
    assert!(listed.contains(topo.names()[0].as_str()), "{listed}");
    let status = stray.wait().unwrap();
    assert!(!status.success(), "the stray process was killed: {status}");
}
