//! Where a node's JSON-lines trace goes (docs/ARCHITECTURE.md "Traces"): one file per
//! session in a directory, or one file for the whole node. Writes what the core's
//! events and metric records say (formatted by `stt_trace::write`); decides
//! nothing about the protocol. A write error stops that file and is logged once.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use stt_proto::{Event, Instant, MetricRecord, NodeId, SessionHandle};
use stt_trace::{event_json, header_json, metric_json};

/// Where the user asked the trace to go.
#[derive(Debug, Clone)]
pub(crate) enum TraceTarget {
    /// One `PEER-TIME.jsonl` file per session in this directory.
    Dir(PathBuf),
    /// One file for every session of the node.
    File(PathBuf),
}

impl TraceTarget {
    /// The directory or file named.
    pub(crate) fn path(&self) -> PathBuf {
        match self {
            TraceTarget::Dir(p) | TraceTarget::File(p) => p.clone(),
        }
    }
}

/// The open trace files.
#[derive(Debug, Default)]
pub(crate) struct TraceLog {
    dir: Option<PathBuf>,
    per_session: HashMap<SessionHandle, BufWriter<File>>,
    single: Option<BufWriter<File>>,
    /// Lines written since the last flush.
    dirty: bool,
}

const SOURCE: &str = "stt-adapter";

fn create(path: &PathBuf) -> std::io::Result<BufWriter<File>> {
    let mut w = BufWriter::new(File::create(path)?);
    writeln!(w, "{}", header_json(SOURCE))?;
    Ok(w)
}

impl TraceLog {
    /// Opens the target; a single file is created (and truncated) now.
    pub(crate) fn open(target: Option<TraceTarget>) -> std::io::Result<Self> {
        let mut log = Self::default();
        match target {
            None => {}
            Some(TraceTarget::Dir(dir)) => log.dir = Some(dir),
            Some(TraceTarget::File(path)) => log.single = Some(create(&path)?),
        }
        Ok(log)
    }

    /// A session came up: in directory mode, its file is created.
    pub(crate) fn on_connected(&mut self, session: SessionHandle, peer: &NodeId, now: Instant) {
        let Some(dir) = &self.dir else {
            return;
        };
        let name = dir.join(format!("{peer}-{}.jsonl", now.as_micros()));
        match create(&name) {
            Ok(w) => {
                self.per_session.insert(session, w);
            }
            Err(e) => tracing::warn!(file = %name.display(), "trace file: {e}"),
        }
    }

    fn writer(&mut self, session: SessionHandle) -> Option<&mut BufWriter<File>> {
        match self.single.as_mut() {
            Some(w) => Some(w),
            None => self.per_session.get_mut(&session),
        }
    }

    fn write(&mut self, session: SessionHandle, line: impl FnOnce() -> String) {
        self.dirty = true;
        let Some(w) = self.writer(session) else {
            return;
        };
        if let Err(e) = writeln!(w, "{}", line()) {
            tracing::warn!("trace write failed, trace stopped: {e}");
            self.single = None;
            self.per_session.remove(&session);
        }
    }

    /// Writes one engine event.
    pub(crate) fn event(&mut self, now: Instant, event: &Event) {
        self.write(event.session(), || event_json(now, event));
    }

    /// Writes one metric record.
    pub(crate) fn metric(&mut self, record: &MetricRecord) {
        self.write(record.session, || metric_json(record, None));
    }

    /// A session ended: its file (or the shared one) is flushed and, per session, closed.
    pub(crate) fn on_closed(&mut self, session: SessionHandle) {
        if let Some(mut w) = self.per_session.remove(&session) {
            let _ = w.flush();
        }
        if let Some(w) = self.single.as_mut() {
            let _ = w.flush();
        }
    }

    /// Writes out everything buffered, so a process that ends abruptly (a signal, an
    /// exit without dropping the node) leaves a complete trace up to its last drain.
    pub(crate) fn flush(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        for w in self.per_session.values_mut().chain(self.single.as_mut()) {
            let _ = w.flush();
        }
    }
}
