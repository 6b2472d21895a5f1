//! The lock service over loopback: one `acquire` + `release` cycle of
//! [`LockClient`] against a lock server whose token mark is a
//! `DurableCounter` on real files (one `fsync` per 1024 grants, the default
//! block), compared in the same run with the raw echo round trip a user
//! could hand-write (the baseline of the RPC bench). A cycle is two RPC
//! round trips plus the lease's entry in the client's renewal schedule; the
//! goal is at most 2.5× one raw round trip.
//!
//! A global `tracing` subscriber that records nothing is installed, as in
//! an application that logs (see `common::quiet_tracing`).
//!
//! Everything runs on one current-thread runtime (client and server on the
//! same thread), which measures the code path rather than the scheduler's
//! wake-up latency. Each contestant's loop runs in a spawned task, as in
//! the `rpc` bench and in a server (a `block_on` future woken by another
//! task costs the current-thread runtime one more turn of its I/O driver
//! per wake-up: a lock cycle is woken twice by the client's connection
//! task, a raw round trip by the socket only).

#[allow(dead_code)] // each bench uses part of it
mod common;

use common::raw::{EchoClient, echo_server};
use criterion::{Criterion, criterion_group, criterion_main};
use heddle::distributed::lock::{
    LockClient, LockClientConfig, LockConfig, LockService, lock_service,
};
use heddle::distributed::rpc::{Client, ClientConfig, ServerConfig, serve};
use heddle::net::{Addr, Network, Tokio};
use heddle::storage::{DurableCounter, Files};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

const SECRET: &[u8] = b"bench";

fn lock(c: &mut Criterion) {
    common::quiet_tracing();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("heddle-bench-lock-{}", std::process::id()));
    let (locks, echo) = rt.block_on(async {
        let counter = DurableCounter::open(Files::open(&dir).await.expect("dir"), "fencing")
            .await
            .expect("counter");
        let service = LockService::start(counter, LockConfig::default())
            .await
            .expect("service");
        let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let config = ServerConfig::new(SECRET.to_vec());
        tokio::spawn(serve(
            listener,
            lock_service(service),
            config,
            CancellationToken::new(),
        ));
        let rpc = Client::new(
            Tokio,
            Addr::new("127.0.0.1", port),
            ClientConfig::new(SECRET.to_vec()),
        );
        let locks = LockClient::new(rpc, 1, LockClientConfig::default());

        let raw = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let raw_addr = raw.local_addr().expect("addr");
        tokio::spawn(echo_server(raw));
        (locks, EchoClient::connect(raw_addr).await)
    });
    let mut g = c.benchmark_group("lock_1_in_flight");
    g.measurement_time(Duration::from_secs(5));
    let echo = Mutex::new(Some(echo));
    g.bench_function("raw_echo_round_trip", |b| {
        b.iter_custom(|iters| {
            let mut client = echo
                .lock()
                .expect("not poisoned")
                .take()
                .expect("echo client");
            let (client, elapsed) = rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        client.round_trip(b"0123456789abcdef").await;
                    }
                    (client, start.elapsed())
                })
                .await
                .expect("task")
            });
            *echo.lock().expect("not poisoned") = Some(client);
            elapsed
        })
    });
    let locks = Arc::new(locks);
    g.bench_function("acquire_release", |b| {
        b.iter_custom(|iters| {
            let locks = Arc::clone(&locks);
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for _ in 0..iters {
                        let lease = locks.acquire("bench").await.expect("acquire");
                        locks.release(lease).await.expect("release");
                    }
                    start.elapsed()
                })
                .await
                .expect("task")
            })
        })
    });
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, lock);
criterion_main!(benches);
