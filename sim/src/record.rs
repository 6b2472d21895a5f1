//! The run's event log: operations recorded by the scenario's software
//! ([`Recorder`]) and network events captured from turmoil's tracing
//! events, in the order they happened, stamped with simulated time.
//!
//! One log belongs to one run. The runner sets its clock before each
//! simulation step and drains it after; the scenario only sees
//! [`Recorder`], or [`TypedRecorder`] for operations of typed values (a
//! [`Model`](heddle::check::history::Model)'s, whose history is checked
//! for linearizability): those are kept as a typed [`History`] and
//! rendered as text for the trace once, when recorded.

use heddle::check::history::{self, History, OpHandle};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// An operation's id, unique within a run.
pub type OpId = u64;

/// One step of an operation's life.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OpEvent {
    /// The client starts operation `name` with `input`.
    Invoke {
        /// The operation (e.g. `echo`, `call add`).
        name: String,
        /// Its input, as the scenario renders it.
        input: String,
    },
    /// The operation returned `output`.
    Ok {
        /// Its output.
        output: String,
    },
    /// The operation failed (timeout, connection lost, ...).
    Err {
        /// Why.
        error: String,
    },
}

/// An operation event, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpRecord {
    /// Simulated time, µs.
    pub t_us: u64,
    /// The operation.
    pub id: OpId,
    /// The client (host) that runs it.
    pub client: String,
    /// What happened.
    pub event: OpEvent,
}

/// A network event from turmoil.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NetWhat {
    Send,
    Deliver,
    Drop,
    Hold,
}

#[derive(Debug, Clone)]
pub(crate) enum Raw {
    Net {
        t_us: u64,
        what: NetWhat,
        src: SocketAddr,
        dst: SocketAddr,
        proto: String,
    },
    Op(OpRecord),
    /// Something a scenario's software reports (shown in the trace only).
    Note {
        t_us: u64,
        host: String,
        kind: &'static str,
        detail: String,
    },
}

#[derive(Debug, Default)]
pub(crate) struct Log {
    clock_us: AtomicU64,
    muted: AtomicBool,
    next_op: AtomicU64,
    events: Mutex<Vec<Raw>>,
}

impl Log {
    pub(crate) fn set_clock(&self, t_us: u64) {
        self.clock_us.store(t_us, Relaxed);
    }

    /// While muted, network events are not recorded.
    pub(crate) fn set_muted(&self, muted: bool) {
        self.muted.store(muted, Relaxed);
    }

    pub(crate) fn muted(&self) -> bool {
        self.muted.load(Relaxed)
    }

    pub(crate) fn now(&self) -> u64 {
        self.clock_us.load(Relaxed)
    }

    fn events(&self) -> MutexGuard<'_, Vec<Raw>> {
        // The log is only pushed to and drained; a panic elsewhere cannot
        // leave it half-updated.
        self.events.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn push(&self, raw: Raw) {
        self.events().push(raw);
    }

    pub(crate) fn drain(&self, into: &mut Vec<Raw>) {
        into.append(&mut self.events());
    }
}

/// Records a scenario's operations into the run's trace and history.
///
/// Cheap to clone; hand a clone to each client.
#[derive(Debug, Clone)]
pub struct Recorder {
    pub(crate) log: Arc<Log>,
}

impl Recorder {
    pub(crate) fn new(log: Arc<Log>) -> Self {
        Self { log }
    }

    fn push(&self, id: OpId, client: &str, event: OpEvent) {
        self.log.push(Raw::Op(OpRecord {
            t_us: self.log.now(),
            id,
            client: client.to_owned(),
            event,
        }));
    }

    /// `client` starts operation `name` with `input`; returns its id.
    pub fn invoke(&self, client: &str, name: &str, input: impl Into<String>) -> OpId {
        let id = self.log.next_op.fetch_add(1, Relaxed);
        self.push(
            id,
            client,
            OpEvent::Invoke {
                name: name.to_owned(),
                input: input.into(),
            },
        );
        id
    }

    /// Operation `id` of `client` returned `output`.
    pub fn ok(&self, client: &str, id: OpId, output: impl Into<String>) {
        self.push(
            id,
            client,
            OpEvent::Ok {
                output: output.into(),
            },
        );
    }

    /// Operation `id` of `client` failed with `error`.
    pub fn err(&self, client: &str, id: OpId, error: impl Into<String>) {
        self.push(
            id,
            client,
            OpEvent::Err {
                error: error.into(),
            },
        );
    }

    /// Adds an event of `kind` on `host` to the trace (not to the history
    /// the invariants judge): what the scenario's software reports, such
    /// as the trace context a server received with a call.
    pub fn note(&self, host: &str, kind: &'static str, detail: impl Into<String>) {
        self.log.push(Raw::Note {
            t_us: self.log.now(),
            host: host.to_owned(),
            kind,
            detail: detail.into(),
        });
    }

    /// Simulated time now, as the runner's clock says (µs since the start).
    pub fn now_us(&self) -> u64 {
        self.log.now()
    }
}

/// How a typed operation shows in the trace and the views.
pub trait ShowOp {
    /// The operation's name (`get`, `acquire`).
    fn name(&self) -> &'static str;
    /// Its input, as text.
    fn input(&self) -> String;
}

/// How a typed operation's result shows in the trace and the views.
pub trait ShowRet {
    /// The result, as text.
    fn output(&self) -> String;
}

/// A string result shows as itself.
impl ShowRet for String {
    fn output(&self) -> String {
        self.clone()
    }
}

/// An operation invoked through a [`TypedRecorder`], to complete it with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invoked {
    /// The operation's id in the run (as in the trace).
    pub id: OpId,
    handle: OpHandle,
}

/// A typed operation event, as recorded (see [`TypedRecorder::watch`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedRecord<O, R> {
    /// Simulated time, µs.
    pub t_us: u64,
    /// The operation.
    pub id: OpId,
    /// The client (host) that runs it.
    pub client: String,
    /// What happened.
    pub event: TypedEvent<O, R>,
}

/// One step of a typed operation's life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypedEvent<O, R> {
    /// The client starts the operation.
    Invoke(O),
    /// The operation returned.
    Ok(R),
    /// The operation failed (its outcome is unknown), for this reason.
    Err(String),
}

/// A run's typed history, and the run's id of each of its operations
/// (`ids[i]` is the id of `history.ops[i]`, as in the trace).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunHistory<O, R> {
    /// The operations, for [`heddle::check::history::check`].
    pub history: History<O, R>,
    /// Each operation's id in the run.
    pub ids: Vec<OpId>,
}

impl<O, R> RunHistory<O, R> {
    /// The operations `f` maps to `Some` (with the result it maps them
    /// to), in the same order: e.g. the part of a history a model covers.
    pub fn filter_map<P, S>(
        &self,
        mut f: impl FnMut(&history::Operation<O, R>) -> Option<history::Operation<P, S>>,
    ) -> RunHistory<P, S> {
        let mut out = RunHistory {
            history: History::new(),
            ids: Vec::new(),
        };
        for (o, &id) in self.history.ops.iter().zip(&self.ids) {
            if let Some(p) = f(o) {
                out.history.push(p);
                out.ids.push(id);
            }
        }
        out
    }
}

struct Typed<O, R> {
    /// The run's id of each operation of the history, by its index.
    ids: Vec<OpId>,
    /// Events not yet taken, when watched.
    watch: bool,
    new: Vec<TypedRecord<O, R>>,
}

/// Records operations of typed values: each goes to the run's event log
/// (rendered once, by [`ShowOp`] and [`ShowRet`], for the trace and the
/// views) and to a [`heddle::check::history::Recorder`], whose typed
/// [`History`] an invariant hands to the checker ([`Self::history`]).
///
/// Every call records into both under one lock, so the history's order is
/// the log's. Cheap to clone; hand a clone to each client and one to the
/// invariants.
pub struct TypedRecorder<O, R> {
    rec: Recorder,
    history: history::Recorder<O, R>,
    typed: Arc<Mutex<Typed<O, R>>>,
}

impl<O, R> Clone for TypedRecorder<O, R> {
    fn clone(&self) -> Self {
        Self {
            rec: self.rec.clone(),
            history: self.history.clone(),
            typed: Arc::clone(&self.typed),
        }
    }
}

impl<O, R> std::fmt::Debug for TypedRecorder<O, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypedRecorder")
            .field("history", &self.history)
            .finish_non_exhaustive()
    }
}

impl<O: ShowOp + Clone, R: ShowRet + Clone> TypedRecorder<O, R> {
    /// A recorder into `rec`'s run.
    pub fn new(rec: &Recorder) -> Self {
        Self {
            rec: rec.clone(),
            history: history::Recorder::new(),
            typed: Arc::new(Mutex::new(Typed {
                ids: Vec::new(),
                watch: false,
                new: Vec::new(),
            })),
        }
    }

    /// Also keeps every event for [`Self::take_new`] (for invariants that
    /// judge the typed operations as they happen).
    pub fn watch(self) -> Self {
        self.lock().watch = true;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Typed<O, R>> {
        // Each call appends under the lock and cannot panic half-way.
        self.typed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps the event for [`Self::take_new`], if watched.
    fn keep(
        &self,
        typed: &mut Typed<O, R>,
        id: OpId,
        client: &str,
        event: impl FnOnce() -> TypedEvent<O, R>,
    ) {
        if typed.watch {
            typed.new.push(TypedRecord {
                t_us: self.rec.now_us(),
                id,
                client: client.to_owned(),
                event: event(),
            });
        }
    }

    /// `client` starts `op`.
    pub fn invoke(&self, client: &str, op: O) -> Invoked {
        let mut typed = self.lock();
        let id = self.rec.invoke(client, op.name(), op.input());
        self.keep(&mut typed, id, client, || TypedEvent::Invoke(op.clone()));
        let handle = self.history.invoke(crate::fnv64(client.as_bytes()), op);
        typed.ids.push(id);
        Invoked { id, handle }
    }

    /// Operation `op` of `client` returned `ret`.
    pub fn ok(&self, client: &str, op: Invoked, ret: R) {
        let mut typed = self.lock();
        self.rec.ok(client, op.id, ret.output());
        self.keep(&mut typed, op.id, client, || TypedEvent::Ok(ret.clone()));
        self.history.complete(op.handle, ret);
    }

    /// Operation `op` of `client` failed with `error`: its outcome is
    /// unknown.
    pub fn err(&self, client: &str, op: Invoked, error: impl Into<String>) {
        let mut typed = self.lock();
        let error = error.into();
        self.keep(&mut typed, op.id, client, || TypedEvent::Err(error.clone()));
        self.rec.err(client, op.id, error);
    }

    /// The events recorded since the last call, in order (empty unless
    /// [`Self::watch`]ed).
    pub fn take_new(&self) -> Vec<TypedRecord<O, R>> {
        std::mem::take(&mut self.lock().new)
    }

    /// The history recorded so far (operations still open, or failed, have
    /// an unknown outcome).
    pub fn history(&self) -> RunHistory<O, R> {
        let typed = self.lock();
        RunHistory {
            history: self.history.history(),
            ids: typed.ids.clone(),
        }
    }

    /// Simulated time now (µs since the start).
    pub fn now_us(&self) -> u64 {
        self.rec.now_us()
    }
}
