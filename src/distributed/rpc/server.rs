//! The RPC server's async driver: accepts connections on any
//! [`Listener`], and moves frames and handler outcomes between the network
//! and each connection's [`ServerSession`].
//!
//! See the [module header](super) for the protocol and its guarantees, and
//! [`serve`] for an example.

use super::dedup::{DedupStore, Outcome};
#[cfg(feature = "defects")]
use super::defects::ServerDefect;
use super::keyed::Port;
use super::metrics;
use super::session::{Admission, Phase, ServerAction, ServerSession};
use crate::net::driver::{self, Flow, IoEnd, Limits, Protocol};
use crate::net::framed::FrameReader;
use crate::net::{Listener, Stream};
use crate::wire::binary::{
    self, CallRef, Envelope, Health, Incoming, RemoteError, Reply, Secret, TraceContext,
};
use crate::wire::frame::FrameCodec;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::fmt::Display;
use std::future::Future;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// A boxed handler future.
type HandlerFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;
/// A type-erased handler: argument bytes in, outcome out.
type Handler = Arc<dyn Fn(&[u8]) -> HandlerFuture + Send + Sync>;

/// The methods a server answers, by name.
///
/// ```
/// use heddle::distributed::rpc::Router;
/// let router = Router::new()
///     .route("add", |(a, b): (i64, i64)| async move { Ok::<_, String>(a + b) })
///     .route("echo", |s: String| async move { Ok::<_, String>(s) });
/// assert_eq!(router.methods().collect::<Vec<_>>(), ["add", "echo"]);
/// ```
#[derive(Clone, Default)]
pub struct Router {
    routes: BTreeMap<String, Handler>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.routes.keys()).finish()
    }
}

impl Router {
    /// No methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) `method`: its arguments decode as `A`, its result
    /// encodes from `R`, and an `Err(e)` reaches the caller as
    /// [`RemoteError::Handler`] with `e`'s message.
    pub fn route<A, R, E, F, Fut>(mut self, method: impl Into<String>, handler: F) -> Self
    where
        A: DeserializeOwned + Send + 'static,
        R: Serialize + 'static,
        E: Display + 'static,
        F: Fn(A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, E>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let erased: Handler = Arc::new(move |bytes: &[u8]| {
            let args = binary::decode::<A>(bytes);
            let handler = Arc::clone(&handler);
            Box::pin(async move {
                let args = args.map_err(|e| RemoteError::BadArguments(e.to_string()))?;
                match handler(args).await {
                    Ok(value) => {
                        binary::to_vec(&value).map_err(|e| RemoteError::Handler(e.to_string()))
                    }
                    Err(e) => Err(RemoteError::Handler(e.to_string())),
                }
            })
        });
        self.routes.insert(method.into(), erased);
        self
    }

    /// The registered method names, in order.
    pub fn methods(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    fn dispatch(&self, method: &str, args: &[u8]) -> HandlerFuture {
        match self.routes.get(method) {
            Some(handler) => handler(args),
            None => Box::pin(std::future::ready(Err(RemoteError::UnknownMethod(
                method.to_owned(),
            )))),
        }
    }
}

/// How a server behaves: its token and its limits.
///
/// ```
/// use heddle::distributed::rpc::ServerConfig;
/// use std::time::Duration;
/// let config = ServerConfig::new(b"shared secret".to_vec())
///     .max_in_flight(32)
///     .idle_timeout(Duration::from_secs(10));
/// ```
///
/// The token is a [`Secret`]: `Debug` shows `Secret(<redacted>)`, and the
/// handshake compares it in constant time.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    token: Secret,
    max_connections: usize,
    max_in_flight: u32,
    handshake_timeout: Duration,
    idle_timeout: Duration,
    codec: FrameCodec,
    dedup_capacity: usize,
    dedup: Option<DedupStore>,
    observer: Option<Arc<dyn Observer>>,
    #[cfg(feature = "defects")]
    defect: Option<ServerDefect>,
}

impl std::fmt::Debug for dyn Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

impl ServerConfig {
    /// The de-duplication window's default capacity, in outcomes.
    pub const DEFAULT_DEDUP_CAPACITY: usize = 100_000;

    /// Clients must present `token`. Defaults: 1024 connections, 64 calls in
    /// flight per connection, 5 s to complete the handshake, a connection
    /// with no call running is closed after 30 s without a frame, frames up
    /// to [`DEFAULT_MAX_FRAME`](crate::wire::frame::DEFAULT_MAX_FRAME), a
    /// de-duplication window of [`DEFAULT_DEDUP_CAPACITY`](Self::DEFAULT_DEDUP_CAPACITY)
    /// outcomes private to this server.
    pub fn new(token: impl Into<Secret>) -> Self {
        Self {
            token: token.into(),
            max_connections: 1024,
            max_in_flight: 64,
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            codec: FrameCodec::default(),
            dedup_capacity: Self::DEFAULT_DEDUP_CAPACITY,
            dedup: None,
            observer: None,
            #[cfg(feature = "defects")]
            defect: None,
        }
    }

    /// Connections served at once; more wait in the listen backlog.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// Calls run at once per connection; more are answered
    /// [`RemoteError::Overloaded`] (which clients retry).
    pub fn max_in_flight(mut self, n: u32) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Time a new connection has to send its `Hello`.
    pub fn handshake_timeout(mut self, d: Duration) -> Self {
        self.handshake_timeout = d;
        self
    }

    /// A connection with no call running is closed after this long without
    /// a complete frame; a write that cannot finish within it closes the
    /// connection too (a client that stops reading).
    pub fn idle_timeout(mut self, d: Duration) -> Self {
        self.idle_timeout = d;
        self
    }

    /// The frame codec (maximum frame size).
    pub fn codec(mut self, codec: FrameCodec) -> Self {
        self.codec = codec;
        self
    }

    /// Finished keyed outcomes remembered when no
    /// [`dedup_store`](Self::dedup_store) is given.
    pub fn dedup_capacity(mut self, n: usize) -> Self {
        self.dedup_capacity = n;
        self
    }

    /// Uses `store` as the de-duplication window. Hand the same store to the
    /// server after a restart when the handlers' effects survive restarts
    /// (a store stands for durable storage): executions the restart cut
    /// short are then answered [`RemoteError::Interrupted`], not run again.
    pub fn dedup_store(mut self, store: DedupStore) -> Self {
        self.dedup = Some(store);
        self
    }

    /// Tells `observer` about every call and connection.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Test equipment (feature `defects`): plants `defect`.
    #[cfg(feature = "defects")]
    pub fn planted_defect(mut self, defect: ServerDefect) -> Self {
        self.defect = Some(defect);
        self
    }

    #[cfg(feature = "defects")]
    fn planted(&self, defect: ServerDefect) -> bool {
        self.defect == Some(defect)
    }

    /// A fresh session for one connection.
    fn session(&self) -> ServerSession {
        let session = ServerSession::new(self.token.clone(), self.max_in_flight);
        #[cfg(feature = "defects")]
        let session = session.with_defect(self.defect);
        session
    }
}

/// Watches the calls on a server's connections: for audits, and for the
/// simulator's invariants (every call the server accepted is answered or
/// its connection closed; no connection is left with calls in flight).
/// Called on the connection's task; keep it cheap.
pub trait Observer: Send + Sync {
    /// Connection `conn` (numbered from 0 per [`serve`]) received call `id`,
    /// carrying the caller's `trace` context.
    fn accepted(&self, conn: u64, id: u64, trace: Option<TraceContext>);
    /// Connection `conn` queued the reply to call `id` for writing.
    fn answered(&self, conn: u64, id: u64);
    /// After each batch of events: calls the connection admitted and has
    /// not answered.
    fn in_flight(&self, conn: u64, calls: usize);
    /// Connection `conn` ended (after its admitted calls finished).
    fn closed(&self, conn: u64);
}

struct Shared {
    router: Router,
    config: ServerConfig,
    store: DedupStore,
    next_conn: AtomicU64,
}

impl Shared {
    /// A connection's port to the de-duplication window (none in the
    /// no-dedup defect).
    fn port(&self) -> Port {
        #[cfg(feature = "defects")]
        if self.config.planted(ServerDefect::NoDedup) {
            return Port::new(None);
        }
        let port = Port::new(Some(self.store.clone()));
        #[cfg(feature = "defects")]
        if self.config.planted(ServerDefect::JoinWrongId) {
            return port.planted_join_wrong_id();
        }
        port
    }
}

/// Serves `router` on `listener` until `shutdown` is cancelled; then stops
/// accepting, lets every connection finish the calls it admitted (new calls
/// are answered [`RemoteError::ShuttingDown`]), and returns when all are
/// closed. Accept errors are logged and do not stop the server.
///
/// # Example
///
/// ```
/// use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig, serve};
/// use heddle::net::{Addr, Listener, Network, Tokio};
/// use tokio_util::sync::CancellationToken;
///
/// # // Not under shuttle: the server's de-duplication window is on the task
/// # // facade, whose primitives exist only inside a model there.
/// # #[cfg(not(feature = "shuttle"))]
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let router = Router::new().route("add", |(a, b): (i64, i64)| async move { Ok::<_, String>(a + b) });
/// let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await?;
/// let port = listener.local_addr()?.port();
/// let stop = CancellationToken::new();
/// let server = tokio::spawn(serve(listener, router, ServerConfig::new(b"t".to_vec()), stop.clone()));
///
/// let client = Client::new(Tokio, Addr::new("127.0.0.1", port), ClientConfig::new(b"t".to_vec()));
/// let sum: i64 = client.call("add", &(2i64, 3i64)).await?;
/// assert_eq!(sum, 5);
///
/// client.close().await;
/// stop.cancel();
/// server.await??;
/// # Ok(())
/// # })
/// # }
/// # #[cfg(feature = "shuttle")] fn main() {}
/// ```
pub async fn serve<L: Listener>(
    listener: L,
    router: Router,
    config: ServerConfig,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let store = config
        .dedup
        .clone()
        .unwrap_or_else(|| DedupStore::new(config.dedup_capacity));
    let interrupted = store.lock().recover();
    if interrupted > 0 {
        tracing::warn!(
            interrupted,
            "rpc: keyed calls cut short by a restart are answered Interrupted"
        );
    }
    let shared = Arc::new(Shared {
        router,
        config,
        store,
        next_conn: AtomicU64::new(0),
    });
    crate::net::serve_connections(
        &listener,
        shared.config.max_connections,
        &shutdown,
        |stream, peer| {
            let (shared, shutdown) = (Arc::clone(&shared), shutdown.clone());
            async move {
                if let Err(e) = connection(stream, &shared, shutdown).await {
                    tracing::debug!(%peer, error = %e, "rpc: connection ended");
                }
            }
        },
    )
    .await;
    Ok(())
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum End {
    #[error("{0}")]
    Io(IoEnd),
    #[error("{0} timed out")]
    Timeout(&'static str),
    #[error("malformed envelope: {0}")]
    Malformed(crate::wire::WireError),
}

/// One connection's state between events.
struct Conn<'a> {
    shared: &'a Shared,
    /// This connection's number, for the [`Observer`].
    conn: u64,
    session: ServerSession,
    /// Keyed calls go through the window shared with the other connections.
    port: Port,
    /// Handlers that did not finish at once, run as tasks.
    running: JoinSet<Outcome>,
    /// Task id → (call id, idempotency key, start), to answer the call
    /// (also when its handler panicked) and time it.
    calls: BTreeMap<tokio::task::Id, (u64, Option<u128>, Instant)>,
    /// This connection's share of the in-flight gauge.
    gauged: usize,
    reading: bool,
    /// Set when the connection broke: nothing more is read or written, but
    /// the calls already running still finish, so that their keys' outcomes
    /// reach the de-duplication window and the duplicates waiting on them.
    broken: Option<End>,
    /// Frames to write at the next flush.
    out: Vec<u8>,
}

impl Conn<'_> {
    fn on_frame(&mut self, bytes: &[u8]) {
        let actions = match binary::decode_incoming(bytes) {
            // The hot path: the call stays borrowed from its frame.
            Ok(Incoming::Call(call)) => {
                if let Some(o) = &self.shared.config.observer {
                    o.accepted(self.conn, call.id, call.trace);
                }
                match self.port.on_call(&mut self.session, &call) {
                    Admission::Execute => self.execute(&call),
                    Admission::Send(envelope) => self.send(envelope),
                    Admission::Close => self.reading = false,
                    Admission::Wait => {}
                }
                return;
            }
            Ok(Incoming::Other(envelope)) => {
                if let (Some(o), Envelope::Call(call)) = (&self.shared.config.observer, &envelope) {
                    o.accepted(self.conn, call.id, call.trace);
                }
                self.port.on_envelope(&mut self.session, envelope)
            }
            Err(e) => {
                self.broken = Some(End::Malformed(e));
                vec![ServerAction::Close]
            }
        };
        for action in actions {
            match action {
                ServerAction::Send(envelope) => self.send(envelope),
                ServerAction::Execute(call) => self.execute(&call.as_ref()),
                ServerAction::Close => self.reading = false,
            }
        }
    }

    /// Runs a handler: inline if it finishes without waiting (no task, no
    /// wake-up), as a task otherwise.
    fn execute(&mut self, call: &CallRef<'_>) {
        let (id, key) = (call.id, call.idempotency_key);
        let trace = call.trace.unwrap_or(TraceContext {
            trace_id: 0,
            span_id: 0,
        });
        let span = tracing::debug_span!(
            "rpc.serve",
            id,
            method = call.method,
            trace_id = trace.trace_id,
            parent_span_id = trace.span_id,
        );
        let start = Instant::now();
        let mut handler = self
            .shared
            .router
            .dispatch(call.method, call.args)
            .instrument(span);
        let mut cx = Context::from_waker(Waker::noop());
        // A future may be polled with any waker; the task's own waker
        // replaces this one at its first poll.
        match panic::catch_unwind(AssertUnwindSafe(|| Pin::new(&mut handler).poll(&mut cx))) {
            Ok(Poll::Ready(outcome)) => {
                record_latency(start);
                self.on_done(id, key, outcome);
            }
            Ok(Poll::Pending) => {
                let task = self.running.spawn(handler);
                self.calls.insert(task.id(), (id, key, start));
            }
            Err(_panic) => self.on_done(
                id,
                key,
                Err(RemoteError::Panicked("handler panicked".into())),
            ),
        }
    }

    fn on_task(&mut self, done: Result<(tokio::task::Id, Outcome), tokio::task::JoinError>) {
        let (task, outcome) = match done {
            Ok((task, outcome)) => (task, outcome),
            Err(e) => {
                let why = if e.is_panic() {
                    "handler panicked"
                } else {
                    "handler cancelled"
                };
                (e.id(), Err(RemoteError::Panicked(why.to_owned())))
            }
        };
        if let Some((id, key, start)) = self.calls.remove(&task) {
            record_latency(start);
            self.on_done(id, key, outcome);
        }
    }

    fn on_done(&mut self, id: u64, key: Option<u128>, outcome: Outcome) {
        let reply = self.port.on_executed(&mut self.session, id, key, outcome);
        self.send(reply);
    }

    fn on_joined(&mut self, id: u64, outcome: Outcome) {
        let reply = self.session.on_joined(id, outcome);
        self.send(reply);
    }

    /// Moves the in-flight gauge by this connection's change since the
    /// last call.
    fn gauge(&mut self) {
        let now = self.session.in_flight();
        if now != self.gauged {
            let gauge = metrics::metric!(gauge, SERVER_IN_FLIGHT);
            if now > self.gauged {
                gauge.increment((now - self.gauged) as f64);
            } else {
                gauge.decrement((self.gauged - now) as f64);
            }
            self.gauged = now;
        }
    }

    /// What the loop does next; moves the frames queued meanwhile to `out`.
    fn flow(&mut self, out: &mut Vec<u8>) -> Flow<End> {
        out.append(&mut self.out);
        match self.broken.take() {
            Some(e) => Flow::End(e),
            None if !self.reading => Flow::StopReading,
            None => Flow::Continue,
        }
    }

    /// Queues `envelope` for the next flush.
    fn send(&mut self, envelope: Envelope) {
        if let (Some(o), Envelope::Reply(r)) = (&self.shared.config.observer, &envelope) {
            o.answered(self.conn, r.id);
        }
        push(&mut self.out, envelope, &self.shared.config);
    }
}

/// A finished handler task, or the answer to a joined duplicate.
enum Event {
    Task(Result<(tokio::task::Id, Outcome), tokio::task::JoinError>),
    Joined((u64, Outcome)),
}

/// One connection is a [`Protocol`] for the shared [`driver`](crate::net::driver).
impl Protocol for Conn<'_> {
    type Event = Event;
    type End = End;

    async fn next_event(&mut self) -> Event {
        tokio::select! {
            biased;
            Some(done) = self.running.join_next_with_id(), if !self.running.is_empty() => {
                Event::Task(done)
            }
            joined = self.port.joined() => Event::Joined(joined),
        }
    }

    fn try_event(&mut self) -> Option<Event> {
        if let Some(done) = self.running.try_join_next_with_id() {
            return Some(Event::Task(done));
        }
        self.port.try_joined().map(Event::Joined)
    }

    fn on_event(&mut self, event: Event, out: &mut Vec<u8>) -> Flow<End> {
        match event {
            Event::Task(done) => self.on_task(done),
            Event::Joined((id, outcome)) => self.on_joined(id, outcome),
        }
        self.flow(out)
    }

    fn on_frame(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Flow<End> {
        self.on_frame(frame);
        self.flow(out)
    }

    fn on_idle(&mut self) -> End {
        End::Timeout(match self.session.phase() {
            Phase::Handshake => "handshake",
            _ => "idle connection",
        })
    }

    fn on_io(&mut self, e: IoEnd) -> End {
        End::Io(e)
    }

    /// Draining: calls already admitted finish; frames are still read while
    /// they run, so new calls are answered `ShuttingDown` and health checks
    /// `Draining`.
    fn on_shutdown(&mut self) -> bool {
        self.session.drain();
        true
    }

    fn busy(&self) -> bool {
        self.session.in_flight() > 0
    }

    fn wants_read(&self) -> bool {
        // A draining connection stops reading once its calls are done.
        let drained = self.session.health() == Health::Draining && !self.busy();
        self.reading && !drained
    }

    fn idle_limit(&self) -> Option<Duration> {
        let config = &self.shared.config;
        Some(match self.session.phase() {
            Phase::Handshake => config.handshake_timeout,
            _ => config.idle_timeout,
        })
    }

    fn after_batch(&mut self) {
        self.gauge();
        if let Some(o) = &self.shared.config.observer {
            o.in_flight(self.conn, self.session.in_flight());
        }
    }
}

async fn connection<S: Stream>(
    stream: S,
    shared: &Shared,
    shutdown: CancellationToken,
) -> Result<(), End> {
    let config = &shared.config;
    let (rd, mut wr) = tokio::io::split(stream);
    let mut reader = FrameReader::new(rd, config.codec);
    let mut c = Conn {
        shared,
        conn: shared.next_conn.fetch_add(1, Relaxed),
        session: config.session(),
        port: shared.port(),
        running: JoinSet::new(),
        calls: BTreeMap::new(),
        gauged: 0,
        reading: true,
        broken: None,
        out: Vec::new(),
    };
    let limits = Limits::new(config.idle_timeout);
    let end = driver::drive(&mut c, &mut reader, &mut wr, &limits, Some(&shutdown)).await;
    metrics::metric!(gauge, SERVER_IN_FLIGHT).decrement(c.gauged as f64);
    if let Some(o) = &config.observer {
        o.closed(c.conn);
    }
    end
}

fn record_latency(start: Instant) {
    metrics::metric!(histogram, SERVER_CALL_SECONDS).record(start.elapsed().as_secs_f64());
}

/// Appends `envelope` as one frame to `out`. A reply too large for a frame
/// is replaced by an error reply, so the caller still hears back.
fn push(out: &mut Vec<u8>, envelope: Envelope, config: &ServerConfig) {
    let frame = |out: &mut Vec<u8>, e: &Envelope| binary::encode_frame(&config.codec, e, out);
    let Err(error) = frame(out, &envelope) else {
        return;
    };
    tracing::warn!(%error, "rpc: reply not encodable");
    if let Envelope::Reply(reply) = envelope {
        let replacement = Envelope::Reply(Reply {
            id: reply.id,
            outcome: Err(RemoteError::Handler(format!("reply not sent: {error}"))),
        });
        if let Err(error) = frame(out, &replacement) {
            tracing::warn!(%error, "rpc: error reply not encodable either");
        }
    }
}
