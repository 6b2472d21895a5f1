//! The lock service over heddle's RPC on turmoil's simulated network, one
//! behaviour per test: exclusive leases with growing tokens, fenced writes,
//! background renewal, and tokens that keep growing across a crash of the
//! lock server (its token mark is a durable counter on the simulated disk;
//! a mark kept in memory is caught repeating tokens).
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use heddle::distributed::lock::{
    Fenced, FencedStore, LockClient, LockClientConfig, LockConfig, LockError, LockService, Token,
    VolatileMark, lock_service, protocol, resource,
};
use heddle::distributed::rpc::{Client, ClientConfig, ServerConfig, serve};
use heddle::net::{Addr, Network, Turmoil};
use heddle::resilience::retry::Backoff;
use heddle::storage::{DurableCounter, SimDisk};
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const SECRET: &[u8] = b"t";
const TTL: Duration = Duration::from_secs(2);

/// How the lock server keeps its token mark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    /// A durable counter on the host's simulated disk.
    Durable,
    /// Memory.
    Volatile,
}

/// A simulation with a lock server and a resource server.
fn sim(mark: Mark, block: u64) -> turmoil::Sim<'static> {
    let mut sim = turmoil::Builder::new()
        .rng_seed(3)
        .simulation_duration(Duration::from_secs(120))
        .build();
    sim.host("locks", move || async move {
        let config = LockConfig {
            block,
            max_ttl: TTL,
        };
        let router = match mark {
            Mark::Durable => {
                let counter = DurableCounter::open(SimDisk::open("/lock")?, "fencing").await?;
                lock_service(LockService::start(counter, config).await?)
            }
            Mark::Volatile => {
                lock_service(LockService::start(VolatileMark::default(), config).await?)
            }
        };
        let listener = Turmoil.bind(&Addr::new("0.0.0.0", 1)).await?;
        let server = ServerConfig::new(SECRET.to_vec());
        serve(listener, router, server, CancellationToken::new()).await?;
        Ok(())
    });
    let store = Arc::new(Mutex::new(FencedStore::default()));
    sim.host("resource", move || {
        let store = Arc::clone(&store);
        async move {
            let listener = Turmoil.bind(&Addr::new("0.0.0.0", 1)).await?;
            let server = ServerConfig::new(SECRET.to_vec());
            serve(listener, resource(store), server, CancellationToken::new()).await?;
            Ok(())
        }
    });
    sim
}

fn rpc(host: &str, seed: u64) -> Client<Turmoil> {
    Client::new(
        Turmoil,
        Addr::new(host, 1),
        ClientConfig::new(SECRET.to_vec()).seed(seed),
    )
}

fn config(owner: u64) -> LockClientConfig {
    LockClientConfig {
        ttl: TTL,
        renew_every: Duration::from_millis(500),
        margin: Duration::from_millis(100),
        acquire_timeout: Duration::from_secs(20),
        backoff: Backoff::new(Duration::from_millis(10), Duration::from_millis(200)),
        seed: Some(owner),
    }
}

fn locks(owner: u64) -> LockClient<Turmoil> {
    LockClient::new(rpc("locks", owner), owner, config(owner))
}

async fn write(
    token: Token,
    value: &[u8],
) -> Result<protocol::WriteResult, Box<dyn std::error::Error>> {
    let w = protocol::Write {
        key: "k".into(),
        token,
        value: value.to_vec(),
    };
    // A client per write, each with its own seed: with one seed, two
    // clients would send the same idempotency keys (issue #9).
    static SEEDS: AtomicU64 = AtomicU64::new(1000);
    let seed = SEEDS.fetch_add(1, Relaxed);
    Ok(rpc("resource", seed).call(protocol::WRITE, &w).await?)
}

#[test]
fn leases_are_exclusive_renewed_and_fenced() -> turmoil::Result {
    let mut sim = sim(Mark::Durable, 4);
    sim.client("clients", async {
        let (a, b) = (locks(1), locks(2));
        let first = a.acquire("k").await?;
        // Held well past its TTL: the background renewal keeps it.
        tokio::time::sleep(TTL * 3).await;
        assert!(first.is_valid());
        let busy = LockClient::new(
            rpc("locks", 9),
            2,
            LockClientConfig {
                acquire_timeout: Duration::from_millis(300),
                ttl: TTL,
                ..LockClientConfig::default()
            },
        );
        assert!(matches!(
            busy.acquire("k").await,
            Err(LockError::Busy { .. })
        ));
        write(first.token(), b"a").await??;
        let old = first.token();
        a.release(first).await?;
        let second = b.acquire("k").await?;
        assert!(second.token() > old);
        write(second.token(), b"b").await??;
        // The first holder, late: refused.
        assert_eq!(
            write(old, b"late").await?,
            Err(Fenced::Stale {
                token: old,
                seen: second.token()
            })
        );
        Ok(())
    });
    sim.run()
}

#[test]
fn a_lease_taken_between_renewal_ticks_is_renewed_on_its_own_time() -> turmoil::Result {
    // One renewal task serves all of a client's leases. Renewed every 1.5 s
    // and trusted for 1.9 s after each request: a lease renewed at the
    // task's next tick after its own due time instead (up to 1.5 s late)
    // would run out.
    let mut sim = sim(Mark::Durable, 4);
    sim.client("clients", async {
        let config = LockClientConfig {
            renew_every: Duration::from_millis(1500),
            ..config(1)
        };
        let a = LockClient::new(rpc("locks", 1), 1, config);
        let first = a.acquire("one").await?; // the task's timer: due at +1.5 s
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let second = a.acquire("two").await?; // due 1 s after the timer
        for _ in 0..8 {
            tokio::time::sleep(Duration::from_millis(250)).await;
            assert!(first.is_valid(), "the first lease ran out");
            assert!(second.is_valid(), "the second lease ran out");
        }
        a.release(first).await?;
        tokio::time::sleep(TTL * 2).await;
        assert!(second.is_valid(), "the second lease ran out");
        Ok(())
    });
    sim.run()
}

#[test]
fn an_unrenewed_lease_runs_out_locally() -> turmoil::Result {
    let mut sim = sim(Mark::Durable, 4);
    sim.client("clients", async {
        let a = locks(1);
        let lease = a.acquire("k").await?;
        // The lock server is cut off: renewals fail, the local deadline
        // (TTL - margin from the request) passes.
        turmoil::partition("clients", "locks");
        tokio::time::sleep(TTL).await;
        assert!(!lease.is_valid());
        turmoil::repair("clients", "locks");
        Ok(())
    });
    sim.run()
}

/// Acquires and releases `n` times; returns the tokens.
async fn tokens(c: &LockClient<Turmoil>, n: usize) -> Result<Vec<Token>, LockError> {
    let mut out = Vec::new();
    for _ in 0..n {
        let lease = c.acquire("k").await?;
        out.push(lease.token());
        c.release(lease).await?;
    }
    Ok(out)
}

/// Runs acquire/release, crashes and restarts the lock server, does it
/// again; returns the tokens before and after.
fn across_a_crash(mark: Mark) -> Result<(Vec<Token>, Vec<Token>), Box<dyn std::error::Error>> {
    let mut sim = sim(mark, 3);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    sim.client("clients", async move {
        let c = locks(1);
        let before = tokens(&c, 2).await?;
        record.lock().expect("seen").push(before);
        Ok(())
    });
    while !sim.step()? {}
    sim.bounce("locks");
    let record = Arc::clone(&seen);
    sim.client("later", async move {
        let c = locks(2);
        let after = tokens(&c, 2).await?;
        record.lock().expect("seen").push(after);
        Ok(())
    });
    sim.run()?;
    let mut seen = seen.lock().expect("seen").clone();
    let after = seen.pop().ok_or("no second run")?;
    let before = seen.pop().ok_or("no first run")?;
    Ok((before, after))
}

#[test]
fn tokens_keep_growing_across_a_crash() -> Result<(), Box<dyn std::error::Error>> {
    let (before, after) = across_a_crash(Mark::Durable)?;
    assert!(after[0] > before[1], "{before:?} then {after:?}");
    Ok(())
}

/// A mark store that does not survive the crash hands out old tokens again.
#[test]
fn a_volatile_mark_store_repeats_tokens() -> Result<(), Box<dyn std::error::Error>> {
    let (before, after) = across_a_crash(Mark::Volatile)?;
    assert_eq!(after[0], before[0], "{before:?} then {after:?}");
    Ok(())
}
