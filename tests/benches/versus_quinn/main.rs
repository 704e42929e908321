//! Head-to-head: STT (stt-tokio, aws-lc X25519 and AES-256-GCM) against quinn (rustls, ring) on
//! 127.0.0.1, in one command:
//!
//! ```sh
//! cargo bench -p stt-tests --bench versus_quinn            # the full run
//! cargo bench -p stt-tests --bench versus_quinn -- --quick # small sizes, a harness check
//! ```
//!
//! Options: `--runs N` (repetitions of rows a–d and g–j, median reported), `--only a,c,e`,
//! `--impaired-mib N` (size of the impaired rows g–j, through `tests/src/relay.rs`).
//! Every measurement runs in a fresh child process of this binary (`--child ROW STACK
//! ARGS…`, also handy under `perf record`), STT and quinn alternating, each child a
//! 2-worker tokio runtime holding both ends. The parent prints a Markdown table with
//! the ratio STT/quinn per row. `--only b` runs just the many-streams row; a child's
//! `RESULT` line of a transfer row also carries the session's own counters (packets
//! sent, RTT, congestion window; for STT also retransmitted bytes and probe timeouts),
//! shown in the progress lines on stderr.

mod contender;
mod measure;
mod memory;
mod quinn_side;
mod rows;
mod stt_side;

use std::process::Command;
use std::time::Duration;

use contender::{Contender, Knobs, Ticket};
use measure::median;
use quinn_side::Quinn;
use stt_side::Stt;

/// Sizes of one run of the whole table.
#[derive(Debug, Clone)]
struct Plan {
    bulk: u64,
    messages: usize,
    message_size: usize,
    warmup: usize,
    connects: usize,
    clients: usize,
    rate_for: Duration,
    sessions: usize,
    concurrency: usize,
    settle: Duration,
    runs: usize,
    only: String,
    /// Bytes of the impaired rows (g)–(j).
    impaired: u64,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            bulk: 256 << 20,
            messages: 1000,
            message_size: 64 << 10,
            warmup: 10,
            connects: 200,
            clients: 64,
            rate_for: Duration::from_secs(5),
            sessions: 10_000,
            concurrency: 64,
            settle: Duration::from_secs(15),
            runs: 3,
            only: "abcCdefghij".into(),
            impaired: 64 << 20,
        }
    }

    fn quick() -> Plan {
        Plan {
            bulk: 32 << 20,
            messages: 100,
            warmup: 2,
            connects: 20,
            clients: 16,
            rate_for: Duration::from_secs(1),
            sessions: 500,
            settle: Duration::from_secs(2),
            runs: 1,
            impaired: 4 << 20,
            ..Plan::full()
        }
    }

    fn wants(&self, row: char) -> bool {
        self.only.contains(row)
    }

    /// Row c′ (hybrid post-quantum handshakes): `--only "c'"` (with row c) or `C`.
    fn wants_c_prime(&self) -> bool {
        self.only.contains("c'") || self.only.contains('C')
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize) -> T {
    args.get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("child argument {i} missing or malformed in {args:?}"))
}

/// A child process: runs one row for stack `C` and prints `RESULT key=value…`.
fn child<C: Contender>(row: &str, args: &[String]) {
    let rt = runtime();
    let line = match row {
        "bulk" => rt.block_on(rows::bulk::<C>(arg(args, 0))),
        "messages" => rt.block_on(rows::messages::<C>(arg(args, 0), arg(args, 1))),
        "latency" => rt.block_on(rows::latency::<C>(
            Knobs::default(),
            arg(args, 0),
            arg(args, 1),
        )),
        "latency-pq" => rt.block_on(rows::latency::<C>(
            Knobs {
                pq: true,
                ..Knobs::default()
            },
            arg(args, 0),
            arg(args, 1),
        )),
        "impaired" => rt.block_on(rows::impaired::<C>(arg(args, 0), impairment(args))),
        "rate" => rt.block_on(rows::rate::<C>(
            arg(args, 0),
            Duration::from_secs_f64(arg(args, 1)),
        )),
        "mem-server" => {
            memory::server_child::<C>(&rt);
            return;
        }
        "mem-client" => {
            let cert: String = arg(args, 1);
            let ticket = Ticket {
                addr: arg(args, 0),
                cert: hex::decode(&cert).unwrap_or_default(),
            };
            let settle = Duration::from_secs_f64(arg(args, 4));
            memory::client_child::<C>(&rt, ticket, arg(args, 2), arg(args, 3), settle);
            return;
        }
        other => panic!("unknown row {other}"),
    };
    println!("RESULT {line}");
    rt.shutdown_background();
}

/// One-way delay the relay adds in every impaired row (both directions).
const DELAY: Duration = Duration::from_millis(5);

/// The impaired rows: (row, label, loss, reorder, jitter in ms, rebind every N).
const IMPAIRED: [(char, &str, f64, f64, u64, u64); 4] = [
    ('g', "1% loss, 5 ms each way", 0.01, 0.0, 0, 0),
    ('h', "5% loss, 5 ms each way", 0.05, 0.0, 0, 0),
    ('i', "5% reordering, 5 ms ± 2 ms each way", 0.0, 0.05, 2, 0),
    (
        'j',
        "1% loss + rebinding every 2,000 datagrams",
        0.01,
        0.0,
        0,
        2000,
    ),
];

/// The relay settings of an impaired child: args are bytes, loss, reorder, jitter ms,
/// rebind interval.
fn impairment(args: &[String]) -> stt_tests::relay::RelayConfig {
    let one = stt_tests::relay::Impairment {
        loss: arg(args, 1),
        reorder: arg(args, 2),
        delay: DELAY,
        jitter: Duration::from_millis(arg(args, 3)),
        ..Default::default()
    };
    stt_tests::relay::RelayConfig {
        seed: 17,
        up: one,
        down: one,
        rebind_every: arg(args, 4),
    }
}

/// A child's figures: `key=value` pairs.
type Figures = Vec<(String, f64)>;

/// Runs one row in a child process and returns its `key=value` figures.
fn run(row: &str, stack: &str, args: &[String]) -> Figures {
    let exe = std::env::current_exe().expect("own executable");
    let out = Command::new(exe)
        .arg("--child")
        .arg(row)
        .arg(stack)
        .args(args)
        .output()
        .expect("spawn a child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find_map(|l| l.strip_prefix("RESULT ")) else {
        panic!(
            "{row}/{stack} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    };
    line.split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect()
}

fn get(figures: &Figures, key: &str) -> f64 {
    figures
        .iter()
        .find(|(k, _)| k == key)
        .map_or(f64::NAN, |(_, v)| *v)
}

const STACKS: [&str; 2] = ["stt", "quinn"];

/// Per stack, the figures of each run of a row (STT and quinn alternate, and which
/// goes first alternates too).
fn runs(plan: &Plan, row: &str, args: &[String]) -> [Vec<Figures>; 2] {
    let mut out = [Vec::new(), Vec::new()];
    for r in 0..plan.runs {
        for k in 0..2 {
            let i = (k + r) % 2;
            let f = run(row, STACKS[i], args);
            eprintln!("  {row} {} run {}: {f:?}", STACKS[i], r + 1);
            out[i].push(f);
        }
    }
    out
}

/// A note line: `key` of each run, per stack.
fn note(what: &str, figs: &[Vec<Figures>; 2], key: &str) -> String {
    let list = |i: usize| {
        figs[i]
            .iter()
            .map(|f| format!("{:.0}", get(f, key)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("{what} per run: STT {}; quinn {}", list(0), list(1))
}

/// One line of the table.
struct Line {
    label: String,
    unit: &'static str,
    values: [f64; 2],
    higher_is_better: bool,
    /// The issue's target for STT/quinn, if it names one (else "ahead": ratio > 1 or < 1).
    target: Option<f64>,
}

impl Line {
    fn ratio(&self) -> f64 {
        self.values[0] / self.values[1]
    }

    fn met(&self) -> bool {
        let r = self.ratio();
        match (self.target, self.higher_is_better) {
            (Some(t), true) => r >= t,
            (Some(t), false) => r <= t,
            (None, true) => r > 1.0,
            (None, false) => r < 1.0,
        }
    }

    fn target_text(&self) -> String {
        match (self.target, self.higher_is_better) {
            (Some(t), true) => format!("≥ {t}×"),
            (Some(t), false) => format!("≤ {t}×"),
            (None, true) => "> 1× (ahead)".into(),
            (None, false) => "< 1× (ahead)".into(),
        }
    }
}

fn fmt(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The median over runs of `f`, per stack.
fn per_stack(figs: &[Vec<Figures>; 2], f: impl Fn(&Figures) -> f64) -> [f64; 2] {
    let m = |i: usize| {
        let mut v: Vec<f64> = figs[i].iter().map(&f).collect();
        median(&mut v)
    };
    [m(0), m(1)]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let (row, stack) = (args[1].as_str(), args[2].as_str());
        match stack {
            "stt" => child::<Stt>(row, &args[3..]),
            "quinn" => child::<Quinn>(row, &args[3..]),
            other => panic!("unknown stack {other}"),
        }
        return;
    }
    let mut plan = if args.iter().any(|a| a == "--quick") {
        Plan::quick()
    } else {
        Plan::full()
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--runs" => plan.runs = it.next().and_then(|v| v.parse().ok()).unwrap_or(plan.runs),
            "--only" => plan.only = it.next().cloned().unwrap_or_default(),
            "--impaired-mib" => {
                plan.impaired = it.next().and_then(|v| v.parse().ok()).unwrap_or(64) << 20
            }
            _ => {}
        }
    }
    let load_before = measure::load();
    eprintln!("versus_quinn: {plan:?}; load {load_before}");
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    let mib = (1u64 << 20) as f64;
    if plan.wants('a') || plan.wants('f') {
        let figs = runs(&plan, "bulk", &[plan.bulk.to_string()]);
        let gib = plan.bulk as f64 / (1u64 << 30) as f64;
        notes.push(note("bulk: packets declared lost", &figs, "lost"));
        if plan.wants('a') {
            lines.push(Line {
                label: format!("(a) bulk goodput, {} MiB on one stream", plan.bulk >> 20),
                unit: "MiB/s",
                values: per_stack(&figs, |f| plan.bulk as f64 / mib / get(f, "secs")),
                higher_is_better: true,
                target: Some(1.3),
            });
        }
        if plan.wants('f') {
            lines.push(Line {
                label: "(f) CPU time per GiB, bulk row (both ends, user+sys)".into(),
                unit: "s/GiB",
                values: per_stack(&figs, |f| get(f, "cpu") / gib),
                higher_is_better: false,
                target: None,
            });
        }
    }
    if plan.wants('b') {
        let args = [plan.messages.to_string(), plan.message_size.to_string()];
        let figs = runs(&plan, "messages", &args);
        let total = (plan.messages * plan.message_size) as f64 / mib;
        notes.push(note("messages: packets declared lost", &figs, "lost"));
        lines.push(Line {
            label: format!(
                "(b) {} × {} KiB messages, one stream each",
                plan.messages,
                plan.message_size >> 10
            ),
            unit: "MiB/s",
            values: per_stack(&figs, |f| total / get(f, "secs")),
            higher_is_better: true,
            target: Some(1.3),
        });
    }
    if plan.wants('c') {
        let args = [plan.warmup.to_string(), plan.connects.to_string()];
        let figs = runs(&plan, "latency", &args);
        notes.push(note(
            "sequential handshakes: CPU µs per handshake (both ends)",
            &figs,
            "cpu_us",
        ));
        for (key, what) in [("mean_ms", "mean"), ("p99_ms", "p99")] {
            lines.push(Line {
                label: format!("(c) handshake latency {what}, {} sequential", plan.connects),
                unit: "ms",
                values: per_stack(&figs, |f| get(f, key)),
                higher_is_better: false,
                target: Some(0.5),
            });
        }
    }
    if plan.wants_c_prime() {
        let args = [plan.warmup.to_string(), plan.connects.to_string()];
        let figs = runs(&plan, "latency-pq", &args);
        notes.push(note(
            "hybrid handshakes (c′): CPU µs per handshake (both ends)",
            &figs,
            "cpu_us",
        ));
        notes.push(note(
            "hybrid handshakes (c′): handshakes that ran X25519+ML-KEM-768 (checked in each child: none classic)",
            &figs,
            "hybrid_kx",
        ));
        for (key, what) in [("mean_ms", "mean"), ("p99_ms", "p99")] {
            lines.push(Line {
                label: format!(
                    "(c′) hybrid PQ handshake latency {what}, {} sequential",
                    plan.connects
                ),
                unit: "ms",
                values: per_stack(&figs, |f| get(f, key)),
                higher_is_better: false,
                target: Some(0.6),
            });
        }
        lines.push(Line {
            label: "(c′) CPU per hybrid handshake (both ends, user+sys)".into(),
            unit: "µs",
            values: per_stack(&figs, |f| get(f, "cpu_us")),
            higher_is_better: false,
            target: None,
        });
    }
    if plan.wants('d') {
        let args = [
            plan.clients.to_string(),
            plan.rate_for.as_secs_f64().to_string(),
        ];
        let figs = runs(&plan, "rate", &args);
        notes.push(note("handshake rate: failed handshakes", &figs, "failed"));
        notes.push(note(
            "handshake rate: CPU µs per handshake (both ends)",
            &figs,
            "cpu_us",
        ));
        lines.push(Line {
            label: format!(
                "(d) handshakes/s, {} concurrent clients, {} s",
                plan.clients,
                plan.rate_for.as_secs_f64()
            ),
            unit: "1/s",
            values: per_stack(&figs, |f| get(f, "per_sec")),
            higher_is_better: true,
            target: None,
        });
    }
    if plan.wants('e') {
        let mut m = [memory::Memory::default(); 2];
        for (i, stack) in STACKS.iter().enumerate() {
            m[i] = memory::measure(stack, plan.sessions, plan.concurrency, plan.settle);
            eprintln!("  memory {stack}: {:?}", m[i]);
        }
        notes.push(format!(
            "idle sessions: the servers held {} (STT) and {} (quinn) sessions, established in {:.1} s and {:.1} s, {} and {} handshakes failed",
            m[0].server_sessions,
            m[1].server_sessions,
            m[0].establish_secs,
            m[1].establish_secs,
            m[0].failed,
            m[1].failed
        ));
        let server = [m[0].server_per_session, m[1].server_per_session];
        let client = [m[0].client_per_session, m[1].client_per_session];
        for (side, v) in [("server", server), ("client", client)] {
            lines.push(Line {
                label: format!(
                    "(e) idle session memory, {side} side ({} sessions, RSS delta)",
                    plan.sessions
                ),
                unit: "KiB/session",
                values: [v[0] / 1024.0, v[1] / 1024.0],
                higher_is_better: false,
                target: Some(0.5),
            });
        }
    }
    for (row, label, loss, reorder, jitter_ms, rebind) in IMPAIRED {
        if !plan.wants(row) {
            continue;
        }
        let args = [
            plan.impaired.to_string(),
            loss.to_string(),
            reorder.to_string(),
            jitter_ms.to_string(),
            rebind.to_string(),
        ];
        let figs = runs(&plan, "impaired", &args);
        notes.push(note(
            &format!("({row}) packets declared lost"),
            &figs,
            "lost",
        ));
        notes.push(note(&format!("({row}) relay drops"), &figs, "relay_drops"));
        notes.push(note(
            &format!("({row}) bytes retransmitted (quinn: bytes declared lost)"),
            &figs,
            "retx_bytes",
        ));
        if loss > 0.0 {
            // Mathis et al.: MSS / RTT × sqrt(3/2) / sqrt(p), with the nominal RTT.
            let rtt = 2.0 * DELAY.as_secs_f64();
            let bound = 1424.0 / rtt * 1.5f64.sqrt() / loss.sqrt() / mib;
            notes.push(format!(
                "({row}) Mathis bound at {:.0} ms RTT, {}% loss, 1,424-byte segments: {bound:.2} MiB/s",
                rtt * 1e3,
                loss * 100.0
            ));
        }
        lines.push(Line {
            label: format!("({row}) {label}, {} MiB on one stream", plan.impaired >> 20),
            unit: "MiB/s",
            values: per_stack(&figs, |f| plan.impaired as f64 / mib / get(f, "secs")),
            higher_is_better: true,
            target: Some(1.3),
        });
    }
    let load_after = measure::load();
    println!();
    println!(
        "Date {}; machine: {}; load average before {load_before}, after {load_after}.",
        measure::today(),
        measure::machine()
    );
    println!(
        "Medians of {} run(s) for rows a–d and g–j; STT with {}, quinn 0.11 with rustls (ring).",
        plan.runs,
        stt_aead()
    );
    println!();
    println!("| Row | Unit | STT | quinn | STT/quinn | Target | Met |");
    println!("| --- | --- | ---: | ---: | ---: | --- | --- |");
    for l in &lines {
        println!(
            "| {} | {} | {} | {} | {:.2} | {} | {} |",
            l.label,
            l.unit,
            fmt(l.values[0]),
            fmt(l.values[1]),
            l.ratio(),
            l.target_text(),
            if l.met() { "yes" } else { "**no**" }
        );
    }
    println!();
    for n in &notes {
        println!("- {n}");
    }
}

/// The AEAD STT negotiates here (both nodes use the aws-lc provider).
fn stt_aead() -> &'static str {
    use stt_proto::crypto::{AWS_LC, Aead, AeadSet};
    if AeadSet::preferred(&AWS_LC).contains(Aead::Aes256Gcm) {
        "AES-256-GCM and X25519 (aws-lc)"
    } else {
        "ChaCha20-Poly1305 and X25519 (aws-lc; no hardware AES)"
    }
}
