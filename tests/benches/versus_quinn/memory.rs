//! Row (e), idle session memory: a server child process and a client child process
//! (both this same bench binary), so neither side's memory pollutes the other's and
//! no earlier row's heap is counted. The parent steers them over stdin/stdout lines:
//!
//! server: `READY addr cert` … `RSS` → `RSS bytes sessions` … `EXIT`
//! client: `WARM bytes` … `GO` → `RSS bytes sessions secs failed` … `EXIT`
//!
//! Baselines are taken with one session already established (so one-time set-up is
//! not counted); the client then opens `n` more, 64 handshakes at a time, and idles
//! `settle` seconds before both sides are measured.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::contender::{Contender, Knobs, Ticket};
use crate::measure::rss_bytes;

/// Idle timeout of both stacks in this row: longer than establishing and settling, so
/// every session is still established when measured (both defaults are 30 s).
pub const IDLE: Duration = Duration::from_secs(600);

fn knobs() -> Knobs {
    Knobs {
        idle_timeout: Some(IDLE),
        ..Knobs::default()
    }
}

/// Reads stdin lines until one that is not `RSS`, answering each `RSS`.
fn serve_commands(mut answer: impl FnMut() -> String) {
    for line in std::io::stdin().lock().lines() {
        match line.as_deref().map(str::trim) {
            Ok("RSS") => println!("{}", answer()),
            Ok("GO") => return,
            _ => std::process::exit(0),
        }
    }
}

/// The server child: accepts and holds every session.
pub fn server_child<C: Contender>(rt: &tokio::runtime::Runtime) {
    let held: Arc<Mutex<Vec<C::Conn>>> = Arc::default();
    let server = rt.block_on(async {
        let server = Arc::new(C::server(knobs()).await);
        let (s, h) = (server.clone(), held.clone());
        tokio::spawn(async move {
            while let Some(c) = C::accept(&s).await {
                h.lock().unwrap_or_else(|p| p.into_inner()).push(c);
            }
        });
        server
    });
    let t = C::ticket(&server);
    let cert = if t.cert.is_empty() {
        "-".to_string()
    } else {
        hex::encode(&t.cert)
    };
    println!("READY {} {cert}", t.addr);
    let count = || held.lock().unwrap_or_else(|p| p.into_inner()).len();
    serve_commands(|| format!("RSS {} {}", rss_bytes(), count()));
}

/// The client child: one warm-up session, then `n` more on `GO`.
pub fn client_child<C: Contender>(
    rt: &tokio::runtime::Runtime,
    ticket: Ticket,
    n: usize,
    concurrency: usize,
    settle: Duration,
) {
    let client = Arc::new(rt.block_on(C::client(knobs(), ticket)));
    let warm = rt.block_on(C::connect(&client)).expect("warm-up session");
    println!("WARM {}", rss_bytes());
    serve_commands(|| format!("RSS {}", rss_bytes()));
    let t0 = Instant::now();
    let (conns, failed) = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..concurrency {
            let share = n / concurrency + usize::from(i < n % concurrency);
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::with_capacity(share);
                let mut failed = 0usize;
                for _ in 0..share {
                    match C::connect(&client).await {
                        Ok(c) => got.push(c),
                        Err(_) => failed += 1,
                    }
                }
                (got, failed)
            }));
        }
        let mut all = Vec::with_capacity(n);
        let mut failed = 0;
        for t in tasks {
            let (got, f) = t.await.expect("connect task");
            all.extend(got);
            failed += f;
        }
        (all, failed)
    });
    let secs = t0.elapsed().as_secs_f64();
    rt.block_on(async { tokio::time::sleep(settle).await });
    println!("RSS {} {} {secs} {failed}", rss_bytes(), conns.len());
    serve_commands(|| format!("RSS {}", rss_bytes()));
    drop((warm, conns));
}

/// What row (e) measured for one stack.
#[derive(Debug, Clone, Copy, Default)]
pub struct Memory {
    /// Server RSS growth per additional established session, in bytes.
    pub server_per_session: f64,
    /// Client RSS growth per additional established session, in bytes.
    pub client_per_session: f64,
    /// Sessions the server held at the end, besides the warm-up one.
    pub server_sessions: usize,
    /// Seconds the client took to establish them.
    pub establish_secs: f64,
    /// Handshakes that failed.
    pub failed: usize,
}

/// One child and its pipes.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(args: &[String]) -> Peer {
        let exe = std::env::current_exe().expect("own executable");
        let mut child = Command::new(exe)
            .arg("--child")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn a child");
        let stdin = child.stdin.take().expect("child stdin");
        let stdout = BufReader::new(child.stdout.take().expect("child stdout"));
        Peer {
            child,
            stdin,
            stdout,
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("write to child");
        self.stdin.flush().expect("flush to child");
    }

    /// The next line starting with `tag`, split into its fields after the tag.
    fn expect(&mut self, tag: &str) -> Vec<String> {
        let mut line = String::new();
        loop {
            line.clear();
            let n = self.stdout.read_line(&mut line).expect("read from child");
            assert!(n > 0, "child ended before sending {tag}");
            let mut f = line.split_whitespace();
            if f.next() == Some(tag) {
                return f.map(str::to_string).collect();
            }
        }
    }

    /// Asks a server for its RSS until it holds `sessions` (or 5 s have passed):
    /// (bytes, sessions held).
    fn rss_once_holding(&mut self, sessions: usize) -> (f64, usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            self.send("RSS");
            let s = self.expect("RSS");
            let (rss, held): (f64, usize) = (num(&s, 0), num(&s, 1));
            if held >= sessions || Instant::now() > deadline {
                return (rss, held);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn finish(mut self) {
        self.send("EXIT");
        let _ = self.child.wait();
    }
}

fn num<T: std::str::FromStr>(fields: &[String], i: usize) -> T {
    fields
        .get(i)
        .and_then(|f| f.parse().ok())
        .unwrap_or_else(|| panic!("field {i} of {fields:?}"))
}

/// Runs row (e) for the stack named `name` (`stt` or `quinn`).
pub fn measure(name: &str, n: usize, concurrency: usize, settle: Duration) -> Memory {
    let mut server = Peer::spawn(&["mem-server".into(), name.into()]);
    let ready = server.expect("READY");
    let mut client = Peer::spawn(&[
        "mem-client".into(),
        name.into(),
        ready[0].clone(),
        ready[1].clone(),
        n.to_string(),
        concurrency.to_string(),
        settle.as_secs_f64().to_string(),
    ]);
    let client_base: f64 = num(&client.expect("WARM"), 0);
    // A server counts a session once its side of the handshake completes, which may
    // be a moment after the client's: wait for the warm-up session to be held.
    let (server_base, sessions_base) = server.rss_once_holding(1);
    client.send("GO");
    let c = client.expect("RSS");
    let (client_after, established, establish_secs, failed): (f64, usize, f64, usize) =
        (num(&c, 0), num(&c, 1), num(&c, 2), num(&c, 3));
    let (server_after, sessions_after) = server.rss_once_holding(sessions_base + established);
    client.finish();
    server.finish();
    let server_sessions = sessions_after.saturating_sub(sessions_base);
    Memory {
        server_per_session: (server_after - server_base) / server_sessions.max(1) as f64,
        client_per_session: (client_after - client_base) / established.max(1) as f64,
        server_sessions,
        establish_secs,
        failed,
    }
}
