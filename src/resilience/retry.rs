//! Retry with capped exponential backoff, full jitter and a retry budget
//! (guide §6).
//!
//! **What.** Four small pieces, each usable alone:
//!
//! - [`Backoff`] computes the delay before retry number `attempt`: *full
//!   jitter*, uniform in `[0, min(cap, base·2^attempt)]`, computed without
//!   overflow for every `attempt` up to `u32::MAX` and every `base`/`cap`.
//! - [`TokenBucket`] is a retry budget (as in Finagle and gRPC's retry
//!   throttling): every success deposits a fraction of a token, every retry
//!   withdraws a whole one, and retries are refused when less than one token
//!   is left. It is pure arithmetic (fixed point, no clock, no floats after
//!   construction); [`RetryBudget`] is the same bucket shared between calls.
//! - [`Policy`] decides, from the number of attempts made, the error's
//!   [`Classification`] and the budget, whether to retry and after how long.
//! - [`retry`] is the thin async driver: it calls the operation, asks the
//!   policy, and sleeps with [`tokio::time::sleep`], so under tokio's paused
//!   clock or inside a turmoil simulation the waits are virtual and
//!   deterministic. It never sleeps after the last attempt.
//!
//! No piece owns randomness or a clock: the caller passes a seeded RNG (a
//! `SmallRng::seed_from_u64` in simulations), so the same seed gives the same
//! delays.
//!
//! **When.** Retry operations that fail transiently (timeouts, refused
//! connections, overload) and are safe to repeat (idempotent, or
//! de-duplicated by the server). Full jitter spreads the retries of many
//! clients that failed together, so they do not come back in synchronized
//! waves; the budget stops retries from multiplying the load on a server that
//! is already failing (with a ratio of 0.1, retries add at most ~10% to the
//! successful traffic, plus the bucket's initial burst).
//!
//! **Compared to.** The guide's `with_retry` sleeps
//! `100 * 2u64.pow(attempts)` ms: no cap, no jitter (every client retries in
//! lockstep), no budget, and the multiplication overflows (a panic in debug,
//! garbage in release) from the 58th attempt; it also blocks the thread with
//! `thread::sleep`. The `backoff` crate (randomized ±factor, not full
//! jitter) and `tokio-retry` (an optional `jitter` adapter) produce
//! exponential schedules as iterators, with randomness from the thread RNG
//! (not replayable in a simulation) and no budget; tower's `retry` layer has
//! a budget (`TpsBudget`, over a time window) but leaves the backoff to you.
//! Here the schedule, the budget and the decision are plain values you can
//! property-test, and the driver is a dozen lines.
//!
//! Properties (bounded delays, jitter coverage, budget ratio, the driver's
//! sleeps under a paused clock) are in `tests/resilience_props.rs`, which
//! also runs the guide's backoff through them and shows it fails.
//!
//! # Example
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
//! use std::time::Duration;
//! use heddle::resilience::retry::{retry, Backoff, Classification, Policy, RetryBudget, RetryError};
//! use rand::{SeedableRng, rngs::SmallRng};
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
//! rt.block_on(async {
//!     let budget = RetryBudget::new(10, 0.1); // 10 tokens, +0.1 per success
//!     let policy = Policy::new(
//!         Backoff::new(Duration::from_millis(1), Duration::from_millis(20)),
//!         4,
//!     )
//!     .with_budget(budget.clone());
//!     let mut rng = SmallRng::seed_from_u64(7);
//!
//!     // Fails twice with a transient error, then succeeds.
//!     let mut calls = 0;
//!     let out: Result<&str, RetryError<&str>> = retry(
//!         &policy,
//!         &mut rng,
//!         |_e: &&str| Classification::Retryable,
//!         || {
//!             calls += 1;
//!             let n = calls;
//!             async move { if n < 3 { Err("timeout") } else { Ok("done") } }
//!         },
//!     )
//!     .await;
//!     assert_eq!(out, Ok("done"));
//!     assert_eq!(calls, 3);
//!     // Two retries withdrew two tokens; the success deposited 0.1.
//!     assert_eq!(budget.balance_milli(), 10_000 - 2_000 + 100);
//! });
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::sync::{Arc, Mutex};

const NANOS_PER_SEC: u128 = 1_000_000_000;
/// Budget amounts are kept in thousandths of a token (gRPC's precision).
const MILLI: u64 = 1_000;

/// Errors of [`retry`]: why it gave up, after how many attempts, and the last
/// error of the operation (the [`source`](std::error::Error::source)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RetryError<E> {
    /// The last error was classified [`Classification::Permanent`].
    #[error("permanent failure on attempt {attempts}")]
    Permanent {
        /// Attempts made, including the failing one.
        attempts: u32,
        /// The operation's error.
        #[source]
        source: E,
    },
    /// Every one of the policy's `max_attempts` attempts failed.
    #[error("gave up after {attempts} failed attempts")]
    Exhausted {
        /// Attempts made (the policy's `max_attempts`).
        attempts: u32,
        /// The last attempt's error.
        #[source]
        source: E,
    },
    /// The retry budget had less than one token left.
    #[error("retry budget exhausted after {attempts} attempt(s)")]
    BudgetExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        #[source]
        source: E,
    },
}

impl<E> RetryError<E> {
    fn new(reason: GiveUp, attempts: u32, source: E) -> Self {
        match reason {
            GiveUp::Permanent => Self::Permanent { attempts, source },
            GiveUp::Exhausted => Self::Exhausted { attempts, source },
            GiveUp::BudgetExhausted => Self::BudgetExhausted { attempts, source },
        }
    }

    /// Attempts made before giving up.
    pub fn attempts(&self) -> u32 {
        match self {
            Self::Permanent { attempts, .. }
            | Self::Exhausted { attempts, .. }
            | Self::BudgetExhausted { attempts, .. } => *attempts,
        }
    }

    /// Why the driver gave up.
    pub fn reason(&self) -> GiveUp {
        match self {
            Self::Permanent { .. } => GiveUp::Permanent,
            Self::Exhausted { .. } => GiveUp::Exhausted,
            Self::BudgetExhausted { .. } => GiveUp::BudgetExhausted,
        }
    }

    /// The last error of the operation.
    pub fn into_inner(self) -> E {
        match self {
            Self::Permanent { source, .. }
            | Self::Exhausted { source, .. }
            | Self::BudgetExhausted { source, .. } => source,
        }
    }
}

/// Capped exponential backoff with full jitter.
///
/// Retry number `attempt` (0 for the first retry) waits a uniform random
/// duration in `[0, ceiling(attempt)]` where
/// `ceiling(attempt) = min(cap, base·2^attempt)`, computed exactly in
/// nanoseconds (`u128`) and saturating: no `attempt`, `base` or `cap` can
/// overflow or panic.
///
/// ```
/// use std::time::Duration;
/// use heddle::resilience::retry::Backoff;
/// use rand::{SeedableRng, rngs::SmallRng};
///
/// let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));
/// assert_eq!(b.ceiling(0), Duration::from_millis(100));
/// assert_eq!(b.ceiling(3), Duration::from_millis(800));
/// assert_eq!(b.ceiling(1000), Duration::from_secs(10)); // capped, no overflow
/// let mut rng = SmallRng::seed_from_u64(1);
/// assert!(b.delay(u32::MAX, &mut rng) <= Duration::from_secs(10));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Backoff {
    /// The ceiling of the first retry's delay; doubled on each retry.
    pub base: Duration,
    /// No delay is ever longer than this.
    pub cap: Duration,
}

impl Backoff {
    /// A backoff starting at `base` and never exceeding `cap`.
    pub const fn new(base: Duration, cap: Duration) -> Self {
        Self { base, cap }
    }

    /// The largest delay of retry number `attempt`:
    /// `min(cap, base·2^attempt)`, without overflow.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        nanos_to_duration(self.ceiling_nanos(attempt))
    }

    fn ceiling_nanos(&self, attempt: u32) -> u128 {
        let base = self.base.as_nanos(); // at most ~2^94: Duration::MAX
        let cap = self.cap.as_nanos();
        if base == 0 {
            return 0;
        }
        // `base << attempt` keeps every bit iff `attempt < leading_zeros`;
        // otherwise the exact product exceeds u128::MAX, hence the cap.
        let exp = if attempt < base.leading_zeros() {
            base << attempt
        } else {
            u128::MAX
        };
        exp.min(cap)
    }

    /// The delay before retry number `attempt` (0 for the first retry):
    /// uniform in `[0, ceiling(attempt)]` (full jitter), drawn from `rng`
    /// at nanosecond resolution.
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let ceiling = self.ceiling_nanos(attempt);
        nanos_to_duration(rng.random_range(0..=ceiling))
    }
}

/// `n` nanoseconds, saturating at `Duration::MAX` (never reached: `n` is at
/// most a `cap` that was itself a `Duration`).
fn nanos_to_duration(n: u128) -> Duration {
    let secs = u64::try_from(n / NANOS_PER_SEC).unwrap_or(u64::MAX);
    // `n % 1e9 < 1e9` fits in u32.
    let sub = u32::try_from(n % NANOS_PER_SEC).unwrap_or(0);
    Duration::new(secs, sub)
}

/// A retry budget as a token bucket, in exact fixed-point arithmetic
/// (thousandths of a token).
///
/// It starts full with `max_tokens`. [`deposit`](Self::deposit) (one per
/// successful call) adds `ratio` tokens, up to `max_tokens`;
/// [`try_withdraw`](Self::try_withdraw) (one per retry) takes one whole token
/// or refuses. So over any run, `retries ≤ max_tokens + ratio·successes`, and
/// the balance never leaves `[0, max_tokens]`. Time plays no part: the ratio
/// is of retries to successes, not per second.
///
/// ```
/// use heddle::resilience::retry::TokenBucket;
///
/// let mut b = TokenBucket::new(2, 0.5);
/// assert!(b.try_withdraw());
/// assert!(b.try_withdraw());
/// assert!(!b.try_withdraw()); // empty
/// b.deposit();
/// assert!(!b.try_withdraw()); // half a token is not enough
/// b.deposit();
/// assert!(b.try_withdraw());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenBucket {
    balance: u64,
    max: u64,
    deposit: u64,
}

impl TokenBucket {
    /// A full bucket of `max_tokens` tokens; each success deposits `ratio`
    /// tokens, kept to three decimal places as gRPC does (NaN or negative
    /// ratios count as 0, ratios above `max_tokens` as `max_tokens`).
    pub fn new(max_tokens: u32, ratio: f64) -> Self {
        let max = u64::from(max_tokens) * MILLI;
        let deposit = if ratio.is_nan() || ratio <= 0.0 {
            0
        } else {
            // Saturating float-to-int cast, then bounded by `max`.
            ((ratio * MILLI as f64).round() as u64).min(max)
        };
        Self {
            balance: max,
            max,
            deposit,
        }
    }

    /// Records a success: adds `ratio` tokens, up to `max_tokens`.
    pub fn deposit(&mut self) {
        self.balance = self.balance.saturating_add(self.deposit).min(self.max);
    }

    /// Takes one token for a retry; `false` (and no change) if less than one
    /// token is left.
    pub fn try_withdraw(&mut self) -> bool {
        match self.balance.checked_sub(MILLI) {
            Some(rest) => {
                self.balance = rest;
                true
            }
            None => false,
        }
    }

    /// The balance in thousandths of a token.
    pub fn balance_milli(&self) -> u64 {
        self.balance
    }

    /// The capacity in thousandths of a token.
    pub fn max_milli(&self) -> u64 {
        self.max
    }

    /// What one success deposits, in thousandths of a token.
    pub fn deposit_milli(&self) -> u64 {
        self.deposit
    }
}

/// A [`TokenBucket`] shared by every call that clones it (an
/// [`Arc`] and a [`Mutex`] from the
/// facade), so one budget can cap the retries of a whole client.
#[derive(Debug, Clone)]
pub struct RetryBudget {
    bucket: Arc<Mutex<TokenBucket>>,
}

impl RetryBudget {
    /// A shared budget: see [`TokenBucket::new`].
    pub fn new(max_tokens: u32, ratio: f64) -> Self {
        Self::from_bucket(TokenBucket::new(max_tokens, ratio))
    }

    /// Shares an existing bucket.
    pub fn from_bucket(bucket: TokenBucket) -> Self {
        Self {
            bucket: Arc::new(Mutex::new(bucket)),
        }
    }

    /// Records a success: see [`TokenBucket::deposit`].
    pub fn deposit(&self) {
        self.bucket.lock().deposit();
    }

    /// Takes a token for a retry: see [`TokenBucket::try_withdraw`].
    pub fn try_withdraw(&self) -> bool {
        self.bucket.lock().try_withdraw()
    }

    /// The balance in thousandths of a token.
    pub fn balance_milli(&self) -> u64 {
        self.bucket.lock().balance_milli()
    }

    /// A copy of the bucket as it is now.
    pub fn snapshot(&self) -> TokenBucket {
        *self.bucket.lock()
    }
}

/// How an error should be treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Classification {
    /// Transient (timeout, refused connection, overload): worth retrying.
    Retryable,
    /// Retrying cannot help (bad request, not found, unauthorized).
    Permanent,
}

/// Why a [`Policy`] gave up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GiveUp {
    /// The error was [`Classification::Permanent`].
    Permanent,
    /// `max_attempts` attempts were made.
    Exhausted,
    /// The retry budget refused the retry.
    BudgetExhausted,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Wait `after`, then try again. A budget token has been taken.
    Retry {
        /// The jittered delay.
        after: Duration,
    },
    /// Stop and report the error.
    GiveUp(GiveUp),
}

/// When to retry: a [`Backoff`], a maximum number of attempts and an optional
/// shared [`RetryBudget`].
///
/// ```
/// use std::time::Duration;
/// use heddle::resilience::retry::{Backoff, Classification, Decision, GiveUp, Policy};
/// use rand::{SeedableRng, rngs::SmallRng};
///
/// let p = Policy::new(Backoff::new(Duration::from_millis(10), Duration::from_secs(1)), 3);
/// let mut rng = SmallRng::seed_from_u64(0);
/// assert!(matches!(p.decide(1, Classification::Retryable, &mut rng), Decision::Retry { .. }));
/// assert_eq!(p.decide(3, Classification::Retryable, &mut rng), Decision::GiveUp(GiveUp::Exhausted));
/// assert_eq!(p.decide(1, Classification::Permanent, &mut rng), Decision::GiveUp(GiveUp::Permanent));
/// ```
#[derive(Debug, Clone)]
pub struct Policy {
    backoff: Backoff,
    max_attempts: u32,
    budget: Option<RetryBudget>,
}

impl Policy {
    /// At most `max_attempts` calls in all (the first one included; 0 counts
    /// as 1), waiting `backoff.delay(n - 1)` before call number `n + 1`.
    /// No budget.
    pub fn new(backoff: Backoff, max_attempts: u32) -> Self {
        Self {
            backoff,
            max_attempts: max_attempts.max(1),
            budget: None,
        }
    }

    /// Also withdraw one token of `budget` per retry, and deposit on success.
    pub fn with_budget(mut self, budget: RetryBudget) -> Self {
        self.budget = Some(budget);
        self
    }

    /// The backoff.
    pub fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// The maximum number of calls.
    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The shared budget, if any.
    pub fn budget(&self) -> Option<&RetryBudget> {
        self.budget.as_ref()
    }

    /// Decides after the `attempts`-th call failed with an error of class
    /// `class`. The checks, in order: a permanent error gives up; so does
    /// reaching `max_attempts`; then the budget must yield a token; only then
    /// is the delay drawn from `rng` (so the RNG advances once per retry and
    /// never otherwise).
    pub fn decide<R: Rng + ?Sized>(
        &self,
        attempts: u32,
        class: Classification,
        rng: &mut R,
    ) -> Decision {
        if class == Classification::Permanent {
            return Decision::GiveUp(GiveUp::Permanent);
        }
        if attempts >= self.max_attempts {
            return Decision::GiveUp(GiveUp::Exhausted);
        }
        if let Some(budget) = &self.budget {
            if !budget.try_withdraw() {
                return Decision::GiveUp(GiveUp::BudgetExhausted);
            }
        }
        Decision::Retry {
            after: self.backoff.delay(attempts.saturating_sub(1), rng),
        }
    }

    /// Records a successful call (deposits into the budget, if any).
    pub fn on_success(&self) {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
    }
}

/// Calls `op` until it succeeds or `policy` gives up, sleeping the policy's
/// jittered delay (with [`tokio::time::sleep`]) between attempts.
///
/// `classify` tells retryable errors from permanent ones. The delays are
/// drawn from `rng`, once per retry. There is no sleep before the first
/// call nor after the last one: the error is returned as soon as the policy
/// gives up. Every retry is logged at `debug` level with its delay.
pub async fn retry<T, E, R, C, F, Fut>(
    policy: &Policy,
    rng: &mut R,
    mut classify: C,
    mut op: F,
) -> Result<T, RetryError<E>>
where
    R: Rng + ?Sized,
    C: FnMut(&E) -> Classification,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempts: u32 = 0;
    loop {
        attempts = attempts.saturating_add(1);
        match op().await {
            Ok(value) => {
                policy.on_success();
                return Ok(value);
            }
            Err(error) => match policy.decide(attempts, classify(&error), rng) {
                Decision::Retry { after } => {
                    tracing::debug!(attempts, ?after, "retrying after a failed attempt");
                    tokio::time::sleep(after).await;
                }
                Decision::GiveUp(reason) => {
                    tracing::debug!(attempts, ?reason, "giving up");
                    return Err(RetryError::new(reason, attempts, error));
                }
            },
        }
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn ceiling_doubles_then_caps() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        let got: Vec<_> = (0..6).map(|a| b.ceiling(a).as_millis()).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn extreme_inputs_do_not_overflow() {
        let mut rng = SmallRng::seed_from_u64(0);
        let b = Backoff::new(Duration::MAX, Duration::MAX);
        assert_eq!(b.ceiling(u32::MAX), Duration::MAX);
        assert!(b.delay(1000, &mut rng) <= Duration::MAX);
        let tiny = Backoff::new(Duration::from_nanos(1), Duration::MAX);
        assert_eq!(tiny.ceiling(63), Duration::from_nanos(1 << 63));
        assert_eq!(tiny.ceiling(64).as_nanos(), 1u128 << 64);
        assert_eq!(tiny.ceiling(100), Duration::MAX);
        assert_eq!(tiny.ceiling(u32::MAX), Duration::MAX);
        let zero = Backoff::new(Duration::ZERO, Duration::MAX);
        assert_eq!(zero.delay(u32::MAX, &mut rng), Duration::ZERO);
    }

    #[test]
    fn bucket_ratio_is_rounded_and_clamped() {
        assert_eq!(TokenBucket::new(10, 0.1).deposit_milli(), 100);
        assert_eq!(TokenBucket::new(10, f64::NAN).deposit_milli(), 0);
        assert_eq!(TokenBucket::new(10, -1.0).deposit_milli(), 0);
        assert_eq!(TokenBucket::new(10, 1e300).deposit_milli(), 10_000);
        assert!(!TokenBucket::new(0, 0.5).try_withdraw());
    }

    #[test]
    fn shared_budget_is_shared() {
        let a = RetryBudget::new(1, 0.0);
        let b = a.clone();
        assert!(a.try_withdraw());
        assert!(!b.try_withdraw());
    }

    #[test]
    fn decide_checks_budget_after_attempts() {
        let budget = RetryBudget::new(1, 0.0);
        let p = Policy::new(Backoff::new(Duration::ZERO, Duration::ZERO), 2)
            .with_budget(budget.clone());
        let mut rng = SmallRng::seed_from_u64(0);
        // The last attempt gives up without spending a token.
        assert_eq!(
            p.decide(2, Classification::Retryable, &mut rng),
            Decision::GiveUp(GiveUp::Exhausted)
        );
        assert_eq!(budget.balance_milli(), 1_000);
        assert_eq!(
            p.decide(1, Classification::Retryable, &mut rng),
            Decision::Retry {
                after: Duration::ZERO
            }
        );
        assert_eq!(
            p.decide(1, Classification::Retryable, &mut rng),
            Decision::GiveUp(GiveUp::BudgetExhausted)
        );
    }
}
