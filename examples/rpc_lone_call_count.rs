//! A profiling harness for the lone RPC call (issue #9 part 4): runs `N`
//! calls of one contestant, one at a time, client and server on one
//! current-thread runtime over loopback — the set-up of the `rpc` bench's
//! `rpc_1_in_flight_one_thread` group — and nothing else, so that
//! `valgrind --tool=callgrind` can count the instructions of a call (run it
//! with two values of `N` and divide the difference: set-up cancels out).
//! Instruction counts, unlike times, do not move when other processes load
//! the machine.
//!
//! ```text
//! cargo build --release --example rpc_lone_call_count
//! valgrind --tool=callgrind target/release/examples/rpc_lone_call_count raw_direct 2000
//! valgrind --tool=callgrind target/release/examples/rpc_lone_call_count heddle_idempotent 2000
//! ```
//!
//! Contestants: `raw_direct` (the bench's: a `u32` length + 16 bytes out,
//! `u32` length + 8 bytes back, the client owning the stream),
//! `heddle_idempotent` and `heddle_keyed` (default configurations; an
//! optional third argument runs the calls from that many tasks at once, as
//! the bench's 32-in-flight group does), and
//! `lock` (one `LockClient::acquire` + `release` per iteration against a
//! lock server whose token mark is a `DurableCounter` in a temporary
//! directory: the `lock` bench's cycle).
//!
//! `lock_ratio ROUNDS [BLOCK]` is a measurement, not a count: after
//! filling the de-duplication window it alternates blocks of `BLOCK` raw
//! round trips and `BLOCK` lock cycles (default 2 000) for `ROUNDS` rounds
//! and prints each round's times and their ratio, then the medians. Both
//! contestants see the same state of the machine, so the ratio drifts less
//! than criterion's, whose two measurements are taken seconds apart
//! (BENCHMARKS.md, "the night of 2026-12-02/03").
//!
//! ```text
//! target/release/examples/rpc_lone_call_count lock_ratio 30 2000
//! ```

use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig, serve};
use heddle::net::{Addr, Network, Tokio};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

async fn raw_server(listener: TcpListener) {
    let Ok((stream, _)) = listener.accept().await else {
        return;
    };
    stream.set_nodelay(true).expect("nodelay");
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut req = [0u8; 16];
    while let Ok(len) = r.read_u32_le().await {
        if len != 16 || r.read_exact(&mut req).await.is_err() {
            return;
        }
        let a = i64::from_le_bytes(req[..8].try_into().expect("8 bytes"));
        let b = i64::from_le_bytes(req[8..].try_into().expect("8 bytes"));
        let mut out = Vec::with_capacity(12);
        out.extend_from_slice(&8u32.to_le_bytes());
        out.extend_from_slice(&a.wrapping_add(b).to_le_bytes());
        if w.write_all(&out).await.is_err() {
            return;
        }
    }
}

/// The bench's raw client: owns its stream, writes a request, reads the
/// answer.
struct RawEcho {
    stream: BufReader<TcpStream>,
    out: Vec<u8>,
}

impl RawEcho {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(raw_server(listener));
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream: BufReader::new(stream),
            out: Vec::new(),
        }
    }

    async fn round_trips(&mut self, n: u64) {
        for i in 0..n {
            let (a, b) = (i as i64, 3i64);
            self.out.clear();
            self.out.extend_from_slice(&16u32.to_le_bytes());
            self.out.extend_from_slice(&a.to_le_bytes());
            self.out.extend_from_slice(&b.to_le_bytes());
            self.stream
                .get_mut()
                .write_all(&self.out)
                .await
                .expect("write");
            let len = self.stream.read_u32_le().await.expect("len");
            let mut sum = [0u8; 8];
            assert_eq!(len, 8);
            self.stream.read_exact(&mut sum).await.expect("sum");
            assert_eq!(i64::from_le_bytes(sum), a + b);
        }
    }
}

async fn raw_direct(n: u64) {
    RawEcho::start().await.round_trips(n).await;
}

async fn heddle(n: u64, keyed: bool, callers: u64) {
    let router = Router::new().route("add", |(a, b): (i64, i64)| async move {
        Ok::<i64, String>(a.wrapping_add(b))
    });
    let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let stop = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(serve(
        listener,
        router,
        ServerConfig::new(b"t".to_vec()),
        stop.clone(),
    ));
    let client = Client::new(
        Tokio,
        Addr::new("127.0.0.1", port),
        ClientConfig::new(b"t".to_vec()),
    );
    // `callers` tasks share the client and the `n` calls, as the bench's
    // 32-in-flight group does.
    let mut tasks = Vec::new();
    for k in 0..callers {
        let client = client.clone();
        let share = n / callers + u64::from(k < n % callers);
        tasks.push(tokio::spawn(async move {
            for i in 0..share {
                let (a, b) = (i as i64, 3i64);
                let sum: i64 = if keyed {
                    client.call("add", &(a, b)).await
                } else {
                    client.call_idempotent("add", &(a, b)).await
                }
                .expect("call");
                assert_eq!(sum, a + b);
            }
        }));
    }
    for t in tasks {
        t.await.expect("caller");
    }
    client.close().await;
    stop.cancel();
    server.await.expect("server task").expect("server");
}

/// The `lock` bench's set-up: a lock server on real files and one client.
struct LockCycles {
    locks: heddle::distributed::lock::LockClient<Tokio>,
    rpc: Client<Tokio>,
    stop: tokio_util::sync::CancellationToken,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    dir: std::path::PathBuf,
}

impl LockCycles {
    async fn start() -> Self {
        use heddle::distributed::lock::{
            LockClient, LockClientConfig, LockConfig, LockService, lock_service,
        };
        use heddle::storage::{DurableCounter, Files};
        let dir = std::env::temp_dir().join(format!("heddle-lock-count-{}", std::process::id()));
        let counter = DurableCounter::open(Files::open(&dir).await.expect("dir"), "fencing")
            .await
            .expect("counter");
        let service = LockService::start(counter, LockConfig::default())
            .await
            .expect("service");
        let listener = Tokio.bind(&Addr::new("127.0.0.1", 0)).await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let stop = tokio_util::sync::CancellationToken::new();
        let server = tokio::spawn(serve(
            listener,
            lock_service(service),
            ServerConfig::new(b"t".to_vec()),
            stop.clone(),
        ));
        let rpc = Client::new(
            Tokio,
            Addr::new("127.0.0.1", port),
            ClientConfig::new(b"t".to_vec()),
        );
        let locks = LockClient::new(rpc.clone(), 1, LockClientConfig::default());
        Self {
            locks,
            rpc,
            stop,
            server,
            dir,
        }
    }

    async fn cycles(&self, n: u64) {
        for _ in 0..n {
            let lease = self.locks.acquire("count").await.expect("acquire");
            self.locks.release(lease).await.expect("release");
        }
    }

    async fn stop(self) {
        self.rpc.close().await;
        self.stop.cancel();
        self.server.await.expect("server task").expect("server");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn lock(n: u64) {
    let cycles = LockCycles::start().await;
    cycles.cycles(n).await;
    cycles.stop().await;
}

/// `rounds` rounds of `block` raw round trips then `block` lock cycles,
/// timed block by block: both see the same state of the machine, so their
/// ratio drifts less than that of two measurements made seconds apart.
/// Prints each round's ratio, then the medians.
async fn lock_ratio(rounds: u64, block: u64) {
    let rounds = rounds.max(1);
    let mut raw = RawEcho::start().await;
    let cycles = LockCycles::start().await;
    // Warm-up: connections, and a full de-duplication window (at its
    // default capacity; each acquire leaves one outcome), as on a server
    // that has been up for a while and in the `lock` bench after its first
    // seconds: from then on every acquire evicts one.
    raw.round_trips(block).await;
    let window = ServerConfig::DEFAULT_DEDUP_CAPACITY as u64;
    cycles.cycles(window + block).await;
    let (mut raws, mut locks, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let t = std::time::Instant::now();
        raw.round_trips(block).await;
        let r = t.elapsed().as_secs_f64() * 1e6 / block as f64;
        let t = std::time::Instant::now();
        cycles.cycles(block).await;
        let l = t.elapsed().as_secs_f64() * 1e6 / block as f64;
        println!(
            "round {round}: raw {r:.2} µs, lock cycle {l:.2} µs, ratio {:.3}",
            l / r
        );
        raws.push(r);
        locks.push(l);
        ratios.push(l / r);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "median: raw {:.2} µs, lock cycle {:.2} µs, ratio {:.3}",
        median(&mut raws),
        median(&mut locks),
        median(&mut ratios)
    );
    cycles.stop().await;
}

fn main() {
    // As the benches do (`benches/common/mod.rs`, `quiet_tracing`): a
    // subscriber that records nothing, as in an application that logs;
    // without one, the `log` feature that a dev-dependency turns on sends
    // every span through the `log` facade.
    tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default())
        .expect("no subscriber yet");
    let mut args = std::env::args().skip(1);
    let contestant = args.next().unwrap_or_else(|| "heddle_idempotent".into());
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1000);
    // Callers for the RPC contestants, the block size for `lock_ratio`.
    let third: Option<u64> = args.next().and_then(|s| s.parse().ok());
    let callers = third.unwrap_or(1).max(1);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // The calls run in a spawned task, as in the bench (a `block_on`
    // future woken by another task costs the runtime one more poll of its
    // I/O driver per call).
    let run = rt.spawn(async move {
        match contestant.as_str() {
            "raw_direct" => raw_direct(n).await,
            "heddle_idempotent" => heddle(n, false, callers).await,
            "heddle_keyed" => heddle(n, true, callers).await,
            "lock" => lock(n).await,
            "lock_ratio" => lock_ratio(n, third.unwrap_or(2000).max(1)).await,
            other => panic!("unknown contestant {other}"),
        }
    });
    rt.block_on(run).expect("the calls' task");
}
