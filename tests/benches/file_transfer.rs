//! `stt send` → `stt listen` against a plain TCP copy of the same file over the same
//! link, both as separate processes, in one run: loopback, then (as root) two network
//! namespaces joined by a veth pair. The TCP copy is `sendfile` → `recv` into 1 MiB →
//! `write`, then `fsync`, and the sender waits for the receiver's one-byte answer; STT
//! likewise ends when the receiver has stored, synced and confirmed the file. Also
//! `stt demo` with the same size on one stream, for the transport's in-process speed.
//!
//! `cargo bench -p stt-tests --bench file_transfer` (env: `STT_BENCH_MIB`, default
//! 1024; `STT_BENCH_RUNS`, default 3). Prints every run and the medians; CPU time is
//! user + system of both processes, per GiB moved.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stt_tests::netns::NetnsPair;
use stt_tests::procs::{Scratch, random_file, sha3_file, stt_bin};

/// MB (10^6 bytes) in a GiB.
const GIB_IN_MB: f64 = 1_073.741_824;

/// CPU seconds (user + system) used by reaped children so far.
fn children_cpu() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own; no other memory involved.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}

/// One measured transfer: wall seconds and CPU seconds of both processes.
#[derive(Clone, Copy)]
struct Run {
    secs: f64,
    cpu: f64,
}

/// Where the two processes run: loopback, or the two ends of a veth pair.
struct Link<'a> {
    name: &'static str,
    ns: Option<&'a NetnsPair>,
    send_to: String,
    bind: String,
    config: PathBuf,
}

impl Link<'_> {
    fn command(&self, receiver: bool, program: &Path) -> Command {
        let mut c = match self.ns {
            Some(p) => NetnsPair::command(if receiver { &p.b } else { &p.a }, program),
            None => Command::new(program),
        };
        // The tool's identities and known peers stay in the bench's scratch directory.
        c.env("XDG_CONFIG_HOME", &self.config);
        c
    }
}

fn tcp_receive(bind: &str, out: &Path) {
    let l = TcpListener::bind(bind).expect("bind tcp");
    println!("ready");
    let _ = std::io::stdout().flush();
    let (mut c, _) = l.accept().expect("accept");
    let mut f = std::fs::File::create(out).expect("create");
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = c.read(&mut buf).expect("recv");
        if n == 0 {
            break;
        }
        f.write_all(&buf[..n]).expect("write");
    }
    f.sync_all().expect("fsync");
    c.write_all(b"k").expect("answer");
}

fn tcp_send(to: &str, file: &Path) {
    use std::os::fd::AsRawFd;
    let mut c = TcpStream::connect(to).expect("connect");
    let f = std::fs::File::open(file).expect("open");
    let len = f.metadata().expect("len").len() as usize;
    let mut off: libc::off_t = 0;
    while (off as usize) < len {
        // SAFETY: both descriptors are open for the whole call; off is our own local.
        let n =
            unsafe { libc::sendfile(c.as_raw_fd(), f.as_raw_fd(), &mut off, len - off as usize) };
        assert!(n > 0, "sendfile: {}", std::io::Error::last_os_error());
    }
    c.shutdown(std::net::Shutdown::Write).expect("shutdown");
    let mut k = [0u8; 1];
    c.read_exact(&mut k).expect("answer");
}

fn wait_ready(child: &mut std::process::Child, needle: &str, from_stderr: bool) {
    let mut line = String::new();
    let stream: Box<dyn Read + Send> = if from_stderr {
        Box::new(child.stderr.take().expect("piped stderr"))
    } else {
        Box::new(child.stdout.take().expect("piped stdout"))
    };
    let mut r = std::io::BufReader::new(stream);
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end {
        line.clear();
        if std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) == 0 {
            break;
        }
        if line.contains(needle) {
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || std::io::copy(&mut r, &mut std::io::sink()));
            return;
        }
    }
    panic!("receiver never printed {needle:?}");
}

fn tcp_run(link: &Link, me: &Path, file: &Path, out: &Path) -> Run {
    let _ = std::fs::remove_file(out);
    let cpu0 = children_cpu();
    let mut rx = link
        .command(true, me)
        .args(["--tcp-recv", &link.bind, out.to_str().unwrap()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("tcp receiver");
    wait_ready(&mut rx, "ready", false);
    let t = Instant::now();
    let tx = link
        .command(false, me)
        .args(["--tcp-send", &link.send_to, file.to_str().unwrap()])
        .status()
        .expect("tcp sender");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        tx.success() && rx.wait().expect("wait").success(),
        "tcp copy failed"
    );
    Run {
        secs,
        cpu: children_cpu() - cpu0,
    }
}

fn stt_run(link: &Link, net: &Path, file: &Path, out_dir: &Path) -> Run {
    let name = file.file_name().unwrap();
    let _ = std::fs::remove_file(out_dir.join(name));
    let cpu0 = children_cpu();
    let mut rx = link
        .command(true, stt_bin())
        .args([
            "listen",
            "--json",
            "--network",
            net.to_str().unwrap(),
            "--bind",
            &link.bind,
        ])
        .arg("--out")
        .arg(out_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("stt listen");
    wait_ready(&mut rx, "listening as", true);
    let t = Instant::now();
    let tx = link
        .command(false, stt_bin())
        .args([
            "send",
            "--quiet",
            "--network",
            net.to_str().unwrap(),
            "--to",
            &link.send_to,
        ])
        .arg(file)
        .status()
        .expect("stt send");
    let secs = t.elapsed().as_secs_f64();
    assert!(
        tx.success() && rx.wait().expect("wait").success(),
        "stt transfer failed"
    );
    Run {
        secs,
        cpu: children_cpu() - cpu0,
    }
}

fn demo_run(mib: u64) -> f64 {
    let out = Command::new(stt_bin())
        .args([
            "demo",
            "--streams",
            "1",
            "--datagrams",
            "1",
            "--mib",
            &mib.to_string(),
        ])
        .output()
        .expect("stt demo");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find(|l| l.starts_with("goodput"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("demo prints its goodput")
}

/// SHA3-256 throughput of one core over `file` (already in the page cache), MB/s.
fn sha3_rate(file: &Path) -> f64 {
    let data = std::fs::read(file).expect("read payload");
    let t = Instant::now();
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA3_256, &data);
    let secs = t.elapsed().as_secs_f64();
    assert_eq!(d.as_ref(), sha3_file(file), "aws-lc and sha3 agree");
    data.len() as f64 / secs / 1e6
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cpu}, {cores} cores")
}

/// What every measured run shares.
struct Setup<'a> {
    me: &'a Path,
    net: &'a Path,
    file: &'a Path,
    dir: &'a Scratch,
    mib: u64,
    runs: usize,
}

fn bench_link(link: &Link, setup: &Setup, demo: Option<f64>) {
    let Setup {
        me,
        net,
        file,
        dir: d,
        mib,
        runs,
    } = *setup;
    let gib = mib as f64 / 1024.0;
    let bytes = (mib << 20) as f64;
    let (mut tcp, mut stt) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let a = tcp_run(link, me, file, &d.join("tcp.out"));
        let b = stt_run(link, net, file, &d.join("stt-out"));
        println!(
            "{} run {}: tcp {:.1} MB/s ({:.2} CPU s/GiB), stt send {:.1} MB/s ({:.2} CPU s/GiB), ratio {:.2}",
            link.name,
            i + 1,
            bytes / a.secs / 1e6,
            a.cpu / gib,
            bytes / b.secs / 1e6,
            b.cpu / gib,
            a.secs / b.secs
        );
        tcp.push(a);
        stt.push(b);
    }
    assert_eq!(
        sha3_file(&d.join("stt-out").join(file.file_name().unwrap())),
        sha3_file(file)
    );
    let m = |v: &[Run], f: fn(&Run) -> f64| median(v.iter().map(f).collect());
    let tcp_rate = bytes / m(&tcp, |r| r.secs) / 1e6;
    let stt_rate = bytes / m(&stt, |r| r.secs) / 1e6;
    print!(
        "{} median: tcp {tcp_rate:.1} MB/s, {:.2} CPU s/GiB | stt send {stt_rate:.1} MB/s, {:.2} CPU s/GiB | stt/tcp {:.2}",
        link.name,
        m(&tcp, |r| r.cpu) / gib,
        m(&stt, |r| r.cpu) / gib,
        stt_rate / tcp_rate
    );
    match demo {
        Some(g) => println!(" | stt/demo {:.2} (demo {g:.1} MB/s)", stt_rate / g),
        None => println!(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--tcp-recv" {
        return tcp_receive(&args[2], Path::new(&args[3]));
    }
    if args.len() == 4 && args[1] == "--tcp-send" {
        return tcp_send(&args[2], Path::new(&args[3]));
    }
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let mib: u64 = std::env::var("STT_BENCH_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    let runs: usize = std::env::var("STT_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let me: PathBuf = std::env::current_exe().expect("own path");
    let d = Scratch::new("bench-file");
    let net = d.join("net.seed");
    assert!(
        Command::new(stt_bin())
            .args(["network", "new", "--out"])
            .arg(&net)
            .status()
            .expect("stt")
            .success()
    );
    std::fs::create_dir_all(d.join("stt-out")).expect("out dir");
    let file = d.join("payload.bin");
    random_file(&file, mib << 20, 42);
    // Flush it to disk first: writeback of a fresh 1 GiB competes with what runs next
    // (seen: stt demo at a third of its speed while the file was being written back).
    std::fs::File::open(&file)
        .and_then(|f| f.sync_all())
        .expect("sync the payload");
    println!(
        "file_transfer: {mib} MiB, {runs} runs each, {} UTC-ish, {}",
        chrono_free_date(),
        machine()
    );
    // The hashing floor: `stt send` and `stt listen` each SHA3-256 every byte (aws-lc's
    // Keccak, as the tool uses). On one host both hashes share its cores.
    let hash_rate = sha3_rate(&file);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let hash_cpu = 2.0 * GIB_IN_MB / hash_rate;
    println!(
        "SHA3-256 on one core: {hash_rate:.1} MB/s; both ends hashing need {hash_cpu:.2} CPU s/GiB, so on {cores} cores no transfer that hashes at both ends can exceed {:.1} MB/s here",
        cores * GIB_IN_MB / hash_cpu
    );
    let demos: Vec<f64> = (0..runs).map(|_| demo_run(mib)).collect();
    let demo = median(demos.clone());
    println!("stt demo (one process, one stream, {mib} MiB): {demos:.1?} MB/s, median {demo:.1}");
    let port = 47_000 + (std::process::id() % 1000) as u16;
    let lo = Link {
        name: "loopback",
        ns: None,
        send_to: format!("127.0.0.1:{port}"),
        bind: format!("127.0.0.1:{port}"),
        config: d.join("config"),
    };
    let setup = Setup {
        me: &me,
        net: &net,
        file: &file,
        dir: &d,
        mib,
        runs,
    };
    bench_link(&lo, &setup, Some(demo));
    match NetnsPair::new("sttb", "77.0") {
        Ok(pair) => {
            let link = Link {
                name: "veth",
                ns: Some(&pair),
                send_to: format!("{}:{port}", pair.addr_b),
                bind: format!("{}:{port}", pair.addr_b),
                config: d.join("config"),
            };
            bench_link(&link, &setup, None);
        }
        Err(why) => println!("veth: skipped ({why})"),
    }
}

/// Today's date from `date -u` (no date crate for one line).
fn chrono_free_date() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}
