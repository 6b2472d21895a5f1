//! Servers use every core (issue #9, part 2): heddle's RPC server on a
//! 2-worker runtime against the same server on a 1-worker runtime, in the
//! same run, under 32 connections × many calls.
//!
//! The server runs `rpc::serve` on its own multi-threaded tokio runtime
//! (1 or 2 workers). On a 2-core machine the clients need a core too, so
//! the ratio can only show if a call costs the clients much less than the
//! server; two client set-ups, each measured against both servers:
//!
//! - `raw`: as cheap as a client gets. One current-thread runtime (the bench
//!   thread) drives 32 connections, each a hand-written pipeline over the
//!   protocol's own pieces (`ClientSession::hello`, `Envelope::Call` without
//!   idempotency key, `FrameCodec`): it keeps up to [`WINDOW`] calls in
//!   flight, tops them up in one `write_all` once half are answered, reads
//!   whatever replies have arrived at once, and checks every reply's id and
//!   sum.
//! - `client`: heddle's [`Client`] (one per connection, 4 callers each,
//!   `call_idempotent`), on the same one-thread runtime: what a user's
//!   client costs, for comparison.
//!
//! One call is `add(a: i64, b: i64) -> i64`. A criterion iteration is one
//! call: times are per call, throughput in calls/s. Goal: ≥ 1.4× calls/s
//! with 2 workers (see BENCHMARKS.md).
//!
//! ```text
//! cargo bench --bench server_cores
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;
use heddle::distributed::rpc::session::ClientSession;
use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig, serve};
use heddle::net::{Addr, Network, Tokio};
use heddle::wire::binary::{self, Call, Envelope, Reply};
use heddle::wire::frame::{Decoded, FrameCodec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// Connections to the server.
const CONNECTIONS: usize = 32;
/// Callers sharing each connection (`client` set-up).
const IN_FLIGHT_PER_CONNECTION: usize = 4;
/// Calls in flight per connection (`raw` set-up; the server admits 64).
const WINDOW: u64 = 16;
const TOKEN: &[u8] = b"bench";
const METHOD: &str = "add";

/// A server on a runtime of `workers` worker threads, and 32 connected clients.
struct Setup {
    /// Kept alive (dropped last) while the clients call.
    _server_rt: Runtime,
    client_rt: Runtime,
    clients: Vec<Client<Tokio>>,
    raw: Vec<RawConn>,
    stop: CancellationToken,
}

impl Setup {
    fn new(workers: usize) -> Self {
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()
            .expect("server runtime");
        let client_rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("client runtime");
        let stop = CancellationToken::new();
        let listener = server_rt
            .block_on(Tokio.bind(&Addr::new("127.0.0.1", 0)))
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let router =
            Router::new().route(
                "add",
                |(a, b): (i64, i64)| async move { Ok::<_, String>(a + b) },
            );
        let config = ServerConfig::new(TOKEN.to_vec())
            .max_connections(2 * CONNECTIONS)
            .idle_timeout(Duration::from_secs(600));
        server_rt.spawn(serve(listener, router, config, stop.clone()));
        let clients: Vec<_> = (0..CONNECTIONS as u64)
            .map(|seed| {
                let config = ClientConfig::new(TOKEN.to_vec()).seed(seed);
                Client::new(Tokio, Addr::new("127.0.0.1", port), config)
            })
            .collect();
        let addr = Addr::new("127.0.0.1", port);
        let raw = client_rt.block_on(async {
            let mut raw = Vec::new();
            for _ in 0..CONNECTIONS {
                raw.push(RawConn::connect(&addr).await);
            }
            raw
        });
        let mut setup = Self {
            _server_rt: server_rt,
            client_rt,
            clients,
            raw,
            stop,
        };
        setup.calls(CONNECTIONS as u64 * 8); // connect and warm up
        setup.raw_calls(CONNECTIONS as u64 * 8);
        setup
    }

    /// `n` calls over the raw pipelines; the elapsed time.
    fn raw_calls(&mut self, n: u64) -> Duration {
        let conns = CONNECTIONS as u64;
        let raw = &mut self.raw;
        self.client_rt.block_on(async {
            let start = Instant::now();
            join_all(raw.iter_mut().enumerate().map(|(k, c)| {
                let k = k as u64;
                c.calls(n / conns + u64::from(k < n % conns))
            }))
            .await;
            start.elapsed()
        })
    }

    /// Makes `n` calls spread over every connection and caller; the elapsed time.
    fn calls(&self, n: u64) -> Duration {
        let callers = (CONNECTIONS * IN_FLIGHT_PER_CONNECTION) as u64;
        self.client_rt.block_on(async {
            let start = Instant::now();
            join_all((0..callers).map(|k| {
                let client = &self.clients[k as usize % CONNECTIONS];
                let share = n / callers + u64::from(k < n % callers);
                async move {
                    for i in 0..share as i64 {
                        let sum: i64 = client
                            .call_idempotent(METHOD, &(i, 3i64))
                            .await
                            .expect("call");
                        assert_eq!(black_box(sum), i + 3, "wrong sum");
                    }
                }
            }))
            .await;
            start.elapsed()
        })
    }
}

/// One connection driven by hand: handshake, then pipelined calls.
struct RawConn {
    stream: TcpStream,
    codec: FrameCodec,
    next_id: u64,
    out: Vec<u8>,
    inbox: Vec<u8>,
}

impl RawConn {
    async fn connect(addr: &Addr) -> Self {
        let stream = Tokio.connect(addr).await.expect("connect");
        let mut c = Self {
            stream,
            codec: FrameCodec::default(),
            next_id: 0,
            out: Vec::new(),
            inbox: Vec::new(),
        };
        c.push(&ClientSession::<()>::new(TOKEN.to_vec(), 1).hello());
        c.flush().await;
        let welcome = c.next_frame().await;
        assert!(
            matches!(
                binary::decode::<Envelope>(&welcome),
                Ok(Envelope::Welcome { .. })
            ),
            "handshake refused"
        );
        c
    }

    fn push(&mut self, envelope: &Envelope) {
        let payload = binary::to_vec(envelope).expect("encode");
        self.codec.encode(&payload, &mut self.out).expect("frame");
    }

    async fn flush(&mut self) {
        self.stream.write_all(&self.out).await.expect("write");
        self.out.clear();
    }

    /// The next frame's payload.
    async fn next_frame(&mut self) -> Vec<u8> {
        loop {
            if let Some(payload) = self.take_frame() {
                return payload;
            }
            self.read_more().await;
        }
    }

    /// A whole frame already received, if any.
    fn take_frame(&mut self) -> Option<Vec<u8>> {
        match self.codec.decode(&self.inbox).expect("frame") {
            Decoded::Frame { payload, consumed } => {
                let payload = payload.to_vec();
                self.inbox.drain(..consumed);
                Some(payload)
            }
            Decoded::NeedMore(_) => None,
        }
    }

    async fn read_more(&mut self) {
        let mut chunk = [0u8; 64 * 1024];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "server closed");
        self.inbox.extend_from_slice(&chunk[..n]);
    }

    /// `n` calls, at most [`WINDOW`] in flight, topped up (in one write)
    /// once half of them are answered; every reply checked.
    async fn calls(&mut self, n: u64) {
        let (mut sent, mut answered) = (0u64, 0u64);
        while answered < n {
            if sent - answered <= WINDOW / 2 {
                while sent < n && sent - answered < WINDOW {
                    let id = self.next_id + sent;
                    let args = binary::to_vec(&(id as i64, 3i64)).expect("args");
                    self.push(&Envelope::Call(Call {
                        id,
                        method: METHOD.to_owned(),
                        idempotency_key: None,
                        args,
                        trace: None,
                    }));
                    sent += 1;
                }
                self.flush().await;
            }
            self.read_more().await;
            while let Some(frame) = self.take_frame() {
                let Ok(Envelope::Reply(Reply {
                    id,
                    outcome: Ok(sum),
                })) = binary::decode(&frame)
                else {
                    panic!("not a successful reply");
                };
                let sum: i64 = binary::decode(&sum).expect("sum");
                assert_eq!(black_box(sum), id as i64 + 3, "wrong sum");
                answered += 1;
            }
        }
        self.next_id += n;
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        self.client_rt.block_on(async {
            for c in &self.clients {
                c.close().await;
            }
        });
        self.stop.cancel();
    }
}

fn server_cores(c: &mut Criterion) {
    let mut group = c.benchmark_group("server_cores_32_connections");
    group.throughput(Throughput::Elements(1));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(2));
    group.measurement_time(Duration::from_secs(8));
    for workers in [1, 2] {
        let mut setup = Setup::new(workers);
        group.bench_function(format!("raw_server_{workers}_worker"), |b| {
            b.iter_custom(|iters| setup.raw_calls(iters));
        });
        group.bench_function(format!("client_server_{workers}_worker"), |b| {
            b.iter_custom(|iters| setup.calls(iters));
        });
    }
    group.finish();
}

criterion_group!(benches, server_cores);
criterion_main!(benches);
