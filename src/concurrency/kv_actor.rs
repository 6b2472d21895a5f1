//! Key-value actor: one thread owns a map, clients talk to it by messages
//! (guide §1.4).
//!
//! **What.** [`spawn`] starts an actor thread that owns a
//! [`BTreeMap`] and returns an [`ActorRef`], a cheap, clonable,
//! `Send + Sync` handle. Every operation ([`get`](ActorRef::get),
//! [`set`](ActorRef::set), [`delete`](ActorRef::delete),
//! [`update`](ActorRef::update)) is a request with its own reply channel:
//! the call returns once the actor has applied it, with the answer. The actor
//! handles requests one at a time, so the operations are linearizable, and
//! [`update`](ActorRef::update) is an atomic read-modify-write: its closure
//! runs on the actor thread, between two other requests.
//!
//! [`shutdown`](ActorRef::shutdown) stops accepting requests, lets the actor
//! answer every request already queued, joins the actor thread and returns
//! the final map. Any call after that (through any clone) returns
//! [`ActorError::Stopped`]: nothing panics, nothing blocks forever. There is
//! no shutdown *message*: the handles share the only `Sender` of the request
//! channel, and shutdown drops it, so no request can be queued behind the
//! end and left unanswered. Dropping the last `ActorRef` stops the actor
//! too (without joining it).
//!
//! **When.** State that many threads use but that is easier to reason about
//! with one owner: no lock is held across user code, operations never
//! interleave, and richer commands (transactions, `update`) are just more
//! message kinds. The price is a channel round trip per call.
//!
//! **Compared to.** A [`RwLock`]`<BTreeMap>` (see
//! `rwlock_store`) is faster for read-mostly data and lets readers run in
//! parallel, but every compound operation needs care with the lock. A
//! `tokio` actor (an `mpsc` receiver in a spawned task, `oneshot` replies)
//! is the same design for async code; `actix` adds supervision and
//! mailboxes. The guide's version has fire-and-forget `set`/`delete` (the
//! caller never learns whether they were applied), stops on a `Shutdown`
//! message, and from then on every call panics (`expect`). A client-side
//! read-modify-write (`get` then `set`) loses updates under concurrency;
//! use [`update`](ActorRef::update).
//!
//! Checked in `models/kv_actor.rs` (answers consistent with a serial order of
//! each thread's operations; `update` loses no increment; a call racing
//! shutdown is answered or refused, never stuck, and calls after shutdown are
//! errors). The client-side `get`-then-`set` increment is reintroduced there
//! and caught by loom and shuttle.
//!
//! # Example
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))]
//! # fn main() -> Result<(), heddle::concurrency::kv_actor::ActorError> {
//! use heddle::concurrency::kv_actor::{self, ActorError};
//! use heddle::sync::thread;
//!
//! let kv = kv_actor::spawn::<String, u32>();
//! kv.set("a".into(), 1)?;
//! // An atomic read-modify-write, run by the actor between two requests.
//! let bump = |n: Option<&u32>| Some(n.copied().unwrap_or(0) + 1);
//! let kv2 = kv.clone();
//! let t = thread::spawn(move || kv2.update("hits".into(), bump));
//! kv.update("hits".into(), bump)?;
//! t.join().expect("client panicked")?;
//! assert_eq!(kv.get("hits".into())?, Some(2));
//! assert_eq!(kv.delete("a".into())?, Some(1));
//!
//! let last = kv.shutdown()?; // joins the actor thread
//! assert_eq!(last.into_iter().collect::<Vec<_>>(), [("hits".to_string(), 2)]);
//! assert_eq!(kv.get("hits".into()), Err(ActorError::Stopped));
//! # Ok(())
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::sync::channel::{self, Receiver, Sender};
use crate::sync::thread::{self, JoinHandle};
use crate::sync::{Arc, Mutex, RwLock};

/// Errors of the key-value actor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActorError {
    /// The actor is shut down (or gone): the request was not applied.
    #[error("the key-value actor is stopped")]
    Stopped,
    /// The closure passed to [`ActorRef::update`] panicked; the entry was
    /// left unchanged and the actor carries on.
    #[error("update function panicked: {0}")]
    UpdatePanicked(String),
    /// [`ActorRef::shutdown`] found that the actor thread had panicked.
    #[error("the actor thread panicked")]
    ActorPanicked,
}

/// The answer to one request: the value the operation reports.
type Reply<V> = Sender<Result<Option<V>, ActorError>>;
/// The closure of an `update` request.
type UpdateFn<V> = Box<dyn FnOnce(Option<&V>) -> Option<V> + Send>;

enum Request<K, V> {
    Get(K, Reply<V>),
    Set(K, V, Reply<V>),
    Delete(K, Reply<V>),
    Update(K, UpdateFn<V>, Reply<V>),
}

/// What every clone of an [`ActorRef`] shares.
struct Shared<K, V> {
    /// The only sender of the request channel; `None` once shut down.
    /// Callers send under the read lock, shutdown takes it under the write
    /// lock: a request is either queued before the channel closes or refused.
    requests: RwLock<Option<Sender<Request<K, V>>>>,
    /// The actor thread, until someone joins it. Held while joining, so a
    /// concurrent second `shutdown` waits for the join too.
    thread: Mutex<Option<JoinHandle<BTreeMap<K, V>>>>,
}

/// A handle to a key-value actor. Clone it to use the actor from other
/// threads; all clones talk to the same actor.
pub struct ActorRef<K, V> {
    shared: Arc<Shared<K, V>>,
}

/// Starts an actor with an empty map.
pub fn spawn<K, V>() -> ActorRef<K, V>
where
    K: Ord + Send + 'static,
    V: Clone + Send + 'static,
{
    spawn_with(BTreeMap::new())
}

/// Starts an actor owning `initial`.
pub fn spawn_with<K, V>(initial: BTreeMap<K, V>) -> ActorRef<K, V>
where
    K: Ord + Send + 'static,
    V: Clone + Send + 'static,
{
    let (tx, rx) = channel::unbounded();
    let handle = thread::spawn(move || run(&rx, initial));
    ActorRef {
        shared: Arc::new(Shared {
            requests: RwLock::new(Some(tx)),
            thread: Mutex::new(Some(handle)),
        }),
    }
}

/// The actor: answer requests in order until the channel is closed and
/// drained, then hand the map back to whoever joins the thread.
fn run<K: Ord, V: Clone>(
    requests: &Receiver<Request<K, V>>,
    mut map: BTreeMap<K, V>,
) -> BTreeMap<K, V> {
    tracing::debug!(entries = map.len(), "kv actor started");
    for request in requests.iter() {
        let (answer, reply) = match request {
            Request::Get(key, reply) => (Ok(map.get(&key).cloned()), reply),
            Request::Set(key, value, reply) => (Ok(map.insert(key, value)), reply),
            Request::Delete(key, reply) => (Ok(map.remove(&key)), reply),
            Request::Update(key, f, reply) => (apply(&mut map, key, f), reply),
        };
        if reply.send(answer).is_err() {
            tracing::trace!("kv actor: caller went away before the reply");
        }
    }
    tracing::debug!(
        entries = map.len(),
        "kv actor stopped: channel closed and drained"
    );
    map
}

/// Runs an update closure on the entry; a panic leaves the entry unchanged.
fn apply<K: Ord, V: Clone>(
    map: &mut BTreeMap<K, V>,
    key: K,
    f: UpdateFn<V>,
) -> Result<Option<V>, ActorError> {
    let new = catch_unwind(AssertUnwindSafe(|| f(map.get(&key)))).map_err(|payload| {
        let message = crate::panic::message(payload.as_ref());
        tracing::warn!(%message, "kv actor: update function panicked");
        ActorError::UpdatePanicked(message)
    })?;
    match &new {
        Some(value) => map.insert(key, value.clone()),
        None => map.remove(&key),
    };
    Ok(new)
}

impl<K, V> ActorRef<K, V>
where
    K: Ord + Send + 'static,
    V: Clone + Send + 'static,
{
    /// Sends one request and waits for its answer.
    fn call(
        &self,
        request: impl FnOnce(Reply<V>) -> Request<K, V>,
    ) -> Result<Option<V>, ActorError> {
        let (reply, answer) = channel::bounded(1);
        {
            let requests = self.shared.requests.read();
            let tx = requests.as_ref().ok_or(ActorError::Stopped)?;
            // Unbounded: never blocks, so the read lock is held only briefly.
            tx.send(request(reply)).map_err(|_| ActorError::Stopped)?;
        }
        // The actor answers every queued request before it exits; a closed
        // reply channel means the actor thread died.
        answer.recv().map_err(|_| ActorError::Stopped)?
    }

    /// The value of `key`, if any.
    pub fn get(&self, key: K) -> Result<Option<V>, ActorError> {
        self.call(|reply| Request::Get(key, reply))
    }

    /// Sets `key` to `value`; returns the previous value, if any.
    pub fn set(&self, key: K, value: V) -> Result<Option<V>, ActorError> {
        self.call(|reply| Request::Set(key, value, reply))
    }

    /// Removes `key`; returns the removed value, if any.
    pub fn delete(&self, key: K) -> Result<Option<V>, ActorError> {
        self.call(|reply| Request::Delete(key, reply))
    }

    /// Atomically replaces the entry of `key` with `f(current)`: `Some`
    /// stores the value, `None` removes the entry. Returns the new value.
    ///
    /// `f` runs on the actor thread, with no other request in between. It
    /// must not call this actor (it would wait for itself). If `f` panics,
    /// the entry is unchanged and the call returns
    /// [`ActorError::UpdatePanicked`].
    pub fn update<F>(&self, key: K, f: F) -> Result<Option<V>, ActorError>
    where
        F: FnOnce(Option<&V>) -> Option<V> + Send + 'static,
    {
        self.call(|reply| Request::Update(key, Box::new(f), reply))
    }

    /// Stops the actor: refuses new requests, lets the actor answer every
    /// request already queued, joins the actor thread and returns the final
    /// map.
    ///
    /// Returns [`ActorError::Stopped`] if the actor was already shut down
    /// (a concurrent second call returns only once the first has joined the
    /// thread), and [`ActorError::ActorPanicked`] if the actor thread
    /// panicked. Must not be called from an [`update`](Self::update) closure.
    pub fn shutdown(&self) -> Result<BTreeMap<K, V>, ActorError> {
        let mut thread = self.shared.thread.lock();
        if let Some(tx) = self.shared.requests.write().take() {
            tracing::debug!("kv actor: shutting down");
            // The actor sees the channel closed once it has drained it.
            drop(tx);
        }
        let handle = thread.take().ok_or(ActorError::Stopped)?;
        handle.join().map_err(|_| ActorError::ActorPanicked)
    }

    /// Whether the actor still accepts requests.
    pub fn is_running(&self) -> bool {
        self.shared.requests.read().is_some()
    }
}

impl<K, V> Clone for ActorRef<K, V> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K, V> std::fmt::Debug for ActorRef<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActorRef")
            .field("running", &self.shared.requests.read().is_some())
            .finish()
    }
}

/// The defect `update` exists to avoid, reintroduced for the model checkers
/// to catch. Only in `loom`/`shuttle` builds; never use this.
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod broken {
    use super::{ActorError, ActorRef};

    /// A client-side read-modify-write: `get`, add one, `set`. Each call is
    /// atomic, the pair is not: two concurrent increments can both read the
    /// same value, and one is lost. Returns the value it stored.
    pub fn increment<K>(actor: &ActorRef<K, u64>, key: K) -> Result<Option<u64>, ActorError>
    where
        K: Ord + Clone + Send + 'static,
    {
        let next = actor.get(key.clone())?.unwrap_or(0) + 1;
        actor.set(key, next)?;
        Ok(Some(next))
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn get_set_delete_update() {
        let kv = spawn::<&'static str, i32>();
        assert_eq!(kv.get("a"), Ok(None));
        assert_eq!(kv.set("a", 1), Ok(None));
        assert_eq!(kv.set("a", 2), Ok(Some(1)));
        assert_eq!(kv.get("a"), Ok(Some(2)));
        assert_eq!(kv.update("a", |v| v.map(|v| v * 10)), Ok(Some(20)));
        assert_eq!(kv.update("b", |v| v.map(|v| v * 10)), Ok(None));
        assert_eq!(kv.get("b"), Ok(None), "None from update stores nothing");
        assert_eq!(kv.update("a", |_| None), Ok(None));
        assert_eq!(kv.get("a"), Ok(None), "None from update removes the entry");
        assert_eq!(kv.set("c", 3), Ok(None));
        assert_eq!(kv.delete("c"), Ok(Some(3)));
        assert_eq!(kv.delete("c"), Ok(None));
        assert_eq!(kv.shutdown(), Ok(BTreeMap::new()));
    }

    #[test]
    fn calls_after_shutdown_are_errors_on_every_clone() {
        let kv = spawn_with(BTreeMap::from([(1u8, "one".to_owned())]));
        let other = kv.clone();
        assert!(kv.is_running());
        assert_eq!(kv.shutdown(), Ok(BTreeMap::from([(1u8, "one".to_owned())])));
        assert!(!other.is_running());
        assert_eq!(other.get(1), Err(ActorError::Stopped));
        assert_eq!(other.set(2, "two".into()), Err(ActorError::Stopped));
        assert_eq!(other.delete(1), Err(ActorError::Stopped));
        assert_eq!(other.update(1, |_| None), Err(ActorError::Stopped));
        assert_eq!(other.shutdown(), Err(ActorError::Stopped));
    }

    #[test]
    fn panicking_update_leaves_the_entry_and_the_actor_alive() {
        let kv = spawn::<u8, u8>();
        kv.set(1, 7).expect("running");
        let r = kv.update(1, |_| panic!("boom"));
        assert_eq!(r, Err(ActorError::UpdatePanicked("boom".into())));
        assert_eq!(kv.get(1), Ok(Some(7)));
        assert_eq!(kv.shutdown().map(|m| m.len()), Ok(1));
    }

    #[test]
    fn concurrent_updates_lose_nothing() {
        let kv = spawn::<&'static str, u64>();
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let kv = kv.clone();
                crate::sync::thread::spawn(move || {
                    for _ in 0..250 {
                        kv.update("n", |n| Some(n.copied().unwrap_or(0) + 1))
                            .expect("running");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().expect("client panicked");
        }
        assert_eq!(kv.get("n"), Ok(Some(1000)));
        assert_eq!(kv.shutdown().map(|m| m["n"]), Ok(1000));
    }
}
