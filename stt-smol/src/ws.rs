//! WebSocket transport (async-tungstenite over async-io): accepting and dialing `ws://`.
//! Each connection is one path, attached by `stt_adapter::ws::attach` (one binary
//! message per STT packet). Failed handshakes close that connection only.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::client::IntoClientRequest;
use smol::future::FutureExt;
use smol::{Async, Timer};
use stt_adapter::ConnectionError;
use stt_adapter::Shared;
use stt_adapter::ws::{HANDSHAKE_TIMEOUT, attach, attach_from, config};

use crate::runtime::Smol;

/// `future`'s output, or `None` once `limit` has passed.
async fn within<T>(limit: Duration, future: impl Future<Output = T>) -> Option<T> {
    async { Some(future.await) }
        .or(async {
            Timer::after(limit).await;
            None
        })
        .await
}

/// Accepts WebSocket clients on `listener` until the node stops (checked twice a
/// second while idle).
pub(crate) async fn serve(listener: Async<TcpListener>, shared: Arc<Shared>) {
    while !shared.is_stopped() {
        let (tcp, from) = match within(Duration::from_millis(500), listener.accept()).await {
            None => continue,
            Some(Ok(a)) => a,
            Some(Err(e)) => {
                tracing::debug!("ws accept: {e}");
                continue;
            }
        };
        let _ = tcp.get_ref().set_nodelay(true);
        let shared = shared.clone();
        smol::spawn(async move {
            let cfg = config(shared.max_ws_message());
            let hs = async_tungstenite::accept_async_with_config(tcp, Some(cfg));
            match within(HANDSHAKE_TIMEOUT, hs).await {
                Some(Ok(ws)) => {
                    tracing::debug!(%from, "ws client connected");
                    attach_from(&Smol, &shared, ws, Some(from));
                }
                Some(Err(e)) => tracing::debug!(%from, "ws handshake refused: {e}"),
                None => tracing::debug!(%from, "ws handshake timed out"),
            }
        })
        .detach();
    }
}

/// Dials `url` (`ws://host:port/…`) and registers the connection; returns its number.
pub(crate) async fn dial(shared: &Arc<Shared>, url: &str) -> Result<u64, ConnectionError> {
    let fail = |e: &dyn std::fmt::Display| ConnectionError::Transport(format!("{url}: {e}"));
    let request = url.into_client_request().map_err(|e| fail(&e))?;
    let uri = request.uri();
    if uri.scheme_str() != Some("ws") {
        return Err(fail(&"only ws:// URLs are supported"));
    }
    // An IPv6 literal keeps its brackets in the URI; the resolver wants it bare.
    let host = uri.host().unwrap_or_default();
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let cfg = config(shared.max_ws_message());
    let handshake = async {
        let tcp = smol::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| fail(&e))?;
        let _ = tcp.set_nodelay(true);
        async_tungstenite::client_async_with_config(request, tcp, Some(cfg))
            .await
            .map_err(|e| fail(&e))
    };
    let (ws, _) = within(HANDSHAKE_TIMEOUT, handshake)
        .await
        .ok_or_else(|| fail(&"handshake timed out"))??;
    Ok(attach(&Smol, shared, ws))
}
