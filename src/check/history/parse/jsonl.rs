//! heddle's own history format: one JSON event per line.
//!
//! ```text
//! {"type":"invoke","client":1,"time":10,"op":{"write":3}}
//! {"type":"ok","client":1,"time":12,"ret":"written"}
//! {"type":"invoke","client":2,"time":11,"op":{"cas":{"expect":3,"new":4}}}
//! {"type":"info","client":2,"time":15}
//! {"type":"invoke","client":3,"time":13,"op":"read"}
//! {"type":"fail","client":3,"time":14}
//! ```
//!
//! `type` is `invoke` (with `op`), `ok` (with `ret`), `fail` (the operation
//! did not happen) or `info` (its outcome is unknown); `time` is optional
//! (default: the line number). `op` and `ret` are the model's types in
//! serde's JSON form (for the register: `"read"`, `{"write":v}`,
//! `{"cas":{"expect":a,"new":b}}`; `{"read":v}`, `"written"`, `{"cas":ok}`;
//! for the key-value map: `{"get":{"key":k}}`, `{"put":{"key":k,"value":v}}`,
//! ...; `{"value":v}`, `"done"`).

use super::{Builder, ParseError, ParseErrorKind, lines};
use crate::check::history::{ClientId, History};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Event<O, R> {
    Invoke {
        client: ClientId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<u64>,
        op: O,
    },
    Ok {
        client: ClientId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<u64>,
        ret: R,
    },
    Fail {
        client: ClientId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<u64>,
    },
    Info {
        client: ClientId,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time: Option<u64>,
    },
}

/// Parses heddle's JSONL history format (`file` names it in errors).
pub fn jsonl<O: DeserializeOwned, R: DeserializeOwned>(
    file: &str,
    text: &str,
) -> Result<History<O, R>, ParseError> {
    let mut b: Builder<'_, O, R> = Builder::new(file);
    for (n, line) in lines(text) {
        b.line = n;
        let ev: Event<O, R> = serde_json::from_str(line).map_err(|e| {
            let msg = e.to_string();
            if msg.contains("unknown variant") && !msg.contains("expected one of `invoke`") {
                b.err(ParseErrorKind::UnknownOp(msg))
            } else {
                b.malformed(msg)
            }
        })?;
        let at = |t: Option<u64>| t.unwrap_or(n as u64);
        match ev {
            Event::Invoke { client, time, op } => b.invoke(client, op, at(time))?,
            Event::Ok { client, time, ret } => b.ok(client, at(time), ret)?,
            Event::Fail { client, .. } => b.fail(client)?,
            Event::Info { client, .. } => b.info(client)?,
        }
    }
    Ok(b.finish())
}

/// Writes `history` in the JSONL format [`jsonl`] reads: events in time
/// order; an operation with an unknown outcome is closed by an `info` event
/// just before its client's next invocation (or at the end).
pub fn to_jsonl<O: Serialize, R: Serialize>(
    history: &History<O, R>,
) -> Result<String, serde_json::Error> {
    // (time, order within a time, event)
    let mut events: Vec<(u64, u8, Event<&O, &R>)> = Vec::new();
    let end = history
        .ops
        .iter()
        .map(|o| o.completed.as_ref().map_or(o.invoked, |c| c.at))
        .max()
        .unwrap_or(0);
    for (i, o) in history.ops.iter().enumerate() {
        let client = o.client;
        events.push((
            o.invoked,
            2,
            Event::Invoke {
                client,
                time: Some(o.invoked),
                op: &o.op,
            },
        ));
        match &o.completed {
            Some(c) => events.push((
                c.at,
                1,
                Event::Ok {
                    client,
                    time: Some(c.at),
                    ret: &c.ret,
                },
            )),
            None => {
                let next = history.ops[i + 1..]
                    .iter()
                    .find(|n| n.client == client)
                    .map_or(end, |n| n.invoked);
                events.push((
                    next,
                    0,
                    Event::Info {
                        client,
                        time: Some(next),
                    },
                ));
            }
        }
    }
    events.sort_by_key(|(t, k, _)| (*t, *k));
    let mut out = String::new();
    for (_, _, e) in &events {
        out.push_str(&serde_json::to_string(e)?);
        out.push('\n');
    }
    Ok(out)
}
