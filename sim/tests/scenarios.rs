//! The echo scenario over a fixed list of seeds, its broken variants caught,
//! determinism within a process, shrinking, and the fault spec round trip.

use heddle_sim::faults::FaultPlan;
use heddle_sim::runner::{FaultChoice, RunOptions, Verdict, run};
use heddle_sim::scenario::Scenario;
use heddle_sim::scenarios::echo::Echo;
use heddle_sim::shrink::shrink;

fn variant(name: &str) -> &'static heddle_sim::scenario::Variant {
    Echo.variant(name).expect("echo has this variant")
}

#[test]
fn echo_holds_over_a_fixed_list_of_seeds() {
    let v = Echo.default_variant();
    for seed in [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144] {
        let plan = FaultPlan::swarm(seed, &Echo.hosts());
        let spec = plan.to_spec();
        let o = run(&Echo, v, seed, plan, RunOptions { net_trace: false });
        assert_eq!(o.verdict, Verdict::Pass, "seed {seed}, faults {spec}");
    }
}

#[test]
fn reusing_a_timed_out_connection_is_caught_as_a_wrong_reply() {
    let v = variant("reuse-after-timeout");
    let o = run(
        &Echo,
        v,
        3,
        FaultPlan::swarm(3, &Echo.hosts()),
        RunOptions::default(),
    );
    let Verdict::Safety(violation) = &o.verdict else {
        panic!("expected a safety violation, got {:?}", o.verdict);
    };
    assert_eq!(violation.invariant, "echo-matches");
    assert!(violation.op.is_some(), "the violating operation is named");
    assert_eq!(
        o.trace.events.last().map(|e| e.kind.as_str()),
        Some("violation")
    );
}

#[test]
fn a_client_without_a_read_timeout_is_caught_as_a_liveness_failure() {
    let v = variant("no-timeout");
    let o = run(
        &Echo,
        v,
        0,
        FaultPlan::swarm(0, &Echo.hosts()),
        RunOptions::default(),
    );
    let Verdict::Liveness(violation) = &o.verdict else {
        panic!("expected a liveness failure, got {:?}", o.verdict);
    };
    assert_eq!(violation.invariant, "liveness");
    // The run stopped at the liveness deadline: heal + 10 s.
    assert!(o.sim_time >= o.heal_at + Echo.liveness().within);
}

/// The same seed twice in one process (after other runs, so tokio's
/// process-wide task ids differ) gives the same trace bytes; this includes
/// crashes and bounces, whose teardown order tokio does not fix.
#[test]
fn the_same_seed_gives_the_same_trace_in_one_process() {
    let v = Echo.default_variant();
    let spec = "latency=3..13ms; repair=0.39; order=random; crash(server)@299ms+2695ms; \
                bounce(server)@597ms; bounce(server)@861ms; bounce(server)@1139ms";
    let plan = FaultPlan::parse(spec, &Echo.hosts()).expect("spec parses");
    let first = run(&Echo, v, 55, plan.clone(), RunOptions::default());
    let _other = run(
        &Echo,
        v,
        7,
        FaultPlan::swarm(7, &Echo.hosts()),
        RunOptions::default(),
    );
    let second = run(&Echo, v, 55, plan, RunOptions::default());
    assert_eq!(first.verdict, Verdict::Pass);
    assert!(first.trace.events.iter().any(|e| e.kind == "crash"));
    assert_eq!(first.trace.to_jsonl(), second.trace.to_jsonl());
}

#[test]
fn shrinking_keeps_the_failure_and_makes_the_schedule_smaller() {
    let v = variant("reuse-after-timeout");
    let plan = FaultPlan::swarm(3, &Echo.hosts());
    let before = plan.faults.len();
    let shrunk = shrink(&Echo, v, 3, plan.clone(), "echo-matches", 150).expect("seed 3 fails");
    assert!(
        shrunk.plan.faults.len() < before,
        "{} faults before, {} after: {}",
        before,
        shrunk.plan.faults.len(),
        shrunk.plan.to_spec()
    );
    let again = run(&Echo, v, 3, shrunk.plan.clone(), RunOptions::default());
    assert_eq!(
        again.verdict.violation().map(|x| x.invariant.as_str()),
        Some("echo-matches")
    );
    // A plan that does not fail is not shrunk.
    assert!(shrink(&Echo, Echo.default_variant(), 3, plan, "echo-matches", 10).is_none());
}

#[test]
fn explicit_faults_round_trip_and_none_means_none() {
    let hosts = Echo.hosts();
    for seed in 0..50 {
        let plan = FaultChoice::Swarm.plan(seed, &hosts);
        assert_eq!(FaultPlan::parse(&plan.to_spec(), &hosts), Ok(plan));
    }
    assert!(FaultChoice::None.plan(1, &hosts).faults.is_empty());
}
