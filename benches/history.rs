//! The linearizability checker on the shared Jepsen histories
//! (`tests/data/linearizability/`), parse excluded, as Porcupine's own
//! Go benchmarks (`BenchmarkEtcdJepsen*`, `BenchmarkKv*`) measure it:
//!
//! - `etcd/<file>`: each etcd register history;
//! - `etcd_total`: all of them, one after the other;
//! - `kv_partitioned/<file>` and `kv_unpartitioned/<file>`: the key-value
//!   histories, split by key or checked whole.
//!
//! Every iteration asserts the known verdict (never "unknown").
//! Run one group: `cargo bench --bench history -- etcd_total`.

use criterion::{Criterion, criterion_group, criterion_main};
use heddle::check::history::models::{Kv, KvOp, KvRet, Register, RegisterOp, RegisterRet};
use heddle::check::history::{Checker, History, Verdict, parse};
use std::hint::black_box;
use std::time::Duration;

#[path = "../tests/common/linearizability.rs"]
#[allow(dead_code)]
mod data;

type Reg = History<RegisterOp<i64>, RegisterRet<i64>>;

fn expected(linearizable: bool) -> Verdict {
    if linearizable {
        Verdict::Linearizable
    } else {
        Verdict::NotLinearizable
    }
}

fn etcd_histories() -> Vec<(String, Reg, Verdict)> {
    data::etcd()
        .into_iter()
        .map(|c| {
            let h = parse::etcd(&c.name, &data::read(&c)).expect("parse");
            (
                c.name.trim_end_matches(".log").to_string(),
                h,
                expected(c.linearizable),
            )
        })
        .collect()
}

fn bench_etcd(c: &mut Criterion) {
    let model = Register::<i64>::new();
    let checker = Checker::new();
    let all = etcd_histories();
    let mut g = c.benchmark_group("etcd");
    for (name, h, v) in &all {
        g.bench_function(name.as_str(), |b| {
            b.iter(|| assert_eq!(checker.check(&model, black_box(h)).verdict, *v))
        });
    }
    g.finish();
    c.bench_function("etcd_total", |b| {
        b.iter(|| {
            for (_, h, v) in &all {
                assert_eq!(checker.check(&model, black_box(h)).verdict, *v);
            }
        })
    });
}

fn bench_kv(c: &mut Criterion) {
    let all: Vec<(String, History<KvOp, KvRet>, Verdict)> = data::kv()
        .into_iter()
        .map(|c| {
            let h = parse::edn_kv(&c.name, &data::read(&c)).expect("parse");
            (c.name.clone(), h, expected(c.linearizable))
        })
        .collect();
    for (group, partitioned) in [("kv_partitioned", true), ("kv_unpartitioned", false)] {
        let checker = Checker::new().partitioned(partitioned);
        let mut g = c.benchmark_group(group);
        g.sample_size(10).measurement_time(Duration::from_secs(3));
        for (name, h, v) in &all {
            g.bench_function(name.as_str(), |b| {
                b.iter(|| assert_eq!(checker.check(&Kv, black_box(h)).verdict, *v))
            });
        }
        g.finish();
    }
}

criterion_group!(benches, bench_etcd, bench_kv);
criterion_main!(benches);
