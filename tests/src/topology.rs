//! Two homes behind NATs and a public relay, in network namespaces (root only): a
//! "public" namespace holding the relay's addresses, and homes A and B, each behind
//! its own NAT namespace (nftables masquerade of a chosen [`Nat`] kind), joined by
//! veth pairs and routed. Owns building the namespaces, the control that cuts the
//! direct path between the NATs, entering a namespace (sockets or child processes),
//! and tearing everything down on drop (also after a panic); leftovers of killed runs
//! are removed at the first build in a process. It must not reach outside the
//! namespaces it made: they have no link to the host's own network.
//!
//! ```text
//! home A 10.11.0.2 ─ lan 10.11.0.1 [NAT A] wan 10.99.1.2 ─ 10.99.1.1 ┐
//!                                                                    [public] 10.99.0.1 (relay), 10.99.0.2
//! home B 10.12.0.2 ─ lan 10.12.0.1 [NAT B] wan 10.99.2.2 ─ 10.99.2.1 ┘
//! ```
//!
//! The addresses are the same in every topology: each one is its own set of network
//! stacks, so concurrent topologies cannot collide on them. Only the namespace names are
//! global; they carry the pid and a per-process counter. Interfaces are created inside
//! their namespaces, never in the host's, so their short fixed names cannot collide either.

use std::ffi::OsStr;
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::netns::{ip, unavailable};
use crate::procs::{Proc, stt_bin};

/// The relay's address in the public namespace.
pub const RELAY: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
/// A second public address (for telling mappings per destination apart).
pub const PUBLIC_2: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 2);

/// Every namespace name this module makes starts with this, then `<pid>-`.
const PREFIX: &str = "stt-t";

/// One namespace of the topology.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    /// The public side: the relay's addresses, and the router between the two NATs.
    Public,
    /// Home A's NAT router.
    NatA,
    /// Home B's NAT router.
    NatB,
    /// Home A, behind NAT A.
    HomeA,
    /// Home B, behind NAT B.
    HomeB,
}

impl Host {
    const ALL: [Host; 5] = [
        Host::Public,
        Host::NatA,
        Host::NatB,
        Host::HomeA,
        Host::HomeB,
    ];

    fn suffix(self) -> &'static str {
        match self {
            Host::Public => "p",
            Host::NatA => "na",
            Host::NatB => "nb",
            Host::HomeA => "ha",
            Host::HomeB => "hb",
        }
    }

    /// Its address: the relay's for `Public`, the public (wan) one for a NAT, the
    /// private one for a home.
    pub fn addr(self) -> Ipv4Addr {
        match self {
            Host::Public => RELAY,
            Host::NatA => Ipv4Addr::new(10, 99, 1, 2),
            Host::NatB => Ipv4Addr::new(10, 99, 2, 2),
            Host::HomeA => Ipv4Addr::new(10, 11, 0, 2),
            Host::HomeB => Ipv4Addr::new(10, 12, 0, 2),
        }
    }
}

/// How a home's NAT maps and filters. Every kind drops unsolicited packets arriving
/// on its public side before conntrack records them, as home routers do: otherwise
/// a peer's early punching packet leaves a conntrack entry that makes Linux move the
/// home's own outgoing mapping to another port (measured: B's port 41000 left as
/// 42135), and punching fails even between two endpoint-independent NATs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// `masquerade`: keeps the home's source port when it is free, and one mapping
    /// serves every destination (endpoint-independent mapping).
    EndpointIndependent,
    /// `masquerade random`: the source port is a keyed hash of the source, the
    /// destination address and the destination port, so each destination sees
    /// another port (symmetric).
    Symmetric,
    /// `masquerade`, but the home may send nothing except TCP to the relay's TCP port
    /// ([`TopologyBuilder::relay_tcp_port`]).
    UdpBlocked,
}

/// Why a topology was not built.
#[derive(Debug)]
pub enum TopoError {
    /// This machine cannot run it (not root, `ip` or `nft` missing, no namespaces):
    /// a test skips and says why.
    Unavailable(String),
    /// Building failed although it could run: a test fails.
    Failed(String),
}

/// Chooses the NAT kinds and builds a [`Topology`].
#[derive(Debug, Clone)]
pub struct TopologyBuilder {
    nat_a: Nat,
    nat_b: Nat,
    relay_tcp_port: u16,
}

impl Default for TopologyBuilder {
    fn default() -> Self {
        Self {
            nat_a: Nat::EndpointIndependent,
            nat_b: Nat::EndpointIndependent,
            relay_tcp_port: 443,
        }
    }
}

impl TopologyBuilder {
    /// Home A's NAT kind (default endpoint-independent).
    pub fn nat_a(mut self, nat: Nat) -> Self {
        self.nat_a = nat;
        self
    }

    /// Home B's NAT kind (default endpoint-independent).
    pub fn nat_b(mut self, nat: Nat) -> Self {
        self.nat_b = nat;
        self
    }

    /// The one TCP port on [`RELAY`] a [`Nat::UdpBlocked`] home may reach (default 443).
    pub fn relay_tcp_port(mut self, port: u16) -> Self {
        self.relay_tcp_port = port;
        self
    }

    /// Builds it (about a quarter of a second), after removing leftovers of killed runs.
    pub fn build(self) -> Result<Topology, TopoError> {
        if let Some(why) = unavailable(&["ip", "nft"]) {
            return Err(TopoError::Unavailable(why));
        }
        static CLEAN: Once = Once::new();
        CLEAN.call_once(remove_leftovers);
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = format!("{PREFIX}{}-{n}", std::process::id());
        let mut topo = Topology {
            names: Vec::new(),
            base,
            relay_tcp_port: self.relay_tcp_port,
        };
        // The first namespace tells whether this machine has them at all.
        let first = topo.ns(Host::Public);
        ip(&["netns", "add", &first])
            .map_err(|e| TopoError::Unavailable(format!("no network namespaces: {e}")))?;
        topo.names.push(first);
        topo.wire(&self).map_err(TopoError::Failed)?;
        Ok(topo)
    }
}

/// The built namespaces; removed on drop.
#[derive(Debug)]
pub struct Topology {
    /// The namespaces made so far (all five once built).
    names: Vec<String>,
    base: String,
    relay_tcp_port: u16,
}

/// Builds a topology for `test`, or prints why it is skipped and returns `None`;
/// panics when building fails on a machine that can run it.
pub fn build_or_skip(test: &str, builder: TopologyBuilder) -> Option<Topology> {
    match builder.build() {
        Ok(t) => Some(t),
        Err(TopoError::Unavailable(why)) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
        Err(TopoError::Failed(why)) => panic!("{test}: building the topology failed: {why}"),
    }
}

impl Topology {
    /// A builder; both NATs endpoint-independent unless chosen otherwise.
    pub fn builder() -> TopologyBuilder {
        TopologyBuilder::default()
    }

    /// The namespace name of `host`.
    pub fn ns(&self, host: Host) -> String {
        format!("{}-{}", self.base, host.suffix())
    }

    /// The names of every namespace it made.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The TCP port a [`Nat::UdpBlocked`] home may reach on [`RELAY`].
    pub fn relay_tcp_port(&self) -> u16 {
        self.relay_tcp_port
    }

    fn wire(&mut self, b: &TopologyBuilder) -> Result<(), String> {
        for host in &Host::ALL[1..] {
            let name = self.ns(*host);
            ip(&["netns", "add", &name])?;
            self.names.push(name);
        }
        let ns = |h| self.ns(h);
        // (namespace, device, address) for each end of each veth pair.
        let links = [
            (
                (ns(Host::NatA), "wan", "10.99.1.2/24"),
                (ns(Host::Public), "to-a", "10.99.1.1/24"),
            ),
            (
                (ns(Host::NatB), "wan", "10.99.2.2/24"),
                (ns(Host::Public), "to-b", "10.99.2.1/24"),
            ),
            (
                (ns(Host::HomeA), "eth0", "10.11.0.2/24"),
                (ns(Host::NatA), "lan", "10.11.0.1/24"),
            ),
            (
                (ns(Host::HomeB), "eth0", "10.12.0.2/24"),
                (ns(Host::NatB), "lan", "10.12.0.1/24"),
            ),
        ];
        for ((ns1, dev1, _), (ns2, dev2, _)) in &links {
            ip(&[
                "link", "add", dev1, "netns", ns1, "type", "veth", "peer", "name", dev2, "netns",
                ns2,
            ])?;
        }
        for (n, dev, addr) in links.iter().flat_map(|(x, y)| [x, y]) {
            ip(&["-n", n, "addr", "add", addr, "dev", dev])?;
            ip(&["-n", n, "link", "set", dev, "up"])?;
        }
        for name in &self.names {
            ip(&["-n", name, "link", "set", "lo", "up"])?;
        }
        for addr in [RELAY, PUBLIC_2] {
            ip(&[
                "-n",
                &ns(Host::Public),
                "addr",
                "add",
                &format!("{addr}/32"),
                "dev",
                "lo",
            ])?;
        }
        for (host, via) in [
            (Host::NatA, "10.99.1.1"),
            (Host::NatB, "10.99.2.1"),
            (Host::HomeA, "10.11.0.1"),
            (Host::HomeB, "10.12.0.1"),
        ] {
            ip(&["-n", &ns(host), "route", "add", "default", "via", via])?;
        }
        for host in [Host::Public, Host::NatA, Host::NatB] {
            self.enter(host, || {
                std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
                    .map_err(|e| format!("ip_forward in {}: {e}", ns(host)))
            })?;
        }
        // The public side forwards between the NATs (the direct path); its forward chain
        // holds only the rules of `cut_direct`.
        self.nft(
            Host::Public,
            "table inet topo {\n chain forward {\n  type filter hook forward priority 0; policy accept;\n }\n}\n",
        )?;
        self.nft(Host::NatA, &self.nat_rules(b.nat_a))?;
        self.nft(Host::NatB, &self.nat_rules(b.nat_b))
    }

    /// The nftables ruleset of a NAT of kind `nat` (see [`Nat`]).
    pub fn nat_rules(&self, nat: Nat) -> String {
        let masquerade = match nat {
            Nat::Symmetric => "masquerade random",
            Nat::EndpointIndependent | Nat::UdpBlocked => "masquerade",
        };
        let outbound = match nat {
            Nat::UdpBlocked => format!(
                "  iifname \"lan\" ip daddr {RELAY} tcp dport {} accept\n  iifname \"lan\" drop\n",
                self.relay_tcp_port
            ),
            _ => String::new(),
        };
        format!(
            "table inet topo {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  \
             iifname \"wan\" ct state new drop\n }}\n chain forward {{\n  \
             type filter hook forward priority 0; policy accept;\n  \
             iifname \"wan\" ct state established,related accept\n  iifname \"wan\" drop\n{outbound} }}\n}}\n\
             table ip nat {{\n chain post {{\n  type nat hook postrouting priority 100; policy accept;\n  \
             oifname \"wan\" {masquerade}\n }}\n}}\n"
        )
    }

    /// Loads an nftables script (`nft -f -`) inside `host`'s namespace.
    pub fn nft(&self, host: Host, script: &str) -> Result<(), String> {
        let mut child = self
            .command(host, "nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("nft: {e}"))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(script.as_bytes())
                .map_err(|e| format!("nft stdin: {e}"))?;
        }
        let out = child.wait_with_output().map_err(|e| format!("nft: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "nft in {}: {}\n{script}",
                self.ns(host),
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }

    /// Drops every packet between the two NATs' public addresses (the direct path
    /// between the homes) on the public side; packets to and from the relay pass.
    pub fn cut_direct(&self) -> Result<(), String> {
        let (a, b) = (Host::NatA.addr(), Host::NatB.addr());
        self.nft(
            Host::Public,
            &format!(
                "add rule inet topo forward ip saddr {a} ip daddr {b} drop\n\
                 add rule inet topo forward ip saddr {b} ip daddr {a} drop\n"
            ),
        )
    }

    /// Removes what [`cut_direct`](Self::cut_direct) added.
    pub fn restore_direct(&self) -> Result<(), String> {
        self.nft(Host::Public, "flush chain inet topo forward\n")
    }

    /// Rebinds `nat` ([`Host::NatA`] or [`Host::NatB`]): its UDP mappings now take
    /// source ports in `range` (e.g. "20000-20999") and its current ones are forgotten
    /// (`conntrack -D`), so the home's next datagram leaves from a new port. Needs
    /// `conntrack`.
    pub fn rebind(&self, nat: Host, range: &str) -> Result<(), String> {
        self.nft(
            nat,
            &format!(
                "flush chain ip nat post\n\
                 add rule ip nat post oifname \"wan\" meta l4proto udp masquerade to :{range}\n\
                 add rule ip nat post oifname \"wan\" masquerade\n"
            ),
        )?;
        // With no mapping yet, conntrack says so and fails: nothing to forget.
        let _ = self
            .command(nat, "conntrack")
            .args(["-D", "-p", "udp"])
            .output();
        Ok(())
    }

    /// Makes `host`'s kernel drop `percent`% of the UDP arriving for it on `port`
    /// (nftables `numgen random`).
    pub fn loss(&self, host: Host, port: u16, percent: u8) -> Result<(), String> {
        self.nft(
            host,
            &format!(
                "table inet loss {{\n chain in {{\n  type filter hook input priority 0; policy accept;\n  \
                 udp dport {port} numgen random mod 100 < {percent} drop\n }}\n}}\n"
            ),
        )
    }

    /// A command that runs `program` inside `host`'s namespace (`ip netns exec`, which
    /// execs it: the child's pid is the program's).
    pub fn command(&self, host: Host, program: impl AsRef<OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(host)]).arg(program);
        c
    }

    /// Spawns `stt ARGS…` inside `host`'s namespace (see [`Proc::spawn`]).
    pub fn stt(&self, host: Host, name: &str, args: &[&str]) -> Proc {
        let mut cmd = self.command(host, stt_bin());
        cmd.args(args);
        Proc::spawn(name, cmd, Stdio::null())
    }

    /// Runs `f` on a thread that has entered `host`'s network namespace: sockets it
    /// makes stay in that namespace wherever they are used later.
    pub fn enter<T: Send>(&self, host: Host, f: impl FnOnce() -> T + Send) -> T {
        let path = format!("/var/run/netns/{}", self.ns(host));
        std::thread::scope(|s| {
            s.spawn(|| {
                let file =
                    std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
                // SAFETY: setns(2) on a descriptor we hold open; it changes only this
                // thread's network namespace, and the thread ends with `f`.
                let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }

    /// A UDP socket bound to `bind` inside `host`'s namespace.
    pub fn udp(&self, host: Host, bind: SocketAddr) -> std::io::Result<UdpSocket> {
        self.enter(host, || UdpSocket::bind(bind))
    }

    /// A TCP listener on `bind` inside `host`'s namespace.
    pub fn tcp_listen(&self, host: Host, bind: SocketAddr) -> std::io::Result<TcpListener> {
        self.enter(host, || TcpListener::bind(bind))
    }

    /// A TCP connection from `host`'s namespace to `to`, or the error past `within`.
    pub fn tcp_connect(
        &self,
        host: Host,
        to: SocketAddr,
        within: Duration,
    ) -> std::io::Result<TcpStream> {
        self.enter(host, || TcpStream::connect_timeout(&to, within))
    }
}

/// Kills the processes left in namespace `name` (by pid; never this process) and
/// deletes it.
fn remove(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
            .filter(|p| *p as u32 != std::process::id())
        {
            // SAFETY: kill(2) on a pid read from the namespace; touches no memory.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    let _ = ip(&["netns", "del", name]);
}

/// Removes the namespaces of topologies whose process is gone (a run killed before
/// its drops ran). Those of live processes, parallel runs included, are left alone.
pub fn remove_leftovers() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            remove(name);
        }
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Deleting a namespace removes its ends of the veth pairs, and with them the pairs.
        for name in &self.names {
            remove(name);
        }
    }
}
