//! Runs one seed of one scenario variant: builds the `turmoil::Sim` from the
//! seed and the fault plan's knobs, steps it one tick at a time, applies the
//! fault events at their times, heals everything at the plan's heal time,
//! records the trace, and judges the run (safety during and at the end,
//! then the liveness phase).

use crate::capture::Capture;
use crate::faults::{EventKind, FaultEvent, FaultPlan};
use crate::record::{Log, NetWhat, OpEvent, OpRecord, Raw, Recorder};
use crate::scenario::{Ctx, Hosts, Invariants, Liveness, Scenario, Variant, Violation};
use crate::trace::{Trace, TraceEvent};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Simulated time per step.
pub const TICK: Duration = Duration::from_millis(1);

/// Which faults a run gets.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultChoice {
    /// No fault, default knobs.
    None,
    /// Drawn from the seed.
    Swarm,
    /// This plan, for every seed.
    Explicit(FaultPlan),
}

impl FaultChoice {
    /// The plan for `seed` on a scenario with `hosts`.
    pub fn plan(&self, seed: u64, hosts: &Hosts) -> FaultPlan {
        match self {
            Self::None => FaultPlan::none(),
            Self::Swarm => FaultPlan::swarm(seed, hosts),
            Self::Explicit(p) => p.clone(),
        }
    }

    /// The `--faults` argument that selects this choice.
    pub fn to_arg(&self) -> String {
        match self {
            Self::None => "none".into(),
            Self::Swarm => "swarm".into(),
            Self::Explicit(p) => p.to_spec(),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every invariant held and the liveness phase completed.
    Pass,
    /// A safety invariant broke (or the software failed or panicked).
    Safety(Violation),
    /// The liveness phase did not complete within its bound.
    Liveness(Violation),
}

impl Verdict {
    /// The violation, if any.
    pub fn violation(&self) -> Option<&Violation> {
        match self {
            Self::Pass => None,
            Self::Safety(v) | Self::Liveness(v) => Some(v),
        }
    }
}

/// The result of one run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Scenario name.
    pub scenario: &'static str,
    /// Variant name.
    pub variant: &'static str,
    /// The seed.
    pub seed: u64,
    /// The fault plan that was applied.
    pub plan: FaultPlan,
    /// When every fault had healed.
    pub heal_at: Duration,
    /// The verdict.
    pub verdict: Verdict,
    /// Simulated time the run took.
    pub sim_time: Duration,
    /// The trace (network events only when the run recorded them).
    pub trace: Trace,
}

/// Options of one run.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Capture turmoil's network events into the trace (costs time; the
    /// operations and faults are always traced).
    pub net_trace: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { net_trace: true }
    }
}

/// Runs `scenario:variant` with `seed` under `plan`.
pub fn run(
    scenario: &dyn Scenario,
    variant: &'static Variant,
    seed: u64,
    plan: FaultPlan,
    opts: RunOptions,
) -> Outcome {
    let log = Arc::new(Log::default());
    let mut tb = TraceBuilder::default();
    tb.push(0, "plan", "*", None, plan.to_spec(), None, None);
    let mut sim_time = Duration::ZERO;
    let body = AssertUnwindSafe(|| {
        let mut go = || run_inner(scenario, variant, seed, &plan, &log, &mut tb, &mut sim_time);
        if opts.net_trace {
            let dispatch = tracing::Dispatch::new(Capture::new(Arc::clone(&log)));
            tracing::dispatcher::with_default(&dispatch, go)
        } else {
            go()
        }
    });
    let verdict = match std::panic::catch_unwind(body) {
        Ok(v) => v,
        Err(panic) => {
            let msg = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            Verdict::Safety(Violation::new("panic", msg, None))
        }
    };
    if let Some(v) = verdict.violation() {
        let kind = if matches!(verdict, Verdict::Liveness(_)) {
            "liveness"
        } else {
            "violation"
        };
        tb.push(
            us(sim_time),
            kind,
            "*",
            None,
            format!("{}: {}", v.invariant, v.detail),
            None,
            v.op,
        );
    }
    Outcome {
        scenario: scenario.name(),
        variant: variant.name,
        seed,
        heal_at: plan.heal_at(),
        plan,
        verdict,
        sim_time,
        trace: Trace { events: tb.events },
    }
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn run_inner(
    scenario: &dyn Scenario,
    variant: &'static Variant,
    seed: u64,
    plan: &FaultPlan,
    log: &Arc<Log>,
    tb: &mut TraceBuilder,
    sim_time: &mut Duration,
) -> Verdict {
    let hosts = plan.hosts(&scenario.hosts());
    let liveness = scenario.liveness();
    let heal_at = plan.heal_at();
    let deadline = heal_at + liveness.within;
    let mut sim = build_sim(seed, plan, deadline);
    let ctx = Ctx {
        seed,
        variant: variant.name,
        hosts: hosts.clone(),
        heal_at,
        liveness,
        recorder: Recorder::new(Arc::clone(log)),
    };
    let mut invariants = scenario.build(&mut sim, &ctx);
    tb.names = hosts.all().map(|h| (sim.lookup(h), h.to_owned())).collect();
    let mut faults = Schedule::new(plan, hosts);
    let (verdict, history) = step_until_done(
        &mut sim,
        &mut faults,
        deadline,
        invariants.as_mut(),
        log,
        tb,
    );
    *sim_time = sim.elapsed();
    if verdict != Verdict::Pass {
        return verdict;
    }
    if let Some(v) = invariants.check_end(&history) {
        return Verdict::Safety(v);
    }
    liveness_verdict(&history, &faults.hosts, liveness, heal_at)
}

/// The simulation for `seed` with `plan`'s knobs.
fn build_sim(seed: u64, plan: &FaultPlan, deadline: Duration) -> turmoil::Sim<'static> {
    let k = &plan.knobs;
    let mut builder = turmoil::Builder::new();
    builder
        .rng_seed(seed)
        .tick_duration(TICK)
        // The runner stops at the liveness deadline itself; turmoil's own
        // limit is only a backstop.
        .simulation_duration(deadline + Duration::from_secs(60))
        .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        .min_message_latency(Duration::from_millis(k.min_latency_ms))
        .max_message_latency(Duration::from_millis(k.max_latency_ms))
        .repair_rate(k.repair_rate);
    if k.random_order {
        builder.enable_random_order();
    }
    builder.build()
}

/// The fault events of a plan, applied as simulated time reaches them,
/// then the heal.
struct Schedule {
    hosts: Hosts,
    events: Vec<FaultEvent>,
    /// The first event not applied yet.
    next: usize,
    links: Links,
    heal_at: Duration,
    healed: bool,
}

impl Schedule {
    fn new(plan: &FaultPlan, hosts: Hosts) -> Self {
        Self {
            hosts,
            events: plan.events(),
            next: 0,
            links: Links::default(),
            heal_at: plan.heal_at(),
            healed: plan.faults.is_empty(),
        }
    }

    /// Applies (and traces) the events due at `now`, and the heal once due.
    fn apply_due(
        &mut self,
        sim: &mut turmoil::Sim<'static>,
        now: Duration,
        log: &Log,
        tb: &mut TraceBuilder,
    ) {
        let now_us = us(now);
        while let Some(e) = self.events.get(self.next).filter(|e| e.at <= now) {
            self.links.apply(sim, e, &self.hosts, log);
            tb.fault(now_us, &e.kind);
            self.next += 1;
        }
        if !self.healed && now >= self.heal_at {
            heal_all(sim, &self.hosts);
            self.links = Links::default();
            tb.push(
                now_us,
                "heal",
                "*",
                None,
                "every fault healed".into(),
                None,
                None,
            );
            self.healed = true;
        }
    }
}

/// Steps the simulation one tick at a time, applying `faults` and judging
/// each step's operations, until the clients are done, the `deadline`
/// passes, or something breaks. Returns the verdict so far and the history.
fn step_until_done(
    sim: &mut turmoil::Sim<'static>,
    faults: &mut Schedule,
    deadline: Duration,
    invariants: &mut dyn Invariants,
    log: &Log,
    tb: &mut TraceBuilder,
) -> (Verdict, Vec<OpRecord>) {
    let mut raw = Vec::new();
    let mut new_ops = Vec::new();
    let mut history = Vec::new();
    let verdict = loop {
        let now = sim.elapsed();
        log.set_clock(us(now));
        faults.apply_due(sim, now, log, tb);
        let step = sim.step();
        log.drain(&mut raw);
        new_ops.clear();
        tb.absorb(raw.drain(..), &mut new_ops);
        if let Some(v) = invariants.check_during(&new_ops) {
            break Verdict::Safety(v);
        }
        history.append(&mut new_ops);
        match step {
            Err(e) => break Verdict::Safety(Violation::new("software-error", e.to_string(), None)),
            Ok(true) => break Verdict::Pass,
            Ok(false) if sim.elapsed() > deadline => break Verdict::Pass,
            Ok(false) => {}
        }
    };
    (verdict, history)
}

/// The liveness phase: each client, `ops_per_client` successes completed
/// between the heal and the deadline (`within` after it).
fn liveness_verdict(
    history: &[OpRecord],
    hosts: &Hosts,
    liveness: Liveness,
    heal_at: Duration,
) -> Verdict {
    let from = us(heal_at);
    let to = us(heal_at + liveness.within);
    for client in &hosts.clients {
        let done = history
            .iter()
            .filter(|r| {
                r.client == *client
                    && matches!(r.event, OpEvent::Ok { .. })
                    && (from..=to).contains(&r.t_us)
            })
            .count();
        if done < liveness.ops_per_client {
            return Verdict::Liveness(Violation::new(
                "liveness",
                format!(
                    "{client} completed {done} of {} operations in the {:?} after the heal at {:?}",
                    liveness.ops_per_client, liveness.within, heal_at
                ),
                // The client's last operation still open at the end, if any.
                last_open_op(history, client),
            ));
        }
    }
    Verdict::Pass
}

fn last_open_op(history: &[OpRecord], client: &str) -> Option<u64> {
    let mut open = BTreeMap::new();
    for r in history.iter().filter(|r| r.client == client) {
        match r.event {
            OpEvent::Invoke { .. } => {
                open.insert(r.id, ());
            }
            _ => {
                open.remove(&r.id);
            }
        }
    }
    open.keys().next_back().copied()
}

/// The explicit faults in force on each link, so that a crash can cut a
/// host off and put its links back exactly as they were.
#[derive(Debug, Default)]
struct Links {
    /// Symmetric partitions and holds, as (smaller, larger) name pairs.
    partitioned: BTreeSet<(String, String)>,
    held: BTreeSet<(String, String)>,
    /// One-way partitions, (from, to).
    oneway: BTreeSet<(String, String)>,
    /// Paused hosts: frozen, and every link of theirs is held.
    paused: BTreeSet<String>,
    /// The loss rate in force.
    fail_rate: f64,
}

fn pair(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_owned(), b.to_owned())
    } else {
        (b.to_owned(), a.to_owned())
    }
}

impl Links {
    fn faulty(&self, a: &str, b: &str) -> bool {
        let p = pair(a, b);
        self.partitioned.contains(&p)
            || self.held.contains(&p)
            || self.oneway.contains(&(a.to_owned(), b.to_owned()))
            || self.oneway.contains(&(b.to_owned(), a.to_owned()))
            || self.paused.contains(a)
            || self.paused.contains(b)
    }

    /// Puts the link `a`–`b` back to the faults in force (from healthy).
    fn restore(&self, sim: &mut turmoil::Sim<'static>, a: &str, b: &str) {
        sim.repair(a, b);
        let p = pair(a, b);
        if self.partitioned.contains(&p) {
            sim.partition(a, b);
        }
        if self.held.contains(&p) || self.paused.contains(a) || self.paused.contains(b) {
            sim.hold(a, b);
        }
        for (from, to) in [(a, b), (b, a)] {
            if self.oneway.contains(&(from.to_owned(), to.to_owned())) {
                sim.partition_oneway(from, to);
            }
        }
    }

    fn apply(&mut self, sim: &mut turmoil::Sim<'static>, e: &FaultEvent, hosts: &Hosts, log: &Log) {
        match &e.kind {
            EventKind::Partition(a, b) => {
                sim.partition(a.as_str(), b.as_str());
                self.partitioned.insert(pair(a, b));
            }
            EventKind::Repair(a, b) => {
                self.partitioned.remove(&pair(a, b));
                self.restore(sim, a, b);
            }
            EventKind::PartitionOneway(a, b) => {
                sim.partition_oneway(a.as_str(), b.as_str());
                self.oneway.insert((a.clone(), b.clone()));
            }
            EventKind::RepairOneway(a, b) => {
                sim.repair_oneway(a.as_str(), b.as_str());
                self.oneway.remove(&(a.clone(), b.clone()));
            }
            EventKind::Hold(a, b) => {
                sim.hold(a.as_str(), b.as_str());
                self.held.insert(pair(a, b));
            }
            EventKind::Release(a, b) => {
                self.held.remove(&pair(a, b));
                // A paused end keeps what the link holds until it resumes.
                if !self.paused.contains(a) && !self.paused.contains(b) {
                    sim.release(a.as_str(), b.as_str());
                }
                self.restore(sim, a, b);
            }
            EventKind::LossOn(rate) => {
                sim.set_fail_rate(*rate);
                self.fail_rate = *rate;
            }
            EventKind::LossOff => {
                sim.set_fail_rate(0.0);
                self.fail_rate = 0.0;
                // Links broken at random heal; explicit faults stay.
                for_pairs(hosts, |a, b| {
                    if !self.faulty(a, b) {
                        sim.repair(a, b);
                    }
                });
            }
            EventKind::Pause(h) => {
                // The host's software stops (patched turmoil, see
                // vendor/turmoil/HEDDLE.md); its links hold what is in flight.
                sim.pause(h.as_str());
                self.paused.insert(h.clone());
                for x in hosts.all().filter(|x| x != h) {
                    sim.hold(h.as_str(), x);
                }
            }
            EventKind::Resume(h) => {
                sim.resume(h.as_str());
                self.paused.remove(h);
                for x in hosts.all().filter(|x| x != h) {
                    // Unless a hold fault or another pause still holds the link.
                    if !self.held.contains(&pair(h, x)) && !self.paused.contains(x) {
                        sim.release(h.as_str(), x);
                    }
                    self.restore(sim, h, x);
                }
            }
            EventKind::Crash(h) => self.quietly(sim, h, hosts, log, |sim| sim.crash(h.as_str())),
            // A restart is a bounce too: a `bounce` fault may have started
            // the crashed host's software again in the meantime.
            EventKind::Restart(h) | EventKind::Bounce(h) => {
                self.quietly(sim, h, hosts, log, |sim| sim.bounce(h.as_str()));
            }
        }
    }

    /// Crashes or bounces `host` as a machine that dies: what its software
    /// sends while it is torn down (FIN/RST of every open connection) is
    /// lost, and so are the messages to and from it still in flight.
    ///
    /// This is also what keeps a crash deterministic: tokio drops a
    /// runtime's spawned tasks shard by shard, by task id, and task ids come
    /// from a process-wide counter, so the order of those dying messages
    /// (and the latency each would draw from the seeded RNG) depends on what
    /// else ran in the process. Cut off, with no loss rate in force, they
    /// are dropped without touching the RNG and without entering the trace.
    fn quietly(
        &self,
        sim: &mut turmoil::Sim<'static>,
        host: &str,
        hosts: &Hosts,
        log: &Log,
        f: impl FnOnce(&mut turmoil::Sim<'static>),
    ) {
        let others: Vec<&str> = hosts.all().filter(|h| *h != host).collect();
        sim.set_fail_rate(0.0);
        for x in &others {
            sim.partition_oneway(host, *x);
            sim.partition_oneway(*x, host);
        }
        log.set_muted(true);
        f(sim);
        log.set_muted(false);
        for x in &others {
            self.restore(sim, host, x);
        }
        sim.set_fail_rate(self.fail_rate);
    }
}

fn for_pairs(hosts: &Hosts, mut f: impl FnMut(&str, &str)) {
    let all: Vec<&str> = hosts.all().collect();
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            f(a, b);
        }
    }
}

/// The end of every fault at once: no loss, every link healthy (held
/// messages delivered), every crashed server restarted.
fn heal_all(sim: &mut turmoil::Sim<'static>, hosts: &Hosts) {
    sim.set_fail_rate(0.0);
    for_pairs(hosts, |a, b| sim.release(a, b));
    for s in &hosts.servers {
        if !sim.is_host_running(s.as_str()) {
            sim.bounce(s.as_str());
        }
    }
}

/// Turns raw log entries into trace events: host names for addresses,
/// message ids matching each send to its deliver/drop/hold.
#[derive(Default)]
struct TraceBuilder {
    events: Vec<TraceEvent>,
    names: BTreeMap<IpAddr, String>,
    in_flight: BTreeMap<(SocketAddr, SocketAddr, u64), VecDeque<u64>>,
    next_msg: u64,
}

impl TraceBuilder {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        t_us: u64,
        kind: &str,
        host: &str,
        peer: Option<&str>,
        detail: String,
        msg: Option<u64>,
        op: Option<u64>,
    ) {
        self.events.push(TraceEvent {
            t_us,
            kind: kind.to_owned(),
            host: host.to_owned(),
            peer: peer.map(str::to_owned),
            detail,
            msg,
            op,
        });
    }

    fn name(&self, addr: SocketAddr) -> String {
        self.names
            .get(&addr.ip())
            .cloned()
            .unwrap_or_else(|| addr.ip().to_string())
    }

    fn fault(&mut self, t_us: u64, kind: &EventKind) {
        let (k, host, peer) = match kind {
            EventKind::Partition(a, b) => ("partition", a.as_str(), Some(b.as_str())),
            EventKind::Repair(a, b) => ("repair", a.as_str(), Some(b.as_str())),
            EventKind::PartitionOneway(a, b) => ("partition_oneway", a.as_str(), Some(b.as_str())),
            EventKind::RepairOneway(a, b) => ("repair_oneway", a.as_str(), Some(b.as_str())),
            EventKind::Hold(a, b) => ("hold_link", a.as_str(), Some(b.as_str())),
            EventKind::Release(a, b) => ("release", a.as_str(), Some(b.as_str())),
            EventKind::LossOn(_) => ("loss", "*", None),
            EventKind::LossOff => ("loss_off", "*", None),
            EventKind::Crash(h) => ("crash", h.as_str(), None),
            EventKind::Restart(h) => ("restart", h.as_str(), None),
            EventKind::Bounce(h) => ("bounce", h.as_str(), None),
            EventKind::Pause(h) => ("pause", h.as_str(), None),
            EventKind::Resume(h) => ("resume", h.as_str(), None),
        };
        let (host, peer) = (host.to_owned(), peer.map(str::to_owned));
        self.push(
            t_us,
            k,
            &host,
            peer.as_deref(),
            kind.to_string(),
            None,
            None,
        );
    }

    fn absorb(&mut self, raw: impl Iterator<Item = Raw>, ops: &mut Vec<OpRecord>) {
        for r in raw {
            match r {
                Raw::Op(op) => {
                    let (kind, detail) = match &op.event {
                        OpEvent::Invoke { name, input } => ("invoke", format!("{name} {input:?}")),
                        OpEvent::Ok { output } => ("ok", format!("{output:?}")),
                        OpEvent::Err { error } => ("err", error.clone()),
                    };
                    self.push(
                        op.t_us,
                        kind,
                        &op.client.clone(),
                        None,
                        detail,
                        None,
                        Some(op.id),
                    );
                    ops.push(op);
                }
                Raw::Note {
                    t_us,
                    host,
                    kind,
                    detail,
                } => self.push(t_us, kind, &host, None, detail, None, None),
                Raw::Net {
                    t_us,
                    what,
                    src,
                    dst,
                    proto,
                } => {
                    let key = (src, dst, crate::fnv64(proto.as_bytes()));
                    let detail = format!("{} {}>{}", summarize(&proto), src.port(), dst.port());
                    let (s, d) = (self.name(src), self.name(dst));
                    match what {
                        NetWhat::Send => {
                            let id = self.next_msg;
                            self.next_msg += 1;
                            self.in_flight.entry(key).or_default().push_back(id);
                            self.push(t_us, "send", &s, Some(&d), detail, Some(id), None);
                        }
                        NetWhat::Deliver | NetWhat::Drop | NetWhat::Hold => {
                            let id = if what == NetWhat::Hold {
                                self.in_flight.get(&key).and_then(|q| q.front().copied())
                            } else {
                                let q = self.in_flight.get_mut(&key);
                                let id = q.and_then(VecDeque::pop_front);
                                if self.in_flight.get(&key).is_some_and(VecDeque::is_empty) {
                                    self.in_flight.remove(&key);
                                }
                                id
                            };
                            let kind = match what {
                                NetWhat::Deliver => "deliver",
                                NetWhat::Drop => "drop",
                                _ => "hold",
                            };
                            self.push(t_us, kind, &d, Some(&s), detail, id, None);
                        }
                    }
                }
            }
        }
    }
}

/// `TCP SYN` → `SYN`; `TCP [0x1, 0x2]` → `DATA 2B`.
fn summarize(proto: &str) -> String {
    match proto.strip_prefix("TCP ") {
        Some(rest) if rest.starts_with('[') => {
            let n = if rest == "[]" {
                0
            } else {
                rest.matches(',').count() + 1
            };
            format!("DATA {n}B")
        }
        Some(rest) => rest.to_owned(),
        None => proto.split(' ').next().unwrap_or(proto).to_owned(),
    }
}
