//! The `stt` binary as people run it: built once per test process, spawned as
//! separate processes with a deadline (killed by pid when it passes), stdout and
//! stderr collected while they run so a test can wait for a line, signals, scratch
//! directories that clean up after themselves, and files of seeded random content
//! compared by SHA3-256. Shared by every test and benchmark that runs the command.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use sha3::{Digest, Sha3_256};

/// Builds `stt` (the `stt-cli` package's binary, in the profile this test was built in,
/// with the workspace's features) once and returns its path.
/// `STT_BIN` overrides it.
pub fn stt_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("STT_BIN") {
            return PathBuf::from(p);
        }
        let release = !cfg!(debug_assertions);
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut cmd = Command::new(cargo);
        // The whole workspace's binaries: the same feature set `cargo test --workspace`
        // builds them with, so after that this is a no-op.
        cmd.args(["build", "--workspace", "--bins", "--message-format=json"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stderr(Stdio::inherit());
        if release {
            cmd.arg("--release");
        }
        let out = cmd.output().expect("cargo build of stt runs");
        assert!(
            out.status.success(),
            "cargo build --workspace --bins failed"
        );
        let text = String::from_utf8_lossy(&out.stdout);
        // The `stt` target of the stt-cli package (stt-cli/Cargo.toml).
        let stt_cli = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stt-cli/Cargo.toml");
        let stt_cli = stt_cli.canonicalize().expect("stt-cli/Cargo.toml exists");
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"]["name"] == "stt")
            .filter(|v| {
                v["manifest_path"]
                    .as_str()
                    .and_then(|p| Path::new(p).canonicalize().ok())
                    .is_some_and(|p| p == stt_cli)
            })
            .find_map(|v| v["executable"].as_str().map(PathBuf::from))
            .expect("cargo reported the stt executable of stt-cli")
    })
}

/// A directory under the system temp dir, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A fresh, empty directory named after `name` and this process.
    pub fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("stt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch dir");
        Self(d)
    }

    /// A path inside it.
    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `len` bytes of content drawn from `seed` (xorshift) to `path`; returns
/// their SHA3-256.
pub fn random_file(path: &Path, len: u64, seed: u64) -> [u8; 32] {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create test file"));
    let mut h = Sha3_256::new();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut left = len;
    let mut block = vec![0u8; 1 << 16];
    while left > 0 {
        for w in block.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            w.copy_from_slice(&x.to_le_bytes()[..w.len()]);
        }
        let n = left.min(block.len() as u64) as usize;
        h.update(&block[..n]);
        f.write_all(&block[..n]).expect("write test file");
        left -= n as u64;
    }
    f.flush().expect("flush test file");
    h.finalize().into()
}

/// SHA3-256 of a whole file.
pub fn sha3_file(path: &Path) -> [u8; 32] {
    let mut f =
        std::fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut h = Sha3_256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    h.finalize().into()
}

/// A UDP port free on 127.0.0.1 right now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port()
}

/// A new shared network seed file made by `stt network new`.
pub fn network_seed(path: &Path) -> PathBuf {
    let out = Command::new(stt_bin())
        .args(["network", "new", "--out"])
        .arg(path)
        .output()
        .expect("stt network new runs");
    assert!(out.status.success(), "stt network new failed");
    path.to_path_buf()
}

/// What a finished process left.
#[derive(Debug)]
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it wrote to stdout (lossy UTF-8).
    pub stdout: String,
    /// Everything it wrote to stdout, as bytes.
    pub stdout_raw: Vec<u8>,
    /// Everything it wrote to stderr.
    pub stderr: String,
}

impl Finished {
    /// True for exit code 0.
    pub fn ok(&self) -> bool {
        self.status.success()
    }
}

/// A running process whose output is collected as it runs.
pub struct Proc {
    name: String,
    child: std::process::Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    /// When it was started.
    pub started: Instant,
}

fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut v) = into.lock() {
                v.extend_from_slice(&buf[..n]);
            }
        }
    })
}

impl Proc {
    /// Spawns `stt ARGS…` (stdin closed unless `stdin` is given).
    pub fn stt(name: &str, args: &[&str]) -> Self {
        let mut cmd = Command::new(stt_bin());
        cmd.args(args);
        Self::spawn(name, cmd, Stdio::null())
    }

    /// Spawns `cmd` with `stdin`, collecting stdout and stderr. Unless `cmd` sets them,
    /// it gets a tool directory (`XDG_CONFIG_HOME`: its own identity) and a known-peers
    /// file (`STT_KNOWN_PEERS`, or `--known-peers`) of its own, so no run reads or
    /// writes the user's and ports reused by later tests with other identities are not
    /// refused as changed peers.
    pub fn spawn(name: &str, mut cmd: Command, stdin: Stdio) -> Self {
        static RUNS: AtomicU64 = AtomicU64::new(0);
        let n = RUNS.fetch_add(1, Ordering::Relaxed);
        // Its own tool directory too: its own identity (`node.seed`), as a one-off
        // machine would have, and nothing written to the user's home.
        if !cmd.get_envs().any(|(k, _)| k == "XDG_CONFIG_HOME") {
            let dir = std::env::temp_dir().join(format!("stt-config-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            cmd.env("XDG_CONFIG_HOME", dir);
        }
        if !cmd.get_envs().any(|(k, _)| k == "STT_KNOWN_PEERS") {
            let file =
                std::env::temp_dir().join(format!("stt-known-peers-{}-{n}", std::process::id()));
            let _ = std::fs::remove_file(&file);
            cmd.env("STT_KNOWN_PEERS", file);
        }
        cmd.stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let mut readers = Vec::new();
        if let Some(o) = child.stdout.take() {
            readers.push(collect(o, stdout.clone()));
        }
        if let Some(e) = child.stderr.take() {
            readers.push(collect(e, stderr.clone()));
        }
        Self {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            readers,
            started: Instant::now(),
        }
    }

    /// Its pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stdin, if it was piped.
    pub fn stdin(&mut self) -> Option<&mut std::process::ChildStdin> {
        self.child.stdin.as_mut()
    }

    /// Closes its stdin (end of input).
    pub fn close_stdin(&mut self) {
        self.child.stdin.take();
    }

    /// What it wrote to stderr so far.
    pub fn stderr_now(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().map(|v| v.clone()).unwrap_or_default())
            .into_owned()
    }

    /// What it wrote to stdout so far.
    pub fn stdout_now(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().map(|v| v.clone()).unwrap_or_default())
            .into_owned()
    }

    /// Waits until its stderr contains `needle`; panics (after killing it) past `within`.
    pub fn wait_stderr(&mut self, needle: &str, within: Duration) {
        self.wait_for(within, needle, |p| p.stderr_now().contains(needle));
    }

    /// Waits until its stdout contains `needle`; panics (after killing it) past `within`.
    pub fn wait_stdout(&mut self, needle: &str, within: Duration) {
        self.wait_for(within, needle, |p| p.stdout_now().contains(needle));
    }

    fn wait_for(&mut self, within: Duration, what: &str, done: impl Fn(&Self) -> bool) {
        let end = Instant::now() + within;
        while Instant::now() < end {
            if done(self) {
                return;
            }
            if let Ok(Some(_)) = self.child.try_wait()
                && !done(self)
            {
                let f = self.finish();
                panic!("{} exited before printing {what:?}: {f:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let f = self.finish();
        panic!(
            "{} did not print {what:?} within {within:?}: {f:?}",
            self.name
        );
    }

    /// Sends a signal (`libc::SIGINT`, `SIGKILL`…).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we spawned and have not reaped; no memory involved.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill({}, {sig})", self.child.id());
    }

    /// Waits for it to exit; kills it and panics past `within`.
    pub fn wait(mut self, within: Duration) -> Finished {
        let end = Instant::now() + within;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return self.finish(),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(10)),
                _ => {
                    let _ = self.child.kill();
                    let f = self.finish();
                    panic!(
                        "{} still running after {within:?}; killed: {f:?}",
                        self.name
                    );
                }
            }
        }
    }

    /// Waits for the exit and the output readers; returns everything.
    fn finish(&mut self) -> Finished {
        let status = self.child.wait().expect("wait");
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Finished {
            status,
            stdout_raw: self.stdout.lock().map(|v| v.clone()).unwrap_or_default(),
            stdout: self.stdout_now(),
            stderr: self.stderr_now(),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
