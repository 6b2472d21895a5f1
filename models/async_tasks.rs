//! Model: async tasks with bounded concurrency, timeouts, cancellation and
//! ordered results (guide §1.5), `heddle::concurrency::async_tasks`.
//!
//! Two engines, two kinds of test:
//!
//! - **shuttle** (`--features shuttle`; in the default build the same bodies
//!   run on a 2-worker tokio runtime, 200 times): `run_all` is written
//!   against `heddle::sync::task`, so `check::model_async` explores every
//!   order in which its tasks finish. Raced: three tasks that yield
//!   different numbers of times, two slots, against `run_all`'s join loop
//!   (submission order of the results; the slot limit, counted by an
//!   in-flight gauge on the facade's atomics); and a canceller task against
//!   the whole run (every outcome is its own value or `Cancelled`, at most
//!   the limit of tasks start after `cancel()`, the run ends). Planted and
//!   caught, by assertion message: results stored in completion order
//!   (`broken::completion_order`: "results out of submission order") and the
//!   guide's unbounded `join_all` ("concurrency bound exceeded").
//! - **tokio's paused clock** (default and loom builds; loom does not drive
//!   futures, shuttle's time is not modelled): timers fire in virtual time,
//!   so every run is deterministic and the exact virtual durations asserted
//!   below are not wall-clock timings: they are how the concurrency bound is
//!   observed. Invariants: results in submission order; never more than the
//!   limit in flight; a task that outlives its timeout is reported
//!   `TimedOut` and does not hold up the others; cancellation reports every
//!   unfinished task `Cancelled` and starts no new one; a panic is
//!   reported, not propagated. The guide's `join_all` is caught by the
//!   bound and the hung-task tests (loom build: where `broken` exists and
//!   tokio is the task engine).

/// What both kinds of test share: the task and runner types, the limit,
/// the real `run_all` as a [`Runner`](common::Runner).
mod common {
    use heddle::concurrency::async_tasks::{Options, TaskError, run_all};
    use std::future::Future;
    use std::num::NonZeroUsize;
    use std::pin::Pin;

    pub type Outcomes = Vec<Result<u64, TaskError<String>>>;
    pub type BoxTask = Pin<Box<dyn Future<Output = Result<u64, String>> + Send>>;
    pub type Runner = fn(Vec<BoxTask>, Options) -> Pin<Box<dyn Future<Output = Outcomes>>>;

    pub fn limit(n: usize) -> Options {
        Options::new(NonZeroUsize::new(n).expect("non-zero"))
    }

    pub fn correct(tasks: Vec<BoxTask>, opts: Options) -> Pin<Box<dyn Future<Output = Outcomes>>> {
        Box::pin(async move { run_all(tasks, &opts).await })
    }
}

#[cfg(not(feature = "loom"))]
mod raced {
    use super::common::{BoxTask, Runner, correct, limit};
    use heddle::check;
    use heddle::concurrency::async_tasks::{CancellationToken, TaskError, run_all};
    use heddle::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use heddle::sync::task::{self, Arc};

    /// Tasks in flight now, the most ever, and how many started.
    #[derive(Default)]
    struct Gauge {
        now: AtomicUsize,
        max: AtomicUsize,
        started: AtomicUsize,
    }

    /// Task `id`: enters the gauge, yields `yields` times (so the scheduler
    /// can finish the tasks in any order), leaves, returns `id`.
    fn yielder(id: u64, yields: usize, gauge: &Arc<Gauge>) -> BoxTask {
        let gauge = Arc::clone(gauge);
        Box::pin(async move {
            gauge.started.fetch_add(1, SeqCst);
            let now = gauge.now.fetch_add(1, SeqCst) + 1;
            gauge.max.fetch_max(now, SeqCst);
            for _ in 0..yields {
                task::yield_now().await;
            }
            gauge.now.fetch_sub(1, SeqCst);
            Ok(id)
        })
    }

    /// Three tasks, two slots; the first yields most, so it tends to finish
    /// last.
    pub(super) async fn ordered_and_bounded(run: Runner) {
        let gauge = Arc::new(Gauge::default());
        let tasks = vec![
            yielder(1, 3, &gauge),
            yielder(2, 1, &gauge),
            yielder(3, 0, &gauge),
        ];
        let results = run(tasks, limit(2)).await;
        let max = gauge.max.load(SeqCst);
        assert!(max <= 2, "concurrency bound exceeded: {max} in flight");
        assert_eq!(
            results,
            vec![Ok(1), Ok(2), Ok(3)],
            "results out of submission order"
        );
    }

    #[test]
    fn results_keep_submission_order_and_the_bound_in_every_schedule() {
        check::model_async(|| ordered_and_bounded(correct));
    }

    /// A canceller races the run: at any point of it, the outcome of every
    /// task is its value or `Cancelled`, no more than the limit of tasks
    /// start after `cancel()` (those already handed to the scheduler), and
    /// the run ends.
    #[test]
    fn cancellation_at_any_point_reports_every_task() {
        check::model_async(|| async {
            let gauge = Arc::new(Gauge::default());
            let token = CancellationToken::new();
            let canceller = {
                let (token, gauge) = (token.clone(), Arc::clone(&gauge));
                task::spawn(async move {
                    task::yield_now().await;
                    token.cancel();
                    gauge.started.load(SeqCst)
                })
            };
            let tasks = (1..=3).map(|id| yielder(id, 1, &gauge)).collect::<Vec<_>>();
            let results = run_all(tasks, &limit(1).cancel_on(token)).await;
            let at_cancel = canceller.await.expect("canceller panicked");
            assert_eq!(results.len(), 3, "an outcome is missing");
            for (id, r) in (1..).zip(&results) {
                assert!(
                    *r == Ok(id) || *r == Err(TaskError::Cancelled),
                    "task {id}: unexpected outcome {r:?}"
                );
            }
            let started = gauge.started.load(SeqCst);
            assert!(
                started <= at_cancel + 1,
                "a task started after cancellation: {started} started, {at_cancel} at cancel()"
            );
        });
    }

    #[cfg(feature = "shuttle")]
    mod broken {
        use super::*;
        use crate::common::Outcomes;
        use heddle::concurrency::async_tasks::Options;
        use heddle::concurrency::async_tasks::broken::{completion_order, join_all};
        use std::future::Future;
        use std::pin::Pin;

        fn by_completion(
            tasks: Vec<BoxTask>,
            opts: Options,
        ) -> Pin<Box<dyn Future<Output = Outcomes>>> {
            Box::pin(async move { completion_order(tasks, &opts).await })
        }

        fn guide(tasks: Vec<BoxTask>, _opts: Options) -> Pin<Box<dyn Future<Output = Outcomes>>> {
            Box::pin(join_all(tasks))
        }

        #[test]
        #[should_panic(expected = "results out of submission order")]
        fn results_in_completion_order_are_caught() {
            check::model_async(|| ordered_and_bounded(by_completion));
        }

        #[test]
        #[should_panic(expected = "concurrency bound exceeded")]
        fn unbounded_join_all_is_caught() {
            check::model_async(|| ordered_and_bounded(guide));
        }
    }
}

#[cfg(not(feature = "shuttle"))]
mod paused {
    use heddle::concurrency::async_tasks::{CancellationToken, TaskError, run_all};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use std::time::Duration;
    use tokio::time::{Instant, sleep};

    use super::common::{BoxTask, Outcomes, Runner, correct, limit};

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Counts tasks in flight and remembers the maximum (on std atomics:
    /// under loom the facade's are loom's, which live only inside a model;
    /// the raced tests' gauge is on the facade's, for shuttle).
    #[derive(Default)]
    struct Gauge {
        now: AtomicUsize,
        max: AtomicUsize,
        started: AtomicUsize,
    }

    /// A task that sleeps `d` (virtual), then returns `id` (or fails if `id % 5 == 0`).
    fn task(id: u64, d: Duration, gauge: &Arc<Gauge>) -> BoxTask {
        let gauge = Arc::clone(gauge);
        Box::pin(async move {
            gauge.started.fetch_add(1, SeqCst);
            let now = gauge.now.fetch_add(1, SeqCst) + 1;
            gauge.max.fetch_max(now, SeqCst);
            sleep(d).await;
            gauge.now.fetch_sub(1, SeqCst);
            if id % 5 == 0 {
                Err(format!("task {id} failed"))
            } else {
                Ok(id)
            }
        })
    }

    /// Six tasks with uneven durations, limit 2: results in submission order,
    /// per-task failures, at most 2 in flight, and the exact virtual makespan of
    /// a 2-slot greedy schedule.
    async fn bounded_and_ordered(run: Runner) {
        let gauge = Arc::new(Gauge::default());
        let durations = [40, 10, 30, 10, 20, 10];
        let tasks = durations
            .iter()
            .zip(1..)
            .map(|(&d, id)| task(id, ms(d), &gauge))
            .collect();
        let start = Instant::now();
        let results = run(tasks, limit(2)).await;
        let elapsed = start.elapsed();
        let expected: Outcomes = (1..=6)
            .map(|id| {
                if id % 5 == 0 {
                    Err(TaskError::Failed(format!("task {id} failed")))
                } else {
                    Ok(id)
                }
            })
            .collect();
        assert_eq!(results, expected, "results out of submission order");
        assert!(
            gauge.max.load(SeqCst) <= 2,
            "concurrency bound exceeded: {} in flight",
            gauge.max.load(SeqCst)
        );
        // Slot A: 40 | slot B: 10, 30, 10 (t=50), then task 5 (20) on A at 40 → 60,
        // task 6 (10) on B at 50 → 60.
        assert_eq!(elapsed, ms(60), "not a 2-slot schedule");
    }

    #[tokio::test(start_paused = true)]
    async fn results_are_ordered_and_concurrency_is_bounded() {
        bounded_and_ordered(correct).await;
    }

    /// A task that never finishes is timed out; the others are unaffected, and
    /// the whole call ends at the timeout, not never.
    async fn hung_task_times_out(run: Runner) {
        let gauge = Arc::new(Gauge::default());
        let tasks: Vec<BoxTask> = vec![
            task(1, ms(10), &gauge),
            Box::pin(std::future::pending()),
            task(3, ms(10), &gauge),
        ];
        let call = run(tasks, limit(3).timeout(ms(100)));
        let results = tokio::time::timeout(ms(10_000), call)
            .await
            .expect("a hung task hung the whole call");
        assert_eq!(
            results,
            vec![Ok(1), Err(TaskError::TimedOut(ms(100))), Ok(3)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn hung_task_is_timed_out() {
        hung_task_times_out(correct).await;
    }

    #[tokio::test(start_paused = true)]
    async fn cancellation_stops_in_flight_and_pending_tasks() {
        let gauge = Arc::new(Gauge::default());
        let token = CancellationToken::new();
        let canceller = {
            let token = token.clone();
            tokio::spawn(async move {
                sleep(ms(15)).await;
                token.cancel();
            })
        };
        let tasks: Vec<BoxTask> = (1..=4).map(|id| task(id, ms(10), &gauge)).collect();
        let start = Instant::now();
        let results = run_all(tasks, &limit(1).cancel_on(token)).await;
        canceller.await.expect("canceller panicked");
        assert_eq!(start.elapsed(), ms(15), "cancellation was not immediate");
        assert_eq!(
            results,
            vec![
                Ok(1),
                Err(TaskError::Cancelled),
                Err(TaskError::Cancelled),
                Err(TaskError::Cancelled)
            ]
        );
        assert_eq!(
            gauge.started.load(SeqCst),
            2,
            "a task started after cancellation"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn already_cancelled_runs_nothing() {
        let gauge = Arc::new(Gauge::default());
        let token = CancellationToken::new();
        token.cancel();
        let tasks: Vec<BoxTask> = (1..=3).map(|id| task(id, ms(10), &gauge)).collect();
        let results = run_all(tasks, &limit(2).cancel_on(token)).await;
        assert_eq!(results, vec![Err(TaskError::Cancelled); 3]);
        assert_eq!(gauge.started.load(SeqCst), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn panic_is_reported_per_task() {
        let gauge = Arc::new(Gauge::default());
        let tasks: Vec<BoxTask> = vec![
            task(1, ms(5), &gauge),
            Box::pin(async { panic!("boom") }),
            task(3, ms(5), &gauge),
        ];
        let results = run_all(tasks, &limit(2)).await;
        assert_eq!(
            results,
            vec![Ok(1), Err(TaskError::Panicked("boom".into())), Ok(3)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn empty_input_is_empty_output() {
        let results = run_all(Vec::<BoxTask>::new(), &limit(4)).await;
        assert!(results.is_empty());
    }

    /// The guide's `join_all`: no bound and no timeout.
    #[cfg(feature = "loom")]
    mod broken {
        use super::*;
        use heddle::concurrency::async_tasks::Options;
        use heddle::concurrency::async_tasks::broken::join_all;
        use std::pin::Pin;

        fn guide(tasks: Vec<BoxTask>, _opts: Options) -> Pin<Box<dyn Future<Output = Outcomes>>> {
            Box::pin(join_all(tasks))
        }

        #[tokio::test(start_paused = true)]
        #[should_panic(expected = "concurrency bound exceeded")]
        async fn unbounded_join_all_is_caught() {
            bounded_and_ordered(guide).await;
        }

        #[tokio::test(start_paused = true)]
        #[should_panic(expected = "a hung task hung the whole call")]
        async fn untimed_join_all_is_caught() {
            hung_task_times_out(guide).await;
        }
    }
}
