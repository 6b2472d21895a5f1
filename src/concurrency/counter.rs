//! Mutex counter with a message, and a lock-free atomic counter beside it
//! (guide §1.1).
//!
//! **What.** [`Counter`] keeps a count and a message under one
//! [`Mutex`]: [`Counter::increment`] returns the new
//! value, [`Counter::record`] bumps the count and replaces the message in one
//! critical section, and [`Counter::snapshot`] reads both consistently.
//! [`AtomicCounter`] is the lock-free counter for when there is nothing but
//! the number.
//!
//! **When.** Use the mutex when several fields must change together (here the
//! count and the message that describes it); use [`AtomicCounter`] for a bare
//! count: it never blocks and never sleeps in the kernel. Both hand out every
//! value exactly once, so they work as ticket dispensers.
//!
//! **Compared to.** The guide's `ThreadSafeCounter` wraps the same idea but
//! `unwrap`s the lock (a panic anywhere poisons it for everyone) and wraps
//! silently at `u64::MAX` in release builds. Here poisoning is recovered by
//! the [`sync`](crate::sync) facade and overflow is an error.
//! `parking_lot::Mutex` is a drop-in for the lock; a sharded counter (one
//! cache line per thread, summed on read) beats both under heavy contention
//! when reads are rare, at the cost of an inexact read.
//!
//! Checked in `models/counter.rs` (no lost update; returned values are
//! exactly `initial+1 ..= initial+n`; snapshots never tear), and the defects
//! it avoids — an unlock-then-relock increment and a load-then-store atomic —
//! are reintroduced there and caught by loom and shuttle.
//!
//! # Example
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))]
//! # fn main() -> Result<(), heddle::concurrency::counter::CounterError> {
//! use heddle::concurrency::counter::Counter;
//! use heddle::sync::thread;
//!
//! let counter = Counter::new(0, "start");
//! let c2 = counter.clone();
//! let t = thread::spawn(move || c2.record("from the thread"));
//! let mine = counter.increment()?;
//! let theirs = t.join().expect("thread panicked")?;
//! assert_ne!(mine, theirs); // every value is handed out once
//! let snap = counter.snapshot();
//! assert_eq!(snap.count, 2);
//! # Ok(())
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```

use crate::sync::atomic::AtomicU64;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::{Arc, Mutex};

/// Errors of the counters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CounterError {
    /// The increment would pass `u64::MAX`; the counter is left unchanged.
    #[error("counter overflow: {current} + {by} exceeds u64::MAX")]
    Overflow {
        /// The value when the increment was refused.
        current: u64,
        /// The increment that was refused.
        by: u64,
    },
}

/// A consistent reading of a [`Counter`]: the count and the message as they
/// were at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The count.
    pub count: u64,
    /// The message.
    pub message: String,
}

/// A count and a message under one mutex. Cloning gives another handle to
/// the same counter.
#[derive(Clone, Debug)]
pub struct Counter {
    state: Arc<Mutex<Snapshot>>,
}

impl Counter {
    /// A counter starting at `initial` with `message`.
    pub fn new(initial: u64, message: impl Into<String>) -> Self {
        Self {
            state: Arc::new(Mutex::new(Snapshot {
                count: initial,
                message: message.into(),
            })),
        }
    }

    /// Adds one and returns the new value.
    pub fn increment(&self) -> Result<u64, CounterError> {
        self.add(1)
    }

    /// Adds `by` and returns the new value; refuses to pass `u64::MAX`.
    pub fn add(&self, by: u64) -> Result<u64, CounterError> {
        let mut state = self.state.lock();
        state.count = checked(state.count, by)?;
        Ok(state.count)
    }

    /// Adds one and sets the message in the same critical section, so no
    /// snapshot sees the new count with the old message. Returns the new value.
    pub fn record(&self, message: impl Into<String>) -> Result<u64, CounterError> {
        let message = message.into(); // allocate outside the lock
        let mut state = self.state.lock();
        state.count = checked(state.count, 1)?;
        state.message = message;
        Ok(state.count)
    }

    /// Replaces the message.
    pub fn set_message(&self, message: impl Into<String>) {
        let message = message.into();
        let old = std::mem::replace(&mut self.state.lock().message, message);
        drop(old); // free the old string after the lock is released
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.state.lock().count
    }

    /// The count and the message, read together.
    pub fn snapshot(&self) -> Snapshot {
        self.state.lock().clone()
    }
}

fn checked(current: u64, by: u64) -> Result<u64, CounterError> {
    current
        .checked_add(by)
        .ok_or(CounterError::Overflow { current, by })
}

/// A lock-free counter: one atomic, never blocks.
///
/// Increments are a compare-and-swap loop so that the counter refuses to wrap
/// at `u64::MAX`; uncontended that is one `lock cmpxchg`, the same
/// instruction class as `fetch_add`. All operations are `Relaxed`: each value
/// is still handed out exactly once (read-modify-writes on one location are
/// totally ordered), but the counter orders no *other* memory. Use a
/// [`Mutex`] or an `Acquire`/`Release` pair to publish
/// data alongside it.
///
/// ```
/// # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
/// let c = heddle::concurrency::counter::AtomicCounter::new(41);
/// assert_eq!(c.increment(), Ok(42));
/// assert_eq!(c.get(), 42);
/// # }
/// # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
/// ```
#[derive(Debug)]
pub struct AtomicCounter {
    value: AtomicU64,
}

impl AtomicCounter {
    /// A counter starting at `initial`.
    pub fn new(initial: u64) -> Self {
        Self {
            value: AtomicU64::new(initial),
        }
    }

    /// Adds one and returns the new value.
    pub fn increment(&self) -> Result<u64, CounterError> {
        self.add(1)
    }

    /// Adds `by` and returns the new value; refuses to pass `u64::MAX`.
    pub fn add(&self, by: u64) -> Result<u64, CounterError> {
        let mut current = self.value.load(Relaxed);
        loop {
            let next = checked(current, by)?;
            match self
                .value
                .compare_exchange_weak(current, next, Relaxed, Relaxed)
            {
                Ok(_) => return Ok(next),
                Err(actual) => current = actual,
            }
        }
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.value.load(Relaxed)
    }
}

/// The guide's defects, reintroduced for the model checkers to catch. Only
/// in `loom`/`shuttle` builds; never use these.
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod broken {
    use super::{AtomicCounter, Counter, CounterError, Relaxed, checked};

    /// `increment` that reads under the lock, unlocks, then relocks to write:
    /// two threads can read the same value and one update is lost.
    pub fn unlock_relock_increment(c: &Counter) -> Result<u64, CounterError> {
        let current = c.state.lock().count;
        let next = checked(current, 1)?;
        c.state.lock().count = next;
        Ok(next)
    }

    /// `record` split across two lock acquisitions: reads the count, unlocks,
    /// then relocks to write count and message. Two concurrent `record`s
    /// can read the same count: one increment is lost.
    pub fn split_record(c: &Counter, message: &str) -> Result<u64, CounterError> {
        let current = c.state.lock().count;
        let next = checked(current, 1)?;
        let mut state = c.state.lock();
        state.count = next;
        state.message = message.to_owned();
        Ok(next)
    }

    /// `increment` as a load followed by a store instead of one
    /// read-modify-write: loses updates.
    pub fn load_store_increment(c: &AtomicCounter) -> Result<u64, CounterError> {
        let next = checked(c.value.load(Relaxed), 1)?;
        c.value.store(next, Relaxed);
        Ok(next)
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn overflow_is_an_error_and_leaves_the_value() {
        let c = Counter::new(u64::MAX - 1, "m");
        assert_eq!(c.increment(), Ok(u64::MAX));
        assert_eq!(
            c.increment(),
            Err(CounterError::Overflow {
                current: u64::MAX,
                by: 1
            })
        );
        assert_eq!(c.get(), u64::MAX);

        let a = AtomicCounter::new(u64::MAX);
        assert!(a.add(1).is_err());
        assert_eq!(a.get(), u64::MAX);
    }

    #[test]
    fn record_sets_message_with_count() {
        let c = Counter::new(5, "a");
        assert_eq!(c.record("b"), Ok(6));
        assert_eq!(
            c.snapshot(),
            Snapshot {
                count: 6,
                message: "b".into()
            }
        );
        c.set_message("c");
        assert_eq!(c.snapshot().message, "c");
    }

    #[test]
    fn poisoned_lock_is_recovered() {
        let c = Counter::new(0, "m");
        let c2 = c.clone();
        let r = std::thread::spawn(move || {
            let _guard = c2.state.lock();
            panic!("poison it");
        })
        .join();
        assert!(r.is_err());
        assert_eq!(c.increment(), Ok(1));
    }
}
