//! Parallel quicksort: partition, then sort both sides with `rayon::join`
//! (guide §5, "divide and conquer compared").
//!
//! **What.** [`quicksort`] (and [`quicksort_by`], [`quicksort_by_key`], or a
//! tuned [`Quicksort`]) is an unstable, in-place, pattern-defeating
//! quicksort in safe Rust:
//!
//! - the pivot is the median of three (a pseudo-median of nine, Tukey's
//!   ninther, above 128 elements) taken at ¼, ½ and ¾ of the slice, so
//!   sorted and reversed inputs split evenly;
//! - the partition is a branchless Lomuto pass (one comparison and one swap
//!   per element, no data-dependent branch);
//! - duplicates: when the chosen pivot equals the pivot of an ancestor
//!   partition (the element just left of the subslice), all elements equal to
//!   it are set aside in one pass and never looked at again, so inputs with
//!   few distinct values take `O(n log k)`, not `O(n²)`;
//! - an unbalanced partition (a side shorter than ⅛) scrambles a few
//!   elements to break adversarial patterns, and after `log2(n)` of them the
//!   subslice falls back to heapsort: `O(n log n)` in the worst case;
//! - subslices of at most 20 elements are insertion-sorted; a slice that is
//!   already sorted (or descending) is detected in one pass up front;
//! - the two sides of a partition of more than
//!   [`Quicksort::sequential_cutoff`] elements are sorted in parallel with
//!   `rayon::join`; smaller ones recurse into the shorter side and loop on the
//!   longer, so the stack depth is `O(log n)`.
//!
//! **When.** Sorting a large slice in parallel when stability does not
//! matter and no scratch memory should be allocated. For a stable sort use
//! [`merge_sort`](super::merge_sort). The first partition of the whole
//! slice is sequential, which bounds the speedup (on `n` elements it is `n`
//! comparisons before the second core gets work).
//!
//! **Compared to.** The guide's versions spawn a thread per subslice above
//! 1 000 elements (unbounded threads; it also does not compile: the spawned
//! closure borrows a non-`'static` slice), or copy the left half into a
//! fresh `Vec` for a thread pool, and partition around an unspecified pivot
//! with no guard, so sorted or duplicate-heavy input is quadratic. rayon's
//! `par_sort_unstable` is the same design with an `unsafe` block partition
//! (faster per element); std's `sort_unstable` (ipnsort) is the sequential
//! state of the art. `benches/sorts.rs` measures them side by side.
//!
//! Checked in `tests/sort_props.rs`: equal to `slice::sort` on random,
//! duplicate-heavy, sorted, reversed, tiny and empty inputs; a panicking
//! comparator leaves a permutation; comparisons stay within a few `n log n`
//! on classic bad patterns and against McIlroy's adaptive "antiqsort"
//! adversary (about 2.6 `n log n` there; with the heapsort fallback disabled
//! the same adversary forces about `n²/10`).
//!
//! # Example
//!
//! ```
//! use heddle::parallel::quicksort::{quicksort, quicksort_by};
//!
//! let mut v: Vec<u32> = (0..100_000).map(|i| (i * 7919) % 1000).collect();
//! let mut expected = v.clone();
//! expected.sort();
//! quicksort(&mut v);
//! assert_eq!(v, expected);
//!
//! let mut words = vec!["pear", "fig", "apple"];
//! quicksort_by(&mut words, |a, b| b.len().cmp(&a.len()));
//! assert_eq!(words, ["apple", "pear", "fig"]);
//! ```

use std::cmp::Ordering;

/// Default [`Quicksort::sequential_cutoff`].
pub const DEFAULT_SEQUENTIAL_CUTOFF: usize = 1 << 13;

/// Subslices of at most this many elements are insertion-sorted.
const INSERTION_MAX: usize = 20;

/// Above this length the pivot is Tukey's ninther instead of a median of 3.
const NINTHER_MIN: usize = 128;

/// Sorts `v` (unstably) in parallel with the default [`Quicksort`] settings.
/// Equal to `v.sort_unstable()`.
pub fn quicksort<T: Ord + Send>(v: &mut [T]) {
    Quicksort::new().sort(v);
}

/// Sorts `v` (unstably) in parallel with a comparator, like
/// `slice::sort_unstable_by`. If `compare` is not a total order the result
/// is some permutation of `v`.
pub fn quicksort_by<T, F>(v: &mut [T], compare: F)
where
    T: Send,
    F: Fn(&T, &T) -> Ordering + Sync,
{
    Quicksort::new().sort_by(v, compare);
}

/// Sorts `v` (unstably) in parallel by a key, like
/// `slice::sort_unstable_by_key`. The key is recomputed at each comparison.
pub fn quicksort_by_key<T, K, F>(v: &mut [T], key: F)
where
    T: Send,
    K: Ord,
    F: Fn(&T) -> K + Sync,
{
    Quicksort::new().sort_by(v, |a, b| key(a).cmp(&key(b)));
}

/// A parallel pattern-defeating quicksort with its tuning knob.
///
/// ```
/// use heddle::parallel::quicksort::Quicksort;
///
/// let mut v: Vec<i64> = (0..50_000).map(|i| (i * 31) % 977 - 400).collect();
/// Quicksort::new().sequential_cutoff(1_000).sort(&mut v);
/// assert!(v.is_sorted());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quicksort {
    sequential_cutoff: usize,
}

impl Default for Quicksort {
    fn default() -> Self {
        Self::new()
    }
}

impl Quicksort {
    /// The default settings ([`DEFAULT_SEQUENTIAL_CUTOFF`]).
    pub const fn new() -> Self {
        Self {
            sequential_cutoff: DEFAULT_SEQUENTIAL_CUTOFF,
        }
    }

    /// Partitions of at most `n` elements sort both sides on the current
    /// thread; larger ones hand one side to `rayon::join`.
    pub const fn sequential_cutoff(mut self, n: usize) -> Self {
        self.sequential_cutoff = n;
        self
    }

    /// Sorts `v`; equal to `v.sort_unstable()`.
    pub fn sort<T: Ord + Send>(&self, v: &mut [T]) {
        self.sort_by(v, T::cmp);
    }

    /// Sorts `v` with a comparator; equal to `v.sort_unstable_by(compare)`
    /// up to the order of equal elements.
    pub fn sort_by<T, F>(&self, v: &mut [T], compare: F)
    where
        T: Send,
        F: Fn(&T, &T) -> Ordering + Sync,
    {
        let is_less = |a: &T, b: &T| compare(a, b) == Ordering::Less;
        let len = v.len();
        if len < 2 {
            return;
        }
        // Already sorted, or descending (reversing a non-increasing run
        // sorts it): one pass, which stops at the first violation otherwise.
        if v.windows(2).all(|w| !is_less(&w[1], &w[0])) {
            return;
        }
        if v.windows(2).all(|w| !is_less(&w[0], &w[1])) {
            v.reverse();
            return;
        }
        let limit = usize::BITS - len.leading_zeros();
        let ctx = Ctx {
            is_less: &is_less,
            cutoff: self.sequential_cutoff.max(INSERTION_MAX),
        };
        recurse(v, false, limit, &ctx);
    }
}

/// What every recursive call shares.
struct Ctx<'a, F> {
    is_less: &'a F,
    cutoff: usize,
}

/// Sorts `v`, or `v[1..]` if `has_ancestor`: then `v[0]` is the pivot of
/// an enclosing partition, already in its final place, and every other
/// element of `v` is `>= v[0]`.
fn recurse<T, F>(mut v: &mut [T], mut has_ancestor: bool, mut limit: u32, ctx: &Ctx<'_, F>)
where
    T: Send,
    F: Fn(&T, &T) -> bool + Sync,
{
    let is_less = ctx.is_less;
    loop {
        let start = usize::from(has_ancestor);
        let len = v.len() - start;
        if len <= INSERTION_MAX {
            insertion_sort(&mut v[start..], is_less);
            return;
        }
        if limit == 0 {
            heapsort(&mut v[start..], is_less);
            return;
        }

        let p = choose_pivot(&v[start..], is_less);
        v.swap(start, start + p);

        // The pivot equals the ancestor (nothing in `body` is smaller than
        // the ancestor, so "not greater" means "equal"): put every element
        // equal to it on the left and drop them.
        if has_ancestor && !is_less(&v[0], &v[1]) {
            let eq = partition(&mut v[1..], |x, pivot| !is_less(pivot, x));
            // v[1..=1 + eq] are all equal to the ancestor; v[1 + eq] is the
            // last of them and becomes the new ancestor.
            let rest = v;
            v = &mut rest[1 + eq..];
            continue;
        }

        let body = &mut v[start..];
        let mid = partition(body, |x, pivot| is_less(x, pivot));
        let (left_len, right_len) = (mid, len - mid - 1);
        if left_len.min(right_len) < len / 8 {
            limit -= 1;
            if left_len >= INSERTION_MAX {
                break_patterns(&mut body[..mid]);
            }
            if right_len >= INSERTION_MAX {
                break_patterns(&mut body[mid + 1..]);
            }
        }

        // Left: everything before the pivot (with our ancestor, if any).
        // Right: the pivot, as the right side's ancestor, and what follows.
        let whole = v;
        let (left, right) = whole.split_at_mut(start + mid);
        if len > ctx.cutoff {
            rayon::join(
                || recurse(left, has_ancestor, limit, ctx),
                || recurse(right, true, limit, ctx),
            );
            return;
        }
        if left_len < right_len {
            recurse(left, has_ancestor, limit, ctx);
            v = right;
            has_ancestor = true;
        } else {
            recurse(right, true, limit, ctx);
            v = left;
        }
    }
}

/// Partitions `v[1..]` around the pivot `v[0]`: the elements `x` with
/// `goes_left(x, pivot)` first, then the others; then swaps the pivot in
/// between and returns its new index.
///
/// Branchless Lomuto: every element is compared once and swapped once with
/// the first "right" element, whether it moves or not.
fn partition<T, G>(v: &mut [T], goes_left: G) -> usize
where
    G: Fn(&T, &T) -> bool,
{
    let Some((pivot, rest)) = v.split_first_mut() else {
        return 0;
    };
    let mut lt = 0;
    for i in 0..rest.len() {
        let left = goes_left(&rest[i], pivot);
        rest.swap(i, lt);
        lt += usize::from(left);
    }
    v.swap(0, lt);
    lt
}

/// Index of a pivot: the median of three at ¼, ½, ¾, or above
/// [`NINTHER_MIN`] the median of the medians of their neighbourhoods.
fn choose_pivot<T, F>(v: &[T], is_less: &F) -> usize
where
    F: Fn(&T, &T) -> bool,
{
    let len = v.len();
    let (a, b, c) = (len / 4, len / 2, len / 4 * 3);
    let median3 = |a: usize, b: usize, c: usize| -> usize {
        // The median of v[a], v[b], v[c] by index.
        let ab = is_less(&v[a], &v[b]);
        let bc = is_less(&v[b], &v[c]);
        if ab == bc {
            b
        } else {
            let ac = is_less(&v[a], &v[c]);
            if ab == ac { c } else { a }
        }
    };
    if len >= NINTHER_MIN {
        let a = median3(a - 1, a, a + 1);
        let b = median3(b - 1, b, b + 1);
        let c = median3(c - 1, c, c + 1);
        median3(a, b, c)
    } else {
        median3(a, b, c)
    }
}

/// Swaps three elements around the middle with pseudo-random positions
/// (a fixed xorshift seeded by the length: deterministic), so a crafted input
/// cannot keep producing bad pivots.
fn break_patterns<T>(v: &mut [T]) {
    let len = v.len();
    let mut seed = len as u64 | 1;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let modulus = len.next_power_of_two() as u64;
    let pos = len / 4 * 2;
    for i in 0..3 {
        let mut other = (next() & (modulus - 1)) as usize;
        if other >= len {
            other -= len;
        }
        v.swap(pos - 1 + i, other);
    }
}

/// Insertion sort, for short slices.
fn insertion_sort<T, F>(v: &mut [T], is_less: &F)
where
    F: Fn(&T, &T) -> bool,
{
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 && is_less(&v[j], &v[j - 1]) {
            v.swap(j, j - 1);
            j -= 1;
        }
    }
}

/// Heapsort: the `O(n log n)` fallback when pivots keep going wrong.
fn heapsort<T, F>(v: &mut [T], is_less: &F)
where
    F: Fn(&T, &T) -> bool,
{
    let sift_down = |v: &mut [T], mut node: usize| {
        loop {
            let mut child = 2 * node + 1;
            if child >= v.len() {
                break;
            }
            if child + 1 < v.len() && is_less(&v[child], &v[child + 1]) {
                child += 1;
            }
            if !is_less(&v[node], &v[child]) {
                break;
            }
            v.swap(node, child);
            node = child;
        }
    };
    for i in (0..v.len() / 2).rev() {
        sift_down(v, i);
    }
    for end in (1..v.len()).rev() {
        v.swap(0, end);
        sift_down(&mut v[..end], 0);
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    fn lt(a: &u32, b: &u32) -> bool {
        a < b
    }

    #[test]
    fn heapsort_and_insertion_sort() {
        let mut v: Vec<u32> = (0..1000).map(|i| (i * 7919) % 613).collect();
        let mut expected = v.clone();
        expected.sort();
        let mut w = v.clone();
        heapsort(&mut v, &lt);
        insertion_sort(&mut w, &lt);
        assert_eq!(v, expected);
        assert_eq!(w, expected);
    }

    #[test]
    fn partition_puts_pivot_in_place() {
        let mut v = vec![5u32, 9, 1, 5, 7, 2, 8, 5, 0];
        let mid = partition(&mut v, |x, p| x < p);
        assert_eq!(v[mid], 5);
        assert!(v[..mid].iter().all(|&x| x < 5));
        assert!(v[mid + 1..].iter().all(|&x| x >= 5));
    }

    #[test]
    fn zero_limit_uses_heapsort() {
        let mut v: Vec<u32> = (0..5000).map(|i| (i * 7919) % 613).collect();
        let mut expected = v.clone();
        expected.sort();
        let ctx = Ctx {
            is_less: &lt,
            cutoff: 64,
        };
        recurse(&mut v, false, 0, &ctx);
        assert_eq!(v, expected);
    }

    #[test]
    fn parallel_in_a_pool() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("pool");
        let mut v: Vec<u64> = (0..200_000u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40)
            .collect();
        let mut expected = v.clone();
        expected.sort();
        pool.install(|| Quicksort::new().sequential_cutoff(100).sort(&mut v));
        assert_eq!(v, expected);
    }
}
