//! RPC over loopback (issue #4): heddle's RPC against a hand-written tokio
//! length-prefixed exchange and against tarpc, in the same run, with 1 and
//! 32 calls in flight on one connection.
//!
//! Every contestant runs on real sockets (`127.0.0.1`, `TCP_NODELAY` on
//! both ends). Servers run on one tokio runtime and clients on another, each
//! with one worker thread: on this 2-core machine, that is a client process
//! and a server process with a core each. (One shared 2-worker runtime made
//! the results depend on tokio's cross-worker wake-ups rather than on the
//! code: heddle measured 10 µs or 29 µs per call depending on whether a
//! timer happened to be registered per frame.) One call is
//! `add(a: i64, b: i64) -> i64` everywhere, and every reply is checked.
//!
//! Contestants:
//!
//! - `raw_direct` (1 in flight only): the simplest hand-written client, which
//!   owns the stream: it writes `u32` length + 16 bytes (`a`, `b`) in one
//!   `write_all`, then reads `u32` length + 8 bytes (the sum) through a
//!   `BufReader`. The server reads frames through a `BufReader` and answers
//!   each with its sum in one `write_all`. The 1-in-flight baseline of the
//!   goal.
//! - `raw_mux`: the same wire and server, with a client shaped like heddle's
//!   one-connection multiplexing: callers hand requests to a writer task
//!   (one `write_all` per request), and a reader task answers the callers in
//!   order (the server replies in order). Same I/O shape as heddle (one
//!   write per request and per reply): the 32-in-flight baseline of the
//!   goal.
//! - `raw_mux_batched`: `raw_mux` with write coalescing on both sides: the
//!   writer sends every request queued at that moment in one write, and its
//!   server (a second listener) holds replies while further requests are
//!   already buffered. The best a hand-written pipeline does here.
//! - `tarpc`: tarpc 0.38, `serde_transport` with its bincode codec over the
//!   same kind of `TcpStream`, default client and server configuration, one
//!   spawned task per request on the server (tarpc's documented setup).
//! - `heddle_idempotent` / `heddle_keyed`: `Client::call_idempotent` (no
//!   idempotency key) and `Client::call` (keyed: the server's
//!   de-duplication window runs on every call).
//!
//! A global `tracing` subscriber that records nothing is installed, as in
//! an application that logs (see `common::quiet_tracing`).
//!
//! With 32 in flight, 32 tasks share the one client (or connection), each
//! making its share of the calls one after the other; a criterion iteration
//! is one call, so times are per call (lower is better, throughput in
//! calls/s).
//!
//! ```text
//! cargo bench --bench rpc
//! ```

#[allow(dead_code)] // each bench uses part of it
mod common;

use common::raw::{push_frame, read_frame};
use std::future::Future;
use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{
    BenchmarkGroup, Criterion, Throughput, criterion_group, criterion_main, measurement::WallTime,
};
use futures::StreamExt;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, oneshot};

/// Concurrent callers in the "many in flight" group.
const IN_FLIGHT: usize = 32;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

async fn listen() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind")
}

async fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
}

/// Arguments of the `n`-th call.
fn args(n: u64) -> (i64, i64) {
    (n as i64, 3)
}

/// Runs `iters` calls with `callers` concurrent tasks (`call` is cloned
/// into each) on the runtime's workers and returns the elapsed time.
fn run<F, Fut>(rt: &Runtime, iters: u64, callers: usize, call: F) -> Duration
where
    F: Fn(i64, i64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = i64> + Send,
{
    rt.block_on(async move {
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(callers);
        let callers = callers as u64;
        for k in 0..callers {
            let call = call.clone();
            let share = iters / callers + u64::from(k < iters % callers);
            tasks.push(tokio::spawn(async move {
                for n in 0..share {
                    let (a, b) = args(n);
                    let sum = call(a, b).await;
                    assert_eq!(sum, a + b, "wrong sum");
                }
            }));
        }
        for t in tasks {
            t.await.expect("caller task");
        }
        start.elapsed()
    })
}

// ---------------------------------------------------------------------------
// Raw tokio: `u32` little-endian length, then the payload.
// ---------------------------------------------------------------------------

fn add_request(a: i64, b: i64) -> [u8; 16] {
    let mut req = [0; 16];
    req[..8].copy_from_slice(&a.to_le_bytes());
    req[8..].copy_from_slice(&b.to_le_bytes());
    req
}

fn sum_reply(payload: &[u8]) -> i64 {
    i64::from_le_bytes(payload.try_into().expect("8-byte reply"))
}

/// Raw server: answers each `(a, b)` frame with `a + b`, in order. Each
/// reply is one `write_all`; with `coalesce`, replies accumulate while
/// further requests are already buffered and go out in one write.
async fn raw_server(listener: TcpListener, coalesce: bool) {
    while let Ok((stream, _)) = listener.accept().await {
        stream.set_nodelay(true).expect("nodelay");
        tokio::spawn(async move {
            let (r, mut w) = stream.into_split();
            let mut r = BufReader::new(r);
            let (mut req, mut out) = (Vec::new(), Vec::new());
            while read_frame(&mut r, &mut req).await {
                let Ok(ab) = <[u8; 16]>::try_from(&req[..]) else {
                    return;
                };
                let a = i64::from_le_bytes(ab[..8].try_into().expect("8 bytes"));
                let b = i64::from_le_bytes(ab[8..].try_into().expect("8 bytes"));
                push_frame(&mut out, &a.wrapping_add(b).to_le_bytes());
                if !coalesce || r.buffer().is_empty() {
                    if w.write_all(&out).await.is_err() {
                        return;
                    }
                    out.clear();
                }
            }
        });
    }
}

/// `raw_direct`: the client owns the stream; one call is write, then read.
struct RawDirect {
    stream: BufReader<TcpStream>,
    out: Vec<u8>,
    reply: Vec<u8>,
}

impl RawDirect {
    async fn call(&mut self, a: i64, b: i64) -> i64 {
        self.out.clear();
        push_frame(&mut self.out, &add_request(a, b));
        self.stream
            .get_mut()
            .write_all(&self.out)
            .await
            .expect("write");
        assert!(read_frame(&mut self.stream, &mut self.reply).await, "eof");
        sum_reply(&self.reply)
    }
}

type Pending = oneshot::Sender<i64>;

/// `raw_mux`: many callers on one connection, a writer task and a reader
/// task that answers callers in request order.
#[derive(Clone)]
struct RawMux {
    requests: mpsc::Sender<([u8; 16], Pending)>,
}

impl RawMux {
    /// With `coalesce`, the writer sends every request queued at that moment
    /// in one write; without, one write per request.
    fn new(stream: TcpStream, coalesce: bool) -> Self {
        let (r, mut w) = stream.into_split();
        let (requests, mut queue) = mpsc::channel::<([u8; 16], Pending)>(1024);
        let (order_tx, mut order) = mpsc::unbounded_channel::<Pending>();
        tokio::spawn(async move {
            let mut out = Vec::new();
            while let Some((req, done)) = queue.recv().await {
                out.clear();
                push_frame(&mut out, &req);
                if order_tx.send(done).is_err() {
                    return;
                }
                // Everything queued now goes out in the same write.
                if coalesce {
                    while let Ok((req, done)) = queue.try_recv() {
                        push_frame(&mut out, &req);
                        if order_tx.send(done).is_err() {
                            return;
                        }
                    }
                }
                if w.write_all(&out).await.is_err() {
                    return;
                }
            }
        });
        tokio::spawn(async move {
            let mut r = BufReader::new(r);
            let mut reply = Vec::new();
            while read_frame(&mut r, &mut reply).await {
                let Some(done) = order.recv().await else {
                    return;
                };
                let _ = done.send(sum_reply(&reply));
            }
        });
        Self { requests }
    }

    async fn call(&self, a: i64, b: i64) -> i64 {
        let (done, answer) = oneshot::channel();
        self.requests
            .send((add_request(a, b), done))
            .await
            .expect("writer alive");
        answer.await.expect("reader alive")
    }
}

// ---------------------------------------------------------------------------
// tarpc
// ---------------------------------------------------------------------------

#[tarpc::service]
trait Adder {
    /// `a + b`.
    async fn add(a: i64, b: i64) -> i64;
}

#[derive(Clone)]
struct AdderServer;

impl Adder for AdderServer {
    async fn add(self, _: tarpc::context::Context, a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }
}

fn tarpc_transport<Item, SinkItem>(
    stream: TcpStream,
) -> tarpc::serde_transport::Transport<
    TcpStream,
    Item,
    SinkItem,
    tarpc::tokio_serde::formats::Bincode<Item, SinkItem>,
>
where
    Item: for<'de> serde::Deserialize<'de>,
    SinkItem: serde::Serialize,
{
    let framed = tarpc::tokio_util::codec::LengthDelimitedCodec::builder().new_framed(stream);
    tarpc::serde_transport::new(framed, tarpc::tokio_serde::formats::Bincode::default())
}

async fn tarpc_server(listener: TcpListener) {
    use tarpc::server::{BaseChannel, Channel};
    while let Ok((stream, _)) = listener.accept().await {
        stream.set_nodelay(true).expect("nodelay");
        let channel = BaseChannel::with_defaults(tarpc_transport(stream));
        tokio::spawn(
            channel
                .execute(AdderServer.serve())
                .for_each(|response| async move {
                    tokio::spawn(response);
                }),
        );
    }
}

// ---------------------------------------------------------------------------
// heddle
// ---------------------------------------------------------------------------

type HeddleClient = heddle::distributed::rpc::Client<heddle::net::Tokio>;

/// Starts a heddle server (default configuration) on a free loopback port;
/// returns a client (default configuration) and the server's shutdown token.
async fn heddle_start(
    servers: &tokio::runtime::Handle,
) -> (HeddleClient, tokio_util::sync::CancellationToken) {
    use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig, serve};
    use heddle::net::{Addr, Network};
    const TOKEN: &[u8] = b"bench-token";

    let router = Router::new().route("add", |(a, b): (i64, i64)| async move {
        Ok::<i64, String>(a.wrapping_add(b))
    });
    let shutdown = tokio_util::sync::CancellationToken::new();
    let stop = shutdown.clone();
    let port = servers
        .spawn(async move {
            let listener = heddle::net::Tokio
                .bind(&Addr::new("127.0.0.1", 0))
                .await
                .expect("bind");
            let port = listener.local_addr().expect("local addr").port();
            tokio::spawn(serve(
                listener,
                router,
                ServerConfig::new(TOKEN.to_vec()),
                stop,
            ));
            port
        })
        .await
        .expect("server started");
    let client = Client::new(
        heddle::net::Tokio,
        Addr::new("127.0.0.1", port),
        ClientConfig::new(TOKEN.to_vec()),
    );
    (client, shutdown)
}

// ---------------------------------------------------------------------------
// The groups
// ---------------------------------------------------------------------------

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(1))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    g
}

fn rpc(c: &mut Criterion) {
    common::quiet_tracing();
    // Client and server on separate runtimes, one worker each.
    rpc_on(c, "", runtime(), Some(runtime()));
    // Everything on one thread: no thread ever wakes another, so this shows
    // the cost of each contestant's own code path.
    let one = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rpc_on(c, "_one_thread", one, None);
}

/// The groups, with clients on `rt` and servers on `server_rt` (or `rt`).
fn rpc_on(c: &mut Criterion, suffix: &str, rt: Runtime, server_rt: Option<Runtime>) {
    let servers = server_rt
        .as_ref()
        .map_or_else(|| rt.handle().clone(), |s| s.handle().clone());
    // Binds on the server runtime and serves there.
    let serve_on = |batched: bool| {
        let servers = servers.clone();
        async move {
            servers
                .spawn(async move {
                    let l = listen().await;
                    let addr = l.local_addr().expect("addr");
                    tokio::spawn(raw_server(l, batched));
                    addr
                })
                .await
                .expect("server started")
        }
    };

    // Servers and one client connection per contestant.
    let (raw_direct, raw_mux, raw_mux_batched, tarpc_client, heddle_client, heddle_shutdown) = rt
        .block_on(async {
            let raw_addr = serve_on(false).await;
            let direct = RawDirect {
                stream: BufReader::new(connect(raw_addr).await),
                out: Vec::new(),
                reply: Vec::new(),
            };
            let mux = RawMux::new(connect(raw_addr).await, false);

            let batched_addr = serve_on(true).await;
            let mux_batched = RawMux::new(connect(batched_addr).await, true);

            let tarpc_addr = servers
                .spawn(async {
                    let l = listen().await;
                    let addr = l.local_addr().expect("addr");
                    tokio::spawn(tarpc_server(l));
                    addr
                })
                .await
                .expect("server started");
            let tarpc_client = AdderClient::new(
                tarpc::client::Config::default(),
                tarpc_transport(connect(tarpc_addr).await),
            )
            .spawn();

            let (heddle_client, heddle_shutdown) = heddle_start(&servers).await;
            (
                direct,
                mux,
                mux_batched,
                tarpc_client,
                heddle_client,
                heddle_shutdown,
            )
        });

    let raw_direct = Mutex::new(Some(raw_direct));

    let mut g = group(c, &format!("rpc_1_in_flight{suffix}"));
    g.bench_function("raw_direct", |b| {
        b.iter_custom(|iters| {
            let mut client = raw_direct
                .lock()
                .expect("not poisoned")
                .take()
                .expect("stream");
            let (client, elapsed) = rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for n in 0..iters {
                        let (a, b) = args(n);
                        assert_eq!(client.call(a, b).await, a + b, "wrong sum");
                    }
                    (client, start.elapsed())
                })
                .await
                .expect("task")
            });
            *raw_direct.lock().expect("not poisoned") = Some(client);
            elapsed
        })
    });
    for (name, callers) in [("rpc_1_in_flight", 1), ("rpc_32_in_flight", IN_FLIGHT)] {
        if callers != 1 {
            g.finish();
            g = group(c, &format!("{name}{suffix}"));
        }
        for (label, mux) in [("raw_mux", &raw_mux), ("raw_mux_batched", &raw_mux_batched)] {
            g.bench_function(label, |b| {
                b.iter_custom(|iters| {
                    let mux = mux.clone();
                    run(&rt, iters, callers, move |a, b| {
                        let mux = mux.clone();
                        async move { mux.call(a, b).await }
                    })
                })
            });
        }
        g.bench_function("tarpc", |b| {
            b.iter_custom(|iters| {
                let client = tarpc_client.clone();
                run(&rt, iters, callers, move |a, b| {
                    let client = client.clone();
                    async move {
                        client
                            .add(tarpc::context::current(), a, b)
                            .await
                            .expect("tarpc call")
                    }
                })
            })
        });
        for (label, keyed) in [("heddle_idempotent", false), ("heddle_keyed", true)] {
            g.bench_function(label, |b| {
                b.iter_custom(|iters| {
                    let client = heddle_client.clone();
                    run(&rt, iters, callers, move |a, b| {
                        let client = client.clone();
                        async move {
                            let sum = if keyed {
                                client.call::<_, i64>("add", &(a, b)).await
                            } else {
                                client.call_idempotent::<_, i64>("add", &(a, b)).await
                            };
                            sum.expect("heddle call")
                        }
                    })
                })
            });
        }
    }
    g.finish();

    rt.block_on(heddle_client.close());
    heddle_shutdown.cancel();
    drop(tarpc_client);
    black_box(rt);
    black_box(server_rt);
}

criterion_group!(benches, rpc);
criterion_main!(benches);
