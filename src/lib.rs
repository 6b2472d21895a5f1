//! heddle: concurrency, parallel and distributed design patterns, and the
//! deterministic harness that checks them.
//!
//! Every pattern is written once, against swappable primitives:
//! [`sync`] (std | loom | shuttle). The same model tests run under three
//! engines without code changes:
//!
//! - `cargo test`: real threads, repeated (stress);
//! - `cargo test --release --features loom`: every interleaving, bounded preemptions;
//! - `cargo test --release --features shuttle`: PCT and random schedules, replayable.
//!
//! [`check::model`] is the entry point for checking your own code the same way.
//!
//! Cargo features: the pattern groups (`concurrency`, `parallel`,
//! `resilience`, `wire`, `net`, `distributed`) are on by default. To check
//! your own code, depend on the facade and the checker alone:
//! `heddle = { version = "0.1", default-features = false }` (then
//! `--features heddle/loom` or `--features heddle/shuttle` to pick an engine).
//! The simulated network and disk (`net::Turmoil`, `storage::SimDisk`) are
//! the `turmoil` feature, off by default: tests and simulations turn it on,
//! production builds leave it off (turmoil turns on tokio's `test-util`,
//! which puts a lock in tokio's clock).
//!
//! Modules:
//! - [`sync`]: the facade (`Arc`, `Mutex`, `RwLock`, `Condvar`, atomics, threads, channels);
//! - [`check`]: run one test body under the compiled-in engine;
//! - [`concurrency`]: the shared-memory patterns (mutex counter, rwlock store,
//!   worker pool, key-value actor, async tasks);
//! - [`distributed`]: JSON-RPC over HTTP (more to come);
//! - [`net`]: one network trait over tokio and turmoil, and frames on streams;
//! - [`parallel`]: divide and conquer sorts, map-reduce, work stealing,
//!   data-parallel blur, pipeline;
//! - [`resilience`]: retry with backoff and jitter, circuit breaker;
//! - [`wire`]: framing, the binary encoding and JSON-RPC 2.0: pure,
//!   fuzzed decoders.

#[cfg(all(feature = "loom", feature = "shuttle"))]
compile_error!(
    "features `loom` and `shuttle` are mutually exclusive: pick one engine \
     (`cargo test --features loom` or `cargo test --features shuttle`)"
);

pub mod check;
#[cfg(feature = "concurrency")]
pub mod concurrency;
#[cfg(feature = "distributed")]
pub mod distributed;
#[cfg(feature = "net")]
pub mod net;
mod panic;
#[cfg(feature = "parallel")]
pub mod parallel;
#[cfg(feature = "resilience")]
pub mod resilience;
#[cfg(feature = "storage")]
pub mod storage;
pub mod sync;
#[cfg(test)]
mod testing;
#[cfg(feature = "wire")]
pub mod wire;
