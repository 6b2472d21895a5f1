//! Linearizability as a scenario invariant: a scenario records its
//! operations, values of a [`Model`]'s types, with a
//! [`TypedRecorder`](crate::record::TypedRecorder), and its
//! [`Invariants::check_end`](crate::scenario::Invariants::check_end) hands
//! the run's typed history to [`check`], which runs heddle's checker on it.
//! A violation is named [`INVARIANT`], points at the operation that cannot
//! be placed, and gets the runner's seed, replay, shrinking and trace like
//! every other violation.
//!
//! Operations are ordered by their place in the recorded history (exact,
//! unlike simulated time, which many events share). An operation that
//! failed (timeout, unavailable, interrupted) has an unknown outcome: it may
//! have taken effect, or not.

use crate::record::RunHistory;
use crate::scenario::Violation;
use heddle::check::history::{Budget, Checker, Model, Verdict};

/// The invariant's name.
pub const INVARIANT: &str = "linearizable";

/// The search budget: generous for a scenario's few hundred operations,
/// and deterministic (steps, not time).
pub const STEPS: u64 = 50_000_000;

/// Checks `run` (a run's typed history) against `model`; `None` if
/// linearizable.
pub fn check<M: Model>(model: &M, run: &RunHistory<M::Op, M::Ret>) -> Option<Violation> {
    let RunHistory { history, ids } = run;
    let report = Checker::new()
        .budget(Budget {
            steps: Some(STEPS),
            time: None,
        })
        .check(model, history);
    match report.verdict {
        Verdict::Linearizable => None,
        Verdict::Unknown => Some(Violation::new(
            INVARIANT,
            format!(
                "undecided after {STEPS} steps ({} operations)",
                history.len()
            ),
            None,
        )),
        Verdict::NotLinearizable => {
            let f = report.failure()?;
            let bad = f.unplaceable.first().copied();
            let what = bad.map_or_else(String::new, |i| {
                let o = &history.ops[i];
                format!(": {} cannot be placed", model.describe(&o.op, o.ret()))
            });
            Some(Violation::new(
                INVARIANT,
                format!(
                    "partition {:?} ({} operations) is not linearizable; longest linearizable prefix {} operations{what}",
                    f.key,
                    f.ops.len(),
                    f.order.len()
                ),
                bad.map(|i| ids[i]),
            ))
        }
    }
}
