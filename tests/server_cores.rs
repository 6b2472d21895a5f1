//! Servers use every core (issue #9, part 2): a connection whose handler
//! blocks its thread for a long time does not delay another connection's
//! calls, for the binary RPC server and for JSON-RPC over HTTP; the JSON-RPC
//! server answers a call that outlives its timeout with `REQUEST_TIMEOUT`
//! and reports serving / draining on `GET /health`; its metrics and the
//! circuit breaker's are counted through a recording exporter.
//!
//! The slow handler blocks on a channel the test releases only after the
//! fast call has been answered, so "the fast call completed while the slow
//! one was pending" is observed through the protocol, not through timing.
//! The only timeouts are hang guards: on a server that drives every
//! connection from one task, the fast call never completes and the guard
//! turns the hang into a failure that says so.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use futures_util::FutureExt;
use heddle::distributed::jsonrpc_http::{
    self, HttpConfig, Methods, REQUEST_TIMEOUT, metric as http_metric, serve, serve_methods,
};
use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig};
use heddle::net::{Addr, Network, Tokio};
use heddle::resilience::circuit_breaker::{Breaker, Config, metric as breaker_metric};
use heddle::wire::jsonrpc::{ErrorObject, Params};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::{CompositeKey, MetricKind};
use serde_json::{Value, json};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How long the fast call may take before the test calls it delayed: a hang
/// guard, far above any honest latency.
const GUARD: Duration = Duration::from_secs(5);
const TOKEN: &[u8] = b"cores";

/// A handler that, once started, blocks its thread until released.
#[derive(Clone)]
struct Blocker {
    started: Arc<Notify>,
    release: Arc<Mutex<mpsc::Receiver<()>>>,
}

impl Blocker {
    /// The blocker and the sender that releases it (dropping it releases too,
    /// so a failing test never leaves a server thread blocked).
    fn new() -> (Self, mpsc::Sender<()>) {
        let (tx, rx) = mpsc::channel();
        let blocker = Self {
            started: Arc::new(Notify::new()),
            release: Arc::new(Mutex::new(rx)),
        };
        (blocker, tx)
    }

    /// Signals that it started, then blocks the calling thread.
    fn block(&self) {
        self.started.notify_one();
        let _ = self.release.lock().expect("release lock").recv();
    }
}

fn runtime(workers: usize) -> tokio::runtime::Runtime {
    let mut b = match workers {
        0 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
    };
    b.enable_all().build().expect("runtime")
}

async fn bind() -> (tokio::net::TcpListener, Addr) {
    let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    (listener, Addr::new("127.0.0.1", port))
}

// ---------------------------------------------------------------- binary RPC

#[test]
fn a_blocked_rpc_handler_does_not_delay_another_connection() {
    let server_rt = runtime(2);
    let (blocker, release) = Blocker::new();
    let router = Router::new()
        .route("fast", |x: u32| async move { Ok::<_, String>(x) })
        .route("slow", {
            let blocker = blocker.clone();
            move |(): ()| {
                let blocker = blocker.clone();
                // Long synchronous work, written as tokio asks: in
                // `block_in_place`, which hands this worker's other tasks to
                // another thread. The task it blocks is the connection's
                // (the server polls a handler once on the connection's task
                // before spawning it): if every connection is that one task,
                // every connection waits.
                async move {
                    tokio::task::block_in_place(|| blocker.block());
                    Ok::<_, String>(0u32)
                }
            }
        });
    let stop = CancellationToken::new();
    let (listener, addr) = server_rt.block_on(bind());
    let server = server_rt.spawn(heddle::distributed::rpc::serve(
        listener,
        router,
        ServerConfig::new(TOKEN.to_vec()),
        stop.clone(),
    ));

    let client_rt = runtime(0);
    client_rt.block_on(async {
        // Distinct seeds: with the default one, both clients draw the same
        // idempotency keys and the server joins the fast call to the slow
        // one (issue #9 part 1, fixed on another branch).
        let config = |seed| {
            ClientConfig::new(TOKEN.to_vec())
                .attempt_timeout(Duration::from_secs(60))
                .seed(seed)
        };
        let slow_client = Client::new(Tokio, addr.clone(), config(1));
        let fast_client = Client::new(Tokio, addr.clone(), config(2));
        // Both connections open and served before the slow call.
        for c in [&slow_client, &fast_client] {
            assert_eq!(c.call::<_, u32>("fast", &1u32).await.expect("warm-up"), 1);
        }
        let slow = tokio::spawn(async move {
            let r = slow_client.call::<_, u32>("slow", &()).await;
            slow_client.close().await;
            r
        });
        blocker.started.notified().await;
        let fast = tokio::time::timeout(GUARD, fast_client.call::<_, u32>("fast", &7u32)).await;
        release.send(()).expect("the slow handler waits");
        assert!(
            matches!(fast, Ok(Ok(7))),
            "the fast call waited for another connection's handler: {fast:?}"
        );
        assert_eq!(slow.await.expect("slow task").expect("slow call"), 0);
        fast_client.close().await;
    });
    stop.cancel();
    server_rt
        .block_on(server)
        .expect("server task")
        .expect("server ran");
}

// ------------------------------------------------------ JSON-RPC over HTTP

/// One HTTP/1.1 keep-alive connection speaking just enough of the protocol.
struct HttpClient {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl HttpClient {
    async fn connect(addr: &Addr) -> Self {
        let stream = Tokio.connect(addr).await.expect("connect");
        Self {
            stream,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).await.expect("send");
    }

    async fn post(&mut self, body: &Value) -> (u16, Value) {
        self.send(&post(body)).await;
        self.response().await
    }

    /// Reads one response: status and JSON body (`Null` when empty).
    async fn response(&mut self) -> (u16, Value) {
        let head_end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.read_more().await;
        };
        let head = String::from_utf8(self.buf.drain(..head_end).collect()).expect("utf-8 head");
        let status = head[9..12].parse().expect("status code");
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |n| n.trim().parse().expect("length"));
        while self.buf.len() < len {
            self.read_more().await;
        }
        let body: Vec<u8> = self.buf.drain(..len).collect();
        let value = match body.is_empty() {
            true => Value::Null,
            false => serde_json::from_slice(&body).expect("JSON body"),
        };
        (status, value)
    }

    async fn read_more(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }
}

fn post(body: &Value) -> Vec<u8> {
    let body = body.to_string();
    format!(
        "POST / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn call(method: &str, id: u64) -> Value {
    json!({"jsonrpc": "2.0", "method": method, "params": [id], "id": id})
}

/// `fast` echoes its params; `slow` blocks its thread until released.
fn blocking_methods(blocker: Blocker) -> Arc<jsonrpc_http::Handler> {
    Arc::new(move |method: &str, params: Option<Params>| match method {
        "slow" => {
            blocker.block();
            Ok(json!("slow"))
        }
        "fast" => Ok(params.map_or(Value::Null, |p| match p {
            Params::Array(a) => Value::Array(a),
            Params::Object(o) => Value::Object(o),
        })),
        other => Err(ErrorObject::method_not_found(other)),
    })
}

fn spawn_http(
    rt: &tokio::runtime::Runtime,
    methods: Methods,
    config: HttpConfig,
) -> (Addr, CancellationToken, tokio::task::JoinHandle<()>) {
    let (listener, addr) = rt.block_on(bind());
    let stop = CancellationToken::new();
    let server = rt.spawn({
        let stop = stop.clone();
        async move {
            serve_methods(listener, methods, config, stop)
                .await
                .expect("server ran");
        }
    });
    (addr, stop, server)
}

/// On a one-thread server: a handler that blocks its thread would stall
/// every connection if it ran on the runtime; it runs on the blocking pool.
#[test]
fn a_blocked_jsonrpc_handler_does_not_delay_another_connection() {
    let server_rt = runtime(0);
    let (blocker, release) = Blocker::new();
    let (listener, addr) = server_rt.block_on(bind());
    let stop = CancellationToken::new();
    // Through `serve`, the entry point of the existing API.
    let server = server_rt.spawn(serve(
        listener,
        blocking_methods(blocker.clone()),
        HttpConfig::default(),
        stop.clone(),
    ));
    let server_thread = std::thread::spawn(move || server_rt.block_on(server));

    runtime(0).block_on(async {
        let mut slow_conn = HttpClient::connect(&addr).await;
        let mut fast_conn = HttpClient::connect(&addr).await;
        assert_eq!(fast_conn.post(&call("fast", 1)).await.0, 200, "warm-up");
        slow_conn.send(&post(&call("slow", 2))).await;
        blocker.started.notified().await;
        let fast = tokio::time::timeout(GUARD, fast_conn.post(&call("fast", 3))).await;
        release.send(()).expect("the slow handler waits");
        assert_eq!(
            fast.map(|(_, v)| v["result"].clone()).ok(),
            Some(json!([3])),
            "the fast call waited for another connection's handler"
        );
        assert_eq!(slow_conn.response().await.1["result"], json!("slow"));
    });
    stop.cancel();
    server_thread
        .join()
        .expect("server thread")
        .expect("server task")
        .expect("server ran");
}

#[test]
fn a_blocking_call_past_its_timeout_is_answered_request_timeout() {
    let rt = runtime(0);
    let (blocker, release) = Blocker::new();
    let config = HttpConfig {
        request_timeout: Duration::from_millis(50),
        ..HttpConfig::default()
    };
    let methods = Methods::Blocking(blocking_methods(blocker));
    let (addr, stop, server) = spawn_http(&rt, methods, config);
    rt.block_on(async {
        let mut c = HttpClient::connect(&addr).await;
        let (status, v) = c.post(&call("slow", 4)).await;
        release.send(()).expect("the slow handler waits");
        assert_eq!(status, 200);
        assert_eq!(v["error"]["code"], json!(REQUEST_TIMEOUT), "{v}");
        assert_eq!(v["id"], json!(4));
        assert_eq!(v["error"]["data"], json!(50), "the timeout in ms");
        // The connection goes on.
        assert_eq!(c.post(&call("fast", 5)).await.1["result"], json!([5]));
    });
    stop.cancel();
    rt.block_on(server).expect("server task");
}

/// An async handler that never finishes: answered at its timeout, and the
/// other calls of the same batch are answered normally.
#[test]
fn an_async_call_past_its_timeout_is_answered_request_timeout_in_its_batch() {
    let rt = runtime(0);
    let config = HttpConfig {
        request_timeout: Duration::from_millis(50),
        ..HttpConfig::default()
    };
    let methods = Methods::Async(Arc::new(|method: String, _params| {
        async move {
            match method.as_str() {
                "never" => std::future::pending().await,
                _ => Ok(json!(method)),
            }
        }
        .boxed()
    }));
    let (addr, stop, server) = spawn_http(&rt, methods, config);
    rt.block_on(async {
        let mut c = HttpClient::connect(&addr).await;
        let (_, v) = c.post(&json!([call("never", 1), call("other", 2)])).await;
        assert_eq!(v[0]["error"]["code"], json!(REQUEST_TIMEOUT), "{v}");
        assert_eq!(v[1]["result"], json!("other"));
    });
    stop.cancel();
    rt.block_on(server).expect("server task");
}

/// `GET /health`: serving, then draining once the server is stopping (the
/// health request waits, pipelined, behind a call that is still running).
#[test]
fn health_says_serving_then_draining() {
    let rt = runtime(2);
    let (blocker, release) = Blocker::new();
    let methods = Methods::Blocking(blocking_methods(blocker.clone()));
    let (addr, stop, server) = spawn_http(&rt, methods, HttpConfig::default());
    let health = b"GET /health HTTP/1.1\r\n\r\n";
    rt.block_on(async {
        let mut c = HttpClient::connect(&addr).await;
        c.send(health).await;
        assert_eq!(c.response().await, (200, json!({"status": "serving"})));
        let mut pipelined = post(&call("slow", 1));
        pipelined.extend_from_slice(health);
        c.send(&pipelined).await;
        blocker.started.notified().await;
        stop.cancel();
        release.send(()).expect("the slow handler waits");
        assert_eq!(c.response().await.1["result"], json!("slow"));
        assert_eq!(c.response().await, (503, json!({"status": "draining"})));
    });
    rt.block_on(server).expect("server task");
}

// ------------------------------------------------------------------- metrics

/// The counters of one snapshot (a snapshot drains the recorder).
struct Counters(Vec<(CompositeKey, DebugValue)>);

impl Counters {
    fn take(recorder: &DebuggingRecorder) -> Self {
        let all = recorder.snapshotter().snapshot().into_vec();
        Self(all.into_iter().map(|(k, _, _, v)| (k, v)).collect())
    }

    /// The counter `name` with exactly `labels`, 0 if never recorded.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.0
            .iter()
            .find_map(|(key, value)| {
                let k = key.key();
                let same_labels = k.labels().count() == labels.len()
                    && labels
                        .iter()
                        .all(|(n, v)| k.labels().any(|l| l.key() == *n && l.value() == *v));
                match value {
                    DebugValue::Counter(n)
                        if key.kind() == MetricKind::Counter && k.name() == name && same_labels =>
                    {
                        Some(*n)
                    }
                    _ => None,
                }
            })
            .unwrap_or(0)
    }
}

#[test]
fn jsonrpc_metrics_count_a_scripted_run() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let rt = runtime(0);
        let config = HttpConfig {
            request_timeout: Duration::from_millis(50),
            ..HttpConfig::default()
        };
        let methods = Methods::Async(Arc::new(|method: String, _params| {
            async move {
                match method.as_str() {
                    "never" => std::future::pending().await,
                    "ok" => Ok(Value::Null),
                    other => Err(ErrorObject::method_not_found(other)),
                }
            }
            .boxed()
        }));
        let (addr, stop, server) = spawn_http(&rt, methods, config);
        rt.block_on(async {
            let mut c = HttpClient::connect(&addr).await;
            let notification = json!({"jsonrpc": "2.0", "method": "ok"});
            let batch = json!([call("ok", 1), call("ok", 2), call("nope", 3), notification]);
            c.post(&batch).await;
            c.post(&call("never", 4)).await;
            c.post(&json!("not a request")).await; // never reaches a handler
        });
        stop.cancel();
        rt.block_on(server).expect("server task");
    });
    let counters = Counters::take(&recorder);
    let calls = |outcome| counters.get(http_metric::CALLS, &[(http_metric::OUTCOME, outcome)]);
    assert_eq!(
        (calls("ok"), calls("error"), calls("timeout")),
        (3, 1, 1),
        "three ok (one a notification), one unknown method, one timeout"
    );
    assert_eq!(counters.get(http_metric::TIMEOUTS, &[]), 1);
}

#[test]
fn breaker_metrics_count_state_changes_and_refusals() {
    let recorder = DebuggingRecorder::new();
    metrics::with_local_recorder(&recorder, || {
        let t0 = tokio::time::Instant::now();
        let open_for = Duration::from_secs(5);
        let mut b = Breaker::new(Config::new(1, open_for));
        let t = b.try_acquire(t0).expect("closed");
        b.on_failure(t, t0); // closed -> open
        assert!(b.try_acquire(t0).is_err()); // refused: open
        let probe = b.try_acquire(t0 + open_for).expect("probe"); // open -> half_open
        assert!(b.try_acquire(t0 + open_for).is_err()); // refused: probes busy
        b.on_failure(probe, t0 + open_for); // half_open -> open
        let probe = b.try_acquire(t0 + open_for * 2).expect("probe"); // open -> half_open
        b.on_success(probe, t0 + open_for * 2); // half_open -> closed
    });
    let counters = Counters::take(&recorder);
    let moved = |from, to| {
        counters.get(
            breaker_metric::TRANSITIONS,
            &[(breaker_metric::FROM, from), (breaker_metric::TO, to)],
        )
    };
    assert_eq!(moved("closed", "open"), 1);
    assert_eq!(moved("open", "half_open"), 2);
    assert_eq!(moved("half_open", "open"), 1);
    assert_eq!(moved("half_open", "closed"), 1);
    let refused = |reason| {
        counters.get(
            breaker_metric::REJECTIONS,
            &[(breaker_metric::REASON, reason)],
        )
    };
    assert_eq!((refused("open"), refused("probes_busy")), (1, 1));
}
