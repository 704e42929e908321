//! The checks of the established-session oracle: every byte an application reads is
//! the byte written at that offset (unless the malicious peer touched the stream), a
//! FIN comes only after everything the writer sent, and after a clean network runs
//! until quiet, every finished stream arrived whole while both sessions are up.

use core::time::Duration;

use super::Run;
use stt_proto::error::ReadError;
use stt_proto::frame::{Dir, StreamId};

impl Run {
    /// Reads stream `id` on side `s` and checks every byte against what was written.
    pub(super) fn read(&mut self, s: usize, id: StreamId, max: usize) {
        let now = self.w.now;
        let writer = 1 - s;
        loop {
            let Some(mut sr) = self.w.nodes[s].session(self.h[s]) else {
                return;
            };
            let got = sr.read(now, id, max.max(1));
            let tainted = self.tainted.contains(&(s, id));
            let rx = self.rx.entry((s, id)).or_default();
            match got {
                Ok(Some(bytes)) => {
                    if !tainted {
                        let tx = self.tx.get(&(writer, id));
                        let written = tx.map_or(&[][..], |t| &t.written[..]);
                        let from = rx.read as usize;
                        assert!(
                            from + bytes.len() <= written.len(),
                            "side {s} stream {id}: read past what was written"
                        );
                        assert!(
                            written[from..from + bytes.len()] == bytes[..],
                            "side {s} stream {id}: wrong bytes at {from}"
                        );
                    }
                    rx.read += bytes.len() as u64;
                }
                Ok(None) => {
                    if !tainted && !rx.fin {
                        let tx = self.tx.get(&(writer, id));
                        assert!(
                            tx.is_some_and(|t| t.finished && t.written.len() as u64 == rx.read),
                            "side {s} stream {id}: FIN after {} bytes that the writer did not send",
                            rx.read
                        );
                    }
                    rx.fin = true;
                    return;
                }
                Err(ReadError::Blocked) => return,
                Err(_) => return,
            }
            if max < usize::MAX {
                return;
            }
        }
    }

    /// Accepts and reads everything on both sides (the application during settling).
    fn drain(&mut self) {
        for s in 0..2 {
            loop {
                let accepted = self.w.nodes[s].session(self.h[s]).and_then(|mut sr| {
                    sr.accept_stream(Dir::Uni)
                        .or_else(|| sr.accept_stream(Dir::Bi))
                });
                let Some(id) = accepted else {
                    break;
                };
                if !self.streams[s].contains(&id) {
                    self.streams[s].push(id);
                }
            }
            for id in self.streams[s].clone() {
                self.read(s, id, usize::MAX);
            }
            if let Some(mut sr) = self.w.nodes[s].session(self.h[s]) {
                while sr.recv_datagram().is_some() {}
            }
        }
        for events in &mut self.w.events {
            events.clear();
        }
    }

    /// A clean network until every finished stream arrived or the network is quiet;
    /// then, with both sessions up, no silent loss.
    ///
    /// The bound is long because the adversary's delays (packets held across waits of
    /// up to a minute) enter the RTT estimate, and RFC 9002's probe timeout
    /// (srtt + 4·rttvar, doubled per probe) with it: a session that lost its last
    /// packets may take tens of seconds to probe once the network is clean. A 30 s
    /// bound once failed an input whose probe was due 33 s in (srtt 3.9 s).
    pub(super) fn settle(&mut self) {
        let until = self.w.now + Duration::from_secs(300);
        self.drain();
        while self.first_incomplete().is_some() && self.w.clean_step(until) {
            self.drain();
        }
        self.drain();
        self.w.check();
        let up = (0..2).all(|s| {
            self.w.nodes[s]
                .session(self.h[s])
                .is_some_and(|mut sr| sr.is_established())
        });
        if !up || self.forged_ack {
            return;
        }
        if let Some((writer, id)) = self.first_incomplete() {
            let written = self.tx.get(&(writer, id)).map(|t| t.written.len());
            let rx = self.rx.get(&(1 - writer, id));
            panic!(
                "stream {id} from side {writer}: {written:?} bytes written and finished, {:?} read",
                rx.map(|r| (r.read, r.fin))
            );
        }
    }

    /// The first stream that was finished (not reset, stopped or touched by the
    /// malicious peer) but has not been read whole with its FIN.
    fn first_incomplete(&self) -> Option<(usize, StreamId)> {
        self.tx.iter().find_map(|(&(writer, id), tx)| {
            let exempt = !tx.finished || tx.abandoned || self.tainted.contains(&(1 - writer, id));
            let done = self
                .rx
                .get(&(1 - writer, id))
                .is_some_and(|r| r.fin && r.read == tx.written.len() as u64);
            (!exempt && !done).then_some((writer, id))
        })
    }
}
