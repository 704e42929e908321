//! Seed files through the `stt` binary, as separate processes: `keygen` and `network
//! new` write the checksummed `stt-seed1-…` text form, `pair` shows the same line, older
//! hex files are still read, and a passphrase, a mistyped seed or a seed of the wrong
//! kind is refused with a message that says which (no network traffic; about a second);
//! and a listener given `--next-network` takes senders of either seed, not a third one
//! (loopback UDP; a few seconds, bounded by the 10 s handshake timeout of the refusal).

use std::path::Path;
use std::process::{Command, Output};

use std::time::Duration;

use stt_tests::procs::{Proc, Scratch, free_udp_port, network_seed, random_file, stt_bin};

fn stt(args: &[&str]) -> Output {
    Command::new(stt_bin())
        .args(args)
        .output()
        .expect("stt runs")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `stt id --node-seed FILE`, which must fail, and its message.
fn id_refused(file: &Path) -> String {
    let o = stt(&["id", "--node-seed", s(file)]);
    assert!(!o.status.success(), "stt id accepted {}", file.display());
    let e = stderr(&o);
    assert!(!e.contains("panicked"), "{e}");
    e
}

#[test]
fn seed_files_are_written_checksummed_and_bad_ones_are_refused_clearly() {
    let d = Scratch::new("cli-seeds");
    let node = d.path().join("node.seed");
    let net = d.path().join("net.seed");

    let o = stt(&["keygen", "--out", s(&node)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let node_text = std::fs::read_to_string(&node).expect("node seed written");
    assert!(node_text.starts_with("stt-seed1-node-"), "{node_text}");
    assert_eq!(node_text.trim().len(), "stt-seed1-node-".len() + 52 + 1 + 8);

    let o = stt(&["network", "new", "--out", s(&net)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let net_text = std::fs::read_to_string(&net).expect("network seed written");
    assert!(net_text.starts_with("stt-seed1-net-"), "{net_text}");

    // `stt id` reads the new form back to the NodeId keygen printed.
    let o = stt(&["id", "--node-seed", s(&node)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), id);

    // `stt pair` shows the network seed in the same text form (the last stdout line).
    let o = stt(&["pair", "--network", s(&net)]);
    assert!(o.status.success(), "{}", stderr(&o));
    let shown = String::from_utf8_lossy(&o.stdout);
    assert_eq!(shown.lines().last().unwrap_or_default(), net_text.trim());

    // An older file of 64 hex digits is still read.
    let hex_file = d.path().join("old.seed");
    std::fs::write(&hex_file, format!("{}\n", "3c".repeat(32))).expect("write");
    let o = stt(&["id", "--node-seed", s(&hex_file)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim().len(), 64);

    // A passphrase is refused as text.
    let phrase = d.path().join("phrase.seed");
    std::fs::write(
        &phrase,
        "our network is protected by this long passphrase\n",
    )
    .expect("write");
    let e = id_refused(&phrase);
    assert!(e.contains("holds text, not a seed"), "{e}");
    assert!(e.contains("stt keygen"), "{e}");

    // One mistyped character is caught by the checksum.
    let mut typo = node_text.clone().into_bytes();
    let i = "stt-seed1-node-".len() + 10;
    typo[i] = if typo[i] == b'q' { b'r' } else { b'q' };
    let typo_file = d.path().join("typo.seed");
    std::fs::write(&typo_file, &typo).expect("write");
    let e = id_refused(&typo_file);
    assert!(e.contains("checksum mismatch"), "{e}");

    // The network seed given as a node seed, and the reverse, name both kinds.
    let e = id_refused(&net);
    assert!(
        e.contains("holds a network seed, but a node seed is needed"),
        "{e}"
    );
    let o = stt(&["pair", "--network", s(&node)]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(
        e.contains("holds a node seed, but a network seed is needed"),
        "{e}"
    );
}

#[test]
fn a_listener_rotating_its_network_seed_accepts_senders_of_either_seed() {
    const LONG: Duration = Duration::from_secs(120);
    let d = Scratch::new("cli-seeds-rotate");
    let old = network_seed(&d.join("old.seed"));
    let new = network_seed(&d.join("new.seed"));
    let other = network_seed(&d.join("other.seed"));
    let node = d.join("listener.seed");
    assert!(stt(&["keygen", "--out", s(&node)]).status.success());
    let out = d.join("out");
    std::fs::create_dir_all(&out).expect("out dir");
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let mut listener = Proc::stt(
        "listener",
        &[
            "listen",
            "--network",
            s(&old),
            "--next-network",
            s(&new),
            "--node-seed",
            s(&node),
            "--bind",
            &addr,
            "--out",
            s(&out),
            "--count",
            "2",
        ],
    );
    listener.wait_stderr("listening as", Duration::from_secs(30));
    let known = d.join("known_peers");
    for (i, net) in [&old, &new].into_iter().enumerate() {
        let file = d.join(format!("f{i}.bin"));
        random_file(&file, 10_000, i as u64);
        let sent = Proc::stt(
            "sender",
            &[
                "send",
                "--network",
                s(net),
                "--known-peers",
                s(&known),
                "--to",
                &addr,
                s(&file),
            ],
        )
        .wait(LONG);
        assert!(sent.ok(), "seed {i}: {sent:?}");
        assert!(out.join(format!("f{i}.bin")).exists());
    }
    let l = listener.wait(LONG);
    assert!(l.ok(), "{l:?}");
    // A third seed is refused (the listener is gone; start it again without the count).
    let mut listener = Proc::stt(
        "listener",
        &[
            "listen",
            "--network",
            s(&old),
            "--next-network",
            s(&new),
            "--node-seed",
            s(&node),
            "--bind",
            &addr,
            "--out",
            s(&out),
        ],
    );
    listener.wait_stderr("listening as", Duration::from_secs(30));
    let file = d.join("f2.bin");
    random_file(&file, 10_000, 2);
    let sent = Proc::stt(
        "sender",
        &[
            "send",
            "--network",
            s(&other),
            "--known-peers",
            s(&known),
            "--to",
            &addr,
            s(&file),
        ],
    )
    .wait(LONG);
    assert!(!sent.ok(), "{sent:?}");
    assert!(sent.stderr.contains("network seed"), "{}", sent.stderr);
    assert!(!out.join("f2.bin").exists());
}
