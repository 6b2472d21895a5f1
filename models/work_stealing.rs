//! Model: the work-stealing scheduler (`heddle::parallel::work_stealing`).
//!
//! Two workers; a root task (through the injector) spawns children, and a
//! child may spawn a grandchild. Invariants: `run` returns (loom and shuttle
//! report a deadlock if every thread blocks, e.g. a lost wake-up at the end);
//! it returns `Ok`; and every task ran exactly once — nothing lost to a
//! premature termination, nothing run twice by a steal race.
//!
//! Broken variant (`work_stealing::broken::pool_with_early_decrement`): a
//! task is counted finished before it runs, i.e. before its children are
//! counted; the run can end with a task still queued or not yet started
//! (the root itself, or a child). Caught by loom and shuttle as a task that
//! ran 0 times when `run` returned.

use heddle::check;
use heddle::parallel::work_stealing::{Pool, Scope, WorkStealingError};
use heddle::sync::Arc;
use heddle::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The shape of the task tree: `children[i]` lists the tasks task `i`
/// spawns. Task 0 is the root.
type Tree = &'static [&'static [usize]];

/// Task `id` marks itself, then spawns its children.
fn task(s: &Scope<'_>, id: usize, tree: Tree, ran: Arc<Vec<AtomicUsize>>) {
    ran[id].fetch_add(1, Relaxed);
    for &child in tree[id] {
        let ran = Arc::clone(&ran);
        s.spawn(move |s| task(s, child, tree, ran));
    }
}

/// loom: the pool's workers search and go to sleep before, during and after
/// the run; with the default bound of 3 preemptions one scenario takes
/// minutes, with 2 a few seconds.
const PREEMPTION_BOUND: usize = 2;

fn every_task_once(make: fn(usize) -> Result<Pool, WorkStealingError>, tree: Tree) {
    check::Model::new()
        .preemption_bound(PREEMPTION_BOUND)
        .check(move || {
            let mut pool = make(2).expect("two workers");
            let ran: Arc<Vec<AtomicUsize>> =
                Arc::new((0..tree.len()).map(|_| AtomicUsize::new(0)).collect());
            let r = Arc::clone(&ran);
            let report = pool
                .run(move |s| task(s, 0, tree, r))
                .expect("no task panics");
            // Snapshot what had run when `run` returned, then stop the pool
            // before asserting: a failed assertion never unwinds through a
            // live pool (a leftover task could still run during shutdown).
            let counts: Vec<usize> = ran.iter().map(|n| n.load(Relaxed)).collect();
            pool.shutdown().expect("workers exit cleanly");
            for (id, &n) in counts.iter().enumerate() {
                assert_eq!(
                    n, 1,
                    "work_stealing: task {id} ran {n} times, not exactly once"
                );
            }
            assert_eq!(report.tasks, tree.len() as u64, "work_stealing: report");
        });
}

/// Root spawns one child.
#[test]
fn root_and_one_child() {
    every_task_once(Pool::new, &[&[1], &[]]);
}

/// Root spawns two children: the second may be stolen while the first runs.
#[test]
fn root_and_two_children() {
    every_task_once(Pool::new, &[&[1, 2], &[], &[]]);
}

/// Root → child → grandchild: the run must outlive a chain of spawns.
#[test]
fn chain_of_spawns() {
    every_task_once(Pool::new, &[&[1], &[2], &[]]);
}

/// Two runs on one pool: the second must not see leftovers of the first
/// (counters, the done flag, sleeping workers that must be woken).
#[test]
fn two_runs_on_one_pool() {
    check::Model::new()
        .preemption_bound(PREEMPTION_BOUND)
        .check(|| {
            let mut pool = Pool::new(2).expect("two workers");
            for round in 0..2 {
                let ran = Arc::new(AtomicUsize::new(0));
                let r = Arc::clone(&ran);
                let report = pool
                    .run(move |_| {
                        r.fetch_add(1, Relaxed);
                    })
                    .expect("no task panics");
                assert_eq!(ran.load(Relaxed), 1, "work_stealing: round {round}");
                assert_eq!(report.tasks, 1, "work_stealing: round {round} report");
            }
            pool.shutdown().expect("workers exit cleanly");
        });
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod broken {
    use super::*;
    use heddle::parallel::work_stealing::broken;

    #[test]
    #[should_panic(expected = "ran 0 times, not exactly once")]
    fn early_decrement_is_caught() {
        every_task_once(broken::pool_with_early_decrement, &[&[1], &[]]);
    }
}
