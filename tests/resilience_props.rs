//! Properties of the resilience patterns (guide §4 and §6), and the guide's
//! defects caught by them.
//!
//! Retry:
//! - backoff delays never exceed `cap` nor `base·2^attempt`, for every
//!   `attempt` up to `u32::MAX` and every `base`/`cap` (no overflow, no
//!   panic), and the ceiling is exactly `min(cap, base·2^attempt)`;
//! - full jitter covers `[0, ceiling]` evenly (deciles of 2,000 seeded
//!   draws; the runner's seed is fixed, so this is deterministic);
//! - the retry budget never goes negative nor above its capacity, grants
//!   at most `max_tokens + ratio·successes` retries, and refuses only when
//!   less than one token is left;
//! - the async driver (paused tokio clock) makes at most `max_attempts`
//!   calls, sleeps exactly the seeded jittered delays (to the timer's 1 ms
//!   resolution), never sleeps after the last attempt, stops at once on a
//!   permanent error and when the budget is empty.
//!
//! Circuit breaker, for arbitrary configurations and sequences of (advance
//! time, acquire, report success / failure / abandon):
//! - no call is admitted while the breaker reports itself open;
//! - at most `probe_limit` probes are in flight during a half-open episode;
//! - every admission decision and every state equals a small reference model
//!   (eager transitions, millisecond clock), so "open" means what the rules
//!   say;
//! - `CircuitBreaker::call` never runs the operation while open, limits
//!   concurrent probes, and a cancelled call frees its probe slot.
//!
//! Broken variants (the DEVELOPERS rule: every property fails on one): the
//! guide's `100 * 2^attempt` backoff, a capped but naive `base * 2^attempt`,
//! a jitter-free backoff, no budget, a budget that spends fractions, the
//! guide's breaker (calls the operation while open), a breaker with no probe
//! limit and one that accepts stale tickets. Each is run through the same
//! property with proptest's `TestRunner` (fixed seed) and the run must fail
//! with the property's message.

#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use std::fmt::Debug;
use std::time::Duration;

use heddle::resilience::circuit_breaker::{
    Breaker, BreakerError, CircuitBreaker, Config, State, Ticket,
};
use heddle::resilience::retry::{
    Backoff, Classification, Policy, RetryBudget, RetryError, TokenBucket, retry,
};
use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestError};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;

/// Runs `property` over `strategy` with a fixed seed and asserts that it
/// fails with a message containing `expected`. Prints the minimal
/// counterexample (visible with `--nocapture`).
fn assert_caught<S>(
    name: &str,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
    expected: &str,
) where
    S: Strategy,
    S::Value: Debug,
{
    let mut runner = common::deterministic_runner(512);
    match runner.run(&strategy, property) {
        Err(TestError::Fail(reason, input)) => {
            let message = reason.message();
            assert!(
                message.contains(expected),
                "{name}: caught, but for another reason: {message}"
            );
            eprintln!("{name}: caught: {message}\n  minimal input: {input:?}");
        }
        Err(TestError::Abort(reason)) => panic!("{name}: run aborted: {reason}"),
        Ok(()) => panic!("{name}: the property did not catch the broken variant"),
    }
}

/// Fixed-seed configuration for the statistical properties.
fn seeded(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(0x5EED),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------- backoff --

/// A delay function under test: heddle's, or a broken one.
type DelayFn = fn(&Backoff, u32, &mut SmallRng) -> Duration;

fn heddle_delay(b: &Backoff, attempt: u32, rng: &mut SmallRng) -> Duration {
    b.delay(attempt, rng)
}

/// Guide §6 as written: `100 * 2u64.pow(attempts)` milliseconds. No cap, no
/// jitter, ignores `base`, and overflows from attempt 58.
fn guide_delay(_: &Backoff, attempt: u32, _: &mut SmallRng) -> Duration {
    Duration::from_millis(100 * 2u64.pow(attempt))
}

/// The guide's formula with `base` and `cap`, in plain arithmetic: capped,
/// but `2u32.pow` and `Duration * u32` overflow.
fn naive_capped_delay(b: &Backoff, attempt: u32, _: &mut SmallRng) -> Duration {
    (b.base * 2u32.pow(attempt)).min(b.cap)
}

/// The right ceiling, without jitter: every client waits the same time.
fn no_jitter_delay(b: &Backoff, attempt: u32, _: &mut SmallRng) -> Duration {
    b.ceiling(attempt)
}

/// `base·2^attempt` in nanoseconds, or `None` if it exceeds `u128::MAX`
/// (computed differently from heddle: a checked multiplication).
fn exact_exp_nanos(base: Duration, attempt: u32) -> Option<u128> {
    let base = base.as_nanos();
    if base == 0 {
        return Some(0);
    }
    base.checked_mul(1u128.checked_shl(attempt)?)
}

/// `min(cap, base·2^attempt)` in nanoseconds.
fn expected_ceiling(b: &Backoff, attempt: u32) -> u128 {
    exact_exp_nanos(b.base, attempt).map_or(b.cap.as_nanos(), |e| e.min(b.cap.as_nanos()))
}

fn any_duration() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0u64..=1_000_000_000).prop_map(Duration::from_nanos),
        (0u64..=3_600_000).prop_map(Duration::from_millis),
        (any::<u64>(), 0u32..1_000_000_000).prop_map(|(s, n)| Duration::new(s, n)),
        Just(Duration::ZERO),
        Just(Duration::MAX),
    ]
}

fn any_attempt() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..200, any::<u32>(), Just(u32::MAX)]
}

type BoundedCase = (Duration, Duration, u32, u64);

fn bounded_case() -> impl Strategy<Value = BoundedCase> {
    (any_duration(), any_duration(), any_attempt(), any::<u64>())
}

/// Property: a delay is at most `cap` and at most `base·2^attempt`.
fn delay_is_bounded(
    f: DelayFn,
    (base, cap, attempt, seed): BoundedCase,
) -> Result<(), TestCaseError> {
    let b = Backoff::new(base, cap);
    let mut rng = SmallRng::seed_from_u64(seed);
    let d = f(&b, attempt, &mut rng);
    prop_assert!(
        d <= cap,
        "delay {d:?} exceeds the cap {cap:?} (attempt {attempt})"
    );
    if let Some(e) = exact_exp_nanos(base, attempt) {
        prop_assert!(
            d.as_nanos() <= e,
            "delay {d:?} exceeds base·2^attempt = {e} ns (attempt {attempt})"
        );
    }
    Ok(())
}

type JitterCase = (Duration, Duration, u32, u64);

/// Ceilings of at least 1 µs, so that deciles are meaningful.
fn jitter_case() -> impl Strategy<Value = JitterCase> {
    (
        (1_000u64..=3_600_000_000_000).prop_map(Duration::from_nanos),
        (1_000u64..=3_600_000_000_000).prop_map(Duration::from_nanos),
        0u32..80,
        any::<u64>(),
    )
}

const DRAWS: usize = 2_000;

/// Property: 2,000 draws fall evenly into the ten deciles of
/// `[0, ceiling]`: each decile gets 120..=280 (expected 200, σ ≈ 13.4, so
/// a fair draw misses by 6σ), and nothing falls outside.
fn jitter_covers_range(
    f: DelayFn,
    (base, cap, attempt, seed): JitterCase,
) -> Result<(), TestCaseError> {
    let b = Backoff::new(base, cap);
    let ceiling = expected_ceiling(&b, attempt);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut deciles = [0usize; 10];
    for _ in 0..DRAWS {
        let d = f(&b, attempt, &mut rng).as_nanos();
        prop_assert!(d <= ceiling, "draw {d} ns above the ceiling {ceiling} ns");
        // d * 10 / (ceiling + 1) is in 0..10 for d in [0, ceiling].
        let i = usize::try_from(d * 10 / (ceiling + 1)).unwrap_or(9);
        deciles[i] += 1;
    }
    prop_assert!(
        deciles.iter().all(|&n| (120..=280).contains(&n)),
        "jitter does not cover [0, {ceiling} ns] evenly: deciles {deciles:?}"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn backoff_delay_is_bounded(case in bounded_case()) {
        delay_is_bounded(heddle_delay, case)?;
    }

    #[test]
    fn backoff_ceiling_is_exact(base in any_duration(), cap in any_duration(), attempt in any_attempt()) {
        let b = Backoff::new(base, cap);
        prop_assert_eq!(b.ceiling(attempt).as_nanos(), expected_ceiling(&b, attempt));
    }
}

proptest! {
    #![proptest_config(seeded(64))]

    #[test]
    fn backoff_full_jitter_covers_range(case in jitter_case()) {
        jitter_covers_range(heddle_delay, case)?;
    }
}

#[test]
fn guide_backoff_is_caught_by_the_bound() {
    assert_caught(
        "guide 100*2^attempt ms",
        bounded_case(),
        |c| delay_is_bounded(guide_delay, c),
        "exceeds the cap",
    );
}

#[test]
fn guide_backoff_overflows_on_its_own_parameters() {
    // base 100 ms and no cap, as in the guide: within the bound until the
    // multiplication overflows.
    assert_caught(
        "guide 100*2^attempt ms, base 100 ms, cap Duration::MAX",
        (any_attempt(), any::<u64>()).prop_map(|(a, s)| (ms(100), Duration::MAX, a, s)),
        |c| delay_is_bounded(guide_delay, c),
        "overflow",
    );
}

#[test]
fn naive_capped_backoff_is_caught_overflowing() {
    // A panic in the property is a failure whose message is the panic's.
    assert_caught(
        "min(cap, base * 2u32.pow(attempt))",
        bounded_case(),
        |c| delay_is_bounded(naive_capped_delay, c),
        "overflow",
    );
}

#[test]
fn jitter_free_backoff_is_caught_by_coverage() {
    assert_caught(
        "no jitter",
        jitter_case(),
        |c| jitter_covers_range(no_jitter_delay, c),
        "does not cover",
    );
}

// ----------------------------------------------------------------- budget --

/// A retry budget under test (balances in thousandths of a token, signed so
/// that a broken one can go negative).
trait Budget {
    fn create(max_tokens: u32, ratio_milli: u32) -> Self;
    fn deposit(&mut self);
    fn try_withdraw(&mut self) -> bool;
    fn balance_milli(&self) -> i128;
}

impl Budget for TokenBucket {
    fn create(max_tokens: u32, ratio_milli: u32) -> Self {
        TokenBucket::new(max_tokens, f64::from(ratio_milli) / 1000.0)
    }
    fn deposit(&mut self) {
        TokenBucket::deposit(self);
    }
    fn try_withdraw(&mut self) -> bool {
        TokenBucket::try_withdraw(self)
    }
    fn balance_milli(&self) -> i128 {
        i128::from(TokenBucket::balance_milli(self))
    }
}

/// The guide's retry has no budget: every retry is granted.
struct NoBudget {
    max: i128,
}

impl Budget for NoBudget {
    fn create(max_tokens: u32, _: u32) -> Self {
        Self {
            max: i128::from(max_tokens) * 1000,
        }
    }
    fn deposit(&mut self) {}
    fn try_withdraw(&mut self) -> bool {
        true
    }
    fn balance_milli(&self) -> i128 {
        self.max
    }
}

/// A bucket that grants a retry while any fraction of a token is left.
struct FractionalBudget {
    balance: i128,
    max: i128,
    deposit: i128,
}

impl Budget for FractionalBudget {
    fn create(max_tokens: u32, ratio_milli: u32) -> Self {
        let max = i128::from(max_tokens) * 1000;
        Self {
            balance: max,
            max,
            deposit: i128::from(ratio_milli).min(max),
        }
    }
    fn deposit(&mut self) {
        self.balance = (self.balance + self.deposit).min(self.max);
    }
    fn try_withdraw(&mut self) -> bool {
        if self.balance > 0 {
            self.balance -= 1000;
            true
        } else {
            false
        }
    }
    fn balance_milli(&self) -> i128 {
        self.balance
    }
}

/// (max_tokens, ratio in thousandths, events: `true` = a success,
/// `false` = a retry asking for a token).
type BudgetCase = (u32, u32, Vec<bool>);

fn budget_case() -> impl Strategy<Value = BudgetCase> {
    (
        0u32..6,
        prop_oneof![0u32..1_500, Just(0), Just(1_000), Just(100)],
        prop::collection::vec(any::<bool>(), 0..200),
    )
}

/// Property: the balance stays within `[0, max_tokens]`.
fn budget_never_negative<B: Budget>((max, ratio, events): BudgetCase) -> Result<(), TestCaseError> {
    let mut b = B::create(max, ratio);
    let cap = i128::from(max) * 1000;
    for (i, &success) in events.iter().enumerate() {
        if success {
            b.deposit();
        } else {
            b.try_withdraw();
        }
        let balance = b.balance_milli();
        prop_assert!(
            balance >= 0,
            "budget went negative: {balance} after event {i}"
        );
        prop_assert!(balance <= cap, "budget above capacity: {balance} > {cap}");
    }
    Ok(())
}

/// Property: after any prefix, `retries ≤ max_tokens + ratio·successes`.
fn budget_limits_ratio<B: Budget>((max, ratio, events): BudgetCase) -> Result<(), TestCaseError> {
    let mut b = B::create(max, ratio);
    let (mut successes, mut granted) = (0u128, 0u128);
    for &success in &events {
        if success {
            b.deposit();
            successes += 1;
        } else if b.try_withdraw() {
            granted += 1;
        }
        let allowed = u128::from(max) * 1000 + u128::from(ratio) * successes;
        prop_assert!(
            granted * 1000 <= allowed,
            "retries exceed the ratio: {granted} retries after {successes} successes \
             (max_tokens {max}, ratio {ratio}/1000)"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn budget_stays_in_bounds(case in budget_case()) {
        budget_never_negative::<TokenBucket>(case)?;
    }

    #[test]
    fn budget_limits_retries_to_ratio(case in budget_case()) {
        budget_limits_ratio::<TokenBucket>(case)?;
    }

    /// Exact accounting: a deposit adds `min(ratio, room)`, a retry is
    /// granted iff at least one token is left, and then takes exactly one.
    #[test]
    fn budget_refuses_only_when_empty((max, ratio, events) in budget_case()) {
        let mut b = TokenBucket::new(max, f64::from(ratio) / 1000.0);
        let cap = u64::from(max) * 1000;
        prop_assert_eq!(b.deposit_milli(), u64::from(ratio).min(cap));
        prop_assert_eq!(b.balance_milli(), cap);
        for success in events {
            let before = b.balance_milli();
            if success {
                b.deposit();
                prop_assert_eq!(b.balance_milli(), (before + b.deposit_milli()).min(cap));
            } else {
                let granted = b.try_withdraw();
                prop_assert_eq!(granted, before >= 1000);
                prop_assert_eq!(b.balance_milli(), if granted { before - 1000 } else { before });
            }
        }
    }
}

#[test]
fn no_budget_is_caught_by_the_ratio() {
    assert_caught(
        "no budget (guide)",
        budget_case(),
        budget_limits_ratio::<NoBudget>,
        "retries exceed the ratio",
    );
}

#[test]
fn fractional_budget_is_caught_going_negative() {
    assert_caught(
        "grants on a fraction of a token",
        budget_case(),
        budget_never_negative::<FractionalBudget>,
        "budget went negative",
    );
}

// ------------------------------------------------------------ retry driver --

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The retry driver's calls: the virtual time of each.
async fn run_failing(
    policy: &Policy,
    seed: u64,
    fail_first: usize,
    class: Classification,
) -> (Result<usize, RetryError<&'static str>>, Vec<Instant>) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut calls = Vec::new();
    let out = retry(
        policy,
        &mut rng,
        |_: &&str| class,
        || {
            calls.push(Instant::now());
            let n = calls.len();
            async move { if n <= fail_first { Err("down") } else { Ok(n) } }
        },
    )
    .await;
    (out, calls)
}

#[tokio::test(start_paused = true)]
async fn retry_stops_after_max_attempts() {
    let policy = Policy::new(Backoff::new(ms(10), ms(100)), 5);
    let (out, calls) = run_failing(&policy, 1, usize::MAX, Classification::Retryable).await;
    assert_eq!(calls.len(), 5);
    assert_eq!(
        out,
        Err(RetryError::Exhausted {
            attempts: 5,
            source: "down"
        })
    );
}

#[tokio::test(start_paused = true)]
async fn retry_sleeps_the_seeded_delays_and_not_after_the_last() {
    let backoff = Backoff::new(Duration::from_micros(1_500), ms(40));
    let policy = Policy::new(backoff, 8);
    for seed in 0..20 {
        let start = Instant::now();
        let (out, calls) = run_failing(&policy, seed, usize::MAX, Classification::Retryable).await;
        assert_eq!(out.map_err(|e| e.attempts()), Err(8));
        // The first call is immediate.
        assert_eq!(calls[0], start);
        // The same seed gives the same delays: retry number i waits
        // backoff.delay(i); tokio's timer rounds up to its 1 ms tick.
        let mut expected = SmallRng::seed_from_u64(seed);
        for (i, pair) in calls.windows(2).enumerate() {
            let want = backoff.delay(u32::try_from(i).unwrap(), &mut expected);
            let got = pair[1] - pair[0];
            assert!(
                got >= want && got < want + ms(1),
                "seed {seed}, retry {i}: slept {got:?}, expected {want:?}"
            );
        }
        // No sleep after the last attempt: the error comes back at once.
        assert_eq!(
            Instant::now(),
            *calls.last().unwrap(),
            "slept after the last attempt"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn zero_backoff_never_sleeps() {
    // A zero base: every delay is exactly zero, the clock never moves.
    let policy = Policy::new(Backoff::new(Duration::ZERO, ms(5)), 4);
    let start = Instant::now();
    let (_, calls) = run_failing(&policy, 3, usize::MAX, Classification::Retryable).await;
    assert!(calls.iter().all(|&t| t == start));
}

#[tokio::test(start_paused = true)]
async fn retry_succeeds_after_transient_failures() {
    let budget = RetryBudget::new(10, 0.5);
    let policy = Policy::new(Backoff::new(ms(1), ms(8)), 5).with_budget(budget.clone());
    let (out, calls) = run_failing(&policy, 9, 2, Classification::Retryable).await;
    assert_eq!(out, Ok(3));
    assert_eq!(calls.len(), 3);
    assert_eq!(budget.balance_milli(), 10_000 - 2_000 + 500);
}

#[tokio::test(start_paused = true)]
async fn retry_gives_up_at_once_on_permanent_errors() {
    let policy = Policy::new(Backoff::new(ms(10), ms(100)), 5);
    let start = Instant::now();
    let (out, calls) = run_failing(&policy, 1, usize::MAX, Classification::Permanent).await;
    assert_eq!(calls.len(), 1);
    assert_eq!(
        out,
        Err(RetryError::Permanent {
            attempts: 1,
            source: "down"
        })
    );
    assert_eq!(Instant::now(), start);
}

#[tokio::test(start_paused = true)]
async fn retry_stops_when_the_budget_is_empty() {
    let budget = RetryBudget::new(2, 0.0);
    let policy = Policy::new(Backoff::new(ms(10), ms(100)), 10).with_budget(budget.clone());
    let (out, calls) = run_failing(&policy, 1, usize::MAX, Classification::Retryable).await;
    assert_eq!(calls.len(), 3, "first call + 2 budgeted retries");
    assert_eq!(
        out,
        Err(RetryError::BudgetExhausted {
            attempts: 3,
            source: "down"
        })
    );
    // The budget is shared: the next call gets no retry at all.
    let (_, calls) = run_failing(&policy, 2, usize::MAX, Classification::Retryable).await;
    assert_eq!(calls.len(), 1);
}

#[test]
fn delays_are_deterministic_per_seed() {
    let b = Backoff::new(ms(3), ms(1_000));
    let draw = |seed| {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..16).map(|a| b.delay(a, &mut rng)).collect::<Vec<_>>()
    };
    assert_eq!(draw(42), draw(42));
    assert_ne!(draw(42), draw(43));
    // Any `Rng` works, including a trait object.
    let mut rng = SmallRng::seed_from_u64(1);
    let dyn_rng: &mut dyn rand::RngCore = &mut rng;
    assert!(b.delay(3, dyn_rng) <= ms(24));
}

// ---------------------------------------------------------------- breaker --

/// A breaker under test, on a millisecond clock starting at 0.
trait BreakerUnderTest {
    type Ticket: Debug;
    fn create(config: Config) -> Self;
    fn state(&mut self, now: u64) -> State;
    /// The ticket and whether it is a probe, or the refusal.
    fn try_acquire(&mut self, now: u64) -> Result<(Self::Ticket, bool), BreakerError>;
    fn on_success(&mut self, ticket: Self::Ticket, now: u64);
    fn on_failure(&mut self, ticket: Self::Ticket, now: u64);
    fn release(&mut self, ticket: Self::Ticket);
}

/// heddle's [`Breaker`] on real `tokio::time::Instant`s.
struct Heddle {
    breaker: Breaker,
    t0: Instant,
}

impl BreakerUnderTest for Heddle {
    type Ticket = Ticket;
    fn create(config: Config) -> Self {
        Self {
            breaker: Breaker::new(config),
            t0: Instant::now(),
        }
    }
    fn state(&mut self, now: u64) -> State {
        self.breaker.state(self.t0 + ms(now))
    }
    fn try_acquire(&mut self, now: u64) -> Result<(Ticket, bool), BreakerError> {
        let t = self.breaker.try_acquire(self.t0 + ms(now))?;
        let probe = t.is_probe();
        Ok((t, probe))
    }
    fn on_success(&mut self, ticket: Ticket, now: u64) {
        self.breaker.on_success(ticket, self.t0 + ms(now));
    }
    fn on_failure(&mut self, ticket: Ticket, now: u64) {
        self.breaker.on_failure(ticket, self.t0 + ms(now));
    }
    fn release(&mut self, ticket: Ticket) {
        self.breaker.release(ticket);
    }
}

/// What the model's variants get wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mutation {
    None,
    /// Half-open admits every caller.
    NoProbeLimit,
    /// Reports of tickets from an earlier phase are applied.
    AcceptStaleTickets,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MPhase {
    Closed { failures: u32 },
    Open { since: u64 },
    HalfOpen { in_flight: u32, successes: u32 },
}

#[derive(Debug)]
struct MTicket {
    phase_no: u64,
}

/// The reference model: the rules, transcribed with eager transitions (it
/// goes half-open as soon as the clock says so, before anything else).
#[derive(Debug)]
struct Model<const M: u8> {
    threshold: u32,
    open_for: u64,
    probe_limit: u32,
    probe_successes: u32,
    phase: MPhase,
    /// Counts phases entered; a ticket belongs to one phase.
    phase_no: u64,
}

const EXACT: u8 = 0;
const NO_PROBE_LIMIT: u8 = 1;
const STALE: u8 = 2;

impl<const M: u8> Model<M> {
    fn mutation() -> Mutation {
        match M {
            NO_PROBE_LIMIT => Mutation::NoProbeLimit,
            STALE => Mutation::AcceptStaleTickets,
            _ => Mutation::None,
        }
    }

    fn go(&mut self, phase: MPhase) {
        self.phase = phase;
        self.phase_no += 1;
    }

    fn tick(&mut self, now: u64) {
        if let MPhase::Open { since } = self.phase {
            if now.saturating_sub(since) >= self.open_for {
                self.go(MPhase::HalfOpen {
                    in_flight: 0,
                    successes: 0,
                });
            }
        }
    }

    fn current(&self, t: &MTicket) -> bool {
        t.phase_no == self.phase_no || Self::mutation() == Mutation::AcceptStaleTickets
    }
}

impl<const M: u8> BreakerUnderTest for Model<M> {
    type Ticket = MTicket;

    fn create(c: Config) -> Self {
        Self {
            threshold: c.failure_threshold,
            open_for: u64::try_from(c.open_for.as_millis()).unwrap(),
            probe_limit: c.probe_limit,
            probe_successes: c.probe_successes,
            phase: MPhase::Closed { failures: 0 },
            phase_no: 0,
        }
    }

    fn state(&mut self, now: u64) -> State {
        self.tick(now);
        match self.phase {
            MPhase::Closed { .. } => State::Closed,
            MPhase::Open { .. } => State::Open,
            MPhase::HalfOpen { .. } => State::HalfOpen,
        }
    }

    fn try_acquire(&mut self, now: u64) -> Result<(MTicket, bool), BreakerError> {
        self.tick(now);
        let phase_no = self.phase_no;
        match &mut self.phase {
            MPhase::Closed { .. } => Ok((MTicket { phase_no }, false)),
            MPhase::Open { since } => Err(BreakerError::Open {
                retry_after: ms(self.open_for - (now - *since)),
            }),
            MPhase::HalfOpen { in_flight, .. } => {
                if *in_flight < self.probe_limit || M == NO_PROBE_LIMIT {
                    *in_flight += 1;
                    Ok((MTicket { phase_no }, true))
                } else {
                    Err(BreakerError::ProbesBusy {
                        limit: self.probe_limit,
                    })
                }
            }
        }
    }

    fn on_success(&mut self, t: MTicket, now: u64) {
        self.tick(now);
        if !self.current(&t) {
            return;
        }
        match self.phase {
            MPhase::Closed { .. } => self.phase = MPhase::Closed { failures: 0 },
            MPhase::Open { .. } => {}
            MPhase::HalfOpen {
                in_flight,
                successes,
            } => {
                if successes + 1 >= self.probe_successes {
                    self.go(MPhase::Closed { failures: 0 });
                } else {
                    self.phase = MPhase::HalfOpen {
                        in_flight: in_flight.saturating_sub(1),
                        successes: successes + 1,
                    };
                }
            }
        }
    }

    fn on_failure(&mut self, t: MTicket, now: u64) {
        self.tick(now);
        if !self.current(&t) {
            return;
        }
        match self.phase {
            MPhase::Closed { failures } if failures + 1 >= self.threshold => {
                self.go(MPhase::Open { since: now });
            }
            MPhase::Closed { failures } => {
                self.phase = MPhase::Closed {
                    failures: failures + 1,
                };
            }
            MPhase::Open { .. } => {}
            MPhase::HalfOpen { .. } => self.go(MPhase::Open { since: now }),
        }
        self.tick(now); // open_for = 0: half-open at once
    }

    fn release(&mut self, t: MTicket) {
        if !self.current(&t) {
            return;
        }
        if let MPhase::HalfOpen { in_flight, .. } = &mut self.phase {
            *in_flight = in_flight.saturating_sub(1);
        }
    }
}

/// The guide's §4 `CircuitBreaker::execute`, as a state machine. While open
/// and before `reset_timeout` it still runs the operation (to return its
/// error: `operation().unwrap_err()`); half-open admits everyone.
struct Guide {
    failure_threshold: u32,
    reset_timeout: u64,
    failure_count: u32,
    last_failure_time: Option<u64>,
    state: State,
}

impl BreakerUnderTest for Guide {
    type Ticket = ();
    fn create(c: Config) -> Self {
        Self {
            failure_threshold: c.failure_threshold,
            reset_timeout: u64::try_from(c.open_for.as_millis()).unwrap(),
            failure_count: 0,
            last_failure_time: None,
            state: State::Closed,
        }
    }
    fn state(&mut self, now: u64) -> State {
        match (self.state, self.last_failure_time) {
            (State::Open, Some(t)) if now - t >= self.reset_timeout => State::HalfOpen,
            (s, _) => s,
        }
    }
    fn try_acquire(&mut self, now: u64) -> Result<((), bool), BreakerError> {
        if self.state == State::Open {
            if let Some(t) = self.last_failure_time {
                if now - t >= self.reset_timeout {
                    self.state = State::HalfOpen;
                }
                // else: `return Err(operation().unwrap_err())`: the
                // operation runs anyway.
            }
        }
        Ok(((), self.state == State::HalfOpen))
    }
    fn on_success(&mut self, _: (), _: u64) {
        self.failure_count = 0;
        if self.state == State::HalfOpen {
            self.state = State::Closed;
        }
    }
    fn on_failure(&mut self, _: (), now: u64) {
        self.failure_count += 1;
        self.last_failure_time = Some(now);
        if self.failure_count >= self.failure_threshold {
            self.state = State::Open;
        }
    }
    fn release(&mut self, _: ()) {}
}

#[derive(Debug, Clone)]
enum Op {
    Advance(u64),
    Acquire,
    Success(usize),
    Failure(usize),
    Release(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u64..25).prop_map(Op::Advance),
        5 => Just(Op::Acquire),
        3 => (0usize..8).prop_map(Op::Success),
        3 => (0usize..8).prop_map(Op::Failure),
        1 => (0usize..8).prop_map(Op::Release),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (1u32..4, 0u64..30, 1u32..4, 1u32..4)
        .prop_map(|(t, o, pl, ps)| Config::new(t, ms(o)).probe_limit(pl).probe_successes(ps))
}

type Trace = (Config, Vec<Op>);

fn trace() -> impl Strategy<Value = Trace> {
    (config(), prop::collection::vec(op(), 0..120))
}

/// Removes the `i`-th (modulo length) held ticket; `held` is not empty.
fn take<T>(held: &mut Vec<T>, i: usize) -> T {
    held.swap_remove(i % held.len())
}

/// Property: nothing is admitted while the breaker reports itself open, and
/// the refusal says so.
fn never_admitted_while_open<B: BreakerUnderTest>((cfg, ops): Trace) -> Result<(), TestCaseError> {
    let mut b = B::create(cfg);
    let mut now = 0u64;
    let mut held = Vec::new();
    for op in ops {
        match op {
            Op::Advance(d) => now += d,
            Op::Acquire => {
                let before = b.state(now);
                let got = b.try_acquire(now);
                if before == State::Open {
                    prop_assert!(
                        matches!(got, Err(BreakerError::Open { .. })),
                        "admitted while open at t={}ms: {:?}",
                        now,
                        got
                    );
                }
                if let Ok((t, _)) = got {
                    held.push(t);
                }
            }
            Op::Success(i) if !held.is_empty() => {
                let t = take(&mut held, i);
                b.on_success(t, now);
            }
            Op::Failure(i) if !held.is_empty() => {
                let t = take(&mut held, i);
                b.on_failure(t, now);
            }
            Op::Release(i) if !held.is_empty() => {
                let t = take(&mut held, i);
                b.release(t);
            }
            _ => {}
        }
    }
    Ok(())
}

/// Property: during one half-open episode, at most `probe_limit` calls
/// admitted in it are unreported at once. An episode ends when the breaker
/// is seen leaving half-open, or when a probe fails (which must reopen it,
/// even if `open_for = 0` makes it half-open again at once).
fn probes_within_limit<B: BreakerUnderTest>((cfg, ops): Trace) -> Result<(), TestCaseError> {
    let mut b = B::create(cfg);
    let mut now = 0u64;
    let mut episode = 0u64;
    // (ticket, episode it probes, if a probe)
    let mut held: Vec<(B::Ticket, Option<u64>)> = Vec::new();
    for op in ops {
        match op {
            Op::Advance(d) => now += d,
            Op::Acquire => {
                let probe = b.state(now) == State::HalfOpen;
                if let Ok((t, _)) = b.try_acquire(now) {
                    held.push((t, probe.then_some(episode)));
                    let in_flight = held.iter().filter(|(_, e)| *e == Some(episode)).count();
                    prop_assert!(
                        u32::try_from(in_flight).unwrap() <= cfg.probe_limit,
                        "{} probes in flight at t={}ms, probe_limit {}",
                        in_flight,
                        now,
                        cfg.probe_limit
                    );
                }
            }
            Op::Success(i) if !held.is_empty() => {
                let (t, _) = take(&mut held, i);
                b.on_success(t, now);
            }
            Op::Failure(i) if !held.is_empty() => {
                let (t, e) = take(&mut held, i);
                b.on_failure(t, now);
                if e == Some(episode) {
                    episode += 1;
                }
            }
            Op::Release(i) if !held.is_empty() => {
                let (t, _) = take(&mut held, i);
                b.release(t);
            }
            _ => {}
        }
        if b.state(now) != State::HalfOpen {
            episode += 1;
        }
    }
    Ok(())
}

/// Property: `B` and the exact model agree on every admission (admitted or
/// not, probe or not, the refusal and its `retry_after`) and on the state
/// after every step.
fn matches_model<B: BreakerUnderTest>((cfg, ops): Trace) -> Result<(), TestCaseError> {
    let mut b = B::create(cfg);
    let mut m = Model::<EXACT>::create(cfg);
    let mut now = 0u64;
    let mut held: Vec<(B::Ticket, MTicket)> = Vec::new();
    for (step, op) in ops.into_iter().enumerate() {
        match op {
            Op::Advance(d) => now += d,
            Op::Acquire => {
                let got = b.try_acquire(now);
                let want = m.try_acquire(now);
                let got_view = got.as_ref().map(|(_, p)| *p).map_err(Clone::clone);
                let want_view = want.as_ref().map(|(_, p)| *p).map_err(Clone::clone);
                prop_assert_eq!(
                    &got_view,
                    &want_view,
                    "admission differs from the model at step {} (t={}ms)",
                    step,
                    now
                );
                if let (Ok((t, _)), Ok((mt, _))) = (got, want) {
                    held.push((t, mt));
                }
            }
            Op::Success(i) if !held.is_empty() => {
                let (t, mt) = take(&mut held, i);
                b.on_success(t, now);
                m.on_success(mt, now);
            }
            Op::Failure(i) if !held.is_empty() => {
                let (t, mt) = take(&mut held, i);
                b.on_failure(t, now);
                m.on_failure(mt, now);
            }
            Op::Release(i) if !held.is_empty() => {
                let (t, mt) = take(&mut held, i);
                b.release(t);
                m.release(mt);
            }
            _ => {}
        }
        let (got, want) = (b.state(now), m.state(now));
        prop_assert_eq!(
            got,
            want,
            "state differs from the model after step {} (t={}ms)",
            step,
            now
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn breaker_never_admits_while_open(t in trace()) {
        never_admitted_while_open::<Heddle>(t)?;
    }

    #[test]
    fn breaker_half_open_admits_at_most_probe_limit(t in trace()) {
        probes_within_limit::<Heddle>(t)?;
    }

    #[test]
    fn breaker_follows_the_reference_model(t in trace()) {
        matches_model::<Heddle>(t)?;
    }

    /// The model itself satisfies the two other properties.
    #[test]
    fn reference_model_is_sound(t in trace()) {
        never_admitted_while_open::<Model<EXACT>>(t.clone())?;
        probes_within_limit::<Model<EXACT>>(t)?;
    }
}

#[test]
fn guide_breaker_is_caught_admitting_while_open() {
    assert_caught(
        "guide CircuitBreaker::execute",
        trace(),
        never_admitted_while_open::<Guide>,
        "admitted while open",
    );
}

#[test]
fn breaker_without_probe_limit_is_caught() {
    assert_caught(
        "no probe limit",
        trace(),
        probes_within_limit::<Model<NO_PROBE_LIMIT>>,
        "probes in flight",
    );
}

#[test]
fn breaker_accepting_stale_tickets_is_caught() {
    assert_caught(
        "stale tickets accepted",
        trace(),
        matches_model::<Model<STALE>>,
        "differs from the model",
    );
}

// ------------------------------------------------------- breaker::call ----

#[tokio::test(start_paused = true)]
async fn call_never_runs_the_operation_while_open() {
    let open_for = ms(100);
    let breaker = CircuitBreaker::new(Config::new(3, open_for));
    for _ in 0..3 {
        let r: Result<(), _> = breaker.call(|| async { Err("boom") }).await;
        assert_eq!(r, Err(BreakerError::Failed("boom")));
    }
    let mut runs = 0;
    for step in 0..10u64 {
        let r = breaker
            .call(|| {
                runs += 1;
                async { Ok::<_, &str>(()) }
            })
            .await;
        assert_eq!(
            r,
            Err(BreakerError::Open {
                retry_after: open_for - ms(10 * step)
            })
        );
        tokio::time::advance(ms(10)).await;
    }
    assert_eq!(runs, 0, "the operation ran while open");
    // open_for has passed: one probe runs and closes the breaker.
    let r = breaker
        .call(|| {
            runs += 1;
            async { Ok::<_, &str>(7) }
        })
        .await;
    assert_eq!((r, runs), (Ok(7), 1));
    assert_eq!(breaker.state(Instant::now()), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn call_limits_concurrent_probes() {
    let breaker = CircuitBreaker::new(Config::new(1, ms(50)).probe_limit(2));
    let _: Result<(), _> = breaker.call(|| async { Err("boom") }).await;
    tokio::time::advance(ms(50)).await;
    let slow = |id: u32| {
        let b = breaker.clone();
        async move {
            b.call(|| async move {
                tokio::time::sleep(ms(10)).await;
                Ok::<_, &str>(id)
            })
            .await
        }
    };
    let (a, b, c) = tokio::join!(slow(1), slow(2), slow(3));
    assert_eq!(a, Ok(1));
    assert_eq!(b, Ok(2));
    assert_eq!(c, Err(BreakerError::ProbesBusy { limit: 2 }));
    assert_eq!(breaker.state(Instant::now()), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn cancelled_probe_frees_its_slot() {
    let breaker = CircuitBreaker::new(Config::new(1, ms(50)));
    let _: Result<(), _> = breaker.call(|| async { Err("boom") }).await;
    tokio::time::advance(ms(50)).await;
    let hung = breaker.call(|| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, &str>(())
    });
    assert!(tokio::time::timeout(ms(5), hung).await.is_err());
    // Neither a success nor a failure: still half-open, slot free again.
    assert_eq!(breaker.state(Instant::now()), State::HalfOpen);
    let p = breaker.try_acquire(Instant::now());
    assert!(p.as_ref().is_ok_and(|p| p.is_probe()));
    if let Ok(p) = p {
        p.failure(Instant::now());
    }
    assert_eq!(breaker.state(Instant::now()), State::Open);
}

#[test]
fn driver_futures_are_send() {
    fn send<T: Send>(_: T) {}
    let policy = Policy::new(Backoff::new(ms(1), ms(2)), 2).with_budget(RetryBudget::new(1, 0.1));
    let mut rng = SmallRng::seed_from_u64(0);
    send(retry(
        &policy,
        &mut rng,
        |_: &()| Classification::Retryable,
        || async { Ok::<(), ()>(()) },
    ));
    let breaker = CircuitBreaker::new(Config::default());
    send(breaker.call(|| async { Ok::<(), ()>(()) }));
    send(breaker.try_acquire(Instant::now()));
}
