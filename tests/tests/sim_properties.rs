//! Property tests over the simulator: proptest draws a scenario description (links in
//! each direction, clients and their workloads, the server's workload, a schedule of
//! faults, the run's seed), stt-sim runs it, and every invariant the simulator checks
//! must hold: exact in-order delivery or an error on both sides (no silent loss), no
//! forged or duplicated data, bounded memory, no timer loop, no panic. A failing case
//! shrinks to a minimal description, printed with its replay hints.
//!
//! Cases: `STT_PROP_CASES` (default 256, about ten seconds in CI); the generator's seed
//! is fixed (`STT_PROP_SEED` changes it) so CI is reproducible. By hand, for example:
//! `STT_PROP_CASES=5000 STT_PROP_SEED=7 cargo test --release -p stt-tests --test
//! sim_properties -- --nocapture` (totals are printed every 100 cases).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, RngSeed};
use stt_sim::scenarios::sim_config;
use stt_sim::{
    Action, ClientPlan, Expect, LinkConfig, Loss, NodeIx, NodeSpec, Scenario, Workload,
    run_scenario,
};

/// One direction of a link.
#[derive(Debug, Clone)]
struct LinkDesc {
    loss_pct: u8,
    bursty: bool,
    delay_ms: u16,
    jitter_ms: u16,
    reorder_pct: u8,
    dup_pct: u8,
    corrupt_pct: u8,
    bandwidth_kbps: Option<u32>,
}

#[derive(Debug, Clone)]
struct WorkDesc {
    streams: u32,
    bytes: u64,
    bidi: bool,
    datagrams: u32,
}

#[derive(Debug, Clone)]
struct ClientDesc {
    work: WorkDesc,
    sessions: u32,
    start_ms: u16,
}

#[derive(Debug, Clone)]
enum Fault {
    /// Cut client `client` off for `len_ms`.
    Partition { client: usize, len_ms: u16 },
    /// Client `client`'s address changes.
    Rebind { client: usize, old_reaches: bool },
    /// The server crashes and restarts after `down_ms`.
    Crash { down_ms: u16 },
    /// The server-to-client link of `client` changes to `link`.
    Degrade { client: usize, link: LinkDesc },
}

#[derive(Debug, Clone)]
struct Desc {
    up: LinkDesc,
    down: Option<LinkDesc>,
    server: WorkDesc,
    clients: Vec<ClientDesc>,
    faults: Vec<(u16, Fault)>,
    seed: u64,
}

fn link_desc() -> impl Strategy<Value = LinkDesc> {
    (
        0u8..=20,
        any::<bool>(),
        1u16..=60,
        0u16..=15,
        0u8..=15,
        0u8..=10,
        0u8..=8,
        prop::option::weighted(0.3, 500u32..=20_000),
    )
        .prop_map(
            |(loss_pct, bursty, delay_ms, jitter_ms, reorder_pct, dup_pct, corrupt_pct, bw)| {
                LinkDesc {
                    loss_pct,
                    bursty,
                    delay_ms,
                    jitter_ms,
                    reorder_pct,
                    dup_pct,
                    corrupt_pct,
                    bandwidth_kbps: bw,
                }
            },
        )
}

fn work_desc(max_streams: u32) -> impl Strategy<Value = WorkDesc> {
    (0..=max_streams, 16u64..=24 * 1024, any::<bool>(), 0u32..=8).prop_map(
        |(streams, bytes, bidi, datagrams)| WorkDesc {
            streams,
            bytes,
            bidi,
            datagrams,
        },
    )
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![
        (0usize..3, 50u16..=6000).prop_map(|(client, len_ms)| Fault::Partition { client, len_ms }),
        (0usize..3, any::<bool>()).prop_map(|(client, old_reaches)| Fault::Rebind {
            client,
            old_reaches
        }),
        (50u16..=2000).prop_map(|down_ms| Fault::Crash { down_ms }),
        (0usize..3, link_desc()).prop_map(|(client, link)| Fault::Degrade { client, link }),
    ]
}

fn desc() -> impl Strategy<Value = Desc> {
    (
        link_desc(),
        prop::option::of(link_desc()),
        work_desc(2),
        prop::collection::vec(
            (work_desc(3), 1u32..=2, 0u16..=500).prop_map(|(work, sessions, start_ms)| {
                ClientDesc {
                    work,
                    sessions,
                    start_ms,
                }
            }),
            1..=3,
        ),
        prop::collection::vec((0u16..=3000, fault()), 0..=3),
        any::<u64>(),
    )
        .prop_map(|(up, down, server, clients, faults, seed)| Desc {
            up,
            down,
            server,
            clients,
            faults,
            seed,
        })
}

fn link(d: &LinkDesc) -> LinkConfig {
    let p = f64::from(d.loss_pct) / 100.0;
    LinkConfig {
        loss: match (d.loss_pct, d.bursty) {
            (0, _) => Loss::None,
            (_, false) => Loss::Random(p),
            (_, true) => Loss::GilbertElliott {
                good_to_bad: p / 4.0,
                bad_to_good: 0.25,
                loss_good: 0.001,
                loss_bad: 0.7,
            },
        },
        delay: Duration::from_millis(d.delay_ms.into()),
        jitter: Duration::from_millis(d.jitter_ms.into()),
        reorder: f64::from(d.reorder_pct) / 100.0,
        duplicate: f64::from(d.dup_pct) / 100.0,
        corrupt: f64::from(d.corrupt_pct) / 100.0,
        bandwidth_bps: d.bandwidth_kbps.map(|k| u64::from(k) * 1000),
        queue_bytes: if d.bandwidth_kbps.is_some() {
            64_000
        } else {
            usize::MAX
        },
        ..LinkConfig::default()
    }
}

fn workload(w: &WorkDesc) -> Workload {
    let mut wl = Workload::streams(w.streams, w.bytes).with_datagrams(
        w.datagrams,
        200,
        Duration::from_millis(10),
    );
    if w.bidi {
        wl = wl.bidi();
    }
    wl
}

/// The scenario a description stands for. Clients reconnect after a failed session;
/// while any fault that can end sessions is scheduled, either outcome is accepted (but
/// never silent loss), otherwise every session must complete.
fn scenario(d: &Desc) -> Scenario {
    let mut s = Scenario::new("prop").link_default(link(&d.up));
    let srv = s.node(NodeSpec::new("server", sim_config()).serve(workload(&d.server)));
    let harsh = d
        .faults
        .iter()
        .any(|(_, f)| matches!(f, Fault::Partition { .. } | Fault::Crash { .. }));
    let mut clients = Vec::new();
    for (i, c) in d.clients.iter().enumerate() {
        let plan = ClientPlan::new(srv, workload(&c.work))
            .at(Duration::from_millis(c.start_ms.into()))
            .sessions(c.sessions)
            .retry()
            .expect(if harsh {
                Expect::Either
            } else {
                Expect::Complete
            });
        let ix = s.node(NodeSpec::new(&format!("client{i}"), sim_config()).client(plan));
        if let Some(down) = &d.down {
            s.link(srv, ix, link(down));
        }
        clients.push(ix);
    }
    let client = |i: usize| -> NodeIx { clients[i % clients.len()] };
    for (at, f) in &d.faults {
        let at = Duration::from_millis((*at).into());
        match f {
            Fault::Partition { client: c, len_ms } => {
                s.at(at, Action::Partition(srv, client(*c)));
                s.at(
                    at + Duration::from_millis((*len_ms).into()),
                    Action::Heal(srv, client(*c)),
                );
            }
            Fault::Rebind {
                client: c,
                old_reaches,
            } => s.at(
                at,
                Action::Rebind {
                    node: client(*c),
                    old_still_reaches: *old_reaches,
                },
            ),
            Fault::Crash { down_ms } => {
                s.at(at, Action::Crash(srv));
                s.at(
                    at + Duration::from_millis((*down_ms).into()),
                    Action::Restart(srv),
                );
            }
            Fault::Degrade { client: c, link: l } => s.at(
                at,
                Action::SetLink {
                    from: srv,
                    to: client(*c),
                    config: link(l),
                },
            ),
        }
    }
    s.deadline = Duration::from_secs(300);
    s.settle = Duration::from_secs(5);
    s
}

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Totals over the cases run (so a run shows it exercised something).
static RUNS: AtomicU64 = AtomicU64::new(0);
static BYTES_READ: AtomicU64 = AtomicU64::new(0);
static SESSIONS_OK: AtomicU64 = AtomicU64::new(0);
static SESSIONS_FAILED: AtomicU64 = AtomicU64::new(0);
static FAULTS: AtomicU64 = AtomicU64::new(0);

proptest! {
    #![proptest_config(ProptestConfig {
        cases: env("STT_PROP_CASES", 256) as u32,
        rng_seed: RngSeed::Fixed(env("STT_PROP_SEED", 0x5747_0001)),
        max_shrink_iters: 200,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/sim_properties.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_workloads_and_faults_keep_every_invariant(d in desc()) {
        let s = scenario(&d);
        let r = run_scenario(&s, d.seed, None);
        let n = RUNS.fetch_add(1, Ordering::Relaxed) + 1;
        BYTES_READ.fetch_add(r.stream_bytes_read, Ordering::Relaxed);
        SESSIONS_OK.fetch_add(r.sessions_succeeded.into(), Ordering::Relaxed);
        SESSIONS_FAILED.fetch_add(r.sessions_failed.into(), Ordering::Relaxed);
        FAULTS.fetch_add(d.faults.len() as u64, Ordering::Relaxed);
        if n.is_multiple_of(100) {
            println!(
                "{n} runs: {} stream bytes read and checked, {} sessions completed, {} failed, {} faults",
                BYTES_READ.load(Ordering::Relaxed),
                SESSIONS_OK.load(Ordering::Relaxed),
                SESSIONS_FAILED.load(Ordering::Relaxed),
                FAULTS.load(Ordering::Relaxed),
            );
        }
        prop_assert!(r.passed(), "{}\nscenario: {:#?}", r.failure_text(), d);
    }
}
