//! Async tasks and what they await, one API over tokio and shuttle.
//!
//! **The rule for async code** (heddle's and yours), stated here once for
//! the whole crate:
//!
//! - **Coordination between tasks goes through this module**: `spawn`,
//!   `JoinHandle`/`JoinSet`, `yield_now`, the async `Mutex`, `Notify`,
//!   `mpsc`/`oneshot` channels, `sleep` and `timeout`, and for state shared
//!   by tasks [`SyncMutex`] (a lock for short critical sections that never
//!   span an `.await`) and [`Arc`]; [`block_on`] runs a future from
//!   synchronous code. Under `--features shuttle` every item here is
//!   shuttle's model of tokio, so [`check::model_async`](crate::check::model_async)
//!   explores the interleavings of tasks like those of threads and prints
//!   the same replay command. Code that names `tokio::sync` or `std::sync`
//!   for this is not explored.
//! - **Network I/O goes through [`heddle::net`](crate::net)** (tokio sockets
//!   or turmoil's simulated network): it is explored by the simulator
//!   (`heddle-sim`, seeded schedules, faults and histories), not by shuttle.
//!   heddle's RPC is written this way: the de-duplication window that
//!   connections share and the hand-over of outcomes to joined duplicates
//!   ([`DedupStore`](crate::distributed::rpc::dedup::DedupStore)) use this
//!   module and are raced by shuttle (`models/rpc_dedup.rs`); the sockets,
//!   frames and timers around them are the simulator's.
//! - **Consequence**: under `--features shuttle`, code that uses this
//!   module runs only inside [`check::model`](crate::check::model) or
//!   [`check::model_async`](crate::check::model_async) (shuttle's primitives
//!   panic outside an execution). Tests that run the real RPC server (or
//!   the lock service and key-value scenarios built on it) are therefore
//!   compiled out of the shuttle build (`#![cfg(not(any(feature = "loom",
//!   feature = "shuttle")))]` in `tests/`, `heddle-sim`'s own `shuttle`
//!   feature in `sim/`), and their doctests are guarded the same way; they
//!   run in the default build.
//! - **Where `std::sync` and `tokio` remain, and why**: the network stack
//!   ([`heddle::net`](crate::net) and what is built on it: the RPC client,
//!   the server's connection driver and handler tasks, the lock service)
//!   does its I/O on tokio or turmoil in every build, so its own
//!   bookkeeping that no model races (counters and flags, the client's
//!   jitter generator behind a std lock held for one draw, its connection
//!   slot behind a tokio lock held while connecting, each client
//!   connection's session, write queue and write half behind std locks
//!   held for at most one non-blocking write, the handler tasks of one
//!   connection) uses `std::sync` and `tokio` directly, and runs
//!   unchanged under every engine feature; the simulator and the
//!   integration tests check it. This paragraph is the only place that
//!   exception is written down. Synchronous patterns (threads, no futures)
//!   use the blocking facade [`crate::sync`], explored by loom and shuttle.
//!
//! [`SyncMutex`] and [`Arc`] exist because of loom: under `--features loom`
//! the blocking facade is loom's, which only lives inside a loom model, and
//! loom does not drive futures, so async code there runs on tokio with
//! std's lock. Under shuttle `SyncMutex` is the blocking facade's
//! (shuttle's) `Mutex`, explored with the tasks; in the default build it is
//! the facade's std `Mutex`.
//!
//! | build | tasks and primitives | `SyncMutex` | time |
//! | --- | --- | --- | --- |
//! | default | `tokio` | [`crate::sync::Mutex`] (std) | real (`tokio::time`) |
//! | `--features shuttle` | `shuttle-tokio` 1.0 (tokio's API on shuttle's scheduler) | [`crate::sync::Mutex`] (shuttle) | not modelled: `sleep` is a yield, a `timeout` fires only when the model triggers it |
//! | `--features loom` | `tokio`, not explored: loom does not drive futures; loom checks the sync primitives async code shares with threads, through `check::model` bodies | std's, poison-recovering | real |
//!
//! shuttle-tokio's `JoinSet` has `spawn`, `join_next`, `len` and
//! `abort_all`, but no task ids (`join_next_with_id`, `JoinError::id`), and
//! its `JoinError::into_panic` is unimplemented: code written against this
//! module tags each task's output itself and catches a panic inside the
//! task if it must report it (as
//! [`async_tasks`](crate::concurrency::async_tasks) does).
//!
//! Why shuttle-tokio rather than shuttle's own `future` module: `future`
//! has `spawn`, `block_on` and `yield_now` but no async mutex, `Notify`,
//! channels, `JoinSet` or timeouts, so heddle would have to write and
//! maintain each of them; shuttle-tokio (by shuttle's authors, on the same
//! shuttle 0.9) models all of them under tokio's names, so the production
//! and model builds share one API. Its cost: it pulls criterion, regex and
//! test-log into `--features shuttle` builds (test builds only).
//!
//! ```
//! # #[cfg(not(feature = "loom"))] fn main() {
//! use heddle::sync::Arc;
//! use heddle::sync::task::{self, Mutex};
//!
//! heddle::check::model_async(|| async {
//!     let n = Arc::new(Mutex::new(0));
//!     let n2 = Arc::clone(&n);
//!     let t = task::spawn(async move { *n2.lock().await += 1 });
//!     *n.lock().await += 1;
//!     t.await.expect("task panicked");
//!     assert_eq!(*n.lock().await, 2);
//! });
//! # }
//! # #[cfg(feature = "loom")] fn main() {}
//! ```

#[cfg(feature = "shuttle")]
use shuttle_tokio as rt;
#[cfg(not(feature = "shuttle"))]
use tokio as rt;

#[cfg(not(feature = "loom"))]
pub use super::{Mutex as SyncMutex, MutexGuard as SyncMutexGuard};
#[cfg(feature = "loom")]
pub use loom_free::{SyncMutex, SyncMutexGuard};
pub use rt::sync::{Mutex, MutexGuard, Notify, mpsc, oneshot};
pub use rt::task::{JoinError, JoinHandle, JoinSet, spawn, yield_now};
pub use rt::time::{sleep, timeout};
/// The `Arc` tasks share: std's in every build (shuttle's is std's, and
/// loom's lives only inside a loom model, which never runs futures).
pub use std::sync::Arc;

/// The error of a [`timeout`] that elapsed.
pub mod error {
    pub use super::rt::time::error::Elapsed;
}

/// Runs `future` to completion on the current thread: a tokio
/// current-thread runtime in production, shuttle's executor under shuttle
/// (inside a model).
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    #[cfg(feature = "shuttle")]
    {
        shuttle::future::block_on(future)
    }
    #[cfg(not(feature = "shuttle"))]
    {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("building a current-thread tokio runtime")
            .block_on(future)
    }
}

/// Under loom: std's lock with the facade's API (async code never runs
/// inside a loom model, where loom's lock would be the one to use).
#[cfg(feature = "loom")]
mod loom_free {
    use std::fmt;
    use std::sync::{Mutex, PoisonError};

    /// The guard of a [`SyncMutex`].
    pub type SyncMutexGuard<'a, T> = std::sync::MutexGuard<'a, T>;

    /// A lock for short critical sections in async code that never span an
    /// `.await`; `lock` returns the guard, recovering from poisoning.
    #[derive(Default)]
    pub struct SyncMutex<T>(Mutex<T>);

    impl<T> SyncMutex<T> {
        /// Creates a new unlocked mutex holding `value`.
        pub fn new(value: T) -> Self {
            Self(Mutex::new(value))
        }

        /// Acquires the lock, blocking the current thread until it is free.
        pub fn lock(&self) -> SyncMutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }

        /// Consumes the mutex and returns the value.
        pub fn into_inner(self) -> T {
            self.0.into_inner().unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl<T> fmt::Debug for SyncMutex<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_struct("SyncMutex").finish_non_exhaustive()
        }
    }
}
