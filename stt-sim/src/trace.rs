//! The run's event trace: every packet sent, delivered or dropped (with reason), timer,
//! application event and scheduled action, as JSON lines. Every line is hashed (so two
//! runs can be compared byte for byte) and optionally written out. Only formatting and
//! hashing live here; the world decides what to record.

use std::io::Write;

use crate::rng::{FNV_OFFSET, fnv1a};

/// Collects trace lines: always hashed, written when a sink is set.
pub struct Trace {
    hash: u64,
    lines: u64,
    sink: Option<Box<dyn Write>>,
    line: String,
    /// First write error, if any (the run continues; the runner reports it).
    pub error: Option<std::io::Error>,
}

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trace")
            .field("hash", &self.hash)
            .field("lines", &self.lines)
            .finish_non_exhaustive()
    }
}

impl Trace {
    /// A trace that only hashes.
    pub fn hash_only() -> Self {
        Self {
            hash: FNV_OFFSET,
            lines: 0,
            sink: None,
            line: String::new(),
            error: None,
        }
    }

    /// A trace that hashes and writes JSON lines to `sink`, starting with the schema
    /// header (docs/ARCHITECTURE.md "Traces").
    pub fn to_writer(sink: Box<dyn Write>) -> Self {
        let mut t = Self {
            sink: Some(sink),
            ..Self::hash_only()
        };
        t.write_unhashed(&stt_trace::header_json("stt-sim"));
        t
    }

    /// True if lines are written out (not only hashed).
    pub fn writes(&self) -> bool {
        self.sink.is_some()
    }

    /// Writes a line that is not part of the run's hash: the header and the engine's own
    /// event and metric lines, which only exist when the trace is written.
    pub fn write_unhashed(&mut self, line: &str) {
        if let Some(sink) = self.sink.as_mut()
            && self.error.is_none()
            && let Err(e) = sink
                .write_all(line.as_bytes())
                .and_then(|()| sink.write_all(b"\n"))
        {
            self.error = Some(e);
        }
    }

    /// Hash of every line so far.
    pub fn hash(&self) -> u64 {
        self.hash
    }

    /// Lines recorded.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Records one event: `t` in µs, `ev` its kind, then key/value fields.
    pub fn record(&mut self, t: u64, ev: &str, fields: &[(&str, Val<'_>)]) {
        use std::fmt::Write as _;
        self.line.clear();
        let _ = write!(
            self.line,
            "{{\"time\":{t},\"name\":\"sim:{ev}\",\"data\":{{"
        );
        for (i, (k, v)) in fields.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            let _ = write!(self.line, "{sep}\"{k}\":");
            match v {
                Val::U(n) => {
                    let _ = write!(self.line, "{n}");
                }
                Val::S(s) => {
                    self.line.push('"');
                    for c in s.chars() {
                        match c {
                            '"' => self.line.push_str("\\\""),
                            '\\' => self.line.push_str("\\\\"),
                            c if (c as u32) < 0x20 => {
                                let _ = write!(self.line, "\\u{:04x}", c as u32);
                            }
                            c => self.line.push(c),
                        }
                    }
                    self.line.push('"');
                }
                Val::B(b) => {
                    let _ = write!(self.line, "{b}");
                }
            }
        }
        self.line.push_str("}}\n");
        self.hash = fnv1a(self.line.as_bytes(), self.hash);
        self.lines += 1;
        if let Some(sink) = self.sink.as_mut()
            && self.error.is_none()
            && let Err(e) = sink.write_all(self.line.as_bytes())
        {
            self.error = Some(e);
        }
    }

    /// Flushes the sink.
    pub fn flush(&mut self) {
        if let Some(sink) = self.sink.as_mut()
            && let Err(e) = sink.flush()
            && self.error.is_none()
        {
            self.error = Some(e);
        }
    }
}

/// A trace field value.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    /// A number.
    U(u64),
    /// A string (escaped on output).
    S(&'a str),
    /// A boolean.
    B(bool),
}
