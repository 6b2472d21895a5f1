//! Fault plans: the knobs and the schedule of faults of one run, drawn from
//! the seed ("swarm": each seed also chooses *which kinds* of fault it
//! uses, so some seeds hammer one kind and others mix them), or given
//! explicitly as a spec string.
//!
//! A plan prints as its spec string and parses back from it
//! ([`FaultPlan::to_spec`], [`FaultPlan::parse`]); the spec is what a
//! failure file stores, what `--faults` accepts and what shrinking reduces.
//!
//! ```text
//! latency=1..40ms; repair=0.5; order=random;
//! partition(server,client-1)@1200ms+3400ms; oneway(client-2>server)@2000ms+500ms;
//! hold(server,client-3)@2500ms+800ms; loss(0.02)@1000ms+2000ms;
//! crash(server)@4000ms+1500ms; bounce(server)@7000ms; pause(client-1)@3000ms+900ms
//! ```
//!
//! Times are simulated milliseconds from the start: `@start+duration`.
//! `none` is the empty plan with the default knobs. A plan may also leave
//! clients out (`clients=client-1,client-3`: only those run); shrinking
//! does that, down to the scenario's [`Scenario::min_clients`].
//!
//! [`Scenario::min_clients`]: crate::scenario::Scenario::min_clients

use crate::scenario::Hosts;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt::{self, Write as _};
use std::time::Duration;

/// A malformed `--faults` spec.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    /// An item that is neither `knob=value` nor `fault(args)@time[+duration]`.
    #[error("fault spec item `{item}`: {why}")]
    Item {
        /// The item.
        item: String,
        /// What is wrong with it.
        why: String,
    },
    /// A host name the scenario does not have.
    #[error("fault spec names host `{0}`, which this scenario does not have")]
    UnknownHost(String),
    /// A fault on a client that `clients=` leaves out.
    #[error("fault spec names client `{0}`, which its `clients=` leaves out")]
    DroppedHost(String),
}

/// Knobs that hold for the whole run.
#[derive(Debug, Clone, PartialEq)]
pub struct Knobs {
    /// Minimum one-way message latency, ms.
    pub min_latency_ms: u64,
    /// Maximum one-way message latency, ms.
    pub max_latency_ms: u64,
    /// Probability that a randomly broken link repairs on each send (only
    /// matters while a `loss` fault is active).
    pub repair_rate: f64,
    /// Run the hosts in a random (seeded) order each step, not in
    /// registration order.
    pub random_order: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            min_latency_ms: 1,
            max_latency_ms: 10,
            repair_rate: 1.0,
            random_order: false,
        }
    }
}

/// One fault: what, from when, for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    /// Start, from the beginning of the run.
    pub at: Duration,
    /// How long it lasts (zero for `bounce`).
    pub dur: Duration,
    /// What it does.
    pub kind: FaultKind,
}

/// The kinds of fault.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Messages between `a` and `b` are dropped, both ways.
    Partition {
        /// One side.
        a: String,
        /// The other side.
        b: String,
    },
    /// Messages from `from` to `to` are dropped; the other way works.
    Oneway {
        /// Sender whose messages are dropped.
        from: String,
        /// Receiver.
        to: String,
    },
    /// Messages between `a` and `b` are held, then all delivered at once.
    Hold {
        /// One side.
        a: String,
        /// The other side.
        b: String,
    },
    /// Every link breaks at random with this probability per message
    /// (turmoil's `fail_rate`), and repairs with the `repair` knob.
    Loss {
        /// Probability per message that the link breaks.
        fail_rate: f64,
    },
    /// The host's software stops (its state is lost), and restarts at the end.
    Crash {
        /// The server host.
        host: String,
    },
    /// The host's software restarts now.
    Bounce {
        /// The server host.
        host: String,
    },
    /// The host freezes as in a long GC pause: its software does not run,
    /// nothing it sends leaves and nothing reaches it (every link of it is
    /// held); then its clock catches up at once (timers that fell due fire,
    /// late, in order) and everything held is delivered. Stock turmoil
    /// cannot skip a host; heddle patches it (`vendor/turmoil/HEDDLE.md`).
    Pause {
        /// Any host.
        host: String,
    },
}

/// The spec names of the faults, each spelled once: [`FaultKind::name`],
/// the parser and its error message use these.
pub mod name {
    /// [`FaultKind::Partition`](super::FaultKind::Partition).
    pub const PARTITION: &str = "partition";
    /// [`FaultKind::Oneway`](super::FaultKind::Oneway).
    pub const ONEWAY: &str = "oneway";
    /// [`FaultKind::Hold`](super::FaultKind::Hold).
    pub const HOLD: &str = "hold";
    /// [`FaultKind::Loss`](super::FaultKind::Loss).
    pub const LOSS: &str = "loss";
    /// [`FaultKind::Crash`](super::FaultKind::Crash).
    pub const CRASH: &str = "crash";
    /// [`FaultKind::Bounce`](super::FaultKind::Bounce).
    pub const BOUNCE: &str = "bounce";
    /// [`FaultKind::Pause`](super::FaultKind::Pause).
    pub const PAUSE: &str = "pause";
    /// Every fault name, in the order the docs list them.
    pub const ALL: [&str; 7] = [PARTITION, ONEWAY, HOLD, LOSS, CRASH, BOUNCE, PAUSE];
}

impl FaultKind {
    /// The fault's name in a spec.
    pub fn name(&self) -> &'static str {
        match self {
            FaultKind::Partition { .. } => name::PARTITION,
            FaultKind::Oneway { .. } => name::ONEWAY,
            FaultKind::Hold { .. } => name::HOLD,
            FaultKind::Loss { .. } => name::LOSS,
            FaultKind::Crash { .. } => name::CRASH,
            FaultKind::Bounce { .. } => name::BOUNCE,
            FaultKind::Pause { .. } => name::PAUSE,
        }
    }

    /// Whether the fault is an instant (no duration in the spec).
    fn is_instant(&self) -> bool {
        matches!(self, FaultKind::Bounce { .. })
    }
}

/// An event of the concrete schedule, applied by the runner at `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultEvent {
    /// When.
    pub at: Duration,
    /// What.
    pub kind: EventKind,
}

/// What a [`FaultEvent`] does to the simulation.
#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    /// `Sim::partition(a, b)`.
    Partition(String, String),
    /// `Sim::repair(a, b)`.
    Repair(String, String),
    /// `Sim::partition_oneway(from, to)`.
    PartitionOneway(String, String),
    /// `Sim::repair_oneway(from, to)`.
    RepairOneway(String, String),
    /// `Sim::hold(a, b)`.
    Hold(String, String),
    /// `Sim::release(a, b)`.
    Release(String, String),
    /// `Sim::set_fail_rate(rate)`.
    LossOn(f64),
    /// `Sim::set_fail_rate(0)`, and every link repaired.
    LossOff,
    /// `Sim::crash(host)`.
    Crash(String),
    /// `Sim::bounce(host)` of a crashed host.
    Restart(String),
    /// `Sim::bounce(host)`.
    Bounce(String),
    /// Every link of the host held.
    Pause(String),
    /// Every link of the host released (back to the faults in force).
    Resume(String),
}

/// The knobs and faults of one run.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FaultPlan {
    /// Knobs for the whole run.
    pub knobs: Knobs,
    /// Faults, sorted by start.
    pub faults: Vec<Fault>,
    /// The clients that run, in the scenario's order, when not all of them
    /// (`None`: every client). Faults never name a client left out.
    pub clients: Option<Vec<String>>,
}

impl Fault {
    /// Whether this fault names `host`.
    pub fn names(&self, host: &str) -> bool {
        match &self.kind {
            FaultKind::Partition { a, b } | FaultKind::Hold { a, b } => a == host || b == host,
            FaultKind::Oneway { from, to } => from == host || to == host,
            FaultKind::Loss { .. } => false,
            FaultKind::Crash { host: h }
            | FaultKind::Bounce { host: h }
            | FaultKind::Pause { host: h } => h == host,
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl FaultPlan {
    /// The plan with no fault and the default knobs (`--faults none`).
    pub fn none() -> Self {
        Self::default()
    }

    /// Draws a plan from `seed` for a scenario with `hosts` (swarm testing).
    ///
    /// The draw uses its own RNG, so the plan is a pure function of the seed
    /// and the hosts. Link faults need two hosts and crashes a server; kinds
    /// a scenario's hosts cannot take are not drawn. Pauses come from a
    /// second RNG stream, so adding them left every other draw unchanged.
    pub fn swarm(seed: u64, hosts: &Hosts) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5357_4152_4d21_0001);
        let knobs = draw_knobs(&mut rng);
        // Swarm: each kind is switched on for this seed with probability 1/2.
        let all: Vec<&str> = hosts.all().collect();
        let kinds: Vec<u8> = (0..6u8)
            .filter(|_| rng.random_bool(0.5))
            .filter(|k| match k {
                0..=2 => all.len() >= 2,
                4 | 5 => !hosts.servers.is_empty(),
                _ => true,
            })
            .collect();
        let count = if kinds.is_empty() {
            0
        } else {
            rng.random_range(1..=4usize)
        };
        let mut faults: Vec<Fault> = (0..count)
            .map(|_| draw_fault(&mut rng, &kinds, hosts, &all))
            .collect();
        faults.extend(draw_pauses(seed, &all));
        faults.sort_by_key(|f| f.at);
        Self {
            knobs,
            faults,
            clients: None,
        }
    }

    /// The hosts of a run under this plan: `all` (the scenario's), less the
    /// clients the plan leaves out.
    pub fn hosts(&self, all: &Hosts) -> Hosts {
        let clients = match &self.clients {
            None => all.clients.clone(),
            Some(kept) => all
                .clients
                .iter()
                .filter(|c| kept.contains(c))
                .cloned()
                .collect(),
        };
        Hosts {
            servers: all.servers.clone(),
            clients,
        }
    }

    /// This plan with `client` left out, and every fault that names it
    /// dropped. `all` is the scenario's hosts.
    pub fn without_client(&self, client: &str, all: &Hosts) -> Self {
        let mut p = self.clone();
        let kept = self
            .hosts(all)
            .clients
            .into_iter()
            .filter(|c| c != client)
            .collect();
        p.clients = Some(kept);
        p.faults.retain(|f| !f.names(client));
        p
    }

    /// Simulated time at which every fault has ended.
    pub fn heal_at(&self) -> Duration {
        self.faults
            .iter()
            .map(|f| f.at + f.dur)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// The concrete schedule: a start and an end event per fault, sorted by
    /// time (ties keep plan order, starts before ends of later faults).
    pub fn events(&self) -> Vec<FaultEvent> {
        let mut events = Vec::new();
        for f in &self.faults {
            let (start, end) = match &f.kind {
                FaultKind::Partition { a, b } => (
                    EventKind::Partition(a.clone(), b.clone()),
                    Some(EventKind::Repair(a.clone(), b.clone())),
                ),
                FaultKind::Oneway { from, to } => (
                    EventKind::PartitionOneway(from.clone(), to.clone()),
                    Some(EventKind::RepairOneway(from.clone(), to.clone())),
                ),
                FaultKind::Hold { a, b } => (
                    EventKind::Hold(a.clone(), b.clone()),
                    Some(EventKind::Release(a.clone(), b.clone())),
                ),
                FaultKind::Loss { fail_rate } => {
                    (EventKind::LossOn(*fail_rate), Some(EventKind::LossOff))
                }
                FaultKind::Crash { host } => (
                    EventKind::Crash(host.clone()),
                    Some(EventKind::Restart(host.clone())),
                ),
                FaultKind::Bounce { host } => (EventKind::Bounce(host.clone()), None),
                FaultKind::Pause { host } => (
                    EventKind::Pause(host.clone()),
                    Some(EventKind::Resume(host.clone())),
                ),
            };
            events.push(FaultEvent {
                at: f.at,
                kind: start,
            });
            if let Some(end) = end {
                events.push(FaultEvent {
                    at: f.at + f.dur,
                    kind: end,
                });
            }
        }
        events.sort_by_key(|e| e.at);
        events
    }

    /// The spec string (see the module docs); [`FaultPlan::parse`] reads it
    /// back.
    pub fn to_spec(&self) -> String {
        let k = &self.knobs;
        let mut s = String::new();
        let _ = write!(
            s,
            "latency={}..{}ms; repair={}; order={}",
            k.min_latency_ms,
            k.max_latency_ms,
            k.repair_rate,
            if k.random_order { "random" } else { "fixed" }
        );
        if let Some(clients) = &self.clients {
            let _ = write!(s, "; clients={}", clients.join(","));
        }
        for f in &self.faults {
            s.push_str("; ");
            s.push_str(&f.to_string());
        }
        s
    }

    /// Parses a spec string (`none`, or items separated by `;`). Host names
    /// are checked against `hosts`.
    pub fn parse(spec: &str, hosts: &Hosts) -> Result<Self, SpecError> {
        let mut plan = Self::none();
        let spec = spec.trim();
        if spec == "none" {
            return Ok(plan);
        }
        for item in spec.split(';').map(str::trim).filter(|i| !i.is_empty()) {
            match item.split_once('=') {
                Some((key, value)) => plan.parse_knob(item, key.trim(), value.trim(), hosts)?,
                None => plan.faults.push(parse_fault(item, hosts)?),
            }
        }
        if let Some(kept) = &plan.clients {
            for c in hosts.clients.iter().filter(|c| !kept.contains(c)) {
                if plan.faults.iter().any(|f| f.names(c)) {
                    return Err(SpecError::DroppedHost(c.clone()));
                }
            }
        }
        plan.faults.sort_by_key(|f| f.at);
        Ok(plan)
    }

    /// Reads the knob item `key=value` into this plan.
    fn parse_knob(
        &mut self,
        item: &str,
        key: &str,
        value: &str,
        hosts: &Hosts,
    ) -> Result<(), SpecError> {
        let bad = |why: &str| bad_item(item, why);
        match key {
            "latency" => {
                let v = value.strip_suffix("ms").unwrap_or(value);
                let (lo, hi) = v
                    .split_once("..")
                    .ok_or_else(|| bad("expected MIN..MAXms"))?;
                self.knobs.min_latency_ms = lo.trim().parse().map_err(|_| bad("bad minimum"))?;
                self.knobs.max_latency_ms = hi.trim().parse().map_err(|_| bad("bad maximum"))?;
                if self.knobs.max_latency_ms < self.knobs.min_latency_ms {
                    return Err(bad("maximum below minimum"));
                }
            }
            "repair" => {
                let r: f64 = value.parse().map_err(|_| bad("expected a probability"))?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(bad("expected a probability in 0..=1"));
                }
                self.knobs.repair_rate = r;
            }
            "order" => {
                self.knobs.random_order = match value {
                    "random" => true,
                    "fixed" => false,
                    _ => return Err(bad("expected random or fixed")),
                }
            }
            "clients" => self.clients = Some(parse_clients(item, value, hosts)?),
            _ => return Err(bad("unknown knob (latency, repair, order, clients)")),
        }
        Ok(())
    }
}

fn bad_item(item: &str, why: &str) -> SpecError {
    SpecError::Item {
        item: item.to_owned(),
        why: why.to_owned(),
    }
}

/// The knobs of a swarm plan.
fn draw_knobs(rng: &mut SmallRng) -> Knobs {
    let min = rng.random_range(0..=5u64);
    let spread = [2u64, 10, 40, 120][rng.random_range(0..4usize)];
    Knobs {
        min_latency_ms: min,
        max_latency_ms: min + spread,
        repair_rate: f64::from(rng.random_range(10..=100u32)) / 100.0,
        random_order: rng.random_bool(0.5),
    }
}

/// One swarm fault of one of `kinds` (0 partition, 1 one-way, 2 hold,
/// 3 loss, 4 crash, 5 bounce), aimed at a server (any host when there is
/// none) and, for link faults, one other host.
fn draw_fault(rng: &mut SmallRng, kinds: &[u8], hosts: &Hosts, all: &[&str]) -> Fault {
    let at = Duration::from_millis(rng.random_range(200..=5_000u64));
    let dur = Duration::from_millis(rng.random_range(100..=3_000u64));
    let targets: Vec<&str> = match hosts.servers.is_empty() {
        true => all.to_vec(),
        false => hosts.servers.iter().map(String::as_str).collect(),
    };
    let server = targets[rng.random_range(0..targets.len())].to_owned();
    let others: Vec<&str> = all.iter().copied().filter(|h| *h != server).collect();
    let peer = match others.is_empty() {
        true => String::new(), // only drawn kinds without a peer remain
        false => others[rng.random_range(0..others.len())].to_owned(),
    };
    let kind = match kinds[rng.random_range(0..kinds.len())] {
        0 => FaultKind::Partition { a: server, b: peer },
        1 if rng.random_bool(0.5) => FaultKind::Oneway {
            from: server,
            to: peer,
        },
        1 => FaultKind::Oneway {
            from: peer,
            to: server,
        },
        2 => FaultKind::Hold { a: server, b: peer },
        3 => FaultKind::Loss {
            fail_rate: f64::from(rng.random_range(1..=30u32)) / 1000.0,
        },
        4 => FaultKind::Crash { host: server },
        _ => FaultKind::Bounce { host: server },
    };
    let dur = if kind.is_instant() {
        Duration::ZERO
    } else {
        dur
    };
    Fault { at, dur, kind }
}

/// The swarm's pauses, from their own RNG stream: switched on for half the
/// seeds, then one or two, of any host.
fn draw_pauses(seed: u64, all: &[&str]) -> Vec<Fault> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x5041_5553_4521_0002);
    if all.is_empty() || !rng.random_bool(0.5) {
        return Vec::new();
    }
    (0..rng.random_range(1..=2usize))
        .map(|_| Fault {
            at: Duration::from_millis(rng.random_range(200..=5_000u64)),
            dur: Duration::from_millis(rng.random_range(100..=3_000u64)),
            kind: FaultKind::Pause {
                host: all[rng.random_range(0..all.len())].to_owned(),
            },
        })
        .collect()
}

/// The clients listed by `clients=`, checked, in the scenario's order.
fn parse_clients(item: &str, value: &str, hosts: &Hosts) -> Result<Vec<String>, SpecError> {
    let mut kept = Vec::new();
    for c in value.split(',').map(str::trim) {
        if !hosts.clients.iter().any(|x| x == c) {
            return Err(if hosts.all().any(|x| x == c) {
                bad_item(item, "only clients can be listed")
            } else {
                SpecError::UnknownHost(c.to_owned())
            });
        }
        if kept.iter().any(|x| x == c) {
            return Err(bad_item(item, "a client is listed twice"));
        }
        kept.push(c.to_owned());
    }
    // The scenario's order, so the spec prints back the same.
    kept.sort_by_key(|c| hosts.clients.iter().position(|x| x == c));
    Ok(kept)
}

/// Parses a fault item, `name(args)@time[+duration]`.
fn parse_fault(item: &str, hosts: &Hosts) -> Result<Fault, SpecError> {
    let bad = |why: &str| bad_item(item, why);
    let (call, when) = item
        .split_once('@')
        .ok_or_else(|| bad("expected fault(args)@time"))?;
    let (fault, args) = call
        .trim()
        .strip_suffix(')')
        .and_then(|c| c.split_once('('))
        .ok_or_else(|| bad("expected fault(args)"))?;
    let (at, dur) = match when.split_once('+') {
        Some((a, d)) => (
            parse_ms(a).ok_or_else(|| bad("bad time"))?,
            Some(parse_ms(d).ok_or_else(|| bad("bad duration"))?),
        ),
        None => (parse_ms(when).ok_or_else(|| bad("bad time"))?, None),
    };
    let kind = parse_kind(item, fault.trim(), args, hosts)?;
    let dur = match (kind.is_instant(), dur) {
        (true, None) => Duration::ZERO,
        (true, Some(_)) => return Err(bad(&format!("{} takes no duration", kind.name()))),
        (false, Some(d)) => d,
        (false, None) => return Err(bad("expected @time+duration")),
    };
    Ok(Fault { at, dur, kind })
}

/// The fault called `fault` with arguments `args`.
fn parse_kind(item: &str, fault: &str, args: &str, hosts: &Hosts) -> Result<FaultKind, SpecError> {
    let bad = |why: &str| bad_item(item, why);
    let host = |h: &str| -> Result<String, SpecError> {
        let h = h.trim();
        match hosts.all().any(|x| x == h) {
            true => Ok(h.to_owned()),
            false => Err(SpecError::UnknownHost(h.to_owned())),
        }
    };
    let pair = |sep: char| -> Result<(String, String), SpecError> {
        let (a, b) = args
            .split_once(sep)
            .ok_or_else(|| bad(&format!("expected two hosts separated by `{sep}`")))?;
        let (a, b) = (host(a)?, host(b)?);
        if a == b {
            return Err(bad("a host cannot be cut from itself"));
        }
        Ok((a, b))
    };
    let server = || -> Result<String, SpecError> {
        let h = host(args)?;
        match hosts.servers.contains(&h) {
            true => Ok(h),
            false => Err(bad("only servers can crash or bounce")),
        }
    };
    Ok(match fault {
        name::PARTITION => {
            let (a, b) = pair(',')?;
            FaultKind::Partition { a, b }
        }
        name::ONEWAY => {
            let (from, to) = pair('>')?;
            FaultKind::Oneway { from, to }
        }
        name::HOLD => {
            let (a, b) = pair(',')?;
            FaultKind::Hold { a, b }
        }
        name::LOSS => {
            let r: f64 = args
                .trim()
                .parse()
                .map_err(|_| bad("expected loss(RATE)"))?;
            if !(0.0..=1.0).contains(&r) {
                return Err(bad("expected a rate in 0..=1"));
            }
            FaultKind::Loss { fail_rate: r }
        }
        name::CRASH => FaultKind::Crash { host: server()? },
        name::BOUNCE => FaultKind::Bounce { host: server()? },
        name::PAUSE => FaultKind::Pause { host: host(args)? },
        _ => {
            return Err(bad(&format!("unknown fault ({})", name::ALL.join(", "))));
        }
    })
}

fn parse_ms(s: &str) -> Option<Duration> {
    let s = s.trim();
    if let Some(v) = s.strip_suffix("ms") {
        return v.trim().parse().ok().map(Duration::from_millis);
    }
    if let Some(v) = s.strip_suffix('s') {
        let secs: f64 = v.trim().parse().ok()?;
        return (secs.is_finite() && secs >= 0.0)
            .then(|| Duration::from_millis((secs * 1000.0).round() as u64));
    }
    s.parse().ok().map(Duration::from_millis)
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.kind.name())?;
        match &self.kind {
            FaultKind::Partition { a, b } | FaultKind::Hold { a, b } => write!(f, "{a},{b}")?,
            FaultKind::Oneway { from, to } => write!(f, "{from}>{to}")?,
            FaultKind::Loss { fail_rate } => write!(f, "{fail_rate}")?,
            FaultKind::Crash { host } | FaultKind::Bounce { host } | FaultKind::Pause { host } => {
                write!(f, "{host}")?;
            }
        }
        write!(f, ")@{}ms", ms(self.at))?;
        if !self.kind.is_instant() {
            write!(f, "+{}ms", ms(self.dur))?;
        }
        Ok(())
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partition(a, b) => write!(f, "partition {a} | {b}"),
            Self::Repair(a, b) => write!(f, "repair {a} | {b}"),
            Self::PartitionOneway(a, b) => write!(f, "partition {a} > {b}"),
            Self::RepairOneway(a, b) => write!(f, "repair {a} > {b}"),
            Self::Hold(a, b) => write!(f, "hold {a} | {b}"),
            Self::Release(a, b) => write!(f, "release {a} | {b}"),
            Self::LossOn(r) => write!(f, "loss {r}"),
            Self::LossOff => write!(f, "loss off"),
            Self::Crash(h) => write!(f, "crash {h}"),
            Self::Restart(h) => write!(f, "restart {h}"),
            Self::Bounce(h) => write!(f, "bounce {h}"),
            Self::Pause(h) => write!(f, "pause {h}"),
            Self::Resume(h) => write!(f, "resume {h}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts() -> Hosts {
        Hosts {
            servers: vec!["server".into()],
            clients: vec!["client-1".into(), "client-2".into()],
        }
    }

    #[test]
    fn swarm_plans_round_trip_through_their_spec() {
        for seed in 0..500 {
            let plan = FaultPlan::swarm(seed, &hosts());
            let back = FaultPlan::parse(&plan.to_spec(), &hosts());
            assert_eq!(back.as_ref(), Ok(&plan), "seed {seed}: {}", plan.to_spec());
        }
    }

    #[test]
    fn bad_specs_are_typed_errors() {
        let h = hosts();
        assert_eq!(
            FaultPlan::parse("crash(nobody)@1ms+1ms", &h),
            Err(SpecError::UnknownHost("nobody".into()))
        );
        for bad in [
            "partition(server)@1ms+2ms",
            "crash(client-1)@1ms+1ms",
            "bounce(server)@1ms+2ms",
            "latency=5..1ms",
            "loss(2)@1ms+1ms",
            "wat",
            "hold(server,client-1)@1ms",
        ] {
            assert!(FaultPlan::parse(bad, &h).is_err(), "{bad} parsed");
        }
        assert_eq!(FaultPlan::parse("none", &h), Ok(FaultPlan::none()));
        assert_eq!(
            FaultPlan::parse("clients=client-1; hold(server,client-2)@1ms+1ms", &h),
            Err(SpecError::DroppedHost("client-2".into()))
        );
        for bad in ["clients=server", "clients=client-1,client-1"] {
            assert!(FaultPlan::parse(bad, &h).is_err(), "{bad} parsed");
        }
        assert_eq!(
            FaultPlan::parse("clients=nobody", &h),
            Err(SpecError::UnknownHost("nobody".into()))
        );
    }

    #[test]
    fn pauses_parse_print_and_become_pause_resume_events() {
        let h = hosts();
        let plan = FaultPlan::parse("pause(client-2)@1s+500ms", &h).expect("parses");
        assert_eq!(
            plan.faults[0].kind,
            FaultKind::Pause {
                host: "client-2".into()
            }
        );
        assert!(plan.to_spec().ends_with("pause(client-2)@1000ms+500ms"));
        let events: Vec<String> = plan.events().iter().map(|e| e.kind.to_string()).collect();
        assert_eq!(events, ["pause client-2", "resume client-2"]);
        for bad in [
            "pause(client-2)@1ms",
            "pause(nobody)@1ms+1ms",
            "pause()@1ms+1ms",
        ] {
            assert!(FaultPlan::parse(bad, &h).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn swarm_draws_pauses_of_every_kind_of_host() {
        let paused: std::collections::BTreeSet<String> = (0..200)
            .flat_map(|seed| FaultPlan::swarm(seed, &hosts()).faults)
            .filter_map(|f| match f.kind {
                FaultKind::Pause { host } => Some(host),
                _ => None,
            })
            .collect();
        assert_eq!(
            paused.into_iter().collect::<Vec<_>>(),
            ["client-1", "client-2", "server"]
        );
    }

    /// Hosts without a server, or a single host: no panic, and only the
    /// faults those hosts can take.
    #[test]
    fn swarm_handles_any_hosts() {
        let peers = Hosts {
            servers: vec![],
            clients: vec!["a".into(), "b".into()],
        };
        let alone = Hosts {
            servers: vec!["s".into()],
            clients: vec![],
        };
        for seed in 0..300 {
            for f in FaultPlan::swarm(seed, &peers).faults {
                assert!(
                    !matches!(f.kind, FaultKind::Crash { .. } | FaultKind::Bounce { .. }),
                    "seed {seed}: {f}"
                );
            }
            for f in FaultPlan::swarm(seed, &alone).faults {
                assert!(
                    matches!(
                        f.kind,
                        FaultKind::Loss { .. }
                            | FaultKind::Crash { .. }
                            | FaultKind::Bounce { .. }
                            | FaultKind::Pause { .. }
                    ),
                    "seed {seed}: {f}"
                );
            }
        }
        let none = Hosts {
            servers: vec![],
            clients: vec![],
        };
        assert_eq!(FaultPlan::swarm(1, &none).faults, []);
    }

    #[test]
    fn leaving_a_client_out_drops_its_faults_and_round_trips() {
        let h = hosts();
        let plan = FaultPlan::parse(
            "partition(server,client-1)@1ms+5ms; loss(0.1)@2ms+5ms; oneway(client-2>server)@3ms+5ms",
            &h,
        )
        .expect("parses");
        let less = plan.without_client("client-2", &h);
        assert_eq!(less.faults.len(), 2);
        assert_eq!(less.hosts(&h).clients, vec!["client-1".to_owned()]);
        assert!(
            less.to_spec().contains("clients=client-1;"),
            "{}",
            less.to_spec()
        );
        assert_eq!(FaultPlan::parse(&less.to_spec(), &h), Ok(less));
        // Listed out of order, printed in the scenario's order.
        let both = FaultPlan::parse("clients=client-2,client-1", &h).expect("parses");
        assert!(both.to_spec().ends_with("clients=client-1,client-2"));
    }
}
