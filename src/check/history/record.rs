//! [`Recorder`]: records a [`History`] from many threads or tasks.
//!
//! It uses `std::sync` directly, not the [`crate::sync`] facade: recording
//! is test equipment around the code under test, not a pattern that loom or
//! shuttle should explore, and its lock is held only to append one event.
//!
//! Times are the recorder's own logical clock: every invocation and
//! completion takes the next tick under the lock, so the recorded order is
//! the real-time order the checker needs (an invocation recorded before the
//! operation starts and a completion recorded after it ends bracket its
//! effect). Memory: one [`Operation`] per invocation.

use super::{ClientId, Completion, History, OpId, Operation};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Identifies an invoked operation so that it can be completed.
///
/// Dropping a handle without [`Recorder::complete`] leaves the operation's
/// outcome unknown, which is exactly what a timeout or a crash means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpHandle(OpId);

impl OpHandle {
    /// The operation's id in the recorded history.
    pub fn id(self) -> OpId {
        self.0
    }
}

struct Inner<O, R> {
    clock: u64,
    history: History<O, R>,
}

/// Records operations from any number of threads or tasks; clones share one
/// history.
///
/// ```
/// use heddle::check::history::Recorder;
/// use heddle::check::history::models::{QueueOp, QueueRet};
///
/// let rec: Recorder<QueueOp<u32>, QueueRet<u32>> = Recorder::new();
/// let r2 = rec.clone();
/// std::thread::spawn(move || {
///     let h = r2.invoke(7, QueueOp::Enqueue(1));
///     r2.complete(h, QueueRet::Enqueued);
/// })
/// .join()
/// .unwrap();
/// assert_eq!(rec.history().len(), 1);
/// ```
pub struct Recorder<O, R> {
    inner: Arc<Mutex<Inner<O, R>>>,
}

impl<O, R> Clone for Recorder<O, R> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<O, R> Default for Recorder<O, R> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                clock: 0,
                history: History::new(),
            })),
        }
    }
}

impl<O, R> std::fmt::Debug for Recorder<O, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let g = self.lock();
        f.debug_struct("Recorder")
            .field("ops", &g.history.len())
            .field("clock", &g.clock)
            .finish()
    }
}

impl<O, R> Recorder<O, R> {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner<O, R>> {
        // A panic while appending leaves the history consistent (push is
        // the last step), so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records that `client` invokes `op` now. Call it before the operation
    /// can take effect.
    pub fn invoke(&self, client: ClientId, op: O) -> OpHandle {
        let mut g = self.lock();
        g.clock += 1;
        let invoked = g.clock;
        OpHandle(g.history.push(Operation {
            client,
            op,
            invoked,
            completed: None,
        }))
    }

    /// Records that the operation of `handle` returned `ret` now. Call it
    /// after the operation's effect. A second completion of the same
    /// handle is ignored (the first one stands) and logged.
    pub fn complete(&self, handle: OpHandle, ret: R) {
        let mut g = self.lock();
        g.clock += 1;
        let at = g.clock;
        match g.history.ops.get_mut(handle.0) {
            Some(op) if op.completed.is_none() => op.completed = Some(Completion { at, ret }),
            _ => tracing::warn!(op = handle.0, "operation completed twice; ignored"),
        }
    }

    /// A copy of the history recorded so far (operations still open have an
    /// unknown outcome).
    pub fn history(&self) -> History<O, R>
    where
        O: Clone,
        R: Clone,
    {
        self.lock().history.clone()
    }

    /// Takes the history recorded so far, leaving the recorder empty (its
    /// clock keeps running).
    pub fn take(&self) -> History<O, R> {
        std::mem::take(&mut self.lock().history)
    }
}
