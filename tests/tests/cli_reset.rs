//! A restarted peer, with `stt cat` as separate processes on loopback: the listener is
//! killed and started again with the same node seed on the same address, and the
//! connected side learns at its next packet that its session is gone (a stateless reset,
//! PROTOCOL.md §5.5) and says so, seconds before its 10 s idle timeout would have. About
//! 3 s.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stt_tests::procs::{Proc, Scratch, free_udp_port, network_seed, stt_bin};

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 test path")
}

fn cat(args: &[&str]) -> Proc {
    let mut cmd = Command::new(stt_bin());
    cmd.arg("cat").args(args);
    Proc::spawn("cat", cmd, Stdio::piped())
}

#[test]
fn a_restarted_listener_resets_the_session_and_the_sender_says_so() {
    let d = Scratch::new("cli-reset");
    let net = network_seed(&d.join("net.seed"));
    let node = d.join("listener.seed");
    let keygen = Command::new(stt_bin())
        .args(["keygen", "--out", s(&node)])
        .output()
        .expect("stt keygen runs");
    assert!(keygen.status.success());
    let addr = format!("127.0.0.1:{}", free_udp_port());
    let listener = [
        "--network",
        s(&net),
        "--node-seed",
        s(&node),
        "--listen",
        &addr,
    ];
    let first = cat(&listener);
    std::thread::sleep(Duration::from_millis(300));
    let mut client = cat(&["--network", s(&net), "--to", &addr]);
    let mut first = first;
    client
        .stdin()
        .expect("piped")
        .write_all(b"hello\n")
        .expect("write");
    client.stdin().expect("piped").flush().expect("flush");
    first.wait_stdout("hello\n", Duration::from_secs(10));

    // The listener dies without a word and comes back with the same identity.
    first.signal(libc::SIGKILL);
    let _ = first.wait(Duration::from_secs(10));
    let _second = cat(&listener);
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    // Writing may fail once the client has exited (a broken pipe): that is fine.
    let _ = client
        .stdin()
        .expect("piped")
        .write_all(b"are you there?\n")
        .and_then(|()| client.stdin().expect("piped").flush());
    let done = client.wait(Duration::from_secs(30));
    let took = start.elapsed();
    assert!(!done.ok(), "{done:?}");
    assert!(
        done.stderr
            .contains("the peer holds no state for this session (it answered with a stateless reset): it restarted"),
        "{}",
        done.stderr
    );
    assert!(
        took < Duration::from_secs(5),
        "the reset took {took:?}: the idle timeout (10 s), not the reset, ended it"
    );
}
