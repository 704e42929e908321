//! `stt send`, `stt listen` and `stt cat` as separate processes on loopback, the way
//! people run them: sizes at the edges, directories, refusals, a missing output
//! directory, killed and interrupted senders (no file under the final name, the
//! peer's exit within the stated bound, then a resume), pipes both ways, and the
//! messages a person acts on (wrong network seed, no port, missing file).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stt_tests::procs::{
    Proc, Scratch, free_udp_port, network_seed, random_file, sha3_file, stt_bin,
};

const LONG: Duration = Duration::from_secs(120);

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

/// A listener on a fresh port, ready when it says so.
fn start_listener(net: &Path, out: &Path, extra: &[&str]) -> (Proc, String) {
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let mut args = vec![
        "listen",
        "--network",
        s(net),
        "--bind",
        &addr,
        "--out",
        s(out),
    ];
    args.extend_from_slice(extra);
    let mut p = Proc::stt("listener", &args);
    p.wait_stderr("listening as", Duration::from_secs(30));
    (p, addr)
}

fn send(net: &Path, path: &Path, to: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["send", "--network", s(net), "--to", to, s(path)];
    args.extend_from_slice(extra);
    Proc::stt("sender", &args)
}

#[test]
fn files_of_every_edge_size_arrive_intact_and_confirmed() {
    let d = Scratch::new("sizes");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let sizes: [u64; 6] = [0, 1, 65_535, 65_536, (10 << 20) + 1, 200 << 20];
    let (listener, addr) = start_listener(&net, &out, &["--count", "6"]);
    for (i, size) in sizes.iter().enumerate() {
        let file = d.join(format!("f{i}.bin"));
        let digest = random_file(&file, *size, i as u64 + 1);
        let sent = send(&net, &file, &addr, &[]).wait(LONG);
        assert!(sent.ok(), "size {size}: {sent:?}");
        assert!(
            sent.stdout.contains(&format!("{size} bytes")),
            "{}",
            sent.stdout
        );
        assert!(
            sent.stdout.contains(&hex::encode(digest)),
            "{}",
            sent.stdout
        );
        // Confirmed means stored: the file is in place when send returns.
        assert_eq!(
            sha3_file(&out.join(format!("f{i}.bin"))),
            digest,
            "size {size}"
        );
    }
    let l = listener.wait(LONG);
    assert!(l.ok(), "{l:?}");
    assert_eq!(l.stdout.matches("received ").count(), 6, "{}", l.stdout);
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("stt-partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_directory_tree_arrives_whole_and_symlinks_are_skipped_with_a_warning() {
    let d = Scratch::new("tree");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let src = d.join("photos");
    std::fs::create_dir_all(src.join("2026/dec/empty")).unwrap();
    std::fs::create_dir_all(src.join("raw")).unwrap();
    let files = [
        ("a.jpg", 1_000_000u64),
        ("2026/b.jpg", 70_000),
        ("2026/dec/c.jpg", 0),
        ("raw/d.raw", 3_000_001),
    ];
    for (i, (p, len)) in files.iter().enumerate() {
        random_file(&src.join(p), *len, 100 + i as u64);
    }
    std::os::unix::fs::symlink(src.join("a.jpg"), src.join("link.jpg")).unwrap();
    let (listener, addr) = start_listener(&net, &out, &["--json"]);
    let sent = send(&net, &src, &addr, &["--json"]).wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    assert!(sent.stderr.contains("skipping symlink"), "{}", sent.stderr);
    let summary: serde_json::Value = serde_json::from_str(sent.stdout.trim()).unwrap();
    assert_eq!(summary["event"], "sent");
    assert_eq!(summary["files"], 4);
    assert_eq!(summary["bytes"], 4_070_001);
    let l = listener.wait(LONG);
    assert!(l.ok(), "{l:?}");
    let got: serde_json::Value = serde_json::from_str(l.stdout.trim()).unwrap();
    assert_eq!(got["sha3_256"], summary["sha3_256"]);
    for (p, _) in files {
        assert_eq!(
            sha3_file(&out.join("photos").join(p)),
            sha3_file(&src.join(p)),
            "{p}"
        );
    }
    assert!(out.join("photos/2026/dec/empty").is_dir());
    assert!(!out.join("photos/link.jpg").exists());
}

#[test]
fn an_existing_file_is_refused_unless_overwrite_is_given() {
    let d = Scratch::new("exists");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("report.pdf"), b"keep me").unwrap();
    let file = d.join("report.pdf");
    let digest = random_file(&file, 50_000, 7);
    let (listener, addr) = start_listener(&net, &out, &[]);
    let sent = send(&net, &file, &addr, &[]).wait(LONG);
    assert!(!sent.ok(), "{sent:?}");
    assert!(
        sent.stderr.contains("already exists") && sent.stderr.contains("--overwrite"),
        "{}",
        sent.stderr
    );
    let l = listener.wait(LONG);
    assert!(!l.ok(), "a failed transfer is a failed listener: {l:?}");
    assert_eq!(std::fs::read(out.join("report.pdf")).unwrap(), b"keep me");
    let (listener, addr) = start_listener(&net, &out, &["--overwrite"]);
    let sent = send(&net, &file, &addr, &[]).wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    assert!(listener.wait(LONG).ok());
    assert_eq!(sha3_file(&out.join("report.pdf")), digest);
}

#[test]
fn a_missing_output_directory_fails_both_sides_with_the_reason() {
    let d = Scratch::new("noout");
    let net = network_seed(&d.join("net.seed"));
    // Checked before listening: a clear error at once.
    let gone = d.join("does-not-exist");
    let l = Proc::stt(
        "listener",
        &[
            "listen",
            "--network",
            s(&net),
            "--bind",
            "127.0.0.1:0",
            "--out",
            s(&gone),
        ],
    )
    .wait(Duration::from_secs(10));
    assert!(!l.ok());
    assert!(l.stderr.contains("does-not-exist"), "{}", l.stderr);
    // Removed while listening: the sender is told why, and both exit non-zero.
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (listener, addr) = start_listener(&net, &out, &[]);
    std::fs::remove_dir(&out).unwrap();
    let file = d.join("x.bin");
    random_file(&file, 100_000, 3);
    let sent = send(&net, &file, &addr, &[]).wait(LONG);
    assert!(!sent.ok(), "{sent:?}");
    assert!(
        sent.stderr.contains("the receiver failed")
            && sent.stderr.contains("No such file or directory"),
        "{}",
        sent.stderr
    );
    assert!(!sent.stdout.contains("sent "), "{}", sent.stdout);
    let l = listener.wait(LONG);
    assert!(!l.ok(), "{l:?}");
}

/// Starts a 96 MiB send, waits until part of it is stored, and interrupts the
/// sender with `sig`; returns the partial's size and the listener's end.
fn interrupt_sender(
    d: &Scratch,
    net: &Path,
    file: &Path,
    sig: i32,
) -> (u64, stt_tests::procs::Finished, Duration) {
    let out = d.join("out");
    let (listener, addr) = start_listener(net, &out, &[]);
    let sender = send(net, file, &addr, &[]);
    let partial = out.join(".big.bin.stt-partial");
    let start = Instant::now();
    loop {
        let len = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
        if len > 16 << 20 {
            break;
        }
        assert!(start.elapsed() < LONG, "no partial data appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
    sender.signal(sig);
    let killed_at = Instant::now();
    let s = sender.wait(Duration::from_secs(10));
    assert!(!s.ok(), "an interrupted sender must not exit 0: {s:?}");
    assert!(!s.stdout.contains("sent "), "{}", s.stdout);
    let l = listener.wait(Duration::from_secs(30));
    let took = killed_at.elapsed();
    assert!(!l.ok(), "{l:?}");
    assert!(
        !out.join("big.bin").exists(),
        "no file under the final name"
    );
    let held = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    assert!(held > 0, "the partial data is kept for a resume");
    (held, l, took)
}

fn resume(net: &Path, out: &Path, file: &Path, digest: [u8; 32]) {
    let (listener, addr) = start_listener(net, out, &[]);
    let sent = send(net, file, &addr, &[]).wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    assert!(sent.stdout.contains("resumed after"), "{}", sent.stdout);
    assert!(listener.wait(LONG).ok());
    assert_eq!(sha3_file(&out.join("big.bin")), digest);
    assert!(!out.join(".big.bin.stt-partial").exists());
}

#[test]
fn a_sender_interrupted_by_sigint_is_reported_at_once_and_resumes() {
    let d = Scratch::new("sigint");
    let net = network_seed(&d.join("net.seed"));
    std::fs::create_dir_all(d.join("out")).unwrap();
    let file = d.join("big.bin");
    let digest = random_file(&file, 96 << 20, 11);
    let (_, l, took) = interrupt_sender(&d, &net, &file, libc::SIGINT);
    assert!(
        l.stderr.contains("the sender was interrupted: SIGINT"),
        "{}",
        l.stderr
    );
    // Within 1 s of the signal, plus process start-up slack on a loaded machine.
    assert!(took < Duration::from_secs(3), "the listener took {took:?}");
    resume(&net, &d.join("out"), &file, digest);
}

#[test]
fn a_killed_sender_is_noticed_within_the_idle_timeout_and_resumes() {
    let d = Scratch::new("sigkill");
    let net = network_seed(&d.join("net.seed"));
    std::fs::create_dir_all(d.join("out")).unwrap();
    let file = d.join("big.bin");
    let digest = random_file(&file, 96 << 20, 12);
    let (_, l, took) = interrupt_sender(&d, &net, &file, libc::SIGKILL);
    assert!(l.stderr.contains("timed out"), "{}", l.stderr);
    // The stated bound: the tool's 10 s idle timeout, plus slack.
    assert!(took < Duration::from_secs(15), "the listener took {took:?}");
    resume(&net, &d.join("out"), &file, digest);
}

#[test]
fn an_interrupted_receiver_is_reported_to_the_sender() {
    let d = Scratch::new("rxint");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let file = d.join("big.bin");
    random_file(&file, 96 << 20, 13);
    let (listener, addr) = start_listener(&net, &out, &[]);
    let sender = send(&net, &file, &addr, &[]);
    let partial = out.join(".big.bin.stt-partial");
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 16 << 20 {
        std::thread::sleep(Duration::from_millis(5));
    }
    listener.signal(libc::SIGINT);
    let at = Instant::now();
    let s = sender.wait(Duration::from_secs(10));
    assert!(at.elapsed() < Duration::from_secs(3), "{:?}", at.elapsed());
    assert!(!s.ok());
    assert!(
        s.stderr.contains("the receiver was interrupted: SIGINT"),
        "{}",
        s.stderr
    );
    let l = listener.wait(Duration::from_secs(10));
    assert_eq!(l.status.code(), Some(130), "{l:?}");
    assert!(!out.join("big.bin").exists());
}

fn cat(net: &Path, args: &[&str], input: &Path) -> Proc {
    let mut cmd = Command::new(stt_bin());
    cmd.args(["cat", "--network", s(net)]).args(args);
    Proc::spawn("cat", cmd, Stdio::from(std::fs::File::open(input).unwrap()))
}

fn sha3(bytes: &[u8]) -> [u8; 32] {
    use sha3::Digest;
    sha3::Sha3_256::digest(bytes).into()
}

#[test]
fn cat_moves_ten_mib_both_ways_at_once_and_with_one_side_empty() {
    let d = Scratch::new("cat");
    let net = network_seed(&d.join("net.seed"));
    let (a, b, empty) = (d.join("a"), d.join("b"), d.join("empty"));
    let da = random_file(&a, 10 << 20, 21);
    let db = random_file(&b, (10 << 20) + 3, 22);
    let de = random_file(&empty, 0, 0);
    for (left, right, dl, dr) in [(&a, &b, da, db), (&a, &empty, da, de), (&empty, &b, de, db)] {
        let addr = format!("127.0.0.1:{}", free_udp_port());
        let l = cat(&net, &["--listen", &addr], right);
        std::thread::sleep(Duration::from_millis(300));
        let c = cat(&net, &["--to", &addr], left).wait(LONG);
        let l = l.wait(LONG);
        assert!(c.ok(), "{}", c.stderr);
        assert!(l.ok(), "{}", l.stderr);
        assert_eq!(
            sha3(&c.stdout_raw),
            dr,
            "connector got the listener's input"
        );
        assert_eq!(
            sha3(&l.stdout_raw),
            dl,
            "listener got the connector's input"
        );
    }
}

#[test]
fn cat_delivers_an_interactive_pipe_line_by_line() {
    let d = Scratch::new("catlines");
    let net = network_seed(&d.join("net.seed"));
    let empty = d.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let mut l = cat(&net, &["--listen", &addr], &empty);
    std::thread::sleep(Duration::from_millis(300));
    let mut cmd = Command::new(stt_bin());
    cmd.args(["cat", "--network", s(&net), "--to", &addr]);
    let mut c = Proc::spawn("cat", cmd, Stdio::piped());
    for i in 0..5 {
        let line = format!("line {i}\n");
        c.stdin().unwrap().write_all(line.as_bytes()).unwrap();
        c.stdin().unwrap().flush().unwrap();
        // Each line shows up while the writer is still open: no wait for EOF.
        l.wait_stdout(&line, Duration::from_secs(10));
    }
    c.close_stdin();
    let c = c.wait(LONG);
    let l = l.wait(LONG);
    assert!(c.ok() && l.ok(), "{c:?} {l:?}");
    assert_eq!(l.stdout, "line 0\nline 1\nline 2\nline 3\nline 4\n");
}

#[test]
fn a_wrong_network_seed_is_named_on_both_sides() {
    let d = Scratch::new("wrongnet");
    let net = network_seed(&d.join("net.seed"));
    let other = network_seed(&d.join("other.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let (mut listener, addr) = start_listener(&net, &out, &[]);
    let file = d.join("x.bin");
    random_file(&file, 1000, 5);
    let sent = send(&other, &file, &addr, &[]).wait(LONG);
    assert!(!sent.ok());
    assert!(
        sent.stderr.contains("no answer from") && sent.stderr.contains("different network seed"),
        "{}",
        sent.stderr
    );
    listener.wait_stderr("failed authentication", Duration::from_secs(5));
    let warned = listener.stderr_now();
    assert!(
        warned.contains("udp 127.0.0.1:") && warned.contains("another network seed"),
        "{warned}"
    );
    assert!(
        warned
            .lines()
            .filter(|l| l.contains("failed authentication"))
            .count()
            <= 3,
        "rate-limited: {warned}"
    );
}

#[test]
fn mistakes_get_messages_a_person_can_act_on() {
    let d = Scratch::new("msgs");
    let net = network_seed(&d.join("net.seed"));
    let file = d.join("x.bin");
    random_file(&file, 10, 1);
    let no_port = send(&net, &file, "127.0.0.1", &[]).wait(LONG);
    assert!(!no_port.ok());
    assert!(
        no_port.stderr.contains("127.0.0.1 has no port"),
        "{}",
        no_port.stderr
    );
    let missing = d.join("missing.bin");
    let gone = send(&net, &missing, "127.0.0.1:9", &[]).wait(LONG);
    assert!(!gone.ok());
    assert!(
        gone.stderr.contains("cannot read") && gone.stderr.contains("missing.bin"),
        "{}",
        gone.stderr
    );
    let help = Proc::stt("help", &["send", "--help"]).wait(LONG);
    assert!(help.stdout.contains("--ws"), "{}", help.stdout);
    // The usage line offers --to, --ws or --to-node (with --via): one of them.
    let usage = Proc::stt("usage", &["send"]).wait(LONG);
    assert_eq!(usage.status.code(), Some(2));
    assert!(
        usage
            .stderr
            .contains("<--to <TO>|--ws <WS>|--to-node <NODEID>>"),
        "{}",
        usage.stderr
    );
    for f in [&no_port, &gone] {
        assert!(
            !f.stderr.contains("\u{1b}["),
            "no colour codes when stderr is not a terminal"
        );
        assert!(!f.stderr.contains("panicked"));
    }
}

#[test]
fn a_listener_without_node_seed_keeps_its_identity_across_restarts() {
    let d = Scratch::new("identity");
    let net = network_seed(&d.join("net.seed"));
    let config = d.join("config");
    let id_of = |run: u32| {
        let mut cmd = Command::new(stt_bin());
        cmd.env("XDG_CONFIG_HOME", &config).args([
            "listen",
            "--network",
            s(&net),
            "--bind",
            "127.0.0.1:0",
            "--out",
            s(d.path()),
        ]);
        let mut p = Proc::spawn(&format!("listener {run}"), cmd, Stdio::null());
        p.wait_stderr("listening as", Duration::from_secs(30));
        p.signal(libc::SIGTERM);
        let f = p.wait(Duration::from_secs(10));
        let line = f
            .stderr
            .lines()
            .find(|l| l.contains("listening as"))
            .unwrap_or_default()
            .to_string();
        line.split_whitespace()
            .nth(2)
            .unwrap_or_default()
            .to_string()
    };
    let first = id_of(1);
    let second = id_of(2);
    assert_eq!(first.len(), 64, "{first}");
    assert_eq!(first, second, "the NodeId survives a restart");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(config.join("stt/node.seed"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn a_traced_transfer_reads_back_as_summary_plot_and_qlog() {
    let d = Scratch::new("trace");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let file = d.join("f.bin");
    random_file(&file, 4 << 20, 9);
    let (sent_trace, heard_trace) = (d.join("send.jsonl"), d.join("listen.jsonl"));
    let (listener, addr) = start_listener(&net, &out, &["--trace", s(&heard_trace)]);
    let sent = send(&net, &file, &addr, &["--trace", s(&sent_trace)]).wait(LONG);
    assert!(sent.ok(), "{sent:?}");
    assert!(listener.wait(LONG).ok());
    let trace = |args: &[&str]| Proc::stt("trace", args).wait(LONG);
    let summary = trace(&["trace", "summary", s(&sent_trace)]);
    assert!(summary.ok(), "{summary:?}");
    // One session that had every byte of the file acknowledged (plus the control
    // stream's few bytes, on another stream).
    let row = summary.stdout.lines().nth(1).expect("a session row");
    let acked: f64 = row.split_whitespace().nth(2).unwrap().parse().unwrap();
    assert!((4.19..4.3).contains(&acked), "{}", summary.stdout);
    assert!(trace(&["trace", "summary", s(&heard_trace)]).ok());
    let svg = d.join("send.svg");
    let plotted = trace(&["trace", "plot", s(&sent_trace), "-o", s(&svg)]);
    assert!(plotted.ok(), "{plotted:?}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg") && text.contains("congestion window"));
    let qlog = d.join("send.sqlog");
    assert!(trace(&["trace", "qlog", s(&sent_trace), "-o", s(&qlog)]).ok());
    let q = std::fs::read(&qlog).unwrap();
    assert_eq!(q.first(), Some(&0x1e));
    assert!(String::from_utf8_lossy(&q).contains("recovery:metrics_updated"));
    // The failures people meet: no such file, a trace written without metrics.
    let missing = trace(&["trace", "summary", s(&d.join("nope.jsonl"))]);
    assert_eq!(missing.status.code(), Some(1), "{missing:?}");
    assert!(missing.stderr.contains("cannot read"), "{}", missing.stderr);
    let bare = d.join("bare.jsonl");
    std::fs::write(&bare, "{\"schema\":\"stt-trace\",\"version\":1}\n").unwrap();
    let empty = trace(&["trace", "summary", s(&bare)]);
    assert_eq!(empty.status.code(), Some(1), "{empty:?}");
    assert!(
        empty.stderr.contains("no session metrics"),
        "{}",
        empty.stderr
    );
}
