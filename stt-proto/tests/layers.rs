//! The module layering of docs/ARCHITECTURE.md ("stt-proto modules"), checked from the
//! source: a module names (`crate::…`) only modules of its own layer or below, so no import
//! cycle spans two concerns. Reads `src/` as text; comments and unit-test modules are
//! skipped, as are the test-only hooks.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

/// Each top-level module and its layer (docs/ARCHITECTURE.md).
const LAYERS: &[(&str, u8)] = &[
    ("ids", 0),
    ("stats", 0),
    ("time", 0),
    ("hash", 0),
    ("hex", 0),
    ("range_set", 0),
    ("rng", 0),
    ("frame", 1),
    ("crypto", 2),
    ("identity", 2),
    ("stream", 2),
    ("recovery", 2),
    ("storage", 2),
    ("metrics", 2),
    ("error", 2),
    ("congestion", 3),
    ("config", 3),
    ("handshake", 3),
    ("endpoint", 3),
    ("rendezvous", 3),
    ("event", 4),
    ("session", 5),
    ("node", 6),
];

/// The source of a file without comments and without its trailing unit-test module.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every `crate::name` the code refers to.
fn crate_refs(code: &str) -> Vec<String> {
    code.match_indices("crate::")
        .map(|(i, m)| {
            code[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

fn visit(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            visit(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = fs::read_to_string(&path).expect("read source");
            out.push((path.display().to_string(), text));
        }
    }
}

#[test]
fn every_module_imports_only_its_layer_or_below() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    visit(&src, &mut files);
    assert!(files.len() > 50, "src/ not found: {}", src.display());
    let mut violations = Vec::new();
    let mut unknown = Vec::new();
    for (path, text) in &files {
        let rel = path
            .strip_prefix(&src.display().to_string())
            .unwrap_or(path)
            .trim_start_matches('/');
        let top = rel.split('/').next().unwrap_or(rel).trim_end_matches(".rs");
        let test_only = rel.contains("tests") || rel.contains("test_");
        if top == "lib" || test_only {
            continue;
        }
        let Some(&own) = layers.get(top) else {
            unknown.push(rel.to_string());
            continue;
        };
        for name in crate_refs(&code_of(text)) {
            if let Some(&theirs) = layers.get(name.as_str())
                && theirs > own
            {
                violations.push(format!(
                    "{rel} (layer {own}) uses crate::{name} (layer {theirs})"
                ));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "modules missing from LAYERS (and from docs/ARCHITECTURE.md): {unknown:?}"
    );
    assert!(
        violations.is_empty(),
        "layering broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_sees_an_upward_import() {
    let code = code_of("use crate::session::Session;\n// crate::node in a comment\n");
    assert_eq!(crate_refs(&code), vec!["session".to_string()]);
}
