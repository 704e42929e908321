//! What a transfer covers on each side. The sender walks a file or a directory into
//! an [`Offer`] (regular files and directories; symlinks and special files skipped
//! with a warning). The receiver turns offered names into paths it will write,
//! refusing anything that could leave the output directory.

use std::path::{Component, Path, PathBuf};

use super::wire::{Entry, Kind, Offer, VERSION};
use crate::error::CliError;

/// Longest path (bytes) and component an offer may name.
const MAX_PATH: usize = 4096;
const MAX_COMPONENT: usize = 255;
/// Most entries one offer may list.
pub const MAX_ENTRIES: usize = 1_000_000;

/// An offer and, for each entry, the local file it comes from.
pub struct Local {
    /// What is sent.
    pub offer: Offer,
    /// Local path of each entry, same order.
    pub paths: Vec<PathBuf>,
}

/// Walks `path` into an offer.
pub fn walk(path: &Path) -> Result<Local, CliError> {
    let meta = std::fs::metadata(path).map_err(|e| CliError::read(path, e))?;
    let name = top_name(path)?;
    if meta.is_file() {
        return Ok(Local {
            offer: Offer {
                version: VERSION,
                name: name.clone(),
                kind: Kind::File,
                entries: vec![Entry::File {
                    path: name,
                    size: meta.len(),
                }],
            },
            paths: vec![path.to_path_buf()],
        });
    }
    if !meta.is_dir() {
        return Err(CliError::Other(format!(
            "cannot send {}: not a regular file or directory",
            path.display()
        )));
    }
    let mut local = Local {
        offer: Offer {
            version: VERSION,
            name,
            kind: Kind::Dir,
            entries: Vec::new(),
        },
        paths: Vec::new(),
    };
    walk_dir(path, "", &mut local)?;
    Ok(local)
}

fn top_name(path: &Path) -> Result<String, CliError> {
    let named = match path.file_name() {
        Some(n) => PathBuf::from(n),
        // `.`, `..`, `/`: name it after what it resolves to.
        None => std::fs::canonicalize(path)
            .map_err(|e| CliError::read(path, e))?
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("root")),
    };
    named.to_str().map(str::to_string).ok_or_else(|| {
        CliError::Other(format!(
            "cannot send {}: its name is not valid UTF-8",
            path.display()
        ))
    })
}

fn walk_dir(dir: &Path, rel: &str, local: &mut Local) -> Result<(), CliError> {
    let mut children: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| CliError::read(dir, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| CliError::read(dir, e))?;
    children.sort_by_key(|c| c.file_name());
    for child in children {
        let path = child.path();
        let Some(name) = child.file_name().to_str().map(str::to_string) else {
            return Err(CliError::Other(format!(
                "cannot send {}: its name is not valid UTF-8",
                path.display()
            )));
        };
        let rel = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = child.file_type().map_err(|e| CliError::read(&path, e))?;
        if kind.is_symlink() {
            eprintln!("stt: warning: skipping symlink {}", path.display());
            continue;
        }
        if kind.is_dir() {
            local.offer.entries.push(Entry::Dir { path: rel.clone() });
            local.paths.push(path.clone());
            walk_dir(&path, &rel, local)?;
        } else if kind.is_file() {
            let size = child
                .metadata()
                .map_err(|e| CliError::read(&path, e))?
                .len();
            local.offer.entries.push(Entry::File { path: rel, size });
            local.paths.push(path);
        } else {
            eprintln!(
                "stt: warning: skipping {} (not a regular file or directory)",
                path.display()
            );
        }
        if local.offer.entries.len() > MAX_ENTRIES {
            return Err(CliError::Other(format!(
                "cannot send {}: more than {MAX_ENTRIES} entries",
                dir.display()
            )));
        }
    }
    Ok(())
}

/// The top-level name an offer asks for, reduced to one safe component (as before:
/// anything else becomes its last component, or `received.bin`).
pub fn safe_name(raw: &str) -> String {
    let base = Path::new(raw)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    if base.is_empty() || base == "." || base == ".." || base.len() > MAX_COMPONENT - 20 {
        "received.bin".into()
    } else {
        base.to_string()
    }
}

/// An offered relative path as a path below the transfer's root, or why it is
/// refused: absolute, `..`, `.`, empty components, NUL, or too long.
pub fn safe_relative(raw: &str) -> Result<PathBuf, String> {
    if raw.is_empty() || raw.len() > MAX_PATH {
        return Err(format!("unacceptable path {raw:?} (empty or too long)"));
    }
    let mut out = PathBuf::new();
    for part in raw.split('/') {
        if part.is_empty() || part == "." || part == ".." || part.contains('\0') {
            return Err(format!("unsafe path {raw:?} in the offer"));
        }
        if part.len() > MAX_COMPONENT {
            return Err(format!("path component too long in {raw:?}"));
        }
        out.push(part);
    }
    // Belt and braces: whatever the platform makes of it, only plain names remain.
    if !out.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(format!("unsafe path {raw:?} in the offer"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_reduced_to_one_safe_component() {
        assert_eq!(safe_name("a.bin"), "a.bin");
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("/abs/x"), "x");
        assert_eq!(safe_name(".."), "received.bin");
        assert_eq!(safe_name(""), "received.bin");
        assert_eq!(safe_name("dir/"), "dir");
    }

    #[test]
    fn relative_paths_never_leave_the_root() {
        assert_eq!(safe_relative("a/b").unwrap(), PathBuf::from("a/b"));
        for bad in [
            "",
            "/etc/passwd",
            "a/../../x",
            "..",
            "a//b",
            "./a",
            "a/.",
            "a\0b",
        ] {
            assert!(safe_relative(bad).is_err(), "{bad:?}");
        }
        assert!(safe_relative(&"x".repeat(300)).is_err());
    }

    #[test]
    fn a_directory_walk_lists_parents_first_and_skips_symlinks() {
        let d = std::env::temp_dir().join(format!("stt-walk-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("top/sub/empty")).unwrap();
        std::fs::write(d.join("top/a.txt"), b"abc").unwrap();
        std::fs::write(d.join("top/sub/b.txt"), b"").unwrap();
        std::os::unix::fs::symlink(d.join("top/a.txt"), d.join("top/link")).unwrap();
        let l = walk(&d.join("top")).unwrap();
        assert_eq!(l.offer.name, "top");
        assert_eq!(
            l.offer.entries,
            vec![
                Entry::File {
                    path: "a.txt".into(),
                    size: 3
                },
                Entry::Dir { path: "sub".into() },
                Entry::File {
                    path: "sub/b.txt".into(),
                    size: 0
                },
                Entry::Dir {
                    path: "sub/empty".into()
                },
            ]
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
