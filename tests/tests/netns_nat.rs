//! Across network namespaces (root only, `stt_tests::topology`): `stt send` in home A
//! behind its NAT, `stt listen` on the public side, whose kernel drops 1% of the
//! incoming UDP (nftables `numgen random`), and mid-transfer the NAT's mapping is
//! replaced (new masquerade port range, conntrack entries deleted), so the listener sees
//! the sender's packets arrive from a new port. The file must arrive byte-exact.
//! Skipped, with the reason printed, without root, nftables or conntrack (CI runs it as
//! root and `.ci/run` installs them).

use std::time::{Duration, Instant};

use stt_tests::netns::unavailable;
use stt_tests::procs::{Scratch, network_seed, random_file, sha3_file};
use stt_tests::topology::{Host, RELAY, Topology, build_or_skip};

#[test]
fn a_nat_rebinding_under_kernel_loss_mid_transfer() {
    const TEST: &str = "a_nat_rebinding_under_kernel_loss_mid_transfer";
    if let Some(why) = unavailable(&["conntrack"]) {
        eprintln!("SKIPPED {TEST}: {why}");
        return;
    }
    let Some(topo) = build_or_skip(TEST, Topology::builder()) else {
        return;
    };
    let d = Scratch::new("nat");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let file = d.join("payload.bin");
    let digest = random_file(&file, 40 << 20, 78);
    let port = 4433;
    topo.loss(Host::Public, port, 1).expect("loss rule");
    let bind = format!("{RELAY}:{port}");
    let net = net.to_str().unwrap();
    let mut listener = topo.stt(
        Host::Public,
        "listener",
        &[
            "listen",
            "--network",
            net,
            "--bind",
            &bind,
            "--out",
            out.to_str().unwrap(),
        ],
    );
    listener.wait_stderr("listening as", Duration::from_secs(30));
    let sender = topo.stt(
        Host::HomeA,
        "sender",
        &[
            "send",
            "--network",
            net,
            "--to",
            &bind,
            file.to_str().unwrap(),
        ],
    );
    let partial = out.join(".payload.bin.stt-partial");
    let start = Instant::now();
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 4 << 20 {
        assert!(start.elapsed() < Duration::from_secs(60), "no data arrived");
        std::thread::sleep(Duration::from_millis(2));
    }
    topo.rebind(Host::NatA, "20000-20999").expect("rebinding");
    let rebound_at = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    let sent = sender.wait(Duration::from_secs(120));
    let l = listener.wait(Duration::from_secs(30));
    assert!(sent.ok(), "{sent:?}");
    assert!(l.ok(), "{l:?}");
    assert!(rebound_at < 40 << 20, "the rebinding came after the data");
    assert_eq!(sha3_file(&out.join("payload.bin")), digest);
    let mappings = topo
        .command(Host::NatA, "conntrack")
        .args(["-L", "-p", "udp"])
        .output()
        .expect("conntrack -L");
    let text = String::from_utf8_lossy(&mappings.stdout);
    assert!(
        text.contains("dport=20"),
        "the session moved to the new mapping: {text}"
    );
}
