//! A FIFO queue.

use crate::check::history::Model;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

/// A queue operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueOp<V> {
    /// Add at the back.
    Enqueue(V),
    /// Take from the front.
    Dequeue,
}

/// What a queue operation returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueRet<V> {
    /// An enqueue completed.
    Enqueued,
    /// A dequeue took this value, or found the queue empty (`None`).
    Dequeued(Option<V>),
}

/// The FIFO queue model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Queue<V>(PhantomData<V>);

impl<V> Queue<V> {
    /// The model; the queue starts empty.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<V: Clone + Eq + Hash + Debug> Model for Queue<V> {
    type Op = QueueOp<V>;
    type Ret = QueueRet<V>;
    type State = VecDeque<V>;
    type Key = ();

    fn init(&self) -> VecDeque<V> {
        VecDeque::new()
    }

    fn step(
        &self,
        s: &VecDeque<V>,
        op: &QueueOp<V>,
        ret: Option<&QueueRet<V>>,
    ) -> Option<VecDeque<V>> {
        match (op, ret) {
            (QueueOp::Enqueue(v), None | Some(QueueRet::Enqueued)) => {
                let mut n = s.clone();
                n.push_back(v.clone());
                Some(n)
            }
            (QueueOp::Dequeue, None) => {
                let mut n = s.clone();
                n.pop_front();
                Some(n)
            }
            (QueueOp::Dequeue, Some(QueueRet::Dequeued(v))) => {
                let mut n = s.clone();
                (n.pop_front() == *v).then_some(n)
            }
            _ => None,
        }
    }

    fn read_only(&self, op: &QueueOp<V>, ret: Option<&QueueRet<V>>) -> bool {
        matches!(
            (op, ret),
            (QueueOp::Dequeue, Some(QueueRet::Dequeued(None)))
        )
    }
}
