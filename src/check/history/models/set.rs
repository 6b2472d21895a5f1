//! A set, partitioned by element.

use crate::check::history::Model;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

/// A set operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetOp<V> {
    /// Insert an element.
    Add(V),
    /// Remove an element.
    Remove(V),
    /// Ask whether an element is present.
    Contains(V),
}

impl<V> SetOp<V> {
    fn elem(&self) -> &V {
        match self {
            SetOp::Add(v) | SetOp::Remove(v) | SetOp::Contains(v) => v,
        }
    }
}

/// What a set operation returned: whether the element was present before
/// (for `add`: `false` means it was newly added; for `remove`: `true`
/// means it was removed).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SetRet {
    /// Whether the element was present before the operation.
    WasPresent(bool),
}

/// The set model. Elements are independent, so the history is checked per
/// element (each partition's set then holds at most that element).
#[derive(Debug, Clone, Copy, Default)]
pub struct Set<V>(PhantomData<V>);

impl<V> Set<V> {
    /// The model; the set starts empty.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<V: Clone + Ord + Hash + Debug + Default> Model for Set<V> {
    type Op = SetOp<V>;
    type Ret = SetRet;
    type State = BTreeSet<V>;
    type Key = V;

    fn init(&self) -> BTreeSet<V> {
        BTreeSet::new()
    }

    fn step(&self, s: &BTreeSet<V>, op: &SetOp<V>, ret: Option<&SetRet>) -> Option<BTreeSet<V>> {
        let present = s.contains(op.elem());
        if let Some(SetRet::WasPresent(p)) = ret {
            if *p != present {
                return None;
            }
        }
        let mut n = s.clone();
        match op {
            SetOp::Add(v) => {
                n.insert(v.clone());
            }
            SetOp::Remove(v) => {
                n.remove(v);
            }
            SetOp::Contains(_) => {}
        }
        Some(n)
    }

    fn read_only(&self, op: &SetOp<V>, ret: Option<&SetRet>) -> bool {
        matches!(
            (op, ret),
            (SetOp::Contains(_), _)
                | (SetOp::Add(_), Some(SetRet::WasPresent(true)))
                | (SetOp::Remove(_), Some(SetRet::WasPresent(false)))
        )
    }

    fn partition(&self, op: &SetOp<V>) -> V {
        op.elem().clone()
    }
}
