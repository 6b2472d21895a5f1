//! Async tasks and what they await, one API over tokio and shuttle.
//!
//! **The rule for async code** (heddle's and yours): everything a task
//! awaits comes from this module: `spawn`, `JoinHandle`/`JoinSet`,
//! `yield_now`, the async `Mutex`, `Notify`, `mpsc`/`oneshot` channels,
//! `sleep` and `timeout`; [`block_on`] runs a future from synchronous code.
//! The blocking facade ([`crate::sync`]) is for short critical sections that
//! never span an `.await`. Under `--features shuttle` every item here is
//! shuttle's model of tokio, so [`check::model_async`](crate::check::model_async)
//! explores the interleavings of tasks like those of threads and prints the
//! same replay command. Code that names `tokio` directly is not explored.
//!
//! | build | tasks and primitives | time |
//! | --- | --- | --- |
//! | default | `tokio` | real (`tokio::time`) |
//! | `--features shuttle` | `shuttle-tokio` 1.0 (tokio's API on shuttle's scheduler) | not modelled: `sleep` is a yield, a `timeout` fires only when the model triggers it |
//! | `--features loom` | `tokio`, not explored: loom does not drive futures; loom checks the sync primitives async code shares with threads, through `check::model` bodies | real |
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

pub use rt::sync::{Mutex, MutexGuard, Notify, mpsc, oneshot};
pub use rt::task::{JoinError, JoinHandle, JoinSet, spawn, yield_now};
pub use rt::time::{sleep, timeout};

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
