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

async fn raw_direct(n: u64) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(raw_server(listener));
    let stream = TcpStream::connect(addr).await.expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    let mut stream = BufReader::new(stream);
    let mut out = Vec::new();
    for i in 0..n {
        let (a, b) = (i as i64, 3i64);
        out.clear();
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&a.to_le_bytes());
        out.extend_from_slice(&b.to_le_bytes());
        stream.get_mut().write_all(&out).await.expect("write");
        let len = stream.read_u32_le().await.expect("len");
        let mut sum = [0u8; 8];
        assert_eq!(len, 8);
        stream.read_exact(&mut sum).await.expect("sum");
        assert_eq!(i64::from_le_bytes(sum), a + b);
    }
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

async fn lock(n: u64) {
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
    for _ in 0..n {
        let lease = locks.acquire("count").await.expect("acquire");
        locks.release(lease).await.expect("release");
    }
    rpc.close().await;
    stop.cancel();
    server.await.expect("server task").expect("server");
    let _ = std::fs::remove_dir_all(&dir);
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
    let callers: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
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
            other => panic!("unknown contestant {other}"),
        }
    });
    rt.block_on(run).expect("the calls' task");
}
