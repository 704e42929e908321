//! Echo over STT on smol: the server returns every bidirectional stream's bytes; the
//! client sends a line and prints what comes back.
//!
//! ```text
//! cargo run -p stt-smol --example echo -- server 127.0.0.1:4433
//! cargo run -p stt-smol --example echo -- client 127.0.0.1:4433 "hello"
//! cargo run -p stt-smol --example echo            # both, in one process
//! ```
//!
//! The seeds are fixed demo values; real nodes load theirs from seed files.

use std::net::SocketAddr;

use smol::io::{AsyncReadExt, AsyncWriteExt};
use stt_smol::{Identity, NetworkKey, Node, Session};

type Error = Box<dyn std::error::Error>;

const NETWORK_SEED: [u8; 32] = [7; 32];

async fn node(id: u8, addr: SocketAddr) -> Result<Node, Error> {
    let identity = Identity::from_node_seed(&[id; 32])?;
    let network = NetworkKey::from_shared_seed(&NETWORK_SEED)?;
    Ok(Node::builder(identity, network)
        .bind_udp(addr)
        .build()
        .await?)
}

/// Echoes every stream the peer opens until the session ends.
async fn echo(session: Session) {
    while let Ok((mut send, mut recv)) = session.accept_bi().await {
        smol::spawn(async move {
            // futures-io all the way: copy the stream back, then finish it.
            if smol::io::copy(&mut recv, &mut send).await.is_ok() {
                let _ = send.close().await;
            }
        })
        .detach();
    }
}

async fn server(node: Node) {
    println!("echo server {} on {:?}", node.node_id(), node.udp_addrs());
    while let Some(session) = node.accept().await {
        println!("session from {}", session.peer());
        smol::spawn(echo(session)).detach();
    }
}

async fn client(node: &Node, server: SocketAddr, message: &str) -> Result<String, Error> {
    let session = node.connect(server).await?;
    let (mut send, mut recv) = session.open_bi().await?;
    send.write_all(message.as_bytes()).await?;
    send.close().await?;
    let mut back = String::new();
    recv.read_to_string(&mut back).await?;
    session.close(0, b"done");
    Ok(back)
}

fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let any: SocketAddr = "127.0.0.1:0".parse()?;
    smol::block_on(async {
        match args.first().map(String::as_str) {
            Some("server") => {
                let addr = args.get(1).map_or("127.0.0.1:4433", String::as_str);
                server(node(1, addr.parse()?).await?).await;
            }
            Some("client") => {
                let addr: SocketAddr = args
                    .get(1)
                    .map_or("127.0.0.1:4433", String::as_str)
                    .parse()?;
                let message = args.get(2).map_or("hello over stt", String::as_str);
                let back = client(&node(2, any).await?, addr, message).await?;
                println!("{back}");
            }
            _ => {
                let srv = node(1, any).await?;
                let addr = srv.udp_addrs()[0];
                smol::spawn(server(srv)).detach();
                let back = client(&node(2, any).await?, addr, "hello over stt").await?;
                println!("echoed: {back}");
                assert_eq!(back, "hello over stt");
            }
        }
        Ok(())
    })
}
