//! `stt listen --via`: keeps the node registered with its rendezvous and relay. When
//! the session with the relay ends (the relay restarted or crashed, the network went
//! away, the session timed out), it connects and registers again, first after 0.5 s
//! and then doubling the wait up to 10 s while attempts fail, with one line on stderr
//! each time, so a listener never becomes silently unreachable. Only the timing and the
//! reporting live here: registering is the protocol's (PROTOCOL.md §12.2) and
//! connecting is [`net::register_via`]'s. It never ends the listener; it stops when the
//! node does.

use std::time::Duration;

use stt_tokio::{ConnectionError, Node, Session};

use crate::error::{CliError, describe_connection};
use crate::net;
use crate::report::Output;

/// The wait before the first attempt to register again.
pub const FIRST_RETRY: Duration = Duration::from_millis(500);
/// The longest wait between two attempts.
pub const MAX_RETRY: Duration = Duration::from_secs(10);

/// The wait after one that failed: doubled, at most [`MAX_RETRY`].
pub fn next_retry(after: Duration) -> Duration {
    after.saturating_mul(2).min(MAX_RETRY)
}

/// Holds `session` (registered with the relay at `via`) and replaces it whenever it
/// ends, until the node stops. Abort the task to stop sooner.
pub fn keep(node: Node, via: String, session: Session, out: Output) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut session = session;
        loop {
            let why = session.closed().await;
            if matches!(why, ConnectionError::NodeShutDown) {
                return;
            }
            eprintln!(
                "stt: lost the relay {via} ({}); registering again in {:.1} s",
                describe_connection(&why),
                FIRST_RETRY.as_secs_f64()
            );
            let mut wait = FIRST_RETRY;
            session = loop {
                tokio::time::sleep(wait).await;
                match net::register_via(&node, &via, &out).await {
                    Ok(s) => break s,
                    Err(CliError::Connection(ConnectionError::NodeShutDown)) => return,
                    Err(e) => {
                        wait = next_retry(wait);
                        eprintln!(
                            "stt: cannot register with the relay {via} again: {e}; retrying in {:.1} s",
                            wait.as_secs_f64()
                        );
                    }
                }
            };
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_from_half_a_second_to_ten_seconds() {
        let mut w = FIRST_RETRY;
        let mut seen = vec![w];
        for _ in 0..7 {
            w = next_retry(w);
            seen.push(w);
        }
        let ms: Vec<u128> = seen.iter().map(|d| d.as_millis()).collect();
        assert_eq!(ms, [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
    }
}
