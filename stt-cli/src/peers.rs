//! Knowing who you talk to: `--peer NODEID` pins, the known-peers file (trust on first
//! use, like SSH's `known_hosts`: one `TARGET NODEID` line per address contacted), the
//! listener's `--allow` file, and NodeIds written in groups people can compare aloud.
//!
//! Only files and text live here; the check itself is the library's pinned connect.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use stt_tokio::NodeId;

use crate::error::CliError;

/// A NodeId as 16 groups of 4 hex digits, for reading aloud and comparing by eye.
pub fn grouped(id: &NodeId) -> String {
    let hex = id.to_string();
    let groups: Vec<&str> = (0..hex.len())
        .step_by(4)
        .filter_map(|i| hex.get(i..i + 4))
        .collect();
    groups.join(" ")
}

/// Parses a NodeId given by a person: 64 hex digits, in either case, with any spaces,
/// dashes or colons between groups.
pub fn parse_node_id(text: &str) -> Result<NodeId, String> {
    let clean: String = text
        .chars()
        .filter(|c| !(c.is_whitespace() || *c == '-' || *c == ':'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    clean
        .parse::<NodeId>()
        .map_err(|e| format!("{text:?} is not a NodeId ({e})"))
}

/// The tool's own directory: `$XDG_CONFIG_HOME/stt`, else `~/.config/stt`.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("stt"));
    }
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(home).join(".config/stt"))
}

/// The known-peers file a command uses: `--known-peers`/`$STT_KNOWN_PEERS`, else
/// `known_peers` in [`config_dir`].
pub fn default_known_peers() -> Option<PathBuf> {
    Some(config_dir()?.join("known_peers"))
}

/// What the known-peers file says about one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Known {
    /// The recorded id.
    pub id: NodeId,
    /// Its line number (from 1).
    pub line: usize,
}

/// The known-peers file: `TARGET NODEID` lines; `#` starts a comment.
#[derive(Debug)]
pub struct KnownPeers {
    path: PathBuf,
}

impl KnownPeers {
    /// The file at `path` (it need not exist yet).
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read(&self) -> Result<String, CliError> {
        match std::fs::read_to_string(&self.path) {
            Ok(s) => Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(CliError::read(&self.path, e)),
        }
    }

    /// The id recorded for `target`, if any. A malformed line is an error naming it.
    pub fn lookup(&self, target: &str) -> Result<Option<Known>, CliError> {
        for (i, line) in self.read()?.lines().enumerate() {
            let Some((t, id)) = parse_line(line) else {
                continue;
            };
            if t == target {
                let id = parse_node_id(id).map_err(|e| {
                    CliError::Other(format!("{}:{}: {e}", self.path.display(), i + 1))
                })?;
                return Ok(Some(Known { id, line: i + 1 }));
            }
        }
        Ok(None)
    }

    /// Records `id` for `target`, replacing a line for the same target.
    pub fn record(&self, target: &str, id: &NodeId) -> Result<(), CliError> {
        let old = self.read()?;
        let mut out = String::new();
        let mut replaced = false;
        for line in old.lines() {
            match parse_line(line) {
                Some((t, _)) if t == target => {
                    if !replaced {
                        out.push_str(&format!("{target} {id}\n"));
                        replaced = true;
                    }
                }
                _ => {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        if !replaced {
            out.push_str(&format!("{target} {id}\n"));
        }
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| CliError::write(dir, e))?;
        }
        // Write a temporary file and rename it, so a crash never leaves half a file.
        let tmp = self
            .path
            .with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, out).map_err(|e| CliError::write(&tmp, e))?;
        std::fs::rename(&tmp, &self.path).map_err(|e| CliError::write(&self.path, e))
    }
}

/// `TARGET NODEID` with comments and blank lines skipped.
fn parse_line(line: &str) -> Option<(&str, &str)> {
    let line = line.split('#').next()?.trim();
    let mut parts = line.splitn(2, char::is_whitespace);
    let target = parts.next().filter(|t| !t.is_empty())?;
    let id = parts.next()?.trim();
    Some((target, id))
}

/// Reads an allow-list file: one NodeId per line (grouped or not), `#` comments.
pub fn read_allow_file(path: &Path) -> Result<BTreeSet<NodeId>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::read(path, e))?;
    let mut ids = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let id = parse_node_id(line)
            .map_err(|e| CliError::Other(format!("{}:{}: {e}", path.display(), i + 1)))?;
        ids.insert(id);
    }
    if ids.is_empty() {
        return Err(CliError::Other(format!(
            "{}: no NodeIds in the allow file (nobody could connect)",
            path.display()
        )));
    }
    Ok(ids)
}

/// The peer policy of `--allow FILE`: only the NodeIds listed there may hold a
/// session; each refusal is logged with the id, after the handshake proved it.
pub fn allow_policy(
    file: &Path,
) -> Result<std::sync::Arc<dyn stt_proto::config::PeerPolicy>, CliError> {
    let ids = read_allow_file(file)?;
    let shown = file.display().to_string();
    Ok(std::sync::Arc::new(move |id: &NodeId| {
        let ok = ids.contains(id);
        if !ok {
            tracing::warn!("refused peer {id}: not in the --allow file {shown}");
        }
        ok
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_form_round_trips() {
        let id = NodeId([0xab; 32]);
        let g = grouped(&id);
        assert_eq!(g.split(' ').count(), 16);
        assert!(g.starts_with("abab abab "));
        assert_eq!(parse_node_id(&g), Ok(id));
        assert_eq!(parse_node_id(&g.to_uppercase()), Ok(id));
        assert!(parse_node_id("abab").is_err());
    }

    #[test]
    fn known_peers_record_replace_and_lookup() {
        let dir = std::env::temp_dir().join(format!("stt-known-{}", std::process::id()));
        let kp = KnownPeers::new(dir.join("sub/known_peers"));
        assert_eq!(kp.lookup("h:1").ok().flatten(), None);
        let (a, b) = (NodeId([1; 32]), NodeId([2; 32]));
        assert!(kp.record("h:1", &a).is_ok());
        assert!(kp.record("h:2", &b).is_ok());
        assert!(kp.record("h:1", &b).is_ok());
        let got = kp.lookup("h:1").ok().flatten();
        assert_eq!(got, Some(Known { id: b, line: 1 }));
        let got = kp.lookup("h:2").ok().flatten();
        assert_eq!(got.map(|k| k.id), Some(b));
        let _ = std::fs::remove_dir_all(dir);
    }
}
