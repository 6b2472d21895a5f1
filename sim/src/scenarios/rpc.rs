//! `rpc`: heddle's binary RPC ([`heddle::distributed::rpc`]) with one
//! server and three clients making keyed (non-idempotent) `append` calls,
//! three at a time on one multiplexed connection each.
//!
//! The server's effects and its de-duplication window live in state that
//! survives a crash (they stand for its disk), so a crash/restart fault
//! tests at-most-once across restarts too.
//!
//! - **Safety** (`at-most-once`): no `append` executes twice on the
//!   server; (`ok-was-executed`) a call reported successful executed exactly
//!   once; (`typed-errors`) a failed call fails with a timeout, an
//!   unavailable server or an interrupted execution, nothing else;
//!   (`single-completion`) each call completes once; (`call-ends`) no call
//!   is still waiting when the run ends.
//! - **Liveness**: after every fault has healed, each client completes 3
//!   calls within 10 s of simulated time.
//! - **Shrinking** may leave clients out, down to one
//!   ([`Scenario::min_clients`]): each client's workload is its own.
//!
//! Variants:
//! - `default`: heddle's client and server.
//! - `no-dedup`: the server ignores idempotency keys, as the guide's does: a
//!   retried call whose first reply was lost or late runs again
//!   (`at-most-once`).
//! - `no-timeout`: the client waits for each reply forever, as the guide's
//!   does: a lost reply hangs the call (`call-ends`, liveness).

use crate::record::{OpEvent, OpRecord, Recorder};
use crate::scenario::{Ctx, Hosts, Invariants, Liveness, Scenario, Variant, Violation};
use heddle::distributed::rpc::dedup::DedupStore;
use heddle::distributed::rpc::{Client, ClientConfig, Router, RpcError, ServerConfig, serve};
use heddle::net::{Addr, Network, Turmoil};
use heddle::resilience::retry::{Backoff, Policy};
use heddle::wire::binary::RemoteError;
use rand::Rng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::sleep;
use tokio_util::sync::CancellationToken;

/// The RPC scenario.
#[derive(Debug, Clone, Copy)]
pub struct Rpc;

const PORT: u16 = 9000;
const CLIENTS: usize = 3;
const TOKEN: &[u8] = b"heddle-sim";
/// Calls each client keeps in flight at once.
const IN_FLIGHT: u64 = 3;

static VARIANTS: &[Variant] = &[
    Variant {
        name: "default",
        about: "timeouts, reconnects, retries with backoff, idempotency keys with server de-duplication",
        expect_violation: false,
    },
    Variant {
        name: "no-dedup",
        about: "server ignores idempotency keys: a retried call runs twice (at-most-once)",
        expect_violation: true,
    },
    Variant {
        name: "no-timeout",
        about: "client waits for a reply forever: a lost reply hangs the call (call-ends, liveness)",
        expect_violation: true,
    },
];

/// `(client, seq)` → executions, on the server's "disk".
type Executions = Arc<Mutex<BTreeMap<(String, u64), u32>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Scenario for Rpc {
    fn name(&self) -> &'static str {
        "rpc"
    }

    fn about(&self) -> &'static str {
        "binary RPC, 1 server, 3 clients, keyed calls: at most once, every call ends typed, progress after heal"
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
        let executions: Executions = Arc::default();
        let store = DedupStore::new(10_000);
        let no_dedup = ctx.variant == "no-dedup";
        {
            let executions = Arc::clone(&executions);
            sim.host("server", move || {
                let executions = Arc::clone(&executions);
                let store = store.clone();
                async move {
                    let router =
                        Router::new().route("append", move |(client, seq): (String, u64)| {
                            let executions = Arc::clone(&executions);
                            async move {
                                let mut map = lock(&executions);
                                *map.entry((client, seq)).or_insert(0) += 1;
                                Ok::<u64, String>(map.len() as u64)
                            }
                        });
                    let mut config = ServerConfig::new(TOKEN.to_vec())
                        .idle_timeout(Duration::from_secs(3))
                        .dedup_store(store);
                    if no_dedup {
                        config = config.guide_defect_no_dedup();
                    }
                    let listener = Turmoil.bind(&Addr::new("0.0.0.0", PORT)).await?;
                    serve(listener, router, config, CancellationToken::new()).await?;
                    Ok(())
                }
            });
        }
        let all = self.hosts().clients;
        for name in ctx.hosts.clients.iter().cloned() {
            // Staggered by the client's place among all of them, so that
            // leaving one out (shrinking) does not move the others.
            let i = all.iter().position(|c| *c == name).unwrap_or(0);
            let mut rng = ctx.rng(&name);
            let mut config = ClientConfig::new(TOKEN.to_vec())
                .seed(rng.random())
                .attempt_timeout(Duration::from_millis(500))
                .connect_timeout(Duration::from_millis(500))
                .retry(Policy::new(
                    Backoff::new(Duration::from_millis(50), Duration::from_secs(1)),
                    6,
                ));
            if ctx.variant == "no-timeout" {
                config = config.guide_defect_no_timeout();
            }
            let client = Workload {
                name: name.clone(),
                rng,
                heal_at: ctx.heal_at,
                need: ctx.liveness.ops_per_client,
                rec: ctx.recorder.clone(),
                client: Client::new(Turmoil, Addr::new("server", PORT), config),
                stagger: Duration::from_millis(7 * i as u64),
            };
            sim.client(name, client.run());
        }
        Box::new(RpcInvariants {
            executions,
            open: BTreeMap::new(),
            calls: BTreeMap::new(),
        })
    }
}

/// One client's workload: batches of keyed calls until the faults have
/// healed and `need` calls have succeeded since.
struct Workload {
    name: String,
    rng: rand::rngs::SmallRng,
    heal_at: Duration,
    need: usize,
    rec: Recorder,
    client: Client<Turmoil>,
    stagger: Duration,
}

impl Workload {
    async fn run(mut self) -> turmoil::Result {
        sleep(self.stagger).await;
        let mut ok_after_heal = 0;
        let mut seq = 0;
        let heal_at = self.heal_at;
        loop {
            let healed = Duration::from_micros(self.rec.now_us()) >= self.heal_at;
            if healed && ok_after_heal >= self.need {
                break;
            }
            sleep(Duration::from_millis(self.rng.random_range(0..300))).await;
            let call = |seq: u64| {
                let (client, rec, name) =
                    (self.client.clone(), self.rec.clone(), self.name.clone());
                async move {
                    let id = rec.invoke(&name, "append", format!("{name}:{seq}"));
                    let result = client.call::<_, u64>("append", &(name.clone(), seq)).await;
                    let ok = result.is_ok();
                    match result {
                        Ok(n) => rec.ok(&name, id, n.to_string()),
                        Err(e) => rec.err(&name, id, render(&e)),
                    }
                    ok && Duration::from_micros(rec.now_us()) >= heal_at
                }
            };
            let (a, b, c) = tokio::join!(call(seq), call(seq + 1), call(seq + 2));
            seq += IN_FLIGHT;
            ok_after_heal += usize::from(a) + usize::from(b) + usize::from(c);
        }
        self.client.close().await;
        Ok(())
    }
}

/// An error as recorded: its kind first, which `typed-errors` checks.
fn render(e: &RpcError) -> String {
    match e {
        RpcError::Timeout { .. } => format!("timeout: {e}"),
        RpcError::Unavailable { .. } => format!("unavailable: {e}"),
        RpcError::Remote(RemoteError::Interrupted) => format!("interrupted: {e}"),
        other => format!("untyped: {other}"),
    }
}

/// The safety checks.
struct RpcInvariants {
    executions: Executions,
    /// Calls invoked and not completed: op id → (client, seq).
    open: BTreeMap<u64, (String, u64)>,
    /// (client, seq) → op id, to point at the operation in the views.
    calls: BTreeMap<(String, u64), u64>,
}

impl Invariants for RpcInvariants {
    fn check_during(&mut self, new: &[OpRecord]) -> Option<Violation> {
        for r in new {
            match &r.event {
                OpEvent::Invoke { input, .. } => {
                    let key = parse(input);
                    self.calls.insert(key.clone(), r.id);
                    self.open.insert(r.id, key);
                }
                OpEvent::Ok { .. } | OpEvent::Err { .. } => {
                    let Some(key) = self.open.remove(&r.id) else {
                        return Some(Violation::new(
                            "single-completion",
                            format!("call {} of {} completed twice", r.id, r.client),
                            Some(r.id),
                        ));
                    };
                    let times = lock(&self.executions).get(&key).copied().unwrap_or(0);
                    match &r.event {
                        OpEvent::Ok { .. } if times != 1 => {
                            return Some(Violation::new(
                                "ok-was-executed",
                                format!("{}:{} succeeded but executed {times} times", key.0, key.1),
                                Some(r.id),
                            ));
                        }
                        OpEvent::Err { error }
                            if !["timeout:", "unavailable:", "interrupted:"]
                                .iter()
                                .any(|p| error.starts_with(p)) =>
                        {
                            return Some(Violation::new(
                                "typed-errors",
                                format!("{}:{} failed with {error}", key.0, key.1),
                                Some(r.id),
                            ));
                        }
                        _ => {}
                    }
                }
            }
        }
        let executions = lock(&self.executions);
        for (key, &times) in executions.iter() {
            // The first violation ends the run, so each is reported once.
            if times > 1 {
                return Some(Violation::new(
                    "at-most-once",
                    format!("{}:{} executed {times} times", key.0, key.1),
                    self.calls.get(key).copied(),
                ));
            }
        }
        None
    }

    fn check_end(&mut self, _history: &[OpRecord]) -> Option<Violation> {
        let (id, (client, seq)) = self.open.iter().next()?;
        Some(Violation::new(
            "call-ends",
            format!(
                "{client}:{seq} never completed ({} call(s) still waiting)",
                self.open.len()
            ),
            Some(*id),
        ))
    }
}

/// `client-1:17` → ("client-1", 17).
fn parse(input: &str) -> (String, u64) {
    match input.rsplit_once(':') {
        Some((client, seq)) => (client.to_owned(), seq.parse().unwrap_or(u64::MAX)),
        None => (input.to_owned(), u64::MAX),
    }
}

/// Each invariant against a history that breaks it (the scenario's
/// variants break `at-most-once` and `call-ends`; these break the rest).
#[cfg(test)]
mod tests {
    use super::*;

    fn op(id: u64, event: OpEvent) -> OpRecord {
        OpRecord {
            t_us: id,
            id,
            client: "client-1".into(),
            event,
        }
    }

    fn invoke(id: u64, seq: u64) -> OpRecord {
        op(
            id,
            OpEvent::Invoke {
                name: "append".into(),
                input: format!("client-1:{seq}"),
            },
        )
    }

    fn ok(id: u64) -> OpRecord {
        op(id, OpEvent::Ok { output: "1".into() })
    }

    /// Invariants whose server executed `client-1:seq` `times` times each.
    fn invariants(executed: &[(u64, u32)]) -> RpcInvariants {
        let executions: Executions = Arc::default();
        for &(seq, times) in executed {
            lock(&executions).insert(("client-1".into(), seq), times);
        }
        RpcInvariants {
            executions,
            open: BTreeMap::new(),
            calls: BTreeMap::new(),
        }
    }

    fn broken(inv: &mut RpcInvariants, history: &[OpRecord]) -> Option<String> {
        inv.check_during(history)
            .or_else(|| inv.check_end(history))
            .map(|v| v.invariant)
    }

    #[test]
    fn a_correct_history_passes() {
        let mut inv = invariants(&[(0, 1)]);
        assert_eq!(broken(&mut inv, &[invoke(0, 0), ok(0)]), None);
    }

    #[test]
    fn each_invariant_catches_its_violation() {
        // (invariant, the server's executions, the history)
        type Case = (&'static str, &'static [(u64, u32)], Vec<OpRecord>);
        let cases: [Case; 5] = [
            (
                "single-completion",
                &[(0, 1)],
                vec![invoke(0, 0), ok(0), ok(0)],
            ),
            ("ok-was-executed", &[], vec![invoke(0, 0), ok(0)]),
            (
                "typed-errors",
                &[],
                vec![
                    invoke(0, 0),
                    op(
                        0,
                        OpEvent::Err {
                            error: "untyped: protocol".into(),
                        },
                    ),
                ],
            ),
            ("at-most-once", &[(0, 2)], vec![invoke(0, 0)]),
            ("call-ends", &[], vec![invoke(0, 0)]),
        ];
        for (name, executed, history) in cases {
            let mut inv = invariants(executed);
            assert_eq!(broken(&mut inv, &history).as_deref(), Some(name));
        }
    }
}
