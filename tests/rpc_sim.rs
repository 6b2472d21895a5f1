//! heddle's binary RPC under turmoil: 1 server, 3 clients, random latency,
//! random link failures (`fail_rate`/`repair_rate`), a partition and a
//! server crash/restart, over a fixed list of seeds.
//!
//! Invariants: every call ends exactly once, with its result or a typed
//! error (timeout, unavailable, interrupted by a crash); no keyed call
//! executes twice; after the faults heal, calls succeed again within a
//! bound. The guide's two RPC defects — no de-duplication, no timeout —
//! are run through the same checks and must be caught.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use heddle::distributed::rpc::dedup::DedupStore;
use heddle::distributed::rpc::{Client, ClientConfig, Router, RpcError, ServerConfig, serve};
use heddle::net::{Addr, Network, Turmoil};
use heddle::resilience::retry::{Backoff, Policy};
use heddle::wire::binary::RemoteError;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const TOKEN: &[u8] = b"sim-token";
const CLIENTS: u8 = 3;
const GROUPS: u32 = 10;
const PER_GROUP: u32 = 3;
/// All injected faults end by then.
const HEAL: Duration = Duration::from_secs(8);
/// After `HEAL`, every client must complete a call within this.
const LIVENESS_BOUND: Duration = Duration::from_secs(6);

#[derive(Debug, Clone, Copy)]
struct Variant {
    dedup: bool,
    timeout: bool,
}

const CORRECT: Variant = Variant {
    dedup: true,
    timeout: true,
};

/// What one seed's run found wrong.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the fields are read through Debug, in failure messages"
)]
enum Violation {
    CallsDidNotEnd(String),
    ExecutedTwice { client: u8, seq: u32, times: u32 },
    UntypedError(String),
    OkButNotExecuted { client: u8, seq: u32 },
    NoProgressAfterHeal { client: u8 },
}

/// The faults drawn from a seed.
#[derive(Debug, Clone)]
struct Faults {
    max_latency: Duration,
    fail_rate: f64,
    repair_rate: f64,
    /// (client, start, duration)
    partition: Option<(u8, Duration, Duration)>,
    /// (start, duration)
    crash: Option<(Duration, Duration)>,
    /// Messages between the server and a client are held, then released:
    /// (client, start, duration).
    hold: Option<(u8, Duration, Duration)>,
    /// Maximum latency raised for a while: (start, duration, max latency).
    spike: Option<(Duration, Duration, Duration)>,
}

fn draw(seed: u64) -> Faults {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xfa17);
    let ms = |rng: &mut SmallRng, lo: u64, hi: u64| Duration::from_millis(rng.random_range(lo..hi));
    Faults {
        max_latency: ms(&mut rng, 2, 50),
        fail_rate: if rng.random_bool(0.5) {
            rng.random_range(0.0..0.002)
        } else {
            0.0
        },
        repair_rate: rng.random_range(0.005..0.05),
        partition: rng.random_bool(0.7).then(|| {
            (
                rng.random_range(0..CLIENTS),
                ms(&mut rng, 300, 5000),
                ms(&mut rng, 200, 2500),
            )
        }),
        crash: rng
            .random_bool(0.6)
            .then(|| (ms(&mut rng, 300, 5000), ms(&mut rng, 100, 1500))),
        hold: rng.random_bool(0.6).then(|| {
            (
                rng.random_range(0..CLIENTS),
                ms(&mut rng, 300, 5000),
                ms(&mut rng, 200, 2000),
            )
        }),
        spike: rng.random_bool(0.5).then(|| {
            (
                ms(&mut rng, 300, 5000),
                ms(&mut rng, 500, 2500),
                ms(&mut rng, 200, 1200),
            )
        }),
    }
}

/// What a run produced, for the summary.
#[derive(Debug, Default)]
struct Stats {
    ok: u32,
    timeouts: u32,
    unavailable: u32,
    interrupted: u32,
}

type Executions = Arc<Mutex<BTreeMap<(u8, u32), u32>>>;
/// (client, seq) → the call's outcome; written once per call.
type Outcomes = Rc<RefCell<BTreeMap<(u8, u32), Vec<Result<u64, RpcError>>>>>;

fn client_config(seed: u64, c: u8, variant: Variant) -> ClientConfig {
    let config = ClientConfig::new(TOKEN.to_vec())
        .seed(seed.wrapping_mul(31).wrapping_add(u64::from(c)))
        .attempt_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .retry(Policy::new(
            Backoff::new(Duration::from_millis(50), Duration::from_secs(1)),
            6,
        ));
    if variant.timeout {
        config
    } else {
        config.guide_defect_no_timeout()
    }
}

fn run(seed: u64, variant: Variant) -> Result<Stats, Violation> {
    let faults = draw(seed);
    let mut sim = turmoil::Builder::new()
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(faults.max_latency)
        .fail_rate(faults.fail_rate)
        .repair_rate(faults.repair_rate)
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(40))
        .build();

    // Survive a crash: they stand for the server's durable storage.
    let executions: Executions = Arc::default();
    let store = DedupStore::new(10_000);
    {
        let executions = Arc::clone(&executions);
        sim.host("server", move || {
            let executions = Arc::clone(&executions);
            let store = store.clone();
            async move {
                let router = Router::new()
                    .route("append", move |(client, seq): (u8, u32)| {
                        let executions = Arc::clone(&executions);
                        async move {
                            let mut map = executions.lock().map_err(|e| e.to_string())?;
                            *map.entry((client, seq)).or_insert(0) += 1;
                            Ok::<u64, String>(map.len() as u64)
                        }
                    })
                    .route("ping", |(): ()| async { Ok::<(), String>(()) });
                let mut config = ServerConfig::new(TOKEN.to_vec())
                    .idle_timeout(Duration::from_secs(3))
                    .dedup_store(store);
                if !variant.dedup {
                    config = config.guide_defect_no_dedup();
                }
                let listener = Turmoil.bind(&Addr::new("0.0.0.0", 9000)).await?;
                serve(listener, router, config, CancellationToken::new()).await?;
                Ok(())
            }
        });
    }

    let outcomes: Outcomes = Rc::default();
    let healed_at: Rc<RefCell<BTreeMap<u8, Duration>>> = Rc::default();
    for c in 0..CLIENTS {
        let outcomes = Rc::clone(&outcomes);
        let healed_at = Rc::clone(&healed_at);
        sim.client(format!("client{c}"), async move {
            let client = Client::new(
                Turmoil,
                Addr::new("server", 9000),
                client_config(seed, c, variant),
            );
            let mut rng = SmallRng::seed_from_u64(seed.wrapping_add(1000 + u64::from(c)));
            for group in 0..GROUPS {
                tokio::time::sleep(Duration::from_millis(rng.random_range(0..400))).await;
                // Three calls in flight at once on the one connection.
                let call = |i: u32| {
                    let seq = group * PER_GROUP + i;
                    let client = client.clone();
                    async move { (seq, client.call::<_, u64>("append", &(c, seq)).await) }
                };
                let (a, b, d) = tokio::join!(call(0), call(1), call(2));
                for (seq, result) in [a, b, d] {
                    outcomes
                        .borrow_mut()
                        .entry((c, seq))
                        .or_default()
                        .push(result);
                }
            }
            // Liveness: once the faults have healed, calls must succeed again.
            let now = turmoil::elapsed();
            if now < HEAL {
                tokio::time::sleep(HEAL - now).await;
            }
            while client.call_idempotent::<_, ()>("ping", &()).await.is_err() {}
            healed_at.borrow_mut().insert(c, turmoil::elapsed());
            client.close().await;
            Ok(())
        });
    }

    let mut partitioned = false;
    let mut crashed = false;
    let mut held = false;
    let mut spiked = false;
    let mut healed = false;
    let finished = loop {
        let t = sim.elapsed();
        if let Some((c, start, len)) = faults.partition {
            let client = format!("client{c}");
            if !partitioned && t >= start && t < start + len {
                sim.partition("server", client.as_str());
                partitioned = true;
            } else if partitioned && t >= start + len {
                sim.repair("server", client.as_str());
                partitioned = false;
            }
        }
        if let Some((start, len)) = faults.crash {
            if !crashed && t >= start && t < start + len {
                sim.crash("server");
                crashed = true;
            } else if crashed && t >= start + len {
                sim.bounce("server");
                crashed = false;
            }
        }
        if let Some((c, start, len)) = faults.hold {
            let client = format!("client{c}");
            if !held && t >= start && t < start + len {
                sim.hold("server", client.as_str());
                held = true;
            } else if held && t >= start + len {
                sim.release("server", client.as_str());
                held = false;
            }
        }
        if let Some((start, len, max)) = faults.spike {
            if !spiked && t >= start && t < start + len {
                sim.set_max_message_latency(max);
                spiked = true;
            } else if spiked && t >= start + len {
                sim.set_max_message_latency(faults.max_latency);
                spiked = false;
            }
        }
        if !healed && t >= HEAL {
            sim.set_fail_rate(0.0);
            for c in 0..CLIENTS {
                sim.repair("server", format!("client{c}").as_str());
            }
            healed = true;
        }
        match sim.step() {
            Ok(true) => break Ok(()),
            Ok(false) => {}
            Err(e) => break Err(e.to_string()),
        }
    };
    drop(sim);

    let outcomes = outcomes.borrow();
    if let Err(why) = finished {
        let missing = (0..CLIENTS)
            .flat_map(|c| (0..GROUPS * PER_GROUP).map(move |s| (c, s)))
            .filter(|k| !outcomes.contains_key(k))
            .count();
        return Err(Violation::CallsDidNotEnd(format!(
            "{missing} call(s) never ended: {why}"
        )));
    }
    let executions = executions.lock().expect("no thread panicked holding it");
    let mut stats = Stats::default();
    for c in 0..CLIENTS {
        for seq in 0..GROUPS * PER_GROUP {
            let times = executions.get(&(c, seq)).copied().unwrap_or(0);
            if times > 1 {
                return Err(Violation::ExecutedTwice {
                    client: c,
                    seq,
                    times,
                });
            }
            let ends = outcomes.get(&(c, seq)).map_or(0, Vec::len);
            if ends != 1 {
                return Err(Violation::CallsDidNotEnd(format!(
                    "call ({c}, {seq}) ended {ends} times"
                )));
            }
            match &outcomes[&(c, seq)][0] {
                Ok(_) if times == 1 => stats.ok += 1,
                Ok(_) => return Err(Violation::OkButNotExecuted { client: c, seq }),
                Err(RpcError::Timeout { .. }) => stats.timeouts += 1,
                Err(RpcError::Unavailable { .. }) => stats.unavailable += 1,
                Err(RpcError::Remote(RemoteError::Interrupted)) => stats.interrupted += 1,
                Err(other) => return Err(Violation::UntypedError(format!("{other}"))),
            }
        }
        match healed_at.borrow().get(&c) {
            Some(t) if *t <= HEAL + LIVENESS_BOUND => {}
            _ => return Err(Violation::NoProgressAfterHeal { client: c }),
        }
    }
    Ok(stats)
}

/// The fixed seed list `cargo test` runs (issue #5's `heddle-sim` sweeps more).
const SEEDS: std::ops::Range<u64> = 0..24;

#[test]
fn rpc_invariants_hold_under_faults() {
    let mut total = Stats::default();
    for seed in SEEDS {
        match run(seed, CORRECT) {
            Ok(s) => {
                total.ok += s.ok;
                total.timeouts += s.timeouts;
                total.unavailable += s.unavailable;
                total.interrupted += s.interrupted;
            }
            Err(v) => panic!("seed {seed} ({:?}): {v:?}", draw(seed)),
        }
    }
    // The faults must actually bite, or the test proves little.
    eprintln!("{total:?}");
    assert!(total.ok > 0);
    assert!(
        total.timeouts + total.unavailable + total.interrupted > 0,
        "no fault ever showed: {total:?}"
    );
}

/// The guide's server without de-duplication: some seed must execute a
/// retried call twice.
#[test]
fn no_dedup_variant_is_caught() {
    let variant = Variant {
        dedup: false,
        timeout: true,
    };
    let caught: Vec<u64> = SEEDS
        .filter(|&seed| matches!(run(seed, variant), Err(Violation::ExecutedTwice { .. })))
        .collect();
    assert!(
        !caught.is_empty(),
        "no seed caught the missing de-duplication"
    );
    eprintln!("no-dedup caught by seeds {caught:?}");
}

/// The guide's client without a timeout: some seed must leave a call hanging.
#[test]
fn no_timeout_variant_is_caught() {
    let variant = Variant {
        dedup: true,
        timeout: false,
    };
    let caught: Vec<u64> = SEEDS
        .filter(|&seed| {
            matches!(
                run(seed, variant),
                Err(Violation::CallsDidNotEnd(_) | Violation::NoProgressAfterHeal { .. })
            )
        })
        .collect();
    assert!(!caught.is_empty(), "no seed caught the missing timeout");
    eprintln!("no-timeout caught by seeds {caught:?}");
}
