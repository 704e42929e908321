//! WebSocket transport, runtime-free part: each connection is one path; one binary
//! message carries one STT packet. [`attach`] gives an established connection (from
//! any tungstenite binding) its path and its reader and writer tasks. Text messages,
//! messages over the size cap and read errors close that connection only; the engine
//! never sees them. Accepting and dialing are the runtime's ([`crate::Runtime`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_channel::Receiver;
use bytes::{Bytes, BytesMut};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use stt_proto::{PathId, RemoteAddr};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Error, Message};

use crate::runtime::Runtime;
use crate::shared::{Remote, Shared};

/// Packets queued per connection before the adapter drops (as a full socket would).
const OUT_QUEUE: usize = 1024;
/// Time a client gets to complete the WebSocket handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The WebSocket configuration for messages of at most `max` bytes.
pub fn config(max: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(max))
        .max_frame_size(Some(max))
}

/// Gives an established connection a path, and spawns its reader and writer on `rt`;
/// returns the connection's number. For an accepted connection prefer [`attach_from`],
/// which binds cookies to the client's socket address.
pub fn attach<R, S>(rt: &R, shared: &Arc<Shared>, ws: S) -> u64
where
    R: Runtime,
    S: Sink<Message, Error = Error> + Stream<Item = Result<Message, Error>> + Send + 'static,
{
    attach_from(rt, shared, ws, None)
}

/// As [`attach`], with the peer's socket address (when known): the engine binds cookies
/// and the per-source INIT limit to it (PROTOCOL.md §5.7.5, §5.7.8); without one the
/// connection's path id stands in.
pub fn attach_from<R, S>(rt: &R, shared: &Arc<Shared>, ws: S, peer: Option<SocketAddr>) -> u64
where
    R: Runtime,
    S: Sink<Message, Error = Error> + Stream<Item = Result<Message, Error>> + Send + 'static,
{
    let (out_tx, out_rx) = async_channel::bounded::<Bytes>(OUT_QUEUE);
    let (conn, path) = {
        let mut st = shared.lock();
        let conn = st.next_ws;
        st.next_ws += 1;
        let path = st.paths.path_for(&Remote::Ws(conn));
        // Held for the connection's lifetime; removed when it ends.
        st.paths.pin(path);
        st.ws_out.insert(conn, out_tx);
        (conn, path)
    };
    let (sink, stream) = ws.split();
    rt.spawn(write_loop(sink, out_rx));
    let remote = peer.map_or(RemoteAddr::from_path_id(path.0), RemoteAddr::from);
    rt.spawn(read_loop(stream, shared.clone(), conn, path, remote));
    conn
}

/// Sends queued packets, batching whatever is queued before each flush.
async fn write_loop<S>(mut sink: S, out: Receiver<Bytes>)
where
    S: Sink<Message, Error = Error> + Unpin,
{
    while let Ok(pkt) = out.recv().await {
        if sink.feed(Message::Binary(pkt)).await.is_err() {
            return;
        }
        while let Ok(pkt) = out.try_recv() {
            if sink.feed(Message::Binary(pkt)).await.is_err() {
                return;
            }
        }
        if sink.flush().await.is_err() {
            return;
        }
    }
    let _ = sink.close().await;
}

/// Hands binary messages to the driver until the connection ends, then forgets it.
async fn read_loop<S>(
    mut stream: S,
    shared: Arc<Shared>,
    conn: u64,
    path: PathId,
    remote: RemoteAddr,
) where
    S: Stream<Item = Result<Message, Error>> + Unpin,
{
    let inbound = shared.ws_in.clone();
    while let Some(msg) = stream.next().await {
        match msg {
            Ok(Message::Binary(b)) => {
                if inbound
                    .send((path, remote, BytesMut::from(&b[..])))
                    .await
                    .is_err()
                {
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
    let mut st = shared.lock();
    // Dropping the sender ends the writer task, which closes the socket.
    st.ws_out.remove(&conn);
    if st.paths.addr(path) == Some(&Remote::Ws(conn)) {
        st.paths.remove(path);
    }
}
