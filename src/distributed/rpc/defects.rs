//! Planted defects: test equipment, compiled only with the cargo feature
//! `defects` (which the simulator enables), so that a production build
//! cannot switch de-duplication or timeouts off by accident.
//!
//! Each defect is a known way to get the RPC wrong; the simulator's `rpc`
//! scenario runs one per variant and its tests assert which invariant
//! catches it.
//!
//! ```
//! use heddle::distributed::rpc::ServerConfig;
//! use heddle::distributed::rpc::defects::ServerDefect;
//! let broken = ServerConfig::new(b"t".to_vec()).planted_defect(ServerDefect::NoDedup);
//! # let _ = broken;
//! ```

/// A server that gets the RPC wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerDefect {
    /// Ignore idempotency keys, as the guide's server does: a retried call
    /// runs again.
    NoDedup,
    /// Key the de-duplication window by the bare idempotency key, with no
    /// client scope and no fingerprint (heddle before issue #9): a client
    /// that reuses another's key gets the other call's outcome.
    TrustBareKey,
    /// Answer a duplicate that joined a running call under the original
    /// call's id instead of its own: the joined attempt is never answered.
    JoinWrongId,
    /// Answer a joined duplicate but never take it out of the connection's
    /// in-flight set: the connection can never finish draining.
    JoinLeak,
}

/// A client that gets the RPC wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientDefect {
    /// Wait for every reply forever, as the guide's client does: a lost
    /// reply hangs the caller.
    NoTimeout,
}
