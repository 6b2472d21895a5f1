//! The rpc scenario over a fixed list of seeds, its broken variants
//! caught with the right invariant, determinism within a process, and
//! shrinking on a variant (fewer faults, fewer clients, still failing the
//! same way).

// Not under `--features shuttle`: these run heddle's RPC server, whose
// de-duplication window is on the task facade (shuttle's there, which runs
// only inside a model). They run in the default build.
#![cfg(not(feature = "shuttle"))]

use heddle_sim::faults::FaultPlan;
use heddle_sim::runner::{RunOptions, Verdict, run};
use heddle_sim::scenario::{Scenario, Variant};
use heddle_sim::scenarios::rpc::Rpc;
use heddle_sim::shrink::shrink;

fn variant(name: &str) -> &'static Variant {
    Rpc.variant(name).expect("rpc has this variant")
}

/// A seed whose swarm faults make `rpc:no-dedup` run a retried call twice.
const NO_DEDUP_SEED: u64 = 1;
/// A seed whose swarm faults leave an `rpc:no-timeout` call waiting forever.
const NO_TIMEOUT_SEED: u64 = 1;

#[test]
fn rpc_holds_over_a_fixed_list_of_seeds() {
    let v = Rpc.default_variant();
    for seed in [0, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144] {
        let plan = FaultPlan::swarm(seed, &Rpc.hosts());
        let spec = plan.to_spec();
        let o = run(&Rpc, v, seed, plan, RunOptions { net_trace: false });
        assert_eq!(o.verdict, Verdict::Pass, "seed {seed}, faults {spec}");
    }
}

#[test]
fn a_server_without_dedup_is_caught_running_a_call_twice() {
    let seed = NO_DEDUP_SEED;
    let o = run(
        &Rpc,
        variant("no-dedup"),
        seed,
        FaultPlan::swarm(seed, &Rpc.hosts()),
        RunOptions::default(),
    );
    let Verdict::Safety(violation) = &o.verdict else {
        panic!("expected a safety violation, got {:?}", o.verdict);
    };
    assert_eq!(violation.invariant, "at-most-once", "{violation:?}");
    assert!(
        violation.detail.contains("executed 2 times"),
        "{violation:?}"
    );
    assert!(violation.op.is_some(), "the violating call is named");
    assert_eq!(
        o.trace.events.last().map(|e| e.kind.as_str()),
        Some("violation")
    );
    // The same seed with heddle's server holds.
    let ok = run(
        &Rpc,
        Rpc.default_variant(),
        seed,
        FaultPlan::swarm(seed, &Rpc.hosts()),
        RunOptions { net_trace: false },
    );
    assert_eq!(ok.verdict, Verdict::Pass);
}

#[test]
fn a_client_without_timeouts_is_caught_with_a_call_that_never_ends() {
    let seed = NO_TIMEOUT_SEED;
    let o = run(
        &Rpc,
        variant("no-timeout"),
        seed,
        FaultPlan::swarm(seed, &Rpc.hosts()),
        RunOptions::default(),
    );
    let Verdict::Safety(violation) = &o.verdict else {
        panic!("expected a safety violation, got {:?}", o.verdict);
    };
    assert_eq!(violation.invariant, "call-ends", "{violation:?}");
    assert!(violation.op.is_some(), "the waiting call is named");
    // The run went on to the liveness deadline: heal + 10 s.
    assert!(o.sim_time >= o.heal_at + Rpc.liveness().within);
}

/// Each planted defect of issue #9, on the first seed of a sweep, is caught
/// by the invariant written for it, and the same seed passes with heddle's
/// code. (Before issue #9 the scenario's handlers finished on their first
/// poll, so no retry ever joined a running call and the two join defects
/// passed every seed; and `own-result`, `attempt-answered` and
/// `in-flight-empty` did not exist.)
#[test]
fn each_planted_defect_is_caught_by_its_invariant() {
    let cases = [
        ("shared-seed", "own-result", "was answered client-"),
        ("join-wrong-id", "attempt-answered", "never answered"),
        ("join-leak", "in-flight-empty", "held calls in flight"),
    ];
    let seed = 0;
    for (name, invariant, detail) in cases {
        let o = run(
            &Rpc,
            variant(name),
            seed,
            FaultPlan::swarm(seed, &Rpc.hosts()),
            RunOptions { net_trace: false },
        );
        let Verdict::Safety(violation) = &o.verdict else {
            panic!("{name}: expected a safety violation, got {:?}", o.verdict);
        };
        assert_eq!(violation.invariant, invariant, "{name}: {violation:?}");
        assert!(violation.detail.contains(detail), "{name}: {violation:?}");
    }
    let ok = run(
        &Rpc,
        Rpc.default_variant(),
        seed,
        FaultPlan::swarm(seed, &Rpc.hosts()),
        RunOptions { net_trace: false },
    );
    assert_eq!(ok.verdict, Verdict::Pass);
}

/// The same seed twice in one process, with another run between (tokio's
/// process-wide task ids differ), gives the same trace bytes, crash and
/// bounce included.
#[test]
fn the_same_rpc_seed_gives_the_same_trace_in_one_process() {
    let v = Rpc.default_variant();
    let spec = "latency=0..40ms; repair=0.5; order=random; loss(0.01)@300ms+600ms; \
                crash(server)@500ms+700ms; bounce(server)@1500ms; hold(server,client-2)@1600ms+400ms";
    let plan = FaultPlan::parse(spec, &Rpc.hosts()).expect("spec parses");
    let first = run(&Rpc, v, 9, plan.clone(), RunOptions::default());
    let _other = run(
        &Rpc,
        v,
        4,
        FaultPlan::swarm(4, &Rpc.hosts()),
        RunOptions::default(),
    );
    let second = run(&Rpc, v, 9, plan, RunOptions::default());
    assert_eq!(first.verdict, Verdict::Pass);
    assert!(first.trace.events.iter().any(|e| e.kind == "crash"));
    assert!(first.trace.events.iter().any(|e| e.kind == "bounce"));
    // The server's notes show the trace context each call carried: the
    // workload's op id as trace id and parent span.
    assert!(
        first.trace.events.iter().any(|e| e.kind == "rpc-call"
            && e.host == "server"
            && e.detail.contains(" trace 0000")),
        "no rpc-call note with a trace context"
    );
    assert_eq!(first.trace.to_jsonl(), second.trace.to_jsonl());
}

#[test]
fn shrinking_an_rpc_variant_drops_faults_and_clients_and_keeps_the_failure() {
    let v = variant("no-dedup");
    let seed = NO_DEDUP_SEED;
    let hosts = Rpc.hosts();
    let plan = FaultPlan::swarm(seed, &hosts);
    let shrunk = shrink(&Rpc, v, seed, plan.clone(), "at-most-once", 80).expect("the seed fails");
    let after = &shrunk.plan;
    let spec = after.to_spec();
    assert!(shrunk.runs <= 81, "{} runs", shrunk.runs);
    assert!(
        after.faults.len() < plan.faults.len(),
        "{} faults before, {} after: {spec}",
        plan.faults.len(),
        after.faults.len()
    );
    let clients = after.hosts(&hosts).clients;
    assert!(
        clients.len() < hosts.clients.len() && clients.len() >= Rpc.min_clients(),
        "clients after shrinking: {clients:?} ({spec})"
    );
    assert!(
        after.heal_at() < plan.heal_at(),
        "faults heal at {:?}, before at {:?}",
        after.heal_at(),
        plan.heal_at()
    );
    // No fault names a client left out.
    for c in hosts.clients.iter().filter(|c| !clients.contains(c)) {
        assert!(!after.faults.iter().any(|f| f.names(c)), "{spec}");
    }
    assert_eq!(
        shrunk
            .outcome
            .verdict
            .violation()
            .map(|x| x.invariant.as_str()),
        Some("at-most-once")
    );
    // The printed spec is the plan: parsed back, it fails the same way.
    let back = FaultPlan::parse(&spec, &hosts).expect("the shrunk spec parses");
    assert_eq!(&back, after);
    let again = run(&Rpc, v, seed, back, RunOptions::default());
    assert_eq!(
        again.verdict.violation().map(|x| x.invariant.as_str()),
        Some("at-most-once")
    );
    assert_eq!(again.trace.to_jsonl(), shrunk.outcome.trace.to_jsonl());
}

#[test]
fn a_plan_without_some_clients_runs_only_the_others() {
    let hosts = Rpc.hosts();
    let plan = FaultPlan::parse(
        "latency=1..10ms; repair=1; order=fixed; clients=client-2; partition(server,client-2)@200ms+300ms",
        &hosts,
    )
    .expect("spec parses");
    let o = run(&Rpc, Rpc.default_variant(), 3, plan, RunOptions::default());
    assert_eq!(o.verdict, Verdict::Pass);
    let lanes: std::collections::BTreeSet<&str> = o
        .trace
        .events
        .iter()
        .map(|e| e.host.as_str())
        .filter(|h| *h != "*")
        .collect();
    assert_eq!(lanes, ["client-2", "server"].into_iter().collect());
}
