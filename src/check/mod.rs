//! Run one test body under whichever engine is compiled in.
//!
//! [`model`] takes a closure written against [`heddle::sync`](crate::sync)
//! and checks it with the engine the build selected:
//!
//! | build | what `model(f)` does |
//! | --- | --- |
//! | default | runs `f` on real threads, [`Model::iterations`] times, with seeded scheduling noise at every facade synchronisation point (a stress test; see [`Model::noise`]) |
//! | `--features loom` | `loom::model`: every interleaving up to a preemption bound (default 3, `LOOM_MAX_PREEMPTIONS` overrides) |
//! | `--features shuttle` | shuttle's PCT scheduler (depth 3), then its random scheduler, each for [`Model::iterations`] schedules |
//!
//! A failure is a panic inside `f` (a failed `assert!`, a deadlock detected by
//! the engine, a leaked thread), and every failure says how to reproduce it,
//! as a command that works from where the test runs: inside heddle
//! (`--features shuttle`) or in a crate that depends on heddle
//! (`-p yours --features heddle/shuttle`).
//!
//! - **shuttle**: the panic carries the failing schedule and the full
//!   `HEDDLE_SHUTTLE_REPLAY='<schedule>' cargo test …` command; with that
//!   variable set, `model` replays exactly that schedule instead of searching.
//! - **loom**: each test's models run in a child process (the test binary,
//!   re-run for this one test), because loom aborts the process when it
//!   finds a deadlock (a panic in a destructor during cleanup, upstream). The
//!   abort costs the child, not your test binary: the test fails with loom's
//!   message, the failing interleaving (the last iteration, re-run with loom's
//!   trace log and `LOOM_LOCATION=1`), and the command to re-run it.
//!   loom's search is deterministic, so re-running reproduces it.
//!   `HEDDLE_LOOM_ISOLATE=0` runs in-process (under cargo-nextest, say).
//! - **logs**: `HEDDLE_LOG=<filter>` (e.g. `HEDDLE_LOG=loom=trace`; under loom
//!   `LOOM_LOG` works too) prints the engine's scheduling log through heddle;
//!   the facade's methods are `#[track_caller]` under loom and shuttle, so
//!   locations (`LOOM_LOCATION=1`) name your lines, not heddle's.
//!
//! Environment: `HEDDLE_ITERATIONS` overrides the iteration count of every
//! model (shuttle schedules per scheduler, std repetitions).
//!
//! # Example
//!
//! A user's own type, checked by all three engines with one test body:
//!
//! ```
//! use heddle::sync::{Arc, Mutex, thread};
//!
//! struct Tally(Mutex<u32>);
//! impl Tally {
//!     fn bump(&self) {
//!         *self.0.lock() += 1;
//!     }
//! }
//!
//! heddle::check::model(|| {
//!     let t = Arc::new(Tally(Mutex::new(0)));
//!     let t2 = Arc::clone(&t);
//!     let h = thread::spawn(move || t2.bump());
//!     t.bump();
//!     h.join().expect("bump panicked");
//!     assert_eq!(*t.0.lock(), 2);
//! });
//! ```

#[cfg(feature = "history")]
pub mod history;
#[cfg(any(feature = "loom", feature = "shuttle"))]
mod log;
#[cfg(any(feature = "loom", feature = "shuttle"))]
pub use log::HEDDLE_LOG;
#[cfg(feature = "loom")]
mod loom_run;
mod replay;
#[cfg(feature = "shuttle")]
mod shuttle_run;
#[cfg(feature = "shuttle")]
pub use shuttle_run::REPLAY as SHUTTLE_REPLAY;

/// The engine this build checks with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// Real threads, repeated: a stress test.
    Std,
    /// loom: exhaustive interleavings, bounded preemptions.
    Loom,
    /// shuttle: PCT and random schedules.
    Shuttle,
}

/// The engine compiled into this build.
pub const ENGINE: Engine = if cfg!(feature = "loom") {
    Engine::Loom
} else if cfg!(feature = "shuttle") {
    Engine::Shuttle
} else {
    Engine::Std
};

/// Runs `f` under the compiled-in engine with default settings. See the
/// [module docs](self).
#[track_caller]
pub fn model<F>(f: F)
where
    F: Fn() + Send + Sync + 'static,
{
    Model::new().check(f);
}

/// Runs an async test body under the compiled-in engine: `f` makes the
/// future, written against [`heddle::sync::task`](crate::sync::task).
///
/// | build | what `model_async(f)` does |
/// | --- | --- |
/// | default | `f()` on a 2-worker tokio runtime, [`Model::iterations`] times (no noise: tokio's primitives have no hook) |
/// | `--features shuttle` | `f()` under shuttle's executor, PCT then random schedules; a failure prints the schedule and the replay command, as [`model`] |
/// | `--features loom` | not available: loom does not drive futures (check the sync parts with [`model`]) |
#[cfg(all(feature = "task", not(feature = "loom")))]
#[track_caller]
pub fn model_async<F, Fut>(f: F)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    Model::new().check_async(f);
}

/// Settings for one model check; [`model`] uses the defaults.
///
/// The body should spawn at least one thread: shuttle's PCT scheduler
/// rejects a body that exercises no concurrency.
///
/// ```
/// use heddle::sync::atomic::{AtomicU32, Ordering::SeqCst};
/// use heddle::sync::{Arc, thread};
///
/// heddle::check::Model::new()
///     .iterations(50)
///     .preemption_bound(2)
///     .check(|| {
///         let n = Arc::new(AtomicU32::new(0));
///         let n2 = Arc::clone(&n);
///         let t = thread::spawn(move || n2.fetch_add(1, SeqCst));
///         n.fetch_add(1, SeqCst);
///         t.join().expect("thread panicked");
///         assert_eq!(n.load(SeqCst), 2);
///     });
/// ```
#[derive(Clone, Debug)]
pub struct Model {
    iterations: Option<usize>,
    preemption_bound: Option<usize>,
    pct_depth: usize,
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), allow(dead_code))]
    noise: Option<bool>,
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), allow(dead_code))]
    seed: Option<u64>,
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), allow(dead_code))]
    block_limit: Option<std::time::Duration>,
}

/// A seed from the OS: std's `RandomState` keys are drawn from the OS.
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
fn os_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

/// `HEDDLE_NOISE=0` turns the std engine's scheduling noise off.
pub const NOISE_ENV: &str = "HEDDLE_NOISE";
/// `HEDDLE_SEED=N` fixes the std engine's noise seed (otherwise drawn from
/// the OS and reported on failure).
pub const SEED_ENV: &str = "HEDDLE_SEED";

/// Shuttle schedules per scheduler, and std repetitions, unless overridden.
pub const DEFAULT_ITERATIONS: usize = 1000;
/// Std-engine repetitions (real threads are slower to create than shuttle's).
pub const DEFAULT_STRESS_ITERATIONS: usize = 200;
/// loom's preemption bound unless `LOOM_MAX_PREEMPTIONS` is set.
pub const DEFAULT_PREEMPTION_BOUND: usize = 3;

impl Default for Model {
    fn default() -> Self {
        Self::new()
    }
}

impl Model {
    /// Default settings: preemption bound 3, PCT depth 3, 1000 shuttle
    /// schedules per scheduler, 200 stress repetitions.
    pub fn new() -> Self {
        Self {
            iterations: None,
            preemption_bound: None,
            pct_depth: 3,
            noise: None,
            seed: None,
            block_limit: None,
        }
    }

    /// Shuttle schedules per scheduler and std repetitions.
    /// `HEDDLE_ITERATIONS` still takes precedence.
    pub fn iterations(mut self, n: usize) -> Self {
        self.iterations = Some(n);
        self
    }

    /// loom's preemption bound. `LOOM_MAX_PREEMPTIONS` still takes precedence.
    pub fn preemption_bound(mut self, n: usize) -> Self {
        self.preemption_bound = Some(n);
        self
    }

    /// Scheduling noise in the std engine (default on; `HEDDLE_NOISE=0`
    /// turns it off everywhere). See `src/sync/noise.rs`: randomised yields,
    /// spins and micro-sleeps at every facade synchronisation point, and a
    /// block limit that turns a deadlock or lost wake-up into a panic.
    pub fn noise(mut self, on: bool) -> Self {
        self.noise = Some(on);
        self
    }

    /// The std engine's noise seed (`HEDDLE_SEED` takes precedence; by
    /// default one is drawn from the OS and reported on failure).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// How long a `lock` or `Condvar::wait` may block in a std stress run
    /// before it panics as a deadlock or lost wake-up (default 5 s;
    /// `HEDDLE_BLOCK_LIMIT_MS` takes precedence).
    pub fn block_limit(mut self, limit: std::time::Duration) -> Self {
        self.block_limit = Some(limit);
        self
    }

    /// PCT bug depth for shuttle.
    pub fn pct_depth(mut self, d: usize) -> Self {
        self.pct_depth = d;
        self
    }

    #[cfg_attr(feature = "loom", allow(dead_code))]
    fn iterations_for(&self, default: usize) -> usize {
        std::env::var("HEDDLE_ITERATIONS")
            .ok()
            .and_then(|v| v.parse().ok())
            .or(self.iterations)
            .unwrap_or(default)
    }

    /// Checks `f` under the compiled-in engine; panics if any execution fails.
    #[track_caller]
    pub fn check<F>(&self, f: F)
    where
        F: Fn() + Send + Sync + 'static,
    {
        replay::set_caller(std::panic::Location::caller());
        #[cfg(feature = "loom")]
        loom_run::run(self, f);
        #[cfg(feature = "shuttle")]
        shuttle_run::run(self, f);
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        self.stress(f);
    }

    /// Checks an async body (see [`model_async`]).
    #[cfg(all(feature = "task", not(feature = "loom")))]
    #[track_caller]
    pub fn check_async<F, Fut>(&self, f: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        #[cfg(feature = "shuttle")]
        self.check(move || shuttle::future::block_on(f()));
        #[cfg(not(feature = "shuttle"))]
        {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("building a tokio runtime");
            self.clone().noise(false).check(move || rt.block_on(f()));
        }
    }

    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    fn stress<F>(&self, f: F)
    where
        F: Fn() + Send + Sync + 'static,
    {
        use std::panic::{AssertUnwindSafe, catch_unwind};

        let n = self.iterations_for(DEFAULT_STRESS_ITERATIONS);
        let noise =
            self.noise.unwrap_or(true) && std::env::var(NOISE_ENV).map_or(true, |v| v != "0");
        let seed = std::env::var(SEED_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
            .or(self.seed)
            .unwrap_or_else(os_seed);
        tracing::debug!(iterations = n, noise, seed, "heddle::check: std stress run");
        let _run = crate::sync::noise::enable(seed, noise, self.block_limit);
        for i in 0..n {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(&f)) {
                let msg = crate::panic::message(payload.as_ref());
                let cmd = replay::Invocation::current().command_std(&format!("{SEED_ENV}={seed}"));
                panic!(
                    "{msg}\nheddle::check: the std stress run failed at iteration {} of {n} \
                     (scheduling noise {}, seed {seed}). Real threads: the seed repeats the \
                     noise, not the OS schedule; loom or shuttle replay exactly. Re-run:\n  {}",
                    i + 1,
                    if noise { "on" } else { "off" },
                    cmd
                );
            }
        }
    }
}
