//! Sequential models for the [`Model`](super::Model) trait: the objects
//! users check most.
//!
//! | model | operations | state | partitioned by |
//! | --- | --- | --- | --- |
//! | [`Register`] | read, write, compare-and-set | `Option<V>` | — |
//! | [`Kv`] | get, put, append, delete, compare-and-set | the map | key |
//! | [`Lock`] | acquire (fencing token), release | holder, last token | — |
//! | [`Queue`] | enqueue, dequeue | the queue | — |
//! | [`Set`] | add, remove, contains | the set | element |
//!
//! Every model accepts an unknown result (`ret == None`): the operation
//! took effect with whatever result the object would have given.

mod kv;
mod lock;
mod queue;
mod register;
mod set;

pub use kv::{Kv, KvOp, KvRet};
pub use lock::{Lock, LockOp, LockRet};
pub use queue::{Queue, QueueOp, QueueRet};
pub use register::{Register, RegisterOp, RegisterRet};
pub use set::{Set, SetOp, SetRet};
