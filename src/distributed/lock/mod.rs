//! The distributed lock (guide §3.4), done right: leases with fencing tokens
//! that survive crashes of the lock service.
//!
//! - [`machine`]: the lock service's pure state machine (grants, renewals,
//!   releases, expiry in the caller's time, tokens reserved durably in
//!   blocks);
//! - [`fenced`]: the resource's side, a store that refuses writes with a
//!   token older than one it accepted.
//!
//! The guide's version is a TTL lease alone: a holder that pauses past its
//! lease wakes up still believing it holds the lock, and its write lands
//! after the next holder's. The fencing token closes that hole, provided
//! the resource checks it ([`FencedStore`]) and the token counter never
//! goes back (the machine asks its driver to persist a high-water mark
//! before it replies).
//!
//! - [`server`]: both as RPC services ([`lock_service`], [`resource`]),
//!   the lock server persisting its token mark through a [`MarkStore`];
//! - [`client`]: acquire with retries and backoff, background renewal, a
//!   local validity deadline, release; the caller gets the token;
//! - [`protocol`]: the method names and argument types.

pub mod client;
pub mod fenced;
pub mod machine;
pub mod protocol;
mod renewal;
pub mod server;

pub use client::{Lease, LockClient, LockClientConfig, LockError, Released};
pub use fenced::{Fenced, FencedStore};
pub use machine::{LockConfig, LockMachine, Output, Owner, Reply, Token};
pub use server::{LockService, MarkStore, ServiceError, VolatileMark, lock_service, resource};
