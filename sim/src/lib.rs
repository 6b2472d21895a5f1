//! `heddle-sim`: the seeded simulation runner for heddle's distributed
//! patterns.
//!
//! This crate is a placeholder until issue #5: it holds the command-line
//! entry point and reports that no scenario exists yet. Scenarios arrive with
//! the distributed patterns (RPC first).

/// The scenarios this build knows, as `(name, what it checks)`.
///
/// Empty until the first distributed pattern lands.
pub const SCENARIOS: &[(&str, &str)] = &[];
