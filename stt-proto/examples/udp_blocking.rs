//! A Node in a plain blocking loop over `std::net::UdpSocket`: no async runtime.
//!
//! Run: `cargo run -p stt-proto --example udp_blocking` — starts a responder and an
//! initiator on 127.0.0.1 in two threads; the initiator sends 1 MiB on a stream, the
//! responder checks it and both exit. The socket read timeout is `poll_timeout`.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use bytes::BytesMut;
use stt_proto::config::NodeConfig;
use stt_proto::frame::Dir;
use stt_proto::{Event, Identity, Instant, NetworkKey, Node, PathId, StreamEvent};

const LEN: usize = 1 << 20;

/// Maps socket addresses to the opaque path ids the core uses, both ways.
#[derive(Default)]
struct Paths {
    by_addr: HashMap<SocketAddr, PathId>,
    by_id: HashMap<PathId, SocketAddr>,
}

impl Paths {
    fn id(&mut self, addr: SocketAddr) -> PathId {
        let next = PathId(self.by_addr.len() as u64 + 1);
        let id = *self.by_addr.entry(addr).or_insert(next);
        self.by_id.insert(id, addr);
        id
    }
}

/// The whole adapter: feed datagrams and timeouts in, send what comes out.
/// `app` is called after every turn and returns true when the program is done.
fn run(
    socket: UdpSocket,
    mut node: Node,
    mut paths: Paths,
    mut app: impl FnMut(&mut Node, Instant, &mut Vec<Event>) -> bool,
) {
    let epoch = StdInstant::now();
    let now = || Instant::from_micros(epoch.elapsed().as_micros() as u64);
    let mut buf = vec![0u8; 65536];
    let mut events = Vec::new();
    loop {
        // 1. Send everything the node has.
        while let Some(t) = node.poll_transmit(now(), &mut buf) {
            let Some(addr) = paths.by_id.get(&t.path).copied() else {
                continue;
            };
            let seg = t.segment_size.unwrap_or(t.len);
            for d in buf[..t.len].chunks(seg) {
                let _ = socket.send_to(d, addr);
            }
        }
        while let Some(e) = node.poll_event() {
            events.push(e);
        }
        if app(&mut node, now(), &mut events) {
            return;
        }
        // 2. Sleep in recv until the next deadline.
        let wait = match node.poll_timeout() {
            Some(t) => Duration::from_micros(t.as_micros().saturating_sub(now().as_micros())),
            None => Duration::from_millis(100),
        };
        socket
            .set_read_timeout(Some(wait.max(Duration::from_micros(50))))
            .expect("set timeout");
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => {
                let path = paths.id(from);
                node.handle_datagram(now(), path, BytesMut::from(&buf[..n]));
            }
            Err(_) => node.handle_timeout(now()),
        }
        node.handle_timeout(now());
    }
}

fn make_node(tag: u8) -> Node {
    let network = NetworkKey::from_shared_seed(&[42u8; 32]).expect("seed");
    let identity = Identity::from_node_seed(&[tag; 32]).expect("seed");
    // The RNG seed must come from the OS's cryptographic generator, fresh per node and
    // per run: every ephemeral key the node draws derives from it. (The node and network
    // seeds above are fixed only to keep the example self-contained.)
    let mut rng_seed = [0u8; 32];
    getrandom::fill(&mut rng_seed).expect("OS randomness");
    Node::new(Arc::new(NodeConfig::default()), identity, network, rng_seed).expect("config")
}

fn main() {
    let server_sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let server_addr = server_sock.local_addr().expect("addr");
    let server = std::thread::spawn(move || {
        let mut received = Vec::new();
        let mut stream = None;
        run(
            server_sock,
            make_node(1),
            Paths::default(),
            move |node, now, events| {
                for e in events.drain(..) {
                    let Event::Stream { session, .. } = e else {
                        continue;
                    };
                    let Some(mut s) = node.session(session) else {
                        continue;
                    };
                    if stream.is_none() {
                        stream = s.accept_stream(Dir::Uni);
                    }
                    let Some(id) = stream else { continue };
                    loop {
                        match s.read(now, id, usize::MAX) {
                            Ok(Some(b)) => received.extend_from_slice(&b),
                            Ok(None) => {
                                assert_eq!(received.len(), LEN);
                                assert!(received.iter().enumerate().all(|(i, b)| *b == i as u8));
                                println!("responder: received {} bytes intact", received.len());
                                return true;
                            }
                            Err(_) => break,
                        }
                    }
                }
                false
            },
        );
    });

    let client_sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let mut paths = Paths::default();
    let path = paths.id(server_addr);
    let mut node = make_node(2);
    let started = StdInstant::now();
    let session = node.connect(Instant::ZERO, path).expect("connect");
    let data: Vec<u8> = (0..LEN).map(|i| i as u8).collect();
    let mut sent = 0;
    let mut stream = None;
    run(client_sock, node, paths, move |node, now, events| {
        for e in events.drain(..) {
            match e {
                Event::Connected { peer, .. } => {
                    println!("initiator: connected to {peer} in {:?}", started.elapsed());
                    stream = node
                        .session(session)
                        .and_then(|mut s| s.open_stream(now, Dir::Uni, 0, None).ok());
                }
                // Every byte and the end of the stream were acknowledged: done.
                Event::Stream {
                    event: StreamEvent::Finished(_),
                    ..
                } => return true,
                _ => {}
            }
        }
        if let (Some(id), Some(mut s)) = (stream, node.session(session)) {
            while sent < LEN {
                match s.write(now, id, &data[sent..]) {
                    Ok(n) => sent += n,
                    Err(_) => break,
                }
            }
            if sent == LEN {
                let _ = s.finish(now, id);
            }
        }
        false
    });
    server.join().expect("responder thread");
    println!("done in {:?}", started.elapsed());
}
