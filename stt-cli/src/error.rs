//! Every way an `stt` command can fail, each with a message a person can act on, and
//! the exit code it maps to. Connection errors are rendered here once, so no message
//! repeats a prefix ("session closed: session closed: …").

use std::path::{Path, PathBuf};
use std::time::Duration;

use stt_proto::error::SessionError;
use stt_tokio::{ConnectionError, NodeId};

use crate::peers::grouped;
use crate::transfer::wire::code;

/// Which side of a transfer or pipe a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The `stt send` side.
    Sender,
    /// The `stt listen` side.
    Receiver,
    /// The other end of `stt cat`.
    Peer,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Sender => "the sender",
            Side::Receiver => "the receiver",
            Side::Peer => "the peer",
        })
    }
}

/// Everything that can make a command fail.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A seed file could not be used.
    #[error(transparent)]
    Seed(#[from] crate::seed::SeedFileError),
    /// No OS randomness.
    #[error("no OS randomness: {0}")]
    Random(getrandom::Error),
    /// A socket could not be bound.
    #[error(transparent)]
    Bind(#[from] stt_tokio::BindError),
    /// The wss:// configuration is unusable.
    #[error("tls: {0}")]
    Tls(#[from] stt_tokio::TlsConfigError),
    /// `HOST` without `:PORT`.
    #[error("{0} has no port: give HOST:PORT, for example {0}:4433")]
    MissingPort(String),
    /// The host name does not resolve.
    #[error("cannot resolve {host}: {reason}")]
    Resolve {
        /// What was given.
        host: String,
        /// The resolver's answer.
        reason: String,
    },
    /// The handshake got no answer.
    #[error(
        "no answer from {to} within {} s. Likely causes: nothing is listening there, a firewall drops the traffic on the way, or the listener uses a different network seed (compare the --network files)",
        .after.as_secs()
    )]
    NoAnswer {
        /// The address or URL tried.
        to: String,
        /// The handshake timeout.
        after: Duration,
    },
    /// `--peer` named another node than the one that answered.
    #[error(
        "the node at {target} is {actual} ({}), not the {expected} ({}) given with --peer; it was refused before this side identified itself",
        grouped(.actual),
        grouped(.expected)
    )]
    PeerMismatch {
        /// The address or URL.
        target: String,
        /// The id asked for.
        expected: NodeId,
        /// The id that answered.
        actual: NodeId,
    },
    /// The known-peers file records another node for this address.
    #[error(
        "the node at {target} is now {actual} ({}), but {}:{line} records {known} ({}) from an earlier connection; it was refused before this side identified itself. Either that node was given a new node seed, or another member of the network is answering at this address. If the change is expected (compare the new id with the listener's operator: `stt id --node-seed FILE` prints it), remove line {line} of {} or run again with --peer {actual}",
        grouped(.actual),
        .file.display(),
        grouped(.known),
        .file.display()
    )]
    KnownPeerChanged {
        /// The address or URL, as given.
        target: String,
        /// The id recorded at first contact.
        known: NodeId,
        /// The id that answered now.
        actual: NodeId,
        /// The known-peers file.
        file: PathBuf,
        /// The line recording `known`.
        line: usize,
    },
    /// A file or directory could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file or directory could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The output directory is unusable.
    #[error("output directory {}: {reason}", .path.display())]
    OutDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The peer closed the session with a reason.
    #[error("{side} {}", describe_close(*.code, .reason))]
    PeerClosed {
        /// Who closed.
        side: Side,
        /// The application close code.
        code: u64,
        /// The peer's reason text.
        reason: String,
    },
    /// The session ended for a transport reason.
    #[error("{}", describe_connection(.0))]
    Connection(ConnectionError),
    /// This side refused the transfer (the sender is told the same text).
    #[error("refused: {0}")]
    Refused(String),
    /// The peer broke the file-transfer or pipe protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A local failure on the receiving side, already reported to the sender.
    #[error("{0}")]
    Failed(String),
    /// Interrupted by a signal; the peer was told.
    #[error("interrupted by {0}")]
    Interrupted(&'static str),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl CliError {
    /// The process exit code: 130/143 after SIGINT/SIGTERM, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Interrupted("SIGINT") => 130,
            CliError::Interrupted(_) => 143,
            _ => 1,
        }
    }

    /// Builds the error for a session that ended, from the side that ended it.
    pub fn from_connection(e: ConnectionError, peer: Side) -> Self {
        if let ConnectionError::Closed(SessionError::ClosedByPeer { code, reason }) = &e {
            return CliError::PeerClosed {
                side: peer,
                code: code.0,
                reason: String::from_utf8_lossy(reason).into_owned(),
            };
        }
        CliError::Connection(e)
    }

    /// A read error on `path`.
    pub fn read(path: &Path, source: std::io::Error) -> Self {
        CliError::Read {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A write error on `path`.
    pub fn write(path: &Path, source: std::io::Error) -> Self {
        CliError::Write {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn describe_close(code: u64, reason: &str) -> String {
    let what = match code {
        0 => "closed the session",
        code::CANCELLED => "was interrupted",
        code::REFUSED => "refused the transfer",
        code::RECEIVER_FAILED | code::SENDER_FAILED => "failed",
        code::PROTOCOL => "reported a protocol error",
        _ => "closed the session",
    };
    let code_note = if code == 0 || (code::CANCELLED..=code::PROTOCOL).contains(&code) {
        String::new()
    } else {
        format!(" (code {code:#x})")
    };
    if reason.is_empty() {
        format!("{what}{code_note}")
    } else {
        format!("{what}: {reason}{code_note}")
    }
}

/// One line for a transport-level end of a session.
pub fn describe_connection(e: &ConnectionError) -> String {
    match e {
        ConnectionError::Closed(SessionError::TimedOut) => {
            "the session timed out: nothing arrived from the peer within the idle timeout (the peer was killed, lost its network, or the path is cut)".into()
        }
        ConnectionError::Closed(SessionError::Reset) => {
            "the peer holds no state for this session (it answered with a stateless reset): it restarted or lost the session, or, if this happened right after connecting, it refused this node once it saw who it is (an allow-list without this NodeId, or too many sessions). Run the command again to start a new session".into()
        }
        ConnectionError::Closed(SessionError::PeerUnresponsive { silent_ms }) => format!(
            "the session timed out: the peer stopped answering, nothing came back for {:.1} s while data was outstanding (the peer was killed, lost its network, or the path is cut)",
            *silent_ms as f64 / 1000.0
        ),
        ConnectionError::Closed(SessionError::HandshakeTimeout) => {
            "no answer to the handshake (nothing listening, filtered, or a different network seed)".into()
        }
        ConnectionError::Closed(SessionError::ClosedByPeer { code, reason }) => format!(
            "the peer {}",
            describe_close(code.0, &String::from_utf8_lossy(reason))
        ),
        ConnectionError::Closed(SessionError::HybridRequired) => {
            "the peer runs the classic handshake only and this node requires the post-quantum hybrid one (--pq require): the peer must run with --pq prefer or --pq require, or this node with --pq prefer".into()
        }
        ConnectionError::Closed(SessionError::PeerRequiresHybrid) => {
            "the peer requires the post-quantum hybrid handshake and this node runs the classic one only: run with --pq prefer or --pq require".into()
        }
        ConnectionError::Closed(SessionError::HybridDowngrade) => {
            "handshake refused as a downgrade: a refusal of the hybrid handshake was forged or the peer changed its --pq mode; nothing was sent in the clear. Try again".into()
        }
        ConnectionError::Closed(other) => format!("session ended: {other}"),
        ConnectionError::NodeShutDown => "the local node shut down".into(),
        other => other.to_string(),
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::Other(e.to_string())
    }
}
