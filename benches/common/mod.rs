//! Pieces shared by the benches.

pub mod raw;
