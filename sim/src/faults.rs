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
//! crash(server)@4000ms+1500ms; bounce(server)@7000ms
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
            FaultKind::Crash { host: h } | FaultKind::Bounce { host: h } => h == host,
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
    /// and the hosts.
    pub fn swarm(seed: u64, hosts: &Hosts) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5357_4152_4d21_0001);
        let min = rng.random_range(0..=5u64);
        let spread = [2u64, 10, 40, 120][rng.random_range(0..4usize)];
        let knobs = Knobs {
            min_latency_ms: min,
            max_latency_ms: min + spread,
            repair_rate: f64::from(rng.random_range(10..=100u32)) / 100.0,
            random_order: rng.random_bool(0.5),
        };
        // Swarm: each kind is switched on for this seed with probability 1/2.
        let kinds: Vec<u8> = (0..6u8).filter(|_| rng.random_bool(0.5)).collect();
        let mut faults = Vec::new();
        let count = if kinds.is_empty() {
            0
        } else {
            rng.random_range(1..=4usize)
        };
        let servers = &hosts.servers;
        let all: Vec<&str> = hosts.all().collect();
        for _ in 0..count {
            let at = Duration::from_millis(rng.random_range(200..=5_000u64));
            let dur = Duration::from_millis(rng.random_range(100..=3_000u64));
            let server = servers[rng.random_range(0..servers.len())].clone();
            let others: Vec<&str> = all.iter().copied().filter(|h| *h != server).collect();
            let peer = others[rng.random_range(0..others.len())].to_owned();
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
            let dur = if matches!(kind, FaultKind::Bounce { .. }) {
                Duration::ZERO
            } else {
                dur
            };
            faults.push(Fault { at, dur, kind });
        }
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
            let bad = |why: &str| SpecError::Item {
                item: item.to_owned(),
                why: why.to_owned(),
            };
            if let Some((key, value)) = item.split_once('=') {
                let value = value.trim();
                match key.trim() {
                    "latency" => {
                        let v = value.strip_suffix("ms").unwrap_or(value);
                        let (lo, hi) = v
                            .split_once("..")
                            .ok_or_else(|| bad("expected MIN..MAXms"))?;
                        plan.knobs.min_latency_ms =
                            lo.trim().parse().map_err(|_| bad("bad minimum"))?;
                        plan.knobs.max_latency_ms =
                            hi.trim().parse().map_err(|_| bad("bad maximum"))?;
                        if plan.knobs.max_latency_ms < plan.knobs.min_latency_ms {
                            return Err(bad("maximum below minimum"));
                        }
                    }
                    "repair" => {
                        let r: f64 = value.parse().map_err(|_| bad("expected a probability"))?;
                        if !(0.0..=1.0).contains(&r) {
                            return Err(bad("expected a probability in 0..=1"));
                        }
                        plan.knobs.repair_rate = r;
                    }
                    "order" => {
                        plan.knobs.random_order = match value {
                            "random" => true,
                            "fixed" => false,
                            _ => return Err(bad("expected random or fixed")),
                        }
                    }
                    "clients" => {
                        let mut kept = Vec::new();
                        for c in value.split(',').map(str::trim) {
                            if !hosts.clients.iter().any(|x| x == c) {
                                return Err(if hosts.all().any(|x| x == c) {
                                    bad("only clients can be listed")
                                } else {
                                    SpecError::UnknownHost(c.to_owned())
                                });
                            }
                            if kept.iter().any(|x| x == c) {
                                return Err(bad("a client is listed twice"));
                            }
                            kept.push(c.to_owned());
                        }
                        // The scenario's order, so the spec prints back the same.
                        kept.sort_by_key(|c| hosts.clients.iter().position(|x| x == c));
                        plan.clients = Some(kept);
                    }
                    _ => return Err(bad("unknown knob (latency, repair, order, clients)")),
                }
                continue;
            }
            let (call, when) = item
                .split_once('@')
                .ok_or_else(|| bad("expected fault(args)@time"))?;
            let (name, args) = call
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
            let host = |h: &str| -> Result<String, SpecError> {
                let h = h.trim();
                if hosts.all().any(|x| x == h) {
                    Ok(h.to_owned())
                } else {
                    Err(SpecError::UnknownHost(h.to_owned()))
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
            let kind = match name.trim() {
                "partition" => {
                    let (a, b) = pair(',')?;
                    FaultKind::Partition { a, b }
                }
                "oneway" => {
                    let (from, to) = pair('>')?;
                    FaultKind::Oneway { from, to }
                }
                "hold" => {
                    let (a, b) = pair(',')?;
                    FaultKind::Hold { a, b }
                }
                "loss" => {
                    let r: f64 = args
                        .trim()
                        .parse()
                        .map_err(|_| bad("expected loss(RATE)"))?;
                    if !(0.0..=1.0).contains(&r) {
                        return Err(bad("expected a rate in 0..=1"));
                    }
                    FaultKind::Loss { fail_rate: r }
                }
                "crash" | "bounce" => {
                    let h = host(args)?;
                    if !hosts.servers.contains(&h) {
                        return Err(bad("only servers can crash or bounce"));
                    }
                    if name.trim() == "crash" {
                        FaultKind::Crash { host: h }
                    } else {
                        FaultKind::Bounce { host: h }
                    }
                }
                _ => {
                    return Err(bad(
                        "unknown fault (partition, oneway, hold, loss, crash, bounce)",
                    ));
                }
            };
            let dur = match (&kind, dur) {
                (FaultKind::Bounce { .. }, None) => Duration::ZERO,
                (FaultKind::Bounce { .. }, Some(_)) => return Err(bad("bounce takes no duration")),
                (_, Some(d)) => d,
                (_, None) => return Err(bad("expected @time+duration")),
            };
            plan.faults.push(Fault { at, dur, kind });
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
        match &self.kind {
            FaultKind::Partition { a, b } => write!(f, "partition({a},{b})")?,
            FaultKind::Oneway { from, to } => write!(f, "oneway({from}>{to})")?,
            FaultKind::Hold { a, b } => write!(f, "hold({a},{b})")?,
            FaultKind::Loss { fail_rate } => write!(f, "loss({fail_rate})")?,
            FaultKind::Crash { host } => write!(f, "crash({host})")?,
            FaultKind::Bounce { host } => write!(f, "bounce({host})")?,
        }
        write!(f, "@{}ms", ms(self.at))?;
        if !matches!(self.kind, FaultKind::Bounce { .. }) {
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
