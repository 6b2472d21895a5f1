//! The lock service's and the fenced resource's RPC methods: their names
//! and argument types, shared by the servers and the client library.
//!
//! The lock methods' arguments take the lock's name as a type parameter:
//! a server decodes `Acquire` (a `String`), a client encodes
//! `Acquire<&str>` from the name it was given, without copying it. Both
//! forms are the same bytes on the wire.

use super::fenced::Fenced;
use super::machine::{Owner, Token};
use serde::{Deserialize, Serialize};

/// `acquire`: [`Acquire`] → [`Reply`](super::Reply).
pub const ACQUIRE: &str = "lock.acquire";
/// `renew`: [`Renew`] → [`Reply`](super::Reply).
pub const RENEW: &str = "lock.renew";
/// `release`: [`Release`] → [`Reply`](super::Reply).
pub const RELEASE: &str = "lock.release";
/// The resource's `write`: [`Write`] → `Result<(), Fenced>`.
pub const WRITE: &str = "resource.write";
/// The resource's `read`: a key → [`Read`].
pub const READ: &str = "resource.read";

/// Asks for `lock` for `ttl_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acquire<S = String> {
    /// The lock's name.
    pub lock: S,
    /// The caller.
    pub owner: Owner,
    /// The lease's length, milliseconds.
    pub ttl_ms: u64,
}

/// Extends the lease `token` on `lock` by `ttl_ms` from now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Renew<S = String> {
    /// The lock's name.
    pub lock: S,
    /// The caller.
    pub owner: Owner,
    /// The lease's token.
    pub token: Token,
    /// The new length, milliseconds from now.
    pub ttl_ms: u64,
}

/// Gives up the lease `token` on `lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release<S = String> {
    /// The lock's name.
    pub lock: S,
    /// The caller.
    pub owner: Owner,
    /// The lease's token.
    pub token: Token,
}

/// Writes `value` to `key` under the lease `token`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Write {
    /// The resource's key.
    pub key: String,
    /// The fencing token of the writer's lease.
    pub token: Token,
    /// The value.
    pub value: Vec<u8>,
}

/// What a `read` returns: the value and the token it was written under.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Read {
    /// The value last accepted, if any.
    pub value: Option<Vec<u8>>,
    /// The highest token accepted for the key (0 if none).
    pub token: Token,
}

/// What a `write` returns.
pub type WriteResult = Result<(), Fenced>;
