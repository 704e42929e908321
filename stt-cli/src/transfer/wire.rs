//! The file-transfer protocol of `stt send` / `stt listen` (docs/PRIMITIVES.md §7):
//! the control messages, their framing, the data-stream record header, the tree
//! digest both sides compute, and the session close codes that carry failures. Pure
//! encoding: no IO, no policy.

use serde::{Deserialize, Serialize};

use super::hash::Sha3;

/// The protocol version an offer names; a listener refuses any other.
pub const VERSION: u32 = 1;
/// Largest control message either side accepts (an offer for a large tree).
pub const MAX_CONTROL_MESSAGE: usize = 16 << 20;
/// Bytes before each file's data on the data stream: entry index (u32) and start
/// offset (u64), both big-endian.
pub const RECORD_HEADER: usize = 12;
/// Bytes after each file's data: the SHA3-256 of the whole file.
pub const RECORD_TRAILER: usize = 32;

/// Application close codes (PROTOCOL.md §7 leaves codes from 0x10000 to applications).
pub mod code {
    /// Interrupted by a signal (SIGINT, SIGTERM) on the closing side.
    pub const CANCELLED: u64 = 0x1_0001;
    /// The receiver refused the offer (file exists, unsafe name, busy, version).
    pub const REFUSED: u64 = 0x1_0002;
    /// The receiver could not store the data (a write, sync or rename failed, or the
    /// data did not match its digest).
    pub const RECEIVER_FAILED: u64 = 0x1_0003;
    /// The sender could not read its files (or one changed while being sent).
    pub const SENDER_FAILED: u64 = 0x1_0004;
    /// The peer broke this protocol (malformed or unexpected message).
    pub const PROTOCOL: u64 = 0x1_0005;
}

/// Whether an offer is one file or a directory tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One regular file, stored as `name`.
    File,
    /// A directory stored as `name/`, with its entries below it.
    Dir,
}

/// One entry of an offer: a regular file or a directory, by its relative path with
/// `/` separators (for `Kind::File` the single entry's path is the name itself).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Entry {
    /// A regular file of `size` bytes.
    File {
        /// Path relative to the offer's top directory.
        path: String,
        /// Its length in bytes.
        size: u64,
    },
    /// A directory (listed so that empty ones arrive too).
    Dir {
        /// Path relative to the offer's top directory.
        path: String,
    },
}

/// Sender → receiver, the first message: what is about to arrive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// [`VERSION`].
    pub version: u32,
    /// The top-level name (one path component).
    pub name: String,
    /// One file or a tree.
    pub kind: Kind,
    /// Every file and directory, parents before children.
    pub entries: Vec<Entry>,
}

impl Offer {
    /// Total bytes of all files (saturating: sizes come from the network).
    pub fn total_bytes(&self) -> u64 {
        self.entries
            .iter()
            .map(|e| match e {
                Entry::File { size, .. } => *size,
                Entry::Dir { .. } => 0,
            })
            .fold(0u64, u64::saturating_add)
    }

    /// Number of regular files.
    pub fn file_count(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| matches!(e, Entry::File { .. }))
            .count() as u64
    }
}

/// What the receiver already holds of one file from an interrupted transfer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// Index into the offer's entries.
    pub index: u32,
    /// Bytes held (a prefix of the file).
    pub len: u64,
    /// SHA3-256 of those bytes, hex.
    pub sha3_256: String,
}

/// Receiver → sender: go ahead; `held` lists the prefixes it can resume from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accept {
    /// Partial files kept from an earlier attempt.
    pub held: Vec<Held>,
}

/// Receiver → sender, the last message: everything is written, synced, checked and
/// stored under its final name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Done {
    /// Files stored.
    pub files: u64,
    /// Bytes stored.
    pub bytes: u64,
    /// The receiver's digest of what it stored ([`TreeDigest`]), hex.
    pub sha3_256: String,
}

/// A control message, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Message {
    /// See [`Offer`].
    Offer(Offer),
    /// See [`Accept`].
    Accept(Accept),
    /// See [`Done`].
    Done(Done),
}

/// Why a control message could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Longer than [`MAX_CONTROL_MESSAGE`].
    #[error("control message of {0} bytes is over the limit")]
    TooLong(usize),
    /// Not a message of this protocol.
    #[error("malformed control message: {0}")]
    Malformed(String),
}

/// Encodes a message: a 4-byte big-endian length, then its JSON.
pub fn encode(message: &Message) -> Vec<u8> {
    // Serialising these plain structs cannot fail (no maps with non-string keys).
    let body = serde_json::to_vec(message).unwrap_or_default();
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

/// The body length a 4-byte prefix announces, checked against the limit.
pub fn body_len(prefix: [u8; 4]) -> Result<usize, DecodeError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_CONTROL_MESSAGE {
        return Err(DecodeError::TooLong(len));
    }
    Ok(len)
}

/// Decodes a message body (without its length prefix).
pub fn decode(body: &[u8]) -> Result<Message, DecodeError> {
    serde_json::from_slice(body).map_err(|e| DecodeError::Malformed(e.to_string()))
}

/// The header that starts each file's record on the data stream.
pub fn record_header(index: u32, start: u64) -> [u8; RECORD_HEADER] {
    let mut h = [0u8; RECORD_HEADER];
    h[..4].copy_from_slice(&index.to_be_bytes());
    h[4..].copy_from_slice(&start.to_be_bytes());
    h
}

/// Splits a record header into (index, start).
pub fn parse_record_header(h: &[u8; RECORD_HEADER]) -> (u32, u64) {
    let mut index = [0u8; 4];
    index.copy_from_slice(&h[..4]);
    let mut start = [0u8; 8];
    start.copy_from_slice(&h[4..]);
    (u32::from_be_bytes(index), u64::from_be_bytes(start))
}

/// The data stream's length for an offer, given where each file starts.
pub fn data_stream_len(offer: &Offer, starts: &[u64]) -> u64 {
    let mut files = 0usize;
    let mut len = 0u64;
    for e in &offer.entries {
        if let Entry::File { size, .. } = e {
            let start = starts.get(files).copied().unwrap_or(0);
            len = len
                .saturating_add((RECORD_HEADER + RECORD_TRAILER) as u64)
                .saturating_add(size.saturating_sub(start));
            files += 1;
        }
    }
    len
}

/// The digest both sides print and compare: for a single file, the file's SHA3-256;
/// for a tree, SHA3-256 over every entry in offer order (kind byte, path length and
/// path, and for files the size and the file's SHA3-256).
pub struct TreeDigest {
    kind: Kind,
    single: Option<[u8; 32]>,
    tree: Sha3,
}

impl TreeDigest {
    /// A digest for an offer of this kind.
    pub fn new(kind: Kind) -> Self {
        Self {
            kind,
            single: None,
            tree: Sha3::default(),
        }
    }

    /// Adds a directory entry.
    pub fn dir(&mut self, path: &str) {
        self.tree.update(b"d");
        self.tree.update(&(path.len() as u32).to_be_bytes());
        self.tree.update(path.as_bytes());
    }

    /// Adds a file entry with its content digest.
    pub fn file(&mut self, path: &str, size: u64, digest: [u8; 32]) {
        self.single = Some(digest);
        self.tree.update(b"f");
        self.tree.update(&(path.len() as u32).to_be_bytes());
        self.tree.update(path.as_bytes());
        self.tree.update(&size.to_be_bytes());
        self.tree.update(&digest);
    }

    /// The final digest, hex.
    pub fn finish(self) -> String {
        match (self.kind, self.single) {
            (Kind::File, Some(d)) => hex::encode(d),
            _ => hex::encode(self.tree.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_and_limits_hold() {
        let offer = Message::Offer(Offer {
            version: VERSION,
            name: "d".into(),
            kind: Kind::Dir,
            entries: vec![
                Entry::Dir { path: "a".into() },
                Entry::File {
                    path: "a/b".into(),
                    size: 7,
                },
            ],
        });
        let bytes = encode(&offer);
        let len = body_len([bytes[0], bytes[1], bytes[2], bytes[3]]).unwrap();
        assert_eq!(len, bytes.len() - 4);
        assert_eq!(decode(&bytes[4..]).unwrap(), offer);
        assert!(matches!(
            body_len(((MAX_CONTROL_MESSAGE + 1) as u32).to_be_bytes()),
            Err(DecodeError::TooLong(_))
        ));
        assert!(matches!(
            decode(b"{\"type\":\"nope\"}"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(decode(b"\xff"), Err(DecodeError::Malformed(_))));
    }

    #[test]
    fn sizes_from_the_network_cannot_overflow_the_totals() {
        let offer = Offer {
            version: VERSION,
            name: "d".into(),
            kind: Kind::Dir,
            entries: vec![
                Entry::File {
                    path: "a".into(),
                    size: u64::MAX,
                },
                Entry::File {
                    path: "b".into(),
                    size: u64::MAX,
                },
            ],
        };
        assert_eq!(offer.total_bytes(), u64::MAX);
        assert_eq!(data_stream_len(&offer, &[0, 0]), u64::MAX);
    }

    #[test]
    fn record_header_round_trips() {
        let h = record_header(0xdead_beef, 0x0102_0304_0506_0708);
        assert_eq!(
            parse_record_header(&h),
            (0xdead_beef, 0x0102_0304_0506_0708)
        );
    }

    #[test]
    fn single_file_digest_is_the_file_digest() {
        let mut d = TreeDigest::new(Kind::File);
        d.file("x", 3, [9; 32]);
        assert_eq!(d.finish(), hex::encode([9u8; 32]));
        let mut a = TreeDigest::new(Kind::Dir);
        a.dir("e");
        a.file("x", 3, [9; 32]);
        let mut b = TreeDigest::new(Kind::Dir);
        b.file("x", 3, [9; 32]);
        assert_ne!(
            a.finish(),
            b.finish(),
            "an empty directory changes the digest"
        );
    }
}
