//! Faults: the scenario's scheduled actions (partitions and heals, link changes, NAT
//! rebindings, crashes and restarts, attacks) and the off-path injectors (random,
//! forged, replayed and bit-flipped packets). It must not check outcomes; the checks
//! judge what the faults caused.

use stt_proto::Instant;
use stt_proto::frame::{Flags, Header, PacketType, SessionId, StreamId};

use super::{End, Ev, World, us};
use crate::invariant::Violation;
use crate::rng::SimRng;
use crate::scenario::{Action, NodeIx};
use crate::trace::Val;

/// One off-path injector: its spec, its own RNG, packets sent, its address.
pub(super) struct InjState {
    pub(super) spec: crate::scenario::InjectorSpec,
    pub(super) rng: SimRng,
    pub(super) sent: u32,
    pub(super) addr: u64,
}

impl World {
    /// Applies the scenario's scheduled action number `i`.
    pub(super) fn action(&mut self, i: usize) {
        let Some((_, action)) = self.scenario.schedule.get(i).cloned() else {
            return;
        };
        let now = self.now.as_micros();
        let text = format!("{action:?}");
        self.trace.record(now, "action", &[("what", Val::S(&text))]);
        match action {
            Action::Partition(a, b) | Action::Heal(a, b) => {
                let up = matches!(action, Action::Heal(..));
                for (x, y) in [(a, b), (b, a)] {
                    self.link(x.0, y.0).config.up = up;
                }
            }
            Action::SetLink { from, to, config } => {
                self.link(from.0, to.0).config = config;
            }
            Action::Rebind {
                node,
                old_still_reaches,
            } => {
                let Some(n) = self.nodes.get_mut(node.0) else {
                    return;
                };
                let old = n.addr;
                n.addr = self.next_addr;
                self.next_addr += 1;
                self.addr_owner.insert(n.addr, node.0);
                if !old_still_reaches {
                    self.addr_owner.remove(&old);
                    self.old_addrs.insert(old);
                }
            }
            Action::Crash(NodeIx(ix)) => {
                if ix >= self.nodes.len() {
                    return;
                }
                self.nodes[ix].node = None;
                self.path_oracle.forget(ix);
                for t in std::mem::take(&mut self.nodes[ix].tracks) {
                    if self.tracks[t].end == End::Open {
                        self.tracks[t].end = End::Crashed;
                        self.tracks[t].up = false;
                    }
                }
                for p in self.nodes[ix].plans.clone() {
                    self.plans[p].current = None;
                }
            }
            Action::Attack { node, attack } => self.attack(node.0, attack),
            Action::Restart(NodeIx(ix)) => {
                if ix >= self.nodes.len() || self.nodes[ix].node.is_some() {
                    return;
                }
                self.nodes[ix].incarnation += 1;
                if let Err(e) = self.boot(ix) {
                    self.violate(Violation::Panic(e.to_string()));
                    return;
                }
                for p in self.nodes[ix].plans.clone() {
                    if !self.plans[p].done && self.plans[p].current.is_none() {
                        self.start_session(p);
                    }
                }
            }
        }
    }

    /// Injector `i` sends one packet to its target and schedules its next.
    pub(super) fn inject(&mut self, i: usize) {
        let target = self.injectors[i].spec.target.0;
        let Some(&target_addr) = self.nodes.get(target).map(|n| &n.addr) else {
            return;
        };
        let own_addr = self.injectors[i].addr;
        let captured: Vec<(u64, Vec<u8>)> = self
            .captured
            .iter()
            .filter(|c| c.0 == target)
            .map(|c| (c.1, c.2.clone()))
            .collect();
        let inj = &mut self.injectors[i];
        let kind = inj.rng.below(4);
        let (kind_name, from_addr, bytes) = match (kind, captured.is_empty()) {
            (2, false) | (3, false) => {
                let (from, mut b) = captured[inj.rng.below(captured.len() as u64) as usize].clone();
                if kind == 3 && b.len() > 20 {
                    let bit = 160 + inj.rng.below((b.len() as u64 - 20) * 8);
                    b[(bit / 8) as usize] ^= 1 << (bit % 8);
                    ("flip", from, b)
                } else {
                    ("replay", from, b)
                }
            }
            (1, false) => {
                let (_, c) = &captured[inj.rng.below(captured.len() as u64) as usize];
                let mut b = c.clone();
                if b.len() > 20 {
                    inj.rng.fill(&mut b[20..]);
                }
                ("forged_body", own_addr, b)
            }
            _ => {
                let types = [
                    PacketType::Init,
                    PacketType::Challenge,
                    PacketType::Response,
                    PacketType::Confirm,
                    PacketType::Cookie,
                    PacketType::Reset,
                    PacketType::Version,
                    PacketType::Data,
                ];
                let header = Header {
                    packet_type: types[inj.rng.below(types.len() as u64) as usize],
                    session_id: SessionId(inj.rng.next_u64()),
                    stream_id: StreamId(inj.rng.next_u64() as u32),
                    sequence: inj.rng.next_u64() as u32,
                    flags: Flags::new(false),
                };
                let mut b = vec![0u8; 20 + inj.rng.below(1300) as usize];
                b[..20].copy_from_slice(&header.to_bytes());
                inj.rng.fill(&mut b[20..]);
                ("random", own_addr, b)
            }
        };
        inj.sent += 1;
        let again = inj.sent < inj.spec.count;
        let interval = us(inj.spec.interval).max(1);
        self.trace.record(
            self.now.as_micros(),
            "inject",
            &[
                ("node", Val::U(target as u64)),
                ("kind", Val::S(kind_name)),
                ("len", Val::U(bytes.len() as u64)),
            ],
        );
        let at = Instant::from_micros(self.now.as_micros() + 1000);
        self.schedule(
            at,
            Ev::Deliver {
                from: None,
                sent_at: self.now,
                to: target,
                to_addr: target_addr,
                from_addr,
                bytes,
                corrupted: false,
                duplicate: false,
            },
        );
        if again {
            let next = Instant::from_micros(self.now.as_micros() + interval);
            self.schedule(next, Ev::Inject(i));
        }
    }
}
