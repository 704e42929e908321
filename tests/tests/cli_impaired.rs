//! `stt send` → `stt listen` as separate processes through the seeded impairment
//! relay (tests/src/relay.rs): the rows that used to kill the session — a NAT
//! rebinding every 2,000 datagrams combined with 1% loss, or with 1% corruption — now
//! deliver 20 MiB byte-exact within a bound; and a mix of everything at once.

use std::time::Duration;

use stt_tests::procs::{Proc, Scratch, free_udp_port, network_seed, random_file, sha3_file};
use stt_tests::relay::{Impairment, Relay, RelayConfig};

fn through_relay(name: &str, config: RelayConfig) {
    let d = Scratch::new(name);
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let file = d.join("payload.bin");
    let digest = random_file(&file, 20 << 20, config.seed);
    let server: std::net::SocketAddr = format!("127.0.0.1:{}", free_udp_port()).parse().unwrap();
    let bind = server.to_string();
    let mut listener = Proc::stt(
        "listener",
        &[
            "listen",
            "--network",
            net.to_str().unwrap(),
            "--bind",
            &bind,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    listener.wait_stderr("listening as", Duration::from_secs(30));
    let relay = Relay::start(server, config).expect("relay");
    let to = relay.addr().to_string();
    let sent = Proc::stt(
        "sender",
        &[
            "send",
            "--network",
            net.to_str().unwrap(),
            "--to",
            &to,
            file.to_str().unwrap(),
        ],
    )
    .wait(Duration::from_secs(120));
    let l = listener.wait(Duration::from_secs(30));
    let rebinds = relay
        .stats
        .rebinds
        .load(std::sync::atomic::Ordering::Relaxed);
    let dropped = relay
        .stats
        .dropped
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        sent.ok(),
        "{name}: sender failed after {rebinds} rebinds, {dropped} drops: {sent:?}"
    );
    assert!(l.ok(), "{name}: listener failed: {l:?}");
    assert_eq!(sha3_file(&out.join("payload.bin")), digest, "{name}");
    if config.rebind_every > 0 {
        assert!(
            rebinds >= 3,
            "{name}: the relay rebound only {rebinds} times"
        );
    }
    println!(
        "{name}: {rebinds} rebinds, {dropped} drops, {}",
        sent.stdout.trim()
    );
}

#[test]
fn rebinding_every_2000_datagrams_with_one_percent_loss() {
    let loss = Impairment {
        loss: 0.01,
        ..Default::default()
    };
    through_relay(
        "rebind-loss",
        RelayConfig {
            seed: 1,
            up: loss,
            down: loss,
            rebind_every: 2000,
        },
    );
}

#[test]
fn rebinding_every_2000_datagrams_with_one_percent_corruption() {
    let corrupt = Impairment {
        corrupt: 0.01,
        ..Default::default()
    };
    through_relay(
        "rebind-corrupt",
        RelayConfig {
            seed: 2,
            up: corrupt,
            down: corrupt,
            rebind_every: 2000,
        },
    );
}

#[test]
fn everything_at_once_with_delay() {
    let mix = Impairment {
        loss: 0.01,
        duplicate: 0.02,
        reorder: 0.05,
        corrupt: 0.01,
        delay: Duration::from_millis(2),
        jitter: Duration::from_millis(1),
    };
    through_relay(
        "rebind-mix",
        RelayConfig {
            seed: 3,
            up: mix,
            down: mix,
            rebind_every: 2000,
        },
    );
}
