//! The RPC client's async driver: one multiplexed connection, opened
//! lazily and re-opened after failures, per-attempt timeouts, retries with
//! capped full-jitter backoff, and idempotency keys.
//!
//! See the [module header](super) for the protocol and its guarantees, and
//! [`serve`](super::serve) for an example.

use super::conn::{Answer, SendError, Shared, Waiter};
#[cfg(feature = "defects")]
use super::defects::ClientDefect;
use super::metrics;
use super::session::{ClientEvent, ClientSession};
use super::{ConnectionEnd, RpcError, Unavailable};
use crate::net::framed::FrameReader;
use crate::net::{Addr, Network};
use crate::resilience::retry::{Backoff, Classification, Policy, retry};
use crate::wire::binary::{self, CallRef, Refusal, RemoteError, Secret, TraceContext};
use crate::wire::frame::FrameCodec;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::time::Instant;
use tracing::Instrument;

/// How a client behaves.
///
/// ```
/// use heddle::distributed::rpc::ClientConfig;
/// use heddle::resilience::retry::{Backoff, Policy};
/// use std::time::Duration;
/// let config = ClientConfig::new(b"shared secret".to_vec())
///     .attempt_timeout(Duration::from_millis(500))
///     .retry(Policy::new(Backoff::new(Duration::from_millis(10), Duration::from_secs(1)), 4))
///     .seed(42);
/// ```
///
/// The token is a [`Secret`]: `Debug` shows `Secret(<redacted>)`.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    token: Secret,
    attempt_timeout: Duration,
    connect_timeout: Duration,
    retry: Policy,
    seed: Option<u64>,
    codec: FrameCodec,
    call_timeout: Option<Duration>,
    #[cfg(feature = "defects")]
    defect: Option<ClientDefect>,
}

impl ClientConfig {
    /// Presents `token`. Defaults: 1 s per attempt, 1 s to connect and
    /// complete the handshake, 5 attempts with full-jitter backoff from
    /// 20 ms capped at 1 s, an RNG seeded from the operating system's
    /// entropy (see [`seed`](Self::seed)), frames up to
    /// [`DEFAULT_MAX_FRAME`](crate::wire::frame::DEFAULT_MAX_FRAME).
    pub fn new(token: impl Into<Secret>) -> Self {
        Self {
            token: token.into(),
            attempt_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            retry: Policy::new(
                Backoff::new(Duration::from_millis(20), Duration::from_secs(1)),
                5,
            ),
            seed: None,
            codec: FrameCodec::default(),
            call_timeout: None,
            #[cfg(feature = "defects")]
            defect: None,
        }
    }

    /// How long one attempt waits for its reply.
    pub fn attempt_timeout(mut self, d: Duration) -> Self {
        self.attempt_timeout = d;
        self
    }

    /// A bound on the whole call, retries and backoff included: when it
    /// passes, the call ends with [`RpcError::Timeout`] whatever attempt is
    /// under way. Without it (the default) a call is bounded by the retry
    /// policy: at most `max_attempts` × (attempt or connect timeout) plus
    /// the backoff between them. (An attempt on a connection stuck writing
    /// to a server that stopped reading can last up to twice the attempt
    /// timeout: the write's own limit, after which the connection ends.)
    pub fn call_timeout(mut self, d: Duration) -> Self {
        self.call_timeout = Some(d);
        self
    }

    /// How long connecting plus the handshake may take.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// When to retry (attempts, backoff, optional shared budget).
    pub fn retry(mut self, policy: Policy) -> Self {
        self.retry = policy;
        self
    }

    /// Seeds the RNG that draws the client id, idempotency keys, trace ids
    /// and backoff jitter: two clients making the same calls with the same
    /// seed behave identically, which is what a simulation needs (heddle's
    /// simulator always passes one). Without a seed (the default) the RNG
    /// is seeded from the operating system's entropy, so clients in any
    /// number of processes never share ids or keys. Two clients given one
    /// seed present the same client id and the same keys: the server then
    /// answers the second user of a key [`RemoteError::KeyReused`] (never
    /// the other call's outcome), so give distinct clients distinct seeds.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// The frame codec (maximum frame size).
    pub fn codec(mut self, codec: FrameCodec) -> Self {
        self.codec = codec;
        self
    }

    /// Test equipment (feature `defects`): plants `defect`.
    #[cfg(feature = "defects")]
    pub fn planted_defect(mut self, defect: ClientDefect) -> Self {
        self.defect = Some(defect);
        self
    }

    fn no_timeout(&self) -> bool {
        #[cfg(feature = "defects")]
        if self.defect == Some(ClientDefect::NoTimeout) {
            return true;
        }
        false
    }
}

/// Tells the connection to forget call `id` unless disarmed (`id = None`).
struct Pending<'a, S: crate::net::Stream> {
    conn: &'a Shared<S>,
    id: Option<u64>,
}

impl<S: crate::net::Stream> Drop for Pending<'_, S> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.conn.abandon(id);
        }
    }
}

struct Inner<N: Network> {
    net: N,
    addr: Addr,
    config: ClientConfig,
    rng: Mutex<SmallRng>,
    /// Presented at every handshake: the server scopes our keys by it.
    client_id: u128,
    next_id: AtomicU64,
    /// The current connection, `None` before the first call, after a failure
    /// and after [`Client::close`]. Locked across connecting, so concurrent
    /// callers share one connection attempt.
    connection: tokio::sync::Mutex<Option<Arc<Shared<N::Stream>>>>,
    /// The same connection behind a short std lock: a call on a live
    /// connection takes it from here without the async lock.
    current: Mutex<Option<Arc<Shared<N::Stream>>>>,
    closed: AtomicBool,
}

impl<N: Network> Inner<N> {
    fn current(&self) -> std::sync::MutexGuard<'_, Option<Arc<Shared<N::Stream>>>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<N: Network> Drop for Inner<N> {
    fn drop(&mut self) {
        // The connection task holds the connection too: tell it to end.
        if let Some(conn) = self.connection.get_mut().take() {
            conn.close(ConnectionEnd::ClientDropped);
        }
    }
}

/// A client of one RPC server. Clones share the connection.
///
/// Calls made at once are multiplexed on one connection. Each attempt waits
/// at most the attempt timeout; failed attempts that may succeed later
/// (timeout, lost connection, refused connection, `Overloaded`,
/// `ShuttingDown`) are retried by the [`Policy`]; a connection silent since
/// a timed-out call was sent is dropped and re-opened by the next attempt.
///
/// ```no_run
/// use heddle::distributed::rpc::{Client, ClientConfig, RpcError};
/// use heddle::net::{Addr, Tokio};
///
/// # async fn demo() -> Result<(), RpcError> {
/// let client = Client::new(Tokio, Addr::new("10.0.0.7", 4000), ClientConfig::new(b"token".to_vec()));
/// // A transfer must not run twice: `call` gives it an idempotency key.
/// let receipt: u64 = client.call("transfer", &("alice", "bob", 10u64)).await?;
/// // A read may run twice: no key, nothing kept on the server.
/// let balance: u64 = client.call_idempotent("balance", &"bob").await?;
/// # let _ = (receipt, balance);
/// # Ok(())
/// # }
/// ```
pub struct Client<N: Network> {
    inner: Arc<Inner<N>>,
}

impl<N: Network> Clone for Client<N> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<N: Network> std::fmt::Debug for Client<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("addr", &self.inner.addr)
            .finish_non_exhaustive()
    }
}

/// Why one attempt failed.
#[derive(Debug)]
enum AttemptError {
    Timeout,
    Unavailable(Unavailable),
    Refused(Refusal),
    Remote(RemoteError),
    Encode(crate::wire::WireError),
    Closed,
}

impl AttemptError {
    fn class(&self) -> Classification {
        match self {
            AttemptError::Timeout | AttemptError::Unavailable(_) => Classification::Retryable,
            AttemptError::Remote(RemoteError::Overloaded | RemoteError::ShuttingDown) => {
                Classification::Retryable
            }
            _ => Classification::Permanent,
        }
    }
}

impl<N: Network> Client<N> {
    /// A client of the server at `addr`. Nothing is sent until the first
    /// call.
    pub fn new(net: N, addr: Addr, config: ClientConfig) -> Self {
        let mut rng = match config.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        Self {
            inner: Arc::new(Inner {
                net,
                addr,
                client_id: rng.random(),
                rng: Mutex::new(rng),
                config,
                next_id: AtomicU64::new(1),
                connection: tokio::sync::Mutex::new(None),
                current: Mutex::new(None),
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Calls `method`, which need not be idempotent: the call carries a
    /// fresh idempotency key, kept across retries, and the server executes
    /// it at most once. On an error the call may or may not have executed
    /// ([`RpcError::Timeout`]: the last attempt got no answer), but a later
    /// call never executes it.
    pub async fn call<A, R>(&self, method: &str, args: &A) -> Result<R, RpcError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.invoke(method, args, true).await
    }

    /// Calls an idempotent `method` (one that may safely run more than once,
    /// such as a read): retries carry no key, and the server keeps nothing
    /// for them.
    pub async fn call_idempotent<A, R>(&self, method: &str, args: &A) -> Result<R, RpcError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.invoke(method, args, false).await
    }

    /// Closes the connection. Calls waiting on it fail; later calls return
    /// [`RpcError::Closed`].
    pub async fn close(&self) {
        self.inner.closed.store(true, Relaxed);
        let conn = self.inner.connection.lock().await.take();
        self.inner.current().take();
        if let Some(conn) = conn {
            conn.close(ConnectionEnd::Closed);
        }
    }

    /// [`call`](Self::call) as part of the caller's trace: the envelope
    /// carries `trace` (its trace id, and the caller's span as the parent
    /// of the server's span for the call) instead of a fresh one.
    pub async fn call_traced<A, R>(
        &self,
        trace: TraceContext,
        method: &str,
        args: &A,
    ) -> Result<R, RpcError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.invoke_traced(method, args, true, Some(trace)).await
    }

    async fn invoke<A, R>(&self, method: &str, args: &A, keyed: bool) -> Result<R, RpcError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        self.invoke_traced(method, args, keyed, None).await
    }

    /// One call: its metrics and its span around [`run_call`](Self::run_call).
    async fn invoke_traced<A, R>(
        &self,
        method: &str,
        args: &A,
        keyed: bool,
        trace: Option<TraceContext>,
    ) -> Result<R, RpcError>
    where
        A: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        metrics::metric!(counter, CLIENT_CALLS).increment(1);
        let start = Instant::now();
        let args = binary::to_vec(args).map_err(RpcError::Encode)?;
        let (key, trace, rng) = {
            let mut rng = self
                .inner
                .rng
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let key = keyed.then(|| rng.random::<u128>());
            let trace = trace.unwrap_or_else(|| TraceContext {
                trace_id: rng.random(),
                span_id: rng.random(),
            });
            (key, trace, SmallRng::seed_from_u64(rng.random()))
        };
        let span = tracing::debug_span!(
            "rpc.call",
            method,
            trace_id = trace.trace_id,
            span_id = trace.span_id,
            keyed
        );
        let outcome = self
            .run_call(method, &args, key, trace, rng)
            .instrument(span)
            .await;
        metrics::metric!(histogram, CLIENT_CALL_SECONDS).record(start.elapsed().as_secs_f64());
        binary::decode(&outcome?).map_err(RpcError::Decode)
    }

    /// The attempts of one call, under the retry policy and the call
    /// timeout.
    async fn run_call(
        &self,
        method: &str,
        args: &[u8],
        key: Option<u128>,
        trace: TraceContext,
        mut rng: SmallRng,
    ) -> Result<Vec<u8>, RpcError> {
        let attempts = AtomicU32::new(0);
        let run = retry(
            &self.inner.config.retry,
            &mut rng,
            AttemptError::class,
            || {
                if attempts.fetch_add(1, Relaxed) > 0 {
                    metrics::metric!(counter, CLIENT_RETRIES).increment(1);
                }
                self.attempt(method, args, key, trace)
            },
        );
        let outcome = match self.inner.config.call_timeout {
            None => run.await,
            Some(limit) => match tokio::time::timeout(limit, run).await {
                Ok(outcome) => outcome,
                Err(_elapsed) => {
                    return Err(RpcError::Timeout {
                        attempts: attempts.load(Relaxed),
                    });
                }
            },
        };
        outcome.map_err(|e| {
            let attempts = e.attempts();
            match e.into_inner() {
                AttemptError::Timeout => RpcError::Timeout { attempts },
                AttemptError::Unavailable(cause) => RpcError::Unavailable { attempts, cause },
                AttemptError::Refused(reason) => RpcError::Refused(reason),
                AttemptError::Remote(remote) => RpcError::Remote(remote),
                AttemptError::Encode(e) => RpcError::Encode(e),
                AttemptError::Closed => RpcError::Closed,
            }
        })
    }

    async fn attempt(
        &self,
        method: &str,
        args: &[u8],
        key: Option<u128>,
        trace: TraceContext,
    ) -> Result<Vec<u8>, AttemptError> {
        let inner = &*self.inner;
        let conn = self.connection().await?;
        let id = inner.next_id.fetch_add(1, Relaxed);
        // Encoded straight into the connection's queue, borrowing method
        // and arguments; a lone caller writes it at once.
        let call = CallRef {
            id,
            method,
            idempotency_key: key,
            args,
            trace: Some(trace),
        };
        let (reply, answer) = oneshot::channel();
        let timed = !inner.config.no_timeout();
        conn.send(&call, reply, timed).map_err(|e| match e {
            SendError::Lost => AttemptError::Unavailable(Unavailable::ConnectionLost),
            SendError::Encode(e) => AttemptError::Encode(e),
        })?;
        // If this attempt is dropped before its answer (the call's overall
        // timeout, or the caller gave up), the connection forgets the call.
        // The attempt timeout is the connection's to enforce (one timer for
        // all its calls): it answers `TimedOut`, and ends itself if nothing
        // at all arrived since the call was sent.
        let mut pending = Pending {
            conn: &conn,
            id: Some(id),
        };
        let answer = answer.await;
        pending.id = None;
        match answer {
            Ok(Answer::Reply(Ok(bytes))) => Ok(bytes),
            Ok(Answer::Reply(Err(remote))) => Err(AttemptError::Remote(remote)),
            Ok(Answer::TimedOut) => {
                metrics::metric!(counter, CLIENT_TIMEOUTS).increment(1);
                Err(AttemptError::Timeout)
            }
            Err(_dropped) => Err(AttemptError::Unavailable(Unavailable::ConnectionLost)),
        }
    }

    /// The live connection, connecting first if needed.
    async fn connection(&self) -> Result<Arc<Shared<N::Stream>>, AttemptError> {
        let inner = &*self.inner;
        let live = inner.current().as_ref().filter(|c| c.is_open()).cloned();
        if let Some(conn) = live.filter(|_| !inner.closed.load(Relaxed)) {
            return Ok(conn);
        }
        let mut slot = inner.connection.lock().await;
        if inner.closed.load(Relaxed) {
            return Err(AttemptError::Closed);
        }
        if let Some(conn) = slot.as_ref().filter(|c| c.is_open()) {
            return Ok(Arc::clone(conn));
        }
        *slot = None;
        let limit = inner.config.connect_timeout;
        let (session, reader, writer) = match tokio::time::timeout(limit, self.open()).await {
            Ok(result) => result?,
            Err(_elapsed) => return Err(AttemptError::Unavailable(Unavailable::ConnectTimeout)),
        };
        let (conn, task) = Shared::start(
            session,
            reader,
            writer,
            inner.config.codec,
            inner.config.attempt_timeout,
        );
        tokio::spawn(task);
        *slot = Some(Arc::clone(&conn));
        *inner.current() = Some(Arc::clone(&conn));
        Ok(conn)
    }

    /// Connects and completes the handshake.
    async fn open(&self) -> Result<Parts<N::Stream>, AttemptError> {
        let inner = &*self.inner;
        let stream = inner
            .net
            .connect(&inner.addr)
            .await
            .map_err(|e| AttemptError::Unavailable(Unavailable::Connect(e.kind())))?;
        let (rd, mut wr) = tokio::io::split(stream);
        let mut reader = FrameReader::new(rd, inner.config.codec);
        let mut session = ClientSession::new(inner.config.token.clone(), inner.client_id);
        let handshake = |end: ConnectionEnd| AttemptError::Unavailable(Unavailable::Handshake(end));
        let mut out = Vec::new();
        let payload = binary::to_vec(&session.hello()).map_err(AttemptError::Encode)?;
        inner
            .config
            .codec
            .encode(&payload, &mut out)
            .map_err(AttemptError::Encode)?;
        write_all(&mut wr, &out)
            .await
            .map_err(|e| handshake(ConnectionEnd::Io(e.kind())))?;
        let bytes = match reader.next().await {
            Ok(Some(bytes)) => bytes,
            Ok(None) => return Err(handshake(ConnectionEnd::ClosedByPeer)),
            Err(e) => return Err(handshake(e.into())),
        };
        let envelope = binary::decode(bytes).map_err(|e| handshake(ConnectionEnd::Malformed(e)))?;
        match session.on_envelope(envelope) {
            ClientEvent::Ready { .. } => Ok((session, reader, wr)),
            ClientEvent::Refused(reason) => Err(AttemptError::Refused(reason)),
            ClientEvent::Violation(v) => Err(handshake(ConnectionEnd::Protocol(v))),
            ClientEvent::Completed { .. } | ClientEvent::Late(_) => Err(handshake(
                ConnectionEnd::Protocol(super::session::Violation::Unexpected {
                    kind: "Reply",
                    when: "before",
                }),
            )),
        }
    }
}

type Parts<S> = (
    ClientSession<Waiter>,
    FrameReader<tokio::io::ReadHalf<S>>,
    tokio::io::WriteHalf<S>,
);

async fn write_all<W: AsyncWrite + Unpin>(w: &mut W, bytes: &[u8]) -> std::io::Result<()> {
    w.write_all(bytes).await?;
    w.flush().await
}
