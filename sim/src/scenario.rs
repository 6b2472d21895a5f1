//! The [`Scenario`] API: what a distributed pattern must say so that the
//! runner can build it on a `turmoil::Sim`, inject faults into it, and judge
//! it.
//!
//! A scenario is one file under `src/scenarios/` and one line in
//! [`crate::scenarios::ALL`]. It names its hosts (servers, which faults may
//! target, and clients, which run the workload), lists its variants (the
//! correct one first, then deliberately broken ones), registers its software
//! on the simulation in [`Scenario::build`], and returns the [`Invariants`]
//! that judge the recorded history. The liveness phase is declared, not
//! coded: once every fault has healed, each client must complete
//! [`Liveness::ops_per_client`] operations within [`Liveness::within`] of
//! simulated time, and the runner checks that from the history.
//!
//! Everything a scenario's software does must be a function of the seed:
//! time only through `tokio::time`, randomness only from
//! [`Ctx::rng`], no `HashMap` iteration, and `tokio::select!` with `biased;`.
//!
//! `src/scenarios/echo.rs` is the example to copy.

use crate::record::{OpRecord, Recorder};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::time::Duration;

/// A named variant of a scenario: the correct software, or a deliberately
/// broken one that the runner must catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variant {
    /// Name used on the command line after `scenario:`.
    pub name: &'static str,
    /// What this variant changes (for a broken one: what it breaks).
    pub about: &'static str,
    /// Whether a sweep of this variant is expected to find a violation.
    pub expect_violation: bool,
}

/// The hosts of a scenario, by role. Any number of each: a client–server
/// pattern has one server, a replicated one (Raft, a cache ring) several
/// peers, a lock scenario a lock server and a resource server.
///
/// Link faults (partition, one-way, hold), pauses and loss may target any
/// host; crashes and bounces only `servers` (turmoil restarts a host's
/// software, not a client's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hosts {
    /// Hosts running server or peer software (registered with
    /// `Sim::host`): faults may also crash or bounce them.
    pub servers: Vec<String>,
    /// Hosts running the workload (registered with `Sim::client`): the
    /// simulation ends when they all return.
    pub clients: Vec<String>,
}

impl Hosts {
    /// Hosts with these servers (or peers) and clients, in this order.
    ///
    /// ```
    /// use heddle_sim::scenario::Hosts;
    /// let h = Hosts::new(["lock", "resource"], ["client-1", "client-2"]);
    /// assert_eq!(h.all().collect::<Vec<_>>(), ["lock", "resource", "client-1", "client-2"]);
    /// ```
    pub fn new<S: Into<String>, C: Into<String>>(
        servers: impl IntoIterator<Item = S>,
        clients: impl IntoIterator<Item = C>,
    ) -> Self {
        Self {
            servers: servers.into_iter().map(Into::into).collect(),
            clients: clients.into_iter().map(Into::into).collect(),
        }
    }

    /// One host `server` and clients `client-1` to `client-{clients}`: the
    /// shape of a client–server scenario.
    pub fn server_and_clients(clients: usize) -> Self {
        Self {
            servers: vec!["server".into()],
            clients: (1..=clients).map(|i| format!("client-{i}")).collect(),
        }
    }

    /// Every host, servers first.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        self.servers
            .iter()
            .chain(self.clients.iter())
            .map(String::as_str)
    }
}

/// The liveness phase: after every fault has healed (time `heal_at`), each
/// client must complete `ops_per_client` successful operations within
/// `within` of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// Successful operations each client must complete after the heal.
    pub ops_per_client: usize,
    /// The simulated-time bound, counted from the heal.
    pub within: Duration,
}

/// A broken invariant, as returned by [`Invariants`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Violation {
    /// The invariant's name (stable: shrinking keeps a schedule only while
    /// it still breaks the invariant of this name).
    pub invariant: String,
    /// What happened, for a human.
    pub detail: String,
    /// The operation that shows it, if one does (highlighted in the views).
    pub op: Option<u64>,
}

impl Violation {
    /// A violation of `invariant`.
    pub fn new(invariant: impl Into<String>, detail: impl Into<String>, op: Option<u64>) -> Self {
        Self {
            invariant: invariant.into(),
            detail: detail.into(),
            op,
        }
    }
}

/// The safety checks of one run, built by [`Scenario::build`].
pub trait Invariants {
    /// Called after every simulation step with the operations recorded
    /// during it (invocations and completions, in order). Returning a
    /// violation stops the run.
    fn check_during(&mut self, new: &[OpRecord]) -> Option<Violation>;

    /// Called once when the run ends (all clients returned, or the liveness
    /// bound passed), with the whole history. A scenario that records its
    /// operations as values of a [`heddle::check::history::Model`]'s types
    /// with a [`crate::record::TypedRecorder`] checks their typed history
    /// for linearizability here with [`crate::linearizable::check`] (see
    /// `scenarios/kv.rs`).
    fn check_end(&mut self, history: &[OpRecord]) -> Option<Violation> {
        let _ = history;
        None
    }
}

/// What a scenario's [`Scenario::build`] is handed for one run.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// The run's seed.
    pub seed: u64,
    /// The variant to build (one of [`Scenario::variants`]).
    pub variant: &'static str,
    /// The hosts of this run: [`Scenario::hosts`], less the clients the
    /// fault plan leaves out (shrinking drops clients). Build these clients.
    pub hosts: Hosts,
    /// Simulated time at which every scheduled fault has healed. Clients
    /// keep working at least until then, and until they have completed the
    /// liveness phase's operations after it.
    pub heal_at: Duration,
    /// The liveness phase the runner will check.
    pub liveness: Liveness,
    /// Records operations (invoke/complete) into the trace and the history.
    pub recorder: Recorder,
}

impl Ctx {
    /// A seeded RNG for `purpose` (e.g. a client's name): a pure function of
    /// the run's seed and `purpose`, independent of turmoil's own RNG.
    pub fn rng(&self, purpose: &str) -> SmallRng {
        SmallRng::seed_from_u64(self.seed ^ crate::fnv64(purpose.as_bytes()))
    }
}

/// A distributed pattern under simulation.
///
/// Implement it in one file, add one line to [`crate::scenarios::ALL`], and
/// `heddle-sim list | run | sweep` know it.
pub trait Scenario: Sync {
    /// Short name used on the command line (`echo`, `rpc`).
    fn name(&self) -> &'static str;

    /// One line: what the scenario checks.
    fn about(&self) -> &'static str;

    /// The variants; the first is the correct one, run by `sweep all`.
    fn variants(&self) -> &'static [Variant];

    /// The hosts: servers (fault targets) and clients (the workload).
    fn hosts(&self) -> Hosts;

    /// The fewest clients the scenario still checks something with:
    /// shrinking may leave clients out down to this many. Default: every
    /// client (none is left out).
    fn min_clients(&self) -> usize {
        self.hosts().clients.len()
    }

    /// The liveness phase.
    fn liveness(&self) -> Liveness;

    /// Registers every server and the clients of `ctx.hosts` (which may be
    /// fewer than [`Scenario::hosts`]) on `sim` for `ctx.variant`, and
    /// returns the invariants that judge the run. Called inside the runner's
    /// trace capture, once per run.
    fn build(&self, sim: &mut turmoil::Sim<'static>, ctx: &Ctx) -> Box<dyn Invariants>;

    /// The variant called `name`.
    fn variant(&self, name: &str) -> Option<&'static Variant> {
        self.variants().iter().find(|v| v.name == name)
    }

    /// The default (correct) variant.
    fn default_variant(&self) -> &'static Variant {
        &self.variants()[0]
    }
}
