//! Async tasks: run many fallible tasks with bounded concurrency, a per-task
//! timeout and cancellation, and get every result back in submission order
//! (guide §1.5).
//!
//! **What.** [`run_all`] takes any iterator of futures returning
//! `Result<T, E>`, keeps at most [`Options::concurrency`] of them running as
//! tokio tasks, and returns one `Result<T, TaskError<E>>` per input, in the
//! order the inputs were given. Each outcome is one of: the task's value, its
//! own error ([`TaskError::Failed`]), [`TaskError::TimedOut`],
//! [`TaskError::Cancelled`] (the run's [`CancellationToken`] fired before or
//! while it ran), or [`TaskError::Panicked`]. A failure never affects the
//! other tasks, and inputs are pulled lazily, so an endless or expensive
//! iterator is only advanced when a slot frees up.
//!
//! **When.** Fan-out over I/O-bound work (requests, queries, file reads)
//! where you want a cap on in-flight work, an upper bound on how long any one
//! task may take, and a way to stop early. For CPU-bound work use a thread
//! pool (`rayon`, [`worker_pool`](super::worker_pool)) instead.
//!
//! **Compared to.** The guide uses `futures::future::join_all`: every task
//! starts at once (no bound), a hung task hangs the whole call, there is no
//! way to cancel, and a panic takes the caller down. `futures`'
//! `StreamExt::buffered(n)` bounds concurrency and keeps order, but polls all
//! tasks inside one task (no parallelism across worker threads) and has no
//! timeout or cancellation. `tokio::task::JoinSet` runs tasks in parallel but
//! yields them in completion order; this is a `JoinSet` plus the bookkeeping
//! that puts results back in order, a slot limit, timeouts and cancellation.
//!
//! **How it is checked.** Written against the task facade
//! ([`crate::sync::task`]: `JoinSet`, `timeout`), so the same code runs on
//! tokio and under shuttle. `models/async_tasks.rs` checks it twice:
//!
//! - on tokio's current-thread runtime with the **paused clock**
//!   (`start_paused = true`; default and loom builds), where timers fire in
//!   virtual time: deterministic tests that assert exact virtual durations
//!   (which is how the concurrency bound is shown), timeouts, cancellation,
//!   panics and order;
//! - under shuttle through [`check::model_async`](crate::check::model_async)
//!   (and on a 2-worker tokio runtime in the default build): tasks that
//!   yield, so that they finish in every order, race the reordering of
//!   results, the slot limit (an in-flight gauge on the facade's atomics) and
//!   a cancellation arriving at any point of the run.
//!
//! Planted bugs, each caught by a named assertion: the guide's unbounded,
//! untimed `join_all`, and a run that stores results in completion order
//! (`broken`, in engine builds only).
//!
//! shuttle-tokio's `JoinSet` has no task ids, so each task returns its own
//! submission index with its outcome, and catches its own panic (shuttle's
//! `JoinError` cannot hand the payload back); a `JoinError` then only means
//! the task was aborted by cancellation.
//!
//! Must be called inside a tokio runtime, or inside a shuttle model under
//! `--features shuttle` (it spawns with [`JoinSet::spawn`]).
//!
//! # Example
//!
//! ```
//! use heddle::concurrency::async_tasks::{Options, TaskError, run_all};
//! use std::num::NonZeroUsize;
//! use std::time::Duration;
//!
//! # #[cfg(not(feature = "shuttle"))] fn main() {
//! # tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap().block_on(async {
//! let tasks = (1..=6u64).map(|id| async move {
//!     tokio::time::sleep(Duration::from_millis(10 * id)).await;
//!     if id % 5 == 0 { Err(format!("task {id} failed")) } else { Ok(id * 100) }
//! });
//! let opts = Options::new(NonZeroUsize::new(2).unwrap()).timeout(Duration::from_millis(55));
//! let results = run_all(tasks, &opts).await;
//! assert_eq!(results[0], Ok(100)); // submission order, whatever finished first
//! assert_eq!(results[4], Err(TaskError::Failed("task 5 failed".to_string())));
//! assert_eq!(results[5], Err(TaskError::TimedOut(Duration::from_millis(55))));
//! # });
//! # }
//! # #[cfg(feature = "shuttle")] fn main() {}
//! ```

use crate::sync::task::{self, JoinSet};
use std::future::Future;
use std::num::NonZeroUsize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;
pub use tokio_util::sync::CancellationToken;
/// Why a task has no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TaskError<E> {
    /// The task ran and returned this error.
    #[error("task failed: {0}")]
    Failed(E),
    /// The task did not finish within the timeout; it was dropped.
    #[error("task timed out after {0:?}")]
    TimedOut(Duration),
    /// The run was cancelled before the task finished (or started).
    #[error("task cancelled")]
    Cancelled,
    /// The task panicked with this message.
    #[error("task panicked: {0}")]
    Panicked(String),
}

/// How [`run_all`] runs its tasks.
#[derive(Debug, Clone)]
pub struct Options {
    concurrency: NonZeroUsize,
    timeout: Option<Duration>,
    cancel: CancellationToken,
}

impl Options {
    /// At most `concurrency` tasks in flight, no timeout, never cancelled.
    pub fn new(concurrency: NonZeroUsize) -> Self {
        Self {
            concurrency,
            timeout: None,
            cancel: CancellationToken::new(),
        }
    }

    /// Each task gets at most `timeout` from the moment it starts; then it
    /// is dropped and reported as [`TaskError::TimedOut`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Cancelling `token` aborts the tasks in flight and starts no more;
    /// every task without a result is reported [`TaskError::Cancelled`].
    pub fn cancel_on(mut self, token: CancellationToken) -> Self {
        self.cancel = token;
        self
    }

    /// The concurrency limit.
    pub fn concurrency(&self) -> NonZeroUsize {
        self.concurrency
    }
}

/// What one spawned task hands back: its submission index and outcome.
type Tagged<T, E> = (usize, Result<T, TaskError<E>>);

/// Runs every future of `tasks` as a task, at most `opts.concurrency()` at
/// a time, and returns their outcomes in submission order. See the
/// [module docs](self).
pub async fn run_all<I, F, T, E>(tasks: I, opts: &Options) -> Vec<Result<T, TaskError<E>>>
where
    I: IntoIterator<Item = F>,
    F: Future<Output = Result<T, E>> + Send + 'static,
    T: Send + 'static,
    E: Send + 'static,
{
    let limit = opts.concurrency.get();
    let mut pending = tasks.into_iter();
    let mut results: Vec<Option<Result<T, TaskError<E>>>> = Vec::new();
    let mut running = JoinSet::new();
    let mut cancelled = false;

    loop {
        // Checked before every start, not only by the select below (another
        // thread may cancel while a result is being stored): no task starts
        // once the token is seen cancelled, and the ones in flight stop.
        if !cancelled && opts.cancel.is_cancelled() {
            cancelled = true;
            running.abort_all();
        }
        while !cancelled && running.len() < limit {
            let Some(task) = pending.next() else { break };
            running.spawn(tagged(results.len(), task, opts.timeout));
            results.push(None);
        }
        if running.is_empty() {
            break;
        }
        tokio::select! {
            // Biased: the order of checks is part of the (deterministic) contract.
            biased;
            () = opts.cancel.cancelled(), if !cancelled => {
                tracing::debug!(in_flight = running.len(), "run_all cancelled");
                cancelled = true;
                running.abort_all();
            }
            Some(joined) = running.join_next() => {
                // An error is an aborted task: its slot stays empty and is
                // reported Cancelled below.
                if let Ok((slot, outcome)) = joined {
                    results[slot] = Some(outcome);
                }
            }
        }
    }
    if cancelled {
        // Tasks never started are reported, not silently dropped.
        results.extend(pending.map(|_| None));
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(TaskError::Cancelled)))
        .collect()
}

/// The task spawned for input `slot`: its timeout, its panic caught and
/// reported, its index attached.
async fn tagged<F, T, E>(slot: usize, task: F, timeout: Option<Duration>) -> Tagged<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    (slot, catch_panic(with_timeout(task, timeout)).await)
}

/// Polls `future`, turning a panic inside it into [`TaskError::Panicked`].
async fn catch_panic<F, T, E>(future: F) -> Result<T, TaskError<E>>
where
    F: Future<Output = Result<T, TaskError<E>>>,
{
    let mut future = pin!(future);
    std::future::poll_fn(move |cx| {
        match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(poll) => poll,
            Err(payload) => Poll::Ready(Err(TaskError::Panicked(crate::panic::message(
                payload.as_ref(),
            )))),
        }
    })
    .await
}

async fn with_timeout<F, T, E>(task: F, timeout: Option<Duration>) -> Result<T, TaskError<E>>
where
    F: Future<Output = Result<T, E>>,
{
    match timeout {
        None => task.await.map_err(TaskError::Failed),
        Some(limit) => match task::timeout(limit, task).await {
            Ok(outcome) => outcome.map_err(TaskError::Failed),
            Err(_elapsed) => Err(TaskError::TimedOut(limit)),
        },
    }
}

/// Planted bugs, kept for the models to catch; only in `loom`/`shuttle`
/// builds. Never use them.
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod broken {
    use super::{Options, Tagged, TaskError, tagged};
    use crate::sync::task::{self, JoinSet};
    use std::future::Future;

    /// The guide's version: `join_all` over spawned tasks, every task
    /// spawned at once (no bound) and awaited with no timeout, so one hung
    /// task hangs the call.
    pub async fn join_all<I, F, T, E>(tasks: I) -> Vec<Result<T, TaskError<E>>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let handles: Vec<_> = tasks
            .into_iter()
            .enumerate()
            .map(|(slot, t)| task::spawn(tagged(slot, t, None)))
            .collect();
        let mut results = Vec::with_capacity(handles.len());
        for h in handles {
            results.push(match h.await {
                Ok((_, outcome)) => outcome,
                Err(_aborted) => Err(TaskError::Cancelled),
            });
        }
        results
    }

    /// Bounded like [`run_all`](super::run_all), but each result is pushed
    /// as its task finishes: the order of completion, not of submission
    /// (right only when the tasks happen to finish in order).
    pub async fn completion_order<I, F, T, E>(
        tasks: I,
        opts: &Options,
    ) -> Vec<Result<T, TaskError<E>>>
    where
        I: IntoIterator<Item = F>,
        F: Future<Output = Result<T, E>> + Send + 'static,
        T: Send + 'static,
        E: Send + 'static,
    {
        let mut pending = tasks.into_iter();
        let mut running: JoinSet<Tagged<T, E>> = JoinSet::new();
        let mut results = Vec::new();
        loop {
            while running.len() < opts.concurrency().get() {
                let Some(task) = pending.next() else { break };
                // The index is ignored: results go where they finish.
                running.spawn(tagged(0, task, None));
            }
            match running.join_next().await {
                Some(Ok((_slot, outcome))) => results.push(outcome),
                Some(Err(_aborted)) => results.push(Err(TaskError::Cancelled)),
                None => return results,
            }
        }
    }
}
