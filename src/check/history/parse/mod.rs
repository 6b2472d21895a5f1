//! Reading histories recorded elsewhere, with typed errors that carry the
//! file and line.
//!
//! | format | function | model types |
//! | --- | --- | --- |
//! | Jepsen etcd log (`INFO jepsen.util - 3 :invoke :write 4`) | [`etcd`] | [`Register<i64>`](super::models::Register) |
//! | Jepsen/Porcupine EDN key-value (`{:process 9, :type :ok, :f :get, ...}`) | [`edn_kv`] | [`Kv`](super::models::Kv) |
//! | heddle JSONL (below) | [`jsonl`] / [`to_jsonl`] | any serde types |
//!
//! All three are event logs: each client (Jepsen's process) has at most one
//! operation open; `invoke` opens it, and the client's next `ok` (completed,
//! with its result), `fail` (did not happen: dropped from the history) or
//! `info` (outcome unknown: it may have happened) closes it. An operation
//! still open at the end has an unknown outcome. Times are the line numbers
//! unless the format gives them.
//!
//! Bad input never panics: a malformed line, a completion without an
//! invocation, a second invocation while one is open, a completion that
//! does not match the open operation, or an unknown operation name is a
//! [`ParseError`] naming the file and line.

mod edn;
mod etcd;
mod jsonl;

pub use edn::edn_kv;
pub use etcd::etcd;
pub use jsonl::{jsonl, to_jsonl};

use super::{ClientId, Completion, History, OpId, Operation};
use std::collections::BTreeMap;

/// A history file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {kind}")]
pub struct ParseError {
    /// The file (or source name) given to the parser.
    pub file: String,
    /// The 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub kind: ParseErrorKind,
}

/// What is wrong with a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// The line is not of the format.
    #[error("malformed line: {0}")]
    Malformed(String),
    /// An operation name the format does not know.
    #[error("unknown operation `{0}`")]
    UnknownOp(String),
    /// A completion for a client with no open operation.
    #[error("completion for client {client} without an invocation")]
    CompletionWithoutInvocation {
        /// The client.
        client: ClientId,
    },
    /// An invocation by a client whose previous operation is still open.
    #[error("client {client} invokes again while its operation from line {open_line} is open")]
    TwoOpen {
        /// The client.
        client: ClientId,
        /// Where the open operation was invoked.
        open_line: usize,
    },
    /// A completion of a different operation than the one open.
    #[error("completion `{got}` does not match the open operation `{open}`")]
    Mismatch {
        /// The open operation's name.
        open: String,
        /// The completion's operation name.
        got: String,
    },
    /// A time earlier than the client's invocation.
    #[error("time {time} is before the invocation at {invoked}")]
    TimeBackwards {
        /// The completion's time.
        time: u64,
        /// The invocation's time.
        invoked: u64,
    },
}

/// Builds a history from invoke/complete events, enforcing one open
/// operation per client.
struct Builder<'f, O, R> {
    file: &'f str,
    line: usize,
    ops: Vec<Option<Operation<O, R>>>,
    /// Open operation of each client: its index and line.
    open: BTreeMap<ClientId, (OpId, usize)>,
}

impl<'f, O, R> Builder<'f, O, R> {
    fn new(file: &'f str) -> Self {
        Self {
            file,
            line: 0,
            ops: Vec::new(),
            open: BTreeMap::new(),
        }
    }

    fn err(&self, kind: ParseErrorKind) -> ParseError {
        ParseError {
            file: self.file.to_string(),
            line: self.line,
            kind,
        }
    }

    fn malformed(&self, what: impl Into<String>) -> ParseError {
        self.err(ParseErrorKind::Malformed(what.into()))
    }

    fn invoke(&mut self, client: ClientId, op: O, time: u64) -> Result<(), ParseError> {
        if let Some(&(_, open_line)) = self.open.get(&client) {
            return Err(self.err(ParseErrorKind::TwoOpen { client, open_line }));
        }
        self.open.insert(client, (self.ops.len(), self.line));
        self.ops.push(Some(Operation {
            client,
            op,
            invoked: time,
            completed: None,
        }));
        Ok(())
    }

    /// The client's open operation, closed.
    fn close(&mut self, client: ClientId) -> Result<OpId, ParseError> {
        self.open
            .remove(&client)
            .map(|(id, _)| id)
            .ok_or_else(|| self.err(ParseErrorKind::CompletionWithoutInvocation { client }))
    }

    /// The client's open operation (still open).
    fn peek(&self, client: ClientId) -> Result<&O, ParseError> {
        self.open
            .get(&client)
            .and_then(|&(id, _)| self.ops[id].as_ref())
            .map(|o| &o.op)
            .ok_or_else(|| self.err(ParseErrorKind::CompletionWithoutInvocation { client }))
    }

    /// `ok`: completed at `time` with `ret`.
    fn ok(&mut self, client: ClientId, time: u64, ret: R) -> Result<(), ParseError> {
        let id = self.close(client)?;
        let invoked = self.ops[id].as_ref().map_or(0, |o| o.invoked);
        if time < invoked {
            return Err(self.err(ParseErrorKind::TimeBackwards { time, invoked }));
        }
        if let Some(o) = self.ops[id].as_mut() {
            o.completed = Some(Completion { at: time, ret });
        }
        Ok(())
    }

    /// `fail`: did not happen; dropped.
    fn fail(&mut self, client: ClientId) -> Result<(), ParseError> {
        let id = self.close(client)?;
        self.ops[id] = None;
        Ok(())
    }

    /// `info`: outcome unknown; stays without completion.
    fn info(&mut self, client: ClientId) -> Result<(), ParseError> {
        self.close(client).map(|_| ())
    }

    fn finish(self) -> History<O, R> {
        History {
            ops: self.ops.into_iter().flatten().collect(),
        }
    }
}

/// Splits `text` into numbered lines (1-based), skipping blank ones.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}
