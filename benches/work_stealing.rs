//! Work stealing: heddle's Chase–Lev deque beside `crossbeam-deque`, and
//! heddle's scheduler beside `rayon::scope` on the guide's unbalanced
//! workload (§2.3), in the same criterion run.
//!
//! Groups (contestants `heddle` and `crossbeam` / `rayon` in each):
//! - `deque_push_pop`: one thread, 100 rounds of 50 pushes then 50 pops on a
//!   long-lived deque (no growth: both start at 64 slots);
//! - `deque_push_steal`: the same, emptied through a stealer;
//! - `deque_owner_vs_thief`: the owner pushes 100k elements (32 pushes, 16
//!   pops, repeat) while one thief thread steals until all are consumed;
//! - `unbalanced_guide`: the guide's workload — 20 tasks, every fifth one 10×
//!   bigger — injected as roots (heddle `Pool::run_all`) or spawned from a
//!   `rayon::ThreadPool::scope`, 2 threads each. The guide's sizes are
//!   divided by 10 and its `yield_now` every 10k iterations is dropped;
//! - `unbalanced_spawning`: tasks that spawn subtasks: a binary tree of
//!   8191 tasks, one in 16 of them 100× more expensive (chosen by a seeded
//!   hash of the task id).
//!
//! Goals (checked by the lead, not here): deque ≥ 0.8× crossbeam,
//! scheduler ≥ 0.9× rayon (time ratio). A heddle `run` creates and joins
//! its 2 worker threads; rayon's pool is built once, outside the timing.
//!
//! ```text
//! cargo bench --bench work_stealing
//! ```

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::thread;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};
use heddle::parallel::deque as hd;
use heddle::parallel::work_stealing::{Pool, Scope};

const THREADS: usize = 2;

// ---------------------------------------------------------------- deques

/// The three operations both deques offer.
trait Deque: Send + 'static {
    type Worker;
    type Stealer: Send + Sync + Clone;
    fn new() -> (Self::Worker, Self::Stealer);
    fn push(w: &Self::Worker, x: u64);
    fn pop(w: &Self::Worker) -> Option<u64>;
    /// `Some(Some(x))` success, `Some(None)` empty, `None` retry.
    fn steal(s: &Self::Stealer) -> Option<Option<u64>>;
}

struct Heddle;
impl Deque for Heddle {
    type Worker = hd::Worker<u64>;
    type Stealer = hd::Stealer<u64>;
    fn new() -> (Self::Worker, Self::Stealer) {
        hd::new()
    }
    #[inline]
    fn push(w: &Self::Worker, x: u64) {
        w.push(x);
    }
    #[inline]
    fn pop(w: &Self::Worker) -> Option<u64> {
        w.pop()
    }
    #[inline]
    fn steal(s: &Self::Stealer) -> Option<Option<u64>> {
        match s.steal() {
            hd::Steal::Success(x) => Some(Some(x)),
            hd::Steal::Empty => Some(None),
            hd::Steal::Retry => None,
        }
    }
}

struct Crossbeam;
impl Deque for Crossbeam {
    type Worker = crossbeam_deque::Worker<u64>;
    type Stealer = crossbeam_deque::Stealer<u64>;
    fn new() -> (Self::Worker, Self::Stealer) {
        let w = crossbeam_deque::Worker::new_lifo();
        let s = w.stealer();
        (w, s)
    }
    #[inline]
    fn push(w: &Self::Worker, x: u64) {
        w.push(x);
    }
    #[inline]
    fn pop(w: &Self::Worker) -> Option<u64> {
        w.pop()
    }
    #[inline]
    fn steal(s: &Self::Stealer) -> Option<Option<u64>> {
        match s.steal() {
            crossbeam_deque::Steal::Success(x) => Some(Some(x)),
            crossbeam_deque::Steal::Empty => Some(None),
            crossbeam_deque::Steal::Retry => None,
        }
    }
}

const ROUNDS: u64 = 100;
const BATCH: u64 = 50;

fn push_pop<D: Deque>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let (w, _s) = D::new();
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for r in 0..ROUNDS {
                for i in 0..BATCH {
                    D::push(&w, black_box(r * BATCH + i));
                }
                while let Some(x) = D::pop(&w) {
                    sum = sum.wrapping_add(x);
                }
            }
            black_box(sum)
        });
    });
}

fn push_steal<D: Deque>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    let (w, s) = D::new();
    g.bench_function(name, |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for r in 0..ROUNDS {
                for i in 0..BATCH {
                    D::push(&w, black_box(r * BATCH + i));
                }
                loop {
                    match D::steal(&s) {
                        Some(Some(x)) => sum = sum.wrapping_add(x),
                        Some(None) => break,
                        None => continue,
                    }
                }
            }
            black_box(sum)
        });
    });
}

const CONCURRENT: u64 = 100_000;

/// One owner pushing and popping, one thief stealing, until all
/// `CONCURRENT` elements are consumed. Thread start-up is inside the timing,
/// identically for both.
fn owner_vs_thief<D: Deque>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str) {
    g.bench_function(name, |b| {
        b.iter(|| {
            let (w, s) = D::new();
            let consumed = AtomicU64::new(0);
            let stolen = thread::scope(|scope| {
                let thief = scope.spawn(|| {
                    let mut n = 0u64;
                    while consumed.load(Relaxed) < CONCURRENT {
                        if let Some(Some(x)) = D::steal(&s) {
                            black_box(x);
                            n += 1;
                            consumed.fetch_add(1, Relaxed);
                        }
                    }
                    n
                });
                let mut next = 0;
                while next < CONCURRENT {
                    for _ in 0..32 {
                        if next < CONCURRENT {
                            D::push(&w, next);
                            next += 1;
                        }
                    }
                    for _ in 0..16 {
                        if let Some(x) = D::pop(&w) {
                            black_box(x);
                            consumed.fetch_add(1, Relaxed);
                        }
                    }
                }
                while let Some(x) = D::pop(&w) {
                    black_box(x);
                    consumed.fetch_add(1, Relaxed);
                }
                thief.join().expect("thief panicked")
            });
            black_box(stolen)
        });
    });
}

fn deque_push_pop(c: &mut Criterion) {
    let mut g = c.benchmark_group("deque_push_pop");
    g.throughput(Throughput::Elements(ROUNDS * BATCH))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    push_pop::<Heddle>(&mut g, "heddle");
    push_pop::<Crossbeam>(&mut g, "crossbeam");
    g.finish();
}

fn deque_push_steal(c: &mut Criterion) {
    let mut g = c.benchmark_group("deque_push_steal");
    g.throughput(Throughput::Elements(ROUNDS * BATCH))
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    push_steal::<Heddle>(&mut g, "heddle");
    push_steal::<Crossbeam>(&mut g, "crossbeam");
    g.finish();
}

fn deque_owner_vs_thief(c: &mut Criterion) {
    let mut g = c.benchmark_group("deque_owner_vs_thief");
    g.throughput(Throughput::Elements(CONCURRENT))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    owner_vs_thief::<Heddle>(&mut g, "heddle");
    owner_vs_thief::<Crossbeam>(&mut g, "crossbeam");
    g.finish();
}

// ------------------------------------------------------------ schedulers

/// The guide's `Task::execute`: `work` wrapping additions (black-boxed so
/// the loop is not folded into a closed form).
fn burn(work: u64) -> u64 {
    let mut r = 0u64;
    for i in 0..work {
        r = r.wrapping_add(black_box(i));
    }
    r
}

/// The guide's task list: 20 tasks, every fifth one big (sizes ÷ 10).
fn guide_tasks() -> impl Iterator<Item = u64> {
    (0..20).map(|i| if i % 5 == 0 { 1_000_000 } else { 100_000 })
}

fn unbalanced_guide(c: &mut Criterion) {
    let mut g = c.benchmark_group("unbalanced_guide");
    g.throughput(Throughput::Elements(20))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    let mut pool = Pool::new(THREADS).expect("2 threads");
    g.bench_function("heddle", |b| {
        b.iter(|| {
            let total = Arc::new(AtomicU64::new(0));
            let roots = guide_tasks().map(|work| {
                let total = Arc::clone(&total);
                move |_: &Scope<'_>| {
                    total.fetch_add(burn(work), Relaxed);
                }
            });
            pool.run_all(roots).expect("no panic");
            black_box(total.load(Relaxed))
        });
    });
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("rayon pool");
    g.bench_function("rayon", |b| {
        b.iter(|| {
            let total = Arc::new(AtomicU64::new(0));
            rayon.scope(|s| {
                for work in guide_tasks() {
                    let total = Arc::clone(&total);
                    s.spawn(move |_| {
                        total.fetch_add(burn(work), Relaxed);
                    });
                }
            });
            black_box(total.load(Relaxed))
        });
    });
    g.finish();
}

/// Depth of the spawning tree: 2^13 - 1 = 8191 tasks.
const DEPTH: u32 = 13;
const TREE_TASKS: u64 = (1 << DEPTH) - 1;

/// Deterministic cost of task `id`: one in 16 is 100× bigger (splitmix64
/// of the id, a fixed seed).
fn cost(id: u64) -> u64 {
    let mut z = id.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if z % 16 == 0 { 20_000 } else { 200 }
}

fn heddle_tree(s: &Scope<'_>, id: u64, total: Arc<AtomicU64>) {
    for child in [2 * id + 1, 2 * id + 2] {
        if child < TREE_TASKS {
            let total = Arc::clone(&total);
            s.spawn(move |s| heddle_tree(s, child, total));
        }
    }
    total.fetch_add(burn(cost(id)), Relaxed);
}

fn rayon_tree<'s>(s: &rayon::Scope<'s>, id: u64, total: &'s AtomicU64) {
    for child in [2 * id + 1, 2 * id + 2] {
        if child < TREE_TASKS {
            s.spawn(move |s| rayon_tree(s, child, total));
        }
    }
    total.fetch_add(burn(cost(id)), Relaxed);
}

fn unbalanced_spawning(c: &mut Criterion) {
    let mut g = c.benchmark_group("unbalanced_spawning");
    g.throughput(Throughput::Elements(TREE_TASKS))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    let mut pool = Pool::new(THREADS).expect("2 threads");
    g.bench_function("heddle", |b| {
        b.iter(|| {
            let total = Arc::new(AtomicU64::new(0));
            let t = Arc::clone(&total);
            let report = pool.run(move |s| heddle_tree(s, 0, t)).expect("no panic");
            debug_assert_eq!(report.tasks, TREE_TASKS);
            black_box(total.load(Relaxed))
        });
    });
    let rayon = rayon::ThreadPoolBuilder::new()
        .num_threads(THREADS)
        .build()
        .expect("rayon pool");
    g.bench_function("rayon", |b| {
        b.iter(|| {
            let total = AtomicU64::new(0);
            rayon.scope(|s| rayon_tree(s, 0, &total));
            black_box(total.load(Relaxed))
        });
    });
    g.finish();
}

/// Sanity check before timing: both schedulers compute the same totals.
fn same_results(_c: &mut Criterion) {
    let mut pool = Pool::new(THREADS).expect("2 threads");
    let total = Arc::new(AtomicU64::new(0));
    let t = Arc::clone(&total);
    let report = pool.run(move |s| heddle_tree(s, 0, t)).expect("no panic");
    assert_eq!(report.tasks, TREE_TASKS);
    let expected: u64 = (0..TREE_TASKS).fold(0, |a, id| a.wrapping_add(burn(cost(id))));
    assert_eq!(total.load(Relaxed), expected);
    let ran = AtomicUsize::new(0);
    rayon::scope(|s| {
        for _ in 0..20 {
            s.spawn(|_| {
                ran.fetch_add(1, Relaxed);
            });
        }
    });
    assert_eq!(ran.load(Relaxed), 20);
}

criterion_group!(
    benches,
    same_results,
    deque_push_pop,
    deque_push_steal,
    deque_owner_vs_thief,
    unbalanced_guide,
    unbalanced_spawning
);
criterion_main!(benches);
