//! Node hosting: one simulated host per scenario node (its engine, address, identity
//! seeds and incarnation), booting and rebooting its engine, and servicing it after
//! every input: drain its events and metrics, run its applications, hand its datagrams
//! to the network. It must not decide delivery (that is `network`) or judge what the
//! applications read (that is `streams`, `sessions` and the checks).

use std::sync::Arc;

use stt_proto::{Identity, NetworkKey, NodeId};
use stt_proto::{Instant, Node, NodeStats};

use super::{SimError, World};
use crate::rng::SimRng;
use crate::scenario::Workload;

/// One scenario node as the world hosts it; `node` is `None` while it is crashed.
pub(super) struct SimNode {
    pub(super) name: String,
    pub(super) member: bool,
    pub(super) config: Arc<stt_proto::config::NodeConfig>,
    pub(super) identity_seed: [u8; 32],
    pub(super) network_seed: [u8; 32],
    pub(super) node_id: NodeId,
    pub(super) node: Option<Node>,
    pub(super) addr: u64,
    pub(super) incarnation: u32,
    pub(super) rng: SimRng,
    pub(super) serve: Option<Workload>,
    pub(super) tracks: Vec<usize>,
    pub(super) plans: Vec<usize>,
    pub(super) last_stats: NodeStats,
    /// A handshake RESPONSE reached the node since its last bounds check (a repeated
    /// one lets the responder send one probe beyond its congestion window).
    pub(super) got_response: bool,
    pub(super) timer_spin: (Instant, u64),
}

impl World {
    /// (Re)creates node `i`'s engine with its identity and a fresh RNG seed.
    pub(super) fn boot(&mut self, i: usize) -> Result<(), SimError> {
        let n = &mut self.nodes[i];
        let err = |reason: String| SimError::Config { node: i, reason };
        let identity =
            Identity::from_node_seed(&n.identity_seed).map_err(|e| err(e.to_string()))?;
        let network =
            NetworkKey::from_shared_seed(&n.network_seed).map_err(|e| err(e.to_string()))?;
        let seed = n
            .rng
            .fork(&format!("incarnation {}", n.incarnation))
            .seed32();
        let node =
            Node::new(n.config.clone(), identity, network, seed).map_err(|e| err(e.to_string()))?;
        n.node = Some(node);
        self.apps_boot(i);
        Ok(())
    }

    /// Lets node `ix` and its applications react to whatever just happened, then sends
    /// what it has to send.
    pub(super) fn service(&mut self, ix: usize) {
        for _ in 0..16 {
            if self.nodes[ix].node.is_none() {
                return;
            }
            let a = self.drain_events(ix);
            self.drive(ix);
            let b = self.drain_events(ix);
            self.flush(ix);
            let c = self.drain_events(ix);
            if !(a || b || c) {
                break;
            }
        }
        self.check_bounds(ix);
    }

    fn drain_events(&mut self, ix: usize) -> bool {
        let mut any = false;
        self.drain_metrics(ix);
        loop {
            let Some(ev) = self.nodes[ix].node.as_mut().and_then(|n| n.poll_event()) else {
                return any;
            };
            any = true;
            if self.trace.writes() {
                let node = Some(self.nodes[ix].name.as_str());
                let line = stt_trace::event_json_for(self.now, &ev, node);
                self.trace.write_unhashed(&line);
            }
            self.on_event(ix, ev);
        }
    }

    /// Writes node `ix`'s metric records into the trace (only produced when it writes).
    fn drain_metrics(&mut self, ix: usize) {
        let n = &mut self.nodes[ix];
        let Some(node) = n.node.as_mut() else {
            return;
        };
        while let Some(record) = node.poll_metric() {
            let line = stt_trace::metric_json(&record, Some(&n.name));
            self.trace.write_unhashed(&line);
        }
    }

    /// Sends everything node `ix` has to send, one datagram per segment.
    fn flush(&mut self, ix: usize) {
        let now = self.now;
        let mut buf = std::mem::take(&mut self.buf);
        while let Some(tx) = self.nodes[ix]
            .node
            .as_mut()
            .and_then(|n| n.poll_transmit(now, &mut buf))
        {
            let seg = tx.segment_size.unwrap_or(tx.len).max(1);
            let mut off = 0;
            while off < tx.len.min(buf.len()) {
                let end = (off + seg).min(tx.len);
                self.route(ix, tx.path, buf[off..end].to_vec());
                off = end;
            }
        }
        self.buf = buf;
    }
}
