//! WebSocket transport (tokio-tungstenite), plain (`ws://`) or over TLS (`wss://`,
//! tokio-rustls with the rustls configurations `stt_adapter::tls` holds): accepting
//! and dialing. Each connection is one path, attached by `stt_adapter::ws::attach`
//! (one binary message per STT packet). Failed TLS or WebSocket handshakes close that
//! connection only; the engine never sees them.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use stt_adapter::tls::{classify, server_name};
use stt_adapter::ws::{HANDSHAKE_TIMEOUT, config as ws_config};
use stt_adapter::{ConnectionError, TlsError};
use stt_adapter::{Shared, WssIdentity, WssTrust};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::http::Uri;

use crate::runtime::Tokio;

/// Accepts WebSocket clients on `listener` until the node stops; with `tls`, each
/// connection first completes a TLS handshake (`wss://`).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    tls: Option<WssIdentity>,
) {
    let acceptor = tls.map(|id| TlsAcceptor::from(id.server_config()));
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
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let hs = tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
                match acceptor {
                    Some(acceptor) => match acceptor.accept(tcp).await {
                        Ok(stream) => accept(&shared, stream, from).await,
                        Err(e) => tracing::debug!(%from, "tls handshake refused: {e}"),
                    },
                    None => accept(&shared, tcp, from).await,
                }
            })
            .await;
            if hs.is_err() {
                tracing::debug!(%from, "ws handshake timed out");
            }
        });
    }
}

/// The server side of the WebSocket handshake on an accepted (maybe TLS) stream.
async fn accept<S>(shared: &Arc<Shared>, stream: S, from: SocketAddr)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let cfg = ws_config(shared.max_ws_message());
    match tokio_tungstenite::accept_async_with_config(stream, Some(cfg)).await {
        Ok(ws) => {
            tracing::debug!(%from, "ws client connected");
            stt_adapter::ws::attach_from(&Tokio::here(), shared, ws, Some(from));
        }
        Err(e) => tracing::debug!(%from, "ws handshake refused: {e}"),
    }
}

/// Dials `url` (`ws://`, or `wss://` verified against `trust`) and registers the
/// connection; returns its number.
pub(crate) async fn dial(
    shared: &Arc<Shared>,
    url: &str,
    trust: Option<&WssTrust>,
) -> Result<u64, ConnectionError> {
    let uri: Uri = url
        .parse()
        .map_err(|_| ConnectionError::NoTransport(url.to_string()))?;
    let secure = match uri.scheme_str() {
        Some("ws") => false,
        Some("wss") => true,
        _ => return Err(ConnectionError::NoTransport(url.to_string())),
    };
    let host = uri
        .host()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
        .ok_or_else(|| ConnectionError::NoTransport(url.to_string()))?;
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let transport = |e: &dyn std::fmt::Display| ConnectionError::Transport(format!("{url}: {e}"));
    let cfg = Some(ws_config(shared.max_ws_message()));
    tokio::time::timeout(HANDSHAKE_TIMEOUT, async {
        let tcp = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| transport(&e))?;
        let _ = tcp.set_nodelay(true);
        if secure {
            let trust = trust.ok_or(TlsError::NoTrustRoots)?;
            let name = server_name(host)?;
            let tls = TlsConnector::from(trust.client_config())
                .connect(name, tcp)
                .await
                .map_err(|e| classify(&e))?;
            let (ws, _) = tokio_tungstenite::client_async_with_config(url, tls, cfg)
                .await
                .map_err(|e| transport(&e))?;
            Ok(attach(shared, ws))
        } else {
            let (ws, _) = tokio_tungstenite::client_async_with_config(url, tcp, cfg)
                .await
                .map_err(|e| transport(&e))?;
            Ok(attach(shared, ws))
        }
    })
    .await
    .map_err(|_| ConnectionError::Transport(format!("{url}: handshake timed out")))?
}

/// Gives a connection a path, and spawns its reader and writer.
fn attach<S>(shared: &Arc<Shared>, ws: WebSocketStream<S>) -> u64
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    stt_adapter::ws::attach(&Tokio::here(), shared, ws)
}
