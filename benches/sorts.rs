//! Sorting 10 M random `u64` (seeded): heddle's parallel merge sort and
//! quicksort beside rayon's `par_sort` / `par_sort_unstable`, std's `sort` /
//! `sort_unstable`, and the guide's naive parallel merge sort (§2.1: a fresh
//! `Vec` per merge, `rayon::join` per level, cutoff 1024), all in one group.
//!
//! Goals (on the 2-core CI machine): heddle merge sort ≥ 1.1× rayon
//! `par_sort` and ≥ 1.6× std `sort` (ratios of times).
//!
//! Every contestant gets a fresh clone of the same input per iteration
//! (`iter_batched`, `BatchSize::LargeInput`), and returns the sorted vector
//! so that freeing it is not timed.
//!
//! ```text
//! cargo bench --bench sorts
//! ```

use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use heddle::parallel::merge_sort::merge_sort;
use heddle::parallel::quicksort::quicksort;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::slice::ParallelSliceMut;
use std::hint::black_box;
use std::time::Duration;

const LEN: usize = 10_000_000;

/// One contestant: sorts the slice in place.
type SortFn = fn(&mut [u64]);
const SEED: u64 = 0x5eed_5027;

/// The guide's serial merge sort (§2.1), verbatim in spirit: a fresh `Vec`
/// for every merge, then a copy back.
fn guide_merge_sort_serial<T: Ord + Copy>(slice: &mut [T]) {
    if slice.len() <= 1 {
        return;
    }
    let mid = slice.len() / 2;
    let (left, right) = slice.split_at_mut(mid);
    guide_merge_sort_serial(left);
    guide_merge_sort_serial(right);
    guide_merge(slice, mid);
}

/// The guide's parallel merge sort (§2.1): `rayon::join` on the halves down
/// to 1024 elements, then a sequential merge through a fresh `Vec`.
fn guide_merge_sort_parallel<T: Ord + Copy + Send>(slice: &mut [T]) {
    if slice.len() <= 1024 {
        guide_merge_sort_serial(slice);
        return;
    }
    let mid = slice.len() / 2;
    let (left, right) = slice.split_at_mut(mid);
    rayon::join(
        || guide_merge_sort_parallel(left),
        || guide_merge_sort_parallel(right),
    );
    guide_merge(slice, mid);
}

/// The guide's merge: allocate, merge, copy back.
fn guide_merge<T: Ord + Copy>(slice: &mut [T], mid: usize) {
    let (left, right) = slice.split_at(mid);
    let mut temp = Vec::with_capacity(slice.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() && j < right.len() {
        if left[i] <= right[j] {
            temp.push(left[i]);
            i += 1;
        } else {
            temp.push(right[j]);
            j += 1;
        }
    }
    temp.extend_from_slice(&left[i..]);
    temp.extend_from_slice(&right[j..]);
    slice.copy_from_slice(&temp);
}

fn sorts(c: &mut Criterion) {
    let mut rng = SmallRng::seed_from_u64(SEED);
    let data: Vec<u64> = (0..LEN).map(|_| rng.random()).collect();

    // Sanity: every contestant sorts (checked once, outside the timings).
    let mut expected = data.clone();
    expected.sort_unstable();
    let check = |name: &str, f: SortFn| {
        let mut v = data.clone();
        f(&mut v);
        assert!(v == expected, "{name} did not sort");
    };
    check("merge_sort", merge_sort);
    check("quicksort", quicksort);
    check("guide", guide_merge_sort_parallel);
    drop(expected);

    let mut group = c.benchmark_group("sort_10m_u64");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6))
        .throughput(Throughput::Elements(LEN as u64));

    let contestants: [(&str, SortFn); 7] = [
        ("heddle_merge_sort", merge_sort),
        ("heddle_quicksort", quicksort),
        ("rayon_par_sort", |v| v.par_sort()),
        ("rayon_par_sort_unstable", |v| v.par_sort_unstable()),
        ("std_sort", |v| v.sort()),
        ("std_sort_unstable", |v| v.sort_unstable()),
        ("guide_naive_merge_sort", guide_merge_sort_parallel),
    ];
    for (name, sort) in contestants {
        group.bench_function(name, |b| {
            b.iter_batched(
                || data.clone(),
                |mut v| {
                    sort(black_box(&mut v));
                    v
                },
                BatchSize::LargeInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, sorts);
criterion_main!(benches);
