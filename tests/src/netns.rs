//! Two network namespaces joined by a veth pair: a real link through the kernel for
//! tests and benchmarks (root only). Created with unique names and a /24 of the
//! caller's choosing; removed on drop, also after a panic. See ../shared/TESTING.md.

use std::process::Command;

/// A pair of namespaces `<tag>a` and `<tag>b`, addresses `10.<net>.1` and `10.<net>.2`.
pub struct NetnsPair {
    /// Namespace of side A.
    pub a: String,
    /// Namespace of side B.
    pub b: String,
    /// Side A's address.
    pub addr_a: String,
    /// Side B's address.
    pub addr_b: String,
}

/// Runs `ip ARGS…`, failing with its stderr.
pub fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Why namespace tests cannot run here, if they cannot: not root, or one of `tools`
/// (`ip`, `nft`, `conntrack`…) missing. `None` when they can.
pub fn unavailable(tools: &[&str]) -> Option<String> {
    // SAFETY: geteuid has no preconditions and touches no memory.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root: network namespaces need CAP_NET_ADMIN".into());
    }
    for tool in tools {
        let package = match *tool {
            "ip" => "iproute2",
            "nft" => "nftables",
            other => other,
        };
        let runs = Command::new(tool)
            .arg(if *tool == "ip" { "-V" } else { "--version" })
            .output()
            .is_ok_and(|o| o.status.success());
        if !runs {
            return Some(format!(
                "{tool} (Debian package {package}) is not installed"
            ));
        }
    }
    None
}

impl NetnsPair {
    /// Creates the pair, or says why it cannot (not root, no `ip`, no netns support).
    /// `net` picks the subnet `10.<net>.0/24` (e.g. "77.0"); `tag` keeps names unique.
    pub fn new(tag: &str, net: &str) -> Result<Self, String> {
        if let Some(why) = unavailable(&["ip"]) {
            return Err(why);
        }
        let pid = std::process::id();
        let a = format!("{tag}{pid}a");
        let b = format!("{tag}{pid}b");
        let pair = Self {
            addr_a: format!("10.{net}.1"),
            addr_b: format!("10.{net}.2"),
            a,
            b,
        };
        // Names of veth devices are limited to 15 bytes.
        let va = format!("v{pid}a");
        let vb = format!("v{pid}b");
        ip(&["netns", "add", &pair.a])?;
        ip(&["netns", "add", &pair.b])?;
        ip(&["link", "add", &va, "type", "veth", "peer", "name", &vb])?;
        ip(&["link", "set", &va, "netns", &pair.a])?;
        ip(&["link", "set", &vb, "netns", &pair.b])?;
        ip(&[
            "-n",
            &pair.a,
            "addr",
            "add",
            &format!("{}/24", pair.addr_a),
            "dev",
            &va,
        ])?;
        ip(&[
            "-n",
            &pair.b,
            "addr",
            "add",
            &format!("{}/24", pair.addr_b),
            "dev",
            &vb,
        ])?;
        for (ns, dev) in [(&pair.a, &va), (&pair.b, &vb)] {
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(pair)
    }

    /// A command that runs `program` inside namespace `ns`.
    pub fn command(ns: &str, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }
}

impl Drop for NetnsPair {
    fn drop(&mut self) {
        // Deleting a namespace removes its end of the veth pair, and with it the pair.
        let _ = ip(&["netns", "del", &self.a]);
        let _ = ip(&["netns", "del", &self.b]);
    }
}

/// Runs `cmd ARGS…` inside namespace `ns`, failing with its stderr.
pub fn exec(ns: &str, cmd: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, cmd])
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {} in {ns}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A client behind a NAT router and a server on the router's public side:
/// `client` (10.<net>.1.1) — `router` (10.<net>.1.2 | 10.<net>.2.1, masquerading
/// out of its public side) — `server` (10.<net>.2.2). Needs root, `ip` and `nft`.
pub struct NatTopology {
    /// The client's namespace.
    pub client: String,
    /// The router's namespace.
    pub router: String,
    /// The server's namespace.
    pub server: String,
    /// The server's address.
    pub server_addr: String,
    /// The router's public-side device (for NAT rules).
    pub public_dev: String,
}

impl NatTopology {
    /// Builds it, or says why it cannot (not root, no `nft`, no namespaces).
    pub fn new(tag: &str, net: u8) -> Result<Self, String> {
        if let Some(why) = unavailable(&["ip", "nft", "conntrack"]) {
            return Err(why);
        }
        let pid = std::process::id() % 100_000;
        let t = Self {
            client: format!("{tag}{pid}c"),
            router: format!("{tag}{pid}r"),
            server: format!("{tag}{pid}s"),
            server_addr: format!("10.{net}.2.2"),
            public_dev: format!("n{pid}rs"),
        };
        for ns in [&t.client, &t.router, &t.server] {
            ip(&["netns", "add", ns])?;
        }
        let (cr, rc, rs, sr) = (
            format!("n{pid}cr"),
            format!("n{pid}rc"),
            t.public_dev.clone(),
            format!("n{pid}sr"),
        );
        ip(&["link", "add", &cr, "type", "veth", "peer", "name", &rc])?;
        ip(&["link", "add", &rs, "type", "veth", "peer", "name", &sr])?;
        for (dev, ns, addr) in [
            (&cr, &t.client, format!("10.{net}.1.1/24")),
            (&rc, &t.router, format!("10.{net}.1.2/24")),
            (&rs, &t.router, format!("10.{net}.2.1/24")),
            (&sr, &t.server, format!("10.{net}.2.2/24")),
        ] {
            ip(&["link", "set", dev, "netns", ns])?;
            ip(&["-n", ns, "addr", "add", &addr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        ip(&[
            "-n",
            &t.client,
            "route",
            "add",
            "default",
            "via",
            &format!("10.{net}.1.2"),
        ])?;
        exec(&t.router, "sysctl", &["-qw", "net.ipv4.ip_forward=1"])?;
        exec(&t.router, "nft", &["add", "table", "ip", "nat"])?;
        exec(
            &t.router,
            "nft",
            &["add chain ip nat post { type nat hook postrouting priority 100 ; }"],
        )?;
        t.masquerade("10000-10999")?;
        Ok(t)
    }

    /// Replaces the NAT rule so mappings use source ports in `range`, and forgets the
    /// current mappings: the client's next packet leaves from a new port.
    pub fn masquerade(&self, range: &str) -> Result<(), String> {
        exec(
            &self.router,
            "nft",
            &["flush", "chain", "ip", "nat", "post"],
        )?;
        exec(
            &self.router,
            "nft",
            &[&format!(
                "add rule ip nat post oifname \"{}\" meta l4proto udp masquerade to :{range}",
                self.public_dev
            )],
        )?;
        // No mappings yet on the first call: conntrack then says so and fails.
        let _ = exec(&self.router, "conntrack", &["-D", "-p", "udp"]);
        Ok(())
    }

    /// Makes the server's kernel drop `percent`% of incoming UDP to `port`.
    pub fn drop_at_server(&self, port: u16, percent: u8) -> Result<(), String> {
        exec(&self.server, "nft", &["add", "table", "inet", "loss"])?;
        exec(
            &self.server,
            "nft",
            &["add chain inet loss in { type filter hook input priority 0 ; }"],
        )?;
        exec(
            &self.server,
            "nft",
            &[&format!(
                "add rule inet loss in udp dport {port} numgen random mod 100 < {percent} drop"
            )],
        )
    }
}

impl Drop for NatTopology {
    fn drop(&mut self) {
        for ns in [&self.client, &self.router, &self.server] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}
