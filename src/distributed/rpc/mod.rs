//! Binary RPC (guide §3.3): typed handlers on a server, a multiplexing
//! client with timeouts, reconnects, retries and at-most-once execution of
//! non-idempotent calls. Generic over [`Network`](crate::net::Network): the
//! same code serves real sockets and turmoil simulations.
//!
//! **What.** The protocol logic is a pair of pure state machines
//! ([`session`]: envelopes in, actions out, no I/O, no clock) plus the
//! server's de-duplication window ([`dedup`]). Thin async drivers
//! ([`serve`], [`Client`]) move frames and time between them and the network.
//! The one place where the server's connections meet, keyed calls through
//! the shared window ([`keyed`]), is written against the task facade and
//! raced by shuttle (`models/rpc_dedup.rs`); the rest is checked by the
//! simulator under faults (see [`sync::task`](crate::sync::task) for the
//! rule).
//!
//! **When.** Service-to-service calls between Rust programs, where a compact
//! binary encoding and precise failure semantics matter more than
//! cross-language reach (for that, see
//! [`jsonrpc_http`](super::jsonrpc_http)).
//!
//! **Compared to.** tarpc: similar shape (multiplexed calls over one
//! connection, serde), but tarpc leaves retries, reconnection and
//! de-duplication to the user; here they are built in and tested under
//! simulated faults. gRPC/tonic: cross-language and HTTP/2, heavier, and
//! retries there require idempotent methods. The guide's version: one call
//! at a time, no timeout, no retry, no de-duplication, so a lost reply hangs
//! the caller forever and a retried call runs twice.
//!
//! # Protocol
//!
//! Each message is one [`frame`](crate::wire::frame) holding one
//! [`Envelope`](crate::wire::binary::Envelope) (postcard):
//!
//! 1. The client sends `Hello { protocol, token, client }`; the server
//!    answers `Welcome { max_in_flight }`, or `Refused { reason }` (a typed
//!    [`Refusal`]) and closes when the shared
//!    token or the protocol version differs. The token is compared in
//!    constant time and never printed (`Secret`). `client` is the client's
//!    id, drawn once per [`Client`] and kept across its reconnects. A
//!    connection that does not complete the handshake in time is closed.
//! 2. The client sends `Call { id, method, idempotency_key, args, trace }`
//!    frames without waiting; the server runs up to `max_in_flight` of them
//!    at once and answers each with `Reply { id, outcome }`, in completion
//!    order. Calls beyond the limit are answered `Overloaded`. `trace` is
//!    the caller's trace context (trace id, span id): each call has a
//!    `rpc.call` span on the client and a `rpc.serve` span on the server
//!    naming it. The method `health` is answered by the server itself
//!    ([`Health`](crate::wire::binary::Health): serving or draining).
//! 3. Either side may close. A server connection with nothing running that
//!    receives no frame for the idle timeout is closed, so a silent or
//!    half-open client cannot hold it.
//!
//! # Guarantees
//!
//! - **Every call ends exactly once**, with its result or a typed
//!   [`RpcError`]. Nothing waits forever: each attempt has a timeout, the
//!   number of attempts is bounded by the retry [`Policy`], and
//!   [`ClientConfig::call_timeout`] bounds the whole call if you need one
//!   deadline.
//! - **At most once for non-idempotent calls.** [`Client::call`] draws a
//!   random 128-bit idempotency key and keeps it across retries. The
//!   client's RNG is seeded from the operating system's entropy unless
//!   [`ClientConfig::seed`] gives a seed (the simulator always does, which
//!   is where its determinism comes from), so clients in different
//!   processes never share keys. The server scopes keys by the client id of
//!   the connection they arrive on, and remembers a fingerprint of each
//!   keyed call's method and arguments: a key reused for a different call
//!   is answered [`RemoteError::KeyReused`], never with the other call's
//!   outcome. The server runs a key once; a duplicate that arrives
//!   while it runs waits for its outcome, one that arrives later gets the
//!   stored outcome. The window holds a bounded number of finished outcomes
//!   ([`ServerConfig::dedup_capacity`]); the guarantee holds for retries that
//!   arrive before their key is evicted, so size it above the calls a server
//!   completes during one client's retry horizon (attempts × (attempt
//!   timeout + backoff cap)). Across a server restart it holds when the
//!   window is kept ([`ServerConfig::dedup_store`]); a call the restart cut
//!   short is answered `Interrupted` and never re-run.
//! - **What a timeout means.** [`RpcError::Timeout`]: no reply arrived for
//!   the last attempt within the attempt timeout. The call may or may not
//!   have executed — exactly the uncertainty a real network imposes — but
//!   with a key it will never execute *again*, so the caller may retry it
//!   with a new call only if running it twice is acceptable, or read the
//!   state to find out.
//! - **Reconnects.** Turmoil's TCP, like a half-open real connection, can
//!   stall silently. When an attempt times out and nothing at all arrived on
//!   the connection since it was sent, the connection is dropped, its other
//!   calls fail over to retries, and the next attempt reconnects.
//! - **Graceful shutdown.** Cancelling the server's token stops accepting;
//!   admitted calls finish and are answered, later ones get `ShuttingDown`
//!   (retryable) and `health` says `Draining`, then connections close.
//! - **Operations.** Metrics through the `metrics` facade ([`metrics`]),
//!   spans through `tracing`, an [`Observer`](server::Observer) hook for
//!   audits. Both drivers are [`net::driver`](crate::net::driver)
//!   protocols.
//!
//! [`Policy`]: crate::resilience::retry::Policy
//!
//! # Example
//!
//! ```
//! use heddle::distributed::rpc::{Client, ClientConfig, RpcError, Router, ServerConfig, serve};
//! use heddle::net::{Addr, Listener, Network, Tokio};
//! use heddle::wire::binary::{Refusal, RemoteError};
//! use tokio_util::sync::CancellationToken;
//!
//! # // Not under shuttle: the server's de-duplication window is on the task
//! # // facade, whose primitives exist only inside a model there.
//! # #[cfg(not(feature = "shuttle"))]
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let router = Router::new()
//!     .route("add", |(a, b): (i64, i64)| async move { Ok::<_, String>(a + b) })
//!     .route("div", |(a, b): (i64, i64)| async move {
//!         a.checked_div(b).ok_or("division by zero")
//!     });
//! let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await?;
//! let addr = Addr::new("127.0.0.1", listener.local_addr()?.port());
//! let stop = CancellationToken::new();
//! let server = tokio::spawn(serve(listener, router, ServerConfig::new(b"s3cret".to_vec()), stop.clone()));
//!
//! let client = Client::new(Tokio, addr.clone(), ClientConfig::new(b"s3cret".to_vec()));
//! // Many calls in flight on one connection.
//! let (a, b) = tokio::join!(
//!     client.call::<_, i64>("add", &(1i64, 2i64)),
//!     client.call_idempotent::<_, i64>("add", &(3i64, 4i64)),
//! );
//! assert_eq!((a?, b?), (3, 7));
//! // Handler errors are typed and not retried.
//! let err = client.call::<_, i64>("div", &(1i64, 0i64)).await.unwrap_err();
//! assert!(matches!(err, RpcError::Remote(RemoteError::Handler(m)) if m == "division by zero"));
//! // A client without the token is refused.
//! let intruder = Client::new(Tokio, addr, ClientConfig::new(b"guess".to_vec()));
//! assert!(matches!(intruder.call::<_, i64>("add", &(1i64, 1i64)).await, Err(RpcError::Refused(Refusal::BadToken))));
//!
//! client.close().await;
//! stop.cancel();
//! server.await??;
//! # Ok(())
//! # })
//! # }
//! # #[cfg(feature = "shuttle")] fn main() {}
//! ```

pub mod client;
mod conn;
pub mod dedup;
#[cfg(feature = "defects")]
pub mod defects;
pub mod keyed;
pub mod metrics;
pub mod server;
pub mod session;

pub use client::{Client, ClientConfig};
pub use server::{Router, ServerConfig, serve};

use crate::wire::WireError;
use crate::wire::binary::{Refusal, RemoteError};

/// Why a call failed, after any retries.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The last attempt got no reply within the attempt timeout. The call
    /// may or may not have executed; a keyed call will not execute again.
    #[error("no reply within the attempt timeout (after {attempts} attempt(s))")]
    Timeout {
        /// Attempts made.
        attempts: u32,
    },
    /// The server could not be reached, or the connection broke, on the
    /// last attempt.
    #[error("server unavailable after {attempts} attempt(s): {cause}")]
    Unavailable {
        /// Attempts made.
        attempts: u32,
        /// What went wrong the last time.
        cause: Unavailable,
    },
    /// The server refused the handshake (wrong token or protocol version).
    #[error("connection refused by the server: {0}")]
    Refused(Refusal),
    /// The server answered with an error (not retried unless it was
    /// `Overloaded` or `ShuttingDown` and the retries ran out).
    #[error("the server answered with an error: {0:?}")]
    Remote(RemoteError),
    /// The arguments could not be encoded, or did not fit in a frame.
    #[error("cannot encode the call: {0}")]
    Encode(WireError),
    /// The reply was not a valid encoding of the expected result type.
    #[error("cannot decode the reply: {0}")]
    Decode(WireError),
    /// [`Client::close`] was called.
    #[error("the client is closed")]
    Closed,
}

/// Why an attempt could not reach the server.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// Opening the stream failed.
    #[error("connect failed: {0}")]
    Connect(std::io::ErrorKind),
    /// Connecting plus the handshake took longer than the connect timeout.
    #[error("connecting took longer than the connect timeout")]
    ConnectTimeout,
    /// The connection ended during the handshake.
    #[error("the handshake failed: {0}")]
    Handshake(ConnectionEnd),
    /// The connection ended while the attempt waited for its reply.
    #[error("the connection was lost")]
    ConnectionLost,
}

/// Why a connection ended (the client logs it; the handshake reports it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionEnd {
    /// Every [`Client`] clone is gone.
    #[error("the client was dropped")]
    ClientDropped,
    /// [`Client::close`] closed it.
    #[error("closed by the client")]
    Closed,
    /// The peer closed the stream.
    #[error("closed by the peer")]
    ClosedByPeer,
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(std::io::ErrorKind),
    /// A write did not finish in time (the peer stopped reading).
    #[error("a write timed out")]
    WriteTimeout,
    /// Nothing arrived since a call that timed out was sent: the stream is
    /// stalled or half-open.
    #[error("silent since a timed-out call was sent")]
    Silent,
    /// The bytes were not a valid frame or envelope.
    #[error("malformed input: {0}")]
    Malformed(WireError),
    /// The peer sent an envelope that breaks the protocol.
    #[error("protocol: {0}")]
    Protocol(session::Violation),
    /// The driver reused a call id still in flight (a bug).
    #[error("call id {0} reused while in flight")]
    IdReused(u64),
}

impl From<crate::net::framed::FramedError> for ConnectionEnd {
    fn from(e: crate::net::framed::FramedError) -> Self {
        use crate::net::framed::FramedError;
        match e {
            FramedError::Io(e) => ConnectionEnd::Io(e.kind()),
            FramedError::Wire(w) => ConnectionEnd::Malformed(w),
            FramedError::Truncated { .. } => ConnectionEnd::Io(std::io::ErrorKind::UnexpectedEof),
        }
    }
}
