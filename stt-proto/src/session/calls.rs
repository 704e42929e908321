//! Application calls that reach an established session's message and storage state
//! (routes and resolves to the peer's endpoints, custom frames, storage fetch, cancel
//! and serve), and the node's answers to what the peer asked of it. `SessionRef` (in
//! `node`) checks node-wide arguments and calls these; the windows and frames they
//! drive live in `messages.rs` and `fetch.rs`.

use alloc::vec::Vec;
use bytes::Bytes;

use super::{Answer, Conn, Control, Inbound, Session, messages_of};
use crate::config::TransportConfig;
use crate::endpoint::{EndpointMessage, Offer, Registry, RouteMode};
use crate::error::{CustomFrameError, FetchStartError, ResolveError, RouteError, ServeError};
use crate::event::{EndpointEvent, Event, StorageEvent};
use crate::frame::{EndpointId, ErrorCode, ResolveKind};
use crate::ids::RouteId;
use crate::stats::NodeStats;
use crate::storage::{ContentHash, FetchId, ServeId};

/// What the node offers a session's peer: its endpoint registry and whether storage
/// requests reach the application.
pub(crate) struct NodeServices<'a> {
    /// The endpoints this node serves.
    pub endpoints: &'a mut Registry,
    /// Whether storage requests reach the application (otherwise refused "not found").
    pub serve_storage: bool,
    /// Node-wide counters of routed messages.
    pub stats: &'a mut NodeStats,
}

impl Session {
    /// The connection state, while the session is established.
    fn established_conn(&mut self) -> Option<&mut Conn> {
        if !self.is_established() {
            return None;
        }
        self.conn.as_deref_mut()
    }

    /// Queues `payload` for the peer's endpoint `endpoint`.
    pub(crate) fn send_route(
        &mut self,
        t: &TransportConfig,
        endpoint: EndpointId,
        payload: Bytes,
        mode: RouteMode,
    ) -> Result<RouteId, RouteError> {
        let handle = self.handle;
        let Some(conn) = self.established_conn() else {
            return Err(RouteError::NotConnected);
        };
        let Conn {
            messages, control, ..
        } = conn;
        messages_of(messages, handle).send_route(t, endpoint, payload, mode, control)
    }

    /// Asks the peer whether it serves `endpoint`.
    pub(crate) fn resolve(
        &mut self,
        t: &TransportConfig,
        endpoint: EndpointId,
    ) -> Result<u64, ResolveError> {
        let handle = self.handle;
        let Some(conn) = self.established_conn() else {
            return Err(ResolveError::NotConnected);
        };
        let Conn {
            messages, control, ..
        } = conn;
        messages_of(messages, handle).resolve(t, endpoint, control)
    }

    /// Queues an application-defined frame.
    pub(crate) fn send_custom(
        &mut self,
        t: &TransportConfig,
        frame_type: u8,
        payload: Bytes,
    ) -> Result<(), CustomFrameError> {
        let handle = self.handle;
        let Some(conn) = self.established_conn() else {
            return Err(CustomFrameError::NotConnected);
        };
        let Conn {
            messages, control, ..
        } = conn;
        messages_of(messages, handle).send_custom(t, frame_type, payload, control)
    }

    /// Routed messages and custom frames not yet resolved.
    pub(crate) fn messages_in_flight(&self) -> usize {
        self.conn
            .as_ref()
            .and_then(|c| c.messages.as_ref())
            .map_or(0, |a| a.held())
    }

    /// Endpoints the peer has announced.
    pub(crate) fn peer_endpoints(&self) -> Vec<EndpointId> {
        match self.conn.as_ref().and_then(|c| c.messages.as_ref()) {
            Some(messages) => messages.peer_endpoints().collect(),
            None => Vec::new(),
        }
    }

    /// Starts fetching the object `hash` from the peer (size already checked).
    pub(crate) fn fetch(
        &mut self,
        t: &TransportConfig,
        hash: ContentHash,
        max_len: u64,
    ) -> Result<FetchId, FetchStartError> {
        let handle = self.handle;
        let Some(conn) = self.established_conn() else {
            return Err(FetchStartError::NotConnected);
        };
        let Conn {
            messages, control, ..
        } = conn;
        let messages = messages_of(messages, handle);
        if messages.fetches.fetching() >= t.max_fetches {
            return Err(FetchStartError::TooMany { max: t.max_fetches });
        }
        if !messages.request_room() {
            return Err(FetchStartError::Blocked);
        }
        let request_id = messages.alloc_id();
        messages.fetches.start(request_id, hash, max_len);
        control.push_back(Control::StorageGet {
            request_id,
            max_len,
            hash: hash.0,
        });
        Ok(FetchId(request_id))
    }

    /// Abandons a fetch; false if it had already ended.
    pub(crate) fn cancel_fetch(&mut self, fetch: FetchId) -> bool {
        let Some(conn) = self.established_conn() else {
            return false;
        };
        let Some(messages) = conn.messages.as_mut() else {
            return false;
        };
        if messages.fetches.cancel(fetch.0).is_none() {
            return false;
        }
        conn.control.push_back(Control::StorageCancel {
            request_id: fetch.0,
        });
        true
    }

    /// Answers the peer's storage request `request` with the object or `None`.
    pub(crate) fn serve_object(
        &mut self,
        request: ServeId,
        data: Option<Bytes>,
    ) -> Result<(), ServeError> {
        let Some(conn) = self.established_conn() else {
            return Err(ServeError::UnknownRequest);
        };
        let Some(messages) = conn.messages.as_mut() else {
            return Err(ServeError::UnknownRequest);
        };
        let found = data.is_some();
        let Some((hash, answer)) = messages.fetches.answer(request.0, data) else {
            return Err(ServeError::UnknownRequest);
        };
        if let Answer::Refuse(code) = answer {
            let c = Control::StorageRefuse {
                request_id: request.0,
                code,
            };
            messages.answer(c, &mut conn.control);
        }
        messages.storage(match found {
            true => StorageEvent::Hit { request, hash },
            false => StorageEvent::Miss { request, hash },
        });
        Ok(())
    }

    /// Answers what the peer asked of this node: routed messages (offered to the
    /// endpoint registry), resolve queries and storage requests.
    pub(crate) fn answer_inbound(&mut self, t: &TransportConfig, node: NodeServices<'_>) {
        let handle = self.handle;
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        let Some(messages) = conn.messages.as_mut() else {
            return;
        };
        if messages.inbound.is_empty() {
            return;
        }
        let peer = conn.peer;
        let NodeServices {
            endpoints,
            serve_storage,
            stats,
        } = node;
        for item in core::mem::take(&mut messages.inbound) {
            match item {
                Inbound::Route {
                    message_id,
                    endpoint,
                    payload,
                } => {
                    let offer = endpoints.offer(EndpointMessage {
                        endpoint,
                        session: handle,
                        peer,
                        payload,
                    });
                    let code = match offer {
                        Offer::Accepted => {
                            stats.routes_accepted += 1;
                            self.events.push_back(Event::Endpoint {
                                session: handle,
                                event: EndpointEvent::Message { endpoint },
                            });
                            None
                        }
                        Offer::Refused(code) => {
                            match code {
                                ErrorCode::BUFFER_OVERFLOW => stats.routes_refused_full += 1,
                                _ => stats.routes_refused_unknown += 1,
                            }
                            Some(code)
                        }
                    };
                    messages.answer(Control::RouteAnswer { message_id, code }, &mut conn.control);
                }
                Inbound::Resolve {
                    request_id,
                    endpoint,
                } => {
                    let kind = match endpoints.contains(&endpoint) {
                        true => ResolveKind::Found,
                        false => ResolveKind::NotFound,
                    };
                    let answer = Control::EndpointResolve {
                        request_id,
                        kind,
                        endpoint,
                    };
                    messages.answer(answer, &mut conn.control);
                }
                Inbound::Get {
                    request_id,
                    hash,
                    max_len,
                } => {
                    let request = ServeId(request_id);
                    let refuse = if !serve_storage {
                        self.events.push_back(Event::Storage {
                            session: handle,
                            event: StorageEvent::Miss { request, hash },
                        });
                        Some(ErrorCode::OBJECT_NOT_FOUND)
                    } else if messages.fetches.serving() >= t.max_serves {
                        Some(ErrorCode::RESOURCE_EXHAUSTED)
                    } else {
                        messages.fetches.await_answer(request_id, hash, max_len);
                        self.events.push_back(Event::Storage {
                            session: handle,
                            event: StorageEvent::Requested {
                                request,
                                hash,
                                max_len,
                            },
                        });
                        None
                    };
                    if let Some(code) = refuse {
                        let c = Control::StorageRefuse { request_id, code };
                        messages.answer(c, &mut conn.control);
                    }
                }
            }
        }
    }
}
