//! Who may use a rendezvous and relay (PROTOCOL.md §12.2, §12.6, §12.7): a non-member
//! can neither register nor look up; a member registers only the NodeId its session
//! proved, never another; relay datagrams count only from the path their route is bound
//! to, and go out only to a proven path; a member takes introductions only from a
//! rendezvous it uses; a node that does not serve says so; and the relay's limits
//! refuse and count.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stt_proto::frame::RdvStatus;
use stt_proto::{Event, Identity, NetworkKey, Node, RendezvousEvent};
use stt_sim::nat::Mapping;
use stt_sim::rendezvous::{A, B, RELAY, RdvWorld, member_config};

const EIM: Mapping = Mapping::EndpointIndependent;

fn registered_both(w: &mut RdvWorld) {
    let t = w.now + Duration::from_secs(5);
    assert!(w.register_both(t));
}

fn rdv_events(w: &RdvWorld, h: usize) -> Vec<RendezvousEvent> {
    w.hosts[h]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Rendezvous(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_non_member_can_neither_register_nor_look_up() {
    let mut w = RdvWorld::standard(EIM, EIM);
    registered_both(&mut w);
    // Host C holds another network seed (8, not 9).
    let outsider = Node::new(
        Arc::new(member_config()),
        Identity::from_node_seed(&[7; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[8; 32]).unwrap(),
        [7; 32],
    )
    .unwrap();
    let c = w.add_host(outsider, SocketAddr::from(([4, 0, 0, 1], 6000)), None);
    w.connect_rendezvous(c);
    let t = w.now + Duration::from_secs(15);
    w.run(t, |_| false);
    let r = w.hosts[c].rendezvous.expect("connect started");
    assert!(
        w.hosts[c]
            .node
            .session(r)
            .is_none_or(|mut s| !s.is_established()),
        "the outsider's handshake must fail"
    );
    assert!(!w.hosts[c].registered);
    let a_id = w.hosts[A].node.node_id();
    assert!(!w.lookup(c, a_id), "no session, no lookup");
    assert!(rdv_events(&w, c).is_empty());
    assert_eq!(w.hosts[RELAY].node.rendezvous_counts().0, 2, "only A and B");
    assert!(w.relay_stats().handshakes_failed_auth > 0);
}

#[test]
fn a_member_registers_only_the_node_id_its_session_proved() {
    let mut w = RdvWorld::standard(EIM, EIM);
    registered_both(&mut w);
    let (a_id, b_id) = (w.hosts[A].node.node_id(), w.hosts[B].node.node_id());
    // B registers again, and asks where A and B are: each is where its own session is.
    let now = w.now;
    let rb = w.hosts[B].rendezvous.unwrap();
    w.hosts[B]
        .node
        .session(rb)
        .unwrap()
        .rendezvous_register(now)
        .unwrap();
    assert!(w.lookup(B, a_id));
    assert!(w.lookup(B, b_id));
    let t = w.now + Duration::from_secs(2);
    w.run(t, |_| false);
    let found: Vec<SocketAddr> = rdv_events(&w, B)
        .iter()
        .filter_map(|e| match e {
            RendezvousEvent::Found { addr, .. } => addr.to_socket_addr(),
            _ => None,
        })
        .collect();
    assert_eq!(
        found,
        vec![
            "2.0.0.1:40000".parse::<SocketAddr>().unwrap(),
            "3.0.0.1:40000".parse().unwrap()
        ],
        "A's entry is A's NAT mapping, B's is B's"
    );
    assert_eq!(w.hosts[RELAY].node.rendezvous_counts().0, 2);
}

#[test]
fn relay_datagrams_count_only_from_the_path_their_route_is_bound_to() {
    let mut w = RdvWorld::standard(Mapping::Symmetric, EIM);
    registered_both(&mut w);
    w.capture = true;
    let b_id = w.hosts[B].node.node_id();
    w.hosts[A].to_send = 64 << 10;
    assert!(w.rendezvous_connect(A, b_id));
    let t = w.now + Duration::from_secs(10);
    w.run(t, |w| w.hosts[B].finished);
    assert!(w.hosts[B].finished && !w.hosts[B].corrupt);
    let (src, datagram) = w
        .captured
        .first()
        .cloned()
        .expect("A sent through the relay");
    let relay = w.relay_addr();
    let before = w.relay_stats();
    // The same datagram from anywhere else (an eavesdropper who learned the route id)
    // is not forwarded.
    w.inject(
        SocketAddr::from(([5, 0, 0, 1], src.port())),
        relay,
        datagram.clone(),
    );
    let mut other_route = datagram.clone();
    other_route[3] ^= 0xff;
    w.inject(src, relay, other_route);
    let after = w.relay_stats();
    assert_eq!(
        after.relay_dropped_wrong_source,
        before.relay_dropped_wrong_source + 1
    );
    assert_eq!(
        after.relay_dropped_unknown_route,
        before.relay_dropped_unknown_route + 1
    );
    assert_eq!(
        after.relay_forwarded_packets,
        before.relay_forwarded_packets
    );
    // From its own path it is forwarded (and B's replay window drops the copy).
    w.inject(src, relay, datagram);
    assert_eq!(
        w.relay_stats().relay_forwarded_packets,
        before.relay_forwarded_packets + 1
    );
}

#[test]
fn a_node_that_does_not_serve_answers_not_served() {
    let mut w = RdvWorld::with_relay(EIM, EIM, member_config());
    w.connect_rendezvous(A);
    let t = w.now + Duration::from_secs(3);
    w.run(t, |_| false);
    assert!(!w.hosts[A].registered);
    assert!(rdv_events(&w, A).iter().any(|e| matches!(
        e,
        RendezvousEvent::Failed {
            status: RdvStatus::NotServed,
            ..
        }
    )));
    assert_eq!(w.hosts[RELAY].node.rendezvous_counts(), (0, 0));
}

#[test]
fn route_limits_refuse_the_connect_and_count_it() {
    let mut cfg = member_config();
    cfg.rendezvous.serve = true;
    cfg.rendezvous.max_routes_per_peer = 0;
    let mut w = RdvWorld::with_relay(EIM, EIM, cfg);
    registered_both(&mut w);
    let b_id = w.hosts[B].node.node_id();
    assert!(w.rendezvous_connect(A, b_id));
    let t = w.now + Duration::from_secs(2);
    w.run(t, |_| false);
    assert!(rdv_events(&w, A).iter().any(|e| matches!(
        e,
        RendezvousEvent::Failed {
            status: RdvStatus::Refused,
            ..
        }
    )));
    assert_eq!(w.relay_stats().relay_routes_refused, 1);
    assert_eq!(w.hosts[RELAY].node.rendezvous_counts().1, 0);
}

#[test]
fn the_per_peer_rate_limits_a_relayed_transfer_and_counts_drops() {
    let mut cfg = member_config();
    cfg.rendezvous.serve = true;
    cfg.rendezvous.per_peer_rate = 250_000;
    let mut w = RdvWorld::with_relay(Mapping::Symmetric, EIM, cfg);
    let size = 1 << 20;
    let o = w.transfer(size, Duration::from_secs(60));
    eprintln!("{o:?}");
    assert!(o.finished && !o.corrupt && o.received == size, "{o:?}");
    assert_eq!(o.a_relayed, Some(true));
    // 1 MiB at 250 kB/s with a one-second burst: at least 3 s.
    assert!(o.elapsed >= Duration::from_secs(3), "{o:?}");
    assert!(w.relay_stats().relay_dropped_rate > 0);
}

#[test]
fn a_repeated_introduction_is_announced_once() {
    let mut w = RdvWorld::standard(EIM, EIM);
    registered_both(&mut w);
    w.capture = true;
    let b_id = w.hosts[B].node.node_id();
    assert!(w.rendezvous_connect(A, b_id));
    let t = w.now + Duration::from_secs(2);
    w.run(t, |_| false);
    let peers = |w: &RdvWorld| {
        rdv_events(w, A)
            .iter()
            .filter(|e| matches!(e, RendezvousEvent::Peer { .. }))
            .count()
    };
    assert_eq!(peers(&w), 1);
    // A's route id, from a relay datagram A sent.
    let a_public: SocketAddr = "2.0.0.1:40000".parse().unwrap();
    let (_, datagram) = w
        .captured
        .iter()
        .find(|(src, _)| *src == a_public)
        .cloned()
        .expect("A sent through the relay");
    let route: [u8; 8] = datagram[3..11].try_into().unwrap();
    // The relay sends RDV_PEER again for that route, with another address: sealed on
    // its session with A as a retransmission would be.
    inject_from_relay(&mut w, A, &rdv_peer(0, &b_id.0, &route));
    let t = w.now + Duration::from_secs(1);
    w.run(t, |_| false);
    assert_eq!(peers(&w), 1, "the repeated route is not announced again");
}

/// RDV_PEER (request `request_id` < 64, role target) introducing `node` on `route`
/// at 4.9.9.9:8080 (PROTOCOL.md §12.2).
fn rdv_peer(request_id: u8, node: &[u8; 32], route: &[u8; 8]) -> Vec<u8> {
    assert!(request_id < 64, "one-byte varint");
    let mut frame = vec![0x54, request_id, 0x00];
    frame.extend_from_slice(node);
    frame.extend_from_slice(route);
    frame.extend_from_slice(&[0x00, 7, 4, 4, 9, 9, 9, 0x1f, 0x90]);
    frame
}

/// Seals `frames` on the relay's session with host `to` and delivers them from the
/// relay's address, as the relay's own packets arrive.
fn inject_from_relay(w: &mut RdvWorld, to: usize, frames: &[u8]) {
    let to_id = w.hosts[to].node.node_id();
    let relay = &mut w.hosts[RELAY].node;
    let h = relay
        .sessions()
        .into_iter()
        .find(|h| relay.session(*h).and_then(|mut s| s.peer()) == Some(to_id))
        .expect("the relay's session with the host");
    let mut buf = vec![0u8; 2048];
    let now = w.now;
    let n = relay
        .session(h)
        .unwrap()
        .seal_raw_frames(now, stt_proto::frame::StreamId::CONTROL, frames, &mut buf)
        .expect("sealed");
    let public: SocketAddr = match to {
        A => "2.0.0.1:40000",
        _ => "3.0.0.1:40000",
    }
    .parse()
    .unwrap();
    let relay_addr = w.relay_addr();
    w.inject(relay_addr, public, buf[..n].to_vec());
}

#[test]
fn an_introduction_counts_only_from_a_rendezvous_the_member_uses() {
    // The "rendezvous" does not serve, so A's registration fails: an unrequested
    // introduction on that session is dropped and counted, as is one answering a
    // CONNECT A never sent.
    let mut cfg = member_config();
    cfg.rendezvous.serve = false;
    let mut w = RdvWorld::with_relay(EIM, EIM, cfg);
    w.connect_rendezvous(A);
    let t = w.now + Duration::from_secs(2);
    w.run(t, |_| false);
    let failed = rdv_events(&w, A)
        .iter()
        .any(|e| matches!(e, RendezvousEvent::Failed { .. }));
    assert!(
        failed,
        "the registration was refused: {:?}",
        rdv_events(&w, A)
    );
    let b_id = w.hosts[B].node.node_id();
    inject_from_relay(&mut w, A, &rdv_peer(0, &b_id.0, &[1; 8]));
    inject_from_relay(&mut w, A, &rdv_peer(37, &b_id.0, &[2; 8]));
    let t = w.now + Duration::from_secs(1);
    w.run(t, |_| false);
    let peers = rdv_events(&w, A)
        .iter()
        .filter(|e| matches!(e, RendezvousEvent::Peer { .. }))
        .count();
    assert_eq!(peers, 0, "no introduction is announced");
    assert_eq!(w.hosts[A].node.stats().rendezvous_unsolicited, 2);

    // Registered, A still ignores an answer to a CONNECT it never sent, and takes an
    // unrequested introduction (the control: the rule is not "drop all").
    let mut w = RdvWorld::standard(EIM, EIM);
    registered_both(&mut w);
    w.capture = true;
    inject_from_relay(&mut w, A, &rdv_peer(37, &b_id.0, &[3; 8]));
    inject_from_relay(&mut w, A, &rdv_peer(0, &b_id.0, &[4; 8]));
    let t = w.now + Duration::from_secs(1);
    w.run(t, |_| false);
    let peers: Vec<_> = rdv_events(&w, A)
        .into_iter()
        .filter(|e| matches!(e, RendezvousEvent::Peer { .. }))
        .collect();
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert!(matches!(peers[0], RendezvousEvent::Peer { request: 0, .. }));
    assert_eq!(w.hosts[A].node.stats().rendezvous_unsolicited, 1);
}

/// Found by the `rendezvous_relay` fuzz target: a copy of one of B's packets to the
/// relay, sent from a third party's address and arriving first, moved the relay's
/// session with B to that unproven address, and the relay forwarded the route's
/// traffic there (relayed bytes are not the session's own, so its 3x budget did not
/// cover them). Now the relay forwards only to B's proven path, and the transfer goes on.
#[test]
fn a_spoofed_copy_of_a_members_packet_does_not_aim_the_relay_at_a_third_party() {
    let sym = Mapping::Symmetric;
    let mut w = RdvWorld::standard(sym, sym);
    registered_both(&mut w);
    let victim = Node::new(
        Arc::new(member_config()),
        Identity::from_node_seed(&[6; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
        [6; 32],
    )
    .unwrap();
    let victim_addr = SocketAddr::from(([6, 0, 0, 6], 666));
    let v = w.add_host(victim, victim_addr, None);
    let size = 32 << 20;
    assert!(w.send_to_b(size));
    let relay = w.relay_addr();
    let b_public = std::net::IpAddr::from([3, 0, 0, 1]);
    // B's own packets to the relay (its relay session's, not relay datagrams) are
    // rare (keepalives): wait for one in flight while the transfer runs.
    let own = |(src, dst, b): &(SocketAddr, SocketAddr, &[u8])| {
        src.ip() == b_public && *dst == relay && !b.starts_with(b"SR")
    };
    w.run(w.now + Duration::from_secs(30), |w| {
        w.hosts[B].received > 1 << 20 && w.in_flight().any(|p| own(&p))
    });
    assert_eq!(
        w.hosts[B].relayed(),
        Some(true),
        "a symmetric NAT stays relayed"
    );
    assert!(!w.hosts[B].finished, "the copy is made mid-transfer");
    let copy = w
        .in_flight()
        .find(own)
        .map(|(_, _, b)| b.to_vec())
        .expect("a packet of B's relay session in flight");
    // The copy, from the victim's address, arrives before the original.
    w.inject(victim_addr, relay, copy);
    let forwarded = w.relay_stats().relay_forwarded_packets;
    let t0 = w.now;
    w.run(t0 + Duration::from_secs(60), |w| w.hosts[B].finished);
    let o = w.outcome(t0);
    assert!(o.finished && !o.corrupt, "{o:?}");
    assert!(w.relay_stats().relay_forwarded_packets > forwarded + 100);
    assert_eq!(
        w.hosts[v].node.stats().relay_dropped_unknown_route,
        0,
        "relay datagrams reached the victim"
    );
}
