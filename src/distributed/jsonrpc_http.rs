//! JSON-RPC 2.0 over HTTP/1.1 (guide §5, the `add`/`echo` server on
//! 127.0.0.1:3030): a small, bounded HTTP server over any
//! [`Listener`] whose bodies are answered by
//! [`wire::jsonrpc::handle`](crate::wire::jsonrpc::handle).
//!
//! **What.** `POST` with a `Content-Length` body; the answer is `200` with an
//! `application/json` body, or `204 No Content` when the body held only
//! notifications. Persistent connections (HTTP/1.1 keep-alive) unless the
//! client sends `Connection: close`. Everything is bounded: the header block
//! ([`HttpConfig::max_header`]), the body ([`HttpConfig::max_body`], else
//! `413`), the time a connection may stay silent ([`HttpConfig::idle_timeout`]),
//! the time one call may take ([`HttpConfig::request_timeout`], else the
//! error [`REQUEST_TIMEOUT`]), the blocking handlers running at once
//! ([`HttpConfig::max_blocking`]). `GET /health` answers `200
//! {"status":"serving"}`, or `503 {"status":"draining"}` once the server is
//! stopping. Other methods get `405`, a missing length `411`, chunked bodies
//! `501`, garbage `400`. The JSON-RPC semantics (batches, notifications, the
//! error codes -32700/-32600/-32601/-32602) are
//! [`wire::jsonrpc`](crate::wire::jsonrpc)'s.
//!
//! **Concurrency.** Connections run as the listener's
//! [`Connections`] says (spawned tasks on real sockets). A slow call delays
//! only its own request: the calls of a batch run concurrently, an
//! [`AsyncHandler`] runs under the request timeout, and a blocking
//! [`Handler`] runs on tokio's blocking pool (at most
//! [`HttpConfig::max_blocking`] at once), so it can stall neither its
//! connection's runtime worker nor anyone else's; a call that outlives the
//! timeout is answered [`REQUEST_TIMEOUT`] at once (a blocking handler
//! still finishes in the background, holding its slot). Under turmoil
//! ([`Connections::Inline`]) a blocking handler is called in place: it
//! takes no simulated time, and a real thread would make the run depend on
//! the OS scheduler.
//!
//! **Metrics** (through the `metrics` facade; the names are in [`metric`]):
//! calls by outcome, timeouts, calls in flight, call latency.
//!
//! **When.** To expose a handful of methods to clients in any language
//! without a code generator; for service-to-service calls prefer a binary,
//! multiplexed protocol (the guide's §5 comparison and heddle's RPC).
//!
//! **Compared to the guide.** The guide uses `jsonrpc-http-server`; this is
//! the same contract in ~200 lines over [`crate::net`], so it also runs under
//! turmoil. `tests/jsonrpc_http.rs` drives it with Python's standard library
//! (not our client) through the specification's examples.
//!
//! # Example
//!
//! `cargo run --example jsonrpc_server` serves the guide's `add` and `echo`
//! on 127.0.0.1:3030; then
//! `curl -s -d '{"jsonrpc":"2.0","method":"add","params":[2,3],"id":1}' 127.0.0.1:3030`
//! prints `{"id":1,"jsonrpc":"2.0","result":5}`.

use crate::net::{Connections, Listener};
use crate::wire::jsonrpc::{
    Body, ErrorObject, INTERNAL_ERROR, Params, Request, Response, read_body, write_answers,
};
use futures_util::future::{BoxFuture, join_all};
use serde_json::Value;
use std::io;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

/// `-32000` (the first of the codes JSON-RPC reserves for implementation
/// defined server errors): the call did not finish within
/// [`HttpConfig::request_timeout`]. Its `data` is the timeout in
/// milliseconds. The call may still complete on the server: do not assume
/// it had no effect.
pub const REQUEST_TIMEOUT: i64 = -32000;

/// The names of the metrics this server records.
pub mod metric {
    /// Counter: calls answered (notifications included), label
    /// [`OUTCOME`] = `ok` | `error` | `timeout`.
    pub const CALLS: &str = "heddle_jsonrpc_calls_total";
    /// Counter: calls that outlived the request timeout.
    pub const TIMEOUTS: &str = "heddle_jsonrpc_timeouts_total";
    /// Gauge: calls running now.
    pub const IN_FLIGHT: &str = "heddle_jsonrpc_calls_in_flight";
    /// Histogram: seconds from a call's start to its answer.
    pub const LATENCY: &str = "heddle_jsonrpc_call_seconds";
    /// The label of [`CALLS`].
    pub const OUTCOME: &str = "outcome";
}

/// The health path (`GET`).
const HEALTH_PATH: &str = "/health";

/// Limits of the HTTP server.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// Largest request line + headers, in bytes.
    pub max_header: usize,
    /// Largest body, in bytes.
    pub max_body: usize,
    /// Close a connection silent for this long.
    pub idle_timeout: Duration,
    /// Answer a call that has not finished after this long with
    /// [`REQUEST_TIMEOUT`].
    pub request_timeout: Duration,
    /// Blocking handlers running at once, server-wide (further calls wait
    /// for a slot, within their timeout).
    pub max_blocking: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_header: 16 * 1024,
            max_body: 1 << 20,
            idle_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            max_blocking: 64,
        }
    }
}

/// A JSON-RPC method table: `(method, params) -> result`, computed in
/// place (it may block: the server runs it on the blocking pool).
pub type Handler = dyn Fn(&str, Option<Params>) -> Result<Value, ErrorObject> + Send + Sync;

/// An asynchronous method table: `(method, params) -> future of result`.
pub type AsyncHandler =
    dyn Fn(String, Option<Params>) -> BoxFuture<'static, Result<Value, ErrorObject>> + Send + Sync;

/// The methods a server answers: blocking or asynchronous.
#[derive(Clone)]
pub enum Methods {
    /// Run on the blocking pool (in place under simulation).
    Blocking(Arc<Handler>),
    /// Awaited on the connection's task.
    Async(Arc<AsyncHandler>),
}

impl std::fmt::Debug for Methods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Methods::Blocking(_) => "Methods::Blocking",
            Methods::Async(_) => "Methods::Async",
        })
    }
}

/// The guide's two methods: `add` (two numbers, by position) and `echo`
/// (returns its params).
pub fn guide_methods(method: &str, params: Option<Params>) -> Result<Value, ErrorObject> {
    match (method, params) {
        ("add", Some(Params::Array(p))) if p.len() == 2 => {
            match (p[0].as_i64(), p[1].as_i64(), p[0].as_f64(), p[1].as_f64()) {
                (Some(a), Some(b), _, _) => a
                    .checked_add(b)
                    .map(Value::from)
                    .ok_or_else(|| ErrorObject::invalid_params("integer overflow")),
                (_, _, Some(a), Some(b)) => Ok(Value::from(a + b)),
                _ => Err(ErrorObject::invalid_params("add takes two numbers")),
            }
        }
        ("add", _) => Err(ErrorObject::invalid_params("add takes two numbers")),
        ("echo", Some(Params::Array(a))) => Ok(Value::Array(a)),
        ("echo", Some(Params::Object(o))) => Ok(Value::Object(o)),
        ("echo", None) => Ok(Value::Null),
        (other, _) => Err(ErrorObject::method_not_found(other)),
    }
}

/// Serves JSON-RPC over HTTP on `listener` until `stop` fires, then waits
/// for open connections to finish their current request and returns.
pub async fn serve<L: Listener>(
    listener: L,
    handler: Arc<Handler>,
    config: HttpConfig,
    stop: CancellationToken,
) -> io::Result<()> {
    serve_methods(listener, Methods::Blocking(handler), config, stop).await
}

/// [`serve`] for any [`Methods`], asynchronous ones included.
///
/// ```
/// use heddle::distributed::jsonrpc_http::{HttpConfig, Methods, serve_methods};
/// use heddle::net::{Addr, Listener, Network, Tokio};
/// use heddle::wire::jsonrpc::ErrorObject;
/// use futures_util::FutureExt;
/// use std::sync::Arc;
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio_util::sync::CancellationToken;
///
/// # fn main() -> std::io::Result<()> {
/// # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
/// let methods = Methods::Async(Arc::new(|method: String, _params| {
///     async move { Err(ErrorObject::method_not_found(&method)) }.boxed()
/// }));
/// let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await?;
/// let port = listener.local_addr()?.port();
/// let stop = CancellationToken::new();
/// let server = tokio::spawn(serve_methods(listener, methods, HttpConfig::default(), stop.clone()));
///
/// let mut c = Tokio.connect(&Addr::new("127.0.0.1", port)).await?;
/// c.write_all(b"GET /health HTTP/1.1\r\nConnection: close\r\n\r\n").await?;
/// let mut answer = String::new();
/// c.read_to_string(&mut answer).await?;
/// assert!(answer.starts_with("HTTP/1.1 200"));
/// assert!(answer.ends_with(r#"{"status":"serving"}"#));
/// stop.cancel();
/// server.await.expect("server task")?;
/// # Ok(())
/// # })
/// # }
/// ```
pub async fn serve_methods<L: Listener>(
    listener: L,
    methods: Methods,
    config: HttpConfig,
    stop: CancellationToken,
) -> io::Result<()> {
    let server = Arc::new(Server {
        blocking_slots: Arc::new(Semaphore::new(config.max_blocking.max(1))),
        methods,
        config,
        in_place: L::CONNECTIONS == Connections::Inline,
    });
    crate::net::serve_connections(&listener, usize::MAX, &stop, |stream, peer| {
        let (server, stop) = (Arc::clone(&server), stop.clone());
        async move {
            if let Err(e) = connection(stream, &server, &stop).await {
                tracing::debug!(%peer, error = %e, "jsonrpc-http: connection ended");
            }
        }
    })
    .await;
    Ok(())
}

/// What every connection of one server shares.
struct Server {
    methods: Methods,
    config: HttpConfig,
    blocking_slots: Arc<Semaphore>,
    /// Call blocking handlers in place (simulation).
    in_place: bool,
}

impl Server {
    /// Answers a request body: its calls run concurrently, each under the
    /// request timeout.
    async fn answer(&self, body: &[u8]) -> Option<Vec<u8>> {
        let (batch, items) = match read_body(body) {
            Body::Answered(out) => return Some(out),
            Body::Calls { batch, items } => (batch, items),
        };
        let answers = join_all(items.into_iter().map(|item| async move {
            match item {
                Err(invalid) => Some(invalid),
                Ok(req) => {
                    let id = req.id.clone();
                    let outcome = self.call(req).await;
                    id.map(|id| Response { id, outcome })
                }
            }
        }))
        .await;
        write_answers(batch, answers.into_iter().flatten().collect())
    }

    /// Runs one call under the request timeout, recording its metrics.
    async fn call(&self, req: Request) -> Result<Value, ErrorObject> {
        let started = tokio::time::Instant::now();
        let in_flight = metrics::gauge!(metric::IN_FLIGHT);
        in_flight.increment(1.0);
        let limit = self.config.request_timeout;
        let (outcome, label) = match tokio::time::timeout(limit, self.run(req)).await {
            Ok(Ok(v)) => (Ok(v), "ok"),
            Ok(Err(e)) => (Err(e), "error"),
            Err(_elapsed) => {
                metrics::counter!(metric::TIMEOUTS).increment(1);
                let millis = u64::try_from(limit.as_millis()).unwrap_or(u64::MAX);
                let e = ErrorObject::new(REQUEST_TIMEOUT, "request timed out").with_data(millis);
                (Err(e), "timeout")
            }
        };
        in_flight.decrement(1.0);
        metrics::counter!(metric::CALLS, metric::OUTCOME => label).increment(1);
        metrics::histogram!(metric::LATENCY).record(started.elapsed().as_secs_f64());
        outcome
    }

    /// Runs the handler: async ones in place, blocking ones on the blocking
    /// pool (holding one of the `max_blocking` slots until they return).
    async fn run(&self, req: Request) -> Result<Value, ErrorObject> {
        match &self.methods {
            Methods::Async(handler) => handler(req.method, req.params).await,
            Methods::Blocking(handler) if self.in_place => handler(&req.method, req.params),
            Methods::Blocking(handler) => {
                let slot = Arc::clone(&self.blocking_slots)
                    .acquire_owned()
                    .await
                    .map_err(|_closed| ErrorObject::new(INTERNAL_ERROR, "server stopped"))?;
                let handler = Arc::clone(handler);
                let task = tokio::task::spawn_blocking(move || {
                    let _slot = slot;
                    handler(&req.method, req.params)
                });
                task.await.unwrap_or_else(|e| {
                    tracing::error!(error = %e, "jsonrpc-http: handler panicked");
                    Err(ErrorObject::new(INTERNAL_ERROR, "handler panicked"))
                })
            }
        }
    }
}

/// One parsed request head.
struct Head {
    post: bool,
    health: bool,
    content_length: Option<usize>,
    chunked: bool,
    close: bool,
}

async fn connection<S: crate::net::Stream>(
    mut stream: S,
    server: &Server,
    stop: &CancellationToken,
) -> io::Result<()> {
    let config = &server.config;
    let mut buf: Vec<u8> = Vec::new();
    loop {
        // Read the head: up to the blank line, bounded.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > config.max_header {
                return respond(
                    &mut stream,
                    431,
                    "Request Header Fields Too Large",
                    None,
                    true,
                )
                .await;
            }
            if !read_more(&mut stream, &mut buf, config, stop).await? {
                return Ok(()); // closed (or stopping) between requests
            }
        };
        let Some(head) = parse_head(&buf[..head_end]) else {
            return respond(&mut stream, 400, "Bad Request", None, true).await;
        };
        buf.drain(..head_end);
        if head.health {
            let (code, reason, status) = match stop.is_cancelled() {
                false => (200, "OK", "serving"),
                true => (503, "Service Unavailable", "draining"),
            };
            let body = format!(r#"{{"status":"{status}"}}"#);
            respond(&mut stream, code, reason, Some(body.as_bytes()), head.close).await?;
            if head.close {
                return Ok(());
            }
            continue;
        }
        if !head.post {
            return respond(&mut stream, 405, "Method Not Allowed", None, true).await;
        }
        if head.chunked {
            return respond(&mut stream, 501, "Not Implemented", None, true).await;
        }
        let Some(len) = head.content_length else {
            return respond(&mut stream, 411, "Length Required", None, true).await;
        };
        if len > config.max_body {
            return respond(&mut stream, 413, "Content Too Large", None, true).await;
        }
        while buf.len() < len {
            if !read_more(&mut stream, &mut buf, config, stop).await? {
                return Ok(());
            }
        }
        let body: Vec<u8> = buf.drain(..len).collect();
        match server.answer(&body).await {
            Some(out) => respond(&mut stream, 200, "OK", Some(&out), head.close).await?,
            None => respond(&mut stream, 204, "No Content", None, head.close).await?,
        }
        if head.close {
            return Ok(());
        }
    }
}

/// Reads more bytes into `buf`; false on EOF or when the server stops.
async fn read_more<S: crate::net::Stream>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    config: &HttpConfig,
    stop: &CancellationToken,
) -> io::Result<bool> {
    let mut chunk = [0u8; 4096];
    let n = tokio::select! {
        biased;
        () = stop.cancelled(), if buf.is_empty() => return Ok(false),
        read = tokio::time::timeout(config.idle_timeout, stream.read(&mut chunk)) => match read {
            Ok(n) => n?,
            Err(_elapsed) => return Err(io::Error::new(io::ErrorKind::TimedOut, "idle timeout")),
        },
    };
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: &[u8]) -> Option<Head> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut lines = text.split("\r\n");
    let mut request_line = lines.next()?.split(' ');
    let method = request_line.next()?;
    let target = request_line.next()?;
    let version = request_line.next()?;
    if !version.starts_with("HTTP/1.") {
        return None;
    }
    let mut head = Head {
        post: method == "POST",
        health: method == "GET" && target == HEALTH_PATH,
        content_length: None,
        chunked: false,
        close: version == "HTTP/1.0",
    };
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => {
                let n = value.parse().ok()?;
                if head.content_length.is_some_and(|m| m != n) {
                    return None; // conflicting lengths: refuse, never guess
                }
                head.content_length = Some(n);
            }
            "transfer-encoding" => head.chunked = true,
            "connection" => head.close = value.eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    Some(head)
}

async fn respond<S: crate::net::Stream>(
    stream: &mut S,
    code: u16,
    reason: &str,
    body: Option<&[u8]>,
    close: bool,
) -> io::Result<()> {
    let body = body.unwrap_or_default();
    let mut out = format!("HTTP/1.1 {code} {reason}\r\n").into_bytes();
    if !body.is_empty() {
        out.extend_from_slice(b"Content-Type: application/json\r\n");
    }
    if code != 204 {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    stream.write_all(&out).await?;
    stream.flush().await
}
