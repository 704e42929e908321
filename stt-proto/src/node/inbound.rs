//! Inbound datagrams: size and header checks, then routing by the receiver-chosen
//! session id to the responder (INIT, RESPONSE), a session, or the stateless answers
//! (VERSION, RESET). Decrypting and interpreting a session's packets is `session`'s
//! job; this file only decides who gets the datagram.

use super::{Node, OUTBOX_LIMIT};
use bytes::BytesMut;

use crate::frame::{
    DecodeError, Flags, HEADER_LEN, Header, PacketType, SessionId, StreamId, TAG_LEN,
};
use crate::handshake::admission::RemoteAddr;
use crate::ids::PathId;
use crate::time::Instant;

impl Node {
    /// Feeds one received datagram. Bad input is counted in [`NodeStats`](crate::NodeStats) and dropped;
    /// it never returns an error and never panics. The path id stands in for the remote
    /// address ([`RemoteAddr::from_path_id`]); adapters that know the address call
    /// [`Node::handle_datagram_from`], so cookies survive a recycled path id.
    pub fn handle_datagram(&mut self, now: Instant, path: PathId, datagram: BytesMut) {
        self.dispatch_datagram(now, path, &RemoteAddr::from_path_id(path.0), datagram);
    }

    pub(super) fn dispatch_datagram(
        &mut self,
        now: Instant,
        path: PathId,
        remote: &RemoteAddr,
        datagram: BytesMut,
    ) {
        if crate::frame::is_relay_datagram(&datagram) {
            if datagram.len()
                > self
                    .config
                    .max_packet_size
                    .max(crate::frame::DEFAULT_MAX_PACKET)
                    + crate::frame::RELAY_OVERHEAD
            {
                self.stats.dropped_malformed += 1;
                return;
            }
            self.handle_relay_datagram(now, path, datagram);
            return;
        }
        if datagram.len()
            > self
                .config
                .max_packet_size
                .max(crate::frame::DEFAULT_MAX_PACKET)
        {
            self.stats.dropped_malformed += 1;
            return;
        }
        let header = match Header::decode(&datagram) {
            Ok(h) => h,
            Err(DecodeError::UnsupportedVersion(_)) => {
                self.stats.dropped_version += 1;
                self.answer_version(path, &datagram);
                return;
            }
            Err(_) => {
                self.stats.dropped_malformed += 1;
                return;
            }
        };
        match header.packet_type {
            PacketType::Init => self.handle_init(now, path, remote, &datagram),
            PacketType::InitHybrid => self.handle_init_fragment(now, path, remote, &datagram),
            PacketType::Response => self.handle_response(now, path, &header, &datagram),
            PacketType::Challenge
            | PacketType::ChallengeHybrid
            | PacketType::Refuse
            | PacketType::Cookie
            | PacketType::Version => {
                let Some(index) = self.lookup(header.session_id) else {
                    self.stats.dropped_unknown_session += 1;
                    return;
                };
                let config = self.config.clone();
                let mut established = false;
                if let Some(s) = self.slots[index as usize].session.as_mut() {
                    let was_handshaking = s.is_handshaking();
                    s.handle_handshake_packet(now, &header, &datagram, &config, &mut self.stats);
                    established = was_handshaking && s.is_established();
                }
                if established {
                    self.stats.sessions_connected += 1;
                    self.count_mode(index);
                    self.index_peer_id(index);
                }
                self.touch(index, now);
            }
            PacketType::Data | PacketType::Confirm => {
                if datagram.len() < HEADER_LEN + TAG_LEN {
                    self.stats.dropped_malformed += 1;
                    return;
                }
                let Some(index) = self.lookup(header.session_id) else {
                    self.stats.dropped_unknown_session += 1;
                    self.answer_reset(now, path, header.session_id, datagram.len());
                    return;
                };
                // Disjoint field borrows: no Arc clone on the per-packet path.
                let Node {
                    config,
                    slots,
                    stats,
                    rng_public,
                    rng_secret,
                    registry,
                    last_remote,
                    ..
                } = self;
                // A rendezvous answers REGISTER with the address it sees (§12.2).
                let serving = config.rendezvous.serve;
                if serving {
                    *last_remote = Some((path, *remote));
                }
                if let Some(s) = slots[index as usize].session.as_mut() {
                    s.handle_packet(
                        now, path, &header, datagram, config, stats, rng_public, rng_secret,
                    );
                    // Only a proven path's address: a spoofed copy of a member's packet
                    // moves its session, but must not become the address the rendezvous
                    // hands out (punch probes would go there, PROTOCOL.md §12.4).
                    if serving && s.proven_path() == Some(path) {
                        registry.observe(s.handle(), remote);
                    }
                }
                self.touch(index, now);
                self.last_remote = None;
            }
            PacketType::Reset => self.handle_reset(now, &header, &datagram),
        }
    }

    pub(super) fn lookup(&self, id: SessionId) -> Option<u32> {
        self.by_local_id.get(&id).copied()
    }

    pub(super) fn answer_version(&mut self, path: PathId, datagram: &[u8]) {
        // Only an INIT-shaped packet gets an answer, and it is smaller than the INIT.
        if datagram.len() < 64 || datagram[2] != PacketType::Init as u8 {
            return;
        }
        if self.outbox.len() >= OUTBOX_LIMIT {
            return;
        }
        let sid = crate::frame::route_key(datagram).unwrap_or_default();
        let header = Header {
            packet_type: PacketType::Version,
            session_id: sid,
            stream_id: StreamId::CONTROL,
            sequence: 0,
            flags: Flags::new(false),
        };
        let mut out = header.to_bytes().to_vec();
        out.push(crate::frame::VERSION);
        self.outbox.push_back((path, out));
    }
}
