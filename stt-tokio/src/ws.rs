//! WebSocket transport (tokio-tungstenite): accepting and dialing. Each connection is
//! one path, attached by `stt_adapter::ws::attach` (one binary message per STT packet).
//! Failed handshakes close that connection only; the engine never sees them.

use std::sync::Arc;
use std::time::Duration;

use stt_adapter::Shared;
use stt_adapter::ws::{HANDSHAKE_TIMEOUT, config as ws_config};
use stt_proto::driver::ConnectionError;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;

use crate::runtime::Tokio;

/// Accepts WebSocket clients on `listener` until the node stops.
pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if shared.is_stopped() { return; }
                continue;
            }
        };
        if shared.is_stopped() {
            return;
        }
        let (tcp, from) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::debug!("ws accept: {e}");
                continue;
            }
        };
        let _ = tcp.set_nodelay(true);
        let shared = shared.clone();
        tokio::spawn(async move {
            let cfg = ws_config(shared.max_ws_message());
            let hs = tokio::time::timeout(
                HANDSHAKE_TIMEOUT,
                tokio_tungstenite::accept_async_with_config(tcp, Some(cfg)),
            )
            .await;
            match hs {
                Ok(Ok(ws)) => {
                    tracing::debug!(%from, "ws client connected");
                    attach(&shared, ws);
                }
                Ok(Err(e)) => tracing::debug!(%from, "ws handshake refused: {e}"),
                Err(_) => tracing::debug!(%from, "ws handshake timed out"),
            }
        });
    }
}

/// Dials `url` (`ws://`) and registers the connection; returns its number.
pub(crate) async fn dial(shared: &Arc<Shared>, url: &str) -> Result<u64, ConnectionError> {
    let cfg = ws_config(shared.max_ws_message());
    let (ws, _) = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        tokio_tungstenite::connect_async_with_config(url, Some(cfg), true),
    )
    .await
    .map_err(|_| ConnectionError::Transport(format!("{url}: handshake timed out")))?
    .map_err(|e| ConnectionError::Transport(format!("{url}: {e}")))?;
    Ok(attach(shared, ws))
}

/// Gives a connection a path, and spawns its reader and writer.
fn attach<S>(shared: &Arc<Shared>, ws: WebSocketStream<S>) -> u64
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    stt_adapter::ws::attach(&Tokio::here(), shared, ws)
}
