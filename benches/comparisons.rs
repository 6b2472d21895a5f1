//! The guide's §5 comparisons, as criterion benches: each group puts the
//! alternatives a user would choose between side by side, in the same run.
//!
//! - `lock_counter/{1,2}threads`: std `Mutex` vs `parking_lot::Mutex` vs an
//!   atomic `fetch_add` (SeqCst as in the guide, and Relaxed);
//! - `channel_spsc`: std `mpsc` vs crossbeam (unbounded and bounded) vs tokio
//!   `mpsc`, one producer and one consumer;
//! - `data_parallel_sum`: serial vs manual threads (the guide's chunk copies,
//!   and scoped threads without copies) vs rayon vs tokio tasks;
//! - `quicksort`: the guide's sequential, recursive-thread, rayon-join and
//!   thread-pool quicksorts (the pool is `heddle::concurrency::worker_pool`),
//!   beside `slice::sort_unstable` and rayon's `par_sort_unstable`.
//!
//! Run: `cargo bench --bench comparisons`.

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use heddle::concurrency::worker_pool::WorkerPool;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::hint::black_box;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::{Relaxed, SeqCst};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::Duration;

const THREADS: usize = 2;

// ---------------------------------------------------------------- locks ----

const INCREMENTS: usize = 100_000;

fn spread(threads: usize, per_thread: impl Fn() + Sync) {
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(&per_thread);
        }
    });
}

fn lock_counter(c: &mut Criterion) {
    for threads in [1, 2] {
        let mut g = c.benchmark_group(format!("lock_counter/{threads}threads"));
        g.throughput(Throughput::Elements(INCREMENTS as u64));
        g.sample_size(20).measurement_time(Duration::from_secs(3));
        let per = INCREMENTS / threads;
        g.bench_function("std_mutex", |b| {
            b.iter(|| {
                let m = Mutex::new(0usize);
                spread(threads, || {
                    for _ in 0..per {
                        *m.lock().unwrap_or_else(|p| p.into_inner()) += 1;
                    }
                });
                black_box(m.into_inner().unwrap_or_else(|p| p.into_inner()))
            });
        });
        g.bench_function("parking_lot", |b| {
            b.iter(|| {
                let m = parking_lot::Mutex::new(0usize);
                spread(threads, || {
                    for _ in 0..per {
                        *m.lock() += 1;
                    }
                });
                black_box(m.into_inner())
            });
        });
        g.bench_function("atomic_seqcst", |b| {
            b.iter(|| {
                let a = AtomicUsize::new(0);
                spread(threads, || {
                    for _ in 0..per {
                        a.fetch_add(1, SeqCst);
                    }
                });
                black_box(a.into_inner())
            });
        });
        g.bench_function("atomic_relaxed", |b| {
            b.iter(|| {
                let a = AtomicUsize::new(0);
                spread(threads, || {
                    for _ in 0..per {
                        a.fetch_add(1, Relaxed);
                    }
                });
                black_box(a.into_inner())
            });
        });
        g.finish();
    }
}

// ------------------------------------------------------------- channels ----

const MESSAGES: usize = 200_000;

/// One producer thread sends `MESSAGES` values; this thread sums them until
/// the channel disconnects.
fn spsc<S, R>(channel: (S, R), send: fn(&S, usize) -> bool) -> usize
where
    S: Send + 'static,
    R: IntoIterator<Item = usize>,
{
    let (tx, rx) = channel;
    let producer = thread::spawn(move || {
        for i in 0..MESSAGES {
            if !send(&tx, i) {
                break;
            }
        }
    });
    let sum = rx.into_iter().sum();
    producer.join().expect("producer panicked");
    black_box(sum)
}

fn channel_spsc(c: &mut Criterion) {
    let mut g = c.benchmark_group("channel_spsc");
    g.throughput(Throughput::Elements(MESSAGES as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(3));
    g.bench_function("std_mpsc", |b| {
        b.iter(|| {
            spsc(mpsc::channel(), |tx: &mpsc::Sender<usize>, i| {
                tx.send(i).is_ok()
            })
        });
    });
    g.bench_function("crossbeam_unbounded", |b| {
        b.iter(|| {
            spsc(
                crossbeam_channel::unbounded(),
                |tx: &crossbeam_channel::Sender<usize>, i| tx.send(i).is_ok(),
            )
        });
    });
    g.bench_function("crossbeam_bounded_1024", |b| {
        b.iter(|| {
            spsc(
                crossbeam_channel::bounded(1024),
                |tx: &crossbeam_channel::Sender<usize>, i| tx.send(i).is_ok(),
            )
        });
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .build()
        .expect("tokio runtime");
    g.bench_function("tokio_mpsc_1024", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
                let producer = tokio::spawn(async move {
                    for i in 0..MESSAGES {
                        if tx.send(i).await.is_err() {
                            break;
                        }
                    }
                });
                let mut sum = 0usize;
                while let Some(v) = rx.recv().await {
                    sum += v;
                }
                producer.await.expect("producer panicked");
                black_box(sum)
            })
        });
    });
    g.finish();
}

// --------------------------------------------------------- data parallel ----

const SUM_LEN: usize = 10_000_000;

fn square_sum(xs: &[i32]) -> i64 {
    xs.iter().map(|&x| i64::from(x) * i64::from(x)).sum()
}

fn data_parallel_sum(c: &mut Criterion) {
    let data: Arc<[i32]> = (0..SUM_LEN as i32).collect();
    let expected = square_sum(&data);
    let chunk = SUM_LEN.div_ceil(THREADS);
    let mut g = c.benchmark_group("data_parallel_sum");
    g.throughput(Throughput::Bytes((SUM_LEN * 4) as u64));
    g.sample_size(20).measurement_time(Duration::from_secs(4));
    g.bench_function("serial", |b| b.iter(|| black_box(square_sum(&data))));
    g.bench_function("threads_copying_chunks_as_guide", |b| {
        b.iter(|| {
            let handles: Vec<_> = data
                .chunks(chunk)
                .map(|c| {
                    let owned = c.to_vec();
                    thread::spawn(move || square_sum(&owned))
                })
                .collect();
            let total: i64 = handles
                .into_iter()
                .map(|h| h.join().expect("worker panicked"))
                .sum();
            assert_eq!(total, expected);
        });
    });
    g.bench_function("scoped_threads", |b| {
        b.iter(|| {
            let total: i64 = thread::scope(|s| {
                let handles: Vec<_> = data
                    .chunks(chunk)
                    .map(|c| s.spawn(move || square_sum(c)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("worker panicked"))
                    .sum()
            });
            assert_eq!(total, expected);
        });
    });
    g.bench_function("rayon", |b| {
        b.iter(|| {
            let total: i64 = data.par_iter().map(|&x| i64::from(x) * i64::from(x)).sum();
            assert_eq!(total, expected);
        });
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .build()
        .expect("tokio runtime");
    g.bench_function("tokio_tasks", |b| {
        b.iter(|| {
            let total: i64 = rt.block_on(async {
                let tasks: Vec<_> = (0..THREADS)
                    .map(|i| {
                        let data = Arc::clone(&data);
                        tokio::spawn(async move {
                            let end = ((i + 1) * chunk).min(data.len());
                            square_sum(&data[i * chunk..end])
                        })
                    })
                    .collect();
                let mut total = 0;
                for t in tasks {
                    total += t.await.expect("task panicked");
                }
                total
            });
            assert_eq!(total, expected);
        });
    });
    g.finish();
}

// ------------------------------------------------------------- quicksort ----

const SORT_LEN: usize = 1_000_000;
const THREAD_CUTOFF: usize = 1000;

/// The guide's Lomuto partition around the last element.
fn partition<T: Ord>(v: &mut [T]) -> usize {
    let pivot = v.len() - 1;
    let mut i = 0;
    for j in 0..pivot {
        if v[j] <= v[pivot] {
            v.swap(i, j);
            i += 1;
        }
    }
    v.swap(i, pivot);
    i
}

fn split(v: &mut [i32]) -> (&mut [i32], &mut [i32]) {
    let mid = partition(v);
    let (left, rest) = v.split_at_mut(mid);
    (left, &mut rest[1..])
}

fn sequential_quicksort(v: &mut [i32]) {
    if v.len() > 1 {
        let (l, r) = split(v);
        sequential_quicksort(l);
        sequential_quicksort(r);
    }
}

/// A new thread for every partition above the cutoff (scoped, since the
/// guide's `thread::spawn` on a borrowed slice does not compile).
fn recursive_thread_quicksort(v: &mut [i32]) {
    if v.len() <= 1 {
        return;
    }
    let big = v.len() > THREAD_CUTOFF;
    let (l, r) = split(v);
    if big {
        thread::scope(|s| {
            s.spawn(|| recursive_thread_quicksort(l));
            recursive_thread_quicksort(r);
        });
    } else {
        recursive_thread_quicksort(l);
        recursive_thread_quicksort(r);
    }
}

fn rayon_quicksort(v: &mut [i32]) {
    if v.len() <= THREAD_CUTOFF {
        sequential_quicksort(v);
        return;
    }
    let (l, r) = split(v);
    rayon::join(|| rayon_quicksort(l), || rayon_quicksort(r));
}

/// The guide's pool version: the left part of the top-level partition is
/// copied to a pool worker, sorted there and copied back.
fn pool_quicksort(pool: &WorkerPool<Vec<i32>, Vec<i32>>, v: &mut [i32]) {
    if v.len() <= THREAD_CUTOFF {
        sequential_quicksort(v);
        return;
    }
    let (l, r) = split(v);
    let handle = pool.dispatch(l.to_vec()).expect("pool open");
    sequential_quicksort(r);
    l.copy_from_slice(&handle.wait().expect("pool task"));
}

fn quicksort(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(0x5eed);
    let input: Vec<i32> = (0..SORT_LEN).map(|_| rng.random()).collect();
    let mut sorted = input.clone();
    sorted.sort_unstable();
    let pool = WorkerPool::new(THREADS, |mut v: Vec<i32>| {
        sequential_quicksort(&mut v);
        v
    })
    .expect("pool");

    let mut g = c.benchmark_group("quicksort");
    g.throughput(Throughput::Elements(SORT_LEN as u64));
    g.sample_size(10).measurement_time(Duration::from_secs(4));
    let mut run = |name: &str, sort: &dyn Fn(&mut [i32])| {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_batched_ref(
                || input.clone(),
                |v| {
                    sort(v);
                    debug_assert_eq!(*v, sorted);
                },
                BatchSize::LargeInput,
            );
        });
    };
    run("guide_sequential", &sequential_quicksort);
    run("guide_recursive_threads", &recursive_thread_quicksort);
    run("guide_rayon_join", &rayon_quicksort);
    run("guide_thread_pool", &|v| pool_quicksort(&pool, v));
    run("std_sort_unstable", &|v| v.sort_unstable());
    run("rayon_par_sort_unstable", &|v| v.par_sort_unstable());
    g.finish();
    drop(pool.shutdown());
}

criterion_group!(
    benches,
    lock_counter,
    channel_spsc,
    data_parallel_sum,
    quicksort
);
criterion_main!(benches);
