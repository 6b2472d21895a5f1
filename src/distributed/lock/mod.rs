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
//! The network driver, the client library with background renewal, and
//! the `lock` simulation scenario build on these two pieces.

pub mod fenced;
pub mod machine;

pub use fenced::{Fenced, FencedStore};
pub use machine::{LockConfig, LockMachine, Output, Owner, Reply, Token};
