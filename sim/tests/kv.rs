//! The kv scenario (a key-value service over the binary RPC, judged by
//! linearizability) over a fixed list of seeds, and its broken variant
//! caught by the checker as `linearizable`, naming the read that cannot be
//! placed.

// Not under `--features shuttle`: these run heddle's RPC server, whose
// de-duplication window is on the task facade (shuttle's there, which runs
// only inside a model). They run in the default build.
#![cfg(not(feature = "shuttle"))]

use heddle_sim::faults::FaultPlan;
use heddle_sim::linearizable::INVARIANT;
use heddle_sim::runner::{RunOptions, Verdict, run};
use heddle_sim::scenario::Scenario;
use heddle_sim::scenarios::{ALL, kv::Kv};
use heddle_sim::shrink::shrink;

#[test]
fn kv_is_linearizable_over_a_fixed_list_of_seeds() {
    let v = Kv.default_variant();
    for seed in [0, 1, 2, 3, 5, 8, 13, 21] {
        let plan = FaultPlan::swarm(seed, &Kv.hosts());
        let spec = plan.to_spec();
        let o = run(&Kv, v, seed, plan, RunOptions { net_trace: false });
        assert_eq!(o.verdict, Verdict::Pass, "seed {seed}, faults {spec}");
    }
}

#[test]
fn stale_reads_are_caught_by_the_linearizability_checker() {
    let v = Kv.variant("stale-reads").expect("kv has stale-reads");
    for seed in [1, 2, 3] {
        let o = run(
            &Kv,
            v,
            seed,
            FaultPlan::swarm(seed, &Kv.hosts()),
            RunOptions::default(),
        );
        let Verdict::Safety(violation) = &o.verdict else {
            panic!(
                "seed {seed}: expected a safety violation, got {:?}",
                o.verdict
            );
        };
        assert_eq!(violation.invariant, INVARIANT, "{violation:?}");
        assert!(
            violation.detail.contains("get(") && violation.detail.contains("cannot be placed"),
            "{violation:?}"
        );
        assert!(violation.op.is_some(), "the read is named");
    }
}

#[test]
fn sweep_all_includes_kv() {
    assert!(ALL.iter().any(|s| s.name() == "kv"));
}

#[test]
fn shrinking_stale_reads_keeps_the_linearizability_failure() {
    let v = Kv.variant("stale-reads").expect("kv has stale-reads");
    let hosts = Kv.hosts();
    let plan = FaultPlan::swarm(1, &hosts);
    let shrunk = shrink(&Kv, v, 1, plan.clone(), INVARIANT, 60).expect("seed 1 fails");
    let spec = shrunk.plan.to_spec();
    assert!(shrunk.plan.faults.len() <= plan.faults.len(), "{spec}");
    assert_eq!(
        shrunk.plan.hosts(&hosts).clients.len(),
        1,
        "one client suffices: {spec}"
    );
    let o = run(&Kv, v, 1, shrunk.plan, RunOptions::default());
    assert_eq!(
        o.verdict.violation().map(|v| v.invariant.as_str()),
        Some(INVARIANT),
        "{spec}"
    );
}
