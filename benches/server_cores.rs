//! Servers use every core (issue #9, part 2): heddle's RPC server on a
//! 2-worker runtime against the same server on a 1-worker runtime, in the
//! same run, under 32 connections × many calls.
//!
//! The server runs `rpc::serve` on its own multi-threaded tokio runtime
//! (1 or 2 workers). The clients are as cheap as heddle's client allows:
//! one current-thread runtime (the bench thread) holding 32 [`Client`]s,
//! one connection each, [`IN_FLIGHT_PER_CONNECTION`] callers per connection,
//! `call_idempotent` (no idempotency key, so the server's de-duplication
//! window, a shared lock, stays out of the measurement). One call is
//! `add(a: i64, b: i64) -> i64`, and every reply is checked. A criterion
//! iteration is one call: times are per call, throughput in calls/s.
//!
//! Goal: ≥ 1.4× calls/s with 2 workers. On a 2-core machine the clients need
//! a core too, so the ratio is bounded by how much cheaper a call is for
//! the client than for the server (see BENCHMARKS.md).
//!
//! ```text
//! cargo bench --bench server_cores
//! ```

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures::future::join_all;
use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig, serve};
use heddle::net::{Addr, Network, Tokio};
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;

/// Connections to the server.
const CONNECTIONS: usize = 32;
/// Callers sharing each connection.
const IN_FLIGHT_PER_CONNECTION: usize = 4;
const TOKEN: &[u8] = b"bench";

/// A server on a runtime of `workers` worker threads, and 32 connected clients.
struct Setup {
    /// Kept alive (dropped last) while the clients call.
    _server_rt: Runtime,
    client_rt: Runtime,
    clients: Vec<Client<Tokio>>,
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
        let config = ServerConfig::new(TOKEN.to_vec()).max_connections(CONNECTIONS);
        server_rt.spawn(serve(listener, router, config, stop.clone()));
        let clients: Vec<_> = (0..CONNECTIONS as u64)
            .map(|seed| {
                let config = ClientConfig::new(TOKEN.to_vec()).seed(seed);
                Client::new(Tokio, Addr::new("127.0.0.1", port), config)
            })
            .collect();
        let setup = Self {
            _server_rt: server_rt,
            client_rt,
            clients,
            stop,
        };
        setup.calls(CONNECTIONS as u64 * 8); // connect and warm up
        setup
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
                            .call_idempotent("add", &(i, 3i64))
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
        let setup = Setup::new(workers);
        group.bench_function(format!("server_{workers}_worker"), |b| {
            b.iter_custom(|iters| setup.calls(iters));
        });
    }
    group.finish();
}

criterion_group!(benches, server_cores);
criterion_main!(benches);
