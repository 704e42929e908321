//! Sessions as the world tracks them: one track per session end (the client plans that
//! open them, pairing with the peer's track, how each ended) and the engine events that
//! move them (`Connected`, `Closed`, stream and datagram events, `PathChanged`). It must
//! not write or read stream data (that is `streams`) or send anything itself.

use std::time::Duration;

use stt_proto::SessionStats;
use stt_proto::error::SessionError;
use stt_proto::frame::ErrorCode;
use stt_proto::{Event, Instant, PathId, SessionHandle, StreamEvent};

use super::streams::{InStream, OutStream, StreamRecord};
use super::{Ev, World};
use crate::invariant::Violation;
use crate::payload;
use crate::scenario::Workload;
use crate::trace::Val;

/// How a session ended, from one application's point of view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum End {
    Open,
    Clean,
    Error(String),
    Crashed,
}

impl End {
    pub(super) fn describe(&self) -> String {
        match self {
            End::Open => "still open".into(),
            End::Clean => "closed cleanly".into(),
            End::Error(e) => format!("error: {e}"),
            End::Crashed => "node crashed".into(),
        }
    }
    pub(super) fn is_failure(&self) -> bool {
        matches!(self, End::Error(_) | End::Crashed)
    }
}

/// One end of one session, from its node's point of view.
pub(super) struct Track {
    pub(super) node: usize,
    pub(super) incarnation: u32,
    pub(super) handle: SessionHandle,
    pub(super) initiator: bool,
    pub(super) plan: Option<usize>,
    pub(super) peer: Option<usize>,
    pub(super) peer_track: Option<usize>,
    pub(super) up: bool,
    pub(super) end: End,
    pub(super) started: Instant,
    pub(super) workload: Workload,
    pub(super) expect_in: u32,
    pub(super) out: Vec<OutStream>,
    pub(super) inn: Vec<InStream>,
    pub(super) dg_next: u32,
    pub(super) closing: bool,
    pub(super) done: bool,
    pub(super) last_stats: SessionStats,
    pub(super) max_cwnd: u64,
    /// `packets_lost` when the flight last grew: a loss declared since lets one packet
    /// go beyond the window on entering recovery.
    pub(super) lost_at_last_growth: u64,
    /// The congestion window was seen to shrink at least once.
    pub(super) window_cut: bool,
    /// The last path the engine reported validated for this session (its first path
    /// at `Connected`, then every `PathChanged`).
    pub(super) validated_path: Option<PathId>,
}

/// A client plan's progress: sessions succeeded and failed, the one running.
pub(super) struct PlanState {
    pub(super) node: usize,
    pub(super) index: usize,
    pub(super) spec: crate::scenario::ClientPlan,
    pub(super) succeeded: u32,
    pub(super) failed: u32,
    pub(super) current: Option<usize>,
    pub(super) done: bool,
}

fn describe_close(reason: &SessionError) -> End {
    match reason {
        SessionError::LocallyClosed { code } | SessionError::ClosedByPeer { code, .. }
            if *code == ErrorCode::NO_ERROR =>
        {
            End::Clean
        }
        other => End::Error(other.to_string()),
    }
}

impl World {
    /// Starts plan `p`'s next session, unless it is done or has one running.
    pub(super) fn start_session(&mut self, p: usize) {
        if self.plans[p].done || self.plans[p].current.is_some() {
            return;
        }
        let ix = self.plans[p].node;
        let server = self.plans[p].spec.server.0;
        let server_addr = self.nodes[server].addr;
        let now = self.now;
        let incarnation = self.nodes[ix].incarnation;
        let Some(node) = self.nodes[ix].node.as_mut() else {
            return;
        };
        self.path_oracle.prove(ix, server_addr);
        match node.connect(now, PathId(server_addr)) {
            Ok(handle) => {
                let t = self.tracks.len();
                self.tracks.push(Track {
                    node: ix,
                    incarnation,
                    handle,
                    initiator: true,
                    plan: Some(p),
                    peer: Some(server),
                    peer_track: None,
                    up: false,
                    end: End::Open,
                    started: now,
                    workload: self.plans[p].spec.workload.clone(),
                    expect_in: self.nodes[server].serve.as_ref().map_or(0, |w| w.streams),
                    out: Vec::new(),
                    inn: Vec::new(),
                    dg_next: 0,
                    closing: false,
                    done: false,
                    last_stats: SessionStats::default(),
                    max_cwnd: 0,
                    lost_at_last_growth: 0,
                    window_cut: false,
                    validated_path: None,
                });
                self.nodes[ix].tracks.push(t);
                self.plans[p].current = Some(t);
                self.trace.record(
                    now.as_micros(),
                    "connect",
                    &[
                        ("node", Val::U(ix as u64)),
                        ("session", Val::U(t as u64)),
                        ("server", Val::U(server as u64)),
                    ],
                );
                self.service(ix);
            }
            Err(e) => {
                let text = e.to_string();
                self.trace.record(
                    now.as_micros(),
                    "connect_error",
                    &[("node", Val::U(ix as u64)), ("error", Val::S(&text))],
                );
                self.plan_session_ended(p, false);
            }
        }
    }

    /// Counts plan `p`'s session as succeeded or failed and starts the next one if due.
    pub(super) fn plan_session_ended(&mut self, p: usize, success: bool) {
        let plan = &mut self.plans[p];
        plan.current = None;
        if success {
            plan.succeeded += 1;
        } else {
            plan.failed += 1;
        }
        let more = if plan.spec.retry_on_error {
            plan.succeeded < plan.spec.sessions && plan.failed < plan.spec.sessions * 4 + 4
        } else {
            plan.succeeded + plan.failed < plan.spec.sessions
        };
        if more {
            let at = self.now;
            self.schedule(at, Ev::PlanStart(p));
        } else {
            plan.done = true;
        }
    }

    /// The track of `handle` among node `ix`'s sessions.
    pub(super) fn find_track(&self, ix: usize, handle: SessionHandle) -> Option<usize> {
        self.nodes[ix]
            .tracks
            .iter()
            .copied()
            .find(|&t| self.tracks[t].handle == handle)
    }

    /// Updates the tracks for one engine event of node `ix` and checks it.
    pub(super) fn on_event(&mut self, ix: usize, ev: Event) {
        let now = self.now;
        let t_us = now.as_micros();
        match ev {
            Event::Connected {
                session,
                peer,
                initiator,
            } => {
                let peer_ix = self.nodes.iter().position(|n| n.node_id == peer);
                let Some(peer_ix) = peer_ix else {
                    self.violate(Violation::UnknownPeer { node: ix });
                    return;
                };
                if !self.nodes[peer_ix].member || !self.nodes[ix].member {
                    self.violate(Violation::NonMemberAdmitted {
                        node: ix,
                        peer: peer_ix,
                    });
                }
                let t = if initiator {
                    let Some(t) = self.find_track(ix, session) else {
                        return;
                    };
                    let hs = now.saturating_duration_since(self.tracks[t].started);
                    self.handshake_times.push(hs);
                    t
                } else {
                    // Pair with the newest unpaired session the peer opened to us.
                    let peer_track = self.nodes[peer_ix]
                        .tracks
                        .iter()
                        .rev()
                        .copied()
                        .find(|&pt| {
                            let tr = &self.tracks[pt];
                            tr.initiator && tr.peer == Some(ix) && tr.peer_track.is_none()
                        });
                    let expect_in = peer_track.map_or(0, |pt| self.tracks[pt].workload.streams);
                    let t = self.tracks.len();
                    self.tracks.push(Track {
                        node: ix,
                        incarnation: self.nodes[ix].incarnation,
                        handle: session,
                        initiator: false,
                        plan: None,
                        peer: Some(peer_ix),
                        peer_track,
                        up: false,
                        end: End::Open,
                        started: now,
                        workload: self.nodes[ix].serve.clone().unwrap_or_else(Workload::none),
                        expect_in,
                        out: Vec::new(),
                        inn: Vec::new(),
                        dg_next: 0,
                        closing: false,
                        done: false,
                        last_stats: SessionStats::default(),
                        max_cwnd: 0,
                        lost_at_last_growth: 0,
                        window_cut: false,
                        validated_path: None,
                    });
                    if let Some(pt) = peer_track {
                        self.tracks[pt].peer_track = Some(t);
                    }
                    self.nodes[ix].tracks.push(t);
                    t
                };
                let path = self.nodes[ix]
                    .node
                    .as_mut()
                    .and_then(|n| n.session(session).map(|mut s| s.path()));
                if let Some(p) = path {
                    self.path_oracle.prove(ix, p.0);
                }
                let tr = &mut self.tracks[t];
                tr.up = true;
                tr.validated_path = path;
                for _ in 0..tr.workload.streams {
                    let key = self.records.len();
                    self.records.push(StreamRecord {
                        sender: t,
                        sender_node: ix,
                        receiver: None,
                        total: tr.workload.bytes_per_stream,
                        written: 0,
                        got: 0,
                        fin: false,
                    });
                    tr.out.push(OutStream {
                        id: None,
                        key,
                        written: 0,
                        total: tr.workload.bytes_per_stream,
                        finished: false,
                        acked: false,
                        dead: false,
                        chunk: Vec::new(),
                        chunk_pos: 0,
                    });
                }
                if tr.workload.datagrams > 0 {
                    self.schedule(now, Ev::Datagram(t));
                }
                self.trace.record(
                    t_us,
                    "connected",
                    &[
                        ("node", Val::U(ix as u64)),
                        ("session", Val::U(t as u64)),
                        ("peer", Val::U(peer_ix as u64)),
                        ("initiator", Val::B(initiator)),
                    ],
                );
                self.apps_connected(t);
            }
            Event::Closed { session, reason } => {
                let Some(t) = self.find_track(ix, session) else {
                    return;
                };
                let end = describe_close(&reason);
                let text = reason.to_string();
                self.session_ends.push(crate::report::SessionEnd {
                    node: ix,
                    at: Duration::from_micros(t_us),
                    reason: reason.clone(),
                });
                self.trace.record(
                    t_us,
                    "closed",
                    &[
                        ("node", Val::U(ix as u64)),
                        ("session", Val::U(t as u64)),
                        ("reason", Val::S(&text)),
                    ],
                );
                self.nodes[ix].tracks.retain(|&x| x != t);
                let tr = &mut self.tracks[t];
                tr.up = false;
                tr.end = end.clone();
                if let Some(p) = tr.plan {
                    let success = end == End::Clean && tr.done;
                    if self.plans[p].current == Some(t) {
                        self.plan_session_ended(p, success);
                    }
                }
            }
            Event::Stream { session, event } => {
                let Some(t) = self.find_track(ix, session) else {
                    return;
                };
                let (name, id) = match &event {
                    StreamEvent::Opened { id, .. } => ("opened", id.0),
                    StreamEvent::Readable(id) => ("readable", id.0),
                    StreamEvent::Writable(id) => ("writable", id.0),
                    StreamEvent::Finished(id) => ("finished", id.0),
                    StreamEvent::Stopped { id, .. } => ("stopped", id.0),
                    StreamEvent::Reset { id, .. } => ("reset", id.0),
                    StreamEvent::Available(_) => ("available", 0),
                    StreamEvent::Expired(id) => ("expired", id.0),
                };
                if !matches!(event, StreamEvent::Readable(_) | StreamEvent::Writable(_)) {
                    self.trace.record(
                        t_us,
                        "stream",
                        &[
                            ("node", Val::U(ix as u64)),
                            ("session", Val::U(t as u64)),
                            ("what", Val::S(name)),
                            ("id", Val::U(u64::from(id))),
                        ],
                    );
                }
                if let StreamEvent::Finished(id) = event
                    && let Some(o) = self.tracks[t].out.iter_mut().find(|o| o.id == Some(id))
                {
                    o.acked = true;
                }
            }
            Event::DatagramReceived { session } => {
                let Some(t) = self.find_track(ix, session) else {
                    return;
                };
                let mut got = Vec::new();
                if let Some(mut s) = self.nodes[ix]
                    .node
                    .as_mut()
                    .and_then(|n| n.session(session))
                {
                    while let Some(d) = s.recv_datagram() {
                        got.push(d);
                    }
                }
                for d in got {
                    let ok = payload::parse_datagram(&d).filter(|&(st, seq)| {
                        self.tracks
                            .get(st as usize)
                            .is_some_and(|s| Some(s.node) == self.tracks[t].peer && seq < s.dg_next)
                    });
                    match ok {
                        Some(k) if self.dgram_seen.insert(k) => {}
                        other => {
                            let (track, seq) = other.unwrap_or((u32::MAX, u32::MAX));
                            self.violate(Violation::BadDatagram {
                                node: ix,
                                track,
                                seq,
                            });
                        }
                    }
                }
            }
            Event::PathChanged { session, path } => {
                let t = self.find_track(ix, session).unwrap_or(usize::MAX);
                if let Some(tr) = self.tracks.get_mut(t) {
                    tr.validated_path = Some(path);
                }
                if let Some(v) = self.path_oracle.on_validated(ix, path.0) {
                    self.violate(v);
                }
                self.trace.record(
                    t_us,
                    "path_changed",
                    &[
                        ("node", Val::U(ix as u64)),
                        ("session", Val::U(t as u64)),
                        ("path", Val::U(path.0)),
                    ],
                );
            }
            ev @ (Event::CustomFrame { .. } | Event::Endpoint { .. } | Event::Storage { .. }) => {
                self.apps_event(ix, ev)
            }
            Event::KeyUpdated { .. } | Event::MessagesWritable { .. } | Event::Rendezvous(_) => {}
        }
    }

    /// How track `t` ended; a session of a node that restarted since ended by crash.
    pub(super) fn end_of(&self, t: usize) -> End {
        let tr = &self.tracks[t];
        if tr.end == End::Open && self.nodes[tr.node].incarnation != tr.incarnation {
            End::Crashed
        } else {
            tr.end.clone()
        }
    }

    /// True while some session is open although its peer session ended with an error.
    pub(super) fn has_half_open(&self) -> bool {
        (0..self.tracks.len()).any(|t| {
            self.tracks[t].peer_track.is_some_and(|pt| {
                self.end_of(t) == End::Open && matches!(self.end_of(pt), End::Error(_))
            })
        })
    }
}
