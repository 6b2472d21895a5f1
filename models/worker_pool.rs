//! Model: the channel dispatcher / worker pool (guide §1.3).
//!
//! Invariants:
//! - every task that `dispatch` accepted runs exactly once and its handle
//!   yields exactly one result, the right one, whichever worker ran it;
//! - a `dispatch` racing with `shutdown` either is refused (and the task
//!   never runs) or is accepted and then drained: nothing is lost, shutdown
//!   terminates (loom and shuttle report any deadlock), and every dispatch
//!   after shutdown is refused;
//! - a panicking task yields `TaskPanicked` and its worker goes on to run
//!   the next task.
//!
//! The broken variant (the guide's `try_recv` collection after a pause) must
//! be caught by loom and by shuttle.
//!
//! Mutating methods raced, with at least two concurrent writers each:
//!
//! | method | raced against | model |
//! | --- | --- | --- |
//! | `dispatch` | `dispatch` from another thread (1 worker takes both) | `two_dispatchers_lose_nothing` |
//! | `dispatch` | `shutdown` | `dispatch_racing_shutdown_loses_nothing` |
//! | `shutdown` | `dispatch`, and the workers draining the queue | `dispatch_racing_shutdown_loses_nothing` |
//! | workers taking tasks | each other (2 workers) | `every_dispatched_task_has_exactly_one_result` |

use heddle::check;
use heddle::concurrency::worker_pool::{PoolError, TaskHandle, WorkerPool};
use heddle::sync::{Arc, Mutex, thread};

/// A pool whose function records which task ran, and returns `task * 10`.
fn recording_pool(workers: usize) -> (WorkerPool<u32, u32>, Arc<Mutex<Vec<u32>>>) {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let r = Arc::clone(&ran);
    let pool = WorkerPool::new(workers, move |task: u32| {
        r.lock().push(task);
        task * 10
    })
    .expect("at least one worker");
    (pool, ran)
}

/// Checks "exactly one result per dispatched task" on what `collect` got.
fn assert_one_result_each(dispatched: &[u32], results: Vec<Result<u32, PoolError>>) {
    let mut got: Vec<u32> = results
        .into_iter()
        .map(|r| r.expect("task did not panic"))
        .collect();
    got.sort_unstable();
    let want: Vec<u32> = dispatched.iter().map(|t| t * 10).collect();
    assert_eq!(
        got, want,
        "every dispatched task must have exactly one result"
    );
}

/// How a test gathers the outcomes of its task handles.
type Collect = fn(Vec<TaskHandle<u32>>) -> Vec<Result<u32, PoolError>>;

/// Main dispatches two tasks to a pool of two workers (which race for them);
/// results are collected with `collect`, then the pool shuts down.
fn two_tasks_two_workers_model(collect: Collect) {
    check::model(move || {
        let (pool, ran) = recording_pool(2);
        let first = pool.dispatch(1).expect("pool open");
        let second = pool.dispatch(2).expect("pool open");
        assert_one_result_each(&[1, 2], collect(vec![first, second]));

        assert_eq!(pool.shutdown(), Ok(()));
        let mut ran = ran.lock().clone();
        ran.sort_unstable();
        assert_eq!(ran, [1, 2], "every task runs exactly once");
        assert_eq!(pool.dispatch(3).err(), Some(PoolError::ShutDown));
    });
}

#[test]
fn two_dispatchers_lose_nothing() {
    check::model(|| {
        let (pool, ran) = recording_pool(1);
        let pool = Arc::new(pool);
        let p2 = Arc::clone(&pool);
        let other = thread::spawn(move || p2.dispatch(2).expect("pool open").wait());
        let mine = pool.dispatch(1).expect("pool open").wait();
        let theirs = other.join().expect("dispatcher panicked");
        assert_one_result_each(&[1, 2], vec![mine, theirs]);
        assert_eq!(pool.shutdown(), Ok(()));
        let mut ran = ran.lock().clone();
        ran.sort_unstable();
        assert_eq!(ran, [1, 2], "every task runs exactly once");
    });
}

fn wait_all(handles: Vec<TaskHandle<u32>>) -> Vec<Result<u32, PoolError>> {
    handles.into_iter().map(TaskHandle::wait).collect()
}

#[test]
fn every_dispatched_task_has_exactly_one_result() {
    two_tasks_two_workers_model(wait_all);
}

/// A producer dispatches while main shuts the pool down.
#[test]
fn dispatch_racing_shutdown_loses_nothing() {
    check::model(|| {
        let (pool, ran) = recording_pool(1);
        let pool = Arc::new(pool);
        let producer = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || match pool.dispatch(7) {
                Ok(handle) => Some(handle.wait()),
                Err(e) => {
                    assert_eq!(e, PoolError::ShutDown);
                    None
                }
            })
        };
        assert_eq!(pool.shutdown(), Ok(()));
        // After shutdown returns, the worker is joined: `ran` is final.
        let ran_now = ran.lock().clone();
        let outcome = producer.join().expect("producer panicked");
        match outcome {
            Some(result) => {
                assert_eq!(result, Ok(70), "an accepted task yields its result");
                assert_eq!(ran_now, [7], "an accepted task is drained by shutdown");
            }
            None => assert!(ran_now.is_empty(), "a refused task never runs"),
        }
        assert_eq!(pool.dispatch(8).err(), Some(PoolError::ShutDown));
    });
}

/// Main dispatches a panicking task, a producer dispatches a normal one, to
/// a single worker: the panic is reported and the worker survives.
#[test]
fn panicking_task_is_an_error_and_the_worker_survives() {
    check::model(|| {
        let pool = WorkerPool::new(1, |task: u32| {
            assert!(task != 0, "task 0 fails");
            task
        })
        .expect("one worker");
        let pool = Arc::new(pool);
        let producer = {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.dispatch(5).expect("pool open").wait())
        };
        let bad = pool.dispatch(0).expect("pool open").wait();
        assert!(
            matches!(&bad, Err(PoolError::TaskPanicked(m)) if m.contains("task 0 fails")),
            "a panicking task yields TaskPanicked, got {bad:?}"
        );
        let good = producer.join().expect("producer panicked");
        assert_eq!(good, Ok(5), "the worker survives a panicking task");
        assert_eq!(pool.shutdown(), Ok(()));
    });
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod broken {
    use super::*;
    use heddle::concurrency::worker_pool::broken;

    #[test]
    #[should_panic(expected = "every dispatched task must have exactly one result")]
    fn try_recv_collection_is_caught() {
        two_tasks_two_workers_model(broken::collect_ready);
    }
}
