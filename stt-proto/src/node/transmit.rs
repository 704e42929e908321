//! Outbound: stateless replies first, then sessions in round-robin with GSO batching
//! of equal-size packets; and `collect`, which after any activity moves a session's
//! events and metric records to the node's queues and frees closed sessions.

use super::{Node, Transmit};
use crate::config::MAX_QUEUED_METRICS;
use crate::crypto::AEAD_BLOCK;
use crate::event::MetricRecord;
use crate::session::Control;
use crate::session::NodeServices;
use crate::time::Instant;

impl Node {
    /// Writes the next datagram into `buf` (which should hold at least the maximum
    /// packet size). If `buf` has room for several packets, equal-size packets for the
    /// same path are batched (GSO) and `segment_size` is set.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        while let Some((path, bytes)) = self.outbox.pop_front() {
            let dst = buf.get_mut(..bytes.len())?;
            dst.copy_from_slice(&bytes);
            let (path, len) = if path.is_relayed() {
                match self.wrap_relayed(path, buf, bytes.len()) {
                    Some(v) => v,
                    None => continue,
                }
            } else {
                (path, bytes.len())
            };
            return Some(Transmit {
                path,
                len,
                segment_size: None,
            });
        }
        if let Some(t) = self.poll_forwarded(buf) {
            return Some(t);
        }
        let max = self.config.max_packet_size;
        while let Some(index) = self.dirty.pop_front() {
            let config = &*self.config;
            let Some(s) = self.slots[index as usize].session.as_mut() else {
                self.slots[index as usize].queued = false;
                continue;
            };
            let Some((path, len)) = s.poll_transmit(now, buf, config) else {
                self.slots[index as usize].queued = false;
                self.mark_timer(index);
                self.collect(index);
                continue;
            };
            if path.is_relayed() {
                // One packet per transmit: each needs its own relay header.
                self.dirty.push_back(index);
                self.mark_timer(index);
                self.collect(index);
                let Some((to, total)) = self.wrap_relayed(path, buf, len) else {
                    continue;
                };
                return Some(Transmit {
                    path: to,
                    len: total,
                    segment_size: None,
                });
            }
            let mut total = len;
            let mut segments = 1;
            // Batch more full packets from the same session on the same path. A full
            // data packet ends on an AEAD block, so it may be up to 15 bytes short of
            // `max`; the first one sets the segment size and later ones get no more
            // room than that, so only the last of a batch can be shorter (GSO's rule).
            if len + AEAD_BLOCK > max {
                while total + len <= buf.len() && s.head_fits(len) {
                    match s.poll_transmit(now, &mut buf[total..total + len], config) {
                        Some((p, l)) if p == path => {
                            total += l;
                            segments += 1;
                            if l != len {
                                break;
                            }
                        }
                        Some(_) | None => break,
                    }
                }
            }
            // It may have more: keep it in the rotation.
            self.dirty.push_back(index);
            self.mark_timer(index);
            self.collect(index);
            return Some(Transmit {
                path,
                len: total,
                segment_size: (segments > 1).then_some(len),
            });
        }
        None
    }

    /// Forwarded relay datagrams (PROTOCOL.md §12.3), equal-size ones to the same path
    /// batched for GSO.
    fn poll_forwarded(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        let (path, first) = self.relay_queue.pop_front()?;
        let size = first.len();
        let Some(head) = buf.get_mut(..size) else {
            // A buffer below the largest datagram (`poll_transmit`'s contract) cannot
            // take this one, now or later.
            self.stats.relay_dropped_queue_full += 1;
            return None;
        };
        head.copy_from_slice(&first);
        let mut total = size;
        let mut segments = 1;
        while let Some((p, next)) = self.relay_queue.front() {
            if *p != path || next.len() > size || total + next.len() > buf.len() {
                break;
            }
            let len = next.len();
            buf[total..total + len].copy_from_slice(next);
            self.relay_queue.pop_front();
            total += len;
            segments += 1;
            if len != size {
                break;
            }
        }
        Some(Transmit {
            path,
            len: total,
            segment_size: (segments > 1).then_some(size),
        })
    }

    pub(super) fn collect(&mut self, index: u32) {
        if let Some(s) = self.slots[index as usize].session.as_ref()
            && s.just_connected()
        {
            self.start_punch_if_known(index);
        }
        self.collect_rendezvous(index);
        self.collect_session(index);
        if !self.rdv_pending.is_empty() {
            self.answer_rendezvous();
        }
    }

    fn collect_session(&mut self, index: u32) {
        let Node {
            slots,
            endpoints,
            serve_storage,
            config,
            stats,
            metrics,
            events,
            ..
        } = self;
        let slot = &mut slots[index as usize];
        let Some(s) = slot.session.as_mut() else {
            return;
        };
        s.answer_inbound(
            &config.transport,
            NodeServices {
                endpoints,
                serve_storage: *serve_storage,
                stats,
            },
        );
        s.flush_stream_events();
        if endpoints.len() > 0 && s.just_connected() {
            // A new session learns every endpoint this node serves.
            for endpoint in endpoints.ids() {
                s.queue_control(Control::EndpointRegister {
                    endpoint,
                    registered: true,
                });
            }
        }
        let session = s.handle();
        s.drain_metrics(|time, metric| {
            if metrics.len() >= MAX_QUEUED_METRICS {
                metrics.pop_front();
                stats.metrics_dropped += 1;
            }
            metrics.push_back(MetricRecord {
                session,
                time,
                metric,
            });
        });
        let taken = s.take_events();
        if !taken.is_empty() {
            events.extend(taken);
        }
        if s.is_closed() {
            let local = s.local_id();
            let peer = s.peer_session();
            endpoints.forget_session(session);
            self.registry.forget(session);
            self.relay.forget(session);
            self.rdv_client.forget_relay(session);
            slot.session = None;
            slot.deadline = None;
            slot.generation = slot.generation.wrapping_add(1);
            self.by_local_id.remove(&local);
            self.unindex_peer_id(index, peer);
            self.free.push(index);
        }
    }
}
