//! WebSocket transport (tokio-tungstenite): each connection is one path; one binary
//! message carries one STT packet. Text messages, messages over the size cap and
//! failed handshakes close that connection only; the engine never sees them.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::{SinkExt, StreamExt};
use stt_proto::driver::ConnectionError;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::shared::{Remote, Shared};

/// Packets queued per connection before the adapter drops (as a full socket would).
const OUT_QUEUE: usize = 1024;
/// Time a client gets to complete the WebSocket handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn ws_config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Accepts WebSocket clients on `listener` until the node stops.
pub(crate) async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if shared.lock().driver_done { return; }
                continue;
            }
        };
        if shared.lock().driver_done {
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
            let cfg = ws_config(shared.max_ws_message);
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
    let cfg = ws_config(shared.max_ws_message);
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
    let (out_tx, mut out_rx) = mpsc::channel::<Bytes>(OUT_QUEUE);
    let (conn, path) = {
        let mut st = shared.lock();
        let conn = st.next_ws;
        st.next_ws += 1;
        let path = st.paths.path_for(&Remote::Ws(conn));
        st.ws_out.insert(conn, out_tx);
        (conn, path)
    };
    let (mut sink, mut stream) = ws.split();
    tokio::spawn(async move {
        while let Some(pkt) = out_rx.recv().await {
            if sink.feed(Message::Binary(pkt)).await.is_err() {
                return;
            }
            // Batch whatever else is queued before flushing.
            while let Ok(pkt) = out_rx.try_recv() {
                if sink.feed(Message::Binary(pkt)).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    let shared2 = shared.clone();
    tokio::spawn(async move {
        let inbound = shared2.ws_in.clone();
        while let Some(msg) = stream.next().await {
            match msg {
                Ok(Message::Binary(b)) => {
                    if inbound.send((path, BytesMut::from(&b[..]))).await.is_err() {
                        break;
                    }
                }
                Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => {}
                Ok(Message::Text(_)) => {
                    tracing::debug!(conn, "ws text message: closing connection");
                    break;
                }
                Ok(Message::Close(_)) => break,
                Err(e) => {
                    tracing::debug!(conn, "ws read: {e}");
                    break;
                }
            }
        }
        let mut st = shared2.lock();
        // Dropping the sender ends the writer task, which closes the socket.
        st.ws_out.remove(&conn);
        if st.paths.addr(path) == Some(&Remote::Ws(conn)) {
            st.paths.remove(path);
        }
    });
    conn
}
