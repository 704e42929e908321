//! `stt --pq off|prefer|require` as separate processes on loopback (PROTOCOL.md §5.7.10):
//! hybrid between two hybrid-capable nodes, `prefer` agreeing on classic with a classic
//! listener, `require` against classic refused on the requiring side with a message that
//! says what to change, and every summary line naming the handshake that ran.

use std::path::Path;
use std::time::Duration;

use stt_tests::procs::{Proc, Scratch, free_udp_port, network_seed, random_file};

const LONG: Duration = Duration::from_secs(120);

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

/// A one-transfer listener in `pq` mode on a fresh port, ready; and its address.
fn listen(d: &Scratch, net: &Path, pq: &str, tag: &str) -> (Proc, String) {
    let out = d.join(format!("out-{tag}"));
    std::fs::create_dir_all(&out).unwrap();
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let seed = d.join(format!("{tag}.seed"));
    let kg = Proc::stt("keygen", &["keygen", "--out", s(&seed)]).wait(LONG);
    assert!(kg.ok(), "{kg:?}");
    let mut p = Proc::stt(
        "listener",
        &[
            "listen",
            "--network",
            s(net),
            "--node-seed",
            s(&seed),
            "--bind",
            &addr,
            "--out",
            s(&out),
            "--pq",
            pq,
        ],
    );
    p.wait_stderr("listening as", Duration::from_secs(30));
    (p, addr)
}

fn send(d: &Scratch, net: &Path, file: &Path, to: &str, pq: &str) -> Proc {
    let known = d.join("known_peers");
    Proc::stt(
        "sender",
        &[
            "send",
            "--network",
            s(net),
            "--known-peers",
            s(&known),
            "--to",
            to,
            "--pq",
            pq,
            s(file),
        ],
    )
}

#[test]
fn pq_modes_between_processes() {
    let d = Scratch::new("cli-pq");
    let net = network_seed(&d.join("net.seed"));
    let file = d.join("f.bin");
    random_file(&file, 100_000, 22);

    // hybrid ↔ hybrid: both summaries say hybrid.
    let (l, addr) = listen(&d, &net, "require", "a");
    let sent = send(&d, &net, &file, &addr, "prefer").wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    assert!(
        sent.stdout.contains("hybrid X25519+ML-KEM-768 handshake"),
        "{}",
        sent.stdout
    );
    let l = l.wait(LONG);
    assert!(l.ok(), "{l:?}");
    assert!(
        l.stdout.contains("hybrid X25519+ML-KEM-768 handshake"),
        "{}",
        l.stdout
    );

    // prefer ↔ classic: both agree on classic.
    let (l, addr) = listen(&d, &net, "off", "b");
    let sent = send(&d, &net, &file, &addr, "prefer").wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    assert!(
        sent.stdout.contains("classic X25519 handshake"),
        "{}",
        sent.stdout
    );
    let l = l.wait(LONG);
    assert!(l.ok(), "{l:?}");
    assert!(
        l.stdout.contains("classic X25519 handshake"),
        "{}",
        l.stdout
    );

    // require ↔ classic: refused at once on the requiring side, saying what to change.
    let (l, addr) = listen(&d, &net, "off", "c");
    let started = std::time::Instant::now();
    let sent = send(&d, &net, &file, &addr, "require").wait(LONG);
    assert!(!sent.ok(), "{sent:?}");
    assert!(
        sent.stderr.contains("runs the classic handshake only") && sent.stderr.contains("--pq"),
        "{}",
        sent.stderr
    );
    // A typed refusal, not the 10 s handshake timeout.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    drop(l);

    // classic → require: refused, the classic side told the peer requires hybrid.
    let (l, addr) = listen(&d, &net, "require", "e");
    let sent = send(&d, &net, &file, &addr, "off").wait(LONG);
    assert!(!sent.ok(), "{sent:?}");
    assert!(
        sent.stderr
            .contains("requires the post-quantum hybrid handshake"),
        "{}",
        sent.stderr
    );
    drop(l);
}
