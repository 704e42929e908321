//! quinn as a [`Contender`]: quinn's default features (its tokio runtime and UDP
//! socket, rustls with the ring provider), a self-signed rcgen certificate the client
//! trusts, and quinn's default transport config (CUBIC) except for the idle timeout
//! when a row sets it. The server completes handshakes concurrently, one task each.
//!
//! Row c′ (`Knobs::pq`) builds the same TLS configurations as quinn does (TLS 1.3 only,
//! early data on) on rustls's aws-lc-rs provider, whose key-exchange groups are wrapped
//! to count which one each handshake ran: X25519MLKEM768 first, as rustls offers it by
//! default (its `prefer-post-quantum` feature), then X25519.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::rustls::RootCertStore;
use quinn::rustls::crypto::{
    ActiveKeyExchange, CompletedKeyExchange, CryptoProvider, SupportedKxGroup, aws_lc_rs,
};
use quinn::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use quinn::rustls::{NamedGroup, ProtocolVersion};
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

/// Key exchanges run by this process's quinn servers: [X25519MLKEM768, X25519].
static KX: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// A key-exchange group that counts, on the server side, the handshakes that used it.
#[derive(Debug)]
struct Counted {
    inner: &'static dyn SupportedKxGroup,
    counter: Option<&'static AtomicU64>,
}

impl SupportedKxGroup for Counted {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, quinn::rustls::Error> {
        self.inner.start()
    }

    fn start_and_complete(
        &self,
        peer_pub_key: &[u8],
    ) -> Result<CompletedKeyExchange, quinn::rustls::Error> {
        if let Some(c) = self.counter {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.inner.start_and_complete(peer_pub_key)
    }

    fn name(&self) -> NamedGroup {
        self.inner.name()
    }

    fn fips(&self) -> bool {
        self.inner.fips()
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        self.inner.usable_for_version(version)
    }
}

/// rustls's aws-lc-rs provider offering X25519MLKEM768, then X25519 (counted on the
/// server side when `server`).
fn pq_provider(server: bool) -> Arc<CryptoProvider> {
    let group = |inner: &'static dyn SupportedKxGroup, i: usize| -> &'static dyn SupportedKxGroup {
        Box::leak(Box::new(Counted {
            inner,
            counter: server.then_some(&KX[i]),
        }))
    };
    Arc::new(CryptoProvider {
        kx_groups: vec![
            group(aws_lc_rs::kx_group::X25519MLKEM768, 0),
            group(aws_lc_rs::kx_group::X25519, 1),
        ],
        ..aws_lc_rs::default_provider()
    })
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
        let chain = vec![CertificateDer::from(cert.clone())];
        let mut config = if knobs.pq {
            // As quinn's own `with_single_cert`, on the aws-lc-rs provider.
            let mut tls = quinn::rustls::ServerConfig::builder_with_provider(pq_provider(true))
                .with_protocol_versions(&[&quinn::rustls::version::TLS13])
                .expect("TLS 1.3")
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .expect("rustls server config");
            tls.max_early_data_size = u32::MAX;
            ServerConfig::with_crypto(Arc::new(
                QuicServerConfig::try_from(tls).expect("QUIC-capable TLS config"),
            ))
        } else {
            ServerConfig::with_single_cert(chain, key).expect("quinn server config")
        };
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
        let mut config = if knobs.pq {
            let mut tls = quinn::rustls::ClientConfig::builder_with_provider(pq_provider(false))
                .with_protocol_versions(&[&quinn::rustls::version::TLS13])
                .expect("TLS 1.3")
                .with_root_certificates(Arc::new(roots))
                .with_no_client_auth();
            tls.enable_early_data = true;
            ClientConfig::new(Arc::new(
                QuicClientConfig::try_from(tls).expect("QUIC-capable TLS config"),
            ))
        } else {
            ClientConfig::with_root_certificates(Arc::new(roots)).expect("quinn client config")
        };
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

    fn key_exchanges() -> (u64, u64) {
        (KX[0].load(Ordering::Relaxed), KX[1].load(Ordering::Relaxed))
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
