//! Reader-writer store: many readers at once, one writer at a time (guide
//! §1.2).
//!
//! **What.** [`Store`] is an append-only list behind a
//! [`RwLock`]. Writers [`insert`](Store::insert);
//! readers take [`read`](Store::read) guards, [`snapshot`](Store::snapshot)s,
//! [`get`](Store::get) and [`len`](Store::len), and hold the lock only as long
//! as they look. [`access_count`](Store::access_count) reports reads and writes.
//!
//! **When.** Read-mostly shared data whose readers take long enough that
//! serializing them would hurt. For very short critical sections a plain
//! `Mutex` is usually as fast (an `RwLock` costs an extra atomic and writer
//! bookkeeping), and for data that is replaced wholesale, an
//! `arc_swap::ArcSwap`-style pointer swap lets readers proceed with no lock at
//! all.
//!
//! **Compared to the guide.** `ThreadSafeDatabase` sleeps *inside* the read
//! lock and counts only writes. Here reads are counted too, but with an atomic
//! outside the lock, so counting never makes a reader wait for another reader.
//! Readers never block each other; a reader waits only for a writer in
//! progress (and, depending on the platform's lock, a writer that is queued).
//!
//! Checked in `models/rwlock_store.rs`: while one reader holds a view,
//! another reader gets one without waiting (a store whose readers exclude
//! each other is caught); every insert reports its own index; snapshots are
//! prefixes of the insertion order; counts add up.
//!
//! # Example
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
//! use heddle::concurrency::rwlock_store::Store;
//! use heddle::sync::thread;
//!
//! let store = Store::new();
//! store.insert("a");
//! let reader = {
//!     let store = store.clone();
//!     thread::spawn(move || store.snapshot())
//! };
//! store.insert("b");
//! let seen = reader.join().expect("reader panicked");
//! assert!(seen == ["a"] || seen == ["a", "b"]); // always a prefix
//! assert_eq!(store.len(), 2);
//! assert_eq!(store.access_count().writes, 2);
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```

use crate::sync::atomic::AtomicU64;
use crate::sync::atomic::Ordering::Relaxed;
use crate::sync::{Arc, RwLock, RwLockReadGuard};
use std::fmt;
use std::ops::Deref;

/// How often a [`Store`] was read and written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccessCount {
    /// Read operations started (`read`, `snapshot`, `get`, `len`).
    pub reads: u64,
    /// Inserts completed; always equal to the number of items.
    pub writes: u64,
}

struct Inner<T> {
    items: RwLock<Vec<T>>,
    reads: AtomicU64,
}

/// An append-only list that many threads read at once. Cloning gives another
/// handle to the same store.
pub struct Store<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Store<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> fmt::Debug for Store<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("reads", &self.inner.reads.load(Relaxed))
            .finish_non_exhaustive()
    }
}

impl<T> Default for Store<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Store<T> {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                items: RwLock::new(Vec::new()),
                reads: AtomicU64::new(0),
            }),
        }
    }

    /// Appends `item` and returns its index. The write lock is held for the
    /// push only.
    pub fn insert(&self, item: T) -> usize {
        let mut items = self.inner.items.write();
        items.push(item);
        items.len() - 1
    }

    /// A shared view of all items, holding the read lock until dropped.
    /// Other readers proceed concurrently; writers wait. Keep it short.
    pub fn read(&self) -> ReadGuard<'_, T> {
        self.count_read();
        ReadGuard {
            guard: self.inner.items.read(),
        }
    }

    /// A read view if one can be had without waiting: `None` only while a
    /// writer holds the lock (or, on some platforms, is queued for it), never
    /// because of other readers.
    pub fn try_read(&self) -> Option<ReadGuard<'_, T>> {
        self.count_read();
        let guard = self.inner.items.try_read()?;
        Some(ReadGuard { guard })
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads and writes so far. `writes` is read under the lock that
    /// `insert` holds, so it is exact; `reads` is a relaxed counter.
    pub fn access_count(&self) -> AccessCount {
        let writes = self.inner.items.read().len() as u64;
        AccessCount {
            reads: self.inner.reads.load(Relaxed),
            writes,
        }
    }

    fn count_read(&self) {
        // A relaxed atomic outside the lock: counting never serializes readers.
        self.inner.reads.fetch_add(1, Relaxed);
    }
}

impl<T: Clone> Store<T> {
    /// A copy of every item, in insertion order: always a prefix of what the
    /// store will ever hold.
    pub fn snapshot(&self) -> Vec<T> {
        self.read().to_vec()
    }

    /// A copy of the item at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<T> {
        self.read().get(index).cloned()
    }
}

/// A read guard over a [`Store`]'s items; dereferences to `[T]`.
pub struct ReadGuard<'a, T> {
    guard: RwLockReadGuard<'a, Vec<T>>,
}

impl<T> Deref for ReadGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.guard
    }
}

impl<T: fmt::Debug> fmt::Debug for ReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Defects reintroduced for the model checkers to catch. Only in
/// `loom`/`shuttle` builds; never use these.
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod broken {
    use super::Store;
    use crate::sync::{Mutex, MutexGuard};

    /// `insert` that computes the index under the read lock, then pushes
    /// under the write lock: two inserts can report the same index.
    pub fn racy_insert<T>(store: &Store<T>, item: T) -> usize {
        let index = store.len();
        store.inner.items.write().push(item);
        index
    }

    /// A store whose readers exclude each other (a `Mutex` where the
    /// `RwLock` should be): correct values, but a reader waits for every
    /// other reader.
    #[derive(Default)]
    pub struct ExclusiveStore<T> {
        items: Mutex<Vec<T>>,
    }

    impl<T> ExclusiveStore<T> {
        /// Appends.
        pub fn insert(&self, item: T) -> usize {
            let mut items = self.items.lock();
            items.push(item);
            items.len() - 1
        }

        /// "Shared" view that is in fact exclusive.
        pub fn read(&self) -> MutexGuard<'_, Vec<T>> {
            self.items.lock()
        }

        /// Non-blocking "shared" view; fails while any reader holds one.
        pub fn try_read(&self) -> Option<MutexGuard<'_, Vec<T>>> {
            self.items.try_lock()
        }
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn counts_reads_and_writes() {
        let s: Store<String> = Store::new();
        assert!(s.is_empty());
        assert_eq!(s.insert("x".into()), 0);
        assert_eq!(s.insert("y".into()), 1);
        assert_eq!(s.get(1).as_deref(), Some("y"));
        assert_eq!(s.get(2), None);
        assert_eq!(s.snapshot(), ["x", "y"]);
        let c = s.access_count();
        assert_eq!(c.writes, 2);
        assert_eq!(c.reads, 4); // is_empty, get, get, snapshot
    }

    #[test]
    fn two_read_guards_at_once() {
        let s: Store<u8> = Store::new();
        s.insert(1u8);
        let a = s.read();
        let b = s.read();
        assert_eq!(a[0] + b[0], 2);
    }
}
