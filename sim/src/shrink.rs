//! Shrinking a failing fault plan: greedily drop faults, reset knobs to
//! their defaults, shorten faults and move them earlier, keeping each change
//! only while the run (same seed) still breaks the *same* invariant.
//!
//! Every candidate is a full run, so the search is bounded by a run budget.

use crate::faults::{FaultPlan, Knobs};
use crate::runner::{Outcome, RunOptions, run};
use crate::scenario::{Scenario, Variant};
use std::time::Duration;

/// The result of [`shrink`].
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest failing plan found.
    pub plan: FaultPlan,
    /// Its run (with the full trace).
    pub outcome: Outcome,
    /// Runs spent.
    pub runs: usize,
}

/// Reduces `plan` while `scenario:variant` with `seed` still violates
/// `invariant`, spending at most `budget` runs. Returns `None` when `plan`
/// itself does not fail that way.
pub fn shrink(
    scenario: &dyn Scenario,
    variant: &'static Variant,
    seed: u64,
    plan: FaultPlan,
    invariant: &str,
    budget: usize,
) -> Option<Shrunk> {
    let quick = RunOptions { net_trace: false };
    let count = std::cell::Cell::new(0usize);
    let runs = || count.get();
    let fails = |p: &FaultPlan| -> bool {
        count.set(count.get() + 1);
        run(scenario, variant, seed, p.clone(), quick)
            .verdict
            .violation()
            .is_some_and(|v| v.invariant == invariant)
    };
    if !fails(&plan) {
        return None;
    }
    let mut best = plan;
    let mut progress = true;
    while progress && runs() < budget {
        progress = false;
        // 1. Drop whole faults, last first.
        let mut i = best.faults.len();
        while i > 0 && runs() < budget {
            i -= 1;
            let mut p = best.clone();
            p.faults.remove(i);
            if fails(&p) {
                best = p;
                progress = true;
            }
        }
        // 2. Knobs back to their defaults, one at a time.
        let d = Knobs::default();
        let tries: [fn(&mut Knobs, &Knobs); 3] = [
            |k, d| k.random_order = d.random_order,
            |k, d| k.repair_rate = d.repair_rate,
            |k, d| {
                k.min_latency_ms = d.min_latency_ms;
                k.max_latency_ms = d.max_latency_ms;
            },
        ];
        for t in tries {
            if runs() >= budget {
                break;
            }
            let mut p = best.clone();
            t(&mut p.knobs, &d);
            if p != best && fails(&p) {
                best = p;
                progress = true;
            }
        }
        // 3. Shorten each fault, then start it earlier (halving, while it
        //    still fails).
        for i in 0..best.faults.len() {
            while best.faults[i].dur >= Duration::from_millis(20) && runs() < budget {
                let mut p = best.clone();
                p.faults[i].dur = halve(p.faults[i].dur);
                if !fails(&p) {
                    break;
                }
                best = p;
                progress = true;
            }
            while best.faults[i].at >= Duration::from_millis(20) && runs() < budget {
                let mut p = best.clone();
                p.faults[i].at = halve(p.faults[i].at);
                p.faults.sort_by_key(|f| f.at);
                if !fails(&p) {
                    break;
                }
                best = p;
                progress = true;
            }
        }
    }
    let outcome = run(scenario, variant, seed, best.clone(), RunOptions::default());
    Some(Shrunk {
        plan: best,
        outcome,
        runs: runs() + 1,
    })
}

/// Half of `d`, rounded to whole milliseconds (so the spec stays exact).
fn halve(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis() / 2).unwrap_or(u64::MAX))
}
