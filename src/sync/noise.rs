//! Scheduling noise for the std engine: what makes `cargo test` find races.
//!
//! On real threads a racy load-then-store, a lock-order inversion or a lost
//! wake-up needs two threads to meet inside a window of nanoseconds, and
//! thread start-up (tens of microseconds) keeps them apart: a plain stress
//! loop practically never fails. While a [`check::model`](crate::check::model)
//! stress run is active, the facade perturbs every synchronisation point
//! (`Mutex::lock`, `RwLock::read`/`write`, `Condvar::wait`/`notify_*`,
//! `thread::spawn` and the start of a spawned thread): it draws from a
//! per-thread RNG, seeded from one run seed, and then does nothing, yields,
//! spins a little, or sleeps a few microseconds, before and after acquiring.
//! In every stress run (noise or not) a blocked `lock` or `wait` that lasts
//! longer than the block limit
//! (`HEDDLE_BLOCK_LIMIT_MS`, default 5000) panics naming the primitive: a
//! deadlock or a lost wake-up fails the test instead of hanging it.
//!
//! Cost outside a model: one `Relaxed` load of a static and a branch that is
//! not taken, per synchronisation point; the noisy paths are `#[cold]` and
//! out of line. `benches/sync_facade.rs` measures the facade against raw std.
//!
//! What it cannot do: atomics are std's own types (no hook), so a race made
//! only of atomic operations is perturbed only at thread start; real
//! threads are scheduled by the OS, so the seed reproduces the noise, not
//! the interleaving. loom and shuttle remain the engines that *prove*.

use std::cell::Cell;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};
use std::time::Duration;

/// Stress runs in progress: while non-zero, blocking has a limit.
static ACTIVE: AtomicUsize = AtomicUsize::new(0);
/// Whether the active run also perturbs the schedule.
static PERTURB: AtomicBool = AtomicBool::new(false);
/// The seed of the current run.
static SEED: AtomicU64 = AtomicU64::new(0);
/// Threads that drew noise so far: each gets its own RNG stream.
static THREADS: AtomicU64 = AtomicU64::new(0);
/// Epoch of the seed: bumped by every `enable`, so threads re-seed.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// The block limit of the active run, in milliseconds.
static LIMIT_MS: AtomicU64 = AtomicU64::new(DEFAULT_BLOCK_LIMIT_MS);

/// Default block limit, in milliseconds.
pub const DEFAULT_BLOCK_LIMIT_MS: u64 = 5_000;
/// Environment variable overriding the block limit.
pub const BLOCK_LIMIT_ENV: &str = "HEDDLE_BLOCK_LIMIT_MS";

thread_local! {
    /// (epoch, xorshift state) of this thread's noise stream.
    static RNG: Cell<(u64, u64)> = const { Cell::new((u64::MAX, 0)) };
}

/// Whether a stress run is active (noise or not): the only cost on the
/// production path.
#[inline(always)]
pub(crate) fn enabled() -> bool {
    ACTIVE.load(Relaxed) != 0
}

/// A synchronisation point: perturbs the schedule if a stress run is active.
#[inline(always)]
pub(crate) fn point() {
    if enabled() {
        perturb();
    }
}

/// Starts a stress run for the guard's lifetime: the block limit applies,
/// and with `perturb` the schedule is perturbed from `seed`.
pub(crate) fn enable(seed: u64, perturb: bool, limit: Option<Duration>) -> Guard {
    let env = std::env::var(BLOCK_LIMIT_ENV)
        .ok()
        .and_then(|v| v.parse().ok());
    let ms = env
        .or(limit.map(|l| u64::try_from(l.as_millis()).unwrap_or(u64::MAX)))
        .unwrap_or(DEFAULT_BLOCK_LIMIT_MS);
    LIMIT_MS.store(ms, Relaxed);
    PERTURB.store(perturb, Relaxed);
    SEED.store(seed, Relaxed);
    EPOCH.fetch_add(1, Relaxed);
    ACTIVE.fetch_add(1, Relaxed);
    Guard(())
}

/// Noise stays on until this is dropped.
#[derive(Debug)]
pub(crate) struct Guard(());

impl Drop for Guard {
    fn drop(&mut self) {
        ACTIVE.fetch_sub(1, Relaxed);
    }
}

fn next() -> u64 {
    RNG.with(|cell| {
        let epoch = EPOCH.load(Relaxed);
        let (e, mut x) = cell.get();
        if e != epoch {
            let thread = THREADS.fetch_add(1, Relaxed);
            x = SEED.load(Relaxed) ^ thread.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            x |= 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        cell.set((epoch, x));
        x
    })
}

#[cold]
#[inline(never)]
fn perturb() {
    if !PERTURB.load(Relaxed) {
        return;
    }
    let r = next();
    match r % 16 {
        0..=5 => {}
        6..=10 => std::thread::yield_now(),
        11..=14 => {
            for _ in 0..(r >> 8) % 2_000 {
                std::hint::spin_loop();
            }
        }
        _ => std::thread::sleep(Duration::from_micros((r >> 8) % 100)),
    }
}

/// `thread::spawn` under a stress run. Thread start-up takes longer than a
/// short body, so left alone the parent has finished its next steps before
/// the child runs: with noise, the parent sometimes waits for the child to
/// start, and both then spin a random short while before going on.
#[cold]
#[inline(never)]
pub(crate) fn spawn<F, T>(f: F) -> std::thread::JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if !PERTURB.load(Relaxed) {
        return std::thread::spawn(f);
    }
    let started = std::sync::Arc::new(AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&started);
    let handle = std::thread::spawn(move || {
        flag.store(true, Release);
        short_spin();
        f()
    });
    if next() % 4 != 0 {
        while !started.load(Acquire) {
            std::thread::yield_now();
        }
    }
    short_spin();
    handle
}

/// Spins 0..256 times, drawn from this thread's stream.
fn short_spin() {
    for _ in 0..next() % 256 {
        std::hint::spin_loop();
    }
}

/// How long a `lock` or `wait` may block under a stress run.
pub(crate) fn block_limit() -> Duration {
    Duration::from_millis(LIMIT_MS.load(Relaxed))
}

/// Acquires with `try_acquire`, perturbing, and panics past the block limit.
#[cold]
#[inline(never)]
pub(crate) fn acquire<G>(what: &str, mut try_acquire: impl FnMut() -> Option<G>) -> G {
    perturb();
    let limit = block_limit();
    let start = std::time::Instant::now();
    let mut tries = 0u32;
    loop {
        if let Some(g) = try_acquire() {
            perturb();
            return g;
        }
        if start.elapsed() > limit {
            blocked(what, limit);
        }
        tries += 1;
        if tries < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// The panic of a thread blocked past the limit.
pub(crate) fn blocked(what: &str, limit: Duration) -> ! {
    panic!(
        "heddle::check: a thread blocked in {what} for more than {limit:?} under a stress run: \
         a deadlock (e.g. a lock-order inversion) or a lost wake-up ({BLOCK_LIMIT_ENV} sets \
         the limit)"
    )
}
