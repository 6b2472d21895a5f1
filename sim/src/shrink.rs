//! Shrinking a failing fault plan, keeping each change only while the run
//! (same seed) still breaks the *same* invariant. Greedy passes, repeated
//! while one of them makes progress:
//!
//! 1. drop whole faults, last first;
//! 2. leave clients out, last first, down to [`Scenario::min_clients`]
//!    (faults that name a dropped client go with it);
//! 3. reset the knobs to their defaults, one at a time;
//! 4. per fault, binary-search the shortest duration that still fails, then
//!    the earliest start (to the millisecond; failure is not monotone in
//!    either, so this finds a small failing value, not the smallest).
//!
//! Every candidate is a full run, so the search is bounded by a run budget;
//! runs are deterministic, so a plan already tried is not run again.

use crate::faults::{FaultPlan, Knobs};
use crate::runner::{Outcome, RunOptions, run};
use crate::scenario::{Scenario, Variant};
use std::collections::BTreeMap;
use std::time::Duration;

/// The result of [`shrink`].
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest failing plan found.
    pub plan: FaultPlan,
    /// Its run (with the full trace).
    pub outcome: Outcome,
    /// Runs spent (including the final traced run).
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
    let mut s = Search {
        scenario,
        variant,
        seed,
        invariant,
        budget,
        runs: 0,
        seen: BTreeMap::new(),
    };
    if !s.fails(&plan) {
        return None;
    }
    let mut best = plan;
    let mut progress = true;
    while progress && s.left() {
        progress = false;
        progress |= s.drop_faults(&mut best);
        progress |= s.drop_clients(&mut best);
        progress |= s.reset_knobs(&mut best);
        progress |= s.shorten_and_advance_faults(&mut best);
    }
    let outcome = run(scenario, variant, seed, best.clone(), RunOptions::default());
    Some(Shrunk {
        plan: best,
        outcome,
        runs: s.runs + 1,
    })
}

/// The state of one shrink: what it runs, the budget, and the plans tried.
struct Search<'a> {
    scenario: &'a dyn Scenario,
    variant: &'static Variant,
    seed: u64,
    invariant: &'a str,
    budget: usize,
    runs: usize,
    /// Spec → whether it failed the same way.
    seen: BTreeMap<String, bool>,
}

impl Search<'_> {
    fn left(&self) -> bool {
        self.runs < self.budget
    }

    /// Pass 1: drops whole faults, last first. Returns whether one went.
    fn drop_faults(&mut self, best: &mut FaultPlan) -> bool {
        let mut progress = false;
        let mut i = best.faults.len();
        while i > 0 && self.left() {
            i -= 1;
            let mut p = best.clone();
            p.faults.remove(i);
            if self.fails(&p) {
                *best = p;
                progress = true;
            }
        }
        progress
    }

    /// Pass 2: leaves clients out, last first, down to the scenario's
    /// minimum. Returns whether one went.
    fn drop_clients(&mut self, best: &mut FaultPlan) -> bool {
        let all = self.scenario.hosts();
        let min = self.scenario.min_clients().max(1);
        let mut progress = false;
        let clients = best.hosts(&all).clients;
        for c in clients.iter().rev() {
            if best.hosts(&all).clients.len() <= min || !self.left() {
                break;
            }
            let p = best.without_client(c, &all);
            if self.fails(&p) {
                *best = p;
                progress = true;
            }
        }
        progress
    }

    /// Pass 3: puts the knobs back to their defaults, one at a time.
    /// Returns whether one went back.
    fn reset_knobs(&mut self, best: &mut FaultPlan) -> bool {
        let d = Knobs::default();
        let tries: [fn(&mut Knobs, &Knobs); 3] = [
            |k, d| k.random_order = d.random_order,
            |k, d| k.repair_rate = d.repair_rate,
            |k, d| {
                k.min_latency_ms = d.min_latency_ms;
                k.max_latency_ms = d.max_latency_ms;
            },
        ];
        let mut progress = false;
        for t in tries {
            if !self.left() {
                break;
            }
            let mut p = best.clone();
            t(&mut p.knobs, &d);
            if p != *best && self.fails(&p) {
                *best = p;
                progress = true;
            }
        }
        progress
    }

    /// Pass 4: makes each fault shorter, then earlier. Faults are re-sorted
    /// by start after a move, so this follows the fault, not its index.
    /// Returns whether one changed.
    fn shorten_and_advance_faults(&mut self, best: &mut FaultPlan) -> bool {
        let mut progress = false;
        for i in 0..best.faults.len() {
            let fault = best.faults[i].clone();
            let (found, p) = self.least(best, ms(fault.dur), |p, v| {
                if let Some(f) = p.faults.iter_mut().find(|f| **f == fault) {
                    f.dur = Duration::from_millis(v);
                }
            });
            if found < ms(fault.dur) {
                *best = p;
                progress = true;
            }
            let Some(fault) = best.faults.get(i).cloned() else {
                break;
            };
            let (found, p) = self.least(best, ms(fault.at), |p, v| {
                if let Some(f) = p.faults.iter_mut().find(|f| **f == fault) {
                    f.at = Duration::from_millis(v);
                }
                p.faults.sort_by_key(|f| f.at);
            });
            if found < ms(fault.at) {
                *best = p;
                progress = true;
            }
        }
        progress
    }

    /// Whether `p` still breaks the invariant (a run, unless already tried).
    fn fails(&mut self, p: &FaultPlan) -> bool {
        let spec = p.to_spec();
        if let Some(&known) = self.seen.get(&spec) {
            return known;
        }
        self.runs += 1;
        let quick = RunOptions { net_trace: false };
        let failed = run(self.scenario, self.variant, self.seed, p.clone(), quick)
            .verdict
            .violation()
            .is_some_and(|v| v.invariant == self.invariant);
        self.seen.insert(spec, failed);
        failed
    }

    /// Binary search for the least value in `1..=hi` (ms) at which `best`,
    /// changed by `set`, still fails; `hi` is known to fail (it is `best`).
    /// Returns that value and its plan.
    fn least(
        &mut self,
        best: &FaultPlan,
        hi: u64,
        set: impl Fn(&mut FaultPlan, u64),
    ) -> (u64, FaultPlan) {
        let (mut lo, mut hi) = (0, hi);
        let mut found = best.clone();
        while hi - lo > 1 && self.left() {
            let mid = lo + (hi - lo) / 2;
            let mut p = best.clone();
            set(&mut p, mid);
            if self.fails(&p) {
                hi = mid;
                found = p;
            } else {
                lo = mid;
            }
        }
        (hi, found)
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
