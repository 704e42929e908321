//! The runtime-free state the driver task and every handle share under one lock: the
//! PathId ⇄ remote table ([`paths`]), event → waker dispatch ([`dispatch`]), the event
//! subscriptions ([`bus`]), what the primitive handles wait for ([`apps`]), the
//! rendezvous answers awaited ([`rendezvous`]) and the paths pinned for hole punching
//! ([`punch`]).
//!
//! Plain `std` and `core::task::Waker` only: no IO, no runtime, no protocol decisions
//! (those are `stt-proto`'s); nothing here names a socket type or an executor.

pub mod apps;
pub mod bus;
pub mod dispatch;
pub mod paths;
pub mod punch;
pub mod rendezvous;

pub use apps::{AppWaiters, Pending};
pub use bus::{DEFAULT_SUBSCRIBER_CAPACITY, EventBus, EventFilter, SubscriberId};
pub use dispatch::Dispatch;
pub use paths::PathTable;
pub use punch::PunchPins;
pub use rendezvous::RendezvousWaits;

/// Real session handles for the unit tests of this tree (the core's own test
/// constructor is private to it): sixteen initiated sessions of a throwaway node, the
/// same `i` giving the same handle on every call of a thread.
#[cfg(test)]
pub(crate) fn test_handle(i: u32) -> stt_proto::SessionHandle {
    use stt_proto::{Identity, Instant, NetworkKey, Node, PathId, config::NodeConfig};
    fn handles() -> Vec<stt_proto::SessionHandle> {
        let mut node = Node::new(
            std::sync::Arc::new(NodeConfig::default()),
            Identity::from_node_seed(&[1; 32]).unwrap(),
            NetworkKey::from_shared_seed(&[2; 32]).unwrap(),
            [3; 32],
        )
        .unwrap();
        (0..16)
            .map(|i| node.connect(Instant::from_micros(1), PathId(i)).unwrap())
            .collect()
    }
    std::thread_local! {
        static HANDLES: Vec<stt_proto::SessionHandle> = handles();
    }
    HANDLES.with(|h| h[i as usize])
}
