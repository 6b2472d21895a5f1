//! Parallel stable merge sort: divide and conquer with `rayon::join`
//! (guide §2.1).
//!
//! **What.** [`merge_sort`] (and [`merge_sort_by`], [`merge_sort_by_key`],
//! or a tuned [`MergeSort`]) sorts a slice stably, in parallel, for any
//! `T: Send` — no `Copy` or `Clone` bound. The slice is cut into a power of
//! four leaves (about [`MergeSort::leaves_per_thread`] per rayon thread);
//! the leaves are sorted in parallel by `slice::sort_by` (std's tuned stable
//! sort), then merged pairwise upward. Every merge level is a single pass over
//! memory that ping-pongs between the slice and **one** scratch buffer of
//! `n` elements allocated once (std's sort of each leaf still allocates its
//! own, up to half the leaf); the even number of levels makes the last merge
//! land back in the slice. Each merge is itself parallel: the larger run is split at its
//! midpoint, the matching split point of the other run is found by binary
//! search, and the two halves are merged with `rayon::join`, down to
//! [`MergeSort::merge_grain`] elements. The sequential merge at the bottom
//! is bidirectional and branch-free: each round moves the smallest
//! remaining element to the front of the output and the largest to the
//! back, two independent compare-select-copy chains that the CPU overlaps
//! (this made the whole sort of 10 M `u64` about 1.2× faster than a
//! one-ended merge). Inputs of at most
//! [`MergeSort::sequential_cutoff`] elements, zero-sized types and
//! one-thread pools are sorted by `slice::sort_by` directly.
//!
//! **When.** When you need a *stable* parallel sort of a large slice (several
//! times the cutoff) and can spare `n` elements of scratch memory. If
//! stability does not matter, an unstable sort ([`quicksort`](super::quicksort)
//! or rayon's `par_sort_unstable`) needs no scratch buffer.
//!
//! **Compared to.** The guide's `merge_sort_parallel` allocates a fresh `Vec`
//! for every merge at every level, merges sequentially (so the last merge of
//! `n` elements runs on one core), copies back after each merge, and needs
//! `T: Copy`; it is kept as a bench-only baseline in `benches/sorts.rs`.
//! rayon's `par_sort` is also a stable parallel merge sort, but merges from
//! chunks of 2 000 elements, so it does about `log2(n / 2000)` merge passes
//! over memory (12 for 10 M elements); here the leaves are large and std
//! sorts them, leaving `log2(leaves)` passes (4 for the 16 leaves of a
//! 2-thread pool). std's `slice::sort` is the same algorithm as the
//! leaves, on one core. `benches/sorts.rs` measures all of them on 10 M
//! random `u64`.
//!
//! **Panics.** If the comparator panics, the panic propagates after every
//! running task has finished, and the slice holds a permutation of its
//! original elements (in unspecified order): nothing is dropped twice or
//! leaked, as with `slice::sort`.
//!
//! Checked in `tests/sort_props.rs` (equal to `slice::sort` on random,
//! duplicate-heavy, sorted, reversed, tiny and empty inputs; stability; a
//! panicking comparator leaves a permutation).
//!
//! # Example
//!
//! ```
//! use heddle::parallel::merge_sort::{merge_sort, merge_sort_by_key};
//!
//! let mut v: Vec<u64> = (0..100_000).map(|i| (i * 7919) % 100_003).collect();
//! let mut expected = v.clone();
//! expected.sort();
//! merge_sort(&mut v);
//! assert_eq!(v, expected);
//!
//! // Stable: records with equal keys keep their original order.
//! let mut people = vec![("bo", 30), ("al", 25), ("cy", 30), ("di", 25)];
//! merge_sort_by_key(&mut people, |&(_, age)| age);
//! assert_eq!(people, [("al", 25), ("di", 25), ("bo", 30), ("cy", 30)]);
//! ```

use std::cmp::Ordering;
use std::mem::{self, MaybeUninit};
use std::ptr;

/// Default [`MergeSort::merge_grain`]: merges of at most this many output
/// elements run sequentially; larger ones are split in two and merged with
/// `rayon::join`.
pub const MERGE_GRAIN: usize = 1 << 14;

/// Default [`MergeSort::sequential_cutoff`].
pub const DEFAULT_SEQUENTIAL_CUTOFF: usize = 1 << 14;

/// Default [`MergeSort::leaves_per_thread`].
pub const DEFAULT_LEAVES_PER_THREAD: usize = 8;

/// Sorts `v` stably and in parallel with the default [`MergeSort`] settings.
///
/// Equal to `v.sort()`; see the [module docs](self).
pub fn merge_sort<T: Ord + Send>(v: &mut [T]) {
    MergeSort::new().sort(v);
}

/// Sorts `v` stably and in parallel with a comparator, like
/// `slice::sort_by`. The comparator must be a total order; if it is not, the
/// result is some permutation of `v` (never undefined behaviour).
pub fn merge_sort_by<T, F>(v: &mut [T], compare: F)
where
    T: Send,
    F: Fn(&T, &T) -> Ordering + Sync,
{
    MergeSort::new().sort_by(v, compare);
}

/// Sorts `v` stably and in parallel by a key, like `slice::sort_by_key`.
/// The key is recomputed at each comparison.
pub fn merge_sort_by_key<T, K, F>(v: &mut [T], key: F)
where
    T: Send,
    K: Ord,
    F: Fn(&T) -> K + Sync,
{
    MergeSort::new().sort_by_key(v, key);
}

/// A parallel stable merge sort with its tuning knobs.
///
/// ```
/// use heddle::parallel::merge_sort::MergeSort;
///
/// let sorter = MergeSort::new().sequential_cutoff(1_000).leaves_per_thread(8);
/// let mut v: Vec<i32> = (0..10_000).rev().collect();
/// sorter.sort(&mut v);
/// assert!(v.is_sorted());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergeSort {
    sequential_cutoff: usize,
    leaves_per_thread: usize,
    merge_grain: usize,
}

impl Default for MergeSort {
    fn default() -> Self {
        Self::new()
    }
}

impl MergeSort {
    /// The defaults: [`DEFAULT_SEQUENTIAL_CUTOFF`],
    /// [`DEFAULT_LEAVES_PER_THREAD`], [`MERGE_GRAIN`].
    pub const fn new() -> Self {
        Self {
            sequential_cutoff: DEFAULT_SEQUENTIAL_CUTOFF,
            leaves_per_thread: DEFAULT_LEAVES_PER_THREAD,
            merge_grain: MERGE_GRAIN,
        }
    }

    /// Merges of at most `n` output elements (at least 1) run sequentially;
    /// larger ones are split at a midpoint and merged with `rayon::join`.
    pub const fn merge_grain(mut self, n: usize) -> Self {
        self.merge_grain = if n == 0 { 1 } else { n };
        self
    }

    /// Slices of at most `n` elements are sorted sequentially by
    /// `slice::sort_by`, and no leaf is made shorter than `n / 4`.
    pub const fn sequential_cutoff(mut self, n: usize) -> Self {
        self.sequential_cutoff = n;
        self
    }

    /// Aim for about `k` leaves per rayon thread (at least 1). The leaf count
    /// is rounded up to a power of four so that the merges end in the slice.
    /// More leaves balance a loaded machine better; each ×4 costs two more
    /// merge passes over memory.
    pub const fn leaves_per_thread(mut self, k: usize) -> Self {
        self.leaves_per_thread = if k == 0 { 1 } else { k };
        self
    }

    /// Sorts `v` stably; equal to `v.sort()`.
    pub fn sort<T: Ord + Send>(&self, v: &mut [T]) {
        self.sort_by(v, T::cmp);
    }

    /// Sorts `v` stably by a key; equal to `v.sort_by_key(key)`.
    pub fn sort_by_key<T, K, F>(&self, v: &mut [T], key: F)
    where
        T: Send,
        K: Ord,
        F: Fn(&T) -> K + Sync,
    {
        self.sort_by(v, |a, b| key(a).cmp(&key(b)));
    }

    /// Sorts `v` stably with a comparator; equal to `v.sort_by(compare)`
    /// when `compare` is a total order.
    pub fn sort_by<T, F>(&self, v: &mut [T], compare: F)
    where
        T: Send,
        F: Fn(&T, &T) -> Ordering + Sync,
    {
        let n = v.len();
        let levels = if mem::size_of::<T>() == 0 || n <= self.sequential_cutoff.max(1) {
            0
        } else {
            self.levels(n, rayon::current_num_threads())
        };
        if levels == 0 {
            v.sort_by(compare);
            return;
        }
        tracing::trace!(len = n, leaves = 1usize << levels, "parallel merge sort");

        // The one scratch buffer: `n` uninitialised slots, never dropped as
        // `T` (the Vec's length stays 0).
        let mut scratch: Vec<T> = Vec::with_capacity(n);
        let buf = &mut scratch.spare_capacity_mut()[..n];
        let v_ptr: *mut [T] = v;
        // SAFETY: `MaybeUninit<T>` has the layout of `T`, and every slot of
        // `v` is initialised. Viewing it as `[MaybeUninit<T>]` lets the merges
        // move elements out bitwise; `sort_into` guarantees (on return and on
        // unwind) that all `n` elements are back in `v` exactly once before
        // this borrow ends, so `v` is fully initialised again for the caller.
        let data = unsafe { &mut *(v_ptr as *mut [MaybeUninit<T>]) };
        let ctx = Ctx {
            compare: &compare,
            grain: self.merge_grain,
        };
        // SAFETY: `data` is initialised, `buf` has the same length, and with
        // `into_buf = false` the elements end (sorted, or permuted on unwind)
        // in `data`.
        unsafe { sort_into(data, buf, false, levels, &ctx) };
    }

    /// The number of halving levels: even (so the last merge writes into
    /// the slice), `4^(levels/2) ≥ threads × leaves_per_thread`, leaves of at
    /// least `sequential_cutoff / 4` elements. 0 means "sort sequentially".
    fn levels(&self, n: usize, threads: usize) -> u32 {
        if threads <= 1 {
            return 0;
        }
        let want = threads.saturating_mul(self.leaves_per_thread.max(1));
        let mut levels = 0u32;
        while levels < usize::BITS - 2 && (1usize << levels) < want {
            levels += 2;
        }
        let min_leaf = (self.sequential_cutoff / 4).max(1);
        while levels > 0 && (n >> levels) < min_leaf {
            levels -= 2;
        }
        levels
    }
}

/// What every recursive call shares.
struct Ctx<'a, F> {
    compare: &'a F,
    grain: usize,
}

/// Copies `len` elements from `src` to `dst` when dropped: on normal exit
/// when used as a scope guard, or only on unwind when `mem::forget` is
/// called on the success path.
struct CopyOnDrop<T> {
    src: *const T,
    dst: *mut T,
    len: usize,
}

impl<T> Drop for CopyOnDrop<T> {
    fn drop(&mut self) {
        // SAFETY: every constructor below passes `len` initialised elements
        // at `src` and `len` writable slots at `dst`, in different buffers
        // (so they do not overlap); after the copy the caller treats `src`
        // as moved-from.
        unsafe { ptr::copy_nonoverlapping(self.src, self.dst, self.len) };
    }
}

/// Sorts the elements of `v` into `v` (`into_buf == false`) or into `buf`
/// (`into_buf == true`), halving `levels` times and sorting the leaves with
/// `slice::sort_by`.
///
/// # Safety
///
/// `v` must be fully initialised and `buf.len() == v.len()`; `v` and `buf`
/// must not overlap. On return **and on unwind**, the elements that were in
/// `v` are, exactly once each, in the destination (sorted on return); the
/// other slice holds only moved-from bits that must not be used or dropped.
unsafe fn sort_into<T, F>(
    v: &mut [MaybeUninit<T>],
    buf: &mut [MaybeUninit<T>],
    into_buf: bool,
    levels: u32,
    ctx: &Ctx<'_, F>,
) where
    T: Send,
    F: Fn(&T, &T) -> Ordering + Sync,
{
    let len = v.len();
    debug_assert_eq!(len, buf.len());
    // All sub-slices are rebuilt from these two raw pointers; `v` and `buf`
    // are not used again, so the pointers stay valid for every access below.
    let vp = v.as_mut_ptr();
    let bp = buf.as_mut_ptr();

    if levels == 0 || len < 2 {
        // On any exit, move the (sorted, or permuted by a panicking
        // comparator) leaf into `buf` if that is the destination.
        let _to_buf = into_buf.then(|| CopyOnDrop {
            src: vp.cast_const().cast::<T>(),
            dst: bp.cast::<T>(),
            len,
        });
        // SAFETY: `v` is initialised (precondition) and exclusively ours.
        let leaf = unsafe { std::slice::from_raw_parts_mut(vp.cast::<T>(), len) };
        leaf.sort_by(ctx.compare);
        return;
    }

    let mid = len / 2;
    // SAFETY: `vp[..mid]`, `vp[mid..]`, `bp[..mid]` and `bp[mid..]` are
    // in bounds and pairwise disjoint (`v` and `buf` do not overlap).
    let (vl, vr, bl, br) = unsafe {
        (
            std::slice::from_raw_parts_mut(vp, mid),
            std::slice::from_raw_parts_mut(vp.add(mid), len - mid),
            std::slice::from_raw_parts_mut(bp, mid),
            std::slice::from_raw_parts_mut(bp.add(mid), len - mid),
        )
    };
    // The halves land in the other buffer from our destination.
    let (src, dst) = if into_buf { (vp, bp) } else { (bp, vp) };
    // If a half panics, rayon still runs the other one to completion, and
    // each half has put its elements in `src` (the children's destination):
    // move them all to `dst`, as promised, before unwinding further.
    let on_unwind = CopyOnDrop {
        src: src.cast_const().cast::<T>(),
        dst: dst.cast::<T>(),
        len,
    };
    rayon::join(
        // SAFETY: the children inherit our precondition on disjoint halves.
        || unsafe { sort_into(vl, bl, !into_buf, levels - 1, ctx) },
        // SAFETY: as above.
        || unsafe { sort_into(vr, br, !into_buf, levels - 1, ctx) },
    );
    mem::forget(on_unwind);

    // SAFETY: `src[..mid]` and `src[mid..]` now hold the two sorted halves,
    // `dst[..len]` is the disjoint destination; the slices are in bounds.
    unsafe {
        par_merge(
            std::slice::from_raw_parts_mut(src, mid),
            std::slice::from_raw_parts_mut(src.add(mid), len - mid),
            std::slice::from_raw_parts_mut(dst, len),
            ctx,
        );
    }
}

/// Merges the sorted runs `a` and `b` into `out`, stably (on ties `a`
/// first), splitting large merges in two and running the halves with
/// `rayon::join`.
///
/// # Safety
///
/// `a` and `b` must be initialised and `out.len() == a.len() + b.len()`;
/// `out` must not overlap `a` or `b`. On return **and on unwind**, every
/// element of `a` and `b` has been moved to `out` exactly once (in sorted
/// order on return); `a` and `b` hold moved-from bits.
unsafe fn par_merge<T, F>(
    a: &mut [MaybeUninit<T>],
    b: &mut [MaybeUninit<T>],
    out: &mut [MaybeUninit<T>],
    ctx: &Ctx<'_, F>,
) where
    T: Send,
    F: Fn(&T, &T) -> Ordering + Sync,
{
    let (na, nb) = (a.len(), b.len());
    debug_assert_eq!(na + nb, out.len());
    let ap = a.as_mut_ptr();
    let bp = b.as_mut_ptr();
    let op = out.as_mut_ptr();
    let compare = ctx.compare;
    if na + nb <= ctx.grain || na == 0 || nb == 0 {
        // SAFETY: forwarded precondition.
        unsafe {
            seq_merge(
                ap.cast::<T>(),
                na,
                bp.cast::<T>(),
                nb,
                op.cast::<T>(),
                compare,
            )
        };
        return;
    }

    // SAFETY: forwarded precondition.
    let (i, j) = unsafe { split_point(ap, na, bp, nb, op, compare) };

    // SAFETY: `i <= na`, `j <= nb`; the four source pieces and the two
    // output pieces (`i + j` and the rest) are in bounds and disjoint.
    let (al, ar, bl, br, ol, or) = unsafe {
        (
            std::slice::from_raw_parts_mut(ap, i),
            std::slice::from_raw_parts_mut(ap.add(i), na - i),
            std::slice::from_raw_parts_mut(bp, j),
            std::slice::from_raw_parts_mut(bp.add(j), nb - j),
            std::slice::from_raw_parts_mut(op, i + j),
            std::slice::from_raw_parts_mut(op.add(i + j), na + nb - i - j),
        )
    };
    // Both halves always run (rayon's guarantee), and each moves all of its
    // elements even when it panics, so `out` is complete in every case.
    rayon::join(
        // SAFETY: the pieces satisfy the precondition (lengths add up).
        || unsafe { par_merge(al, bl, ol, ctx) },
        // SAFETY: as above.
        || unsafe { par_merge(ar, br, or, ctx) },
    );
}

/// Where to split the merge of the sorted runs at `a` (`na` elements) and
/// `b` (`nb`) into two independent merges: `(i, j)` such that `a[..i]` and
/// `b[..j]` merge into `out[..i + j]` and the rest after them. Splits the
/// larger run at its midpoint and finds, in the other, where that element
/// would go so that ties stay in `a`-before-`b` order.
///
/// # Safety
///
/// As [`par_merge`], in raw form (`out` has `na + nb` slots). Nothing moves
/// on return; if `compare` panics, both runs are moved to `out` unsorted
/// (`a` then `b`) before the unwind leaves.
unsafe fn split_point<T, F>(
    ap: *mut MaybeUninit<T>,
    na: usize,
    bp: *mut MaybeUninit<T>,
    nb: usize,
    op: *mut MaybeUninit<T>,
    compare: &F,
) -> (usize, usize)
where
    F: Fn(&T, &T) -> Ordering,
{
    // The split-point search calls `compare`, which may panic before any
    // element has moved: then move both runs to `out` unsorted.
    let guard_a = CopyOnDrop {
        src: ap.cast_const().cast::<T>(),
        dst: op.cast::<T>(),
        len: na,
    };
    // SAFETY: `op + na .. op + na + nb` is inside `out`.
    let op_b = unsafe { op.add(na) };
    let guard_b = CopyOnDrop {
        src: bp.cast_const().cast::<T>(),
        dst: op_b.cast::<T>(),
        len: nb,
    };
    // SAFETY: `a` and `b` are initialised and not written while these shared
    // views live (they end with this function).
    let (ra, rb) = unsafe {
        (
            std::slice::from_raw_parts(ap.cast_const().cast::<T>(), na),
            std::slice::from_raw_parts(bp.cast_const().cast::<T>(), nb),
        )
    };
    // Split the larger run at its midpoint; in the other run, find where
    // that element would go so that ties stay in `a`-before-`b` order.
    let split = if na >= nb {
        let i = na / 2;
        let pivot = &ra[i];
        // `b` elements strictly less than a[i] go before it.
        (
            i,
            rb.partition_point(|x| compare(x, pivot) == Ordering::Less),
        )
    } else {
        let j = nb / 2;
        let pivot = &rb[j];
        // `a` elements less than or equal to b[j] go before it.
        (
            ra.partition_point(|x| compare(pivot, x) != Ordering::Less),
            j,
        )
    };
    mem::forget(guard_a);
    mem::forget(guard_b);
    split
}

/// A sequential merge in progress: the unmoved middles `a..a_end` and
/// `b..b_end` of the runs and the first free output slot. Dropping it (at
/// the end, or on unwind when the comparator panics) moves both middles to
/// the output from `out` on, so no element is lost or duplicated.
struct MergeState<T> {
    a: *const T,
    a_end: *const T,
    b: *const T,
    b_end: *const T,
    out: *mut T,
}

impl<T> Drop for MergeState<T> {
    fn drop(&mut self) {
        // SAFETY: `a..a_end` and `b..b_end` are the unmoved, initialised
        // middles of the two runs, `out` points at exactly as many free
        // slots (`seq_merge` keeps that invariant: every element moved from
        // a run took one slot at the front or the back of the output), and
        // the output buffer does not overlap the runs. `T` is not
        // zero-sized, so the pointer differences count elements, and they
        // are never negative (a start only moves up and an end only moves
        // down while the run is non-empty).
        unsafe {
            let na = self.a_end.offset_from(self.a) as usize;
            ptr::copy_nonoverlapping(self.a, self.out, na);
            let nb = self.b_end.offset_from(self.b) as usize;
            ptr::copy_nonoverlapping(self.b, self.out.add(na), nb);
        }
    }
}

/// Merges `na` elements at `a` and `nb` at `b` into `out`, stably.
///
/// Bidirectional: each round places the smallest remaining element at the
/// front of the output and the largest at the back. The two ends are
/// independent chains of compare, select and copy (branch-free: the
/// selections compile to conditional moves), so the CPU overlaps them and a
/// round costs little more than one step of a one-ended merge. Every step
/// takes an element from the unmoved middle of a run and checks the runs
/// again before the next one, so even an inconsistent comparator can only
/// permute the elements, never read outside the runs.
///
/// # Safety
///
/// As [`par_merge`], in raw form; additionally `T` is not zero-sized (the
/// loop compares pointers).
unsafe fn seq_merge<T, F>(a: *const T, na: usize, b: *const T, nb: usize, out: *mut T, compare: &F)
where
    F: Fn(&T, &T) -> Ordering,
{
    debug_assert!(mem::size_of::<T>() != 0);
    // SAFETY: the ends are one past the runs, in bounds of their buffers.
    let mut s = unsafe {
        MergeState {
            a,
            a_end: a.add(na),
            b,
            b_end: b.add(nb),
            out,
        }
    };
    // Already in order (common on presorted input): the drop copies both.
    // SAFETY: both runs are non-empty when dereferenced.
    if na == 0 || nb == 0 || unsafe { compare(&*s.b, &*s.a_end.sub(1)) != Ordering::Less } {
        return;
    }
    // One past the last free output slot: the back of the merge writes just
    // below it. Invariant: `out_end - s.out == (s.a_end - s.a) + (s.b_end -
    // s.b)`, the unmoved elements, which the drop moves to `s.out..out_end`.
    // SAFETY: the output holds `na + nb` slots.
    let mut out_end = unsafe { out.add(na + nb) };
    while s.a != s.a_end && s.b != s.b_end {
        // SAFETY: both runs are non-empty (loop condition), so `s.a`, `s.b`
        // point at unmoved elements and `s.out` at a free slot. The element
        // is copied once and its run pointer advanced past it, so the drop
        // never copies it again. A panic in `compare` happens before the
        // copy.
        unsafe {
            let take_b = compare(&*s.b, &*s.a) == Ordering::Less;
            let src = if take_b { s.b } else { s.a };
            ptr::copy_nonoverlapping(src, s.out, 1);
            s.out = s.out.add(1);
            s.a = s.a.add(usize::from(!take_b));
            s.b = s.b.add(usize::from(take_b));
        }
        if s.a == s.a_end || s.b == s.b_end {
            break;
        }
        // SAFETY: both runs are still non-empty (checked just above), so
        // their last unmoved elements are `a_end - 1` and `b_end - 1`, and
        // `out_end - 1` is a free slot (at least two elements are unmoved).
        // The chosen element's run end moves below it, so the drop never
        // copies it again; `out_end` moves down with it, keeping the
        // invariant. On ties the `b` element goes last: stable.
        unsafe {
            let a_last = s.a_end.sub(1);
            let b_last = s.b_end.sub(1);
            let take_a = compare(&*b_last, &*a_last) == Ordering::Less;
            let src = if take_a { a_last } else { b_last };
            out_end = out_end.sub(1);
            ptr::copy_nonoverlapping(src, out_end, 1);
            s.a_end = s.a_end.sub(usize::from(take_a));
            s.b_end = s.b_end.sub(usize::from(!take_a));
        }
    }
    // `s` drops here and moves the middle of whichever run is left.
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn levels_are_even_and_bounded() {
        assert_eq!(MergeSort::new().levels(10_000_000, 2), 4);
        let m = MergeSort::new().leaves_per_thread(2);
        assert_eq!(m.levels(10_000_000, 1), 0);
        assert_eq!(m.levels(10_000_000, 2), 2);
        assert_eq!(m.levels(10_000_000, 4), 4);
        assert_eq!(m.levels(10_000_000, 3), 4);
        // Leaves would be shorter than cutoff / 4 = 4096.
        assert_eq!(m.levels(16_000, 2), 0);
        assert_eq!(m.levels(16_384, 2), 2);
        for t in 1..70 {
            assert_eq!(m.levels(1 << 30, t) % 2, 0);
        }
    }

    #[test]
    fn deep_ping_pong_in_a_pool() {
        // Force many levels and tiny leaves so that every code path runs,
        // including odd-depth leaves and parallel merges.
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .expect("pool");
        let sorter = MergeSort::new()
            .sequential_cutoff(4)
            .leaves_per_thread(1000)
            .merge_grain(3);
        let mut v: Vec<u32> = (0..100_003u32)
            .map(|i| i.wrapping_mul(2_654_435_761) % 1000)
            .collect();
        let mut expected = v.clone();
        expected.sort();
        pool.install(|| sorter.sort(&mut v));
        assert_eq!(v, expected);
    }

    #[test]
    fn owned_non_copy_elements() {
        let mut v: Vec<String> = (0..50_000)
            .map(|i| format!("{}", (i * 37) % 1001))
            .collect();
        let mut expected = v.clone();
        expected.sort();
        MergeSort::new().sequential_cutoff(64).sort(&mut v);
        assert_eq!(v, expected);
    }

    #[test]
    fn zero_sized() {
        let mut v = vec![(); 100_000];
        merge_sort(&mut v);
        assert_eq!(v.len(), 100_000);
    }
}
