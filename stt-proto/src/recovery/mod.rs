//! Loss recovery in the manner of RFC 9002: RTT estimation, and (later) ACK tracking
//! and loss detection. This module measures and decides what is lost; it never sizes
//! the congestion window (that is [`crate::congestion`]) and never reads a clock.

mod rtt;

pub use rtt::RttEstimator;
