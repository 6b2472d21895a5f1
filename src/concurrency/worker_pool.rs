//! Channel dispatcher and worker pool (guide §1.3).
//!
//! **What.** [`WorkerPool`] runs `n` worker threads that share one task
//! queue (a [`channel`]). Every worker applies the same
//! function `Fn(T) -> R` to the tasks it takes. [`WorkerPool::dispatch`]
//! queues one task and returns a [`TaskHandle`], and
//! [`TaskHandle::wait`] blocks until that task's result is in. Each task
//! carries its own one-slot reply channel, so no result can be missed or go
//! to the wrong caller, and nobody has to sleep and hope the work is done.
//!
//! Guarantees:
//! - every task that `dispatch` accepted (`Ok`) runs exactly once, and its
//!   handle yields exactly one outcome: the result, or
//!   [`PoolError::TaskPanicked`] if the function panicked on it. A panicking
//!   task does not kill its worker: the worker catches the panic, reports
//!   it, and takes the next task;
//! - [`WorkerPool::shutdown`] closes the queue, lets the workers **drain
//!   every task dispatched before it** (their handles still get results),
//!   then joins every worker. It always terminates if the tasks do;
//! - a `dispatch` racing with `shutdown` is either queued before the queue
//!   closes (and then drained) or refused with [`PoolError::ShutDown`], as is
//!   every `dispatch` after shutdown: no task is queued that no worker will
//!   run.
//!
//! Shutdown closes the channel instead of sending the guide's `Terminate`
//! message: a terminate message per worker races with a concurrent
//! `dispatch` (a task queued behind the last `Terminate` is never run), while
//! a closed channel is only reported to the workers once it is empty.
//!
//! **When.** CPU- or IO-bound jobs that are independent, all handled by the
//! same code, from one or many producers, when you want a fixed number of
//! threads and per-task results (or per-task failures).
//!
//! **Compared to.** `rayon::ThreadPool` is the better choice for
//! data-parallel work (`par_iter`, `join`, `scope`): work stealing and no
//! per-task channel, but a panic in `join`/`scope` propagates to the caller
//! and one in `spawn` aborts unless a panic handler is set. The
//! `threadpool` crate runs boxed closures with no result handles (bring
//! your own channel), replaces a worker killed by a panic, and does not
//! join on drop. `std::sync::mpsc`, as in the guide, is single-consumer:
//! more than one worker needs a channel each or a mutex around the
//! receiver; crossbeam's multi-consumer channel (used here in production)
//! needs neither. For async IO, `tokio::task::spawn` and its `JoinHandle`
//! play the same role without dedicated threads.
//!
//! Checked in `models/worker_pool.rs` (every dispatched task has exactly one
//! result; shutdown racing with dispatch loses nothing and terminates; a
//! panicking task yields an error and its worker survives). The guide's
//! defect — collecting results with `try_recv` after a pause, which loses
//! the late ones — is reintroduced there and caught by loom and shuttle.
//!
//! # Example
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))]
//! # fn main() -> Result<(), heddle::concurrency::worker_pool::PoolError> {
//! use heddle::concurrency::worker_pool::{PoolError, WorkerPool};
//!
//! let pool = WorkerPool::new(2, |n: u64| n * n)?;
//! let handles = (1..=4)
//!     .map(|n| pool.dispatch(n))
//!     .collect::<Result<Vec<_>, _>>()?;
//! // Blocks until every result is in: no sleeps, none lost.
//! let squares = handles
//!     .into_iter()
//!     .map(|h| h.wait())
//!     .collect::<Result<Vec<_>, _>>()?;
//! assert_eq!(squares, [1, 4, 9, 16]);
//!
//! pool.shutdown()?; // drains the queue, joins both workers
//! assert_eq!(pool.dispatch(5).err(), Some(PoolError::ShutDown));
//! # Ok(())
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```

use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::sync::channel::{self, Receiver, Sender};
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Arc, Mutex};

/// Errors of the worker pool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// [`WorkerPool::new`] was asked for zero workers (no task would ever run).
    #[error("a worker pool needs at least one worker")]
    NoWorkers,
    /// The pool is shut down: the task was not queued.
    #[error("the worker pool is shut down")]
    ShutDown,
    /// The task's function panicked; the worker caught it and carries on.
    #[error("task panicked: {0}")]
    TaskPanicked(String),
    /// The task was dropped without an outcome. Cannot happen while workers
    /// catch task panics; kept so that [`TaskHandle::wait`] never blocks
    /// forever on a reply that will not come.
    #[error("the task's result was lost")]
    ResultLost,
    /// [`WorkerPool::shutdown`] joined this many workers that had panicked.
    #[error("{0} worker thread(s) panicked")]
    WorkerPanicked(usize),
}

/// One queued task and where its outcome goes.
struct Job<T, R> {
    task: T,
    reply: Sender<Result<R, PoolError>>,
}

/// A fixed set of worker threads applying one function to dispatched tasks.
///
/// `WorkerPool` is `Sync`: share it (in an [`Arc`]) to dispatch from many
/// threads. Dropping it without [`shutdown`](Self::shutdown) closes the
/// queue too, but does not wait: the workers finish the queued tasks in the
/// background and exit.
pub struct WorkerPool<T, R> {
    /// `None` once shut down. Held while sending, so that a task is either
    /// queued before the channel closes or refused.
    queue: Mutex<Option<Sender<Job<T, R>>>>,
    /// Held by `shutdown` while it joins, so a second caller waits too.
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl<T, R> WorkerPool<T, R>
where
    T: Send + 'static,
    R: Send + 'static,
{
    /// Starts `workers` threads, each applying `f` to the tasks it takes.
    ///
    /// `f` runs on the worker threads; a panic in `f` becomes that task's
    /// [`PoolError::TaskPanicked`]. `f` must not call
    /// [`shutdown`](Self::shutdown) on its own pool (a worker would wait for
    /// itself).
    pub fn new<F>(workers: usize, f: F) -> Result<Self, PoolError>
    where
        F: Fn(T) -> R + Send + Sync + 'static,
    {
        if workers == 0 {
            return Err(PoolError::NoWorkers);
        }
        let (tx, rx) = channel::unbounded();
        let f = Arc::new(f);
        let handles = (0..workers)
            .map(|id| {
                let (rx, f) = (rx.clone(), Arc::clone(&f));
                thread::spawn(move || work(id, &rx, &*f))
            })
            .collect();
        Ok(Self {
            queue: Mutex::new(Some(tx)),
            workers: Mutex::new(handles),
        })
    }

    /// Queues `task` and returns the handle of its outcome, or
    /// [`PoolError::ShutDown`] (the task is dropped) once
    /// [`shutdown`](Self::shutdown) has closed the queue. Never blocks on
    /// the workers: the queue is unbounded.
    pub fn dispatch(&self, task: T) -> Result<TaskHandle<R>, PoolError> {
        let (reply, outcome) = channel::bounded(1);
        let queue = self.queue.lock();
        let tx = queue.as_ref().ok_or(PoolError::ShutDown)?;
        // Only fails if every worker is gone, which only shutdown does.
        tx.send(Job { task, reply })
            .map_err(|_| PoolError::ShutDown)?;
        Ok(TaskHandle { outcome })
    }

    /// Closes the queue, waits for the workers to finish every task already
    /// dispatched, and joins them. Later dispatches fail with
    /// [`PoolError::ShutDown`]; handles of drained tasks still get their
    /// results.
    ///
    /// Idempotent: a second call (even a concurrent one) returns once the
    /// workers are joined. Returns [`PoolError::WorkerPanicked`] if a worker
    /// thread itself panicked (task panics are caught and do not count).
    pub fn shutdown(&self) -> Result<(), PoolError> {
        let mut workers = self.workers.lock();
        if let Some(tx) = self.queue.lock().take() {
            tracing::debug!(workers = workers.len(), "worker pool: shutting down");
            // The workers see the disconnection only once the queue is empty.
            drop(tx);
        }
        let panicked = workers
            .drain(..)
            .map(JoinHandle::join)
            .filter(Result::is_err)
            .count();
        if panicked == 0 {
            Ok(())
        } else {
            Err(PoolError::WorkerPanicked(panicked))
        }
    }
}

impl<T, R> Drop for WorkerPool<T, R> {
    fn drop(&mut self) {
        // Close the queue; the workers drain it and exit on their own.
        drop(self.queue.lock().take());
    }
}

impl<T, R> std::fmt::Debug for WorkerPool<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool")
            .field("open", &self.queue.lock().is_some())
            .field("workers", &self.workers.lock().len())
            .finish()
    }
}

/// The body of one worker: take tasks until the queue is closed and empty.
fn work<T, R>(id: usize, jobs: &Receiver<Job<T, R>>, f: &(dyn Fn(T) -> R + Sync)) {
    tracing::debug!(worker = id, "worker started");
    for Job { task, reply } in jobs.iter() {
        let outcome = catch_unwind(AssertUnwindSafe(|| f(task))).map_err(|payload| {
            let message = panic_message(payload.as_ref());
            tracing::warn!(worker = id, %message, "task panicked");
            PoolError::TaskPanicked(message)
        });
        if reply.send(outcome).is_err() {
            tracing::trace!(worker = id, "task handle dropped; result discarded");
        }
    }
    tracing::debug!(worker = id, "worker stopped: queue closed and drained");
}

use crate::panic::message as panic_message;

/// The pending outcome of one dispatched task. Dropping it discards the
/// result (the task still runs).
pub struct TaskHandle<R> {
    outcome: Receiver<Result<R, PoolError>>,
}

impl<R> TaskHandle<R> {
    /// Blocks until the task has run; returns its result, or
    /// [`PoolError::TaskPanicked`] if it panicked.
    pub fn wait(self) -> Result<R, PoolError> {
        self.outcome.recv().map_err(|_| PoolError::ResultLost)?
    }
}

impl<R> std::fmt::Debug for TaskHandle<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskHandle").finish_non_exhaustive()
    }
}

/// The guide's defect, reintroduced for the model checkers to catch. Only in
/// `loom`/`shuttle` builds; never use this.
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod broken {
    use super::{PoolError, TaskHandle};

    /// The guide's `collect_results`: give the workers a moment (a yield
    /// here, a sleep in the guide), then take whatever results are already
    /// there with `try_recv`. Results that come in later are lost.
    pub fn collect_ready<R>(handles: Vec<TaskHandle<R>>) -> Vec<Result<R, PoolError>> {
        crate::sync::thread::yield_now();
        handles
            .into_iter()
            .filter_map(|h| h.outcome.try_recv().ok())
            .collect()
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;
    use crate::sync::atomic::AtomicUsize;
    use crate::sync::atomic::Ordering::SeqCst;

    #[test]
    fn results_come_back_per_task() {
        let pool = WorkerPool::new(3, |s: String| s.len()).expect("3 workers");
        let handles: Vec<_> = ["a", "bb", "ccc", "dddd", ""]
            .into_iter()
            .map(|s| pool.dispatch(s.to_owned()).expect("pool open"))
            .collect();
        let lens: Vec<_> = handles.into_iter().map(|h| h.wait()).collect();
        assert_eq!(lens, [Ok(1), Ok(2), Ok(3), Ok(4), Ok(0)]);
        assert_eq!(pool.shutdown(), Ok(()));
    }

    #[test]
    fn zero_workers_is_an_error() {
        assert_eq!(
            WorkerPool::new(0, |x: u8| x).err(),
            Some(PoolError::NoWorkers)
        );
    }

    #[test]
    fn panicking_task_is_an_error_and_the_worker_survives() {
        let pool = WorkerPool::new(1, |x: u32| {
            assert!(x != 13, "unlucky {x}");
            x + 1
        })
        .expect("1 worker");
        let bad = pool.dispatch(13).expect("pool open");
        let good = pool.dispatch(1).expect("pool open");
        match bad.wait() {
            Err(PoolError::TaskPanicked(msg)) => assert!(msg.contains("unlucky 13"), "{msg}"),
            other => panic!("expected TaskPanicked, got {other:?}"),
        }
        assert_eq!(good.wait(), Ok(2));
        assert_eq!(pool.shutdown(), Ok(()));
    }

    #[test]
    fn shutdown_drains_queued_tasks_then_refuses_new_ones() {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&ran);
        let pool = WorkerPool::new(2, move |_: ()| r.fetch_add(1, SeqCst)).expect("2 workers");
        let handles: Vec<_> = (0..50)
            .map(|_| pool.dispatch(()).expect("pool open"))
            .collect();
        assert_eq!(pool.shutdown(), Ok(()));
        assert_eq!(ran.load(SeqCst), 50, "shutdown drains the queue");
        assert!(handles.into_iter().all(|h| h.wait().is_ok()));
        assert_eq!(pool.dispatch(()).err(), Some(PoolError::ShutDown));
        assert_eq!(pool.shutdown(), Ok(()), "shutdown is idempotent");
    }

    #[test]
    fn dropping_a_handle_or_the_pool_loses_nothing_else() {
        let ran = Arc::new(AtomicUsize::new(0));
        let r = Arc::clone(&ran);
        let pool = WorkerPool::new(1, move |x: u8| {
            r.fetch_add(1, SeqCst);
            x
        })
        .expect("1 worker");
        drop(pool.dispatch(1).expect("pool open"));
        let kept = pool.dispatch(2).expect("pool open");
        drop(pool);
        assert_eq!(kept.wait(), Ok(2), "queued task still runs after drop");
        assert_eq!(ran.load(SeqCst), 2);
    }
}
