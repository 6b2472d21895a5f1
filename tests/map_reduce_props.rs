//! Properties of the map-reduce word count (guide §2.2): on random texts —
//! unicode letters, case pairs with special lowercasing (`Σ`, `İ`), marks,
//! digits, punctuation, every kind of whitespace, empty — the parallel count
//! equals the serial reference for every worker count and piece count; the
//! pieces of a text concatenate back to it, never cut a character, and
//! tokenise to the same words; the generic engine reduces in input order.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use heddle::parallel::map_reduce::{
    MapReduce, MapReduceError, Splittable, split_into, word_count, word_count_serial,
};
use proptest::prelude::*;
use std::sync::OnceLock;

/// Engines for several (workers, pieces per worker), built once.
fn engines() -> &'static [MapReduce] {
    static ENGINES: OnceLock<Vec<MapReduce>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        [(1, 1), (1, 5), (2, 1), (2, 4), (3, 7), (4, 16)]
            .into_iter()
            .map(|(w, k)| {
                MapReduce::new(w)
                    .expect("build an engine")
                    .pieces_per_worker(k)
            })
            .collect()
    })
}

/// Characters that exercise the normalisation and the splitting.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        6 => prop::char::range('a', 'z'),
        2 => prop::char::range('A', 'Z'),
        3 => Just(' '),
        1 => prop::sample::select(vec!['\t', '\n', '\r', '\u{0B}', '\u{0C}', '\u{85}', '\u{A0}',
            '\u{1680}', '\u{2003}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{3000}']),
        1 => prop::sample::select(vec!['.', ',', '\'', '!', '-', '_', '"', '(', '0', '7', '\u{1F600}',
            '\u{200B}', '\u{1C}', '\u{0}']),
        2 => prop::sample::select(vec!['é', 'É', 'ß', 'ẞ', 'Σ', 'σ', 'ς', 'İ', 'ı', 'ǅ', 'ﬁ', 'Ω',
            '日', '本', 'ж', 'Ж', 'ا', '\u{301}', '\u{307}', 'ⅷ', 'Ⅷ']),
        1 => any::<char>(),
    ]
}

fn texts() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec(text_char(), 0..600).prop_map(String::from_iter),
        1 => any::<String>(),
        1 => Just(String::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn parallel_count_equals_serial(text in texts()) {
        let expected = word_count_serial(&text);
        for mr in engines() {
            let got = mr.word_count(&text);
            prop_assert_eq!(&got, &expected, "workers {} pieces {}", mr.workers(), mr.pieces());
        }
    }

    #[test]
    fn pieces_rebuild_the_text_and_its_tokens(text in texts(), n in 1usize..40) {
        let pieces = split_into(text.as_str(), n);
        prop_assert!(pieces.len() <= n);
        prop_assert_eq!(pieces.concat(), text.clone());
        // Every piece but the first starts at whitespace (or is empty): no
        // word is cut. (Slicing a `&str` already guarantees char boundaries.)
        for p in &pieces[1..] {
            prop_assert!(p.is_empty() || p.starts_with(char::is_whitespace), "{:?}", p);
        }
        let whole: Vec<&str> = text.split_whitespace().collect();
        let joined: Vec<&str> = pieces.iter().flat_map(|p| p.split_whitespace()).collect();
        prop_assert_eq!(joined, whole);
    }

    #[test]
    fn split_near_any_point_is_lossless(text in texts(), at in 0usize..700) {
        let (a, b) = text.as_str().split_near(at);
        prop_assert_eq!(format!("{a}{b}"), text.clone());
        prop_assert!(b.is_empty() || b.starts_with(char::is_whitespace));
        // The cut is at or after `at` (all of the text if no whitespace follows).
        prop_assert!(a.len() >= at.min(text.len()));
    }

    #[test]
    fn generic_run_reduces_in_order(data in prop::collection::vec(any::<u32>(), 0..500)) {
        for mr in engines() {
            // Concatenation: associative but not commutative.
            let back = mr.run(&data[..], <[u32]>::to_vec, |mut a, b| {
                a.extend(b);
                a
            });
            prop_assert_eq!(&back, &data);
            let sum = mr.run(&data[..], |p| p.iter().map(|&x| u64::from(x)).sum::<u64>(), |a, b| a + b);
            prop_assert_eq!(sum, data.iter().map(|&x| u64::from(x)).sum::<u64>());
        }
    }
}

/// A deterministic text of about `len` bytes, mostly ASCII words with
/// capitals and punctuation, some unicode.
fn corpus(len: usize) -> String {
    const WORDS: [&str; 16] = [
        "the",
        "Rust",
        "is",
        "fast,",
        "SAFE",
        "crates.io",
        "don't",
        "naïve",
        "Straße",
        "ΟΔΟΣ",
        "日本",
        "x86_64",
        "2016",
        "--",
        "élan",
        "well-known",
    ];
    const SEPS: [&str; 6] = [" ", " ", "\n", "\t", "\u{A0}", "  "];
    let mut s = String::with_capacity(len + 16);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.push_str(WORDS[(x % 16) as usize]);
        s.push_str(SEPS[((x >> 8) % 6) as usize]);
    }
    s
}

#[test]
fn thread_count_does_not_change_the_result() {
    let text = corpus(300_000);
    let expected = word_count_serial(&text);
    assert!(expected.len() > 10);
    for workers in 1..=8 {
        let got = word_count(&text, workers).expect("engine");
        assert_eq!(got, expected, "{workers} workers");
        for k in [1, 3, 64] {
            let mr = MapReduce::new(workers)
                .expect("engine")
                .pieces_per_worker(k);
            assert_eq!(
                mr.word_count(&text),
                expected,
                "{workers} workers, {k} per worker"
            );
        }
    }
}

#[test]
fn the_guide_example() {
    let texts = [
        "Rust is a systems programming language that runs blazingly fast, prevents segfaults, and guarantees thread safety.",
        "Rust is designed to be memory safe without using garbage collection.",
        "Rust's package manager, Cargo, makes adding dependencies straightforward and consistent.",
        "Rust has been voted the most loved programming language in the Stack Overflow Developer Survey every year since 2016.",
    ];
    let text = texts.repeat(100).join("\n");
    let counts = word_count(&text, 2).expect("engine");
    assert_eq!(counts, word_count_serial(&text));
    assert_eq!(counts["rust"], 300);
    assert_eq!(counts["rusts"], 100);
    assert_eq!(counts["programming"], 200);
    assert!(!counts.contains_key("")); // "2016." normalises to nothing
}

#[test]
fn zero_workers_is_an_error() {
    assert!(matches!(
        word_count("a b", 0),
        Err(MapReduceError::NoWorkers)
    ));
}

#[test]
fn text_without_whitespace_is_one_piece() {
    let text = "a".repeat(1000);
    let pieces = split_into(text.as_str(), 8);
    assert_eq!(pieces.concat(), text);
    assert_eq!(pieces.iter().filter(|p| !p.is_empty()).count(), 1);
    assert_eq!(word_count(&text, 4).expect("engine")[text.as_str()], 1);
}

/// The count property with the splitter as a parameter: the real one (at
/// whitespace) passes; one that cuts at the byte midpoint's nearest char
/// boundary, inside words, is caught.
#[test]
fn the_count_property_catches_a_splitter_that_cuts_words() {
    fn count_in_halves(
        text: &str,
        cut_inside_words: bool,
    ) -> std::collections::BTreeMap<String, u64> {
        let (a, b) = if cut_inside_words {
            let mut at = text.len() / 2;
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            text.split_at(at)
        } else {
            text.split_near(text.len() / 2)
        };
        let mut total = word_count_serial(a);
        for (w, n) in word_count_serial(b) {
            *total.entry(w).or_default() += n;
        }
        total
    }
    let run = |cut_inside_words: bool| {
        common::deterministic_runner(300).run(&texts(), |text| {
            prop_assert_eq!(
                count_in_halves(&text, cut_inside_words),
                word_count_serial(&text)
            );
            Ok(())
        })
    };
    assert!(run(false).is_ok(), "splitting at whitespace must pass");
    assert!(
        run(true).is_err(),
        "the property missed a splitter that cuts words"
    );
}
