//! An insta snapshot of one seed's JSONL trace: any change to what the echo
//! scenario, turmoil or the runner do shows up as a diff.

use heddle_sim::faults::FaultPlan;
use heddle_sim::runner::{RunOptions, Verdict, run};
use heddle_sim::scenario::Scenario;
use heddle_sim::scenarios::echo::Echo;

#[test]
fn echo_seed_1_trace() {
    let spec = "latency=1..10ms; repair=1; order=fixed; partition(server,client-1)@100ms+300ms";
    let plan = FaultPlan::parse(spec, &Echo.hosts()).expect("spec parses");
    let o = run(
        &Echo,
        Echo.default_variant(),
        1,
        plan,
        RunOptions::default(),
    );
    assert_eq!(o.verdict, Verdict::Pass);
    insta::assert_snapshot!(o.trace.to_jsonl());
}
