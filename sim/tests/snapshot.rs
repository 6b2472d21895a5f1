//! insta snapshots of one seed's JSONL trace per scenario: any change to
//! what the scenario's software, turmoil or the runner do shows up as a
//! diff.

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

/// Client-1's replies are cut off (its calls time out, it reconnects and
/// retries; the server answers the retries from its de-duplication window),
/// then the server crashes and restarts.
// Runs the RPC server: not under shuttle (see sim/Cargo.toml).
#[cfg(not(feature = "shuttle"))]
#[test]
fn rpc_seed_1_trace() {
    use heddle_sim::scenarios::rpc::Rpc;
    let spec = "latency=1..10ms; repair=1; order=fixed; \
                oneway(server>client-1)@300ms+700ms; crash(server)@1200ms+300ms";
    let plan = FaultPlan::parse(spec, &Rpc.hosts()).expect("spec parses");
    let o = run(&Rpc, Rpc.default_variant(), 1, plan, RunOptions::default());
    assert_eq!(o.verdict, Verdict::Pass);
    let trace = o.trace.to_jsonl();
    assert!(trace.lines().count() < 600, "keep the snapshot small");
    insta::assert_snapshot!(trace);
}
