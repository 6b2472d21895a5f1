//! The sync facade must cost nothing in production builds.
//!
//! Each criterion group puts the contestants side by side in the same run:
//! `heddle::sync` (the facade), raw `std::sync`, and, for mutexes,
//! `parking_lot` as the alternative users would pick. `benches/ratios.py`
//! turns the results into the table in `BENCHMARKS.md`.
//!
//! ```text
//! cargo bench --bench sync_facade
//! python3 benches/ratios.py
//! ```

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
    measurement::WallTime,
};

/// Lock/increment/unlock (or `fetch_add`) operations per iteration, uncontended.
const N: u64 = 1_000;
/// Operations per thread per iteration, contended (two threads).
const K: u64 = 20_000;
/// Threads in the contended groups (the machine has two cores).
const THREADS: usize = 2;

/// N uncontended operations per iteration on one counter created outside
/// the timing.
fn uncontended<T>(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, counter: T, op: impl Fn(&T)) {
    g.bench_function(name, |b| {
        b.iter(|| {
            for _ in 0..N {
                // black_box on the reference: the lock (or fetch_add) cannot be
                // hoisted out of the loop or the increments folded into one.
                op(black_box(&counter));
            }
        });
    });
    black_box(&counter);
}

/// `THREADS` scoped threads released together by a barrier, each doing K
/// operations on one fresh shared counter. Thread start-up is part of the
/// measured time, identically for every contestant.
fn contended<T: Sync>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    new: impl Fn() -> T,
    op: impl Fn(&T) + Sync,
) {
    g.bench_function(name, |b| {
        b.iter(|| {
            let counter = new();
            let start = Barrier::new(THREADS);
            thread::scope(|s| {
                for _ in 0..THREADS {
                    s.spawn(|| {
                        start.wait();
                        for _ in 0..K {
                            op(black_box(&counter));
                        }
                    });
                }
            });
            black_box(counter)
        });
    });
}

fn fast_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.throughput(Throughput::Elements(N))
        .sample_size(100)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g
}

fn threaded_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    // Each iteration spawns threads and takes a millisecond or so: flat
    // sampling, fewer samples.
    g.throughput(Throughput::Elements(K * THREADS as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    g
}

// The contestants. `heddle` is the facade exactly as patterns use it; `std`
// is raw std as users write it (`lock().unwrap()`); `parking_lot` is the
// alternative. In production builds `heddle::sync::atomic::AtomicU64` is a
// re-export of std's type, so that pair is expected to be identical.
// `inline(always)`: the wrapper must vanish for every contestant alike (left
// to itself, LLVM kept `std_mutex` out of line in the threaded loop once,
// because of `unwrap`'s panic path, which penalized std).

#[inline(always)]
fn heddle_mutex(m: &heddle::sync::Mutex<u64>) {
    *m.lock() += 1;
}

#[inline(always)]
fn std_mutex(m: &std::sync::Mutex<u64>) {
    *m.lock().unwrap() += 1;
}

#[inline(always)]
fn parking_lot_mutex(m: &parking_lot::Mutex<u64>) {
    *m.lock() += 1;
}

#[inline(always)]
fn heddle_atomic(a: &heddle::sync::atomic::AtomicU64) {
    a.fetch_add(1, heddle::sync::atomic::Ordering::Relaxed);
}

#[inline(always)]
fn std_atomic(a: &std::sync::atomic::AtomicU64) {
    a.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

fn mutex_uncontended(c: &mut Criterion) {
    let mut g = fast_group(c, "mutex_uncontended");
    uncontended(&mut g, "std", std::sync::Mutex::new(0), std_mutex);
    uncontended(&mut g, "heddle", heddle::sync::Mutex::new(0), heddle_mutex);
    uncontended(
        &mut g,
        "parking_lot",
        parking_lot::Mutex::new(0),
        parking_lot_mutex,
    );
    g.finish();
}

fn mutex_contended(c: &mut Criterion) {
    let mut g = threaded_group(c, "mutex_contended");
    contended(&mut g, "std", || std::sync::Mutex::new(0), std_mutex);
    contended(
        &mut g,
        "heddle",
        || heddle::sync::Mutex::new(0),
        heddle_mutex,
    );
    contended(
        &mut g,
        "parking_lot",
        || parking_lot::Mutex::new(0),
        parking_lot_mutex,
    );
    g.finish();
}

fn atomic_uncontended(c: &mut Criterion) {
    let mut g = fast_group(c, "atomic_uncontended");
    uncontended(
        &mut g,
        "heddle",
        heddle::sync::atomic::AtomicU64::new(0),
        heddle_atomic,
    );
    uncontended(
        &mut g,
        "std",
        std::sync::atomic::AtomicU64::new(0),
        std_atomic,
    );
    g.finish();
}

fn atomic_contended(c: &mut Criterion) {
    let mut g = threaded_group(c, "atomic_contended");
    contended(
        &mut g,
        "heddle",
        || heddle::sync::atomic::AtomicU64::new(0),
        heddle_atomic,
    );
    contended(
        &mut g,
        "std",
        || std::sync::atomic::AtomicU64::new(0),
        std_atomic,
    );
    g.finish();
}

criterion_group!(
    benches,
    mutex_uncontended,
    mutex_contended,
    atomic_uncontended,
    atomic_contended
);
criterion_main!(benches);
