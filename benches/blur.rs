//! 5×5 box blur of a 4096×4096 RGB image (guide §2.4), beside a plain copy
//! of the same buffer.
//!
//! Throughput is bytes read plus bytes written, `2 · w · h · 3` per
//! iteration, for every contestant, so the GB/s figures compare directly:
//! - `memcpy`: `copy_from_slice` of the input into a preallocated buffer,
//!   the memory-bandwidth ceiling of any one-pass filter;
//! - `separable_parallel_into`: heddle's fastest variant (rayon bands, one
//!   memory pass) into a preallocated image, like `memcpy`;
//! - `separable_parallel`: the same, allocating its output (page faults on
//!   a fresh 48 MiB buffer included);
//! - `separable_into`: the same filter on one thread, preallocated output;
//! - `naive_parallel`, `naive`: the guide's filters (25 bounds-checked reads
//!   per value), for the speed-up.
//!
//! Goals: `separable_parallel_into` ≥ 0.5× `memcpy` and ≥ 10× `naive`.
//! The input is the guide's deterministic gradient test pattern (the
//! filter's speed does not depend on the pixel values).
//!
//! ```text
//! cargo bench --bench blur
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use heddle::parallel::blur::{
    Image, blur_naive, blur_naive_parallel, blur_separable_into, blur_separable_parallel,
    blur_separable_parallel_into,
};

const SIDE: usize = 4096;

fn blur(c: &mut Criterion) {
    let image = Image::test_pattern(SIDE, SIDE).expect("4096x4096 fits in memory");
    let bytes = image.pixels().len();
    let mut out = Image::black(SIDE, SIDE).expect("4096x4096 fits in memory");
    let mut copy = vec![0u8; bytes];
    // Fault the destination pages in before timing anything.
    copy.copy_from_slice(image.pixels());
    blur_separable_parallel_into(&image, &mut out).expect("same size");

    let mut g = c.benchmark_group("blur_4096");
    g.throughput(Throughput::Bytes(2 * bytes as u64))
        // The naive filter takes seconds per iteration: few flat samples.
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));

    g.bench_function("memcpy", |b| {
        b.iter(|| copy.copy_from_slice(black_box(image.pixels())));
    });
    g.bench_function("separable_parallel_into", |b| {
        b.iter(|| blur_separable_parallel_into(black_box(&image), &mut out).expect("same size"));
    });
    g.bench_function("separable_parallel", |b| {
        b.iter(|| blur_separable_parallel(black_box(&image)));
    });
    g.bench_function("separable_into", |b| {
        b.iter(|| blur_separable_into(black_box(&image), &mut out).expect("same size"));
    });
    g.bench_function("naive_parallel", |b| {
        b.iter(|| blur_naive_parallel(black_box(&image)));
    });
    g.bench_function("naive", |b| {
        b.iter(|| blur_naive(black_box(&image)));
    });
    g.finish();
    black_box((&copy, &out));
}

criterion_group!(benches, blur);
criterion_main!(benches);
