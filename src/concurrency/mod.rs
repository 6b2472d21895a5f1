//! The shared-memory patterns of the guide (§1.1–1.5), written against
//! [`crate::sync`] so that loom and shuttle check the same code that ships.
//!
//! | pattern | module | invariant checked in `models/` |
//! | --- | --- | --- |
//! | mutex counter (and a lock-free one) | [`counter`] | no lost update; `increment` values are unique |
//! | reader-writer store | [`rwlock_store`] | snapshots are prefixes of the insert order; counts add up |
//! | dispatcher / worker pool | [`worker_pool`] | every dispatched task gets exactly one result; shutdown joins every worker |
//! | key-value actor | [`kv_actor`] | answers consistent with a serial order; calls after shutdown fail cleanly |
//! | async tasks | [`async_tasks`] | bounded concurrency, per-task timeout, results in submission order |

pub mod async_tasks;
pub mod counter;
pub mod kv_actor;
pub mod rwlock_store;
pub mod worker_pool;
