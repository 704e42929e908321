//! stt-tokio over `wss://` on loopback, with certificates generated at test time: a
//! session moves data byte-exact while bad clients hit the same listener (bytes that
//! are not TLS, TLS without WebSocket, plain `ws://` on the TLS port, text, oversized
//! and garbage binary messages) and harm nothing; clients that cannot verify the
//! certificate fail with a typed error. Every test is bounded by a timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use sha3::{Digest, Sha3_256};
use stt_tokio::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use stt_tokio::{ConnectionError, Identity, NetworkKey, Node, TlsError, WssIdentity, WssTrust};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

const LIMIT: Duration = Duration::from_secs(60);
const LEN: usize = 8 << 20;

/// A self-signed certificate for `names` and its key.
fn self_signed(names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let ck = rcgen::generate_simple_self_signed(names).unwrap();
    let key = PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    (ck.cert.der().clone(), key.into())
}

fn keys(tag: u8) -> (Identity, NetworkKey) {
    (
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
    )
}

async fn server(cert: &CertificateDer<'static>, key: &PrivateKeyDer<'static>) -> Node {
    let (i, n) = keys(1);
    let id = WssIdentity::from_der(vec![cert.clone()], key.clone_key()).unwrap();
    Node::builder(i, n)
        .bind_wss("127.0.0.1:0".parse().unwrap(), id)
        .build()
        .await
        .unwrap()
}

async fn client(trust: Option<WssTrust>) -> Node {
    let (i, n) = keys(2);
    let mut b = Node::builder(i, n);
    if let Some(t) = trust {
        b = b.wss_trust(t);
    }
    b.build().await.unwrap()
}

/// A raw TLS client (rustls, ring) trusting `cert`, for the misbehaving clients.
fn connector(cert: &CertificateDer<'static>) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

async fn tls(
    addr: SocketAddr,
    cert: &CertificateDer<'static>,
) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    connector(cert).connect(name, tcp).await.unwrap()
}

/// Reads until the server closes; true if it did within 5 s.
async fn closed_by_server<S: tokio::io::AsyncRead + Unpin>(mut s: S) -> bool {
    let mut sink = vec![0u8; 4096];
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match s.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

/// A WebSocket over TLS that sent `msg`; true if the server then closed it.
async fn rejects(addr: SocketAddr, cert: &CertificateDer<'static>, msg: Message) -> bool {
    let stream = tls(addr, cert).await;
    let (mut ws, _) =
        tokio_tungstenite::client_async(format!("wss://127.0.0.1:{}/", addr.port()), stream)
            .await
            .unwrap();
    let _ = ws.send(msg).await;
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .is_ok()
}

fn data() -> Vec<u8> {
    (0..LEN)
        .map(|i| (i % 251) as u8 ^ (i >> 14) as u8)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_session_is_byte_exact_and_survives_bad_clients() {
    tokio::time::timeout(LIMIT, async {
        let (cert, key) = self_signed(&["127.0.0.1", "localhost"]);
        let server = server(&cert, &key).await;
        let addr = server.wss_addrs()[0];
        assert!(server.ws_addrs().is_empty());
        let rx = tokio::spawn({
            let server = server.clone();
            async move {
                let s = server.accept().await.unwrap();
                let mut r = s.accept_uni().await.unwrap();
                let mut got = Vec::new();
                r.read_to_end(&mut got).await.unwrap();
                got
            }
        });
        let client = client(Some(WssTrust::from_der([cert.clone()]).unwrap())).await;
        let s = client
            .connect_ws(&format!("wss://127.0.0.1:{}/", addr.port()))
            .await
            .unwrap();
        assert_eq!(s.peer(), server.node_id());
        let d = data();
        let mut w = s.open_uni().await.unwrap();
        w.write_all(&d[..LEN / 2]).await.unwrap();

        // Mid-transfer, on the same listener:
        // bytes that are not TLS at all,
        let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
        raw.write_all(b"GARBAGE / NOT-TLS\r\n\r\n\x00\x01\x02")
            .await
            .unwrap();
        assert!(closed_by_server(raw).await, "non-TLS bytes not refused");
        // a plain ws:// handshake on the TLS port,
        let plain = tokio_tungstenite::connect_async(format!("ws://{addr}/")).await;
        assert!(plain.is_err(), "ws:// accepted on a wss:// listener");
        // TLS, then HTTP garbage instead of a WebSocket upgrade,
        let mut t = tls(addr, &cert).await;
        t.write_all(b"NOT HTTP\r\n\r\n").await.unwrap();
        t.flush().await.unwrap();
        assert!(
            closed_by_server(t).await,
            "non-WebSocket TLS client not refused"
        );
        // a text message and an oversized binary message,
        assert!(rejects(addr, &cert, Message::Text("hello".into())).await);
        assert!(rejects(addr, &cert, Message::Binary(vec![0u8; 1 << 20].into())).await);
        // and a binary message that is no STT packet (dropped by the engine).
        let before = server.stats().dropped_malformed;
        let stream = tls(addr, &cert).await;
        let (mut junk, _) =
            tokio_tungstenite::client_async(format!("wss://127.0.0.1:{}/", addr.port()), stream)
                .await
                .unwrap();
        junk.send(Message::Binary(vec![0xEE; 100].into()))
            .await
            .unwrap();

        w.write_all(&d[LEN / 2..]).await.unwrap();
        w.shutdown().await.unwrap();
        let got = rx.await.unwrap();
        assert_eq!(got.len(), LEN);
        assert_eq!(Sha3_256::digest(&got), Sha3_256::digest(&d));
        assert!(server.stats().dropped_malformed > before);
        assert_eq!(server.stats().sessions_accepted, 1);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverifiable_certificates_are_typed_errors() {
    tokio::time::timeout(LIMIT, async {
        let (cert, key) = self_signed(&["127.0.0.1"]);
        let server = server(&cert, &key).await;
        let url = format!("wss://127.0.0.1:{}/", server.wss_addrs()[0].port());

        // Trusting some other certificate: the server's is not trusted.
        let (other, _) = self_signed(&["127.0.0.1"]);
        let c = client(Some(WssTrust::from_der([other]).unwrap())).await;
        match c.connect_ws(&url).await {
            Err(ConnectionError::Tls(TlsError::UntrustedCertificate(_))) => {}
            other => panic!("expected an untrusted certificate, got {other:?}"),
        }
        // A trusted certificate issued for another name.
        let (named, named_key) = self_signed(&["stt.invalid"]);
        let elsewhere = self::server(&named, &named_key).await;
        let c = client(Some(WssTrust::from_der([named]).unwrap())).await;
        let port = elsewhere.wss_addrs()[0].port();
        match c.connect_ws(&format!("wss://127.0.0.1:{port}/")).await {
            Err(ConnectionError::Tls(TlsError::InvalidCertificate(_))) => {}
            other => panic!("expected a certificate for another name, got {other:?}"),
        }
        // No trust roots at all.
        let c = client(None).await;
        assert_eq!(
            c.connect_ws(&url).await.err(),
            Some(ConnectionError::Tls(TlsError::NoTrustRoots))
        );
        // Not a wss listener at all: the TLS handshake fails.
        let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let silent = tcp.local_addr().unwrap();
        tokio::spawn(async move {
            if let Ok((mut s, _)) = tcp.accept().await {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\nhello").await;
            }
        });
        let c = client(Some(WssTrust::from_der([cert.clone()]).unwrap())).await;
        match c.connect_ws(&format!("wss://{silent}/")).await {
            Err(ConnectionError::Tls(TlsError::Handshake(_))) => {}
            other => panic!("expected a TLS handshake failure, got {other:?}"),
        }
        // None of that made a session, and a trusting client still gets one.
        assert_eq!(server.stats().sessions_accepted, 0);
        let s = c.connect_ws(&url).await.unwrap();
        assert_eq!(s.peer(), server.node_id());
        // The client may finish its handshake before the server has processed the
        // last message: wait for the server's side of the session.
        let inbound = server
            .accept()
            .await
            .expect("the server accepts the session");
        assert_eq!(inbound.peer(), c.node_id());
        assert_eq!(server.stats().sessions_accepted, 1);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_wss_connect_refuses_another_member_and_accepts_the_right_one() {
    use stt_proto::error::SessionError;
    tokio::time::timeout(LIMIT, async {
        let (cert, key) = self_signed(&["127.0.0.1"]);
        let server = server(&cert, &key).await;
        let url = format!("wss://127.0.0.1:{}/", server.wss_addrs()[0].port());
        let c = client(Some(WssTrust::from_der([cert.clone()]).unwrap())).await;
        // The TLS certificate is trusted, but the STT node behind it is not the one asked
        // for: refused with both ids, before RESPONSE, so the server gets no session.
        let stranger = Identity::from_node_seed(&[3; 32]).unwrap().node_id();
        let err = match c.connect_ws_to(&url, stranger).await {
            Ok(_) => panic!("a pinned wss connect accepted the wrong node"),
            Err(e) => e,
        };
        assert_eq!(
            err,
            ConnectionError::Closed(SessionError::PeerMismatch {
                expected: vec![stranger],
                actual: server.node_id(),
            })
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.stats().sessions_accepted, 0);
        let s = c.connect_ws_to(&url, server.node_id()).await.unwrap();
        assert_eq!(s.peer(), server.node_id());
    })
    .await
    .expect("test timed out");
}
