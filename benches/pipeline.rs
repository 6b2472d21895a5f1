//! The guide's four-stage pipeline (§2.5: generate → transform → validate →
//! process) with heddle's [`Pipeline`] beside the same pipeline hand-written
//! on raw crossbeam channels, in the same criterion group.
//!
//! Both run the same stages with the same per-item work, the same worker
//! counts (transform 2, validate 1, process 1, plus a source thread and the
//! caller as the sink) and the same bounded channels (capacity `CAP`, four
//! of them: source → transform → validate → process → sink):
//! - `serial`: the guide's serial loop, every stage on one thread;
//! - `raw_crossbeam`: threads and `crossbeam_channel::bounded` wired by
//!   hand, as the guide does (items come out in any order; errors are
//!   `Result` values that `process` forwards);
//! - `heddle_unordered`: the same semantics (any order);
//! - `heddle_ordered`: plus sequence numbers, the reorder buffer and the
//!   credit window (source order).
//!
//! Per-item work, chosen so channel overhead is not everything:
//! transform formats `Item-{id}` and runs `TRANSFORM_ROUNDS` xorshift
//! rounds, validate runs `VALIDATE_ROUNDS` rounds and fails every tenth
//! item, process formats the result line and runs `PROCESS_ROUNDS` rounds.
//! One xorshift round is a dependent chain of 6 shift/xor operations, about
//! 2 ns: roughly 300 + 150 + 300 ns of work per item plus two small
//! allocations (`serial` shows the total). Goal: heddle ≥ 0.9× raw
//! crossbeam throughput.
//!
//! ```text
//! cargo bench --bench pipeline
//! ```

use std::hint::black_box;
use std::thread;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_channel::bounded;
use heddle::parallel::pipeline::Pipeline;

/// Items per iteration.
const N: usize = 20_000;
/// Capacity of every channel, in both implementations.
const CAP: usize = 16;
const TRANSFORM_WORKERS: usize = 2;
const TRANSFORM_ROUNDS: u32 = 150;
const VALIDATE_ROUNDS: u32 = 75;
const PROCESS_ROUNDS: u32 = 150;

struct DataItem {
    id: usize,
    value: String,
    digest: u64,
}

/// CPU work that cannot be folded away: `rounds` xorshift64 steps.
fn spin(rounds: u32, seed: u64) -> u64 {
    let mut x = seed | 1;
    for _ in 0..black_box(rounds) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    x
}

fn transform(id: usize) -> DataItem {
    DataItem {
        id,
        value: format!("Item-{id}"),
        digest: spin(TRANSFORM_ROUNDS, id as u64),
    }
}

fn validate(mut item: DataItem) -> Result<DataItem, String> {
    item.digest = spin(VALIDATE_ROUNDS, item.digest);
    if item.id % 10 == 0 {
        Err(format!("validation failed: {}", item.id))
    } else {
        Ok(item)
    }
}

fn process(item: DataItem) -> String {
    let digest = spin(PROCESS_ROUNDS, item.digest);
    format!("processed: {} - {} ({digest:x})", item.id, item.value)
}

/// What the sink does with each result, identically everywhere.
fn consume(ok: &mut usize, bytes: &mut usize, r: Result<String, impl Sized>) {
    if let Ok(line) = r {
        *ok += 1;
        *bytes += line.len();
    }
}

fn serial() -> usize {
    let (mut ok, mut bytes) = (0, 0);
    for id in 0..N {
        let r = validate(transform(id)).map(process);
        consume(&mut ok, &mut bytes, r);
    }
    assert_eq!(ok, N - N / 10);
    bytes
}

fn raw_crossbeam() -> usize {
    let (tx1, rx1) = bounded::<usize>(CAP);
    let (tx2, rx2) = bounded::<DataItem>(CAP);
    let (tx3, rx3) = bounded::<Result<DataItem, String>>(CAP);
    let (tx4, rx4) = bounded::<Result<String, String>>(CAP);
    let mut handles = vec![thread::spawn(move || {
        for id in 0..N {
            if tx1.send(id).is_err() {
                break;
            }
        }
    })];
    for _ in 0..TRANSFORM_WORKERS {
        let (rx1, tx2) = (rx1.clone(), tx2.clone());
        handles.push(thread::spawn(move || {
            for id in rx1 {
                if tx2.send(transform(id)).is_err() {
                    break;
                }
            }
        }));
    }
    drop((rx1, tx2));
    handles.push(thread::spawn(move || {
        for item in rx2 {
            if tx3.send(validate(item)).is_err() {
                break;
            }
        }
    }));
    handles.push(thread::spawn(move || {
        for r in rx3 {
            if tx4.send(r.map(process)).is_err() {
                break;
            }
        }
    }));
    let (mut ok, mut bytes) = (0, 0);
    for r in rx4 {
        consume(&mut ok, &mut bytes, r);
    }
    for h in handles {
        h.join().expect("stage thread panicked");
    }
    assert_eq!(ok, N - N / 10);
    bytes
}

fn heddle(ordered: bool) -> usize {
    let p = Pipeline::source(0..N)
        .capacity(CAP)
        .map("transform", TRANSFORM_WORKERS, transform)
        .stage("validate", 1, validate)
        .map("process", 1, process);
    let p = if ordered { p.ordered() } else { p.unordered() };
    let mut out = p.run().expect("valid pipeline");
    let (mut ok, mut bytes) = (0, 0);
    for r in out.by_ref() {
        consume(&mut ok, &mut bytes, r);
    }
    out.join().expect("no thread died");
    assert_eq!(ok, N - N / 10);
    bytes
}

fn pipeline(c: &mut Criterion) {
    let mut g = c.benchmark_group("pipeline_guide");
    g.throughput(Throughput::Elements(N as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    g.bench_function("serial", |b| b.iter(|| black_box(serial())));
    g.bench_function("raw_crossbeam", |b| b.iter(|| black_box(raw_crossbeam())));
    g.bench_function("heddle_unordered", |b| b.iter(|| black_box(heddle(false))));
    g.bench_function("heddle_ordered", |b| b.iter(|| black_box(heddle(true))));
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
