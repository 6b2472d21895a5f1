//! The server's de-duplication window for keyed (non-idempotent) calls: a
//! pure state machine, no I/O, no clock.
//!
//! A call that carries an idempotency key is executed at most once per key:
//! the first arrival [`begin`](DedupWindow::begin)s it, arrivals while it runs
//! join it (and get its outcome when it [`finish`](DedupWindow::finish)es),
//! arrivals after it finished get the stored outcome. Memory is bounded: at
//! most `capacity` finished outcomes are kept, the oldest evicted first;
//! running entries are bounded by the server's connection and in-flight
//! limits.
//!
//! [`DedupStore`] is the shared, clonable handle the server uses. Keep one
//! store across server restarts (it stands for durable storage) and
//! [`recover`](DedupWindow::recover) turns executions a crash interrupted
//! into [`RemoteError::Interrupted`]: they are never run a second time.
//!
//! # Example
//!
//! ```
//! use heddle::distributed::rpc::dedup::{Begin, DedupWindow};
//!
//! let mut w: DedupWindow<&str> = DedupWindow::new(2);
//! assert!(matches!(w.begin(7, "first"), Begin::Execute));
//! assert!(matches!(w.begin(7, "retry"), Begin::Joined)); // still running
//! assert_eq!(w.finish(7, Ok(b"done".to_vec())), vec!["retry"]);
//! assert!(matches!(w.begin(7, "late"), Begin::Done(Ok(v)) if v == b"done"));
//! ```

use crate::wire::binary::RemoteError;
use std::collections::{HashMap, VecDeque};
// The RPC runs on tokio and turmoil, never inside a loom or shuttle model,
// so it uses std's lock (loom's and shuttle's panic outside a model).
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The outcome of one call, as sent in a reply.
pub type Outcome = Result<Vec<u8>, RemoteError>;

/// What to do with a keyed call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First arrival of this key: execute it, then call
    /// [`DedupWindow::finish`].
    Execute,
    /// The key is being executed; the waiter was queued and is returned by
    /// `finish`.
    Joined,
    /// The key was executed already; answer with this outcome.
    Done(Outcome),
}

#[derive(Debug)]
enum Entry<W> {
    Running(Vec<W>),
    Done(Outcome),
}

/// Keys seen recently and their outcomes. `W` is whatever the driver needs
/// to answer a joined duplicate later.
#[derive(Debug)]
pub struct DedupWindow<W> {
    capacity: usize,
    /// Looked up only, never iterated in an order that matters (keys are
    /// sorted where they are listed), so its random order leaks nowhere.
    entries: HashMap<u128, Entry<W>>,
    /// Finished keys, oldest first: the eviction order.
    finished: VecDeque<u128>,
}

impl<W> DedupWindow<W> {
    /// A window keeping at most `capacity` finished outcomes (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            finished: VecDeque::new(),
        }
    }

    /// Registers an arrival of `key`; `waiter` is kept only when the
    /// result is [`Begin::Joined`].
    pub fn begin(&mut self, key: u128, waiter: W) -> Begin {
        match self.entries.get_mut(&key) {
            None => {
                self.entries.insert(key, Entry::Running(Vec::new()));
                Begin::Execute
            }
            Some(Entry::Running(waiters)) => {
                waiters.push(waiter);
                Begin::Joined
            }
            Some(Entry::Done(outcome)) => Begin::Done(outcome.clone()),
        }
    }

    /// Records the outcome of `key`'s execution and returns the waiters that
    /// joined it. Evicts the oldest finished outcomes beyond the capacity.
    /// Finishing a key that is not running changes nothing and returns no
    /// waiters.
    pub fn finish(&mut self, key: u128, outcome: Outcome) -> Vec<W> {
        let waiters = match self.entries.get_mut(&key) {
            Some(entry @ Entry::Running(_)) => {
                match std::mem::replace(entry, Entry::Done(outcome)) {
                    Entry::Running(waiters) => waiters,
                    Entry::Done(_) => Vec::new(),
                }
            }
            // Unknown, or already done: keep the first outcome.
            _ => return Vec::new(),
        };
        self.finished.push_back(key);
        while self.finished.len() > self.capacity {
            if let Some(old) = self.finished.pop_front() {
                self.entries.remove(&old);
            }
        }
        waiters
    }

    /// After a restart: every execution still marked running was cut short
    /// by the crash. Each becomes [`RemoteError::Interrupted`] (so it is
    /// never executed again) and its waiters, which belonged to the dead
    /// server, are dropped. Returns how many were interrupted.
    pub fn recover(&mut self) -> usize {
        let mut running: Vec<u128> = self
            .entries
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Running(_)))
            .map(|(k, _)| *k)
            .collect();
        // The finish order decides eviction order: make it the keys' order,
        // not the map's.
        running.sort_unstable();
        for key in &running {
            drop(self.finish(*key, Err(RemoteError::Interrupted)));
        }
        running.len()
    }

    /// Keys currently remembered (running or finished).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// No key remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A shared [`DedupWindow`]: clones are the same window. Pass one to
/// [`ServerConfig::dedup_store`](super::ServerConfig::dedup_store) and keep
/// it across server restarts when the handlers' effects survive restarts
/// too.
///
/// ```
/// use heddle::distributed::rpc::dedup::DedupStore;
/// let store = DedupStore::new(10_000);
/// assert!(store.is_empty());
/// ```
#[derive(Debug, Clone)]
pub struct DedupStore {
    inner: Arc<Mutex<DedupWindow<super::server::Joiner>>>,
}

impl DedupStore {
    /// An empty store keeping at most `capacity` finished outcomes.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(DedupWindow::new(capacity))),
        }
    }

    /// Keys currently remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// No key remembered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The window. Nothing panics while holding it, and a poisoned lock
    /// still holds a consistent window, so poisoning is ignored.
    pub(super) fn lock(&self) -> MutexGuard<'_, DedupWindow<super::server::Joiner>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn evicts_oldest_finished_beyond_capacity() {
        let mut w: DedupWindow<()> = DedupWindow::new(2);
        for k in 0..3u128 {
            assert_eq!(w.begin(k, ()), Begin::Execute);
            w.finish(k, Ok(vec![k as u8]));
        }
        assert_eq!(w.len(), 2);
        // Key 0 was evicted: it would run again (the documented limit).
        assert_eq!(w.begin(0, ()), Begin::Execute);
        assert_eq!(w.begin(2, ()), Begin::Done(Ok(vec![2])));
    }

    #[test]
    fn running_keys_are_never_evicted() {
        let mut w: DedupWindow<()> = DedupWindow::new(1);
        assert_eq!(w.begin(1, ()), Begin::Execute);
        for k in 2..5u128 {
            w.begin(k, ());
            w.finish(k, Ok(vec![]));
        }
        assert_eq!(w.begin(1, ()), Begin::Joined);
    }

    #[test]
    fn recover_interrupts_running_and_keeps_finished() {
        let mut w: DedupWindow<u8> = DedupWindow::new(8);
        w.begin(1, 0);
        w.begin(1, 9);
        w.begin(2, 0);
        w.finish(2, Ok(vec![2]));
        assert_eq!(w.recover(), 1);
        assert_eq!(w.begin(1, 0), Begin::Done(Err(RemoteError::Interrupted)));
        assert_eq!(w.begin(2, 0), Begin::Done(Ok(vec![2])));
    }

    #[test]
    fn finishing_twice_keeps_the_first_outcome() {
        let mut w: DedupWindow<()> = DedupWindow::new(8);
        w.begin(1, ());
        w.finish(1, Ok(vec![1]));
        assert!(w.finish(1, Ok(vec![2])).is_empty());
        assert_eq!(w.begin(1, ()), Begin::Done(Ok(vec![1])));
        assert!(w.finish(99, Ok(vec![])).is_empty());
    }
}
