//! Typed histories of concurrent operations and a linearizability checker.
//!
//! A [`History`] lists what clients saw: each [`Operation`] was invoked at
//! some time and either completed later with a result, or never answered
//! (the client timed out or crashed: its outcome is *unknown*). The
//! [`check`] function asks whether some total order of the operations,
//! consistent with real time (an operation that completed before another
//! was invoked comes first), explains every result under a sequential
//! [`Model`]. That is linearizability (Herlihy & Wing, 1990).
//!
//! - [`Recorder`]: records a history from many threads or tasks;
//! - [`Model`]: a sequential specification; [`models`] ships a
//!   read/write/compare-and-set register, a key-value map (partitioned by
//!   key), a lock/lease with fencing tokens, a FIFO queue and a set;
//! - [`check`] / [`Checker`]: the Wing–Gong search with Lowe's memoisation
//!   of (linearized set, state) and P-compositionality, under a step or time
//!   [`Budget`]; a violation names the smallest failing partition, the
//!   longest prefix that linearizes and the operation that cannot be placed;
//! - [`parse`]: Jepsen etcd logs, Jepsen/Porcupine EDN key-value histories
//!   and heddle's own JSONL format, with typed errors carrying file and line;
//! - [`view`]: a self-contained HTML/SVG picture of a checked history.
//!
//! Compared to Porcupine (Go), the search is the same algorithm but
//! monomorphised over the model (no boxed states), with an incremental
//! hash of the linearized set and a flat memo table, so that nothing is
//! allocated in the search loop except a new memo entry. Compared to
//! Knossos, it is a single-threaded depth-first search with a memo table
//! rather than a breadth-first set of configurations: memory stays bounded
//! by the memo table (see [`Checker`]).
//!
//! Everything here is sans-IO (no tokio, no clock except the optional
//! [`Budget::time`]); the checker is deterministic for a step budget.
//!
//! # Example
//!
//! Two clients of a register: client 1 writes 1 and it completes, then
//! client 2 reads the initial value. That is a stale read:
//!
//! ```
//! use heddle::check::history::{check, Recorder, Verdict};
//! use heddle::check::history::models::{Register, RegisterOp, RegisterRet};
//!
//! let rec = Recorder::new();
//! let w = rec.invoke(1, RegisterOp::Write(1));
//! rec.complete(w, RegisterRet::Written);
//! let r = rec.invoke(2, RegisterOp::Read);
//! rec.complete(r, RegisterRet::Read(None));
//!
//! let report = check(&Register::<i64>::new(), &rec.history());
//! assert_eq!(report.verdict, Verdict::NotLinearizable);
//! let bad = report.failure().expect("a failing partition");
//! assert_eq!(bad.unplaceable, vec![r.id()]);
//! ```

mod checker;
mod model;
pub mod models;
pub mod parse;
mod record;
pub mod view;

pub use checker::{Budget, Checker, PartitionReport, Report, Verdict, check};
pub use model::Model;
pub use record::{OpHandle, Recorder};

use serde::{Deserialize, Serialize};

/// Index of an operation in its [`History`] (`history.ops[id]`).
pub type OpId = usize;

/// Identifies the client (process, thread, task) that invoked an operation.
pub type ClientId = u64;

/// How an operation ended, if it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Completion<R> {
    /// When the client saw the result (same clock as [`Operation::invoked`]).
    pub at: u64,
    /// What the client saw.
    pub ret: R,
}

/// One operation as a client saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation<O, R> {
    /// The client that invoked it.
    pub client: ClientId,
    /// What was asked.
    pub op: O,
    /// When it was invoked. Any clock works as long as one history uses one
    /// clock: only the order of times matters.
    pub invoked: u64,
    /// The completion, or `None` when the outcome is unknown (the client
    /// timed out or crashed): the operation may have taken effect at any
    /// time after its invocation, or not at all.
    pub completed: Option<Completion<R>>,
}

impl<O, R> Operation<O, R> {
    /// The result the client saw, if the operation completed.
    pub fn ret(&self) -> Option<&R> {
        self.completed.as_ref().map(|c| &c.ret)
    }
}

/// A history: every operation every client invoked, in invocation order
/// (not required, but [`Recorder`] and the parsers produce it that way).
///
/// Serde-serialisable, so a history can be saved and reloaded; see also
/// [`parse::jsonl`] for the line-oriented format `heddle-sim check-history`
/// reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct History<O, R> {
    /// The operations; an [`OpId`] indexes this vector.
    pub ops: Vec<Operation<O, R>>,
}

impl<O, R> Default for History<O, R> {
    fn default() -> Self {
        Self { ops: Vec::new() }
    }
}

impl<O, R> History<O, R> {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends an operation that completed: invoked at `invoked`, answered
    /// `ret` at `completed`. Returns its id.
    pub fn push_complete(
        &mut self,
        client: ClientId,
        op: O,
        invoked: u64,
        completed: u64,
        ret: R,
    ) -> OpId {
        self.push(Operation {
            client,
            op,
            invoked,
            completed: Some(Completion { at: completed, ret }),
        })
    }

    /// Appends an operation whose outcome is unknown. Returns its id.
    pub fn push_unknown(&mut self, client: ClientId, op: O, invoked: u64) -> OpId {
        self.push(Operation {
            client,
            op,
            invoked,
            completed: None,
        })
    }

    /// Appends `op`. Returns its id.
    pub fn push(&mut self, op: Operation<O, R>) -> OpId {
        self.ops.push(op);
        self.ops.len() - 1
    }

    /// Number of operations.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether there is no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The distinct clients, ascending.
    pub fn clients(&self) -> Vec<ClientId> {
        let mut c: Vec<ClientId> = self.ops.iter().map(|o| o.client).collect();
        c.sort_unstable();
        c.dedup();
        c
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests;
