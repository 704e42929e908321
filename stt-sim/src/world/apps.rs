//! The simulated applications of the primitives and their oracle: clients route
//! messages to a server's named endpoint (waiting when its small queue is full), send
//! custom frames and fetch stored objects by hash; servers drain their endpoint slowly
//! and serve objects from a [`MemoryStore`].
//!
//! Checked: every routed message and custom frame arrives exactly once and intact,
//! every route is delivered (never refused), every fetch returns exactly the object or
//! "not found" for a missing hash; at the end, nothing sent on a cleanly closed session
//! was lost. All state is keyed by world track and node indices; nothing here draws
//! randomness.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use stt_proto::error::{CustomFrameError, FetchError, RouteError};
use stt_proto::storage::{MemoryStore, ObjectStore, StorageKey, StoreLimits};
use stt_proto::{
    ContentHash, EndpointEvent, EndpointId, Event, FetchId, Instant, RouteId, RouteMode,
    StorageEvent,
};

use super::{End, Ev, World, us};
use crate::invariant::Violation;
use crate::payload;
use crate::scenario::{APPS_ENDPOINT, AppsServer, AppsWorkload};

/// Fetches a client keeps running at once.
const FETCHES_AT_ONCE: usize = 2;

/// One client session's application traffic.
#[derive(Debug)]
pub(super) struct ClientApps {
    server: usize,
    spec: AppsWorkload,
    next_route: u32,
    next_custom: u32,
    next_fetch: u32,
    routes: BTreeMap<RouteId, u32>,
    delivered: u32,
    delivered_seqs: BTreeSet<u32>,
    /// Fetch → index of the expected object (`None`: a missing hash).
    fetches: BTreeMap<FetchId, Option<u32>>,
    fetched: u32,
}

/// (client track, sequence) pairs a server received.
type Seen = BTreeSet<(u32, u32)>;

/// One server node's endpoint, store and what it received.
#[derive(Debug)]
pub(super) struct ServerApps {
    spec: AppsServer,
    endpoint: EndpointId,
    store: MemoryStore,
    routes_seen: Seen,
    customs_seen: Seen,
}

/// Application state of the whole world.
#[derive(Debug, Default)]
pub(super) struct AppsState {
    clients: BTreeMap<usize, ClientApps>,
    servers: BTreeMap<usize, ServerApps>,
}

impl AppsState {
    /// True if the track has no application traffic left to finish.
    pub(super) fn done(&self, track: usize) -> bool {
        let Some(c) = self.clients.get(&track) else {
            return true;
        };
        c.delivered == c.spec.routes
            && c.next_custom == c.spec.custom_frames
            && c.fetched == c.spec.fetches
    }
}

/// Oracle key of server `node`'s object `i`.
fn object_key(node: usize, i: u32) -> u64 {
    0x0b1e_c700_0000_0000 | ((node as u64) << 20) | u64::from(i)
}

/// The bytes of server `node`'s object `i`.
fn object(node: usize, spec: &AppsServer, i: u32) -> Vec<u8> {
    let mut buf = vec![0u8; spec.object_size * (i as usize + 1)];
    payload::fill_stream(object_key(node, i), 0, &mut buf);
    buf
}

/// The hash a fetch `j` asks for, and which object that is (`None`: missing).
fn fetch_target(node: usize, spec: &AppsServer, j: u32) -> (ContentHash, Option<u32>) {
    let i = j % (spec.objects + 1);
    if i == spec.objects {
        let missing = object_key(node, u32::MAX).to_le_bytes();
        (ContentHash::of(&missing), None)
    } else {
        (ContentHash::of(&object(node, spec, i)), Some(i))
    }
}

impl World {
    /// After (re)booting node `ix`: an apps server registers its endpoint, stores its
    /// objects and starts draining.
    pub(super) fn apps_boot(&mut self, ix: usize) {
        let Some(spec) = self.scenario.nodes[ix].apps_server.clone() else {
            return;
        };
        let now = self.now;
        let seed = self.nodes[ix].identity_seed;
        let Ok(key) = StorageKey::from_node_seed(&seed) else {
            return;
        };
        let mut store = MemoryStore::new(key, seed, StoreLimits::default());
        for i in 0..spec.objects {
            if let Err(e) = store.put(&object(ix, &spec, i)) {
                self.violate(Violation::App {
                    node: ix,
                    what: format!("store rejected object {i}: {e}"),
                });
            }
        }
        let Some(node) = self.nodes[ix].node.as_mut() else {
            return;
        };
        node.set_storage_serving(true);
        let endpoint = match node.register_endpoint(now, APPS_ENDPOINT, spec.queue) {
            Ok(id) => id,
            Err(e) => {
                self.violate(Violation::App {
                    node: ix,
                    what: format!("register: {e}"),
                });
                return;
            }
        };
        let first = self.servers_seen(ix);
        self.apps.servers.insert(
            ix,
            ServerApps {
                spec: spec.clone(),
                endpoint,
                store,
                routes_seen: first.0,
                customs_seen: first.1,
            },
        );
        let at = Instant::from_micros(now.as_micros() + us(spec.drain_every).max(1));
        self.schedule(at, Ev::Drain(ix));
    }

    /// What a restarted server had already received (the oracle keeps it).
    fn servers_seen(&mut self, ix: usize) -> (Seen, Seen) {
        match self.apps.servers.remove(&ix) {
            Some(s) => (s.routes_seen, s.customs_seen),
            None => Default::default(),
        }
    }

    /// A client track came up with application traffic to send.
    pub(super) fn apps_connected(&mut self, t: usize) {
        let tr = &self.tracks[t];
        let (Some(spec), Some(server)) = (tr.workload.apps.clone(), tr.peer) else {
            return;
        };
        if !tr.initiator || self.scenario.nodes[server].apps_server.is_none() {
            return;
        }
        self.apps.clients.insert(
            t,
            ClientApps {
                server,
                spec,
                next_route: 0,
                next_custom: 0,
                next_fetch: 0,
                routes: BTreeMap::new(),
                delivered: 0,
                delivered_seqs: BTreeSet::new(),
                fetches: BTreeMap::new(),
                fetched: 0,
            },
        );
        self.schedule(self.now, Ev::AppsTick(t));
    }

    /// Sends one more of each kind of message the client track has left.
    pub(super) fn apps_tick(&mut self, t: usize) {
        let now = self.now;
        let (ix, handle, up) = {
            let tr = &self.tracks[t];
            (tr.node, tr.handle, tr.up)
        };
        if !up {
            return;
        }
        let World {
            nodes,
            apps,
            violations,
            ..
        } = self;
        let Some(c) = apps.clients.get_mut(&t) else {
            return;
        };
        let Some(server) = apps.servers.get(&c.server) else {
            return;
        };
        let endpoint = server.endpoint;
        let Some(mut s) = nodes[ix].node.as_mut().and_then(|n| n.session(handle)) else {
            return;
        };
        if c.next_route < c.spec.routes {
            let body = payload::datagram(t as u32, c.next_route, c.spec.payload);
            match s.route(now, endpoint, Bytes::from(body), RouteMode::Wait) {
                Ok(r) => {
                    c.routes.insert(r, c.next_route);
                    c.next_route += 1;
                }
                Err(RouteError::Blocked) => {}
                Err(e) => violations.push(Violation::App {
                    node: ix,
                    what: format!("route refused locally: {e}"),
                }),
            }
        }
        if c.next_custom < c.spec.custom_frames {
            let body = payload::datagram(t as u32, c.next_custom, c.spec.payload);
            let ty = 0x80 | (c.next_custom % 128) as u8;
            match s.send_custom_frame(now, ty, &body) {
                Ok(()) => c.next_custom += 1,
                Err(CustomFrameError::Blocked) => {}
                Err(e) => violations.push(Violation::App {
                    node: ix,
                    what: format!("custom frame refused locally: {e}"),
                }),
            }
        }
        if c.next_fetch < c.spec.fetches && c.fetches.len() < FETCHES_AT_ONCE {
            let (hash, expect) = fetch_target(c.server, &server.spec, c.next_fetch);
            let max = (server.spec.object_size * (server.spec.objects as usize + 1)) as u64;
            if let Ok(f) = s.fetch(now, hash, max) {
                c.fetches.insert(f, expect);
                c.next_fetch += 1;
            }
        }
        let more = c.next_route < c.spec.routes
            || c.next_custom < c.spec.custom_frames
            || c.next_fetch < c.spec.fetches;
        let at = Instant::from_micros(now.as_micros() + us(c.spec.interval).max(1));
        if more {
            self.schedule(at, Ev::AppsTick(t));
        }
        self.service(ix);
    }

    /// A server takes one message off its endpoint queue.
    pub(super) fn apps_drain(&mut self, ix: usize) {
        let now = self.now;
        let Some(srv) = self.apps.servers.get(&ix) else {
            return;
        };
        let (endpoint, every) = (srv.endpoint, srv.spec.drain_every);
        let msg = self.nodes[ix]
            .node
            .as_mut()
            .and_then(|n| n.endpoint_recv(now, endpoint));
        if let Some(m) = msg {
            self.apps_check_route(ix, &m.payload);
        }
        if self.nodes[ix].node.is_some() {
            let at = Instant::from_micros(now.as_micros() + us(every).max(1));
            self.schedule(at, Ev::Drain(ix));
        }
        self.service(ix);
    }

    fn apps_check_route(&mut self, ix: usize, body: &[u8]) {
        let ok = payload::parse_datagram(body).filter(|(track, seq)| {
            self.apps
                .clients
                .get(&(*track as usize))
                .is_some_and(|c| c.server == ix && *seq < c.next_route)
        });
        let fresh = match ok {
            Some(k) => self
                .apps
                .servers
                .get_mut(&ix)
                .is_some_and(|s| s.routes_seen.insert(k)),
            None => false,
        };
        if !fresh {
            self.violate(Violation::App {
                node: ix,
                what: format!("routed message {ok:?} forged or delivered twice"),
            });
        }
    }

    /// Application events of node `ix`.
    pub(super) fn apps_event(&mut self, ix: usize, ev: Event) {
        let now = self.now;
        match ev {
            Event::CustomFrame {
                frame_type,
                payload: body,
                ..
            } => {
                let ok = payload::parse_datagram(&body).filter(|(track, seq)| {
                    frame_type == 0x80 | (*seq % 128) as u8
                        && self
                            .apps
                            .clients
                            .get(&(*track as usize))
                            .is_some_and(|c| c.server == ix && *seq < c.next_custom)
                });
                let fresh = match ok {
                    Some(k) => self
                        .apps
                        .servers
                        .get_mut(&ix)
                        .is_some_and(|s| s.customs_seen.insert(k)),
                    None => false,
                };
                if !fresh {
                    self.violate(Violation::App {
                        node: ix,
                        what: format!("custom frame {ok:?} forged or delivered twice"),
                    });
                }
            }
            Event::Endpoint { session, event } => {
                let Some(t) = self.find_track(ix, session) else {
                    return;
                };
                let Some(c) = self.apps.clients.get_mut(&t) else {
                    return;
                };
                match event {
                    EndpointEvent::Delivered { route } => {
                        if let Some(seq) = c.routes.remove(&route) {
                            c.delivered += 1;
                            c.delivered_seqs.insert(seq);
                        } else {
                            self.violate(Violation::App {
                                node: ix,
                                what: format!("outcome for unknown route {route:?}"),
                            });
                        }
                    }
                    EndpointEvent::Refused { route, code } => self.violate(Violation::App {
                        node: ix,
                        what: format!("waiting route {route:?} refused with {code}"),
                    }),
                    _ => {}
                }
            }
            Event::Storage { session, event } => match event {
                StorageEvent::Requested { request, hash, .. } => {
                    let data = match self.apps.servers.get(&ix).map(|s| s.store.get(&hash)) {
                        Some(Ok(d)) => d,
                        Some(Err(e)) => {
                            self.violate(Violation::App {
                                node: ix,
                                what: format!("store: {e}"),
                            });
                            None
                        }
                        None => None,
                    };
                    if let Some(mut s) = self.nodes[ix]
                        .node
                        .as_mut()
                        .and_then(|n| n.session(session))
                        && let Err(e) = s.serve_object(now, request, data)
                    {
                        self.violate(Violation::App {
                            node: ix,
                            what: format!("serve: {e}"),
                        });
                    }
                }
                StorageEvent::Fetched { fetch, data, .. } => {
                    self.apps_fetch_done(ix, session, fetch, Ok(data))
                }
                StorageEvent::FetchFailed { fetch, error, .. } => {
                    self.apps_fetch_done(ix, session, fetch, Err(error))
                }
                StorageEvent::Hit { .. } | StorageEvent::Miss { .. } => {}
            },
            _ => {}
        }
    }

    fn apps_fetch_done(
        &mut self,
        ix: usize,
        session: stt_proto::SessionHandle,
        fetch: FetchId,
        outcome: Result<Bytes, FetchError>,
    ) {
        let Some(t) = self.find_track(ix, session) else {
            return;
        };
        let Some(c) = self.apps.clients.get_mut(&t) else {
            return;
        };
        let Some(expect) = c.fetches.remove(&fetch) else {
            return;
        };
        c.fetched += 1;
        let server = c.server;
        let spec = self.apps.servers.get(&server).map(|s| s.spec.clone());
        let right = match (expect, &outcome, spec) {
            (Some(i), Ok(data), Some(spec)) => data[..] == object(server, &spec, i)[..],
            (None, Err(FetchError::NotFound), _) => true,
            _ => false,
        };
        if !right {
            let got = outcome.map(|d| d.len());
            self.violate(Violation::App {
                node: ix,
                what: format!("fetch of object {expect:?} ended {got:?}"),
            });
        }
    }

    /// End of run: nothing sent on a session that did not fail may be missing.
    pub(super) fn apps_finish(&mut self) {
        let now = self.now;
        for (&ix, srv) in self.apps.servers.iter_mut() {
            if let Some(node) = self.nodes[ix].node.as_mut() {
                while let Some(m) = node.endpoint_recv(now, srv.endpoint) {
                    match payload::parse_datagram(&m.payload) {
                        Some(k) if srv.routes_seen.insert(k) => {}
                        other => self.violations.push(Violation::App {
                            node: ix,
                            what: format!("routed message {other:?} forged or delivered twice"),
                        }),
                    }
                }
            }
        }
        let mut found = Vec::new();
        for (&t, c) in &self.apps.clients {
            if self.end_of(t).is_failure() {
                continue;
            }
            let Some(srv) = self.apps.servers.get(&c.server) else {
                continue;
            };
            let lost_routes = c
                .delivered_seqs
                .iter()
                .filter(|seq| !srv.routes_seen.contains(&(t as u32, **seq)))
                .count();
            let lost_customs = (0..c.next_custom)
                .filter(|seq| !srv.customs_seen.contains(&(t as u32, *seq)))
                .count();
            let tr = &self.tracks[t];
            let clean = tr.end == End::Clean;
            if lost_routes > 0 || (clean && lost_customs > 0) || (clean && !self.apps.done(t)) {
                found.push(Violation::App {
                    node: tr.node,
                    what: format!(
                        "session {t} ({}): {lost_routes} delivered routes and {lost_customs} custom frames never received, {}/{} routes delivered, {}/{} fetches done",
                        tr.end.describe(),
                        c.delivered,
                        c.spec.routes,
                        c.fetched,
                        c.spec.fetches
                    ),
                });
            }
        }
        for v in found {
            self.violate(v);
        }
    }
}
