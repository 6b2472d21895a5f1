//! Threads from the selected engine: `spawn`, `scope`, `sleep`, `yield_now`.
//!
//! | item | std | loom | shuttle |
//! | --- | --- | --- | --- |
//! | `spawn`, `JoinHandle` | std | loom (at most 4 spawned threads: loom's limit is 5 including main) | shuttle |
//! | `scope`, `Scope`, `ScopedJoinHandle` | std | heddle's, on loom threads (loom has none) | shuttle |
//! | `sleep` | std | a [`yield_now`]: loom has no time | shuttle's (a context switch: no time either) |
//! | `yield_now` | std | loom | shuttle |
//!
//! Under loom and shuttle `sleep` is only a scheduling point: a model never
//! waits, and code that uses a sleep in place of synchronization is caught,
//! not excused (see `models/facade.rs`).
//!
//! Do not call `std::thread::scope` or `std::thread::spawn` in a model: they
//! start real threads, which the engines do not control ("outside a model"
//! panics). Use these.
//!
//! ```
//! use heddle::sync::atomic::{AtomicUsize, Ordering::Relaxed};
//! use heddle::sync::thread;
//!
//! heddle::check::model(|| {
//!     let hits = AtomicUsize::new(0);
//!     thread::scope(|s| {
//!         s.spawn(|| hits.fetch_add(1, Relaxed));
//!         s.spawn(|| hits.fetch_add(1, Relaxed));
//!     });
//!     assert_eq!(hits.load(Relaxed), 2);
//! });
//! ```

#[cfg(feature = "loom")]
pub use loom::thread::{JoinHandle, spawn, yield_now};
#[cfg(feature = "shuttle")]
pub use shuttle::thread::{JoinHandle, Scope, ScopedJoinHandle, scope, sleep, spawn, yield_now};
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use std::thread::{JoinHandle, Scope, ScopedJoinHandle, scope, sleep, yield_now};

/// `std::thread::spawn`; under a `check::model` stress run the new thread's
/// start is aligned with the parent's next steps, then both are perturbed
/// (see `src/sync/noise.rs`), so that threads actually overlap.
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
#[inline]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    if super::noise::enabled() {
        return super::noise::spawn(f);
    }
    std::thread::spawn(f)
}

#[cfg(feature = "loom")]
pub use loom_scope::{Scope, ScopedJoinHandle, scope};

/// Under loom, a yield: loom has no clock, so the sleep is a scheduling
/// point, never a delay.
#[cfg(feature = "loom")]
pub fn sleep(_duration: std::time::Duration) {
    yield_now();
}

#[cfg(feature = "loom")]
mod loom_scope {
    use std::marker::PhantomData;
    use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
    use std::sync::Mutex as StdMutex;

    type Shared<T> = std::sync::Arc<StdMutex<Option<T>>>;

    /// A scope for spawning threads that borrow from the enclosing stack;
    /// see [`scope`].
    pub struct Scope<'scope, 'env: 'scope> {
        /// Handles the scope still has to join. A std mutex: loom runs every
        /// model thread on one OS thread, and it is never held across a
        /// loom operation.
        pending: StdMutex<Vec<Shared<loom::thread::JoinHandle<()>>>>,
        scope: PhantomData<&'scope mut &'scope ()>,
        env: PhantomData<&'env mut &'env ()>,
    }

    impl std::fmt::Debug for Scope<'_, '_> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Scope").finish_non_exhaustive()
        }
    }

    /// A handle to a scoped thread; joining it returns the thread's value.
    #[derive(Debug)]
    pub struct ScopedJoinHandle<'scope, T> {
        handle: Shared<loom::thread::JoinHandle<()>>,
        result: Shared<T>,
        scope: PhantomData<&'scope ()>,
    }

    impl<T> ScopedJoinHandle<'_, T> {
        /// Waits for the thread; `Err` carries its panic.
        pub fn join(self) -> std::thread::Result<T> {
            let handle = take(&self.handle);
            if let Some(h) = handle {
                h.join()?;
            }
            Ok(take(&self.result).expect("a joined scoped thread left its result"))
        }
    }

    fn take<T>(slot: &StdMutex<Option<T>>) -> Option<T> {
        slot.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    impl<'scope> Scope<'scope, '_> {
        /// Spawns a thread that may borrow anything that outlives the scope.
        #[track_caller]
        pub fn spawn<F, T>(&'scope self, f: F) -> ScopedJoinHandle<'scope, T>
        where
            F: FnOnce() -> T + Send + 'scope,
            T: Send + 'scope,
        {
            let result: Shared<T> = Default::default();
            let slot = std::sync::Arc::clone(&result);
            let body: Box<dyn FnOnce() + 'scope> = Box::new(move || {
                let value = f();
                *slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(value);
            });
            // SAFETY: only the lifetime changes. `scope` joins every thread
            // spawned here before it returns, also when its closure panics,
            // so nothing the body borrows ('scope, 'env) is gone while it runs.
            let body: Box<dyn FnOnce() + 'static> = unsafe { std::mem::transmute(body) };
            let handle = std::sync::Arc::new(StdMutex::new(Some(loom::thread::spawn(body))));
            self.pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(std::sync::Arc::clone(&handle));
            ScopedJoinHandle {
                handle,
                result,
                scope: PhantomData,
            }
        }
    }

    /// Runs `f` with a [`Scope`]; every thread spawned in it is joined
    /// before `scope` returns. Panics if a thread that was not joined
    /// panicked, as `std::thread::scope` does.
    pub fn scope<'env, F, T>(f: F) -> T
    where
        F: for<'scope> FnOnce(&'scope Scope<'scope, 'env>) -> T,
    {
        let scope = Scope {
            pending: StdMutex::new(Vec::new()),
            scope: PhantomData,
            env: PhantomData,
        };
        let out = catch_unwind(AssertUnwindSafe(|| f(&scope)));
        let pending = std::mem::take(
            &mut *scope
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let mut panicked = false;
        for h in pending {
            if let Some(h) = take(&h) {
                panicked |= h.join().is_err();
            }
        }
        match out {
            Err(payload) => resume_unwind(payload),
            Ok(_) if panicked => panic!("a scoped thread panicked"),
            Ok(value) => value,
        }
    }
}
