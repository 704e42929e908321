//! `wss://` is tokio-only: on stt-smol a `bind_wss` listener fails the build with an
//! `Unsupported` IO error, and dialing a `wss://` URL fails with a transport error;
//! neither panics nor leaves a node half-built.

use std::io::ErrorKind;

use stt_adapter::pki_types::PrivatePkcs8KeyDer;
use stt_adapter::{BindError, ConnectionError, Identity, NetworkKey, WssIdentity, WssTrust};
use stt_smol::Node;

fn keys(tag: u8) -> (Identity, NetworkKey) {
    (
        Identity::from_node_seed(&[tag; 32]).unwrap(),
        NetworkKey::from_shared_seed(&[9; 32]).unwrap(),
    )
}

#[test]
fn smol_refuses_wss() {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = ck.cert.der().clone();
    let key = PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der());
    let id = WssIdentity::from_der(vec![cert.clone()], key.into()).unwrap();
    smol::block_on(async {
        let (i, n) = keys(1);
        let built = Node::builder(i, n)
            .bind_wss("127.0.0.1:0".parse().unwrap(), id)
            .build()
            .await;
        match built {
            Err(BindError::Io { source, .. }) => assert_eq!(source.kind(), ErrorKind::Unsupported),
            other => panic!("expected Unsupported, got {other:?}"),
        }
        let (i, n) = keys(2);
        let client = Node::builder(i, n)
            .wss_trust(WssTrust::from_der([cert]).unwrap())
            .build()
            .await
            .unwrap();
        match client.connect_ws("wss://127.0.0.1:1/").await {
            Err(ConnectionError::Transport(_)) => {}
            other => panic!("expected a transport error, got {:?}", other.err()),
        }
    });
}
