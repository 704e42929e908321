//! The [`Contender`] trait: the few operations the rows need (a server, a client,
//! connect, accept, one-way streams), implemented once for STT and once for quinn so
//! one generic harness (`rows.rs`) drives both the same way. No measuring here.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

/// What a client needs to reach a server: its UDP address and, for TLS, the
/// self-signed certificate (DER) to trust (empty for STT).
#[derive(Clone, Debug)]
pub struct Ticket {
    /// The server's UDP address.
    pub addr: SocketAddr,
    /// The certificate a quinn client trusts; empty for STT.
    pub cert: Vec<u8>,
}

/// The settings a row may change from both stacks' defaults.
#[derive(Clone, Copy, Debug, Default)]
pub struct Knobs {
    /// Idle timeout (`None`: each stack's default, 30 s for both).
    pub idle_timeout: Option<Duration>,
    /// Post-quantum hybrid key exchange (row c′): STT `NodeConfig::pq = Require`; quinn
    /// with rustls's aws-lc-rs provider offering X25519MLKEM768 first.
    pub pq: bool,
}

/// One transport under test. Futures are `Send` so the harness can spawn them.
pub trait Contender: 'static {
    /// Name in the table.
    const NAME: &'static str;
    /// A listening endpoint.
    type Server: Send + Sync + 'static;
    /// A client endpoint (one UDP socket).
    type Client: Send + Sync + 'static;
    /// An established session.
    type Conn: Clone + Send + Sync + 'static;
    /// The sending half of a unidirectional stream.
    type Send: Send + 'static;
    /// The receiving half of a unidirectional stream.
    type Recv: Send + 'static;

    /// Binds a server on 127.0.0.1.
    fn server(knobs: Knobs) -> impl Future<Output = Self::Server> + Send;
    /// How clients reach `server`.
    fn ticket(server: &Self::Server) -> Ticket;
    /// The next established inbound session (handshakes complete concurrently).
    fn accept(server: &Self::Server) -> impl Future<Output = Option<Self::Conn>> + Send;
    /// Binds a client on 127.0.0.1 that will connect to `to`.
    fn client(knobs: Knobs, to: Ticket) -> impl Future<Output = Self::Client> + Send;
    /// Completes one handshake with the client's server.
    fn connect(client: &Self::Client) -> impl Future<Output = Result<Self::Conn, String>> + Send;
    /// Closes a session (application code 0) without waiting.
    fn close(conn: Self::Conn);
    /// Packets the session declared lost so far.
    fn lost_packets(conn: &Self::Conn) -> u64;
    /// More of the session's own counters, as ` key=value` pairs for the notes.
    fn details(_conn: &Self::Conn) -> String {
        String::new()
    }
    /// Opens a unidirectional stream, waiting for stream credit.
    fn open_uni(conn: &Self::Conn) -> impl Future<Output = Self::Send> + Send;
    /// The peer's next unidirectional stream; `None` once the session ended.
    fn accept_uni(conn: &Self::Conn) -> impl Future<Output = Option<Self::Recv>> + Send;
    /// Writes all of `data`.
    fn write_all<'a>(s: &'a mut Self::Send, data: &'a [u8])
    -> impl Future<Output = ()> + Send + 'a;
    /// Finishes the stream without waiting for the acknowledgement.
    fn finish(s: Self::Send);
    /// Length of the next chunk read; `None` at the end of the stream.
    fn read_chunk(r: &mut Self::Recv) -> impl Future<Output = Option<usize>> + Send + '_;
    /// Key exchanges completed in this process so far: (hybrid X25519+ML-KEM-768,
    /// classic), as the stack itself reports them, so a row can prove which ran.
    fn key_exchanges() -> (u64, u64);
}
