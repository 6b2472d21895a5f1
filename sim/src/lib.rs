//! `heddle-sim`: the seeded simulation runner for heddle's distributed
//! patterns.
//!
//! Every scenario (one file under [`scenarios`], implementing
//! [`scenario::Scenario`]) runs on a `turmoil` simulation whose every
//! choice comes from one seed: message latency, the fault knobs and the
//! fault schedule ([`faults`], drawn per seed in the "swarm" style), and the
//! scenario's own randomness. A run ([`runner`]) applies the faults at their
//! times, heals them all, then checks that the workload makes progress
//! within a stated bound (liveness), while the scenario's invariants judge
//! every recorded operation (safety). Each run leaves a [`trace`] (JSON
//! lines, byte-identical for the same seed) with two [`views`]: an SVG
//! space-time diagram and a Chrome/Perfetto trace. A failing fault schedule
//! is reduced by [`shrink`]. [`cli`] is the `heddle-sim` command line:
//! `list`, `run`, `sweep`, `replay`, and [`check_history`] judges a
//! history recorded anywhere for linearizability.
//!
//! ```text
//! cargo run --release -p heddle-sim -- sweep all
//! cargo run --release -p heddle-sim -- run echo:reuse-after-timeout --seed 3 --trace t.jsonl
//! ```

pub mod check_history;
pub mod cli;
pub mod faults;
pub mod linearizable;
pub mod record;
pub mod runner;
pub mod scenario;
pub mod scenarios;
pub mod shrink;
pub mod trace;
pub mod views;

mod capture;

/// 64-bit FNV-1a: a stable hash (unlike `std`'s `DefaultHasher`, the same
/// in every process and release), used to derive per-purpose seeds.
pub fn fnv64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
