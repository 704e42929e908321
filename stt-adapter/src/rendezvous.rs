//! Rendezvous and relay through the adapter (PROTOCOL.md §12): registering with a
//! rendezvous, meeting a peer through it (`Node::connect_via`: the end-to-end session
//! starts on the relayed path and the engine moves it to a direct one when punching
//! finds one), and whether a session is relayed now. Serving as a rendezvous needs
//! nothing here: `NodeConfig::rendezvous.serve`. The engine decides everything; this
//! file waits for its answers.

use std::future::poll_fn;
use std::net::SocketAddr;
use std::task::Poll;

use stt_proto::error::RendezvousError;
use stt_proto::{NodeId, RendezvousEvent, SessionHandle};

use crate::error::ConnectionError;
use crate::node::{Node, Target};
use crate::runtime::Runtime;
use crate::session::Session;
use crate::shared::Shared;

/// Sends one rendezvous request on `relay` and waits for its answer.
async fn request(
    shared: &Shared,
    relay: SessionHandle,
    send: impl FnOnce(
        &mut stt_proto::SessionRef<'_>,
        stt_proto::Instant,
    ) -> Result<u64, RendezvousError>,
) -> Result<RendezvousEvent, ConnectionError> {
    let request = {
        let (mut st, now) = shared.lock_now();
        let id = match st.node.session(relay) {
            Some(mut s) => match send(&mut s, now) {
                Ok(id) => id,
                Err(RendezvousError::NotConnected) => return Err(ConnectionError::Closing),
                Err(e) => return Err(ConnectionError::RendezvousBusy(e)),
            },
            None => return Err(ConnectionError::Closing),
        };
        st.rendezvous.expect(relay, id);
        st.drain_events(now);
        st.wake_driver();
        id
    };
    let answer = poll_fn(|cx| {
        let mut st = shared.lock();
        if st.driver_done {
            return Poll::Ready(Err(ConnectionError::NodeShutDown));
        }
        if let Some(a) = st.rendezvous.poll(relay, request, cx.waker()) {
            return Poll::Ready(Ok(a));
        }
        if st.node.session(relay).is_none() {
            return Poll::Ready(Err(ConnectionError::Closing));
        }
        Poll::Pending
    })
    .await;
    if answer.is_err() {
        shared.lock().rendezvous.cancel(relay, request);
    }
    answer
}

impl<R: Runtime> Session<R> {
    /// Registers this node with the rendezvous at the other end of this session
    /// (PROTOCOL.md §12.2) and returns the address the rendezvous observes it at. The
    /// registration lasts as long as this session.
    pub async fn register_rendezvous(&self) -> Result<Option<SocketAddr>, ConnectionError> {
        let answer = request(&self.inner.shared, self.handle(), |s, now| {
            s.rendezvous_register(now)
        })
        .await?;
        match answer {
            RendezvousEvent::Registered { observed, .. } => Ok(observed.to_socket_addr()),
            RendezvousEvent::Failed { status, .. } => Err(ConnectionError::Rendezvous(status)),
            _ => Err(ConnectionError::Closing),
        }
    }

    /// Whether the session goes through a relay now (PROTOCOL.md §12.3); `None` once
    /// it is gone.
    pub fn is_relayed(&self) -> Option<bool> {
        let mut st = self.inner.shared.lock();
        let path = st.node.session(self.handle())?.path();
        Some(path.is_relayed())
    }
}

impl<R: Runtime> Node<R> {
    /// When serving as a rendezvous: members registered, relay routes held.
    pub fn rendezvous_counts(&self) -> (usize, usize) {
        self.inner.shared.lock().node.rendezvous_counts()
    }

    /// Meets `peer` through the rendezvous at the other end of `relay` (both must be
    /// registered there): the session comes up through the relay at once, and moves to
    /// a direct path if hole punching finds one (PROTOCOL.md §12.1). The handshake is
    /// pinned to `peer`, so the relay cannot stand in for it.
    pub async fn connect_via(
        &self,
        relay: &Session<R>,
        peer: NodeId,
    ) -> Result<Session<R>, ConnectionError> {
        let answer = request(&self.inner.shared, relay.handle(), |s, now| {
            s.rendezvous_connect(now, peer)
        })
        .await?;
        match answer {
            RendezvousEvent::Peer { path, .. } => {
                self.connect_on(Target::Path(path), Some(peer.into())).await
            }
            RendezvousEvent::Failed { status, .. } => Err(ConnectionError::Rendezvous(status)),
            _ => Err(ConnectionError::Closing),
        }
    }
}
