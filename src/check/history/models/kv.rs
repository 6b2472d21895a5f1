//! A key-value map of strings (get, put, append, delete, compare-and-set),
//! partitioned by key.
//!
//! A missing key reads as the empty string, as in Jepsen's and Porcupine's
//! key-value tests (so `delete` is indistinguishable from `put(k, "")`).

use crate::check::history::Model;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A key-value operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvOp {
    /// Read a key.
    Get {
        /// The key.
        key: String,
    },
    /// Set a key.
    Put {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// Append to a key's value.
    Append {
        /// The key.
        key: String,
        /// The suffix.
        value: String,
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: String,
    },
    /// Set a key to `new` if its value is `expect`.
    Cas {
        /// The key.
        key: String,
        /// The value expected (`""`: missing).
        expect: String,
        /// The value written if it matched.
        new: String,
    },
}

impl KvOp {
    /// The key the operation acts on.
    pub fn key(&self) -> &str {
        match self {
            KvOp::Get { key }
            | KvOp::Put { key, .. }
            | KvOp::Append { key, .. }
            | KvOp::Delete { key }
            | KvOp::Cas { key, .. } => key,
        }
    }
}

/// What a key-value operation returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KvRet {
    /// A get saw this value (`""` for a missing key).
    Value(String),
    /// A put, append or delete completed.
    Done,
    /// A compare-and-set did (`true`) or did not (`false`) swap.
    Cas(bool),
}

/// The key-value model. Its state is the whole map; checked per key (the
/// default) each partition's map holds one key.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kv;

impl Model for Kv {
    type Op = KvOp;
    type Ret = KvRet;
    type State = BTreeMap<String, String>;
    type Key = String;

    fn init(&self) -> Self::State {
        BTreeMap::new()
    }

    fn step(&self, s: &Self::State, op: &KvOp, ret: Option<&KvRet>) -> Option<Self::State> {
        let done = matches!(ret, None | Some(KvRet::Done));
        match op {
            KvOp::Get { key } => match ret {
                None => Some(s.clone()),
                Some(KvRet::Value(v)) => {
                    let cur = s.get(key).map_or("", String::as_str);
                    (cur == v).then(|| s.clone())
                }
                Some(KvRet::Done | KvRet::Cas(_)) => None,
            },
            KvOp::Put { key, value } if done => {
                let mut n = s.clone();
                n.insert(key.clone(), value.clone());
                Some(n)
            }
            KvOp::Append { key, value } if done => {
                let mut n = s.clone();
                n.entry(key.clone()).or_default().push_str(value);
                Some(n)
            }
            KvOp::Delete { key } if done => {
                let mut n = s.clone();
                n.remove(key);
                Some(n)
            }
            KvOp::Cas { key, expect, new } => {
                let swaps = s.get(key).map_or("", String::as_str) == expect;
                let seen = match ret {
                    None => swaps,
                    Some(KvRet::Cas(ok)) => *ok,
                    Some(_) => return None,
                };
                (seen == swaps).then(|| {
                    let mut n = s.clone();
                    if swaps {
                        n.insert(key.clone(), new.clone());
                    }
                    n
                })
            }
            _ => None,
        }
    }

    fn partition(&self, op: &KvOp) -> String {
        op.key().to_string()
    }

    fn read_only(&self, op: &KvOp, ret: Option<&KvRet>) -> bool {
        matches!(
            (op, ret),
            (KvOp::Get { .. }, _) | (KvOp::Cas { .. }, Some(KvRet::Cas(false)))
        )
    }

    fn describe(&self, op: &KvOp, ret: Option<&KvRet>) -> String {
        let op = match op {
            KvOp::Get { key } => format!("get({key:?})"),
            KvOp::Put { key, value } => format!("put({key:?}, {value:?})"),
            KvOp::Append { key, value } => format!("append({key:?}, {value:?})"),
            KvOp::Delete { key } => format!("delete({key:?})"),
            KvOp::Cas { key, expect, new } => format!("cas({key:?}, {expect:?}, {new:?})"),
        };
        match ret {
            None => format!("{op} -> ?"),
            Some(KvRet::Value(v)) => format!("{op} -> {v:?}"),
            Some(KvRet::Done) => op,
            Some(KvRet::Cas(ok)) => format!("{op} -> {}", if *ok { "ok" } else { "fail" }),
        }
    }
}
