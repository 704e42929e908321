//! Requests a session received that the node answers: routed messages offered to the
//! endpoint registry, resolve queries, and storage requests (refused or handed to the
//! application). The frames and their per-session bookkeeping live in `session`.

use super::Node;
use crate::endpoint::{EndpointMessage, Offer};
use crate::event::{EndpointEvent, Event, StorageEvent};
use crate::frame::{ErrorCode, ResolveKind};
use crate::session::{Control, Inbound};
use crate::storage::ServeId;

impl Node {
    /// Answers what a session received for the node: routed messages (offered to the
    /// endpoint registry), resolve queries and storage requests.
    pub(super) fn process_inbound(&mut self, index: u32) {
        let Node {
            slots,
            endpoints,
            serve_storage,
            config,
            stats,
            ..
        } = self;
        let Some(s) = slots[index as usize].session.as_mut() else {
            return;
        };
        let handle = s.handle;
        let Some(conn) = s.conn.as_mut() else {
            return;
        };
        let Some(apps) = conn.apps.as_mut() else {
            return;
        };
        if apps.inbound.is_empty() {
            return;
        }
        let peer = conn.peer;
        for item in core::mem::take(&mut apps.inbound) {
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
                            s.events.push_back(Event::Endpoint {
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
                    apps.answer(Control::RouteAnswer { message_id, code }, &mut conn.control);
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
                    apps.answer(answer, &mut conn.control);
                }
                Inbound::Get {
                    request_id,
                    hash,
                    max_len,
                } => {
                    let request = ServeId(request_id);
                    let refuse = if !*serve_storage {
                        s.events.push_back(Event::Storage {
                            session: handle,
                            event: StorageEvent::Miss { request, hash },
                        });
                        Some(ErrorCode::OBJECT_NOT_FOUND)
                    } else if apps.fetches.serving() >= config.transport.max_serves {
                        Some(ErrorCode::RESOURCE_EXHAUSTED)
                    } else {
                        apps.fetches.await_answer(request_id, hash, max_len);
                        s.events.push_back(Event::Storage {
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
                        apps.answer(c, &mut conn.control);
                    }
                }
            }
        }
    }
}
