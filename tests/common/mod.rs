//! Shared helpers of the property tests.

use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// A runner for `cases` cases with a fixed seed and no failure persistence:
/// the same cases in every run, so a broken variant that a property must
/// catch is caught (or missed) the same way every time.
pub fn deterministic_runner(cases: u32) -> TestRunner {
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    )
}
