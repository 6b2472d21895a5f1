//! The trace of one run: every network event, fault and operation, one JSON
//! object per line, in the order they happened.
//!
//! ```text
//! {"t_us":0,"kind":"plan","host":"*","detail":"latency=1..10ms; repair=1; order=fixed"}
//! {"t_us":2000,"kind":"send","host":"client-1","peer":"server","detail":"SYN 49152>7","msg":0}
//! {"t_us":5000,"kind":"deliver","host":"server","peer":"client-1","detail":"SYN 49152>7","msg":0}
//! {"t_us":7000,"kind":"invoke","host":"client-1","detail":"echo \"client-1:0:kq\"","op":0}
//! {"t_us":1200000,"kind":"partition","host":"server","peer":"client-1","detail":"partition server | client-1"}
//! ```
//!
//! Kinds: `plan`; network `send`, `deliver`, `drop`, `hold` (a `send` with
//! no later `deliver`/`drop` was lost on a broken link); faults
//! `partition`, `repair`, `partition_oneway`, `repair_oneway`, `hold_link`,
//! `release`, `loss`, `loss_off`, `crash`, `restart`, `bounce`, `heal`;
//! operations `invoke`, `ok`, `err`; verdicts `violation`, `liveness`.
//! For a `send` the host is the sender and `peer` the receiver; for
//! `deliver`, `drop` and `hold` the host is the receiver.
//!
//! The same seed gives the same bytes, in any process: times are simulated,
//! ids are counters, and nothing iterates a hash map.

use serde::{Deserialize, Serialize};

/// One event of a trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Simulated time, µs from the start.
    pub t_us: u64,
    /// What happened (see the module docs).
    pub kind: String,
    /// The host it happened on (`*` for the whole network).
    pub host: String,
    /// The other host, for messages and link faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Details: the message, the fault, the operation's value.
    pub detail: String,
    /// The message's id (same on its send and its deliver/drop/hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msg: Option<u64>,
    /// The operation's id (same on its invoke and its ok/err).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<u64>,
}

/// A whole trace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    /// The events, in order.
    pub events: Vec<TraceEvent>,
}

impl Trace {
    /// JSON lines, one event per line.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::with_capacity(self.events.len() * 120);
        for e in &self.events {
            // Serializing this plain struct of strings and integers cannot fail.
            if let Ok(line) = serde_json::to_string(e) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }

    /// Parses JSON lines written by [`Trace::to_jsonl`].
    pub fn from_jsonl(text: &str) -> Result<Self, serde_json::Error> {
        let events = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        Ok(Self { events })
    }
}
