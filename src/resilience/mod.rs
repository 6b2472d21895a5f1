//! Resilience patterns (guide §4, §6): retry with capped exponential backoff
//! and full jitter under a retry budget, and a circuit breaker.
//!
//! Both are pure state machines (no clock, no randomness of their own): the
//! caller passes the current [`tokio::time::Instant`] and a seeded RNG, so
//! the same code runs in production and, deterministically, in simulation.

pub mod circuit_breaker;
pub mod retry;
