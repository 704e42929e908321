//! The `stt` binary end to end: keygen and network new write 0600 seed files, a short
//! seed is a clear error, and `listen` + `send` move a file over loopback UDP intact,
//! and over `wss://` with a certificate generated here (an untrusted one is refused).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn stt() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_stt"))
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("stt-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn seeds_and_errors() {
    let d = tmp("seeds");
    let out = Command::new(stt())
        .args(["keygen", "--out"])
        .arg(d.join("node.seed"))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim().len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join("node.seed"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    std::fs::write(d.join("short.seed"), "abcd").unwrap();
    let out = Command::new(stt())
        .args(["send", "Cargo.toml", "--to", "127.0.0.1:9", "--network"])
        .arg(d.join("short.seed"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("need at least 32"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn listen_and_send_move_a_file() {
    let d = tmp("xfer");
    let net = d.join("net.seed");
    assert!(
        Command::new(stt())
            .args(["network", "new", "--out"])
            .arg(&net)
            .status()
            .unwrap()
            .success()
    );
    let file = d.join("payload.bin");
    let body: Vec<u8> = (0..3_000_000u32).map(|i| (i * 31 % 253) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let outdir = d.join("out");
    std::fs::create_dir_all(&outdir).unwrap();
    // Find a free port, then let the listener take it.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut listener = Command::new(stt())
        .args([
            "listen",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--network",
        ])
        .arg(&net)
        .arg("--out")
        .arg(&outdir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let sent = Command::new(stt())
        .arg("send")
        .arg(&file)
        .args(["--to", &format!("127.0.0.1:{port}"), "--network"])
        .arg(&net)
        .output()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = listener.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = listener.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "listener did not finish"
    );
    let got = std::fs::read(outdir.join("payload.bin")).unwrap();
    assert!(got == body, "file differs");
    let line = String::from_utf8_lossy(&sent.stdout);
    assert!(
        line.contains("3000000 bytes") && line.contains("sha3-256"),
        "{line}"
    );
    let mut out = String::new();
    use std::io::Read;
    listener
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let digest = line.rsplit(' ').next().unwrap().trim();
    assert!(out.contains(digest), "{out} vs {line}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn listen_and_send_over_wss() {
    let d = tmp("wss");
    let net = d.join("net.seed");
    assert!(
        Command::new(stt())
            .args(["network", "new", "--out"])
            .arg(&net)
            .status()
            .unwrap()
            .success()
    );
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (d.join("cert.pem"), d.join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    let other = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let other_pem = d.join("other.pem");
    std::fs::write(&other_pem, other.cert.pem()).unwrap();
    let file = d.join("wss.bin");
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &body).unwrap();
    let outdir = d.join("out");
    std::fs::create_dir_all(&outdir).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut listener = Command::new(stt())
        .args(["listen", "--bind", "127.0.0.1:0", "--ws"])
        .arg(format!("127.0.0.1:{port}"))
        .arg("--ws-cert")
        .arg(&cert)
        .arg("--ws-key")
        .arg(&key)
        .arg("--network")
        .arg(&net)
        .arg("--out")
        .arg(&outdir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let url = format!("wss://localhost:{port}/");
    // Trusting another certificate: refused with a TLS error, no panic.
    let refused = Command::new(stt())
        .arg("send")
        .arg(&file)
        .args(["--ws", &url, "--ws-ca"])
        .arg(&other_pem)
        .arg("--network")
        .arg(&net)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(err.contains("not trusted"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let sent = Command::new(stt())
        .arg("send")
        .arg(&file)
        .args(["--ws", &url, "--ws-ca"])
        .arg(&cert)
        .arg("--network")
        .arg(&net)
        .output()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = listener.try_wait().unwrap() {
            break Some(s);
        }
        if start.elapsed() > Duration::from_secs(30) {
            let _ = listener.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        sent.status.success(),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "listener did not finish"
    );
    assert!(
        std::fs::read(outdir.join("wss.bin")).unwrap() == body,
        "file differs"
    );
    let _ = std::fs::remove_dir_all(&d);
}
