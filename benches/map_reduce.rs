//! Word count (guide §2.2) over a generated 100 MiB corpus with Zipf-
//! distributed words: heddle's map-reduce with 1 and 2 workers, beside the
//! idiomatic rayon version (`par_split_whitespace().fold(..).reduce(..)`
//! with std `HashMap`, the guide's normalisation) and the serial reference
//! (`word_count_serial`), all in one group, reported in MB/s.
//!
//! Goal (on the 2-core CI machine): heddle with 2 workers ≥ 1.7× heddle with
//! 1 worker (ratio of times).
//!
//! The corpus is generated at startup from a fixed seed (not committed):
//! 50 000 distinct words of 1–12 letters (1 % with a non-ASCII letter),
//! drawn with Zipf exponent 1.0; one token in 8 is capitalised, one in 12
//! carries punctuation, one in 16 ends a line.
//!
//! ```text
//! cargo bench --bench map_reduce
//! ```

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use heddle::parallel::map_reduce::{MapReduce, normalize_word, word_count_serial};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::time::{Duration, Instant};

const CORPUS_BYTES: usize = 100 << 20;
const VOCABULARY: usize = 50_000;
const ZIPF_S: f64 = 1.0;
const SEED: u64 = 0x5eed_c0de;
/// The Zipf sampler is a quantised inverse CDF: `2^TABLE_BITS` slots.
const TABLE_BITS: u32 = 20;

/// Builds the corpus; deterministic for a given seed.
fn corpus() -> String {
    let mut rng = SmallRng::seed_from_u64(SEED);
    const ACCENTED: [char; 6] = ['é', 'ü', 'ß', 'ø', 'ñ', 'å'];
    // The vocabulary: (lowercase, capitalised).
    let vocab: Vec<(String, String)> = (0..VOCABULARY)
        .map(|_| {
            let len = 1 + (rng.random::<u32>() % 12) as usize;
            let mut w: String = (0..len)
                .map(|_| char::from(b'a' + (rng.random::<u32>() % 26) as u8))
                .collect();
            if rng.random::<u32>() % 100 == 0 {
                w.push(ACCENTED[(rng.random::<u32>() % 6) as usize]);
            }
            let mut cap = w.clone();
            cap[..1].make_ascii_uppercase();
            (w, cap)
        })
        .collect();
    // Zipf: rank k has weight 1/k^s; slot j holds the rank whose CDF
    // interval contains (j + 0.5) / 2^TABLE_BITS.
    let weights: Vec<f64> = (1..=VOCABULARY)
        .map(|k| 1.0 / (k as f64).powf(ZIPF_S))
        .collect();
    let total: f64 = weights.iter().sum();
    let slots = 1usize << TABLE_BITS;
    let mut table = Vec::with_capacity(slots);
    let (mut rank, mut cdf) = (0usize, weights[0] / total);
    for j in 0..slots {
        let u = (j as f64 + 0.5) / slots as f64;
        while cdf < u && rank + 1 < VOCABULARY {
            rank += 1;
            cdf += weights[rank] / total;
        }
        table.push(rank as u32);
    }

    const PUNCT: [&str; 6] = [",", ".", ";", "!", "'s", ")"];
    let mut text = String::with_capacity(CORPUS_BYTES + 64);
    while text.len() < CORPUS_BYTES {
        let r: u64 = rng.random();
        let (word, cap) = &vocab[table[(r >> (64 - TABLE_BITS)) as usize] as usize];
        text.push_str(if r & 7 == 0 { cap } else { word });
        if (r >> 3) % 12 == 0 {
            text.push_str(PUNCT[((r >> 8) % 6) as usize]);
        }
        text.push(if (r >> 12) & 15 == 0 { '\n' } else { ' ' });
    }
    text
}

/// What a rayon user writes, following the guide: the guide's
/// normalisation, std `HashMap`, one `String` per token.
fn rayon_word_count(text: &str) -> BTreeMap<String, u64> {
    text.par_split_whitespace()
        .fold(HashMap::new, |mut counts: HashMap<String, u64>, token| {
            let word = normalize_word(token);
            if !word.is_empty() {
                *counts.entry(word).or_insert(0) += 1;
            }
            counts
        })
        .reduce(HashMap::new, |mut a, b| {
            for (word, n) in b {
                *a.entry(word).or_insert(0) += n;
            }
            a
        })
        .into_iter()
        .collect()
}

fn word_count(c: &mut Criterion) {
    let start = Instant::now();
    let text = corpus();
    eprintln!(
        "corpus: {} bytes generated in {:?}",
        text.len(),
        start.elapsed()
    );
    let one = MapReduce::new(1).expect("1-worker engine");
    let two = MapReduce::new(2).expect("2-worker engine");

    // Sanity (outside the timings): everyone agrees on an 8 MiB prefix.
    let cut = text[8 << 20..]
        .find(' ')
        .map_or(text.len(), |i| i + (8 << 20));
    let prefix = &text[..cut];
    let expected = word_count_serial(prefix);
    assert!(one.word_count(prefix) == expected, "1 worker disagrees");
    assert!(two.word_count(prefix) == expected, "2 workers disagree");
    assert!(rayon_word_count(prefix) == expected, "rayon disagrees");
    eprintln!(
        "prefix: {} distinct words, top: {:?}",
        expected.len(),
        expected.iter().max_by_key(|(_, n)| **n)
    );

    let mut group = c.benchmark_group("word_count_100mib");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(8))
        .throughput(Throughput::Bytes(text.len() as u64));
    group.bench_function("heddle_1_worker", |b| {
        b.iter(|| one.word_count(black_box(&text)))
    });
    group.bench_function("heddle_2_workers", |b| {
        b.iter(|| two.word_count(black_box(&text)))
    });
    group.bench_function("rayon_par_split_whitespace", |b| {
        b.iter(|| rayon_word_count(black_box(&text)))
    });
    group.bench_function("serial_reference", |b| {
        b.iter(|| word_count_serial(black_box(&text)))
    });
    group.finish();
}

criterion_group!(benches, word_count);
criterion_main!(benches);
