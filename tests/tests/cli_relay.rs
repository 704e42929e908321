//! `stt relay`, `stt listen --via` and `stt send --to-node --via` as separate processes
//! on loopback (PROTOCOL.md §12): a transfer met through the relay goes direct when
//! punching works (on loopback it does) and stays on the relay with `--no-punch`; both
//! arrive intact (SHA3-256 of the stored file), the summaries say "direct" or
//! "relayed", and the relay's counters show what it forwarded. A node the relay does
//! not know is refused with a message that says so.

use std::path::Path;
use std::time::Duration;

use stt_tests::procs::{Proc, Scratch, free_udp_port, network_seed, random_file, sha3_file};

const LONG: Duration = Duration::from_secs(120);

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

/// A new node seed file; returns its NodeId.
fn keygen(path: &Path) -> String {
    let k = Proc::stt("keygen", &["keygen", "-o", s(path)]).wait(LONG);
    assert!(k.ok(), "{k:?}");
    k.stdout.trim().to_string()
}

/// `stt relay` on a fresh port, ready when it prints its first line.
fn start_relay(net: &Path) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let mut p = Proc::stt(
        "relay",
        &[
            "relay",
            "--network",
            s(net),
            "--bind",
            &addr,
            "--stats",
            "0",
        ],
    );
    p.wait_stdout("relay ", Duration::from_secs(30));
    (p, addr)
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
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let listener_id = keygen(&d.join("listener.seed"));
    let (relay, relay_addr) = start_relay(&net);
    let mut listener = Proc::stt(
        "listener",
        &[
            "listen",
            "--network",
            s(&net),
            "--node-seed",
            s(&d.join("listener.seed")),
            "--bind",
            "127.0.0.1:0",
            "--via",
            &relay_addr,
            "--out",
            s(&out),
            "--count",
            "2",
        ],
    );
    listener.wait_stderr("listening as", Duration::from_secs(30));
    assert!(listener.stderr_now().contains("registered with relay"));

    let send = |name: &str, size: u64, extra: &[&str]| {
        let file = d.join(name);
        let digest = random_file(&file, size, size);
        let mut args = vec![
            "send",
            "--network",
            s(&net),
            s(&file),
            "--to-node",
            &listener_id,
            "--via",
            &relay_addr,
        ];
        args.extend_from_slice(extra);
        let sent = Proc::stt("sender", &args).wait(LONG);
        assert!(sent.ok(), "{sent:?}");
        assert!(
            sent.stdout.contains(&hex::encode(digest)),
            "{}",
            sent.stdout
        );
        assert_eq!(sha3_file(&out.join(name)), digest, "{name} stored intact");
        sent.stdout
    };
    // Punching works on loopback: the transfer goes direct.
    let direct = send("direct.bin", (10 << 20) + 1, &[]);
    assert!(direct.contains(", direct,"), "{direct}");
    // The sender declines to punch: it stays on the relay.
    let relayed_size = 5 << 20;
    let relayed = send("relayed.bin", relayed_size, &["--no-punch"]);
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
    let (_relay, relay_addr) = start_relay(&net);
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
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let listener_id = keygen(&d.join("listener.seed"));
    let udp = format!("127.0.0.1:{}", free_udp_port());
    let ws = format!("127.0.0.1:{}", free_udp_port());
    let mut relay = Proc::stt(
        "relay",
        &[
            "relay",
            "--network",
            s(&net),
            "--bind",
            &udp,
            "--ws",
            &ws,
            "--stats",
            "0",
        ],
    );
    relay.wait_stdout("ws://", Duration::from_secs(30));
    let ws_url = format!("ws://{ws}/");
    let mut listener = Proc::stt(
        "listener",
        &[
            "listen",
            "--network",
            s(&net),
            "--node-seed",
            s(&d.join("listener.seed")),
            "--bind",
            "127.0.0.1:0",
            "--via",
            &ws_url,
            "--no-punch",
            "--out",
            s(&out),
        ],
    );
    listener.wait_stderr("listening as", Duration::from_secs(30));
    let file = d.join("ws.bin");
    let size = 3 << 20;
    let digest = random_file(&file, size, 3);
    let sent = Proc::stt(
        "sender",
        &[
            "send",
            "--network",
            s(&net),
            s(&file),
            "--to-node",
            &listener_id,
            "--via",
            &udp,
        ],
    )
    .wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    // Loopback lets UDP through, so the listener declines to punch (`--no-punch`)
    // as one whose UDP is blocked would fail to: every byte crosses the WebSocket.
    assert!(sent.stdout.contains(", relayed,"), "{}", sent.stdout);
    assert_eq!(sha3_file(&out.join("ws.bin")), digest);
    let l = listener.wait(LONG);
    assert!(l.ok() && l.stdout.contains(", relayed,"), "{l:?}");
    assert!(forwarded_bytes(relay) > size);
}
