//! `stt relay`, `stt listen --via` and `stt send --to-node --via` as separate processes
//! on loopback (PROTOCOL.md §12): a transfer met through the relay goes direct when
//! punching works (on loopback it does) and stays on the relay with `--no-punch`; both
//! arrive intact (SHA3-256 of the stored file), the summaries say "direct" or
//! "relayed", and the relay's counters show what it forwarded. A node the relay does
//! not know is refused with a message that says so. Members reach the relay over
//! `ws://` and over `wss://` (a certificate made here; one not trusted is refused
//! with a message naming the certificate and `--ws-ca`). A listener whose relay is
//! killed and restarted on the same port registers again and is reached through it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use stt_tests::procs::{
    Finished, Proc, Scratch, free_udp_port, network_seed, random_file, sha3_file,
};

const LONG: Duration = Duration::from_secs(120);
const READY: Duration = Duration::from_secs(30);

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

/// A new node seed file; returns its NodeId.
fn keygen(path: &Path) -> String {
    let k = Proc::stt("keygen", &["keygen", "-o", s(path)]).wait(LONG);
    assert!(k.ok(), "{k:?}");
    k.stdout.trim().to_string()
}

/// `stt relay` on UDP `udp` with `extra` flags, ready when it prints its first line.
fn relay_on(net: &Path, udp: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["relay", "--network", s(net), "--bind", udp, "--stats", "0"];
    args.extend_from_slice(extra);
    let mut p = Proc::stt("relay", &args);
    p.wait_stdout("relay ", READY);
    p
}

/// `stt relay` on a fresh UDP port; returns it and that address.
fn start_relay(net: &Path, extra: &[&str]) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", free_udp_port());
    (relay_on(net, &addr, extra), addr)
}

/// A member of the network `net` in scratch directory `d`, with a listener
/// registered through a relay.
struct Member<'a> {
    d: &'a Scratch,
    net: &'a Path,
    out: PathBuf,
    id: String,
}

impl<'a> Member<'a> {
    fn new(d: &'a Scratch, net: &'a Path) -> Self {
        let out = d.join("out");
        std::fs::create_dir_all(&out).unwrap();
        let id = keygen(&d.join("listener.seed"));
        Self { d, net, out, id }
    }

    /// `stt listen --via VIA` with `extra` flags, ready once registered.
    fn listen(&self, via: &str, extra: &[&str]) -> Proc {
        let seed = self.d.join("listener.seed");
        let mut args = vec![
            "listen",
            "--network",
            s(self.net),
            "--node-seed",
            s(&seed),
            "--bind",
            "127.0.0.1:0",
            "--via",
            via,
            "--out",
            s(&self.out),
        ];
        args.extend_from_slice(extra);
        let mut p = Proc::stt("listener", &args);
        p.wait_stderr("listening as", READY);
        assert!(p.stderr_now().contains("registered with relay"));
        p
    }

    /// `stt send` of a new `size`-byte file `name` to this member through `via`.
    fn send(&self, name: &str, size: u64, via: &str, extra: &[&str]) -> (Finished, [u8; 32]) {
        let file = self.d.join(name);
        let digest = random_file(&file, size, size);
        let mut args = vec![
            "send",
            "--network",
            s(self.net),
            s(&file),
            "--to-node",
            &self.id,
            "--via",
            via,
        ];
        args.extend_from_slice(extra);
        (Proc::stt("sender", &args).wait(LONG), digest)
    }

    /// As [`Member::send`], which must succeed and store the file intact; returns the
    /// sender's stdout.
    fn send_ok(&self, name: &str, size: u64, via: &str, extra: &[&str]) -> String {
        let (sent, digest) = self.send(name, size, via, extra);
        assert!(sent.ok(), "{sent:?}");
        assert!(
            sent.stdout.contains(&hex::encode(digest)),
            "{}",
            sent.stdout
        );
        assert_eq!(
            sha3_file(&self.out.join(name)),
            digest,
            "{name} stored intact"
        );
        sent.stdout
    }
}

/// The relay's last counter line's "forwarded … bytes" figure, after SIGINT.
fn forwarded_bytes(relay: Proc) -> u64 {
    relay.signal(libc::SIGINT);
    let f = relay.wait(LONG);
    assert!(f.ok(), "{f:?}");
    let line = f
        .stderr
        .lines()
        .rev()
        .find(|l| l.starts_with("relay: "))
        .unwrap_or_else(|| panic!("no counters: {f:?}"));
    let after = line.split("packets, ").nth(1).expect("forwarded figure");
    after
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("bad counter line {line}"))
}

#[test]
fn a_transfer_met_through_the_relay_goes_direct_or_stays_relayed_and_arrives_intact() {
    let d = Scratch::new("relay-cli");
    let net = network_seed(&d.join("net.seed"));
    let m = Member::new(&d, &net);
    let (relay, relay_addr) = start_relay(&net, &[]);
    let listener = m.listen(&relay_addr, &["--count", "2"]);
    // Punching works on loopback: the transfer goes direct.
    let direct = m.send_ok("direct.bin", (10 << 20) + 1, &relay_addr, &[]);
    assert!(direct.contains(", direct,"), "{direct}");
    // The sender declines to punch: it stays on the relay.
    let relayed_size = 5 << 20;
    let relayed = m.send_ok("relayed.bin", relayed_size, &relay_addr, &["--no-punch"]);
    assert!(relayed.contains(", relayed,"), "{relayed}");
    let l = listener.wait(LONG);
    assert!(l.ok(), "{l:?}");
    assert!(
        l.stdout.contains(", direct,") && l.stdout.contains(", relayed,"),
        "{}",
        l.stdout
    );
    // The relay carried the relayed file, and little of the direct one.
    let forwarded = forwarded_bytes(relay);
    assert!(forwarded > relayed_size, "forwarded {forwarded}");
    assert!(
        forwarded < relayed_size + (2 << 20),
        "forwarded {forwarded}"
    );
}

#[test]
fn a_node_the_relay_does_not_know_is_refused_with_a_reason() {
    let d = Scratch::new("relay-cli-unknown");
    let net = network_seed(&d.join("net.seed"));
    let file = d.join("f.bin");
    random_file(&file, 1000, 1);
    let (_relay, relay_addr) = start_relay(&net, &[]);
    let nobody = "00".repeat(32);
    let sent = Proc::stt(
        "sender",
        &[
            "send",
            "--network",
            s(&net),
            s(&file),
            "--to-node",
            &nobody,
            "--via",
            &relay_addr,
        ],
    )
    .wait(LONG);
    assert!(!sent.ok(), "{sent:?}");
    assert!(sent.stderr.contains("not registered"), "{}", sent.stderr);
}

#[test]
fn a_listener_that_reaches_the_relay_only_over_websocket_receives_through_it() {
    let d = Scratch::new("relay-cli-ws");
    let net = network_seed(&d.join("net.seed"));
    let m = Member::new(&d, &net);
    let ws = format!("127.0.0.1:{}", free_udp_port());
    let (relay, udp) = start_relay(&net, &["--ws", &ws]);
    assert!(relay.stdout_now().contains("ws://"));
    let listener = m.listen(&format!("ws://{ws}/"), &["--no-punch"]);
    let size = 3 << 20;
    let sent = m.send_ok("ws.bin", size, &udp, &[]);
    // Loopback lets UDP through, so the listener declines to punch (`--no-punch`)
    // as one whose UDP is blocked would fail to: every byte crosses the WebSocket.
    assert!(sent.contains(", relayed,"), "{sent}");
    let l = listener.wait(LONG);
    assert!(l.ok() && l.stdout.contains(", relayed,"), "{l:?}");
    assert!(forwarded_bytes(relay) > size);
}

/// A self-signed certificate for `localhost` in `dir`: (certificate, key) files.
fn certificate(dir: &Scratch, name: &str) -> (PathBuf, PathBuf) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key)
}

#[test]
fn members_reach_the_relay_over_wss_and_an_untrusted_certificate_is_refused() {
    let d = Scratch::new("relay-cli-wss");
    let net = network_seed(&d.join("net.seed"));
    let m = Member::new(&d, &net);
    let (cert, key) = certificate(&d, "relay");
    let (other, _) = certificate(&d, "other");
    let port = free_udp_port();
    let ws = format!("127.0.0.1:{port}");
    let (relay, _) = start_relay(
        &net,
        &["--ws", &ws, "--ws-cert", s(&cert), "--ws-key", s(&key)],
    );
    assert!(
        relay.stdout_now().contains("wss://"),
        "{}",
        relay.stdout_now()
    );
    let url = format!("wss://localhost:{port}/");
    // A certificate the member does not trust: a clear refusal, not a hang.
    let (refused, _) = m.send("never.bin", 1000, &url, &["--ws-ca", s(&other)]);
    assert!(!refused.ok(), "{refused:?}");
    assert!(
        refused.stderr.contains("not trusted") && refused.stderr.contains("--ws-ca"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("panicked"), "{}", refused.stderr);
    let stranger = Proc::stt(
        "listener",
        &[
            "listen",
            "--network",
            s(&net),
            "--bind",
            "127.0.0.1:0",
            "--via",
            &url,
            "--ws-ca",
            s(&other),
            "--out",
            s(&d.join("out")),
        ],
    )
    .wait(LONG);
    assert!(!stranger.ok(), "{stranger:?}");
    assert!(
        stranger.stderr.contains("not trusted"),
        "{}",
        stranger.stderr
    );

    let listener = m.listen(&url, &["--ws-ca", s(&cert), "--no-punch"]);
    let size = 8 << 20;
    let sent = m.send_ok("wss.bin", size, &url, &["--ws-ca", s(&cert), "--no-punch"]);
    assert!(sent.contains(", relayed,"), "{sent}");
    let l = listener.wait(LONG);
    assert!(l.ok() && l.stdout.contains(", relayed,"), "{l:?}");
    assert!(forwarded_bytes(relay) > size);
}

#[test]
fn a_listener_registers_again_when_its_relay_restarts() {
    let d = Scratch::new("relay-cli-restart");
    let net = network_seed(&d.join("net.seed"));
    let m = Member::new(&d, &net);
    let (relay, udp) = start_relay(&net, &[]);
    let listener = m.listen(&udp, &[]);
    relay.signal(libc::SIGKILL);
    let _ = relay.wait(LONG);
    let relay = relay_on(&net, &udp, &[]);
    let start = Instant::now();
    while listener
        .stderr_now()
        .matches("registered with relay")
        .count()
        < 2
    {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "not registered again: {}",
            listener.stderr_now()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "registered again {:.1} s after the restart",
        start.elapsed().as_secs_f64()
    );
    assert!(
        listener.stderr_now().contains("lost the relay"),
        "{}",
        listener.stderr_now()
    );
    let sent = m.send_ok("after.bin", 2 << 20, &udp, &["--no-punch"]);
    assert!(sent.contains(", relayed,"), "{sent}");
    let l = listener.wait(LONG);
    assert!(l.ok(), "{l:?}");
    drop(relay);
}
