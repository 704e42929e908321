//! Shared helpers for STT's cross-crate integration tests (the tests live in `tests/tests/`).

use std::path::PathBuf;

pub mod adapters;
pub mod flood;
pub mod indep;
pub mod loopback;
pub mod netns;
pub mod procs;
pub mod relay;
pub mod topology;

/// The checked-in fuzz corpus directory for `target` (`fuzz/corpus/<target>`).
pub fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Every file of a fuzz target's checked-in corpus, sorted by name, as (name, bytes).
pub fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_dir(target);
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {} missing: {e}", dir.display()))
        .map(|e| e.expect("readable corpus entry").path())
        .collect();
    entries.sort();
    entries
        .into_iter()
        .map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let bytes = std::fs::read(&p).expect("readable corpus file");
            (name, bytes)
        })
        .collect()
}

/// The golden examples of `docs/PROTOCOL.md` (fenced `text golden=NAME` blocks), in
/// order, as (name, bytes). Hex bytes are separated by white space; `#` starts a comment.
pub fn golden_vectors() -> Vec<(String, Vec<u8>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/PROTOCOL.md");
    let spec = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} unreadable: {e}", path.display()));
    stt_testkit::golden_blocks(&spec)
        .into_iter()
        .map(|(name, bytes)| (name.to_string(), bytes))
        .collect()
}
pub mod mem;
