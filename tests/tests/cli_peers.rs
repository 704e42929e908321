//! Knowing who you talk to, with `stt` as separate processes on loopback: `--peer`
//! refuses another node with both ids in the message, the known-peers file records the
//! first contact and refuses a different identity later on the same address (until the
//! user accepts it with `--peer`), `--allow` restricts senders, and `stt id` / `stt
//! keygen` print the same NodeId, also in groups of four.

use std::path::{Path, PathBuf};
use std::time::Duration;

use stt_tests::procs::{Proc, Scratch, free_udp_port, network_seed, random_file, stt_bin};

const LONG: Duration = Duration::from_secs(120);

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

/// `stt keygen --out FILE`: the file and the NodeId it printed (hex, grouped).
fn keygen(path: PathBuf) -> (PathBuf, String, String) {
    let out = std::process::Command::new(stt_bin())
        .args(["keygen", "--out", s(&path)])
        .output()
        .expect("stt keygen runs");
    assert!(out.status.success(), "stt keygen failed");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let hex = text.trim().to_string();
    assert_eq!(hex.len(), 64, "{text}");
    (
        path,
        hex,
        grouped_line(&String::from_utf8_lossy(&out.stderr)),
    )
}

/// The grouped NodeId a command printed on stderr.
fn grouped_line(stderr: &str) -> String {
    stderr
        .lines()
        .find_map(|l| l.strip_prefix("to compare aloud: "))
        .unwrap_or_default()
        .to_string()
}

/// A listener with node seed `seed` on `addr`, ready when it says so.
fn listen(net: &Path, seed: &Path, addr: &str, out: &Path, extra: &[&str]) -> Proc {
    let mut args = vec![
        "listen",
        "--network",
        s(net),
        "--node-seed",
        s(seed),
        "--bind",
        addr,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    let mut p = Proc::stt("listener", &args);
    p.wait_stderr("listening as", Duration::from_secs(30));
    p
}

fn send(net: &Path, file: &Path, to: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["send", "--network", s(net), "--to", to, s(file)];
    args.extend_from_slice(extra);
    Proc::stt("sender", &args)
}

#[test]
fn id_and_keygen_print_the_same_node_id_also_grouped() {
    let d = Scratch::new("peers-id");
    let (seed, hex, grouped) = keygen(d.join("a.seed"));
    assert_eq!(grouped.split(' ').count(), 16, "{grouped}");
    assert_eq!(grouped.replace(' ', ""), hex);
    let id = Proc::stt("id", &["id", "--node-seed", s(&seed)]).wait(LONG);
    assert!(id.ok(), "{id:?}");
    assert_eq!(id.stdout, format!("{hex}\n"));
    assert_eq!(grouped_line(&id.stderr), grouped);
}

#[test]
fn send_with_another_peer_id_is_refused_naming_both() {
    let d = Scratch::new("peers-pin");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (seed_a, id_a, _) = keygen(d.join("a.seed"));
    let (_, id_b, grouped_b) = keygen(d.join("b.seed"));
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let listener = listen(&net, &seed_a, &addr, &out, &[]);
    let file = d.join("f.bin");
    random_file(&file, 1000, 1);
    // Pinned to B, but A answers: refused, both ids named, nothing stored.
    let sent = send(&net, &file, &addr, &["--peer", &grouped_b]).wait(LONG);
    assert!(!sent.ok(), "{sent:?}");
    assert!(sent.stderr.contains(&id_a), "{}", sent.stderr);
    assert!(sent.stderr.contains(&id_b), "{}", sent.stderr);
    assert!(sent.stderr.contains("--peer"), "{}", sent.stderr);
    assert!(!out.join("f.bin").exists());
    // `stt cat --to` takes the same pin.
    let cat = Proc::stt(
        "cat",
        &["cat", "--network", s(&net), "--to", &addr, "--peer", &id_b],
    )
    .wait(LONG);
    assert!(!cat.ok(), "{cat:?}");
    assert!(
        cat.stderr.contains(&id_a) && cat.stderr.contains(&id_b),
        "{}",
        cat.stderr
    );
    // Pinned to A: delivered.
    let sent = send(&net, &file, &addr, &["--peer", &id_a]).wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    let l = listener.wait(LONG);
    assert!(l.ok(), "{l:?}");
    assert!(out.join("f.bin").exists());
}

#[test]
fn known_peers_records_the_first_contact_and_refuses_a_changed_identity() {
    let d = Scratch::new("peers-tofu");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let known = d.join("cfg/known_peers");
    let kp = ["--known-peers", s(&known)];
    let (seed_a, id_a, _) = keygen(d.join("a.seed"));
    let (seed_b, id_b, _) = keygen(d.join("b.seed"));
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let file = d.join("f.bin");
    random_file(&file, 1000, 2);

    // First contact: A answers and is recorded with the address.
    let l = listen(&net, &seed_a, &addr, &out, &[]);
    let sent = send(&net, &file, &addr, &kp).wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    assert!(sent.stderr.contains("first contact"), "{}", sent.stderr);
    assert!(l.wait(LONG).ok());
    let recorded = std::fs::read_to_string(&known).unwrap();
    assert_eq!(recorded, format!("{addr} {id_a}\n"));

    // Another identity on the same address: refused with both ids and how to accept it.
    std::fs::remove_file(out.join("f.bin")).unwrap();
    let l = listen(&net, &seed_b, &addr, &out, &[]);
    let sent = send(&net, &file, &addr, &kp).wait(LONG);
    assert!(!sent.ok(), "{sent:?}");
    assert!(sent.stderr.contains(&id_a), "{}", sent.stderr);
    assert!(sent.stderr.contains(&id_b), "{}", sent.stderr);
    assert!(sent.stderr.contains(s(&known)), "{}", sent.stderr);
    assert!(
        sent.stderr.contains(&format!("--peer {id_b}")),
        "{}",
        sent.stderr
    );
    assert!(!out.join("f.bin").exists());
    assert_eq!(std::fs::read_to_string(&known).unwrap(), recorded);

    // The user accepts the change with --peer: delivered, and the record follows.
    let sent = send(&net, &file, &addr, &[&kp[..], &["--peer", &id_b]].concat()).wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    assert!(l.wait(LONG).ok());
    assert_eq!(
        std::fs::read_to_string(&known).unwrap(),
        format!("{addr} {id_b}\n")
    );
}

#[test]
fn listen_allow_file_refuses_senders_not_listed() {
    let d = Scratch::new("peers-allow");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (seed_l, _, _) = keygen(d.join("l.seed"));
    let (seed_s, id_s, grouped_s) = keygen(d.join("s.seed"));
    let (seed_x, id_x, _) = keygen(d.join("x.seed"));
    let allow = d.join("allow");
    std::fs::write(&allow, format!("# the one sender\n{grouped_s}\n")).unwrap();
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let l = listen(&net, &seed_l, &addr, &out, &["--allow", s(&allow)]);
    let file = d.join("f.bin");
    random_file(&file, 1000, 3);
    let refused = send(&net, &file, &addr, &["--node-seed", s(&seed_x)]).wait(LONG);
    assert!(!refused.ok(), "{refused:?}");
    assert!(!out.join("f.bin").exists());
    assert!(l.stderr_now().contains(&id_x), "{}", l.stderr_now());
    let sent = send(&net, &file, &addr, &["--node-seed", s(&seed_s)]).wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    let l = l.wait(LONG);
    assert!(l.ok(), "{l:?}");
    assert!(!l.stderr.contains(&id_s), "{}", l.stderr);
}

#[test]
fn cat_listen_allow_file_refuses_peers_not_listed() {
    let d = Scratch::new("peers-cat-allow");
    let net = network_seed(&d.join("net.seed"));
    let (seed_l, _, _) = keygen(d.join("l.seed"));
    let (seed_s, _, grouped_s) = keygen(d.join("s.seed"));
    let (seed_x, id_x, _) = keygen(d.join("x.seed"));
    let allow = d.join("allow");
    std::fs::write(&allow, format!("{grouped_s}\n")).unwrap();
    let empty = d.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let hello = d.join("hello");
    std::fs::write(&hello, b"hello\n").unwrap();
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let cat = |args: &[&str], input: &Path| {
        let mut cmd = std::process::Command::new(stt_bin());
        cmd.args(["cat", "--network", s(&net)]).args(args);
        Proc::spawn(
            "cat",
            cmd,
            std::process::Stdio::from(std::fs::File::open(input).unwrap()),
        )
    };
    let l = cat(
        &[
            "--listen",
            &addr,
            "--allow",
            s(&allow),
            "--node-seed",
            s(&seed_l),
        ],
        &empty,
    );
    std::thread::sleep(Duration::from_millis(300));
    let refused = cat(&["--to", &addr, "--node-seed", s(&seed_x)], &hello).wait(LONG);
    assert!(!refused.ok(), "{refused:?}");
    assert!(l.stderr_now().contains(&id_x), "{}", l.stderr_now());
    let allowed = cat(&["--to", &addr, "--node-seed", s(&seed_s)], &hello).wait(LONG);
    assert!(allowed.ok(), "{allowed:?}");
    let l = l.wait(LONG);
    assert!(l.ok(), "{l:?}");
    assert_eq!(l.stdout, "hello\n");
}
