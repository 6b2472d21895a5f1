//! Map-reduce over a splittable input, and the guide's word count on top of
//! it (guide §2.2).
//!
//! **What.** [`MapReduce`] owns a pool of `N` worker threads (rayon). Its
//! [`run`](MapReduce::run) cuts the input into `N ×`
//! [`pieces_per_worker`](MapReduce::pieces_per_worker) pieces at boundaries
//! the input chooses ([`Splittable`]: a slice anywhere, a `&str` only at
//! whitespace, so no word and no UTF-8 character is cut in two), maps every
//! piece to a partial result on the workers, and reduces the partial
//! results pairwise **in input order** (a balanced tree, also in parallel).
//! Nothing is shared while mapping: no lock, no global map.
//!
//! [`word_count`] / [`MapReduce::word_count`] are the guide's word count on
//! top of it, with the guide's exact normalisation ([`normalize_word`]):
//! split on Unicode whitespace, lowercase the token, keep only alphabetic
//! characters, skip what is left empty. Each piece counts into its own hash
//! map (an inline FxHash: fast, not DoS-resistant; words of up to 16 bytes
//! are keyed inline, so a lookup touches no string on the heap), the maps
//! are merged smaller-into-larger, and the result is a [`BTreeMap`], so it
//! is deterministic and sorted by word.
//!
//! **When.** A computation that is a fold over a big input whose parts can
//! be processed independently: counting, histograms, indexing, min/max. The
//! result does not depend on the number of workers as long as `map` is a
//! homomorphism over the cut (`reduce(map(a), map(b)) == map(a ++ b)`) and
//! `reduce` is associative; `reduce` need not be commutative.
//!
//! **Compared to.** The guide's parallel version first materialises every
//! `(String, 1)` pair of the whole text in one `Vec` (one allocation per word:
//! gigabytes for a 100 MB text), then folds the pairs again cloning every key,
//! and returns a `std` `HashMap` whose iteration order (and so the "top 10"
//! it prints, on ties) changes from run to run. rayon's
//! `par_split_whitespace().fold(..).reduce(..)` is the idiomatic one-liner;
//! it runs on the global pool (no worker count per call) and splits with
//! rayon's adaptive splitter. `benches/map_reduce.rs` measures ours with 1
//! and 2 workers beside it and beside the serial count, in MB/s.
//!
//! **Panics.** A panic in `map` or `reduce` propagates to the caller of
//! [`run`](MapReduce::run) once the running tasks finish (rayon's rule).
//!
//! Checked in `tests/map_reduce_props.rs`: on random texts (unicode,
//! punctuation, odd whitespace, empty) the parallel count equals
//! [`word_count_serial`], for every worker count and piece count; the pieces
//! of a text concatenate back to it and tokenise to the same words.
//!
//! # Example
//!
//! ```
//! # fn main() -> Result<(), heddle::parallel::map_reduce::MapReduceError> {
//! use heddle::parallel::map_reduce::{MapReduce, word_count};
//!
//! let counts = word_count("Rust is fast. RUST is safe!  rust's crates", 2)?;
//! assert_eq!(counts["rust"], 2);
//! assert_eq!(counts["rusts"], 1); // the apostrophe is dropped
//! assert_eq!(counts["is"], 2);
//!
//! // The generic engine: the sum of squares of a slice, on 2 workers.
//! let mr = MapReduce::new(2)?;
//! let data: Vec<u64> = (1..=1000).collect();
//! let sum = mr.run(&data[..], |piece| piece.iter().map(|x| x * x).sum::<u64>(), |a, b| a + b);
//! assert_eq!(sum, 333_833_500);
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// Default [`MapReduce::pieces_per_worker`].
pub const DEFAULT_PIECES_PER_WORKER: usize = 4;

/// Errors of the map-reduce engine.
#[derive(Debug, thiserror::Error)]
pub enum MapReduceError {
    /// Zero workers were asked for.
    #[error("a map-reduce needs at least one worker")]
    NoWorkers,
    /// The worker threads could not be started.
    #[error("could not start the worker pool: {0}")]
    Pool(#[from] rayon::ThreadPoolBuildError),
}

/// An input that can be cut in two for the workers.
///
/// Implementations must keep every unit whole (an element, a word, a
/// character) and lose nothing: the two pieces together are the input, in
/// order.
pub trait Splittable: Sized + Send {
    /// The size pieces are balanced by (elements, bytes, ...).
    fn size(&self) -> usize;

    /// Cuts the input in two at a unit boundary near `at` (`at <=
    /// size()`); the first piece should have about `at` of the size. Either
    /// piece may come out empty if there is no boundary to cut at.
    fn split_near(self, at: usize) -> (Self, Self);
}

/// A slice splits between any two elements.
impl<T: Sync> Splittable for &[T] {
    fn size(&self) -> usize {
        self.len()
    }

    fn split_near(self, at: usize) -> (Self, Self) {
        self.split_at(at.min(self.len()))
    }
}

/// A string splits only just before a whitespace character (as
/// `char::is_whitespace`), at or after `at`: the tokens of the two pieces
/// (`split_whitespace`) are exactly the tokens of the whole, and no
/// character is cut. Text with no whitespace after `at` is not split.
impl Splittable for &str {
    fn size(&self) -> usize {
        self.len()
    }

    fn split_near(self, at: usize) -> (Self, Self) {
        let mut i = at.min(self.len());
        while !self.is_char_boundary(i) {
            i += 1;
        }
        match self[i..].find(char::is_whitespace) {
            Some(k) => self.split_at(i + k),
            None => (self, ""),
        }
    }
}

/// A map-reduce engine with its own pool of worker threads.
///
/// ```
/// # fn main() -> Result<(), heddle::parallel::map_reduce::MapReduceError> {
/// use heddle::parallel::map_reduce::MapReduce;
///
/// let mr = MapReduce::new(3)?.pieces_per_worker(2);
/// assert_eq!(mr.workers(), 3);
/// // The longest line, reduced in input order (ties keep the first).
/// let text = "a bb\nccc d\neeee ff";
/// let longest = mr.run(
///     text,
///     |piece| piece.split_whitespace().max_by_key(|w| w.len()).unwrap_or(""),
///     |a, b| if b.len() > a.len() { b } else { a },
/// );
/// assert_eq!(longest, "eeee");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MapReduce {
    pool: rayon::ThreadPool,
    workers: usize,
    pieces_per_worker: usize,
}

impl MapReduce {
    /// An engine with `workers` threads (at least 1).
    pub fn new(workers: usize) -> Result<Self, MapReduceError> {
        if workers == 0 {
            return Err(MapReduceError::NoWorkers);
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(workers)
            .thread_name(|i| format!("heddle-map-reduce-{i}"))
            .build()?;
        Ok(Self {
            pool,
            workers,
            pieces_per_worker: DEFAULT_PIECES_PER_WORKER,
        })
    }

    /// Cut the input into `k` pieces per worker (at least 1). More pieces
    /// balance uneven pieces and a loaded machine; each piece costs one
    /// partial result and one reduction.
    pub fn pieces_per_worker(mut self, k: usize) -> Self {
        self.pieces_per_worker = k.max(1);
        self
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// The number of pieces [`run`](Self::run) cuts an input into (fewer if
    /// the input is too small).
    pub fn pieces(&self) -> usize {
        self.workers.saturating_mul(self.pieces_per_worker)
    }

    /// Cuts `input` into [`pieces`](Self::pieces) pieces, maps each on the
    /// workers, and reduces the partial results pairwise in input order.
    ///
    /// With one piece (or an input of size < 2) this is just `map(input)`.
    pub fn run<S, A, M, R>(&self, input: S, map: M, reduce: R) -> A
    where
        S: Splittable,
        A: Send,
        M: Fn(S) -> A + Sync,
        R: Fn(A, A) -> A + Sync,
    {
        let pieces = self.pieces();
        tracing::trace!(
            size = input.size(),
            pieces,
            workers = self.workers,
            "map-reduce"
        );
        self.pool
            .install(|| split_map_reduce(input, pieces, &map, &reduce))
    }

    /// The guide's word count, in parallel: equal to
    /// [`word_count_serial`]`(text)`.
    pub fn word_count(&self, text: &str) -> BTreeMap<String, u64> {
        self.run(text, count_words, Counts::merge).into_sorted()
    }
}

/// Map one piece, or split it and recurse on both halves in parallel.
fn split_map_reduce<S, A, M, R>(input: S, pieces: usize, map: &M, reduce: &R) -> A
where
    S: Splittable,
    A: Send,
    M: Fn(S) -> A + Sync,
    R: Fn(A, A) -> A + Sync,
{
    if pieces <= 1 || input.size() < 2 {
        return map(input);
    }
    let left = pieces / 2;
    let at = share(input.size(), left, pieces);
    let (l, r) = input.split_near(at);
    let (a, b) = rayon::join(
        || split_map_reduce(l, left, map, reduce),
        || split_map_reduce(r, pieces - left, map, reduce),
    );
    reduce(a, b)
}

/// `size * part / whole` without overflow.
fn share(size: usize, part: usize, whole: usize) -> usize {
    (size as u128 * part as u128 / whole.max(1) as u128) as usize
}

/// The pieces [`MapReduce::run`] would map for `pieces` pieces, in order:
/// the same cuts, made on the calling thread.
pub fn split_into<S: Splittable>(input: S, pieces: usize) -> Vec<S> {
    fn go<S: Splittable>(input: S, pieces: usize, out: &mut Vec<S>) {
        if pieces <= 1 || input.size() < 2 {
            out.push(input);
            return;
        }
        let left = pieces / 2;
        let at = share(input.size(), left, pieces);
        let (l, r) = input.split_near(at);
        go(l, left, out);
        go(r, pieces - left, out);
    }
    let mut out = Vec::with_capacity(pieces.max(1));
    go(input, pieces, &mut out);
    out
}

/// Counts the words of `text` on `workers` threads (a new [`MapReduce`]
/// each call; keep one around to reuse its threads).
pub fn word_count(text: &str, workers: usize) -> Result<BTreeMap<String, u64>, MapReduceError> {
    Ok(MapReduce::new(workers)?.word_count(text))
}

/// The guide's normalisation of one whitespace-separated token: lowercase
/// it (`str::to_lowercase`, so a final `Σ` becomes `ς`), then keep only the
/// alphabetic characters (`char::is_alphabetic`). Empty means "not a word".
pub fn normalize_word(token: &str) -> String {
    token
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphabetic())
        .collect()
}

/// The serial reference: the guide's word count, written the obvious way.
/// [`word_count`] must equal it on every text.
pub fn word_count_serial(text: &str) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for token in text.split_whitespace() {
        let word = normalize_word(token);
        if !word.is_empty() {
            *counts.entry(word).or_insert(0) += 1;
        }
    }
    counts
}

/// Words of at most this many bytes are counted under an inline key.
const SHORT: usize = 16;

/// A word of at most [`SHORT`] bytes, zero-padded (a normalised word has
/// only alphabetic characters, whose UTF-8 never contains a zero byte, so
/// the padding is unambiguous). Hashing and comparing it touch no heap
/// memory: that is most of the speed of the word count.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ShortWord([u64; 2]);

impl ShortWord {
    fn new(word: &[u8]) -> Self {
        let mut bytes = [0u8; SHORT];
        bytes[..word.len()].copy_from_slice(word);
        let mut lo = [0u8; 8];
        let mut hi = [0u8; 8];
        lo.copy_from_slice(&bytes[..8]);
        hi.copy_from_slice(&bytes[8..]);
        Self([u64::from_le_bytes(lo), u64::from_le_bytes(hi)])
    }

    fn into_string(self) -> String {
        let mut bytes = [0u8; SHORT];
        bytes[..8].copy_from_slice(&self.0[0].to_le_bytes());
        bytes[8..].copy_from_slice(&self.0[1].to_le_bytes());
        let len = bytes.iter().position(|&b| b == 0).unwrap_or(SHORT);
        // The bytes are a whole normalised word, so valid UTF-8: the lossy
        // conversion is exact (and cannot fail).
        String::from_utf8_lossy(&bytes[..len]).into_owned()
    }
}

type FxBuild = BuildHasherDefault<FxHasher>;

/// One piece's counts: short words inline, long ones as `String`s.
#[derive(Default)]
struct Counts {
    short: HashMap<ShortWord, u64, FxBuild>,
    long: HashMap<String, u64, FxBuild>,
}

impl Counts {
    /// Adds one to a normalised `word` (ignored if empty).
    fn bump(&mut self, word: &str) {
        if word.is_empty() {
            return;
        }
        if word.len() <= SHORT {
            *self
                .short
                .entry(ShortWord::new(word.as_bytes()))
                .or_insert(0) += 1;
        } else {
            match self.long.get_mut(word) {
                Some(n) => *n += 1,
                None => {
                    self.long.insert(word.to_owned(), 1);
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// The word count's reduce: merge the smaller into the larger.
    fn merge(a: Counts, b: Counts) -> Counts {
        let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
        for (word, n) in small.short {
            *big.short.entry(word).or_insert(0) += n;
        }
        for (word, n) in small.long {
            *big.long.entry(word).or_insert(0) += n;
        }
        big
    }

    fn into_sorted(self) -> BTreeMap<String, u64> {
        let mut out: BTreeMap<String, u64> = self.long.into_iter().collect();
        out.extend(self.short.into_iter().map(|(w, n)| (w.into_string(), n)));
        out
    }
}

/// The word count's map: count the words of one piece.
///
/// Equal to counting `normalize_word` over `split_whitespace`, faster: the
/// text is cut at ASCII whitespace bytes (always char boundaries), a token
/// that is ASCII is normalised byte by byte into a reused buffer (or used
/// as is if already lowercase letters), and only the rare non-ASCII token
/// takes the general path (split on Unicode whitespace, `to_lowercase`).
fn count_words(text: &str) -> Counts {
    let mut counts = Counts::default();
    let mut buf = String::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && is_ascii_whitespace(bytes[i]) {
            i += 1;
        }
        let start = i;
        let mut ascii = true;
        while i < bytes.len() && !is_ascii_whitespace(bytes[i]) {
            ascii &= bytes[i].is_ascii();
            i += 1;
        }
        if start == i {
            break;
        }
        // `start` and `i` are at ASCII bytes or the ends: char boundaries.
        let token = &text[start..i];
        if ascii {
            count_ascii(token, &mut buf, &mut counts);
        } else {
            for t in token.split_whitespace() {
                if t.is_ascii() {
                    count_ascii(t, &mut buf, &mut counts);
                } else {
                    buf.clear();
                    buf.extend(t.to_lowercase().chars().filter(|c| c.is_alphabetic()));
                    counts.bump(&buf);
                }
            }
        }
    }
    counts
}

/// The whitespace characters of `char::is_whitespace` that are ASCII:
/// `\t \n \x0B \x0C \r` and space (note `u8::is_ascii_whitespace` lacks
/// `\x0B`).
fn is_ascii_whitespace(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// Counts one ASCII token: lowercase letters kept, everything else dropped.
fn count_ascii(token: &str, buf: &mut String, counts: &mut Counts) {
    if token.bytes().all(|b| b.is_ascii_lowercase()) {
        counts.bump(token);
        return;
    }
    buf.clear();
    buf.extend(
        token
            .bytes()
            .filter(u8::is_ascii_alphabetic)
            .map(|b| char::from(b.to_ascii_lowercase())),
    );
    counts.bump(buf);
}

/// FxHash (the rustc hasher): one rotate, xor and multiply per 8 bytes.
/// Fast for short keys; not resistant to crafted collisions.
#[derive(Clone, Copy, Debug, Default)]
struct FxHasher {
    hash: u64,
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(FX_SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // The multiply leaves the high bits best mixed; hashbrown takes the
        // bucket from the low bits, so bring the middle ones down.
        self.hash.rotate_left(26)
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn zero_workers_is_an_error() {
        assert!(matches!(MapReduce::new(0), Err(MapReduceError::NoWorkers)));
    }

    #[test]
    fn guide_normalisation() {
        assert_eq!(normalize_word("Rust's"), "rusts");
        assert_eq!(normalize_word("C++,"), "c");
        assert_eq!(normalize_word("2016."), "");
        assert_eq!(normalize_word("ΟΔΟΣ,"), "οδος"); // final sigma
        assert_eq!(normalize_word("Straße"), "straße");
        assert_eq!(normalize_word("İ"), "i"); // i + combining dot (dropped)
    }

    #[test]
    fn str_splits_only_before_whitespace() {
        let s = "héllo wörld\u{3000}日本語 x";
        for at in 0..=s.len() {
            let (a, b) = s.split_near(at);
            assert_eq!(format!("{a}{b}"), s);
            assert!(
                b.is_empty() || b.starts_with(char::is_whitespace),
                "{at}: {b:?}"
            );
        }
    }

    #[test]
    fn vertical_tab_is_whitespace() {
        let text = "a\u{0B}b\u{0C}c\u{85}d\u{A0}e";
        let fast = count_words(text).into_sorted();
        assert_eq!(fast, word_count_serial(text));
        assert_eq!(fast.len(), 5);
    }

    #[test]
    fn short_and_long_words() {
        let text = "abcdefghijklmnop ABCDEFGHIJKLMNOPQ abcdefghijklmnopq éééééééé ééééééééé \
                    abcdefghijklmnop! abcdefghijklmnopq a b a";
        let fast = count_words(text).into_sorted();
        assert_eq!(fast, word_count_serial(text));
        assert_eq!(fast["abcdefghijklmnop"], 2); // 16 bytes: inline
        assert_eq!(fast["abcdefghijklmnopq"], 3); // 17 bytes: a String
        assert_eq!(fast["éééééééé"], 1); // 16 bytes of UTF-8
        assert_eq!(fast["ééééééééé"], 1); // 18 bytes
        assert_eq!(fast["a"], 2);
    }

    #[test]
    fn slices_and_order() {
        let mr = MapReduce::new(2).expect("pool").pieces_per_worker(3);
        let data: Vec<u32> = (0..100).collect();
        // Concatenation is associative, not commutative: order is kept.
        let back = mr.run(&data[..], <[u32]>::to_vec, |mut a, b| {
            a.extend(b);
            a
        });
        assert_eq!(back, data);
        assert_eq!(split_into(&data[..], 6).len(), 6);
    }
}
