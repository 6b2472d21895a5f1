//! The server's de-duplication window for keyed (non-idempotent) calls: a
//! pure state machine, no I/O, no clock.
//!
//! A call that carries an idempotency key is executed at most once per key
//! ([`Key`]: the caller's client id and its key, so two clients' keys never
//! meet):
//! the first arrival [`begin`](DedupWindow::begin)s it, arrivals while it runs
//! join it (and get its outcome when it [`finish`](DedupWindow::finish)es),
//! arrivals after it finished get the stored outcome. Each entry keeps the
//! [`fingerprint`] of the call's method and arguments: an arrival under the
//! same key with a different fingerprint is a reused key, answered
//! [`Begin::Mismatch`], never with the other call's outcome (as payment
//! APIs treat an idempotency key reused with different parameters).
//! Memory is bounded: at
//! most `capacity` finished outcomes are kept, the oldest evicted first;
//! running entries are bounded by the server's connection and in-flight
//! limits.
//!
//! [`DedupStore`] is the shared, clonable handle the server uses, on the
//! task facade ([`crate::sync::task`]); each connection reaches it through
//! a [`keyed::Port`](super::keyed::Port), which is where connections'
//! tasks race (and where shuttle races them). Keep one
//! store across server restarts (it stands for durable storage) and
//! [`recover`](DedupWindow::recover) turns executions a crash interrupted
//! into [`RemoteError::Interrupted`]: they are never run a second time.
//!
//! # Example
//!
//! ```
//! use heddle::distributed::rpc::dedup::{Begin, DedupWindow, Key, fingerprint};
//!
//! let mut w: DedupWindow<&str> = DedupWindow::new(2);
//! let (key, fp) = (Key { client: 1, key: 7 }, fingerprint("add", b"\x01\x02"));
//! assert!(matches!(w.begin(key, fp, "first"), Begin::Execute));
//! assert!(matches!(w.begin(key, fp, "retry"), Begin::Joined)); // still running
//! assert_eq!(w.finish(key, Ok(b"done".to_vec())), vec!["retry"]);
//! assert!(matches!(w.begin(key, fp, "late"), Begin::Done(Ok(v)) if v == b"done"));
//! // The same key with other arguments: refused, not answered "done".
//! assert!(matches!(w.begin(key, fingerprint("add", b"\x09"), "other"), Begin::Mismatch));
//! // Another client's key 7 is another key.
//! assert!(matches!(w.begin(Key { client: 2, key: 7 }, fp, "b"), Begin::Execute));
//! ```

use crate::sync::task::{Arc, SyncMutex, SyncMutexGuard, mpsc};
use crate::wire::binary::RemoteError;
use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;
use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};

/// The outcome of one call, as sent in a reply.
pub type Outcome = Result<Vec<u8>, RemoteError>;

/// A keyed call's identity in the window: the caller's client id (from its
/// handshake) and the call's idempotency key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// The client id the caller presented at the handshake.
    pub client: u128,
    /// The call's idempotency key.
    pub key: u128,
}

/// A stable 64-bit fingerprint (FNV-1a) of a call's method and arguments:
/// the same in every process and release, unlike `std`'s `DefaultHasher`.
/// Not a defence against an adversary (it is not keyed); it tells a retry
/// from a different call that reused the key by mistake.
pub fn fingerprint(method: &str, args: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let len = (method.len() as u64).to_le_bytes();
    len.iter()
        .chain(method.as_bytes())
        .chain(args)
        .fold(OFFSET, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME))
}

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
    /// The key is known with a different fingerprint: a reused key. Answer
    /// [`RemoteError::KeyReused`]; nothing is executed or joined.
    Mismatch,
}

/// A key being executed, and the duplicates that joined it.
#[derive(Debug)]
struct Running<W> {
    key: Key,
    /// The key's hash, kept so growth never hashes again.
    hash: u64,
    fingerprint: u64,
    waiters: Vec<W>,
}

/// A key executed, and its outcome.
#[derive(Debug)]
struct Done {
    key: Key,
    /// The key's hash, kept so eviction and growth never hash again.
    hash: u64,
    fingerprint: u64,
    outcome: Outcome,
}

/// Keys seen recently and their outcomes. `W` is whatever the driver needs
/// to answer a joined duplicate later.
///
/// Finished keys sit in a ring in the order they finished, which is the
/// order they are evicted in; a hash index maps each to its place in the
/// ring. A full window (the steady state of a busy server) touches, per
/// call, three places in that index at random (look up, insert, evict)
/// and the ring only at its two ends, where a table of whole entries
/// touched as many entries at random in a table ten times larger (about
/// 12 MB at the default capacity): cache misses that were the larger part
/// of the window's time.
#[derive(Debug)]
pub struct DedupWindow<W> {
    capacity: usize,
    /// Keys being executed (bounded by the servers' in-flight limits).
    /// Looked up only, never iterated in an order that matters (keys are
    /// sorted where they are listed), so its random order leaks nowhere.
    running: HashTable<Running<W>>,
    /// Finished keys, oldest first; `done[i]` has sequence number
    /// `base + i`.
    done: VecDeque<Done>,
    base: u64,
    /// The sequence number of each finished key, found by the key's hash.
    index: HashTable<u64>,
    /// SipHash with a key drawn from the OS: callers choose the keys, so
    /// the tables must not let them choose collisions.
    hasher: RandomState,
}

impl<W> DedupWindow<W> {
    /// A window keeping at most `capacity` finished outcomes (at least 1).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            running: HashTable::new(),
            done: VecDeque::new(),
            base: 0,
            index: HashTable::new(),
            hasher: RandomState::new(),
        }
    }

    fn hash(&self, key: &Key) -> u64 {
        self.hasher.hash_one(key)
    }

    /// The finished entry of `key` (whose hash is `hash`), if remembered.
    fn find_done(&self, hash: u64, key: &Key) -> Option<&Done> {
        let at = |seq: u64| ring_at(&self.done, self.base, seq);
        let seq = self
            .index
            .find(hash, |&seq| at(seq).is_some_and(|d| d.key == *key))?;
        at(*seq)
    }

    /// Registers an arrival of `key` for a call with `fingerprint`;
    /// `waiter` is kept only when the result is [`Begin::Joined`].
    pub fn begin(&mut self, key: Key, fingerprint: u64, waiter: W) -> Begin {
        let hash = self.hash(&key);
        if let Some(done) = self.find_done(hash, &key) {
            return if done.fingerprint == fingerprint {
                Begin::Done(done.outcome.clone())
            } else {
                Begin::Mismatch
            };
        }
        match self.running.entry(hash, |r| r.key == key, |r| r.hash) {
            Slot::Vacant(vacant) => {
                vacant.insert(Running {
                    key,
                    hash,
                    fingerprint,
                    waiters: Vec::new(),
                });
                Begin::Execute
            }
            Slot::Occupied(occupied) if occupied.get().fingerprint != fingerprint => {
                Begin::Mismatch
            }
            Slot::Occupied(mut occupied) => {
                occupied.get_mut().waiters.push(waiter);
                Begin::Joined
            }
        }
    }

    /// Records the outcome of `key`'s execution and returns the waiters that
    /// joined it. Evicts the oldest finished outcomes beyond the capacity.
    /// Finishing a key that is not running changes nothing and returns no
    /// waiters.
    pub fn finish(&mut self, key: Key, outcome: Outcome) -> Vec<W> {
        let hash = self.hash(&key);
        // Unknown, or already done: keep the first outcome.
        let Ok(running) = self.running.find_entry(hash, |r| r.key == key) else {
            return Vec::new();
        };
        let (running, _) = running.remove();
        let seq = self.base + self.done.len() as u64;
        let (done, base) = (&self.done, self.base);
        let hash_of = |&seq: &u64| ring_at(done, base, seq).map_or(0, |d| d.hash);
        self.index.insert_unique(hash, seq, hash_of);
        self.done.push_back(Done {
            key,
            hash,
            fingerprint: running.fingerprint,
            outcome,
        });
        while self.done.len() > self.capacity {
            self.evict_oldest();
        }
        running.waiters
    }

    /// Forgets the oldest finished key.
    fn evict_oldest(&mut self) {
        let Some(oldest) = self.done.pop_front() else {
            return;
        };
        let seq = self.base;
        self.base += 1;
        if let Ok(found) = self.index.find_entry(oldest.hash, |&s| s == seq) {
            found.remove();
        }
    }

    /// After a restart: every execution still marked running was cut short
    /// by the crash. Each becomes [`RemoteError::Interrupted`] (so it is
    /// never executed again) and its waiters, which belonged to the dead
    /// server, are dropped. Returns how many were interrupted.
    pub fn recover(&mut self) -> usize {
        let mut running: Vec<Key> = self.running.iter().map(|r| r.key).collect();
        // The finish order decides eviction order: make it the keys' order,
        // not the table's.
        running.sort_unstable();
        for key in &running {
            drop(self.finish(*key, Err(RemoteError::Interrupted)));
        }
        running.len()
    }

    /// Keys currently remembered (running or finished).
    pub fn len(&self) -> usize {
        self.running.len() + self.done.len()
    }

    /// Whether `key` is remembered (running or finished).
    pub fn contains(&self, key: &Key) -> bool {
        let hash = self.hash(key);
        self.running.find(hash, |r| r.key == *key).is_some() || self.find_done(hash, key).is_some()
    }

    /// No key remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The entry with sequence number `seq` in a ring whose first has `base`.
fn ring_at(ring: &VecDeque<Done>, base: u64, seq: u64) -> Option<&Done> {
    ring.get(usize::try_from(seq.checked_sub(base)?).ok()?)
}

/// A shared [`DedupWindow`]: clones are the same window. Pass one to
/// [`ServerConfig::dedup_store`](super::ServerConfig::dedup_store) and keep
/// it across server restarts when the handlers' effects survive restarts
/// too.
///
/// ```
/// # #[cfg(not(feature = "shuttle"))] fn main() {
/// use heddle::distributed::rpc::dedup::DedupStore;
/// let store = DedupStore::new(10_000);
/// assert!(store.is_empty());
/// # }
/// # #[cfg(feature = "shuttle")] fn main() {}
/// ```
#[derive(Debug, Clone)]
pub struct DedupStore {
    inner: Arc<SyncMutex<DedupWindow<Joiner>>>,
}

/// Answers a duplicate that joined a running execution: the channel its
/// connection listens on, and its call id there.
#[derive(Debug)]
pub struct Joiner {
    tx: mpsc::UnboundedSender<(u64, Outcome)>,
    id: u64,
}

impl Joiner {
    /// Call `id` of the connection that listens on `tx`.
    pub(super) fn new(tx: mpsc::UnboundedSender<(u64, Outcome)>, id: u64) -> Self {
        Self { tx, id }
    }

    /// The same connection, another call id (the `JoinWrongId` defect).
    #[cfg(feature = "defects")]
    pub(super) fn with_id(self, id: u64) -> Self {
        Self { id, ..self }
    }

    /// Hands `outcome` to the joined call's connection. A connection that
    /// closed no longer needs it.
    pub(super) fn answer(self, outcome: &Outcome) {
        let _ = self.tx.send((self.id, outcome.clone()));
    }
}

impl DedupStore {
    /// An empty store keeping at most `capacity` finished outcomes.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(SyncMutex::new(DedupWindow::new(capacity))),
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

    /// The window, for one synchronous step (never held across an
    /// `.await`). Nothing panics while holding it, and a poisoned lock still
    /// holds a consistent window, so poisoning is recovered.
    pub(super) fn lock(&self) -> SyncMutexGuard<'_, DedupWindow<Joiner>> {
        self.inner.lock()
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    fn k(key: u128) -> Key {
        Key { client: 1, key }
    }

    #[test]
    fn evicts_oldest_finished_beyond_capacity() {
        let mut w: DedupWindow<()> = DedupWindow::new(2);
        for n in 0..3u128 {
            assert_eq!(w.begin(k(n), 0, ()), Begin::Execute);
            w.finish(k(n), Ok(vec![n as u8]));
        }
        assert_eq!(w.len(), 2);
        // Key 0 was evicted: it would run again (the documented limit).
        assert_eq!(w.begin(k(0), 0, ()), Begin::Execute);
        assert_eq!(w.begin(k(2), 0, ()), Begin::Done(Ok(vec![2])));
    }

    #[test]
    fn running_keys_are_never_evicted() {
        let mut w: DedupWindow<()> = DedupWindow::new(1);
        assert_eq!(w.begin(k(1), 0, ()), Begin::Execute);
        for n in 2..5u128 {
            w.begin(k(n), 0, ());
            w.finish(k(n), Ok(vec![]));
        }
        assert_eq!(w.begin(k(1), 0, ()), Begin::Joined);
    }

    #[test]
    fn recover_interrupts_running_and_keeps_finished() {
        let mut w: DedupWindow<u8> = DedupWindow::new(8);
        w.begin(k(1), 0, 0);
        w.begin(k(1), 0, 9);
        w.begin(k(2), 0, 0);
        w.finish(k(2), Ok(vec![2]));
        assert_eq!(w.recover(), 1);
        assert_eq!(
            w.begin(k(1), 0, 0),
            Begin::Done(Err(RemoteError::Interrupted))
        );
        assert_eq!(w.begin(k(2), 0, 0), Begin::Done(Ok(vec![2])));
    }

    #[test]
    fn finishing_twice_keeps_the_first_outcome() {
        let mut w: DedupWindow<()> = DedupWindow::new(8);
        w.begin(k(1), 0, ());
        w.finish(k(1), Ok(vec![1]));
        assert!(w.finish(k(1), Ok(vec![2])).is_empty());
        assert_eq!(w.begin(k(1), 0, ()), Begin::Done(Ok(vec![1])));
        assert!(w.finish(k(99), Ok(vec![])).is_empty());
    }

    /// Fails on the window before scoping and fingerprints (keyed by the
    /// bare key): client 2's key 5 was answered with client 1's outcome.
    #[test]
    fn keys_are_scoped_by_client_and_checked_by_fingerprint() {
        let mut w: DedupWindow<()> = DedupWindow::new(8);
        let (a, b) = (fingerprint("add", &[1, 2]), fingerprint("add", &[3, 4]));
        assert_eq!(w.begin(Key { client: 1, key: 5 }, a, ()), Begin::Execute);
        w.finish(Key { client: 1, key: 5 }, Ok(vec![3]));
        assert_eq!(w.begin(Key { client: 2, key: 5 }, b, ()), Begin::Execute);
        // Running or done, a different fingerprint never gets the outcome.
        assert_eq!(w.begin(Key { client: 2, key: 5 }, a, ()), Begin::Mismatch);
        assert_eq!(w.begin(Key { client: 1, key: 5 }, b, ()), Begin::Mismatch);
        assert_eq!(
            w.begin(Key { client: 1, key: 5 }, a, ()),
            Begin::Done(Ok(vec![3]))
        );
    }

    #[test]
    fn fingerprints_separate_method_from_arguments() {
        assert_ne!(fingerprint("ab", b"c"), fingerprint("a", b"bc"));
        assert_eq!(fingerprint("add", b"xy"), fingerprint("add", b"xy"));
        // Pinned: the fingerprint must not change between releases (a
        // window kept across a restart compares fingerprints of both).
        assert_eq!(fingerprint("", b""), 0xa8c7_f832_281a_39c5);
    }
}
