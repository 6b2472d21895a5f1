//! The guide's async TCP echo server (§4), written once over [`Network`]:
//! real sockets with [`Tokio`](super::Tokio), simulated hosts with
//! `Turmoil` (feature `turmoil`).
//!
//! **What.** Every byte a client sends comes back. Unlike the guide's
//! version, a connection that stays silent longer than
//! [`EchoConfig::idle_timeout`] is closed (a silent client cannot hold a
//! task forever), at most [`EchoConfig::max_connections`] are served at once
//! (further clients wait in the listen backlog), and [`serve`] stops
//! accepting when its [`CancellationToken`] fires and returns once every
//! connection has finished.
//!
//! **When.** As a template for a line-oriented or byte-stream service, and
//! as the smallest end-to-end test of a [`Network`] implementation.
//!
//! # Example
//!
//! ```
//! use heddle::net::echo::{EchoConfig, serve};
//! use heddle::net::{Addr, Listener, Network, Tokio};
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio_util::sync::CancellationToken;
//!
//! # fn main() -> std::io::Result<()> {
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await?;
//! let port = listener.local_addr()?.port();
//! let stop = CancellationToken::new();
//! let server = tokio::spawn(serve(listener, EchoConfig::default(), stop.clone()));
//!
//! let mut c = Tokio.connect(&Addr::new("127.0.0.1", port)).await?;
//! c.write_all(b"ping").await?;
//! let mut back = [0u8; 4];
//! c.read_exact(&mut back).await?;
//! assert_eq!(&back, b"ping");
//! drop(c);
//!
//! stop.cancel();
//! server.await.expect("server task")?;
//! # Ok(())
//! # })
//! # }
//! ```
//!
//! [`Network`]: super::Network

use super::Listener;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

/// Limits of the echo server.
#[derive(Debug, Clone)]
pub struct EchoConfig {
    /// Close a connection after this long without receiving a byte.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Default for EchoConfig {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

/// Serves echo on `listener` until `stop` is cancelled, then waits for the
/// open connections to end (each ends at its idle timeout at the latest) and
/// returns. Accept errors are logged and do not stop the server.
pub async fn serve<L: Listener>(
    listener: L,
    config: EchoConfig,
    stop: CancellationToken,
) -> io::Result<()> {
    super::serve_connections(&listener, config.max_connections, &stop, |stream, peer| {
        let (idle, stop) = (config.idle_timeout, stop.clone());
        async move {
            if let Err(e) = echo(stream, idle, stop).await {
                tracing::debug!(%peer, error = %e, "echo: connection ended");
            }
        }
    })
    .await;
    Ok(())
}

async fn echo<S: super::Stream>(
    mut stream: S,
    idle: Duration,
    stop: CancellationToken,
) -> io::Result<()> {
    let mut buf = [0u8; 4096];
    let stopping = stop.cancelled();
    tokio::pin!(stopping);
    loop {
        let read = tokio::select! {
            biased;
            () = &mut stopping => return Ok(()),
            read = tokio::time::timeout(idle, stream.read(&mut buf)) => read,
        };
        match read {
            Err(_elapsed) => {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout"));
            }
            Ok(Ok(0)) => return Ok(()),
            Ok(Ok(n)) => stream.write_all(&buf[..n]).await?,
            Ok(Err(e)) => return Err(e),
        }
    }
}
