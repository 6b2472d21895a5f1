//! `kv`: a key-value service over heddle's binary RPC
//! ([`heddle::distributed::rpc`]): one server holding a map, three clients
//! doing `get`, `put` and `cas` on two keys with keyed calls (retries,
//! server de-duplication), under faults; judged by linearizability.
//!
//! - **Safety** (`linearizable`): the clients' history, with every failed
//!   call's outcome unknown, is linearizable against
//!   [`heddle::check::history::models::Kv`] (checked at the end of the run
//!   by [`crate::linearizable`]).
//! - **Liveness**: after every fault has healed, each client completes 3
//!   calls within 10 s of simulated time.
//!
//! The map and the de-duplication window survive a crash (they stand for
//! the server's disk).
//!
//! Variants:
//! - `default`: reads and writes go to the one map.
//! - `stale-reads`: the server answers `get` from a copy of the map that
//!   it refreshes only every third write, as a cache or a lagging replica
//!   would (`linearizable`: a read misses a write that completed before it).

use crate::record::{OpRecord, ShowOp, ShowRet, TypedRecorder};
use crate::scenario::{Ctx, Hosts, Invariants, Liveness, Scenario, Variant, Violation};
use heddle::check::history::models::{Kv as KvModel, KvOp, KvRet};
use heddle::distributed::rpc::dedup::DedupStore;
use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig, serve};
use heddle::net::{Addr, Network, Turmoil};
use heddle::resilience::retry::{Backoff, Policy};
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

/// The key-value scenario.
#[derive(Debug, Clone, Copy)]
pub struct Kv;

const PORT: u16 = 9100;
const CLIENTS: usize = 3;
const TOKEN: &[u8] = b"heddle-sim-kv";
const KEYS: [&str; 2] = ["x", "y"];
/// In `stale-reads`, the copy reads are served from is refreshed every
/// this many writes.
const REFRESH_EVERY: u64 = 3;

static VARIANTS: &[Variant] = &[
    Variant {
        name: "default",
        about: "one map, keyed calls with retries and server de-duplication: linearizable",
        expect_violation: false,
    },
    Variant {
        name: "stale-reads",
        about: "gets answered from a copy refreshed every third write (linearizable)",
        expect_violation: true,
    },
];

/// The server's "disk": the map, the copy stale reads come from, and the
/// writes since the copy was taken.
#[derive(Debug, Default)]
struct Store {
    map: BTreeMap<String, String>,
    copy: BTreeMap<String, String>,
    writes: u64,
}

type Shared = Arc<Mutex<Store>>;

fn lock(m: &Mutex<Store>) -> std::sync::MutexGuard<'_, Store> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Store {
    fn wrote(&mut self) {
        self.writes += 1;
        if self.writes % REFRESH_EVERY == 0 {
            self.copy = self.map.clone();
        }
    }
}

fn router(store: Shared, stale: bool) -> Router {
    let (s1, s2, s3) = (Arc::clone(&store), Arc::clone(&store), store);
    Router::new()
        .route("get", move |key: String| {
            let s = Arc::clone(&s1);
            async move {
                let g = lock(&s);
                let m = if stale { &g.copy } else { &g.map };
                Ok::<String, String>(m.get(&key).cloned().unwrap_or_default())
            }
        })
        .route("put", move |(key, value): (String, String)| {
            let s = Arc::clone(&s2);
            async move {
                let mut g = lock(&s);
                g.map.insert(key, value);
                g.wrote();
                Ok::<(), String>(())
            }
        })
        .route(
            "cas",
            move |(key, expect, new): (String, String, String)| {
                let s = Arc::clone(&s3);
                async move {
                    let mut g = lock(&s);
                    let swaps = g.map.get(&key).map_or("", String::as_str) == expect;
                    if swaps {
                        g.map.insert(key, new);
                        g.wrote();
                    }
                    Ok::<bool, String>(swaps)
                }
            },
        )
}

impl Scenario for Kv {
    fn name(&self) -> &'static str {
        "kv"
    }

    fn about(&self) -> &'static str {
        "key-value service over binary RPC, 1 server, 3 clients, get/put/cas: linearizable, progress after heal"
    }

    fn variants(&self) -> &'static [Variant] {
        VARIANTS
    }

    fn hosts(&self) -> Hosts {
        Hosts::server_and_clients(CLIENTS)
    }

    fn min_clients(&self) -> usize {
        1
    }

    fn liveness(&self) -> Liveness {
        Liveness {
            ops_per_client: 3,
            within: Duration::from_secs(10),
        }
    }

    fn build(&self, sim: &mut turmoil::Sim<'static>, ctx: &Ctx) -> Box<dyn Invariants> {
        let store: Shared = Arc::default();
        let dedup = DedupStore::new(10_000);
        let stale = ctx.variant == "stale-reads";
        sim.host("server", move || {
            let (store, dedup) = (Arc::clone(&store), dedup.clone());
            async move {
                let config = ServerConfig::new(TOKEN.to_vec())
                    .idle_timeout(Duration::from_secs(3))
                    .dedup_store(dedup);
                let listener = Turmoil.bind(&Addr::new("0.0.0.0", PORT)).await?;
                serve(
                    listener,
                    router(store, stale),
                    config,
                    CancellationToken::new(),
                )
                .await?;
                Ok(())
            }
        });
        let rec = TypedRecorder::new(&ctx.recorder);
        let all = self.hosts().clients;
        for name in ctx.hosts.clients.iter().cloned() {
            let i = all.iter().position(|c| *c == name).unwrap_or(0);
            let mut rng = ctx.rng(&name);
            let config = ClientConfig::new(TOKEN.to_vec())
                .seed(rng.random())
                .attempt_timeout(Duration::from_millis(500))
                .connect_timeout(Duration::from_millis(500))
                .retry(Policy::new(
                    Backoff::new(Duration::from_millis(50), Duration::from_secs(1)),
                    6,
                ));
            let w = Workload {
                name: name.clone(),
                rng,
                heal_at: ctx.heal_at,
                need: ctx.liveness.ops_per_client,
                rec: rec.clone(),
                client: Client::new(Turmoil, Addr::new("server", PORT), config),
                stagger: Duration::from_millis(7 * i as u64),
            };
            sim.client(name, w.run());
        }
        Box::new(KvInvariants { rec })
    }
}

/// One client: one call at a time, until the faults have healed and `need`
/// calls have succeeded since.
struct Workload {
    name: String,
    rng: rand::rngs::SmallRng,
    heal_at: Duration,
    need: usize,
    rec: TypedRecorder<KvOp, KvRet>,
    client: Client<Turmoil>,
    stagger: Duration,
}

impl Workload {
    async fn run(mut self) -> turmoil::Result {
        sleep(self.stagger).await;
        let mut ok_after_heal = 0;
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        let mut n = 0u64;
        loop {
            let healed = Duration::from_micros(self.rec.now_us()) >= self.heal_at;
            if healed && ok_after_heal >= self.need {
                break;
            }
            sleep(Duration::from_millis(self.rng.random_range(0..200))).await;
            n += 1;
            let op = self.next_op(n, &seen);
            let ok = self.call(&op, &mut seen).await;
            if ok && Duration::from_micros(self.rec.now_us()) >= self.heal_at {
                ok_after_heal += 1;
            }
        }
        self.client.close().await;
        Ok(())
    }

    /// A random get, put or cas on a random key; written values are unique.
    fn next_op(&mut self, n: u64, seen: &BTreeMap<String, String>) -> KvOp {
        let key = KEYS[self.rng.random_range(0..KEYS.len())].to_string();
        let value = format!("{}:{n}", self.name);
        match self.rng.random_range(0..10) {
            0..4 => KvOp::Get { key },
            4..7 => KvOp::Put { key, value },
            _ => {
                let expect = seen.get(&key).cloned().unwrap_or_default();
                KvOp::Cas {
                    key,
                    expect,
                    new: value,
                }
            }
        }
    }

    /// Makes the call, records it, and returns whether it succeeded.
    async fn call(&self, op: &KvOp, seen: &mut BTreeMap<String, String>) -> bool {
        let id = self.rec.invoke(&self.name, op.clone());
        let result = match op.clone() {
            KvOp::Get { key } => self
                .client
                .call::<_, String>("get", &key)
                .await
                .map(KvRet::Value),
            KvOp::Put { key, value } => self
                .client
                .call::<_, ()>("put", &(key, value))
                .await
                .map(|()| KvRet::Done),
            KvOp::Cas { key, expect, new } => self
                .client
                .call::<_, bool>("cas", &(key, expect, new))
                .await
                .map(KvRet::Cas),
            // The workload makes none; the service has no such call.
            KvOp::Append { .. } | KvOp::Delete { .. } => {
                self.rec.err(&self.name, id, "unsupported");
                return false;
            }
        };
        match result {
            Ok(ret) => {
                if let KvRet::Value(v) = &ret {
                    seen.insert(op.key().to_string(), v.clone());
                }
                self.rec.ok(&self.name, id, ret);
                true
            }
            Err(e) => {
                self.rec.err(&self.name, id, e.to_string());
                false
            }
        }
    }
}

/// In the trace: the call's name, and the operation as the model's JSON.
impl ShowOp for KvOp {
    fn name(&self) -> &'static str {
        match self {
            KvOp::Get { .. } => "get",
            KvOp::Put { .. } => "put",
            KvOp::Append { .. } => "append",
            KvOp::Delete { .. } => "delete",
            KvOp::Cas { .. } => "cas",
        }
    }

    fn input(&self) -> String {
        // A map of strings always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// In the trace: the result as the model's JSON.
impl ShowRet for KvRet {
    fn output(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Linearizability of the whole history, at the end of the run.
struct KvInvariants {
    rec: TypedRecorder<KvOp, KvRet>,
}

impl Invariants for KvInvariants {
    fn check_during(&mut self, _new: &[OpRecord]) -> Option<Violation> {
        None
    }

    /// The clients' typed history (not `_history`, its rendering).
    fn check_end(&mut self, _history: &[OpRecord]) -> Option<Violation> {
        crate::linearizable::check(&KvModel, &self.rec.history())
    }
}

/// The invariant against hand-made histories: a stale read is caught and
/// names the read; a failed (unknown) put may be seen or not.
#[cfg(all(test, not(feature = "shuttle")))]
mod tests {
    use super::*;
    use crate::record::{Log, Recorder};

    fn recorder() -> TypedRecorder<KvOp, KvRet> {
        TypedRecorder::new(&Recorder::new(Arc::new(Log::default())))
    }

    fn put() -> KvOp {
        KvOp::Put {
            key: "x".into(),
            value: "1".into(),
        }
    }

    fn get() -> KvOp {
        KvOp::Get { key: "x".into() }
    }

    #[test]
    fn a_stale_read_is_caught_and_named() {
        let rec = recorder();
        let p = rec.invoke("client-1", put());
        rec.ok("client-1", p, KvRet::Done);
        let g = rec.invoke("client-2", get());
        rec.ok("client-2", g, KvRet::Value(String::new()));
        let v = KvInvariants { rec }.check_end(&[]).expect("a violation");
        assert_eq!(v.invariant, crate::linearizable::INVARIANT);
        assert_eq!(v.op, Some(1), "{v:?}");
        assert!(
            v.detail.contains("get(\"x\") -> \"\" cannot be placed"),
            "{v:?}"
        );
    }

    #[test]
    fn a_failed_put_may_or_may_not_have_happened() {
        for seen in ["", "1"] {
            let rec = recorder();
            let p = rec.invoke("client-1", put());
            rec.err("client-1", p, "timeout");
            let g = rec.invoke("client-2", get());
            rec.ok("client-2", g, KvRet::Value(seen.into()));
            assert_eq!(KvInvariants { rec }.check_end(&[]), None, "{seen:?}");
        }
    }
}
