//! The lock scenario over a fixed list of seeds, and each of its planted
//! defects caught by the invariant written for it on the first seed of a
//! sweep that catches it (the same seeds pass with heddle's code).

// Not under `--features shuttle`: these run heddle's RPC server, whose
// de-duplication window is on the task facade (shuttle's there, which runs
// only inside a model). They run in the default build.
#![cfg(not(feature = "shuttle"))]

use heddle_sim::faults::FaultPlan;
use heddle_sim::runner::{RunOptions, Verdict, run};
use heddle_sim::scenario::Scenario;
use heddle_sim::scenarios::lock::Lock;

fn verdict(variant: &str, seed: u64) -> Verdict {
    let v = Lock.variant(variant).expect("lock has this variant");
    let plan = FaultPlan::swarm(seed, &Lock.hosts());
    run(&Lock, v, seed, plan, RunOptions { net_trace: false }).verdict
}

#[test]
fn lock_holds_over_a_fixed_list_of_seeds() {
    for seed in [0, 1, 2, 3, 5, 8] {
        assert_eq!(verdict("default", seed), Verdict::Pass, "seed {seed}");
    }
}

#[test]
fn each_planted_defect_is_caught_by_its_invariant() {
    // (variant, first failing seed of `sweep`, invariant, detail)
    let cases = [
        (
            "ttl-only",
            22,
            "fenced-writes",
            "the resource accepted token",
        ),
        ("volatile-counter", 0, "linearizable", "cannot be placed"),
        ("no-renewal", 0, "one-holder", "believes token"),
    ];
    for (name, seed, invariant, detail) in cases {
        let Verdict::Safety(violation) = verdict(name, seed) else {
            panic!("{name}: expected a safety violation on seed {seed}");
        };
        assert_eq!(violation.invariant, invariant, "{name}: {violation:?}");
        assert!(violation.detail.contains(detail), "{name}: {violation:?}");
        assert_eq!(
            verdict("default", seed),
            Verdict::Pass,
            "default, seed {seed}"
        );
    }
}
