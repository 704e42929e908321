//! quinn as a [`Contender`]: quinn's default features (its tokio runtime and UDP
//! socket, rustls with the ring provider), a self-signed rcgen certificate the client
//! trusts, and quinn's default transport config (CUBIC) except for the idle timeout
//! when a row sets it. The server completes handshakes concurrently, one task each.

use std::sync::Arc;

use quinn::rustls::RootCertStore;
use quinn::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use quinn::{ClientConfig, Connection, Endpoint, RecvStream, SendStream, ServerConfig};
use tokio::sync::{Mutex, mpsc};

use crate::contender::{Contender, Knobs, Ticket};

/// The quinn contender.
pub struct Quinn;

/// A listening endpoint, its certificate and its established connections.
pub struct QuinnServer {
    endpoint: Endpoint,
    cert: Vec<u8>,
    established: Mutex<mpsc::UnboundedReceiver<Connection>>,
}

/// A client endpoint with its TLS configuration (trusting the server's certificate).
pub struct QuinnClient {
    endpoint: Endpoint,
    config: ClientConfig,
    to: std::net::SocketAddr,
}

fn transport(knobs: Knobs) -> Option<Arc<quinn::TransportConfig>> {
    let t = knobs.idle_timeout?;
    let mut c = quinn::TransportConfig::default();
    c.max_idle_timeout(Some(t.try_into().expect("idle timeout in range")));
    Some(Arc::new(c))
}

impl Contender for Quinn {
    const NAME: &'static str = "quinn";
    type Server = QuinnServer;
    type Client = QuinnClient;
    type Conn = Connection;
    type Send = SendStream;
    type Recv = RecvStream;

    async fn server(knobs: Knobs) -> QuinnServer {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
            .expect("self-signed certificate");
        let cert = ck.cert.der().to_vec();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        let mut config =
            ServerConfig::with_single_cert(vec![CertificateDer::from(cert.clone())], key)
                .expect("quinn server config");
        if let Some(t) = transport(knobs) {
            config.transport_config(t);
        }
        let endpoint = Endpoint::server(config, "127.0.0.1:0".parse().expect("address"))
            .expect("bind a quinn endpoint");
        let (tx, rx) = mpsc::unbounded_channel();
        let ep = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = ep.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(conn) = incoming.await {
                        let _ = tx.send(conn);
                    }
                });
            }
        });
        QuinnServer {
            endpoint,
            cert,
            established: Mutex::new(rx),
        }
    }

    fn ticket(server: &QuinnServer) -> Ticket {
        Ticket {
            addr: server.endpoint.local_addr().expect("bound address"),
            cert: server.cert.clone(),
        }
    }

    async fn accept(server: &QuinnServer) -> Option<Connection> {
        server.established.lock().await.recv().await
    }

    async fn client(knobs: Knobs, to: Ticket) -> QuinnClient {
        let mut roots = RootCertStore::empty();
        roots
            .add(CertificateDer::from(to.cert))
            .expect("trust the server certificate");
        let mut config =
            ClientConfig::with_root_certificates(Arc::new(roots)).expect("quinn client config");
        if let Some(t) = transport(knobs) {
            config.transport_config(t);
        }
        let endpoint =
            Endpoint::client("127.0.0.1:0".parse().expect("address")).expect("bind a quinn client");
        QuinnClient {
            endpoint,
            config,
            to: to.addr,
        }
    }

    async fn connect(client: &QuinnClient) -> Result<Connection, String> {
        client
            .endpoint
            .connect_with(client.config.clone(), client.to, "localhost")
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())
    }

    fn close(conn: Connection) {
        conn.close(0u32.into(), b"");
    }

    fn lost_packets(conn: &Connection) -> u64 {
        conn.stats().path.lost_packets
    }

    fn details(conn: &Connection) -> String {
        let s = conn.stats();
        format!(
            " sent={} retx_bytes={} rtt_us={} cwnd={}",
            s.path.sent_packets,
            s.path.lost_bytes,
            s.path.rtt.as_micros(),
            s.path.cwnd
        )
    }

    async fn open_uni(conn: &Connection) -> SendStream {
        conn.open_uni().await.expect("open a quinn stream")
    }

    async fn accept_uni(conn: &Connection) -> Option<RecvStream> {
        conn.accept_uni().await.ok()
    }

    async fn write_all(s: &mut SendStream, data: &[u8]) {
        s.write_all(data).await.expect("write to a quinn stream");
    }

    fn finish(mut s: SendStream) {
        let _ = s.finish();
    }

    async fn read_chunk(r: &mut RecvStream) -> Option<usize> {
        match r.read_chunk(usize::MAX, true).await {
            Ok(Some(c)) => Some(c.bytes.len()),
            Ok(None) | Err(_) => None,
        }
    }
}
