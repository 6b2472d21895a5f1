//! The network abstraction: one trait for bind / accept / connect over byte
//! streams, implemented for tokio (production) and turmoil (simulation).
//!
//! Code above the trait is generic over [`Network`], so one build holds both
//! implementations and chooses at the call site: [`Tokio`] for real sockets,
//! `Turmoil` (feature `turmoil`) inside a `turmoil::Sim`, where hosts, latency, loss,
//! partitions and crashes are all driven by the simulation's seed.
//!
//! Rules for code written against it (they are what makes simulation
//! faithful):
//! - time only through `tokio::time` (turmoil simulates it);
//! - randomness only from an RNG seeded by the caller;
//! - every read needs an application timeout: turmoil's TCP has no
//!   retransmission, so a lossy or partitioned link stalls a stream
//!   silently, exactly like a real half-open connection. Reconnect on timeout.
//!
//! [`framed`] reads and writes [`wire::frame`](crate::wire::frame) frames on
//! any of these streams.
//!
//! # Example
//!
//! An echo server and client written once, run here on real sockets; the
//! same functions run under turmoil in `tests/net_echo.rs`.
//!
//! ```
//! use heddle::net::{Addr, Listener, Network, Tokio};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! async fn echo_once<N: Network>(net: &N, listener: N::Listener) -> std::io::Result<()> {
//!     let (mut stream, _peer) = listener.accept().await?;
//!     let mut buf = [0u8; 5];
//!     stream.read_exact(&mut buf).await?;
//!     stream.write_all(&buf).await
//! }
//!
//! # fn main() -> std::io::Result<()> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let net = Tokio;
//! let listener = net.bind(&Addr::new("127.0.0.1", 0)).await?;
//! let port = listener.local_addr()?.port();
//! let server = tokio::spawn(async move { echo_once(&Tokio, listener).await });
//! let mut client = net.connect(&Addr::new("127.0.0.1", port)).await?;
//! client.write_all(b"hello").await?;
//! let mut back = [0u8; 5];
//! client.read_exact(&mut back).await?;
//! assert_eq!(&back, b"hello");
//! server.await.expect("server task")?;
//! # Ok(())
//! # })
//! # }
//! ```

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

pub mod driver;
pub mod echo;
pub mod framed;

/// A host name (or IP literal) and a port. Under turmoil the host is a
/// simulated host's name; under tokio it is resolved by the OS.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    /// Host name or IP literal.
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Addr {
    /// `host:port`.
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
        }
    }
}

/// Why a string is not an [`Addr`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// No `:` separates host and port.
    #[error("address {0:?} is not HOST:PORT")]
    MissingPort(String),
    /// The port is not a number from 0 to 65535.
    #[error("bad port in address {0:?}")]
    BadPort(String),
}

/// Parses `host:port` (the last `:` separates them, so `[::1]:80` keeps its
/// brackets in the host).
///
/// ```
/// use heddle::net::Addr;
/// assert_eq!("127.0.0.1:3030".parse(), Ok(Addr::new("127.0.0.1", 3030)));
/// assert!("localhost".parse::<Addr>().is_err());
/// ```
impl std::str::FromStr for Addr {
    type Err = AddrError;

    fn from_str(s: &str) -> Result<Self, AddrError> {
        let (host, port) = s
            .rsplit_once(':')
            .ok_or_else(|| AddrError::MissingPort(s.to_owned()))?;
        let port = port.parse().map_err(|_| AddrError::BadPort(s.to_owned()))?;
        Ok(Addr::new(host, port))
    }
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// A byte stream: what [`Network::connect`] and [`Listener::accept`] return.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for T {}

/// A network that can listen and connect.
pub trait Network: Clone + Send + Sync + 'static {
    /// The connected stream type.
    type Stream: Stream;
    /// The listener type.
    type Listener: Listener<Stream = Self::Stream>;

    /// Listens on `addr` (port 0 picks a free port where supported).
    fn bind(&self, addr: &Addr) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// Opens a stream to `addr`.
    fn connect(&self, addr: &Addr) -> impl Future<Output = io::Result<Self::Stream>> + Send;
}

/// How [`serve_connections`] runs the connections it accepts: a property
/// of the network, so that a server has one code path for its protocol and
/// each network gets the strategy it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connections {
    /// Each connection is a spawned task (tracked, bounded, drained on
    /// shutdown): connections run in parallel on a multi-threaded runtime,
    /// and one that blocks its thread stalls only itself. For real sockets.
    Spawned,
    /// Every connection is driven inside the accept loop's own future (one
    /// task, one core at a time). For simulation: when a simulated host
    /// crashes, its connections are dropped (and send their FINs) in the
    /// order this future holds them, a function of the seed; spawned tasks
    /// would be dropped in tokio's task-id order, a process-wide counter that
    /// depends on what else ran in the process.
    Inline,
}

/// A bound listener.
pub trait Listener: Send + Sync + 'static {
    /// The accepted stream type.
    type Stream: Stream;

    /// How [`serve_connections`] runs this listener's connections. The
    /// default, [`Connections::Spawned`], suits real sockets; a simulated
    /// network must say [`Connections::Inline`] to stay deterministic.
    const CONNECTIONS: Connections = Connections::Spawned;

    /// Waits for the next connection.
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;

    /// The address actually bound.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// Real sockets, through tokio.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tokio;

impl Network for Tokio {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(&self, addr: &Addr) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind((addr.host.as_str(), addr.port)).await
    }

    async fn connect(&self, addr: &Addr) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect((addr.host.as_str(), addr.port)).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }
}

impl Listener for tokio::net::TcpListener {
    type Stream = tokio::net::TcpStream;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        let (stream, peer) = tokio::net::TcpListener::accept(self).await?;
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        tokio::net::TcpListener::local_addr(self)
    }
}

/// Simulated sockets, inside a `turmoil::Sim` host or client (feature
/// `turmoil`, for tests and simulations only).
///
/// Outside a simulation every call fails (turmoil panics when used outside
/// a `Sim`; do not call these from plain tokio code).
#[cfg(feature = "turmoil")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Turmoil;

#[cfg(feature = "turmoil")]
impl Network for Turmoil {
    type Stream = turmoil::net::TcpStream;
    type Listener = turmoil::net::TcpListener;

    async fn bind(&self, addr: &Addr) -> io::Result<Self::Listener> {
        turmoil::net::TcpListener::bind((addr.host.as_str(), addr.port)).await
    }

    async fn connect(&self, addr: &Addr) -> io::Result<Self::Stream> {
        turmoil::net::TcpStream::connect((addr.host.as_str(), addr.port)).await
    }
}

#[cfg(feature = "turmoil")]
impl Listener for turmoil::net::TcpListener {
    type Stream = turmoil::net::TcpStream;

    const CONNECTIONS: Connections = Connections::Inline;

    async fn accept(&self) -> io::Result<(Self::Stream, SocketAddr)> {
        turmoil::net::TcpListener::accept(self).await
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        turmoil::net::TcpListener::local_addr(self)
    }
}

/// The accept loop every server here shares: accepts on `listener` and
/// runs each connection with `handle` until `stop` fires, at most
/// `max_connections` at once (further clients wait in the listen backlog);
/// then stops accepting and returns once every open connection has ended
/// (`handle` should watch `stop` too). Accept errors are logged and do not
/// stop the loop.
///
/// How connections run is the listener's [`Listener::CONNECTIONS`]: on real
/// sockets each is a spawned task, so a server on a multi-threaded runtime
/// uses every core and a connection whose work blocks its thread delays
/// only itself (a panicking connection is logged and closed, the server
/// goes on); under turmoil they are driven inside this future, so a crash
/// closes them in an order fixed by the seed. Dropping this future (aborting
/// the server) drops every connection either way.
///
/// ```
/// use heddle::net::{Addr, Listener, Network, Tokio, serve_connections};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio_util::sync::CancellationToken;
///
/// # fn main() -> std::io::Result<()> {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await?;
/// let port = listener.local_addr()?.port();
/// let stop = CancellationToken::new();
/// let server = tokio::spawn({
///     let stop = stop.clone();
///     async move {
///         serve_connections(&listener, 16, &stop, |mut stream, _peer| async move {
///             let _ = stream.write_all(b"hi").await;
///         })
///         .await
///     }
/// });
/// let mut c = Tokio.connect(&Addr::new("127.0.0.1", port)).await?;
/// let mut hi = [0u8; 2];
/// c.read_exact(&mut hi).await?;
/// assert_eq!(&hi, b"hi");
/// stop.cancel();
/// server.await.expect("server task");
/// # Ok(())
/// # })
/// # }
/// ```
pub async fn serve_connections<L, F, Fut>(
    listener: &L,
    max_connections: usize,
    stop: &CancellationToken,
    mut handle: F,
) where
    L: Listener,
    F: FnMut(L::Stream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut connections = Running::new(L::CONNECTIONS);
    let max = max_connections.max(1);
    // Created once: a fresh `cancelled()` per turn would register with the
    // token again on every event.
    let stopping = stop.cancelled();
    tokio::pin!(stopping);
    loop {
        tokio::select! {
            biased;
            () = &mut stopping => break,
            Some(()) = connections.next(), if !connections.is_empty() => {}
            accepted = listener.accept(), if connections.len() < max => match accepted {
                Ok((stream, peer)) => {
                    tracing::debug!(%peer, "connection accepted");
                    connections.push(handle(stream, peer));
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            },
        }
    }
    while connections.next().await.is_some() {}
}

/// The open connections of [`serve_connections`], run as its listener's
/// [`Connections`] says.
enum Running<Fut> {
    Spawned(JoinSet<()>),
    Inline(FuturesUnordered<Fut>),
}

impl<Fut: Future<Output = ()> + Send + 'static> Running<Fut> {
    fn new(strategy: Connections) -> Self {
        match strategy {
            Connections::Spawned => Running::Spawned(JoinSet::new()),
            Connections::Inline => Running::Inline(FuturesUnordered::new()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Running::Spawned(set) => set.len(),
            Running::Inline(set) => set.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn push(&mut self, connection: Fut) {
        match self {
            Running::Spawned(set) => {
                set.spawn(connection);
            }
            Running::Inline(set) => set.push(connection),
        }
    }

    /// Waits for one connection to end; `None` when none is open.
    async fn next(&mut self) -> Option<()> {
        match self {
            Running::Spawned(set) => {
                let ended = set.join_next().await?;
                if let Err(e) = ended {
                    // A cancelled task cannot occur (nothing aborts them
                    // while the set lives); a panic ends only its connection.
                    tracing::error!(error = %e, "connection task failed");
                }
                Some(())
            }
            Running::Inline(set) => set.next().await,
        }
    }
}
