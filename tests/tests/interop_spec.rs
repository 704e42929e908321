//! The independent hybrid-handshake implementation of `stt_tests::indep` (written from
//! `docs/PROTOCOL.md` alone) checked against the document's own test vectors (§11.1,
//! §11.3, §11.4, §11.6, read from the file, so the document is what is tested) and
//! against real stt-tokio nodes over loopback UDP in both roles.

use std::path::PathBuf;

use stt_tests::indep::handshake::{self, Config, Initiator, Responder, Step};
use stt_tests::indep::prims::{self, Keys};
use stt_tests::indep::record::Direction;

fn spec() -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md");
    std::fs::read_to_string(p).expect("PROTOCOL.md")
}

/// The hex value in the fenced block right after the line `label:` of §11.
fn vector(spec: &str, label: &str) -> Vec<u8> {
    let want = format!("{label}:");
    let mut lines = spec.lines().skip_while(|l| l.trim() != want);
    assert!(lines.next().is_some(), "no vector {label:?} in PROTOCOL.md");
    assert_eq!(lines.next().map(str::trim), Some("```"), "{label}");
    hex::decode(lines.next().expect("value").trim()).expect("hex")
}

fn inputs<'a>(node_seed: &'a [u8], rng: u8, sid: u64, params: &'a [u8]) -> Config<'a> {
    Config {
        node_seed,
        shared_seed: &[0x33; 32],
        rng_seed: [rng; 32],
        sid,
        params,
    }
}

const SID_I: u64 = 0x0101_0101_0101_0101;
const SID_R: u64 = 0x0202_0202_0202_0202;

#[test]
fn keys_and_record_vectors_11_1_to_11_4() {
    let s = spec();
    let ki = Keys::new(&[0x11; 32], &[0x33; 32]);
    let kr = Keys::new(&[0x22; 32], &[0x33; 32]);
    assert_eq!(
        ki.static_public.to_vec(),
        vector(&s, "initiator static public key")
    );
    assert_eq!(
        kr.static_public.to_vec(),
        vector(&s, "responder static public key")
    );
    use sha3::Digest;
    assert_eq!(
        sha3::Sha3_256::digest(ki.static_public).to_vec(),
        vector(&s, "initiator node_id")
    );
    assert_eq!(ki.psk.to_vec(), vector(&s, "psk"));
    assert_eq!(ki.cookie_key.to_vec(), vector(&s, "cookie key"));
    assert_eq!(
        kr.reset_token(SID_R).to_vec(),
        vector(&s, "responder reset token for SID_R")
    );
    // §11.3 from §11.3's secrets, §11.4 from §11.3's i2r secret.
    let i2r = Direction::new(vector(&s, "secret i2r (phase 0)").try_into().unwrap());
    assert_eq!(i2r.key.to_vec(), vector(&s, "key i2r (phase 0)"));
    assert_eq!(i2r.iv.to_vec(), vector(&s, "iv i2r (phase 0)"));
    assert_eq!(
        i2r.next_secret().to_vec(),
        vector(&s, "secret i2r (phase 1)")
    );
    assert_eq!(
        i2r.stream_key(4).to_vec(),
        vector(&s, "stream 4 key i2r (phase 0)")
    );
    let rec = i2r.seal(0x10, SID_R, 4, 0, b"hello, stt");
    assert_eq!(rec, vector(&s, "DATA record"));
}

#[test]
fn hybrid_vectors_11_6_reproduced_byte_for_byte() {
    let s = spec();
    let (pi, pr) = (b"params-i".as_slice(), b"params-r".as_slice());
    let mut ini = Initiator::new(&inputs(&[0x11; 32], 0x44, SID_I, pi));
    let mut res = Responder::new(&inputs(&[0x22; 32], 0x55, SID_R, pr));
    assert_eq!(ini.keys().hybrid_key.to_vec(), vector(&s, "hybrid key"));
    // The ek travels sealed: recompute it from the RNG to compare its digest.
    let mut rng = prims::Rng::new([0x44; 32]);
    let _e: [u8; 32] = rng.draw();
    let dz: [u8; 64] = rng.draw();
    let (_dk, ek) = prims::kem_keygen(&dz);
    assert_eq!(
        prims::sha256(&ek).to_vec(),
        vector(&s, "hybrid ML-KEM ek SHA-256")
    );
    let [f0, f1] = ini.init_fragments();
    assert_eq!((f0.len(), f1.len()), (1200, 330));
    assert_eq!(
        prims::sha256(&f0).to_vec(),
        vector(&s, "hybrid INIT fragment 0 SHA-256")
    );
    assert_eq!(f1, vector(&s, "hybrid INIT fragment 1"));
    assert!(res.on_init_fragment(&f0).is_none());
    let [c0, c1] = res.on_init_fragment(&f1).unwrap().unwrap();
    assert_eq!(c0.len(), 1200);
    assert_eq!(c1.len(), 100 + pr.len());
    assert_eq!(
        prims::sha256(&c0).to_vec(),
        vector(&s, "hybrid CHALLENGE fragment 0 SHA-256")
    );
    assert!(ini.on_datagram(&c1).is_none());
    let Step::Done(response, si) = ini.on_datagram(&c0).unwrap().unwrap() else {
        panic!("not a CHALLENGE");
    };
    assert_eq!(response, vector(&s, "hybrid RESPONSE"));
    let sr = res.on_response(&response).unwrap();
    assert_eq!(si.h, sr.h);
    assert_eq!(si.h.to_vec(), vector(&s, "hybrid handshake hash"));
    assert_eq!(si.i2r.to_vec(), vector(&s, "hybrid secret i2r (phase 0)"));
    assert_eq!((si.i2r, si.r2i), (sr.i2r, sr.r2i));
    assert_eq!(si.peer_params, pr);
    assert_eq!(sr.peer_params, pi);
}

/// §11.2 and §11.3 with the classic pattern: our INIT equals the document's, and the
/// document's CHALLENGE gives the document's RESPONSE, hash and traffic secrets.
#[test]
fn classic_vectors_11_2_reproduced() {
    let s = spec();
    let cfg = inputs(&[0x11; 32], 0x44, SID_I, b"params-i");
    let e: [u8; 32] = prims::Rng::new([0x44; 32]).draw();
    let mut ini = Initiator::classic(&cfg, e, 0);
    assert_eq!(ini.init_datagrams(), vec![vector(&s, "INIT")]);
    let Step::Done(response, est) = ini.on_datagram(&vector(&s, "CHALLENGE")).unwrap().unwrap()
    else {
        panic!("not a CHALLENGE");
    };
    assert_eq!(response, vector(&s, "RESPONSE"));
    assert_eq!(est.h.to_vec(), vector(&s, "handshake hash"));
    assert_eq!(est.i2r.to_vec(), vector(&s, "secret i2r (phase 0)"));
    assert_eq!(est.r2i.to_vec(), vector(&s, "secret r2i (phase 0)"));
    assert_eq!(est.peer_params, b"params-r");
}

#[test]
fn mlkem_keygen_known_answer_from_the_document() {
    let d =
        hex::decode("e34a701c4c87582f42264ee422d3c684d97611f2523efe0c998af05056d693dc").unwrap();
    let z =
        hex::decode("a85768f3486bd32a01bf9a8f21ea938e648eae4e5448c34c3eb88820b159eedd").unwrap();
    let dz: [u8; 64] = [d, z].concat().try_into().unwrap();
    let (_dk, ek) = prims::kem_keygen(&dz);
    use sha3::Digest;
    assert_eq!(
        hex::encode(sha3::Sha3_256::digest(&ek)),
        "e29020839d052fa372585627f8b59ee312ae414c979d825f06a6929a79625718"
    );
}

// ---------------------------------------------------------------------------------------
// Against real stt-tokio nodes over loopback UDP.

use std::net::SocketAddr;
use std::time::Duration;

use stt_proto::PqMode;
use stt_tests::indep::frames::{self, Frame};
use stt_tests::indep::handshake::Established;
use stt_tests::indep::record::{T_CONFIRM, T_DATA};
use stt_tokio::{Identity, NetworkKey, Node, NodeConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;

const SHARED: [u8; 32] = [9; 32];
const LIMIT: Duration = Duration::from_secs(60);
const RTO: Duration = Duration::from_millis(400);

async fn real_node(tag: u8, pq: PqMode, handshake_timeout: Duration) -> Node {
    let config = NodeConfig {
        pq,
        handshake_timeout,
        ..NodeConfig::default()
    };
    Node::builder(
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&SHARED).unwrap(),
    )
    .config(config)
    .bind_udp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
    .build()
    .await
    .unwrap()
}

/// Transport parameters (§5.8) granting the peer room to answer on one stream.
fn params() -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in [
        (1u64, 8u64),
        (2, 8),
        (3, 1 << 20),
        (4, 1 << 20),
        (5, 30_000),
    ] {
        frames::put_varint(&mut p, id);
        frames::put_varint(&mut p, v);
    }
    p
}

async fn recv(sock: &UdpSocket, within: Duration) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 2048];
    match tokio::time::timeout(within, sock.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => {
            buf.truncate(n);
            Some((buf, from))
        }
        _ => None,
    }
}

/// Sends our INIT (re-sending it every RTO) until a CHALLENGE verifies or a REFUSE bound
/// to it does.
async fn run_initiator(sock: &UdpSocket, to: SocketAddr, ini: &mut Initiator) -> Step {
    'send: loop {
        for f in ini.init_datagrams() {
            sock.send_to(&f, to).await.unwrap();
        }
        let deadline = tokio::time::Instant::now() + RTO;
        while let Some((d, _)) = recv(sock, deadline - tokio::time::Instant::now()).await {
            match ini.on_datagram(&d) {
                Some(Ok(Step::Cookie)) => continue 'send,
                Some(Ok(step)) => return step,
                Some(Err(e)) => panic!("message 2 from the real node refused: {e:?}"),
                None => {}
            }
        }
    }
}

/// Runs our initiator against `to` until message 2 verifies: (RESPONSE, session).
async fn handshake_as_initiator(
    sock: &UdpSocket,
    to: SocketAddr,
    ini: &mut Initiator,
) -> (Vec<u8>, Established) {
    match run_initiator(sock, to, ini).await {
        Step::Done(r, est) => (r, *est),
        other => panic!("no session: {other:?}"),
    }
}

/// After the handshake, one stream exchange on stream 4 (the initiator's first
/// bidirectional stream): the initiator sends `msg` with FIN at once (re-sending it and
/// RESPONSE until the peer answers); the responder sends a CONFIRM at once (§5.9) and
/// answers the peer's bytes, reversed, with FIN. Everything the peer sends is
/// acknowledged. Returns the peer's stream-4 bytes once its FIN arrived and ours was
/// acknowledged.
async fn exchange(
    sock: &UdpSocket,
    to: SocketAddr,
    response: Option<&[u8]>,
    est: &Established,
    msg: Option<&[u8]>,
) -> Vec<u8> {
    let initiator = response.is_some();
    let (tx, rx) = if initiator {
        (Direction::new(est.i2r), Direction::new(est.r2i))
    } else {
        (Direction::new(est.r2i), Direction::new(est.i2r))
    };
    let mut confirmed = initiator; // the responder sends CONFIRM until an ACK arrives
    let ty = |confirmed: bool| if confirmed { T_DATA } else { T_CONFIRM };
    let mut pn = 0u64;
    let mut got = Vec::new();
    let mut peer_fin = false;
    let mut largest: Option<u64> = None;
    let mut out: Option<Vec<u8>> = msg.map(<[u8]>::to_vec);
    let mut out_acked = false;
    loop {
        if largest.is_none() {
            match response {
                Some(r) => sock.send_to(r, to).await.unwrap(),
                None => {
                    let p = tx.seal(ty(confirmed), est.peer_sid, 0, pn, &[0x14]);
                    pn += 1;
                    sock.send_to(&p, to).await.unwrap()
                }
            };
        }
        if let (Some(m), false) = (&out, out_acked) {
            let mut f = Vec::new();
            frames::data(&mut f, true, 0, m);
            let p = tx.seal(ty(confirmed), est.peer_sid, 4, pn, &f);
            pn += 1;
            sock.send_to(&p, to).await.unwrap();
        }
        while let Some((d, _)) = recv(sock, RTO).await {
            let Some((_, stream, their_pn, pt)) = rx.open(&d) else {
                continue; // a retransmitted handshake packet, say
            };
            largest = Some(largest.map_or(their_pn, |l| l.max(their_pn)));
            for f in frames::parse(&pt).expect("frames from the real node decode") {
                match f {
                    Frame::Ack { .. } => {
                        confirmed = true;
                        out_acked |= out.is_some();
                    }
                    Frame::Data { fin, offset, data } if stream == 4 => {
                        let end = offset as usize + data.len();
                        if got.len() < end {
                            got.resize(end, 0);
                        }
                        got[offset as usize..end].copy_from_slice(&data);
                        peer_fin |= fin;
                    }
                    Frame::Disconnect { code } => panic!("real node closed: {code:#x}"),
                    _ => {}
                }
            }
            let mut a = Vec::new();
            frames::ack(&mut a, largest.unwrap_or(0));
            if out.is_none() && peer_fin {
                let mut echo = got.clone();
                echo.reverse();
                frames::data(&mut a, true, 0, &echo);
                out = Some(echo);
            }
            let p = tx.seal(
                ty(confirmed),
                est.peer_sid,
                if out.is_some() && !out_acked { 4 } else { 0 },
                pn,
                &a,
            );
            pn += 1;
            sock.send_to(&p, to).await.unwrap();
            if peer_fin && out_acked {
                return got;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indep_initiator_against_a_real_require_node() {
    tokio::time::timeout(LIMIT, async {
        let server = real_node(1, PqMode::Require, Duration::from_secs(10)).await;
        let addr = server.udp_addrs()[0];
        let srv = tokio::spawn({
            let server = server.clone();
            async move {
                let s = server.accept().await.unwrap();
                assert!(s.is_hybrid());
                let (mut send, mut recv) = s.accept_bi().await.unwrap();
                let mut buf = vec![0u8; 5];
                recv.read_exact(&mut buf).await.unwrap();
                buf.reverse();
                send.write_all(&buf).await.unwrap();
                send.shutdown().await.unwrap();
                s
            }
        });
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let p = params();
        let mut ini = Initiator::new(&Config {
            node_seed: &[2; 32],
            shared_seed: &SHARED,
            rng_seed: [0x61; 32],
            sid: 0x1122_3344_5566_7788,
            params: &p,
        });
        let (response, est) = handshake_as_initiator(&sock, addr, &mut ini).await;
        assert_eq!(est.peer_static, Keys::new(&[1; 32], &SHARED).static_public);
        let back = exchange(&sock, addr, Some(&response), &est, Some(b"hello")).await;
        assert_eq!(back, b"olleh");
        let s = srv.await.unwrap();
        use sha3::Digest;
        let my_id = sha3::Sha3_256::digest(Keys::new(&[2; 32], &SHARED).static_public);
        assert_eq!(s.peer().to_string(), hex::encode(my_id));
        assert_eq!(server.stats().handshakes_hybrid, 1);
    })
    .await
    .expect("test timed out");
}

/// Serves one handshake with our responder on `sock`: (session, the initiator's address).
async fn handshake_as_responder(
    sock: &UdpSocket,
    res: &mut Responder,
) -> (Established, SocketAddr) {
    loop {
        let (d, from) = recv(sock, LIMIT).await.expect("an INIT from the real node");
        match d.get(2) {
            Some(&handshake::T_INIT_H) => {
                if let Some(r) = res.on_init_fragment(&d) {
                    for f in r.expect("the real node's INIT_H verifies") {
                        sock.send_to(&f, from).await.unwrap();
                    }
                }
            }
            Some(&handshake::T_RESPONSE) => {
                return (
                    res.on_response(&d)
                        .expect("the real node's RESPONSE verifies"),
                    from,
                );
            }
            other => panic!("unexpected packet type {other:?}"),
        }
    }
}

fn my_responder(rng: u8, tamper_ct: bool) -> Responder {
    let p = params();
    let mut r = Responder::new(&Config {
        node_seed: &[3; 32],
        shared_seed: &SHARED,
        rng_seed: [rng; 32],
        sid: 0x99aa_bbcc_ddee_ff00,
        params: &p,
    });
    r.tamper.kem_ciphertext = tamper_ct;
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn indep_responder_against_a_real_require_node() {
    tokio::time::timeout(LIMIT, async {
        let client = real_node(4, PqMode::Require, Duration::from_secs(10)).await;
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let cli = tokio::spawn({
            let client = client.clone();
            async move {
                let s = client.connect(addr).await.unwrap();
                assert!(s.is_hybrid());
                let (mut send, mut recv) = s.open_bi().await.unwrap();
                send.write_all(b"hello").await.unwrap();
                send.shutdown().await.unwrap();
                let mut back = Vec::new();
                recv.read_to_end(&mut back).await.unwrap();
                (s, back)
            }
        });
        let mut res = my_responder(0x62, false);
        let (est, from) = handshake_as_responder(&sock, &mut res).await;
        assert_eq!(est.peer_static, Keys::new(&[4; 32], &SHARED).static_public);
        let got = exchange(&sock, from, None, &est, None).await;
        assert_eq!(got, b"hello");
        let (s, back) = cli.await.unwrap();
        assert_eq!(back, b"olleh");
        use sha3::Digest;
        let my_id = sha3::Sha3_256::digest(Keys::new(&[3; 32], &SHARED).static_public);
        assert_eq!(s.peer().to_string(), hex::encode(my_id));
        assert_eq!(client.stats().handshakes_hybrid, 1);
    })
    .await
    .expect("test timed out");
}

/// A flipped bit in our KEM ciphertext (sealed correctly, so only decapsulation sees
/// it): the real initiator gets the implicit-rejection secret, its next AEAD fails, it
/// drops the CHALLENGE and counts it, and the handshake fails closed (timeout) — then the
/// same node completes a handshake with an honest responder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_initiator_drops_a_tampered_kem_ciphertext() {
    tokio::time::timeout(LIMIT, async {
        let client = real_node(5, PqMode::Require, Duration::from_millis(1500)).await;
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let cli = tokio::spawn({
            let client = client.clone();
            async move { client.connect(addr).await.map(|_| ()) }
        });
        let mut bad = my_responder(0x63, true);
        let mut challenges = 0;
        while let Some((d, from)) = recv(&sock, Duration::from_millis(2500)).await {
            if let Some(r) = bad.on_init_fragment(&d) {
                for f in r.unwrap() {
                    sock.send_to(&f, from).await.unwrap();
                }
                challenges += 1;
            }
        }
        let r = cli.await.unwrap();
        assert!(r.is_err(), "a tampered ciphertext must not complete: {r:?}");
        assert!(challenges >= 1);
        let st = client.stats();
        assert!(st.dropped_handshake >= 1, "{st:?}");
        assert_eq!(st.handshakes_hybrid, 0);
        // The node is still fine: an honest responder completes.
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let cli = tokio::spawn({
            let client = client.clone();
            async move { client.connect(addr).await.map(|s| s.is_hybrid()) }
        });
        let mut good = my_responder(0x64, false);
        let (est, from) = handshake_as_responder(&sock, &mut good).await;
        let dir = Direction::new(est.r2i);
        sock.send_to(&dir.seal(T_CONFIRM, est.peer_sid, 0, 0, &[0x14]), from)
            .await
            .unwrap();
        assert!(cli.await.unwrap().unwrap());
    })
    .await
    .expect("test timed out");
}

/// Our INIT_H with a flipped bit: in a fragment MAC (dropped before buffering, counted in
/// `hybrid_fragments_dropped` and `handshakes_failed_auth`) and in the sealed `ek` with
/// valid MACs (message 1's AEAD fails: `handshakes_failed_auth` only). Neither gets an answer; the genuine INIT_H then does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_responder_drops_tampered_init_fragments() {
    tokio::time::timeout(LIMIT, async {
        let server = real_node(6, PqMode::Require, Duration::from_secs(10)).await;
        let addr = server.udp_addrs()[0];
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let p = params();
        let mut ini = Initiator::new(&Config {
            node_seed: &[7; 32],
            shared_seed: &SHARED,
            rng_seed: [0x65; 32],
            sid: 0x0706_0504_0302_0100,
            params: &p,
        });
        let hkey = ini.keys().hybrid_key;
        // 1. fmac flipped (last byte of fragment 0).
        let [mut f0, f1] = ini.init_fragments();
        *f0.last_mut().unwrap() ^= 0x01;
        sock.send_to(&f0, addr).await.unwrap();
        sock.send_to(&f1, addr).await.unwrap();
        assert!(recv(&sock, Duration::from_millis(300)).await.is_none());
        let st = server.stats();
        assert_eq!(st.hybrid_fragments_dropped, 1, "{st:?}");
        // A fragment MAC under another key is also a handshake from another network.
        assert_eq!(st.handshakes_failed_auth, 1, "{st:?}");
        // 2. One bit of the sealed ek flipped, fragments re-MACed: message 1 fails.
        let mut l = ini.init_h().to_vec();
        l[100] ^= 0x01;
        for f in handshake::fragments(&l, &hkey) {
            sock.send_to(&f, addr).await.unwrap();
        }
        assert!(recv(&sock, Duration::from_millis(300)).await.is_none());
        let st = server.stats();
        assert_eq!(st.hybrid_fragments_dropped, 1, "{st:?}");
        assert_eq!(st.handshakes_failed_auth, 2, "{st:?}");
        assert_eq!(st.handshakes_hybrid, 0);
        // 3. The genuine INIT_H is answered and the handshake completes.
        let (response, _) = handshake_as_initiator(&sock, addr, &mut ini).await;
        sock.send_to(&response, addr).await.unwrap();
        let s = tokio::time::timeout(Duration::from_secs(5), server.accept())
            .await
            .unwrap()
            .unwrap();
        assert!(s.is_hybrid());
    })
    .await
    .expect("test timed out");
}

fn my_initiator_config(p: &[u8]) -> Config<'_> {
    Config {
        node_seed: &[8; 32],
        shared_seed: &SHARED,
        rng_seed: [0x66; 32],
        sid: 0x5555_6666_7777_8888,
        params: p,
    }
}

/// Negotiation from the document (§5.7.10): a hybrid INIT to an `off` node draws a
/// REFUSE(1) whose MAC we verify as specified, and the classic fallback (same `e_I`, flag
/// set) completes a classic session with data both ways; a classic INIT to a `require`
/// node draws REFUSE(2); a fallback INIT to a `prefer` node draws REFUSE(3).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_and_the_classic_fallback_as_specified() {
    tokio::time::timeout(LIMIT, async {
        let p = params();
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // prefer-style initiator → off node.
        let off = real_node(10, PqMode::Off, Duration::from_secs(10)).await;
        let addr = off.udp_addrs()[0];
        let srv = tokio::spawn({
            let off = off.clone();
            async move {
                let s = off.accept().await.unwrap();
                assert!(!s.is_hybrid());
                let (mut send, mut recv) = s.accept_bi().await.unwrap();
                let mut buf = vec![0u8; 5];
                recv.read_exact(&mut buf).await.unwrap();
                buf.reverse();
                send.write_all(&buf).await.unwrap();
                send.shutdown().await.unwrap();
                s
            }
        });
        let mut ini = Initiator::new(&my_initiator_config(&p));
        assert!(matches!(
            run_initiator(&sock, addr, &mut ini).await,
            Step::Refused(1)
        ));
        assert_eq!(off.stats().refusals_sent, 1);
        let mut fb = ini.fallback(&my_initiator_config(&p));
        let (response, est) = handshake_as_initiator(&sock, addr, &mut fb).await;
        let back = exchange(&sock, addr, Some(&response), &est, Some(b"hello")).await;
        assert_eq!(back, b"olleh");
        srv.await.unwrap();
        assert_eq!(off.stats().handshakes_classic, 1);

        // classic → require node: REFUSE(2).
        let strict = real_node(11, PqMode::Require, Duration::from_secs(10)).await;
        let e = [0x67; 32];
        let mut classic = Initiator::classic(&my_initiator_config(&p), e, 0);
        let step = run_initiator(&sock, strict.udp_addrs()[0], &mut classic).await;
        assert!(matches!(step, Step::Refused(2)), "{step:?}");
        assert_eq!(strict.stats().refused_classic, 1);

        // A fallback INIT (flag set) to a node that would have run hybrid: REFUSE(3).
        let prefer = real_node(12, PqMode::Prefer, Duration::from_secs(10)).await;
        let mut forged = Initiator::classic(&my_initiator_config(&p), [0x68; 32], 1);
        let step = run_initiator(&sock, prefer.udp_addrs()[0], &mut forged).await;
        assert!(matches!(step, Step::Refused(3)), "{step:?}");
        assert_eq!(prefer.stats().refused_downgrade, 1);
    })
    .await
    .expect("test timed out");
}

/// §5.7.5 applied to INIT_H: a real `require` node under load (every INIT needs a cookie)
/// answers our INIT_H with a COOKIE that we open with the cookie-reply key and the tag of
/// `payload_1` as `ad`; the INIT_H with `mac2 = HMAC(cookie, INIT_H[0..1460])[0..16]`
/// (only fragment 1 changes) is admitted and the handshake completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hybrid_init_with_a_cookie_as_specified() {
    tokio::time::timeout(LIMIT, async {
        let config = NodeConfig {
            pq: PqMode::Require,
            cookie_threshold: 0,
            ..NodeConfig::default()
        };
        let server = Node::builder(
            Identity::from_node_seed(&[13; 32]).unwrap(),
            NetworkKey::from_shared_seed(&SHARED).unwrap(),
        )
        .config(config)
        .bind_udp("127.0.0.1:0".parse::<SocketAddr>().unwrap())
        .build()
        .await
        .unwrap();
        let addr = server.udp_addrs()[0];
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let p = params();
        let mut ini = Initiator::new(&my_initiator_config(&p));
        let [f0, f1] = ini.init_fragments();
        let (response, _) = handshake_as_initiator(&sock, addr, &mut ini).await;
        let st = server.stats();
        assert_eq!(st.cookies_sent, 1, "{st:?}");
        assert_eq!(st.inits_cookie_required, 1, "{st:?}");
        let [g0, g1] = ini.init_fragments();
        assert_eq!(f0, g0, "fragment 0 does not change with mac2");
        assert_ne!(f1, g1);
        sock.send_to(&response, addr).await.unwrap();
        let s = tokio::time::timeout(Duration::from_secs(5), server.accept())
            .await
            .unwrap()
            .unwrap();
        assert!(s.is_hybrid());
    })
    .await
    .expect("test timed out");
}
