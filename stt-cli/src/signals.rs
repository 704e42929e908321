//! SIGINT and SIGTERM as a future, so every command can close its session with a
//! reason the peer prints instead of vanishing.

/// Resolves with the signal's name once SIGINT or SIGTERM arrives. If the handlers
/// cannot be installed it never resolves (the default action, exit, then applies).
pub async fn interrupted() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = int.recv() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}
