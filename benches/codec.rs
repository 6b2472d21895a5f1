//! heddle's binary encoding (`heddle::wire::binary`, serde + postcard)
//! against serde_json and bincode 2 (serde API, `config::standard()`), for
//! the same messages, in the same run (issue #4).
//!
//! Messages:
//!
//! - `call_small`: `Envelope::Call` for `add` with an idempotency key and
//!   16 bytes of arguments, the common RPC request;
//! - `reply_1k`: `Envelope::Reply` carrying a 1 KiB result (seeded random
//!   bytes);
//! - `guide_vec_i32`: the guide's §5 serialization comparison,
//!   `(1..100).collect::<Vec<i32>>()`.
//!
//! Groups: `encode/<message>` and `decode/<message>`, three contestants in
//! each (`heddle`, `serde_json`, `bincode`). Encoding into a fresh vector
//! (`to_vec`, `serde_json::to_vec`, `bincode::serde::encode_to_vec`) is the
//! main comparison; the `*_reuse` contestants append into one cleared
//! buffer (`binary::encode`, `serde_json::to_writer`,
//! `bincode::serde::encode_into_std_write`), and `heddle_encode_fresh` is
//! `binary::encode` into a new vector. Decoding always produces an owned
//! value. The encoded sizes are printed once to stderr.
//!
//! ```text
//! cargo bench --bench codec
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{
    BenchmarkGroup, Criterion, criterion_group, criterion_main, measurement::WallTime,
};
use heddle::wire::binary::{self, Call, Envelope, Reply};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use serde::Serialize;
use serde::de::DeserializeOwned;

fn bincode_config() -> bincode::config::Configuration {
    bincode::config::standard()
}

fn call_small() -> Envelope {
    Envelope::Call(Call {
        id: 1_234,
        method: "add".into(),
        idempotency_key: Some(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210),
        args: (0u8..16).collect(),
        trace: None,
    })
}

fn reply_1k() -> Envelope {
    let mut result = vec![0u8; 1024];
    SmallRng::seed_from_u64(4).fill_bytes(&mut result);
    Envelope::Reply(Reply {
        id: 1_234,
        outcome: Ok(result),
    })
}

/// The guide's §5 "JSON vs bincode" data.
fn guide_vec_i32() -> Vec<i32> {
    (1..100).collect()
}

fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    // 30 functions in all: keep the whole bench around a minute.
    g.sample_size(50)
        .warm_up_time(Duration::from_millis(400))
        .measurement_time(Duration::from_millis(1200));
    g
}

/// Checks that every codec round-trips `msg` and prints the encoded sizes.
fn sizes<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(name: &str, msg: &T) {
    let h = binary::to_vec(msg).expect("heddle encodes");
    let j = serde_json::to_vec(msg).expect("serde_json encodes");
    let b = bincode::serde::encode_to_vec(msg, bincode_config()).expect("bincode encodes");
    assert_eq!(&binary::decode::<T>(&h).expect("heddle decodes"), msg);
    assert_eq!(&serde_json::from_slice::<T>(&j).expect("json decodes"), msg);
    let (back, used): (T, usize) =
        bincode::serde::decode_from_slice(&b, bincode_config()).expect("bincode decodes");
    assert_eq!((&back, used), (msg, b.len()));
    eprintln!(
        "codec sizes: {name:<14} heddle {:>5} B   serde_json {:>5} B   bincode {:>5} B",
        h.len(),
        j.len(),
        b.len()
    );
}

fn encode_one<T: Serialize>(c: &mut Criterion, name: &str, msg: &T) {
    let mut g = group(c, &format!("encode/{name}"));
    g.bench_function("heddle", |b| {
        b.iter(|| binary::to_vec(black_box(msg)).expect("encodes"))
    });
    g.bench_function("serde_json", |b| {
        b.iter(|| serde_json::to_vec(black_box(msg)).expect("encodes"))
    });
    g.bench_function("bincode", |b| {
        b.iter(|| bincode::serde::encode_to_vec(black_box(msg), bincode_config()).expect("encodes"))
    });
    // `encode` into a fresh vector: separates allocation from postcard's
    // output flavour (`to_vec` is postcard's `to_stdvec`).
    g.bench_function("heddle_encode_fresh", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            binary::encode(black_box(msg), &mut out).expect("encodes");
            out
        })
    });
    let mut buf = Vec::with_capacity(16 * 1024);
    g.bench_function("heddle_reuse", |b| {
        b.iter(|| {
            buf.clear();
            binary::encode(black_box(msg), &mut buf).expect("encodes");
            black_box(buf.len())
        })
    });
    g.bench_function("serde_json_reuse", |b| {
        b.iter(|| {
            buf.clear();
            serde_json::to_writer(&mut buf, black_box(msg)).expect("encodes");
            black_box(buf.len())
        })
    });
    g.bench_function("bincode_reuse", |b| {
        b.iter(|| {
            buf.clear();
            bincode::serde::encode_into_std_write(black_box(msg), &mut buf, bincode_config())
                .expect("encodes");
            black_box(buf.len())
        })
    });
    g.finish();
}

fn decode_one<T: Serialize + DeserializeOwned>(c: &mut Criterion, name: &str, msg: &T) {
    let h = binary::to_vec(msg).expect("heddle encodes");
    let j = serde_json::to_vec(msg).expect("serde_json encodes");
    let bc = bincode::serde::encode_to_vec(msg, bincode_config()).expect("bincode encodes");
    let mut g = group(c, &format!("decode/{name}"));
    g.bench_function("heddle", |b| {
        b.iter(|| binary::decode::<T>(black_box(&h)).expect("decodes"))
    });
    g.bench_function("serde_json", |b| {
        b.iter(|| serde_json::from_slice::<T>(black_box(&j)).expect("decodes"))
    });
    g.bench_function("bincode", |b| {
        b.iter(|| {
            bincode::serde::decode_from_slice::<T, _>(black_box(&bc), bincode_config())
                .expect("decodes")
        })
    });
    g.finish();
}

fn codec(c: &mut Criterion) {
    let (call, reply, guide) = (call_small(), reply_1k(), guide_vec_i32());
    sizes("call_small", &call);
    sizes("reply_1k", &reply);
    sizes("guide_vec_i32", &guide);
    encode_one(c, "call_small", &call);
    encode_one(c, "reply_1k", &reply);
    encode_one(c, "guide_vec_i32", &guide);
    decode_one(c, "call_small", &call);
    decode_one(c, "reply_1k", &reply);
    decode_one(c, "guide_vec_i32", &guide);
}

criterion_group!(benches, codec);
criterion_main!(benches);
