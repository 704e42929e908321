//! What a person or a script sees: progress bars (on stderr, only on a terminal and
//! without `--quiet`/`--json`), the one-line summary on stdout, or with `--json` one
//! JSON object per transfer.

use std::io::IsTerminal;
use std::time::Duration;

use serde::Serialize;
use stt_tokio::NodeId;

use crate::transfer::wire::Offer;

/// `--quiet` and `--json`, shared by `send` and `listen`.
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct Output {
    /// No progress bar and no informational lines; errors still go to stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Print one JSON object per transfer on stdout instead of the text summary.
    #[arg(long)]
    pub json: bool,
}

impl Output {
    /// An informational line on stderr, unless quiet.
    pub fn info(&self, line: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// A progress bar over `total` bytes; hidden unless stderr is a terminal and
    /// the output is neither quiet nor JSON.
    pub fn bar(&self, total: u64) -> indicatif::ProgressBar {
        if self.quiet || self.json || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let pb = indicatif::ProgressBar::new(total);
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{msg} {bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} eta {eta}",
        ) {
            pb.set_style(style);
        }
        pb
    }

    /// Prints the summary of one finished transfer.
    pub fn summary(&self, s: &Summary) {
        if self.json {
            // Serialising a plain struct of strings and numbers cannot fail.
            println!("{}", serde_json::to_string(s).unwrap_or_default());
        } else if !self.quiet {
            println!("{}", s.line());
        }
    }
}

/// One transfer's outcome, as printed.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `sent` or `received`.
    pub event: &'static str,
    /// The name sent, or the path stored.
    pub name: String,
    /// Files moved (1 for a single file).
    pub files: u64,
    /// Bytes of the whole file or tree.
    pub bytes: u64,
    /// Bytes that crossed the network this time (less after a resume).
    pub bytes_transferred: u64,
    /// Bytes already held from an interrupted attempt.
    pub resumed_bytes: u64,
    /// Wall-clock seconds from the offer to the confirmation.
    pub seconds: f64,
    /// `bytes_transferred` per second, in MB/s (10^6).
    pub mb_per_s: f64,
    /// SHA3-256 of the file (or the tree digest), hex; both sides agree on it.
    pub sha3_256: String,
    /// The peer's NodeId.
    pub peer: String,
    /// The handshake the session ran: `hybrid X25519+ML-KEM-768` or `classic X25519`.
    pub handshake: &'static str,
    /// Through a relay (`stt send --via`, `stt listen --via`): `direct` when the
    /// session ended on a direct path (hole punching worked), else `relayed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<&'static str>,
}

impl Summary {
    /// The summary of a transfer of `offer` that took `took`, `resumed` bytes of it
    /// already held by the receiver.
    pub fn new(
        event: &'static str,
        name: String,
        offer: &Offer,
        resumed: u64,
        sha3_256: String,
        peer: NodeId,
        took: Duration,
    ) -> Self {
        let bytes = offer.total_bytes();
        let seconds = took.as_secs_f64();
        Self {
            event,
            name,
            files: offer.file_count(),
            bytes,
            bytes_transferred: bytes.saturating_sub(resumed),
            resumed_bytes: resumed,
            seconds,
            mb_per_s: bytes.saturating_sub(resumed) as f64 / seconds.max(1e-9) / 1e6,
            sha3_256,
            peer: peer.to_string(),
            handshake: "",
            path: None,
        }
    }

    /// The summary naming the handshake the session ran (see `net::handshake_name`).
    pub fn with_handshake(mut self, handshake: &'static str) -> Self {
        self.handshake = handshake;
        self
    }

    /// Notes the path a session met through a relay ended on (`None`: not through one).
    pub fn with_path(mut self, relayed: Option<bool>) -> Self {
        self.path = relayed.map(|r| if r { "relayed" } else { "direct" });
        self
    }

    fn line(&self) -> String {
        let files = if self.files == 1 {
            String::new()
        } else {
            format!("{} files, ", self.files)
        };
        let resumed = if self.resumed_bytes > 0 {
            format!(" (resumed after {} bytes)", self.resumed_bytes)
        } else {
            String::new()
        };
        let path = self.path.map(|p| format!(", {p}")).unwrap_or_default();
        format!(
            "{} {}: {files}{} bytes in {:.3} s, {:.1} MB/s{resumed}, peer {}{path}, {} handshake, sha3-256 {}",
            self.event,
            self.name,
            self.bytes,
            self.seconds,
            self.mb_per_s,
            self.peer,
            self.handshake,
            self.sha3_256
        )
    }
}
