//! `rpc`: heddle's binary RPC ([`heddle::distributed::rpc`]) with one
//! server and three clients making keyed (non-idempotent) `append` calls,
//! three at a time on one multiplexed connection each.
//!
//! The server's effects and its de-duplication window live in state that
//! survives a crash (they stand for its disk), so a crash/restart fault
//! tests at-most-once across restarts too. Each `append` takes simulated
//! time drawn from the seed and the call (a quarter of them longer than the
//! client's attempt timeout), so retries arrive while their original is
//! still running and join it: the server's join path is exercised.
//!
//! - **Safety** (`at-most-once`): no `append` executes twice on the
//!   server; (`ok-was-executed`) a call reported successful executed exactly
//!   once; (`own-result`) a call that succeeded got its own result, not
//!   another call's; (`typed-errors`) a failed call fails with a timeout, an
//!   unavailable server or an interrupted execution, nothing else;
//!   (`single-completion`) each call completes once; (`call-ends`) no call
//!   is still waiting when the run ends; (`attempt-answered`) every call
//!   attempt the server accepted is answered, or its connection closed,
//!   within [`GRACE`]; (`in-flight-empty`) no server connection holds calls
//!   in flight for longer than [`GRACE`] (so every one is empty when the
//!   run ends).
//! - **Liveness**: after every fault has healed, each client completes 3
//!   calls within 10 s of simulated time.
//! - **Shrinking** may leave clients out, down to one
//!   ([`Scenario::min_clients`]): each client's workload is its own.
//!
//! Variants (the broken ones need heddle's `defects` feature, which this
//! crate enables):
//! - `default`: heddle's client and server.
//! - `no-dedup`: the server ignores idempotency keys, as the guide's does: a
//!   retried call whose first reply was lost or late runs again
//!   (`at-most-once`).
//! - `no-timeout`: the client waits for each reply forever, as the guide's
//!   does: a lost reply hangs the call (`call-ends`, liveness).
//! - `shared-seed`: every client is built with one seed (as every default
//!   client was before issue #9, seeded with 0) and the server trusts the
//!   bare key (no client scope, no fingerprint): a client's call is answered
//!   with another client's stored result (`own-result`).
//! - `join-wrong-id`: a duplicate that joined a running call is answered
//!   under the original's id, so its own attempt never is
//!   (`attempt-answered`).
//! - `join-leak`: a joined duplicate is answered but stays in its
//!   connection's in-flight set (`in-flight-empty`).

use crate::record::{OpRecord, Recorder, ShowOp, TypedEvent, TypedRecorder};
use crate::scenario::{Ctx, Hosts, Invariants, Liveness, Scenario, Variant, Violation};
use heddle::distributed::rpc::dedup::DedupStore;
use heddle::distributed::rpc::defects::{ClientDefect, ServerDefect};
use heddle::distributed::rpc::server::Observer;
use heddle::distributed::rpc::{Client, ClientConfig, Router, RpcError, ServerConfig, serve};
use heddle::net::{Addr, Network, Turmoil};
use heddle::resilience::retry::{Backoff, Policy};
use heddle::wire::binary::{RemoteError, TraceContext};
use rand::{Rng, SeedableRng};
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
/// How long an accepted attempt may stay unanswered on an open connection,
/// and a connection may hold calls in flight without a break: well above
/// the longest handler (0.9 s), which bounds both in a correct server (a
/// joined attempt is answered when the execution it joined ends; a client
/// starts its next batch only when the last one's calls have ended).
pub const GRACE: Duration = Duration::from_millis(2500);
/// The seed every client shares in `shared-seed`.
const SHARED_SEED: u64 = 0;

static VARIANTS: &[Variant] = &[
    Variant {
        name: "default",
        about: "timeouts, reconnects, retries with backoff, idempotency keys scoped by client with server de-duplication",
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
    Variant {
        name: "shared-seed",
        about: "clients share one seed, server trusts the bare key: a call gets another's result (own-result)",
        expect_violation: true,
    },
    Variant {
        name: "join-wrong-id",
        about: "a joined duplicate is answered under the original's id: its attempt never is (attempt-answered)",
        expect_violation: true,
    },
    Variant {
        name: "join-leak",
        about: "a joined duplicate stays in its connection's in-flight set (in-flight-empty)",
        expect_violation: true,
    },
];

/// `(client, seq)` → executions, on the server's "disk".
type Executions = Arc<Mutex<BTreeMap<(String, u64), u32>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long `append(client, seq)` takes in run `seed`: a pure function of
/// both, so it is the same after a restart and in any process. A quarter
/// of the calls take 400–900 ms (longer than the 500 ms attempt timeout).
fn handler_delay(seed: u64, client: &str, seq: u64) -> Duration {
    let mix = client.bytes().fold(seed ^ seq.rotate_left(32), |h, b| {
        h.rotate_left(5) ^ u64::from(b)
    });
    let mut rng = rand::rngs::SmallRng::seed_from_u64(mix);
    if rng.random_ratio(1, 4) {
        Duration::from_millis(rng.random_range(400..900))
    } else {
        Duration::from_millis(rng.random_range(0..20))
    }
}

fn server_defect(variant: &str) -> Option<ServerDefect> {
    match variant {
        "no-dedup" => Some(ServerDefect::NoDedup),
        "shared-seed" => Some(ServerDefect::TrustBareKey),
        "join-wrong-id" => Some(ServerDefect::JoinWrongId),
        "join-leak" => Some(ServerDefect::JoinLeak),
        _ => None,
    }
}

impl Scenario for Rpc {
    fn name(&self) -> &'static str {
        "rpc"
    }

    fn about(&self) -> &'static str {
        "binary RPC, 1 server, 3 clients, keyed calls of varying length: at most once, own results, every call and attempt answered, progress after heal"
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
        let audit = Arc::new(Audit::new(ctx.recorder.clone()));
        let rec = Rec::new(&ctx.recorder).watch();
        server(sim, ctx, &executions, &audit);
        let all = self.hosts().clients;
        for name in ctx.hosts.clients.iter().cloned() {
            // Staggered by the client's place among all of them, so that
            // leaving one out (shrinking) does not move the others.
            let i = all.iter().position(|c| *c == name).unwrap_or(0);
            let mut rng = ctx.rng(&name);
            let seed = match ctx.variant {
                "shared-seed" => SHARED_SEED,
                _ => rng.random(),
            };
            let mut config = ClientConfig::new(TOKEN.to_vec())
                .seed(seed)
                .attempt_timeout(Duration::from_millis(500))
                .connect_timeout(Duration::from_millis(500))
                .retry(Policy::new(
                    Backoff::new(Duration::from_millis(50), Duration::from_secs(1)),
                    6,
                ));
            if ctx.variant == "no-timeout" {
                config = config.planted_defect(ClientDefect::NoTimeout);
            }
            let client = Workload {
                name: name.clone(),
                rng,
                heal_at: ctx.heal_at,
                need: ctx.liveness.ops_per_client,
                rec: rec.clone(),
                client: Client::new(Turmoil, Addr::new("server", PORT), config),
                stagger: Duration::from_millis(7 * i as u64),
            };
            sim.client(name, client.run());
        }
        Box::new(RpcInvariants {
            rec,
            executions,
            audit,
            open: BTreeMap::new(),
            calls: BTreeMap::new(),
        })
    }
}

/// The server host: `append` records its execution on the "disk", waits
/// its drawn time, and returns `client:seq` (what `own-result` checks).
fn server(sim: &mut turmoil::Sim<'static>, ctx: &Ctx, executions: &Executions, audit: &Arc<Audit>) {
    let store = DedupStore::new(10_000);
    let defect = server_defect(ctx.variant);
    let (executions, audit, seed) = (Arc::clone(executions), Arc::clone(audit), ctx.seed);
    sim.host("server", move || {
        let executions = Arc::clone(&executions);
        let store = store.clone();
        // A (re)start: the connections of the previous life are closed.
        audit.restart();
        let observer: Arc<dyn Observer> = Arc::clone(&audit) as _;
        async move {
            let router = Router::new().route("append", move |(client, seq): (String, u64)| {
                let executions = Arc::clone(&executions);
                async move {
                    *lock(&executions).entry((client.clone(), seq)).or_insert(0) += 1;
                    sleep(handler_delay(seed, &client, seq)).await;
                    Ok::<String, String>(format!("{client}:{seq}"))
                }
            });
            let mut config = ServerConfig::new(TOKEN.to_vec())
                .idle_timeout(Duration::from_secs(3))
                .dedup_store(store)
                .observer(observer);
            if let Some(defect) = defect {
                config = config.planted_defect(defect);
            }
            let listener = Turmoil.bind(&Addr::new("0.0.0.0", PORT)).await?;
            serve(listener, router, config, CancellationToken::new()).await?;
            Ok(())
        }
    });
}

/// One client's workload: batches of keyed calls until the faults have
/// healed and `need` calls have succeeded since; then it closes and waits
/// [`GRACE`] and a bit, so that the server's connections are judged after
/// they had time to finish.
struct Workload {
    name: String,
    rng: rand::rngs::SmallRng,
    heal_at: Duration,
    need: usize,
    rec: Rec,
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
                    let op = rec.invoke(
                        &name,
                        Append {
                            client: name.clone(),
                            seq,
                        },
                    );
                    let id = op.id;
                    // The call's trace is its operation: the server's
                    // `rpc-call` notes name the op they belong to.
                    let trace = TraceContext {
                        trace_id: u128::from(id),
                        span_id: id,
                    };
                    let result = client
                        .call_traced::<_, String>(trace, "append", &(name.clone(), seq))
                        .await;
                    let ok = result.is_ok();
                    match result {
                        Ok(out) => rec.ok(&name, op, out),
                        Err(e) => rec.err(&name, op, render(&e)),
                    }
                    ok && Duration::from_micros(rec.now_us()) >= heal_at
                }
            };
            let (a, b, c) = tokio::join!(call(seq), call(seq + 1), call(seq + 2));
            seq += IN_FLIGHT;
            ok_after_heal += usize::from(a) + usize::from(b) + usize::from(c);
        }
        self.client.close().await;
        sleep(GRACE + Duration::from_millis(500)).await;
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

/// What the server's [`Observer`] saw on one connection.
#[derive(Debug, Default)]
struct ConnAudit {
    /// Accepted attempts not answered yet: call id → when accepted (µs).
    unanswered: BTreeMap<u64, u64>,
    /// Since when the connection has held calls in flight without a break.
    busy_since: Option<u64>,
}

/// The server's connections, as its [`Observer`] reports them. Closed
/// connections are forgotten; a restart forgets all of them (a crash
/// closes every connection).
#[derive(Debug)]
struct Audit {
    rec: Recorder,
    conns: Mutex<BTreeMap<u64, ConnAudit>>,
}

impl Audit {
    fn new(rec: Recorder) -> Self {
        Self {
            rec,
            conns: Mutex::default(),
        }
    }

    fn restart(&self) {
        lock(&self.conns).clear();
    }

    /// The first connection breaking `attempt-answered` or
    /// `in-flight-empty` at time `now` (µs).
    fn check(&self, now: u64) -> Option<Violation> {
        let grace = u64::try_from(GRACE.as_micros()).unwrap_or(u64::MAX);
        let late = |t: u64| now.saturating_sub(t) >= grace;
        let conns = lock(&self.conns);
        for (conn, a) in conns.iter() {
            if let Some((id, t)) = a.unanswered.iter().find(|&(_, &t)| late(t)) {
                return Some(Violation::new(
                    "attempt-answered",
                    format!(
                        "server connection {conn}: call id {id}, accepted at {t} µs, never answered, connection open"
                    ),
                    None,
                ));
            }
        }
        for (conn, a) in conns.iter() {
            if let Some(t) = a.busy_since.filter(|&t| late(t)) {
                return Some(Violation::new(
                    "in-flight-empty",
                    format!("server connection {conn} has held calls in flight since {t} µs"),
                    None,
                ));
            }
        }
        None
    }
}

impl Observer for Audit {
    fn accepted(&self, conn: u64, id: u64, trace: Option<TraceContext>) {
        let now = self.rec.now_us();
        if let Some(t) = trace {
            // The caller's trace context, as the server received it: the
            // workload makes the trace id its operation's id.
            self.rec.note(
                "server",
                "rpc-call",
                format!(
                    "conn {conn} call {id} trace {:032x} parent {:016x}",
                    t.trace_id, t.span_id
                ),
            );
        }
        lock(&self.conns)
            .entry(conn)
            .or_default()
            .unanswered
            .insert(id, now);
    }

    fn answered(&self, conn: u64, id: u64) {
        if let Some(a) = lock(&self.conns).get_mut(&conn) {
            a.unanswered.remove(&id);
        }
    }

    fn in_flight(&self, conn: u64, calls: usize) {
        let now = self.rec.now_us();
        let mut conns = lock(&self.conns);
        let a = conns.entry(conn).or_default();
        a.busy_since = match (calls, a.busy_since) {
            (0, _) => None,
            (_, Some(t)) => Some(t),
            (_, None) => Some(now),
        };
    }

    fn closed(&self, conn: u64) {
        lock(&self.conns).remove(&conn);
    }
}

/// An `append` call: `client`'s call number `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Append {
    client: String,
    seq: u64,
}

/// In the trace: `append`, `client:seq` (the result the call expects).
impl ShowOp for Append {
    fn name(&self) -> &'static str {
        "append"
    }

    fn input(&self) -> String {
        format!("{}:{}", self.client, self.seq)
    }
}

/// The recorder of the calls: each returns the server's string.
type Rec = TypedRecorder<Append, String>;

/// The safety checks.
struct RpcInvariants {
    /// The clients' calls, watched.
    rec: Rec,
    executions: Executions,
    audit: Arc<Audit>,
    /// Calls invoked and not completed: op id → (client, seq).
    open: BTreeMap<u64, (String, u64)>,
    /// (client, seq) → op id, to point at the operation in the views.
    calls: BTreeMap<(String, u64), u64>,
}

impl Invariants for RpcInvariants {
    /// Judges the calls of this step, as recorded typed (`_new` is their
    /// rendering).
    fn check_during(&mut self, _new: &[OpRecord]) -> Option<Violation> {
        for r in self.rec.take_new() {
            let (key, event) = match r.event {
                TypedEvent::Invoke(Append { client, seq }) => {
                    let key = (client, seq);
                    self.calls.insert(key.clone(), r.id);
                    self.open.insert(r.id, key);
                    continue;
                }
                event => match self.open.remove(&r.id) {
                    Some(key) => (key, event),
                    None => {
                        return Some(Violation::new(
                            "single-completion",
                            format!("call {} of {} completed twice", r.id, r.client),
                            Some(r.id),
                        ));
                    }
                },
            };
            if let Some(v) = self.completed(&key, &event, r.id) {
                return Some(v);
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
        if let Some(v) = self.audit.check(self.audit.rec.now_us()) {
            return Some(v);
        }
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

impl RpcInvariants {
    /// The completion `event` of call `key` (op `id`): its own result, an
    /// execution behind a success, a typed error.
    fn completed(
        &self,
        key: &(String, u64),
        event: &TypedEvent<Append, String>,
        id: u64,
    ) -> Option<Violation> {
        let times = lock(&self.executions).get(key).copied().unwrap_or(0);
        match event {
            TypedEvent::Ok(output) if *output != format!("{}:{}", key.0, key.1) => {
                Some(Violation::new(
                    "own-result",
                    format!("{}:{} was answered {output}", key.0, key.1),
                    Some(id),
                ))
            }
            TypedEvent::Ok(_) if times != 1 => Some(Violation::new(
                "ok-was-executed",
                format!("{}:{} succeeded but executed {times} times", key.0, key.1),
                Some(id),
            )),
            TypedEvent::Err(error)
                if !["timeout:", "unavailable:", "interrupted:"]
                    .iter()
                    .any(|p| error.starts_with(p)) =>
            {
                Some(Violation::new(
                    "typed-errors",
                    format!("{}:{} failed with {error}", key.0, key.1),
                    Some(id),
                ))
            }
            _ => None,
        }
    }
}

/// Each invariant against a history that breaks it (the scenario's
/// variants break `at-most-once` and `call-ends`; these break the rest).
#[cfg(all(test, not(feature = "shuttle")))]
mod tests {
    use super::*;

    /// A step of a hand-made history of client-1's calls.
    enum Step {
        /// Invokes call `seq`.
        Invoke(u64),
        /// Call `seq` returns its own result.
        Ok(u64),
        /// Call `seq` returns this.
        OkWith(u64, &'static str),
        /// Call `seq` fails with this.
        Err(u64, &'static str),
    }

    fn audit() -> (Arc<crate::record::Log>, Arc<Audit>) {
        let log = Arc::new(crate::record::Log::default());
        let audit = Arc::new(Audit::new(Recorder::new(Arc::clone(&log))));
        (log, audit)
    }

    /// Invariants whose server executed `client-1:seq` `times` times each,
    /// and the recorder their history goes to.
    fn invariants(executed: &[(u64, u32)]) -> (Rec, RpcInvariants) {
        let executions: Executions = Arc::default();
        for &(seq, times) in executed {
            lock(&executions).insert(("client-1".into(), seq), times);
        }
        let (log, audit) = audit();
        let rec = Rec::new(&Recorder::new(log)).watch();
        let inv = RpcInvariants {
            rec: rec.clone(),
            executions,
            audit,
            open: BTreeMap::new(),
            calls: BTreeMap::new(),
        };
        (rec, inv)
    }

    /// The first invariant `history` breaks, with the server's executions
    /// `executed`.
    fn broken(executed: &[(u64, u32)], history: &[Step]) -> Option<String> {
        let (rec, mut inv) = invariants(executed);
        let mut calls = BTreeMap::new();
        for step in history {
            match *step {
                Step::Invoke(seq) => {
                    let append = Append {
                        client: "client-1".into(),
                        seq,
                    };
                    calls.insert(seq, rec.invoke("client-1", append));
                }
                Step::Ok(seq) => rec.ok("client-1", calls[&seq], format!("client-1:{seq}")),
                Step::OkWith(seq, out) => rec.ok("client-1", calls[&seq], out.to_owned()),
                Step::Err(seq, error) => rec.err("client-1", calls[&seq], error),
            }
        }
        inv.check_during(&[])
            .or_else(|| inv.check_end(&[]))
            .map(|v| v.invariant)
    }

    #[test]
    fn a_correct_history_passes() {
        assert_eq!(broken(&[(0, 1)], &[Step::Invoke(0), Step::Ok(0)]), None);
    }

    #[test]
    fn each_invariant_catches_its_violation() {
        // (invariant, the server's executions, the history)
        type Case = (&'static str, &'static [(u64, u32)], Vec<Step>);
        let cases: [Case; 6] = [
            (
                "own-result",
                &[(0, 1)],
                vec![Step::Invoke(0), Step::OkWith(0, "client-2:0")],
            ),
            (
                "single-completion",
                &[(0, 1)],
                vec![Step::Invoke(0), Step::Ok(0), Step::Ok(0)],
            ),
            ("ok-was-executed", &[], vec![Step::Invoke(0), Step::Ok(0)]),
            (
                "typed-errors",
                &[],
                vec![Step::Invoke(0), Step::Err(0, "untyped: protocol")],
            ),
            ("at-most-once", &[(0, 2)], vec![Step::Invoke(0)]),
            ("call-ends", &[], vec![Step::Invoke(0)]),
        ];
        for (name, executed, history) in cases {
            assert_eq!(broken(executed, &history).as_deref(), Some(name));
        }
    }

    /// The server-side invariants, from what an observer reports.
    #[test]
    fn the_audit_catches_unanswered_attempts_and_leaked_in_flight_calls() {
        let grace = u64::try_from(GRACE.as_micros()).expect("fits");
        let judge = |script: &dyn Fn(&Audit)| {
            let (log, audit) = audit();
            script(&audit);
            log.set_clock(grace + 1);
            audit.check(log.now()).map(|v| v.invariant)
        };
        // Answered, or closed with the attempt open: fine.
        assert_eq!(
            judge(&|a| {
                a.accepted(0, 1, None);
                a.in_flight(0, 1);
                a.answered(0, 1);
                a.in_flight(0, 0);
                a.accepted(1, 1, None);
                a.closed(1);
            }),
            None
        );
        let unanswered = judge(&|a| a.accepted(0, 1, None));
        assert_eq!(unanswered.as_deref(), Some("attempt-answered"));
        let leaked = judge(&|a| {
            a.accepted(0, 1, None);
            a.answered(0, 1);
            a.in_flight(0, 1);
        });
        assert_eq!(leaked.as_deref(), Some("in-flight-empty"));
        // A restart closes every connection of the previous life.
        assert_eq!(
            judge(&|a| {
                a.accepted(0, 1, None);
                a.restart();
            }),
            None
        );
    }
}
