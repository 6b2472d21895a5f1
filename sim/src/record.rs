//! The run's event log: operations recorded by the scenario's software
//! ([`Recorder`]) and network events captured from turmoil's tracing
//! events, in the order they happened, stamped with simulated time.
//!
//! One log belongs to one run. The runner sets its clock before each
//! simulation step and drains it after; the scenario only sees
//! [`Recorder`].

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
