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
//!
//! After the criterion groups, `mutex_contended_paired` (see [`paired`])
//! measures the contended mutex pair round by round, interleaved, and prints
//! the median and interquartile range of the per-round ratios to stderr:
//! criterion's separate timing windows cannot resolve 3 % when the
//! run-to-run spread is ±12 %. It runs when no filter is given or the filter
//! is a substring of its name (`-- mutex_contended` runs both).

use std::hint::black_box;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, measurement::WallTime,
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

/// Paired, interleaved measurement of the contended groups.
///
/// One *trial* is exactly the body of [`contended`]: `THREADS` scoped threads
/// released by a barrier, each doing K operations on one fresh shared
/// counter. Its time runs from the earliest thread's release to the latest
/// thread's last operation (thread spawn and join are left out: they are
/// the same for both contestants and only add noise). One *measurement* is
/// the sum of `TRIALS` trials. One *round* measures contestant A and B back
/// to back, alternating which goes first, and yields the throughput ratio
/// `time(B) / time(A)` (> 1: A faster), so slow drifts of the machine
/// (another job starting, frequency changes) hit both sides of a ratio
/// alike. The rounds' ratios are summarized by their median, their
/// interquartile range, and a bootstrap 95 % confidence interval of the
/// median (seeded, deterministic resampling).
///
/// Three pairs are measured, each with the same thread count, operation
/// count and code (one generic function, monomorphized per contestant):
///
/// - `mutex`: `heddle::sync::Mutex` (A) vs `std::sync::Mutex` (B), the claim;
/// - `mutex A/A`: `std` vs `std`, identical code on both sides: the
///   method's own noise floor (its ratio should be 1, its IQR shows the
///   resolution);
/// - `atomic`: `heddle::sync::atomic::AtomicU64` vs std's (the same type).
mod paired {
    use super::{K, THREADS, heddle_atomic, heddle_mutex, std_atomic, std_mutex};
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::hint::black_box;
    use std::sync::Barrier;
    use std::thread;
    use std::time::{Duration, Instant};

    /// Name used for filtering and in the output.
    pub const NAME: &str = "mutex_contended_paired";
    /// Rounds per pair (odd, so the median is one round's ratio).
    const ROUNDS: usize = 601;
    /// Trials per measurement.
    const TRIALS: usize = 4;

    /// One trial: the [`super::contended`] body, timed from release to the
    /// last thread's finish.
    #[inline(never)]
    fn trial<T: Sync>(new: &impl Fn() -> T, op: &(impl Fn(&T) + Sync)) -> Duration {
        let counter = new();
        let start = Barrier::new(THREADS);
        let spans: Vec<(Instant, Instant)> = thread::scope(|s| {
            let handles: Vec<_> = (0..THREADS)
                .map(|_| {
                    s.spawn(|| {
                        start.wait();
                        let begin = Instant::now();
                        for _ in 0..K {
                            op(black_box(&counter));
                        }
                        (begin, Instant::now())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("bench thread"))
                .collect()
        });
        black_box(counter);
        let first = spans.iter().map(|s| s.0).min().expect("threads ran");
        let last = spans.iter().map(|s| s.1).max().expect("threads ran");
        last - first
    }

    fn measure<T: Sync>(
        new: &impl Fn() -> T,
        op: &(impl Fn(&T) + Sync),
        trials: usize,
    ) -> Duration {
        (0..trials).map(|_| trial(new, op)).sum()
    }

    /// Quantile `q` of sorted data (linear interpolation).
    fn quantile(sorted: &[f64], q: f64) -> f64 {
        let pos = q * (sorted.len() - 1) as f64;
        let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
        sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
    }

    fn median(data: &mut [f64]) -> f64 {
        data.sort_by(f64::total_cmp);
        quantile(data, 0.5)
    }

    /// Measures the pair `rounds` times and prints the summary to stderr.
    #[allow(clippy::too_many_arguments)]
    fn pair<A: Sync, B: Sync>(
        label: &str,
        rounds: usize,
        trials: usize,
        new_a: impl Fn() -> A,
        op_a: impl Fn(&A) + Sync,
        new_b: impl Fn() -> B,
        op_b: impl Fn(&B) + Sync,
    ) {
        // Warm-up: one measurement of each, discarded.
        measure(&new_a, &op_a, trials);
        measure(&new_b, &op_b, trials);
        let mut ratios = Vec::with_capacity(rounds);
        let (mut time_a, mut time_b) = (Vec::new(), Vec::new());
        let (mut a_first, mut b_first) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            let (a, b) = if round % 2 == 0 {
                let a = measure(&new_a, &op_a, trials);
                (a, measure(&new_b, &op_b, trials))
            } else {
                let b = measure(&new_b, &op_b, trials);
                (measure(&new_a, &op_a, trials), b)
            };
            let ratio = b.as_secs_f64() / a.as_secs_f64();
            ratios.push(ratio);
            if round % 2 == 0 {
                a_first.push(ratio);
            } else {
                b_first.push(ratio);
            }
            let ops = (trials * THREADS) as f64 * K as f64;
            time_a.push(a.as_secs_f64() * 1e9 / ops);
            time_b.push(b.as_secs_f64() * 1e9 / ops);
        }
        ratios.sort_by(f64::total_cmp);
        let (q1, med, q3) = (
            quantile(&ratios, 0.25),
            quantile(&ratios, 0.5),
            quantile(&ratios, 0.75),
        );
        // Bootstrap CI of the median.
        let mut rng = SmallRng::seed_from_u64(0x5eed);
        let mut medians: Vec<f64> = (0..2000)
            .map(|_| {
                let mut sample: Vec<f64> = (0..ratios.len())
                    .map(|_| ratios[rng.random_range(0..ratios.len())])
                    .collect();
                median(&mut sample)
            })
            .collect();
        medians.sort_by(f64::total_cmp);
        let faster = ratios.iter().filter(|&&r| r >= 1.0).count();
        eprintln!(
            "{NAME}: {label:<28} ratio median {med:.3}x  IQR [{q1:.3}, {q3:.3}]  \
             95% CI of median [{:.3}, {:.3}]  min {:.3} max {:.3}  \
             A >= B in {faster}/{rounds} rounds  ns/op A {:.1} B {:.1}  \
             median when A first {:.3}x, when B first {:.3}x",
            quantile(&medians, 0.025),
            quantile(&medians, 0.975),
            ratios[0],
            ratios[ratios.len() - 1],
            median(&mut time_a),
            median(&mut time_b),
            median(&mut a_first),
            median(&mut b_first),
        );
    }

    /// Whether the command line selects this measurement: `--list` never
    /// does; no filter or a filter that is a substring of [`NAME`] does.
    fn selected(args: &[String]) -> bool {
        // Criterion options that take a value.
        const VALUED: &[&str] = &[
            "--save-baseline",
            "-s",
            "--baseline",
            "-b",
            "--baseline-lenient",
            "--load-baseline",
            "--sample-size",
            "--warm-up-time",
            "--measurement-time",
            "--nresamples",
            "--noise-threshold",
            "--confidence-level",
            "--significance-level",
            "--profile-time",
            "--plotting-backend",
            "--output-format",
            "--format",
            "--color",
            "-c",
            "--logfile",
        ];
        if args.iter().any(|a| a == "--list") {
            return false;
        }
        let mut filters = Vec::new();
        let mut skip = false;
        for a in args {
            if skip {
                skip = false;
            } else if VALUED.contains(&a.as_str()) {
                skip = true;
            } else if !a.starts_with('-') {
                filters.push(a.as_str());
            }
        }
        filters.is_empty() || filters.iter().any(|f| NAME.contains(f))
    }

    /// Runs the three pairs if selected; `--test` runs a few rounds only.
    pub fn run() {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if !selected(&args) {
            return;
        }
        let (rounds, trials) = if args.iter().any(|a| a == "--test") {
            (5, 1)
        } else {
            (ROUNDS, TRIALS)
        };
        eprintln!(
            "{NAME}: {rounds} rounds x {trials} trials x {THREADS} threads x {K} ops, \
             A/B alternating first; ratio = time(B) / time(A), > 1: A faster"
        );
        pair(
            "mutex heddle(A) vs std(B)",
            rounds,
            trials,
            || heddle::sync::Mutex::new(0),
            heddle_mutex,
            || std::sync::Mutex::new(0),
            std_mutex,
        );
        pair(
            "mutex A/A std vs std",
            rounds,
            trials,
            || std::sync::Mutex::new(0),
            std_mutex,
            || std::sync::Mutex::new(0),
            std_mutex,
        );
        pair(
            "atomic heddle(A) vs std(B)",
            rounds,
            trials,
            || heddle::sync::atomic::AtomicU64::new(0),
            heddle_atomic,
            || std::sync::atomic::AtomicU64::new(0),
            std_atomic,
        );
    }
}

// `criterion_main!` plus the paired measurement.
fn main() {
    benches();
    paired::run();
    Criterion::default().configure_from_args().final_summary();
}
