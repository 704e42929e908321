//! Across network namespaces (root only): `stt send` in a client namespace behind a
//! NAT router, `stt listen` in a server namespace whose kernel drops 1% of the
//! incoming UDP (nftables `numgen random`), and mid-transfer the router's mapping is
//! replaced (new masquerade port range, conntrack entries deleted), so the server sees
//! the client's packets arrive from a new port. The file must arrive byte-exact.
//! Skipped, with the reason printed, without root or nftables (CI runs it as root and
//! `.ci/run` installs nftables and conntrack).

use std::process::Stdio;
use std::time::{Duration, Instant};

use stt_tests::netns::{NatTopology, NetnsPair};
use stt_tests::procs::{Proc, Scratch, network_seed, random_file, sha3_file, stt_bin};

#[test]
fn a_nat_rebinding_under_kernel_loss_mid_transfer() {
    let topo = match NatTopology::new("sttn", 78) {
        Ok(t) => t,
        Err(why) => {
            eprintln!("SKIPPED a_nat_rebinding_under_kernel_loss_mid_transfer: {why}");
            return;
        }
    };
    let d = Scratch::new("nat");
    let net = network_seed(&d.join("net.seed"));
    let out = d.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let file = d.join("payload.bin");
    let digest = random_file(&file, 40 << 20, 78);
    let port = 4433;
    topo.drop_at_server(port, 1).expect("loss rule");
    let bind = format!("{}:{port}", topo.server_addr);
    let mut cmd = NetnsPair::command(&topo.server, stt_bin());
    cmd.args([
        "listen",
        "--network",
        net.to_str().unwrap(),
        "--bind",
        &bind,
        "--out",
    ])
    .arg(&out);
    let mut listener = Proc::spawn("listener", cmd, Stdio::null());
    listener.wait_stderr("listening as", Duration::from_secs(30));
    let mut cmd = NetnsPair::command(&topo.client, stt_bin());
    cmd.args(["send", "--network", net.to_str().unwrap(), "--to", &bind])
        .arg(&file);
    let sender = Proc::spawn("sender", cmd, Stdio::null());
    let partial = out.join(".payload.bin.stt-partial");
    let start = Instant::now();
    while std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0) < 4 << 20 {
        assert!(start.elapsed() < Duration::from_secs(60), "no data arrived");
        std::thread::sleep(Duration::from_millis(2));
    }
    topo.masquerade("20000-20999").expect("rebinding");
    let rebound_at = std::fs::metadata(&partial).map(|m| m.len()).unwrap_or(0);
    let sent = sender.wait(Duration::from_secs(120));
    let l = listener.wait(Duration::from_secs(30));
    assert!(sent.ok(), "{sent:?}");
    assert!(l.ok(), "{l:?}");
    assert!(rebound_at < 40 << 20, "the rebinding came after the data");
    assert_eq!(sha3_file(&out.join("payload.bin")), digest);
    let mappings = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &topo.router,
            "conntrack",
            "-L",
            "-p",
            "udp",
        ])
        .output()
        .expect("conntrack -L");
    let text = String::from_utf8_lossy(&mappings.stdout);
    assert!(
        text.contains("dport=20"),
        "the session moved to the new mapping: {text}"
    );
}
