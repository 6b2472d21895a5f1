//! A read/write/compare-and-set register, initially empty.

use crate::check::history::Model;
use serde::{Deserialize, Serialize};
use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

/// A register operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterOp<V> {
    /// Read the value.
    Read,
    /// Set the value.
    Write(V),
    /// Set the value to `new` if it is `expect`.
    Cas {
        /// The value expected.
        expect: V,
        /// The value written if it matched.
        new: V,
    },
}

/// What a register operation returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegisterRet<V> {
    /// A read saw this value (`None`: never written).
    Read(Option<V>),
    /// A write completed.
    Written,
    /// A compare-and-set did (`true`) or did not (`false`) swap.
    Cas(bool),
}

/// The register model (the etcd histories use `Register<i64>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Register<V>(PhantomData<V>);

impl<V> Register<V> {
    /// The model; the register starts empty.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<V: Clone + Eq + Hash + Debug> Model for Register<V> {
    type Op = RegisterOp<V>;
    type Ret = RegisterRet<V>;
    type State = Option<V>;
    type Key = ();

    fn init(&self) -> Option<V> {
        None
    }

    fn step(
        &self,
        s: &Option<V>,
        op: &RegisterOp<V>,
        ret: Option<&RegisterRet<V>>,
    ) -> Option<Option<V>> {
        match (op, ret) {
            (RegisterOp::Read, None) => Some(s.clone()),
            (RegisterOp::Read, Some(RegisterRet::Read(v))) => (v == s).then(|| s.clone()),
            (RegisterOp::Write(v), None | Some(RegisterRet::Written)) => Some(Some(v.clone())),
            (RegisterOp::Cas { expect, new }, ret) => {
                let swaps = s.as_ref() == Some(expect);
                let seen = match ret {
                    None => swaps,
                    Some(RegisterRet::Cas(ok)) => *ok,
                    Some(_) => return None,
                };
                (seen == swaps).then(|| if swaps { Some(new.clone()) } else { s.clone() })
            }
            _ => None,
        }
    }

    fn read_only(&self, op: &RegisterOp<V>, ret: Option<&RegisterRet<V>>) -> bool {
        matches!(
            (op, ret),
            (RegisterOp::Read, _) | (RegisterOp::Cas { .. }, Some(RegisterRet::Cas(false)))
        )
    }

    fn describe(&self, op: &RegisterOp<V>, ret: Option<&RegisterRet<V>>) -> String {
        let op = match op {
            RegisterOp::Read => "read()".to_string(),
            RegisterOp::Write(v) => format!("write({v:?})"),
            RegisterOp::Cas { expect, new } => format!("cas({expect:?}, {new:?})"),
        };
        match ret {
            None => format!("{op} -> ?"),
            Some(RegisterRet::Read(Some(v))) => format!("{op} -> {v:?}"),
            Some(RegisterRet::Read(None)) => format!("{op} -> nil"),
            Some(RegisterRet::Written) => op,
            Some(RegisterRet::Cas(ok)) => format!("{op} -> {}", if *ok { "ok" } else { "fail" }),
        }
    }
}
