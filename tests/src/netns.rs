//! Two network namespaces joined by a veth pair: a real link through the kernel for
//! tests and benchmarks (root only). Created with unique names and a /24 of the
//! caller's choosing; removed on drop, also after a panic. See ../shared/TESTING.md.
//! Homes behind NATs and a public side are `crate::topology`'s; both share the
//! primitives here (`ip`, the prerequisites check).

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
