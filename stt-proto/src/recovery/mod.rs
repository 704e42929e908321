//! Loss recovery in the manner of RFC 9002: RTT estimation, ACK tracking (what we owe the
//! peer) and loss detection (what the peer has not acknowledged). This module measures and decides what is lost; it never sizes
//! the congestion window (that is [`crate::congestion`]) and never reads a clock.

mod ack;
mod loss;
mod rtt;

pub use ack::AckTracker;
pub use loss::{SentPacket, SentPackets, is_persistent_congestion};
pub use rtt::RttEstimator;
