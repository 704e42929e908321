//! The smol adapter stays tokio-free: `cargo tree` over stt-smol's (and the shared
//! stt-adapter's) normal, build and dev dependencies lists no tokio crate. And the tokio
//! adapter stays a library: none of the `stt` command's dependencies (stt-cli's) under it.

use std::process::Command;

fn tree(package: &str) -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .args(["tree", "-p", package, "-e", "normal,build,dev"])
        .args(["--prefix", "none", "--format", "{p}"])
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn no_tokio_under_stt_smol() {
    for package in ["stt-smol", "stt-adapter"] {
        let crates = tree(package);
        // The listing is real: it names the package's own dependencies.
        assert!(
            crates.iter().any(|c| c.starts_with("stt-proto ")),
            "{package}: unexpected cargo tree output {crates:?}"
        );
        let tokio: Vec<_> = crates.iter().filter(|c| c.starts_with("tokio")).collect();
        assert!(tokio.is_empty(), "{package} depends on {tokio:?}");
    }
    // And the check can see tokio where it is.
    assert!(tree("stt-tokio").iter().any(|c| c.starts_with("tokio ")));
}

#[test]
fn no_cli_dependencies_under_stt_tokio() {
    let crates = tree("stt-tokio");
    assert!(
        crates.iter().any(|c| c.starts_with("stt-adapter ")),
        "stt-tokio: unexpected cargo tree output {crates:?}"
    );
    let cli_only = [
        "clap ",
        "indicatif ",
        "qrcode ",
        "stt-trace ",
        "tracing-subscriber ",
    ];
    let found: Vec<_> = crates
        .iter()
        .filter(|c| cli_only.iter().any(|n| c.starts_with(n)))
        .collect();
    assert!(found.is_empty(), "stt-tokio depends on {found:?}");
    // And the check can see them where they are.
    let cli = tree("stt-cli");
    for n in cli_only {
        assert!(cli.iter().any(|c| c.starts_with(n)), "stt-cli lacks {n}");
    }
}
