//! The network: per-direction links created on first use from the scenario, routing a
//! node's datagram to the node that owns the destination address (and the wire checks
//! on the way: plaintext scan, packet numbers never repeated, path oracle, capture for
//! injectors), and delivering or dropping it on arrival. It must not drive applications
//! or judge sessions.

use bytes::BytesMut;
use stt_proto::PathId;

use super::{Ev, World};
use crate::invariant::Violation;
use crate::link::{Delivery, DropReason, Link};
use crate::payload;
use crate::rng::{FNV_OFFSET, fnv1a};
use crate::trace::Val;

/// The receiver's session id and the sequence of a protected packet (CONFIRM 0x04 or
/// DATA 0x10; PROTOCOL.md §2.1), read from its clear header; `None` for anything else.
fn protected_packet_number(bytes: &[u8]) -> Option<(u64, u32)> {
    let header = bytes.get(..20)?;
    if &header[..2] != b"ST" || !matches!(header[2], 0x04 | 0x10) {
        return None;
    }
    let session_id = u64::from_be_bytes(header[3..11].try_into().ok()?);
    let sequence = u32::from_be_bytes(header[15..19].try_into().ok()?);
    Some((session_id, sequence))
}

impl World {
    /// Hands a datagram that arrived to node `to` at `to_addr`, or drops it (crashed
    /// node, address no longer its own).
    pub(super) fn deliver(
        &mut self,
        to: usize,
        to_addr: u64,
        from_addr: u64,
        bytes: Vec<u8>,
        corrupted: bool,
        duplicate: bool,
    ) {
        let now = self.now.as_micros();
        let reason = if self.nodes[to].node.is_none() {
            Some(DropReason::Crashed)
        } else if self.addr_owner.get(&to_addr) != Some(&to) {
            Some(DropReason::OldAddress)
        } else {
            None
        };
        if let Some(r) = reason {
            *self.drops.entry(r.name()).or_default() += 1;
            self.trace.record(
                now,
                "drop",
                &[
                    ("to", Val::U(to as u64)),
                    ("len", Val::U(bytes.len() as u64)),
                    ("reason", Val::S(r.name())),
                ],
            );
            return;
        }
        self.trace.record(
            now,
            "recv",
            &[
                ("node", Val::U(to as u64)),
                ("path", Val::U(from_addr)),
                ("len", Val::U(bytes.len() as u64)),
                ("corrupt", Val::B(corrupted)),
                ("dup", Val::B(duplicate)),
            ],
        );
        // Packet type RESPONSE (0x03) in the clear header after the magic "ST".
        if bytes.get(..3) == Some(&b"ST\x03"[..]) {
            self.nodes[to].got_response = true;
        }
        if let Some(node) = self.nodes[to].node.as_mut() {
            node.handle_datagram(self.now, PathId(from_addr), BytesMut::from(&bytes[..]));
        }
        self.service(to);
    }

    /// The link from node `from` to node `to`, created on first use.
    pub(super) fn link(&mut self, from: usize, to: usize) -> &mut Link {
        let scenario = &self.scenario;
        let rng = &self.rng;
        self.links.entry((from, to)).or_insert_with(|| {
            let config = scenario
                .links
                .iter()
                .rev()
                .find(|(f, t, _)| f.0 == from && t.0 == to)
                .map_or_else(|| scenario.default_link.clone(), |(_, _, c)| c.clone());
            Link::new(config, rng.fork(&format!("link {from}->{to}")))
        })
    }

    /// Sends a datagram from node `from` to the address named by `path`.
    pub(super) fn route(&mut self, from: usize, path: PathId, bytes: Vec<u8>) {
        let now = self.now;
        self.wire_packets += 1;
        self.wire_bytes += bytes.len() as u64;
        if payload::contains_canary(&bytes) {
            self.violate(Violation::Plaintext {
                node: from,
                len: bytes.len(),
            });
        }
        let from_addr = self.nodes[from].addr;
        if let Some((session_id, sequence)) = protected_packet_number(&bytes) {
            let key = (from, self.nodes[from].incarnation, session_id, sequence);
            if !self.sent_pns.insert(key) {
                self.violate(Violation::NonceReuse {
                    node: from,
                    session_id,
                    sequence,
                });
            }
        }
        if let Some(v) = self.path_oracle.on_send(from, path.0, bytes.len()) {
            self.violate(v);
        }
        let h = fnv1a(&bytes, FNV_OFFSET);
        self.trace.record(
            now.as_micros(),
            "send",
            &[
                ("node", Val::U(from as u64)),
                ("to", Val::U(path.0)),
                ("len", Val::U(bytes.len() as u64)),
                ("hash", Val::U(h)),
            ],
        );
        if self.muted.get(&from).is_some_and(|&until| now < until) {
            self.record_drop(from, path.0, bytes.len(), DropReason::Muted);
            return;
        }
        let Some(&to) = self.addr_owner.get(&path.0) else {
            let r = if self.old_addrs.contains(&path.0) {
                DropReason::OldAddress
            } else {
                DropReason::NoRoute
            };
            self.record_drop(from, path.0, bytes.len(), r);
            return;
        };
        if self.injectors.iter().any(|i| i.spec.target.0 == to) {
            if self.captured.len() >= 64 {
                self.captured.pop_front();
            }
            self.captured.push_back((to, from_addr, bytes.clone()));
        }
        let mut out: Vec<Delivery> = Vec::new();
        let len = bytes.len();
        match self.link(from, to).send(now, bytes, &mut out) {
            Ok(()) => {
                for d in out {
                    self.schedule(
                        d.at,
                        Ev::Deliver {
                            from: Some(from),
                            sent_at: now,
                            to,
                            to_addr: path.0,
                            from_addr,
                            bytes: d.bytes,
                            corrupted: d.corrupted,
                            duplicate: d.duplicate,
                        },
                    );
                }
            }
            Err(r) => self.record_drop(from, path.0, len, r),
        }
    }

    fn record_drop(&mut self, from: usize, to: u64, len: usize, r: DropReason) {
        *self.drops.entry(r.name()).or_default() += 1;
        self.trace.record(
            self.now.as_micros(),
            "drop",
            &[
                ("node", Val::U(from as u64)),
                ("to", Val::U(to)),
                ("len", Val::U(len as u64)),
                ("reason", Val::S(r.name())),
            ],
        );
    }
}
