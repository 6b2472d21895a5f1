//! The sync facade: one API over std, loom and shuttle.
//!
//! Every pattern in heddle imports its primitives from here, never from
//! `std::sync`, `loom` or `shuttle` directly. The cargo feature picks the
//! engine:
//!
//! | build | `Mutex`, `RwLock`, `Condvar`, atomics, `thread` | `channel`, `mpsc` | `Barrier` | `OnceLock` | `thread::scope` | `thread::sleep` |
//! | --- | --- | --- | --- | --- | --- | --- |
//! | default | `std` | `crossbeam-channel` | std | std | std | std |
//! | `--features loom` | `loom` (every interleaving, C11 memory model) | [`channel`] on the facade's `Mutex` + `Condvar` | heddle's, on `Mutex` + `Condvar` (loom has none) | heddle's, on `Mutex` + `AtomicBool` | heddle's, on loom threads | a yield (loom has no time) |
//! | `--features shuttle` | `shuttle` (random and PCT schedules) | the same, so channels are model-checked too | shuttle's | heddle's, as under loom | shuttle's | shuttle's: a yield (no time) |
//!
//! [`mpsc`] gives the channels std's names (`channel`, `sync_channel`).
//! Under loom and shuttle the facade's methods are `#[track_caller]`, so
//! the engines' locations (`LOOM_LOCATION=1`) name the caller's line.
//!
//! The wrappers differ from `std` in one way: `lock`, `read` and `write`
//! return the guard directly. A poisoned lock is recovered (the guard is taken
//! out of the [`PoisonError`]), as tokio's std adapters
//! do: a panic elsewhere already surfaces through `JoinHandle::join`, and the
//! invariants of heddle's patterns never span a panic point.
//!
//! In production builds the wrappers are `#[inline]` newtypes over the std
//! types; `benches/sync_facade.rs` measures them against raw std in the same
//! run.
//!
//! # Example
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
//! use heddle::sync::{Arc, Mutex, thread};
//! use heddle::sync::atomic::{AtomicUsize, Ordering::Relaxed};
//!
//! let hits = Arc::new(AtomicUsize::new(0));
//! let log = Arc::new(Mutex::new(Vec::new()));
//! let handles: Vec<_> = (0..2)
//!     .map(|i| {
//!         let (hits, log) = (Arc::clone(&hits), Arc::clone(&log));
//!         thread::spawn(move || {
//!             hits.fetch_add(1, Relaxed);
//!             log.lock().push(i);
//!         })
//!     })
//!     .collect();
//! for h in handles {
//!     h.join().expect("worker panicked");
//! }
//! assert_eq!(hits.load(Relaxed), 2);
//! assert_eq!(log.lock().len(), 2);
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```

#[cfg(feature = "loom")]
use loom::sync as imp;
#[cfg(feature = "shuttle")]
use shuttle::sync as imp;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
use std::sync as imp;

use std::fmt;
use std::sync::{PoisonError, TryLockError};

pub use imp::{Arc, MutexGuard, RwLockReadGuard, RwLockWriteGuard};

mod barrier;
pub mod channel;
pub mod mpsc;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub(crate) mod noise;
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use noise::{BLOCK_LIMIT_ENV, DEFAULT_BLOCK_LIMIT_MS};
mod once_lock;
pub use barrier::{Barrier, BarrierWaitResult};
pub use once_lock::OnceLock;

/// Atomic types and [`Ordering`](atomic::Ordering), from the selected engine.
///
/// Under shuttle every atomic behaves as `SeqCst`: weak-memory bugs are
/// loom's job.
pub mod atomic {
    #[cfg(feature = "loom")]
    pub use loom::sync::atomic::{
        AtomicBool, AtomicI32, AtomicI64, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64,
        AtomicUsize, Ordering, fence,
    };
    #[cfg(feature = "shuttle")]
    pub use shuttle::sync::atomic::{
        AtomicBool, AtomicI32, AtomicI64, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64,
        AtomicUsize, Ordering, fence,
    };
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    pub use std::sync::atomic::{
        AtomicBool, AtomicI32, AtomicI64, AtomicIsize, AtomicPtr, AtomicU32, AtomicU64,
        AtomicUsize, Ordering, fence,
    };
}

pub mod thread;

#[cfg(feature = "task")]
pub mod task;

/// `spin_loop`, a scheduling point under loom and shuttle.
pub mod hint {
    #[cfg(feature = "loom")]
    pub use loom::hint::spin_loop;
    #[cfg(feature = "shuttle")]
    pub use shuttle::hint::spin_loop;
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    pub use std::hint::spin_loop;
}

/// Takes the guard out of a poisoned lock. Out of line and cold, so the
/// fast path of `lock` is exactly std's `lock().unwrap()` fast path.
#[cold]
#[inline(never)]
fn recover<G>(poisoned: PoisonError<G>) -> G {
    poisoned.into_inner()
}

/// A mutual-exclusion lock whose [`lock`](Mutex::lock) returns the guard
/// directly, recovering from poisoning.
///
/// ```
/// # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
/// let m = heddle::sync::Mutex::new(1);
/// *m.lock() += 1;
/// assert_eq!(m.into_inner(), 2);
/// # }
/// # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
/// ```
#[derive(Default)]
pub struct Mutex<T>(imp::Mutex<T>);

impl<T> Mutex<T> {
    /// Creates a new unlocked mutex holding `value`.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn new(value: T) -> Self {
        Self(imp::Mutex::new(value))
    }

    /// Acquires the lock, blocking the current thread until it is free.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn lock(&self) -> MutexGuard<'_, T> {
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        if noise::enabled() {
            return noise::acquire("Mutex::lock", || self.try_lock());
        }
        match self.0.lock() {
            Ok(guard) => guard,
            Err(poisoned) => recover(poisoned),
        }
    }

    /// Acquires the lock if it is free right now.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        match self.0.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Consumes the mutex and returns the value.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mutex").finish_non_exhaustive()
    }
}

/// A reader-writer lock: many readers or one writer. `read` and `write`
/// return guards directly, recovering from poisoning.
///
/// ```
/// # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
/// let l = heddle::sync::RwLock::new(vec![1]);
/// l.write().push(2);
/// assert_eq!(l.read().len(), 2);
/// # }
/// # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
/// ```
#[derive(Default)]
pub struct RwLock<T>(imp::RwLock<T>);

impl<T> RwLock<T> {
    /// Creates a new unlocked lock holding `value`.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn new(value: T) -> Self {
        Self(imp::RwLock::new(value))
    }

    /// Acquires shared read access.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        if noise::enabled() {
            return noise::acquire("RwLock::read", || self.try_read());
        }
        match self.0.read() {
            Ok(guard) => guard,
            Err(poisoned) => recover(poisoned),
        }
    }

    /// Acquires exclusive write access.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        if noise::enabled() {
            return noise::acquire("RwLock::write", || self.try_write());
        }
        match self.0.write() {
            Ok(guard) => guard,
            Err(poisoned) => recover(poisoned),
        }
    }

    /// Acquires shared read access if that can be done without blocking.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        match self.0.try_read() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Acquires exclusive write access if that can be done without blocking.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        match self.0.try_write() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Consumes the lock and returns the value.
    #[inline]
    pub fn into_inner(self) -> T {
        self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RwLock").finish_non_exhaustive()
    }
}

/// A condition variable paired with the facade's [`Mutex`].
///
/// ```
/// # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
/// use heddle::sync::{Arc, Condvar, Mutex, thread};
///
/// let pair = Arc::new((Mutex::new(false), Condvar::new()));
/// let p2 = Arc::clone(&pair);
/// let t = thread::spawn(move || {
///     *p2.0.lock() = true;
///     p2.1.notify_one();
/// });
/// let ready = pair.1.wait_while(pair.0.lock(), |ready| !*ready);
/// assert!(*ready);
/// drop(ready);
/// t.join().expect("notifier panicked");
/// # }
/// # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
/// ```
#[derive(Default)]
pub struct Condvar(imp::Condvar);

impl Condvar {
    /// Creates a new condition variable.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn new() -> Self {
        Self(imp::Condvar::new())
    }

    /// Releases `guard`, blocks until notified, and re-acquires the lock.
    /// May wake spuriously: call it in a loop, or use [`wait_while`](Self::wait_while).
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        if noise::enabled() {
            return self.wait_noisy(guard);
        }
        match self.0.wait(guard) {
            Ok(guard) => guard,
            Err(poisoned) => recover(poisoned),
        }
    }

    /// Blocks while `condition` holds, re-checking it after every wake-up.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn wait_while<'a, T>(
        &self,
        mut guard: MutexGuard<'a, T>,
        mut condition: impl FnMut(&mut T) -> bool,
    ) -> MutexGuard<'a, T> {
        while condition(&mut guard) {
            guard = self.wait(guard);
        }
        guard
    }

    /// Wakes one waiting thread.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn notify_one(&self) {
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        noise::point();
        self.0.notify_one();
    }

    /// Wakes every waiting thread.
    #[inline]
    #[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
    pub fn notify_all(&self) {
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        noise::point();
        self.0.notify_all();
    }
}

impl Condvar {
    /// `wait` under a stress run: perturbed, and a wait past the block
    /// limit with no notification panics instead of hanging the test.
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    #[cold]
    #[inline(never)]
    fn wait_noisy<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        noise::point();
        let limit = noise::block_limit();
        let (guard, result) = match self.0.wait_timeout(guard, limit) {
            Ok(pair) => pair,
            Err(poisoned) => recover(poisoned),
        };
        if result.timed_out() {
            drop(guard);
            noise::blocked("Condvar::wait", limit);
        }
        noise::point();
        guard
    }
}

impl fmt::Debug for Condvar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Condvar").finish_non_exhaustive()
    }
}
