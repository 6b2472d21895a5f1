//! `lock`: the lock service ([`heddle::distributed::lock`]) with fencing
//! tokens: one lock server, one resource server, four clients competing
//! for one lock and writing to the resource under it.
//!
//! Each client loops: acquire the lock, work in slices (some cycles outlast
//! the TTL, so the lease must be renewed), check its lease before each
//! write and stamp the write with the lease's token, release. The lock
//! server keeps its token mark in a durable counter on its simulated
//! disk (a crash loses what it had not synced); the resource's store lives
//! in state that survives a crash (it stands for the resource's own disk).
//!
//! - **Safety** (`fenced-writes`): the resource never accepts a write whose
//!   token is lower than one it accepted before; (`one-holder`) no two
//!   clients believe they hold a valid lease at the same simulated instant
//!   (a client's belief runs from its validity check to the lease's local
//!   deadline, cut at its release); (`linearizable`) the acquires and
//!   releases the clients saw are linearizable against a lease with fencing
//!   tokens ([`heddle::check::history::models::Lock`]): every grant's token
//!   is greater than every token granted before it.
//! - **Liveness**: after every fault has healed, each client completes 2
//!   operations (acquires, writes, releases) within 30 s.
//!
//! Variants:
//! - `default`: heddle's lock service, client and fenced resource.
//! - `ttl-only`: the guide's design: the resource does not check tokens, so
//!   a holder whose write is delayed past its lease overwrites the next
//!   holder's (`fenced-writes`).
//! - `volatile-counter`: the lock server keeps its token counter only in
//!   memory: after a crash it grants old tokens again, at once
//!   (`linearizable`, `one-holder`).
//! - `no-renewal`: the guide's client: no renewal, no validity check; work
//!   that outlasts the TTL goes on after the lock passed to someone else
//!   (`one-holder`).

use crate::record::{Invoked, OpRecord, ShowOp, ShowRet, TypedEvent, TypedRecord, TypedRecorder};
use crate::scenario::{Ctx, Hosts, Invariants, Liveness, Scenario, Variant, Violation};
use heddle::check::history::models::{Lock as LockModel, LockOp, LockRet};
use heddle::check::history::{Completion, Operation};
use heddle::distributed::lock::{
    FencedStore, LockClient, LockClientConfig, LockConfig, LockService, Released, Reply, Token,
    VolatileMark, lock_service, protocol,
};
use heddle::distributed::rpc::{Client, ClientConfig, Router, ServerConfig, serve};
use heddle::net::{Addr, Network, Turmoil};
use heddle::resilience::retry::{Backoff, Policy};
use heddle::storage::{DurableCounter, SimDisk};
use rand::Rng;
use rand::rngs::SmallRng;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::time::{Instant, sleep};
use tokio_util::sync::CancellationToken;

/// The lock scenario.
#[derive(Debug, Clone, Copy)]
pub struct Lock;

const PORT: u16 = 9100;
const CLIENTS: usize = 4;
const SECRET: &[u8] = b"heddle-sim";
const LOCK: &str = "job";
const TTL: Duration = Duration::from_millis(500);
const SLICE: Duration = Duration::from_millis(100);
const LOCKS_HOST: &str = "locks";
const RESOURCE_HOST: &str = "resource";

/// Operation names in the trace.
const ACQUIRE: &str = "acquire";
const WRITE: &str = "write";
const RELEASE: &str = "release";

/// What a client does: a lock operation (the model's), or a write to the
/// resource.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Call {
    Lock(LockOp),
    Write(Write),
}

/// A write under `token`, by a client that believes its lease valid until
/// `until_us` (`u64::MAX`: until it releases).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Write {
    token: Token,
    until_us: u64,
    value: String,
}

/// What a [`Call`] returned.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Lock(LockRet),
    /// The resource accepted the write.
    Accepted,
}

/// In the trace: lock operations as the model's JSON, writes as
/// `token until value`.
impl ShowOp for Call {
    fn name(&self) -> &'static str {
        match self {
            Self::Lock(LockOp::Acquire { .. }) => ACQUIRE,
            Self::Lock(LockOp::Release { .. }) => RELEASE,
            Self::Write(_) => WRITE,
        }
    }

    fn input(&self) -> String {
        match self {
            // An enum of integers always serializes.
            Self::Lock(op) => serde_json::to_string(op).unwrap_or_default(),
            Self::Write(w) => format!("{} {} {}", w.token, w.until_us, w.value),
        }
    }
}

impl ShowRet for Answer {
    fn output(&self) -> String {
        match self {
            Self::Lock(ret) => serde_json::to_string(ret).unwrap_or_default(),
            Self::Accepted => "accepted".into(),
        }
    }
}

/// The recorder of the lock scenario's calls.
type Rec = TypedRecorder<Call, Answer>;

static VARIANTS: &[Variant] = &[
    Variant {
        name: "default",
        about: "leases with fencing tokens from a durable counter, background renewal, a fenced resource",
        expect_violation: false,
    },
    Variant {
        name: "ttl-only",
        about: "the resource does not check tokens: a late write lands after the next holder's (fenced-writes)",
        expect_violation: true,
    },
    Variant {
        name: "volatile-counter",
        about: "the token counter is kept in memory: a restarted lock server repeats tokens (linearizable)",
        expect_violation: true,
    },
    Variant {
        name: "no-renewal",
        about: "the guide's client: no renewal or validity check, work outlasts the lease (one-holder)",
        expect_violation: true,
    },
];

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The tokens the resource accepted, in order (its "disk").
type Accepted = Arc<Mutex<Vec<Token>>>;

impl Scenario for Lock {
    fn name(&self) -> &'static str {
        "lock"
    }

    fn about(&self) -> &'static str {
        "lock service with fencing tokens, 1 lock server, 1 resource, 4 clients: fenced writes, one holder, linearizable grants"
    }

    fn variants(&self) -> &'static [Variant] {
        VARIANTS
    }

    fn hosts(&self) -> Hosts {
        Hosts {
            servers: vec![LOCKS_HOST.into(), RESOURCE_HOST.into()],
            clients: (1..=CLIENTS).map(|i| format!("client-{i}")).collect(),
        }
    }

    fn min_clients(&self) -> usize {
        2
    }

    fn liveness(&self) -> Liveness {
        Liveness {
            ops_per_client: 2,
            within: Duration::from_secs(30),
        }
    }

    fn build(&self, sim: &mut turmoil::Sim<'static>, ctx: &Ctx) -> Box<dyn Invariants> {
        let accepted: Accepted = Arc::default();
        lock_server(sim, ctx.variant == "volatile-counter");
        resource_server(sim, Arc::clone(&accepted), ctx.variant == "ttl-only");
        let rec = Rec::new(&ctx.recorder).watch();
        let all = self.hosts().clients;
        for name in ctx.hosts.clients.iter().cloned() {
            let i = all.iter().position(|c| *c == name).unwrap_or(0);
            let mut rng = ctx.rng(&name);
            let owner = u64::try_from(i).unwrap_or(0) + 1;
            let locks =
                LockClient::new(rpc(LOCKS_HOST, rng.random()), owner, lock_config(&mut rng));
            let guide = rpc(LOCKS_HOST, rng.random());
            let resource = rpc(RESOURCE_HOST, rng.random());
            let w = Worker {
                name: name.clone(),
                owner,
                rng,
                heal_at: ctx.heal_at,
                need: ctx.liveness.ops_per_client,
                rec: rec.clone(),
                locks,
                guide,
                resource,
                renew: ctx.variant != "no-renewal",
            };
            sim.client(name, w.run());
        }
        Box::new(LockInvariants {
            rec,
            accepted,
            checked: 0,
            highest: 0,
            beliefs: BTreeMap::new(),
        })
    }
}

fn rpc(host: &str, seed: u64) -> Client<Turmoil> {
    let config = ClientConfig::new(SECRET.to_vec())
        .seed(seed)
        .attempt_timeout(Duration::from_millis(300))
        .connect_timeout(Duration::from_millis(300))
        .retry(Policy::new(
            Backoff::new(Duration::from_millis(20), Duration::from_millis(300)),
            4,
        ));
    Client::new(Turmoil, Addr::new(host, PORT), config)
}

fn lock_config(rng: &mut SmallRng) -> LockClientConfig {
    LockClientConfig {
        ttl: TTL,
        renew_every: Duration::from_millis(150),
        margin: Duration::from_millis(50),
        acquire_timeout: Duration::from_secs(5),
        backoff: Backoff::new(Duration::from_millis(20), Duration::from_millis(400)),
        seed: Some(rng.random()),
    }
}

/// The lock server: its token mark in a durable counter on the host's
/// simulated disk (a crash loses what was not synced), or, in
/// `volatile-counter`, in memory that dies with the host.
fn lock_server(sim: &mut turmoil::Sim<'static>, volatile: bool) {
    sim.host(LOCKS_HOST, move || async move {
        let listener = Turmoil.bind(&Addr::new("0.0.0.0", PORT)).await?;
        let config = LockConfig {
            block: 4,
            max_ttl: TTL,
        };
        let router = if volatile {
            lock_service(LockService::start(VolatileMark::default(), config).await?)
        } else {
            let counter = DurableCounter::open(SimDisk::open("/lock")?, "fencing").await?;
            lock_service(LockService::start(counter, config).await?)
        };
        let server = ServerConfig::new(SECRET.to_vec()).idle_timeout(Duration::from_secs(3));
        serve(listener, router, server, CancellationToken::new()).await?;
        Ok(())
    });
}

fn resource_server(sim: &mut turmoil::Sim<'static>, accepted: Accepted, unfenced: bool) {
    let store = Arc::new(Mutex::new(FencedStore::default()));
    sim.host(RESOURCE_HOST, move || {
        let router = if unfenced {
            unfenced_resource(Arc::clone(&accepted))
        } else {
            recording(Arc::clone(&store), Arc::clone(&accepted))
        };
        async move {
            let listener = Turmoil.bind(&Addr::new("0.0.0.0", PORT)).await?;
            let server = ServerConfig::new(SECRET.to_vec()).idle_timeout(Duration::from_secs(3));
            serve(listener, router, server, CancellationToken::new()).await?;
            Ok(())
        }
    });
}

/// The library's fenced store as the resource, with each accepted write's
/// token noted for the invariants.
fn recording(store: Arc<Mutex<FencedStore>>, accepted: Accepted) -> Router {
    Router::new().route(protocol::WRITE, move |w: protocol::Write| {
        let result = guard(&store).write(&w.key, w.token, w.value);
        if result.is_ok() {
            guard(&accepted).push(w.token);
        }
        std::future::ready(Ok::<_, Infallible>(result))
    })
}

/// `ttl-only`: the guide's resource accepts every write.
fn unfenced_resource(accepted: Accepted) -> Router {
    Router::new().route(protocol::WRITE, move |w: protocol::Write| {
        guard(&accepted).push(w.token);
        std::future::ready(Ok::<protocol::WriteResult, Infallible>(Ok(())))
    })
}

/// One client: acquire, work in slices with a write after each, release;
/// until the faults have healed and `need` operations succeeded since.
struct Worker {
    name: String,
    owner: u64,
    rng: SmallRng,
    heal_at: Duration,
    need: usize,
    rec: Rec,
    locks: LockClient<Turmoil>,
    /// `no-renewal`'s client calls the lock server's methods itself.
    guide: Client<Turmoil>,
    resource: Client<Turmoil>,
    renew: bool,
}

impl Worker {
    fn now(&self) -> Duration {
        Duration::from_micros(self.rec.now_us())
    }

    async fn run(mut self) -> turmoil::Result {
        let mut ok_after_heal = 0;
        let mut seq = 0u64;
        loop {
            if self.now() >= self.heal_at && ok_after_heal >= self.need {
                break;
            }
            sleep(Duration::from_millis(self.rng.random_range(0..200))).await;
            let before = self.now() >= self.heal_at;
            let oks = if self.renew {
                self.cycle(&mut seq).await
            } else {
                self.guide_cycle(&mut seq).await
            };
            if before {
                ok_after_heal += oks;
            }
        }
        Ok(())
    }

    /// How many slices of work this cycle does: some outlast the TTL.
    fn slices(&mut self) -> u32 {
        self.rng.random_range(1..=10)
    }

    /// One cycle with heddle's client; returns the operations that succeeded.
    async fn cycle(&mut self, seq: &mut u64) -> usize {
        let id = self.invoke(LockOp::Acquire { owner: self.owner });
        let lease = match self.locks.acquire(LOCK).await {
            Ok(lease) => lease,
            Err(e) => {
                self.rec.err(&self.name, id, e.to_string());
                return 0;
            }
        };
        self.ok(id, LockRet::Granted(lease.token()));
        let mut oks = 1;
        for _ in 0..self.slices() {
            sleep(SLICE).await;
            if !lease.is_valid() {
                break;
            }
            let until = lease.valid_until();
            oks += usize::from(self.write(lease.token(), Some(until), seq).await);
        }
        let id = self.invoke(self.release_op(lease.token()));
        match self.locks.release(lease).await {
            Ok(found) => {
                let ret = match found {
                    Released::Released => LockRet::Released,
                    Released::AlreadyLost => LockRet::NotHeld,
                };
                self.ok(id, ret);
                oks + 1
            }
            Err(e) => {
                self.rec.err(&self.name, id, e.to_string());
                oks
            }
        }
    }

    /// The guide's client: a lease taken once, never renewed nor checked.
    async fn guide_cycle(&mut self, seq: &mut u64) -> usize {
        let id = self.invoke(LockOp::Acquire { owner: self.owner });
        let args = protocol::Acquire {
            lock: LOCK,
            owner: self.owner,
            ttl_ms: u64::try_from(TTL.as_millis()).unwrap_or(u64::MAX),
        };
        let token = match self.guide.call(protocol::ACQUIRE, &args).await {
            Ok(Reply::Granted { token, .. }) => token,
            Ok(other) => {
                self.rec.err(&self.name, id, format!("{other:?}"));
                return 0;
            }
            Err(e) => {
                self.rec.err(&self.name, id, e.to_string());
                return 0;
            }
        };
        self.ok(id, LockRet::Granted(token));
        let mut oks = 1;
        for _ in 0..self.slices() {
            sleep(SLICE).await;
            oks += usize::from(self.write(token, None, seq).await);
        }
        let id = self.invoke(self.release_op(token));
        let args = protocol::Release {
            lock: LOCK,
            owner: self.owner,
            token,
        };
        match self.guide.call::<_, Reply>(protocol::RELEASE, &args).await {
            Ok(Reply::Released) => self.ok(id, LockRet::Released),
            Ok(Reply::NotHolder) => self.ok(id, LockRet::NotHeld),
            Ok(other) => self.rec.err(&self.name, id, format!("{other:?}")),
            Err(e) => self.rec.err(&self.name, id, e.to_string()),
        }
        oks + 1
    }

    /// Records the invocation of a lock operation.
    fn invoke(&self, op: LockOp) -> Invoked {
        self.rec.invoke(&self.name, Call::Lock(op))
    }

    /// Records what a lock operation returned.
    fn ok(&self, id: Invoked, ret: LockRet) {
        self.rec.ok(&self.name, id, Answer::Lock(ret));
    }

    fn release_op(&self, token: Token) -> LockOp {
        LockOp::Release {
            owner: self.owner,
            token,
        }
    }

    /// Writes under `token`, believing the lease valid until `until` (or
    /// until released, if `None`); returns whether the write was accepted.
    async fn write(&mut self, token: Token, until: Option<Instant>, seq: &mut u64) -> bool {
        let until_us = match until {
            Some(i) => {
                let left = i.saturating_duration_since(Instant::now());
                u64::try_from((self.now() + left).as_micros()).unwrap_or(u64::MAX)
            }
            None => u64::MAX,
        };
        *seq += 1;
        let value = format!("{}:{seq}", self.name);
        let id = self.rec.invoke(
            &self.name,
            Call::Write(Write {
                token,
                until_us,
                value: value.clone(),
            }),
        );
        let w = protocol::Write {
            key: LOCK.into(),
            token,
            value: value.into_bytes(),
        };
        match self
            .resource
            .call::<_, protocol::WriteResult>(protocol::WRITE, &w)
            .await
        {
            Ok(Ok(())) => {
                self.rec.ok(&self.name, id, Answer::Accepted);
                true
            }
            Ok(Err(fenced)) => {
                self.rec.err(&self.name, id, fenced.to_string());
                false
            }
            Err(e) => {
                self.rec.err(&self.name, id, e.to_string());
                false
            }
        }
    }
}

/// A client's belief that it holds the lease: from `from` to `until` (µs).
#[derive(Debug, Clone, Copy)]
struct Belief {
    token: Token,
    from: u64,
    until: u64,
    op: u64,
}

/// The safety checks.
struct LockInvariants {
    /// The clients' calls, watched.
    rec: Rec,
    accepted: Accepted,
    /// How many accepted tokens were checked already.
    checked: usize,
    highest: Token,
    /// Each client's current belief.
    beliefs: BTreeMap<String, Belief>,
}

impl LockInvariants {
    fn fenced_writes(&mut self) -> Option<Violation> {
        let accepted = guard(&self.accepted);
        for &token in &accepted[self.checked..] {
            if token < self.highest {
                return Some(Violation::new(
                    "fenced-writes",
                    format!(
                        "the resource accepted token {token} after token {}",
                        self.highest
                    ),
                    None,
                ));
            }
            self.highest = token;
        }
        self.checked = accepted.len();
        None
    }

    /// Write `w`, invoked as `r`.
    fn on_write(&mut self, r: &TypedRecord<Call, Answer>, w: &Write) -> Option<Violation> {
        let (token, until) = (w.token, w.until_us);
        let belief = Belief {
            token,
            from: r.t_us,
            until,
            op: r.id,
        };
        for (other, b) in &self.beliefs {
            if *other != r.client && b.token != token && b.from <= r.t_us && r.t_us < b.until {
                return Some(Violation::new(
                    "one-holder",
                    format!(
                        "{} writes under token {token} while {other} believes token {} valid until {}µs",
                        r.client, b.token, b.until
                    ),
                    Some(b.op.max(r.id)),
                ));
            }
        }
        match self.beliefs.get_mut(&r.client) {
            // The same lease, checked again: its deadline as of now.
            Some(b) if b.token == token => b.until = until,
            _ => {
                self.beliefs.insert(r.client.clone(), belief);
            }
        }
        None
    }
}

impl Invariants for LockInvariants {
    /// Judges the calls of this step, as recorded typed (`_new` is their
    /// rendering).
    fn check_during(&mut self, _new: &[OpRecord]) -> Option<Violation> {
        for r in self.rec.take_new() {
            match &r.event {
                // A release ends the client's belief, whatever its outcome.
                TypedEvent::Invoke(Call::Lock(LockOp::Release { .. })) => {
                    if let Some(b) = self.beliefs.get_mut(&r.client) {
                        b.until = b.until.min(r.t_us);
                    }
                }
                TypedEvent::Invoke(Call::Write(w)) => {
                    if let Some(v) = self.on_write(&r, w) {
                        return Some(v);
                    }
                }
                TypedEvent::Invoke(Call::Lock(LockOp::Acquire { .. }))
                | TypedEvent::Ok(_)
                | TypedEvent::Err(_) => {}
            }
        }
        self.fenced_writes()
    }

    /// The lock operations' history is linearizable against a lease with
    /// fencing tokens: tokens grow with every grant, in real-time order.
    ///
    /// Operations that failed (their outcome unknown) are left out. That
    /// loses nothing here: this history records no refused acquires, and
    /// in a lease every later grant, release or failed release can be
    /// placed at least as easily after an unknown operation that had no
    /// effect as after one that did, so the checker could always choose "no
    /// effect". Left in, each would multiply the search (a run whose client
    /// is cut off from the lock server for seconds records dozens).
    fn check_end(&mut self, _history: &[OpRecord]) -> Option<Violation> {
        let answered = self
            .rec
            .history()
            .filter_map(|o| match (&o.op, &o.completed) {
                (
                    Call::Lock(op),
                    Some(Completion {
                        at,
                        ret: Answer::Lock(ret),
                    }),
                ) => Some(Operation {
                    client: o.client,
                    op: op.clone(),
                    invoked: o.invoked,
                    completed: Some(Completion {
                        at: *at,
                        ret: ret.clone(),
                    }),
                }),
                _ => None,
            });
        crate::linearizable::check(&LockModel::lease(), &answered)
    }
}

/// The invariants against hand-made typed histories.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Log, Recorder};

    fn setup() -> (Arc<Log>, Rec, LockInvariants) {
        let log = Arc::new(Log::default());
        let rec = Rec::new(&Recorder::new(Arc::clone(&log))).watch();
        let inv = LockInvariants {
            rec: rec.clone(),
            accepted: Accepted::default(),
            checked: 0,
            highest: 0,
            beliefs: BTreeMap::new(),
        };
        (log, rec, inv)
    }

    fn write(rec: &Rec, client: &str, token: Token, until_us: u64) {
        let value = format!("{client}:1");
        let w = rec.invoke(
            client,
            Call::Write(Write {
                token,
                until_us,
                value,
            }),
        );
        rec.ok(client, w, Answer::Accepted);
    }

    #[test]
    fn a_write_while_another_believes_its_lease_valid_breaks_one_holder() {
        let (log, rec, mut inv) = setup();
        write(&rec, "client-1", 1, 1_000);
        assert_eq!(inv.check_during(&[]), None);
        log.set_clock(500);
        write(&rec, "client-2", 2, 2_000);
        let v = inv.check_during(&[]).expect("a violation");
        assert_eq!(v.invariant, "one-holder", "{v:?}");
        assert_eq!(v.op, Some(1), "{v:?}");
    }

    #[test]
    fn a_release_ends_the_belief() {
        let (log, rec, mut inv) = setup();
        write(&rec, "client-1", 1, 1_000);
        log.set_clock(400);
        let r = rec.invoke(
            "client-1",
            Call::Lock(LockOp::Release { owner: 1, token: 1 }),
        );
        rec.ok("client-1", r, Answer::Lock(LockRet::Released));
        log.set_clock(500);
        write(&rec, "client-2", 2, 2_000);
        assert_eq!(inv.check_during(&[]), None);
    }

    #[test]
    fn a_repeated_token_is_not_linearizable_and_failed_calls_are_left_out() {
        let (_log, rec, mut inv) = setup();
        for (client, owner) in [("client-1", 1), ("client-2", 2)] {
            let a = rec.invoke(client, Call::Lock(LockOp::Acquire { owner }));
            rec.ok(client, a, Answer::Lock(LockRet::Granted(1)));
            let r = rec.invoke(client, Call::Lock(LockOp::Release { owner, token: 1 }));
            rec.err(client, r, "timeout");
        }
        let v = inv.check_end(&[]).expect("a violation");
        assert_eq!(v.invariant, crate::linearizable::INVARIANT);
        assert_eq!(v.op, Some(2), "{v:?}");
    }
}
