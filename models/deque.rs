//! Model: the Chase–Lev deque (`heddle::parallel::deque`).
//!
//! Invariant: every pushed element is obtained exactly once — by the owner's
//! `pop`, by a thief's `steal`, or by the owner draining what is left after
//! the thieves are joined. Nothing is lost, nothing duplicated; and (in model
//! builds the deque checks this itself) a thief never takes a slot whose
//! write the memory model does not let it see yet.
//!
//! Scenarios: the one-element race (owner `pop` against a thief's `steal` of
//! the last element); two elements, one thief stealing twice (the SeqCst
//! fence in `pop` is what keeps the owner and the thief off the same
//! element); two thieves; pushes that grow the buffer while a thief steals.
//! Thieves are spawned *before* the owner pushes, so nothing is published to
//! them by the thread spawn: only the deque's own orderings.
//!
//! Mutating methods raced: `steal` against `steal` (two thieves) and against
//! the owner's `pop`; `push` (growing the buffer) against `steal`. `push`
//! and `pop` are owner-only by the deque's contract (one `Worker`, not
//! `Sync`), so they never race each other.
//!
//! Broken variants (from `heddle::parallel::deque::broken`):
//! - `pop` without `fence(SeqCst)` → a duplicated element (loom only);
//! - `steal` loading `bottom` Relaxed → `deque: stale slot` (loom only);
//! - `steal` with a plain store instead of a CAS → a duplicated element
//!   (loom and shuttle).
//!
//! Shuttle runs every atomic as `SeqCst`, so it cannot see a weakened
//! ordering: those two variants are tested under loom only.

use heddle::check;
use heddle::parallel::deque::{self, Steal, Stealer, Worker};
use heddle::sync::thread;

/// One step of the owner.
#[derive(Clone, Copy, Debug)]
enum Op {
    /// Push the next item (items are numbered 0, 1, 2, ... in push order).
    Push,
    /// Pop once.
    Pop,
}
use Op::{Pop, Push};

/// A deque constructor: the correct one or a broken variant.
type Make = fn(usize) -> (Worker<usize>, Stealer<usize>);

/// Spawns `thieves` threads that each attempt `steals` steals (retrying a
/// `Retry`), runs `ops` on the owner, joins, drains, and checks that every
/// item was obtained exactly once.
fn exactly_once(make: Make, capacity: usize, thieves: usize, steals: usize, ops: &'static [Op]) {
    check::Model::new().check(move || {
        let (worker, stealer) = make(capacity);
        let handles: Vec<_> = (0..thieves)
            .map(|_| {
                let s = stealer.clone();
                thread::spawn(move || {
                    let mut got = Vec::new();
                    for _ in 0..steals {
                        loop {
                            match s.steal() {
                                Steal::Success(x) => {
                                    got.push(x);
                                    break;
                                }
                                Steal::Empty => break,
                                // Someone else took the element: a retry is
                                // bounded by the number of elements.
                                Steal::Retry => {}
                            }
                        }
                    }
                    got
                })
            })
            .collect();
        drop(stealer);

        let mut pushed = 0;
        let mut got = Vec::new();
        for op in ops {
            match op {
                Push => {
                    worker.push(pushed);
                    pushed += 1;
                }
                Pop => got.extend(worker.pop()),
            }
        }
        for h in handles {
            got.extend(h.join().expect("thief panicked"));
        }
        while let Some(x) = worker.pop() {
            got.push(x);
        }

        let mut count = vec![0usize; pushed];
        for x in got {
            count[x] += 1;
        }
        for (item, &n) in count.iter().enumerate() {
            assert!(n <= 1, "deque: duplicated item {item} (taken {n} times)");
            assert!(n >= 1, "deque: lost item {item}");
        }
    });
}

/// The last element: the owner's `pop` CASes `top` against the thief's.
#[test]
fn one_element_pop_against_steal() {
    exactly_once(deque::with_capacity, 4, 1, 1, &[Push, Pop]);
}

/// Two elements, one thief stealing twice while the owner pops: without the
/// SeqCst fence in `pop` the owner and the thief both take item 1.
#[test]
fn two_elements_pop_against_two_steals() {
    exactly_once(deque::with_capacity, 4, 1, 2, &[Push, Push, Pop]);
}

/// Two thieves race each other and the owner.
#[test]
fn two_thieves() {
    exactly_once(deque::with_capacity, 4, 2, 1, &[Push, Push, Pop]);
}

/// Capacity 1: the second and third pushes grow the buffer (1 → 2 → 4)
/// while the thief may be reading an old one.
#[test]
fn grow_during_steal() {
    exactly_once(deque::with_capacity, 1, 1, 2, &[Push, Push, Push, Pop]);
}

/// Two thieves while the buffer grows twice.
#[test]
fn two_thieves_during_grow() {
    exactly_once(deque::with_capacity, 1, 2, 1, &[Push, Push, Push, Pop]);
}

/// Push after pop reuses an index; the thief must not take the old element.
#[test]
fn reuse_index_after_pop() {
    exactly_once(deque::with_capacity, 2, 1, 1, &[Push, Pop, Push, Push]);
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod broken {
    use super::*;
    use heddle::parallel::deque::broken;

    /// Store→load reordering in `pop`: loom only (shuttle is SeqCst).
    #[cfg(feature = "loom")]
    #[test]
    #[should_panic(expected = "deque: duplicated item")]
    fn pop_without_fence_is_caught() {
        exactly_once(broken::pop_without_fence, 4, 1, 2, &[Push, Push, Pop]);
    }

    /// The slot write not published to the thief: loom only.
    #[cfg(feature = "loom")]
    #[test]
    #[should_panic(expected = "deque: stale slot")]
    fn steal_relaxed_bottom_is_caught() {
        exactly_once(broken::steal_relaxed_bottom, 4, 1, 1, &[Push, Pop]);
    }

    /// No CAS in `steal`: a logic race both engines find.
    #[test]
    #[should_panic(expected = "deque: duplicated item")]
    fn steal_plain_store_is_caught() {
        exactly_once(broken::steal_plain_store, 4, 1, 1, &[Push, Pop]);
    }
}
