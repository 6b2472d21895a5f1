//! A work-stealing scheduler for tasks that spawn tasks (guide §2.3).
//!
//! **What.** [`Pool::new`] starts `threads` worker threads, each owning a
//! Chase–Lev [`deque`]; a global injector (a locked
//! `VecDeque`) receives the root tasks of each [`Pool::run`] /
//! [`Pool::run_all`]. A task receives a [`Scope`] and may
//! [`spawn`](Scope::spawn) more tasks: they go to the bottom of the spawning
//! worker's deque (LIFO: hot in cache, depth-first). A worker looks for work
//! in its own deque, then the injector, then steals the oldest task of
//! another worker, visiting victims round-robin from a start chosen by a
//! per-worker xorshift generator (seeded by the worker's index: no OS
//! randomness). `run` returns when every task, transitively spawned ones
//! included, has run exactly once. Between runs the workers sleep; dropping
//! the pool (or [`Pool::shutdown`]) wakes and joins every one of them.
//!
//! Termination and sleep use no sleeping and no polling loop:
//! - an atomic `pending` counts the run's tasks spawned but not finished. A
//!   spawn increments it *before* the spawning task finishes (the parent
//!   still holds its own count), so it reaches zero only when no task exists
//!   anywhere; the worker that brings it to zero marks the run done, under
//!   the sleep lock, and signals the condition variable `run` waits on;
//! - an idle worker announces itself in a sleepers counter (under the sleep
//!   lock), issues a `SeqCst` fence, re-checks every deque and the injector,
//!   and only then waits on a [`Condvar`]. A spawner
//!   pushes, issues a `SeqCst` fence, and if the counter is non-zero hands a
//!   wake-up token to one sleeper under the same lock. Of the two fences one
//!   comes first, so either the sleeper sees the new task or the spawner sees
//!   the sleeper: no lost wake-up. (Progress does not even depend on it: a
//!   deque's owner always drains its own deque before idling.) `run` hands a
//!   token to every sleeper after filling the injector.
//!
//! A panicking task is caught; the other tasks still run, and `run` returns
//! [`WorkStealingError::TaskPanicked`] with the first panic message — never a
//! hang. The pool stays usable.
//!
//! **When.** Irregular, recursive or unbalanced work: a tree search, a
//! recursive divide and conquer, tasks of wildly different cost. Idle
//! workers take the *oldest* (usually biggest) task of a busy one, so load
//! balances itself without a central queue becoming a bottleneck. For flat
//! data-parallel loops prefer rayon's parallel iterators.
//!
//! **Compared to.** `rayon::scope` / `Scope::spawn` is the production
//! choice: tasks may borrow from the caller's stack, the calling thread
//! helps, a panic is re-raised in the caller, and sleeping is tuned (workers
//! spin a little before they park). Here tasks are `'static` (share data
//! through an `Arc`), the caller only waits, and a panic becomes an error
//! value. In exchange every line of it — deque, injector, termination, sleep
//! protocol, shutdown — runs on the [`sync`](crate::sync) facade and is
//! model-checked by loom and shuttle (`models/work_stealing.rs`).
//! `benches/work_stealing.rs` runs the guide's unbalanced workload on both.
//! The guide's scheduler polls with `sleep(1ms)` when idle, stops at a fixed
//! count of *submitted* tasks (so tasks cannot spawn tasks), never joins its
//! threads on every path, and `unwrap`s its result lock; none of that is
//! kept.
//!
//! # Example
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))]
//! # fn main() -> Result<(), heddle::parallel::work_stealing::WorkStealingError> {
//! use heddle::parallel::work_stealing::{Pool, Scope};
//! use heddle::sync::Arc;
//! use heddle::sync::atomic::{AtomicU64, Ordering::Relaxed};
//!
//! /// Counts the leaves of a Fibonacci call tree, one task per call.
//! fn fib(s: &Scope<'_>, n: u64, leaves: Arc<AtomicU64>) {
//!     if n < 2 {
//!         leaves.fetch_add(1, Relaxed);
//!         return;
//!     }
//!     let l2 = Arc::clone(&leaves);
//!     s.spawn(move |s| fib(s, n - 1, l2));
//!     s.spawn(move |s| fib(s, n - 2, leaves));
//! }
//!
//! let mut pool = Pool::new(2)?;
//! let leaves = Arc::new(AtomicU64::new(0));
//! let l = Arc::clone(&leaves);
//! let report = pool.run(move |s| fib(s, 15, l))?;
//! assert_eq!(leaves.load(Relaxed), 987); // fib(16) leaves
//! assert_eq!(report.tasks, 1973); // every call ran exactly once
//! # Ok(())
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::parallel::deque::{self, Steal, Stealer, Worker};
use crate::sync::atomic::Ordering::{AcqRel, Relaxed, SeqCst};
use crate::sync::atomic::{AtomicU64, AtomicUsize, fence};
use crate::sync::{Arc, Condvar, Mutex, thread};

/// Errors of [`Pool`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkStealingError {
    /// [`Pool::new`] was asked for zero threads.
    #[error("a work-stealing pool needs at least one worker thread")]
    NoThreads,
    /// One or more tasks panicked. Every other task still ran.
    #[error("{count} task(s) panicked; the first one said: {first}")]
    TaskPanicked {
        /// How many tasks panicked.
        count: usize,
        /// The first panic's message (`<non-string panic>` if it had none).
        first: String,
    },
    /// A worker thread itself panicked outside any task (a scheduler bug,
    /// or a panic while dropping a task's panic payload). The pool is
    /// unusable: this run was cut short and every later run fails too.
    #[error("worker thread {index} panicked outside a task")]
    WorkerPanicked {
        /// The worker's index.
        index: usize,
    },
}

/// A task: runs once, on some worker, with a [`Scope`] to spawn more.
type Job = Box<dyn FnOnce(&Scope<'_>) + Send + 'static>;

/// First capacity of each worker's deque (small in model builds, so that
/// the models exercise growth).
const DEQUE_CAPACITY: usize = if cfg!(any(feature = "loom", feature = "shuttle")) {
    2
} else {
    deque::DEFAULT_CAPACITY
};

/// A work-stealing scheduler with a fixed set of worker threads.
///
/// [`new`](Self::new) starts the workers; between runs they sleep on a
/// condition variable. Dropping the pool (or [`shutdown`](Self::shutdown))
/// stops and joins every one of them.
pub struct Pool {
    shared: Arc<Shared>,
    handles: Vec<thread::JoinHandle<()>>,
}

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunReport {
    /// Tasks run (roots and spawned), each exactly once.
    pub tasks: u64,
    /// Tasks taken from another worker's deque.
    pub steals: u64,
}

impl Pool {
    /// Starts a pool of `threads` workers; zero is an error.
    pub fn new(threads: usize) -> Result<Self, WorkStealingError> {
        Self::build(threads, false)
    }

    fn build(threads: usize, early_decrement: bool) -> Result<Self, WorkStealingError> {
        if threads == 0 {
            return Err(WorkStealingError::NoThreads);
        }
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        let _ = early_decrement; // only the model builds can break the pool
        let (workers, stealers): (Vec<_>, Vec<_>) = (0..threads)
            .map(|_| deque::with_capacity(DEQUE_CAPACITY))
            .unzip();
        let shared = Arc::new(Shared {
            stealers: stealers.into_boxed_slice(),
            counters: (0..threads).map(|_| Counters::default()).collect(),
            injector: Mutex::new(VecDeque::new()),
            injected: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            sleepers: AtomicUsize::new(0),
            sleep: Mutex::new(SleepState::default()),
            wake: Condvar::new(),
            finished: Condvar::new(),
            panics: Mutex::new(Panics::default()),
            #[cfg(any(feature = "loom", feature = "shuttle"))]
            early_decrement,
        });
        let handles = workers
            .into_iter()
            .enumerate()
            .map(|(index, local)| {
                let shared = Arc::clone(&shared);
                thread::spawn(move || work(index, local, &shared))
            })
            .collect();
        tracing::debug!(threads, "work_stealing: pool started");
        Ok(Self { shared, handles })
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.shared.stealers.len()
    }

    /// Runs `root` and everything it transitively spawns; returns when all
    /// of it has finished.
    pub fn run<F>(&mut self, root: F) -> Result<RunReport, WorkStealingError>
    where
        F: FnOnce(&Scope<'_>) + Send + 'static,
    {
        self.run_all([root])
    }

    /// Runs every task of `roots` (handed out through the global injector)
    /// and everything they transitively spawn; returns when all of it has
    /// finished. No roots: returns at once.
    ///
    /// `&mut self`: one run at a time per pool, and a task cannot start a
    /// nested run on its own pool (it would wait for itself).
    pub fn run_all<I, F>(&mut self, roots: I) -> Result<RunReport, WorkStealingError>
    where
        I: IntoIterator<Item = F>,
        F: FnOnce(&Scope<'_>) + Send + 'static,
    {
        let jobs: Vec<Job> = roots.into_iter().map(|f| Box::new(f) as Job).collect();
        let roots = jobs.len();
        if roots == 0 {
            return Ok(RunReport::default());
        }
        let sh = &*self.shared;
        let before = sh.totals();
        {
            let mut st = sh.sleep.lock();
            if let Some(index) = st.crashed {
                return Err(WorkStealingError::WorkerPanicked { index });
            }
            // Before any root is visible: a worker may end the run at once.
            st.run_done = false;
        }
        // No worker can hold a count now, so a plain store is exact; the
        // injector's lock publishes it to whoever takes a root.
        sh.pending.store(roots, Relaxed);
        {
            let mut injector = sh.injector.lock();
            injector.extend(jobs);
            sh.injected.store(injector.len(), Relaxed);
        }
        tracing::debug!(roots, "work_stealing: run");
        let mut st = sh.sleep.lock();
        // Wake every sleeper (a worker not asleep yet will see the roots
        // when it re-checks under this lock).
        st.tokens += st.sleeping;
        st.sleeping = 0;
        sh.sleepers.store(0, Relaxed);
        sh.wake.notify_all();
        let st = sh.finished.wait_while(st, |s| !s.run_done);
        let crashed = st.crashed;
        drop(st);
        if let Some(index) = crashed {
            tracing::error!(index, "work_stealing: worker thread panicked");
            return Err(WorkStealingError::WorkerPanicked { index });
        }
        let panics = std::mem::take(&mut *sh.panics.lock());
        if let Some(first) = panics.first {
            return Err(WorkStealingError::TaskPanicked {
                count: panics.count,
                first,
            });
        }
        let after = sh.totals();
        Ok(RunReport {
            tasks: after.tasks - before.tasks,
            steals: after.steals - before.steals,
        })
    }

    /// Stops the workers and joins them all; reports a worker that died.
    /// Dropping the pool does the same, logging that error. (Tasks can only
    /// be left queued after a run failed with
    /// [`WorkerPanicked`](WorkStealingError::WorkerPanicked); they are
    /// dropped without running.)
    pub fn shutdown(mut self) -> Result<(), WorkStealingError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), WorkStealingError> {
        self.shared.sleep.lock().shutdown = true;
        self.shared.wake.notify_all();
        let mut result = Ok(());
        for (index, handle) in self.handles.drain(..).enumerate() {
            if handle.join().is_err() && result.is_ok() {
                result = Err(WorkStealingError::WorkerPanicked { index });
            }
        }
        result
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!(%e, "work_stealing: worker panicked (seen at shutdown)");
        }
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .finish_non_exhaustive()
    }
}

/// The handle a task gets: spawn more tasks onto the current worker.
///
/// Not `Send`: it refers to the current worker's deque.
pub struct Scope<'a> {
    shared: &'a Shared,
    local: &'a Worker<Job>,
    index: usize,
}

impl Scope<'_> {
    /// Spawns `task` onto this worker's deque; an idle worker may steal it.
    /// The run does not finish before it has run.
    pub fn spawn<F>(&self, task: F)
    where
        F: FnOnce(&Scope<'_>) + Send + 'static,
    {
        // Counted before it becomes visible; the running parent still holds
        // its own count, so `pending` cannot reach zero in between.
        self.shared.pending.fetch_add(1, Relaxed);
        self.local.push(Box::new(task));
        self.shared.wake_one();
    }

    /// The index (`0..threads`) of the worker running the current task.
    pub fn worker_index(&self) -> usize {
        self.index
    }
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("worker_index", &self.index)
            .finish_non_exhaustive()
    }
}

/// Everything the workers and the pool share.
struct Shared {
    stealers: Box<[Stealer<Job>]>,
    counters: Box<[Counters]>,
    /// The roots of the current run.
    injector: Mutex<VecDeque<Job>>,
    /// `injector.len()`, readable without the lock.
    injected: AtomicUsize,
    /// Tasks of the current run spawned (or injected) and not yet finished.
    pending: AtomicUsize,
    /// `sleep.sleeping`, readable without the lock (written under it).
    sleepers: AtomicUsize,
    sleep: Mutex<SleepState>,
    /// Idle workers wait here.
    wake: Condvar,
    /// `run` waits here for `run_done`.
    finished: Condvar,
    panics: Mutex<Panics>,
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    early_decrement: bool,
}

#[derive(Default)]
struct SleepState {
    /// Workers waiting without a token. Invariant: waiting workers =
    /// `sleeping + tokens`.
    sleeping: usize,
    /// Wake-ups handed out and not yet consumed.
    tokens: usize,
    /// `pending` reached zero: the current run is over.
    run_done: bool,
    /// The pool is being dropped: workers exit when out of work.
    shutdown: bool,
    /// A worker thread died outside a task.
    crashed: Option<usize>,
}

#[derive(Default)]
struct Panics {
    count: usize,
    first: Option<String>,
}

/// One worker's running totals; only that worker writes them. Own cache
/// line, so counting costs two plain moves, no shared write.
#[derive(Default)]
#[repr(align(128))]
struct Counters {
    tasks: AtomicU64,
    steals: AtomicU64,
}

impl Counters {
    #[inline]
    fn bump(c: &AtomicU64) {
        // Single writer: a load and a store, no read-modify-write needed.
        c.store(c.load(Relaxed) + 1, Relaxed);
    }
}

/// The loop of worker `index`: until shutdown, run tasks or sleep.
fn work(index: usize, local: Worker<Job>, shared: &Shared) {
    let crash = CrashGuard { shared, index };
    let scope = Scope {
        shared,
        local: &local,
        index,
    };
    let mut rng = XorShift::seeded(index);
    let counters = &shared.counters[index];
    loop {
        let job = match local.pop() {
            Some(job) => job,
            None => match shared.find(index, &mut rng) {
                Some(job) => job,
                None => {
                    if shared.idle() {
                        continue;
                    }
                    break;
                }
            },
        };
        Counters::bump(&counters.tasks);
        shared.execute(job, &scope);
    }
    std::mem::forget(crash); // normal exit: nothing to clean up
    tracing::trace!(index, "work_stealing: worker exits");
}

impl Shared {
    /// Runs `job`, then counts it finished; the last one ends the run.
    fn execute(&self, job: Job, scope: &Scope<'_>) {
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        if self.early_decrement {
            // broken: counted finished before its children are counted.
            self.complete();
            self.call(job, scope);
            return;
        }
        self.call(job, scope);
        self.complete();
    }

    fn call(&self, job: Job, scope: &Scope<'_>) {
        // AssertUnwindSafe: a panicking task's captured state is dropped by
        // the unwind; shared state it leaves half-updated is the user's, as
        // with `std::thread::spawn`. The panic is reported by `run`.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| job(scope))) {
            let message = crate::panic::message(payload.as_ref());
            tracing::debug!(worker = scope.index, %message, "work_stealing: task panicked");
            let mut panics = self.panics.lock();
            panics.count += 1;
            panics.first.get_or_insert(message);
        }
    }

    /// Counts one task finished; the last one ends the run.
    fn complete(&self) {
        // AcqRel: every finished task's effects happen before the worker
        // that sees the count reach zero, hence before `run` returns.
        if self.pending.fetch_sub(1, AcqRel) == 1 {
            self.sleep.lock().run_done = true;
            self.finished.notify_all();
        }
    }

    /// A task from the injector or another worker's deque.
    fn find(&self, index: usize, rng: &mut XorShift) -> Option<Job> {
        if self.injected.load(Relaxed) > 0 {
            let mut injector = self.injector.lock();
            if let Some(job) = injector.pop_front() {
                self.injected.store(injector.len(), Relaxed);
                return Some(job);
            }
        }
        let n = self.stealers.len();
        if n == 1 {
            return None;
        }
        loop {
            let mut retry = false;
            let start = rng.below(n);
            for k in 0..n {
                let victim = (start + k) % n;
                if victim == index {
                    continue;
                }
                match self.stealers[victim].steal() {
                    Steal::Success(job) => {
                        Counters::bump(&self.counters[index].steals);
                        return Some(job);
                    }
                    // Lost a race: someone else made progress; look again.
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
        }
    }

    /// Whether any task is visible in the injector or a deque.
    fn work_visible(&self) -> bool {
        self.injected.load(Relaxed) > 0 || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Called with nothing found. Sleeps until a spawner or `run` hands over
    /// a wake-up, or the pool shuts down. Returns `false` on shutdown.
    fn idle(&self) -> bool {
        let mut st = self.sleep.lock();
        if st.shutdown {
            return false;
        }
        st.sleeping += 1;
        self.sleepers.store(st.sleeping, Relaxed);
        // Pairs with the fence in `wake_one`: either we see its push below,
        // or it sees our `sleepers` and wakes us.
        fence(SeqCst);
        if self.work_visible() {
            st.sleeping -= 1;
            self.sleepers.store(st.sleeping, Relaxed);
            return true;
        }
        let mut st = self.wake.wait_while(st, |s| s.tokens == 0 && !s.shutdown);
        if st.shutdown {
            return false;
        }
        // The waker already took us off `sleeping`.
        st.tokens -= 1;
        true
    }

    /// After a push: wake one sleeper, if any.
    fn wake_one(&self) {
        fence(SeqCst);
        if self.sleepers.load(Relaxed) == 0 {
            return;
        }
        let mut st = self.sleep.lock();
        if st.sleeping > 0 {
            st.sleeping -= 1;
            st.tokens += 1;
            self.sleepers.store(st.sleeping, Relaxed);
            self.wake.notify_one();
        }
    }

    /// Sums the workers' counters.
    fn totals(&self) -> RunReport {
        let mut r = RunReport::default();
        for c in self.counters.iter() {
            r.tasks += c.tasks.load(Relaxed);
            r.steals += c.steals.load(Relaxed);
        }
        r
    }
}

/// Dropped only if a worker thread unwinds (outside any task: a scheduler
/// bug); then fails the current run instead of letting `run` wait forever.
/// A normal exit `forget`s it.
struct CrashGuard<'a> {
    shared: &'a Shared,
    index: usize,
}

impl Drop for CrashGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.shared.sleep.lock();
        st.crashed.get_or_insert(self.index);
        st.run_done = true;
        drop(st);
        self.shared.finished.notify_all();
    }
}

/// xorshift64*: a per-worker victim picker, seeded by the worker index.
struct XorShift(u64);

impl XorShift {
    fn seeded(index: usize) -> Self {
        Self((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

/// The guide's premature-termination bug, reintroduced for the model
/// checkers to catch. Only in `loom`/`shuttle` builds; never use this.
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod broken {
    use super::{Pool, WorkStealingError};

    /// A pool that counts a task finished *before* running it, i.e. before
    /// the children it spawns are counted: `pending` can reach zero while a
    /// child sits in a deque, and the run ends without running it.
    pub fn pool_with_early_decrement(threads: usize) -> Result<Pool, WorkStealingError> {
        Pool::build(threads, true)
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_is_an_error() {
        assert_eq!(Pool::new(0).err(), Some(WorkStealingError::NoThreads));
    }

    #[test]
    fn no_roots_returns_at_once() {
        let mut pool = Pool::new(2).expect("2 threads");
        let none: Vec<fn(&Scope<'_>)> = Vec::new();
        assert_eq!(pool.run_all(none), Ok(RunReport::default()));
    }

    #[test]
    fn xorshift_covers_all_victims() {
        let mut rng = XorShift::seeded(0);
        let mut hit = [false; 7];
        for _ in 0..1000 {
            hit[rng.below(7)] = true;
        }
        assert!(hit.iter().all(|&h| h));
    }

    #[test]
    fn single_thread_runs_everything() {
        let mut pool = Pool::new(1).expect("1 thread");
        let report = pool
            .run(|s| {
                for _ in 0..100 {
                    s.spawn(|s| s.spawn(|_| {}));
                }
            })
            .expect("no panic");
        assert_eq!(report.tasks, 201);
        assert_eq!(report.steals, 0);
        assert_eq!(pool.shutdown(), Ok(()));
    }
}
