//! Circuit breaker: closed, open, half-open with a probe limit (guide §4).
//!
//! **What.** A breaker sits in front of a dependency and stops calling it
//! while it is failing:
//!
//! - **Closed**: calls go through; `failure_threshold` consecutive failures
//!   trip it (a success resets the count).
//! - **Open**: every call is refused *without running the operation*, with
//!   the time left ([`BreakerError::Open`]'s `retry_after`), until
//!   `open_for` has passed since it tripped.
//! - **Half-open**: at most `probe_limit` calls (probes) run at once; the
//!   others are refused ([`BreakerError::ProbesBusy`]). `probe_successes`
//!   successful probes close it; any failed probe opens it again for another
//!   `open_for`.
//!
//! The core, [`Breaker`], is a pure state machine: the caller passes the
//! current [`Instant`] to every method, so a property test can drive it along
//! any timeline and a simulation gets virtual time. Admission is a value:
//! [`Breaker::try_acquire`] returns a [`Ticket`] or an error, and the
//! operation may only run with a ticket in hand; the ticket is then given back
//! with [`Breaker::on_success`], [`Breaker::on_failure`] or
//! [`Breaker::release`]. A ticket from an earlier phase (say, a call admitted
//! while closed that finishes after the breaker tripped and went half-open)
//! is stale and is ignored, so it can neither close the breaker as if it were
//! a probe nor free a probe slot it never held.
//!
//! [`CircuitBreaker`] shares a `Breaker` behind the facade's
//! [`Mutex`] (clones share it). Its [`Permit`] reports the
//! outcome with [`Permit::success`] / [`Permit::failure`]; **a permit dropped
//! without reporting (a cancelled future, an early return) counts as neither**:
//! it only releases its probe slot. [`CircuitBreaker::call`] wraps an async
//! operation, reading time from [`tokio::time::Instant::now`] (virtual under
//! tokio's paused clock and turmoil) and counting every `Err` as a failure.
//!
//! **When.** In front of a remote dependency whose failures are slow (timeouts)
//! or whose overload is made worse by traffic: failing fast frees the caller's
//! resources and gives the dependency room to recover. With
//! [`retry`](super::retry), put the breaker inside the retry loop (every
//! attempt asks the breaker, so every failed attempt counts) and classify a
//! refusal as permanent: retrying into an open breaker only burns budget.
//!
//! **Compared to.** The guide's `CircuitBreaker::execute` still *calls the
//! operation* while open (to get an error to return: `operation().unwrap_err()`,
//! which panics if the call succeeds), so it protects nothing; it has no
//! limit on half-open probes (every caller is a probe), reads the wall clock,
//! and needs `&mut self`. `failsafe`'s `StateMachine` has the same three
//! states and the same ask-then-report shape (`is_call_permitted`, then
//! `on_success` / `on_error`), with pluggable failure policies (consecutive
//! failures, success rate over a window) and open periods that grow by
//! backoff; but it reads the clock itself, and its reports carry no ticket,
//! so a slow call admitted before a trip can close a half-open breaker when
//! it finally succeeds. tower has no breaker in the core crate. Here time
//! and outcomes are explicit, so the properties in
//! `tests/resilience_props.rs` (never admitted while open, at most
//! `probe_limit` probes, transitions equal to a reference model) run on
//! arbitrary timelines, and the guide's breaker is run through them and
//! caught.
//!
//! # Example
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
//! use std::time::Duration;
//! use heddle::resilience::circuit_breaker::{BreakerError, CircuitBreaker, Config, State};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! rt.block_on(async {
//!     let breaker = CircuitBreaker::new(Config::new(2, Duration::from_secs(30)));
//!     for _ in 0..2 {
//!         let r: Result<(), _> = breaker.call(|| async { Err("timeout") }).await;
//!         assert_eq!(r, Err(BreakerError::Failed("timeout")));
//!     }
//!     // Tripped: the operation is not run at all.
//!     let mut ran = false;
//!     let r = breaker.call(|| { ran = true; async { Ok::<_, &str>(()) } }).await;
//!     assert!(matches!(r, Err(BreakerError::Open { .. })));
//!     assert!(!ran);
//!     assert_eq!(breaker.state(tokio::time::Instant::now()), State::Open);
//! });
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::sync::{Arc, Mutex};

/// The names of the metrics the breaker records (through the `metrics`
/// facade: no exporter is forced on the user). A process with several
/// breakers sees their sum.
pub mod metric {
    /// Counter: state changes, labels [`FROM`] and [`TO`] (the
    /// [`State::name`](super::State::name)s).
    pub const TRANSITIONS: &str = "heddle_breaker_transitions_total";
    /// Counter: calls refused without running the operation, label
    /// [`REASON`] = `open` | `probes_busy`.
    pub const REJECTIONS: &str = "heddle_breaker_rejections_total";
    /// Label of [`TRANSITIONS`]: the state left.
    pub const FROM: &str = "from";
    /// Label of [`TRANSITIONS`]: the state entered.
    pub const TO: &str = "to";
    /// Label of [`REJECTIONS`].
    pub const REASON: &str = "reason";
}

/// Errors of the breaker: a refusal (the operation was not run), or the
/// operation's own error. [`Breaker::try_acquire`] uses the default
/// `E = Infallible`, whose `Failed` variant cannot occur (and need not be
/// matched).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BreakerError<E = Infallible> {
    /// The breaker is open: the operation was not run.
    #[error("circuit open: calls refused for another {retry_after:?}")]
    Open {
        /// Time left until the breaker goes half-open.
        retry_after: Duration,
    },
    /// The breaker is half-open and every probe slot is taken: the operation
    /// was not run.
    #[error("circuit half-open: all {limit} probe slot(s) are in use")]
    ProbesBusy {
        /// The configured `probe_limit`.
        limit: u32,
    },
    /// The operation ran and failed (counted as a failure).
    #[error("the operation failed")]
    Failed(#[source] E),
}

impl BreakerError {
    /// The same refusal with another error type for
    /// [`Failed`](BreakerError::Failed).
    pub fn widen<E>(self) -> BreakerError<E> {
        match self {
            Self::Open { retry_after } => BreakerError::Open { retry_after },
            Self::ProbesBusy { limit } => BreakerError::ProbesBusy { limit },
            Self::Failed(never) => match never {},
        }
    }
}

impl<E> BreakerError<E> {
    /// `true` if the operation was not run (open, or no probe slot).
    pub fn is_rejection(&self) -> bool {
        !matches!(self, Self::Failed(_))
    }
}

/// The observable state of a breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Calls go through; failures are counted.
    Closed,
    /// Calls are refused without running the operation.
    Open,
    /// A limited number of probe calls go through.
    HalfOpen,
}

impl State {
    /// `closed`, `open` or `half_open` (the metrics' label values).
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

impl Phase {
    fn state(&self) -> State {
        match self {
            Phase::Closed { .. } => State::Closed,
            Phase::Open { .. } => State::Open,
            Phase::HalfOpen { .. } => State::HalfOpen,
        }
    }
}

/// The breaker's settings.
///
/// ```
/// use std::time::Duration;
/// use heddle::resilience::circuit_breaker::Config;
///
/// let c = Config::new(5, Duration::from_secs(10)).probe_limit(2).probe_successes(3);
/// assert_eq!((c.failure_threshold, c.probe_limit, c.probe_successes), (5, 2, 3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Config {
    /// Consecutive failures that trip a closed breaker (at least 1).
    pub failure_threshold: u32,
    /// How long the breaker stays open before admitting probes.
    pub open_for: Duration,
    /// Probes admitted at once while half-open (at least 1).
    pub probe_limit: u32,
    /// Successful probes needed to close (at least 1); they may come from
    /// successive rounds of probes.
    pub probe_successes: u32,
}

impl Config {
    /// Trip after `failure_threshold` consecutive failures (0 counts as 1),
    /// stay open `open_for`, then admit 1 probe at a time and close after 1
    /// success.
    pub fn new(failure_threshold: u32, open_for: Duration) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            open_for,
            probe_limit: 1,
            probe_successes: 1,
        }
    }

    /// Admit up to `n` probes at once while half-open (0 counts as 1).
    pub fn probe_limit(mut self, n: u32) -> Self {
        self.probe_limit = n.max(1);
        self
    }

    /// Close after `n` successful probes (0 counts as 1).
    pub fn probe_successes(mut self, n: u32) -> Self {
        self.probe_successes = n.max(1);
        self
    }
}

impl Default for Config {
    /// 5 consecutive failures, open for 30 s, 1 probe.
    fn default() -> Self {
        Self::new(5, Duration::from_secs(30))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Closed { failures: u32 },
    Open { since: Instant },
    HalfOpen { in_flight: u32, successes: u32 },
}

/// Permission to run the operation once, from [`Breaker::try_acquire`].
/// Give it back with exactly one of [`Breaker::on_success`],
/// [`Breaker::on_failure`] or [`Breaker::release`].
#[must_use = "report the outcome with on_success, on_failure or release"]
#[derive(Debug, PartialEq, Eq)]
pub struct Ticket {
    generation: u64,
    probe: bool,
}

impl Ticket {
    /// `true` if this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.probe
    }
}

/// The pure breaker state machine: no clock, no lock; every method takes the
/// current time. See the [module docs](self).
///
/// Times may be passed in any order: an instant before the breaker tripped
/// counts as "no time elapsed".
///
/// ```
/// use std::time::Duration;
/// use heddle::resilience::circuit_breaker::{Breaker, BreakerError, Config, State};
/// use tokio::time::Instant;
///
/// let t0 = Instant::now();
/// let mut b = Breaker::new(Config::new(1, Duration::from_secs(5)));
/// let t = b.try_acquire(t0).unwrap();
/// b.on_failure(t, t0); // trips
/// assert_eq!(
///     b.try_acquire(t0 + Duration::from_secs(2)),
///     Err(BreakerError::Open { retry_after: Duration::from_secs(3) })
/// );
/// let probe = b.try_acquire(t0 + Duration::from_secs(5)).unwrap();
/// assert!(probe.is_probe());
/// assert!(b.try_acquire(t0 + Duration::from_secs(5)).is_err()); // 1 probe at a time
/// b.on_success(probe, t0 + Duration::from_secs(6));
/// assert_eq!(b.state(t0 + Duration::from_secs(6)), State::Closed);
/// ```
#[derive(Debug, Clone)]
pub struct Breaker {
    config: Config,
    phase: Phase,
    /// Bumped on every phase change; tickets of older generations are stale.
    generation: u64,
}

impl Breaker {
    /// A closed breaker. Zero counts in `config` are treated as 1.
    pub fn new(config: Config) -> Self {
        let config = Config {
            failure_threshold: config.failure_threshold.max(1),
            probe_limit: config.probe_limit.max(1),
            probe_successes: config.probe_successes.max(1),
            ..config
        };
        Self {
            config,
            phase: Phase::Closed { failures: 0 },
            generation: 0,
        }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The state at `now` (an open breaker whose `open_for` has passed is
    /// half-open).
    pub fn state(&self, now: Instant) -> State {
        match self.phase {
            Phase::Closed { .. } => State::Closed,
            Phase::HalfOpen { .. } => State::HalfOpen,
            Phase::Open { since } if self.open_elapsed(since, now) => State::HalfOpen,
            Phase::Open { .. } => State::Open,
        }
    }

    fn open_elapsed(&self, since: Instant, now: Instant) -> bool {
        now.saturating_duration_since(since) >= self.config.open_for
    }

    fn enter(&mut self, phase: Phase) {
        let (from, to) = (self.phase.state(), phase.state());
        if from != to {
            metrics::counter!(metric::TRANSITIONS, metric::FROM => from.name(), metric::TO => to.name())
                .increment(1);
        }
        self.phase = phase;
        self.generation = self.generation.wrapping_add(1);
    }

    /// Asks to run the operation once at `now`. Refused, without side
    /// effects, while open or when every probe slot is taken.
    pub fn try_acquire(&mut self, now: Instant) -> Result<Ticket, BreakerError> {
        match &mut self.phase {
            Phase::Closed { .. } => Ok(self.ticket(false)),
            Phase::Open { since } => {
                let elapsed = now.saturating_duration_since(*since);
                if elapsed < self.config.open_for {
                    metrics::counter!(metric::REJECTIONS, metric::REASON => "open").increment(1);
                    return Err(BreakerError::Open {
                        retry_after: self.config.open_for - elapsed,
                    });
                }
                tracing::debug!("circuit breaker half-open: admitting probes");
                self.enter(Phase::HalfOpen {
                    in_flight: 1,
                    successes: 0,
                });
                Ok(self.ticket(true))
            }
            Phase::HalfOpen { in_flight, .. } => {
                if *in_flight >= self.config.probe_limit {
                    metrics::counter!(metric::REJECTIONS, metric::REASON => "probes_busy")
                        .increment(1);
                    return Err(BreakerError::ProbesBusy {
                        limit: self.config.probe_limit,
                    });
                }
                *in_flight += 1;
                Ok(self.ticket(true))
            }
        }
    }

    fn ticket(&self, probe: bool) -> Ticket {
        Ticket {
            generation: self.generation,
            probe,
        }
    }

    /// Reports that the operation admitted by `ticket` succeeded. Closed: the
    /// failure count is reset. Half-open: one more successful probe; enough
    /// of them close the breaker. Stale tickets are ignored.
    pub fn on_success(&mut self, ticket: Ticket, _now: Instant) {
        if ticket.generation != self.generation {
            return;
        }
        match &mut self.phase {
            Phase::Closed { failures } => *failures = 0,
            Phase::HalfOpen {
                in_flight,
                successes,
            } => {
                *in_flight = in_flight.saturating_sub(1);
                *successes += 1;
                if *successes >= self.config.probe_successes {
                    tracing::info!("circuit breaker closed: probes succeeded");
                    self.enter(Phase::Closed { failures: 0 });
                }
            }
            Phase::Open { .. } => {}
        }
    }

    /// Reports that the operation admitted by `ticket` failed at `now`.
    /// Closed: one more consecutive failure; the threshold trips the breaker
    /// (open from `now`). Half-open: the breaker opens again from `now`.
    /// Stale tickets are ignored.
    pub fn on_failure(&mut self, ticket: Ticket, now: Instant) {
        if ticket.generation != self.generation {
            return;
        }
        match &mut self.phase {
            Phase::Closed { failures } => {
                *failures += 1;
                if *failures >= self.config.failure_threshold {
                    tracing::warn!(
                        failures = *failures,
                        open_for = ?self.config.open_for,
                        "circuit breaker tripped"
                    );
                    self.enter(Phase::Open { since: now });
                }
            }
            Phase::HalfOpen { .. } => {
                tracing::warn!(open_for = ?self.config.open_for, "circuit breaker probe failed: open again");
                self.enter(Phase::Open { since: now });
            }
            Phase::Open { .. } => {}
        }
    }

    /// Gives `ticket` back without an outcome (the call was abandoned): a
    /// probe frees its slot; nothing is counted.
    pub fn release(&mut self, ticket: Ticket) {
        if ticket.generation != self.generation {
            return;
        }
        if let Phase::HalfOpen { in_flight, .. } = &mut self.phase {
            *in_flight = in_flight.saturating_sub(1);
        }
    }

    /// Probes running now (0 unless half-open).
    pub fn probes_in_flight(&self) -> u32 {
        match self.phase {
            Phase::HalfOpen { in_flight, .. } => in_flight,
            _ => 0,
        }
    }
}

/// A [`Breaker`] shared by every clone, behind the facade's
/// [`Mutex`] (never held across an `await` or while the
/// operation runs).
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    inner: Arc<Mutex<Breaker>>,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: Config) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Breaker::new(config))),
        }
    }

    /// The state at `now`.
    pub fn state(&self, now: Instant) -> State {
        self.inner.lock().state(now)
    }

    /// The settings.
    pub fn config(&self) -> Config {
        *self.inner.lock().config()
    }

    /// Asks to run the operation once at `now`: see [`Breaker::try_acquire`].
    pub fn try_acquire(&self, now: Instant) -> Result<Permit, BreakerError> {
        let ticket = self.inner.lock().try_acquire(now)?;
        Ok(Permit {
            inner: Arc::clone(&self.inner),
            ticket: Some(ticket),
        })
    }

    /// Runs `op` if the breaker admits it at [`Instant::now`], and reports
    /// its outcome (every `Err` is a failure). When refused, `op` is not
    /// called. If the returned future is dropped before `op` finishes, the
    /// call counts as neither success nor failure (see [`Permit`]).
    pub async fn call<T, E, F, Fut>(&self, op: F) -> Result<T, BreakerError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self
            .try_acquire(Instant::now())
            .map_err(BreakerError::widen)?;
        match op().await {
            Ok(value) => {
                permit.success(Instant::now());
                Ok(value)
            }
            Err(error) => {
                permit.failure(Instant::now());
                Err(BreakerError::Failed(error))
            }
        }
    }
}

/// Permission to run the operation once, from
/// [`CircuitBreaker::try_acquire`]. Report with [`success`](Permit::success)
/// or [`failure`](Permit::failure). Dropping it unreported releases it: a
/// probe slot is freed and nothing is counted, so a cancelled call neither
/// trips nor closes the breaker.
#[must_use = "report the outcome with success or failure"]
#[derive(Debug)]
pub struct Permit {
    inner: Arc<Mutex<Breaker>>,
    ticket: Option<Ticket>,
}

impl Permit {
    /// `true` if this call is a half-open probe.
    pub fn is_probe(&self) -> bool {
        self.ticket.as_ref().is_some_and(Ticket::is_probe)
    }

    /// The operation succeeded at `now`.
    pub fn success(mut self, now: Instant) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.lock().on_success(ticket, now);
        }
    }

    /// The operation failed at `now`.
    pub fn failure(mut self, now: Instant) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.lock().on_failure(ticket, now);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(ticket) = self.ticket.take() {
            self.inner.lock().release(ticket);
        }
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn stale_ticket_from_closed_phase_is_not_a_probe() {
        let t0 = Instant::now();
        let mut b = Breaker::new(Config::new(1, secs(1)));
        let slow = b.try_acquire(t0).unwrap();
        let fast = b.try_acquire(t0).unwrap();
        b.on_failure(fast, t0);
        let probe = b.try_acquire(t0 + secs(1)).unwrap();
        // The slow closed-phase call finishing now must not close the breaker.
        b.on_success(slow, t0 + secs(1));
        assert_eq!(b.state(t0 + secs(1)), State::HalfOpen);
        assert_eq!(b.probes_in_flight(), 1);
        b.on_success(probe, t0 + secs(1));
        assert_eq!(b.state(t0 + secs(1)), State::Closed);
    }

    #[test]
    fn probe_failure_reopens_from_now() {
        let t0 = Instant::now();
        let mut b = Breaker::new(Config::new(1, secs(10)).probe_limit(2));
        let t = b.try_acquire(t0).unwrap();
        b.on_failure(t, t0);
        let p1 = b.try_acquire(t0 + secs(10)).unwrap();
        let p2 = b.try_acquire(t0 + secs(10)).unwrap();
        assert!(b.try_acquire(t0 + secs(10)).is_err());
        b.on_failure(p1, t0 + secs(12));
        b.on_success(p2, t0 + secs(13)); // stale now
        assert_eq!(
            b.try_acquire(t0 + secs(13)),
            Err(BreakerError::Open {
                retry_after: secs(9)
            })
        );
        assert_eq!(b.state(t0 + secs(22)), State::HalfOpen);
    }

    #[test]
    fn success_resets_consecutive_failures() {
        let t0 = Instant::now();
        let mut b = Breaker::new(Config::new(2, secs(1)));
        for _ in 0..5 {
            let f = b.try_acquire(t0).unwrap();
            b.on_failure(f, t0);
            let s = b.try_acquire(t0).unwrap();
            b.on_success(s, t0);
        }
        assert_eq!(b.state(t0), State::Closed);
    }

    #[test]
    fn dropped_permit_releases_probe_slot() {
        let t0 = Instant::now();
        let cb = CircuitBreaker::new(Config::new(1, Duration::ZERO));
        cb.try_acquire(t0).unwrap().failure(t0);
        let p = cb.try_acquire(t0).unwrap();
        assert!(p.is_probe());
        assert!(matches!(
            cb.try_acquire(t0),
            Err(BreakerError::ProbesBusy { limit: 1 })
        ));
        drop(p);
        assert_eq!(cb.state(t0), State::HalfOpen);
        cb.try_acquire(t0).unwrap().success(t0);
        assert_eq!(cb.state(t0), State::Closed);
    }
}
