//! Pieces shared by the benches.

pub mod raw;

/// Installs a global `tracing` subscriber that records nothing, as an
/// application that logs at `INFO` or above has one. Without any
/// subscriber, the `log` feature of `tracing`, which a bench-only
/// dependency (tarpc) turns on, sends every span of every contestant that
/// uses `tracing` through the `log` facade (about 700 instructions per RPC
/// call here); a production build without tarpc does not pay that.
pub fn quiet_tracing() {
    // Already set by an earlier group of the same process: fine.
    let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
}
