//! The work-stealing scheduler on real threads: every task runs exactly once
//! (100k-task trees, random trees), panics become errors, stealing and
//! waking really happen, and a pool can be run again and again.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::Duration;

use heddle::parallel::work_stealing::{Pool, Scope, WorkStealingError};
use proptest::prelude::*;

/// One counter per task id.
fn bitmap(n: usize) -> Arc<Vec<AtomicU8>> {
    Arc::new((0..n).map(|_| AtomicU8::new(0)).collect())
}

fn assert_each_once(marks: &[AtomicU8]) {
    for (id, m) in marks.iter().enumerate() {
        let m = m.load(Relaxed);
        assert_eq!(m, 1, "task {id} ran {m} times");
    }
}

/// A binary heap-shaped tree of `n` tasks: task `i` spawns `2i+1`, `2i+2`.
fn heap_task(s: &Scope<'_>, id: usize, n: usize, marks: Arc<Vec<AtomicU8>>) {
    marks[id].fetch_add(1, Relaxed);
    for child in [2 * id + 1, 2 * id + 2] {
        if child < n {
            let marks = Arc::clone(&marks);
            s.spawn(move |s| heap_task(s, child, n, marks));
        }
    }
}

#[test]
fn a_hundred_thousand_tasks_each_run_exactly_once() {
    const N: usize = 100_000;
    for threads in [1, 2, 4] {
        let mut pool = Pool::new(threads).expect("threads > 0");
        let marks = bitmap(N);
        let m = Arc::clone(&marks);
        let report = pool.run(move |s| heap_task(s, 0, N, m)).expect("no panic");
        assert_each_once(&marks);
        assert_eq!(report.tasks, N as u64);
    }
}

/// A lopsided Fibonacci tree: the `n - 1` side is much bigger than the
/// `n - 2` side, and ids are assigned by a shared ticket counter.
fn fib_task(s: &Scope<'_>, n: u32, tickets: Arc<AtomicUsize>, marks: Arc<Vec<AtomicU8>>) {
    let id = tickets.fetch_add(1, Relaxed);
    marks[id].fetch_add(1, Relaxed);
    if n >= 2 {
        for k in [n - 1, n - 2] {
            let (t, m) = (Arc::clone(&tickets), Arc::clone(&marks));
            s.spawn(move |s| fib_task(s, k, t, m));
        }
    }
}

#[test]
fn unbalanced_fib_tree_runs_exactly_once() {
    // calls(n) = 2 fib(n + 1) - 1; n = 22 → 57_313 tasks.
    const CALLS: usize = 57_313;
    let mut pool = Pool::new(2).expect("2 threads");
    let marks = bitmap(CALLS + 1); // one spare slot: would catch an extra run
    let tickets = Arc::new(AtomicUsize::new(0));
    let (t, m) = (Arc::clone(&tickets), Arc::clone(&marks));
    let report = pool.run(move |s| fib_task(s, 22, t, m)).expect("no panic");
    assert_eq!(tickets.load(Relaxed), CALLS);
    assert_each_once(&marks[..CALLS]);
    assert_eq!(marks[CALLS].load(Relaxed), 0);
    assert_eq!(report.tasks, CALLS as u64);
}

#[test]
fn many_roots_through_the_injector() {
    const ROOTS: usize = 1000;
    let mut pool = Pool::new(3).expect("3 threads");
    let marks = bitmap(ROOTS * 3);
    let roots = (0..ROOTS).map(|i| {
        let marks = Arc::clone(&marks);
        move |s: &Scope<'_>| {
            marks[3 * i].fetch_add(1, Relaxed);
            for k in 1..3 {
                let marks = Arc::clone(&marks);
                s.spawn(move |_| {
                    marks[3 * i + k].fetch_add(1, Relaxed);
                });
            }
        }
    });
    let report = pool.run_all(roots).expect("no panic");
    assert_each_once(&marks);
    assert_eq!(report.tasks, (ROOTS * 3) as u64);
}

#[test]
fn panicking_tasks_are_reported_and_the_rest_still_runs() {
    const N: usize = 2000;
    let mut pool = Pool::new(2).expect("2 threads");
    let marks = bitmap(N);
    let m = Arc::clone(&marks);
    let err = pool
        .run(move |s| {
            for id in 0..N {
                let m = Arc::clone(&m);
                s.spawn(move |_| {
                    m[id].fetch_add(1, Relaxed);
                    if id % 500 == 7 {
                        panic!("task {id} failed on purpose");
                    }
                });
            }
        })
        .expect_err("four tasks panic");
    match err {
        WorkStealingError::TaskPanicked { count, ref first } => {
            assert_eq!(count, 4);
            assert!(first.contains("failed on purpose"), "{first}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("4 task(s) panicked"));
    assert_each_once(&marks);

    // The pool is still usable, and a non-string payload is reported too.
    let err = pool
        .run(|_| std::panic::panic_any(42_u32))
        .expect_err("panics");
    assert_eq!(
        err,
        WorkStealingError::TaskPanicked {
            count: 1,
            first: "<non-string panic>".into()
        }
    );
    assert!(pool.run(|_| {}).is_ok());
}

/// The root blocks until its child has run, so the child can only run if
/// the other worker (asleep or searching) is woken and steals it.
#[test]
fn a_blocked_tasks_child_is_stolen() {
    let mut pool = Pool::new(2).expect("2 threads");
    for _ in 0..50 {
        let report = pool
            .run(|s| {
                let (tx, rx) = mpsc::channel();
                let root_worker = s.worker_index();
                s.spawn(move |s| {
                    tx.send(s.worker_index()).expect("root waits");
                });
                let thief = rx
                    .recv_timeout(Duration::from_secs(20))
                    .expect("the child was never stolen: lost wake-up?");
                assert_ne!(thief, root_worker);
            })
            .expect("no panic");
        assert_eq!(report.tasks, 2);
        assert_eq!(report.steals, 1);
    }
}

#[test]
fn repeated_runs_on_one_pool() {
    let mut pool = Pool::new(2).expect("2 threads");
    for round in 0..300 {
        let n = 1 + round % 97;
        let marks = bitmap(n);
        let m = Arc::clone(&marks);
        let report = pool.run(move |s| heap_task(s, 0, n, m)).expect("no panic");
        assert_each_once(&marks);
        assert_eq!(report.tasks, n as u64);
    }
}

#[test]
fn pools_start_and_shut_down_cleanly() {
    for i in 0..50 {
        let mut pool = Pool::new(1 + i % 4).expect("threads > 0");
        if i % 3 != 0 {
            let marks = bitmap(10);
            let m = Arc::clone(&marks);
            pool.run(move |s| heap_task(s, 0, 10, m)).expect("no panic");
            assert_each_once(&marks);
        }
        if i % 2 == 0 {
            assert_eq!(pool.shutdown(), Ok(()));
        } // else: dropped, which joins the workers too
    }
}

/// A random tree: `fanout[i]` children for the i-th task spawned (ids by
/// ticket), until the tickets run out.
fn random_task(
    s: &Scope<'_>,
    fanout: Arc<Vec<usize>>,
    tickets: Arc<AtomicUsize>,
    marks: Arc<Vec<AtomicU8>>,
) {
    let id = tickets.fetch_add(1, Relaxed);
    marks[id].fetch_add(1, Relaxed);
    for _ in 0..fanout[id] {
        let (f, t, m) = (
            Arc::clone(&fanout),
            Arc::clone(&tickets),
            Arc::clone(&marks),
        );
        s.spawn(move |s| random_task(s, f, t, m));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn random_trees_run_each_task_once(
        threads in 1usize..5,
        raw in proptest::collection::vec(0usize..4, 1..400),
    ) {
        // The task holding ticket `i` spawns `raw[i]` children (none past
        // the end of `raw`), so the total is fixed whatever the schedule.
        let mut slots = 1;
        let mut i = 0;
        while i < slots {
            slots += raw.get(i).copied().unwrap_or(0);
            i += 1;
        }
        let mut fanout = raw;
        fanout.resize(fanout.len().max(slots), 0);
        let mut pool = Pool::new(threads).expect("threads > 0");
        let marks = bitmap(slots);
        let tickets = Arc::new(AtomicUsize::new(0));
        let (f, t, m) = (Arc::new(fanout), Arc::clone(&tickets), Arc::clone(&marks));
        let report = pool.run(move |s| random_task(s, f, t, m)).expect("no panic");
        prop_assert_eq!(tickets.load(Relaxed), slots);
        prop_assert_eq!(report.tasks, slots as u64);
        for (id, m) in marks.iter().enumerate() {
            prop_assert_eq!(m.load(Relaxed), 1, "task {}", id);
        }
    }
}
