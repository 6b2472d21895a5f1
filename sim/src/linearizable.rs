//! Linearizability as a scenario invariant: a scenario records each
//! operation's input and output as JSON of a [`Model`]'s types, and its
//! [`Invariants::check_end`](crate::scenario::Invariants::check_end) hands
//! the run's history to [`check`], which rebuilds the typed history and runs
//! heddle's checker on it. A violation is named [`INVARIANT`], points at the
//! operation that cannot be placed, and gets the runner's seed, replay,
//! shrinking and trace like every other violation.
//!
//! Operations are ordered by their place in the recorded history (exact,
//! unlike simulated time, which many events share). An operation that
//! failed (timeout, unavailable, interrupted) has an unknown outcome: it may
//! have taken effect, or not.

use crate::record::{OpEvent, OpId, OpRecord};
use crate::scenario::Violation;
use heddle::check::history::{Budget, Checker, Completion, History, Model, Operation, Verdict};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// The invariant's name.
pub const INVARIANT: &str = "linearizable";

/// The search budget: generous for a scenario's few hundred operations,
/// and deterministic (steps, not time).
pub const STEPS: u64 = 50_000_000;

/// Checks `records` (a run's history) against `model`; `None` if
/// linearizable.
pub fn check<M>(model: &M, records: &[OpRecord]) -> Option<Violation>
where
    M: Model,
    M::Op: DeserializeOwned,
    M::Ret: DeserializeOwned,
{
    let (history, ids) = match typed::<M::Op, M::Ret>(records) {
        Ok(h) => h,
        Err(v) => return Some(v),
    };
    let report = Checker::new()
        .budget(Budget {
            steps: Some(STEPS),
            time: None,
        })
        .check(model, &history);
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

/// The typed history of `records`, and each operation's run id.
pub fn typed<O: DeserializeOwned, R: DeserializeOwned>(
    records: &[OpRecord],
) -> Result<(History<O, R>, Vec<OpId>), Violation> {
    let mut h = History::new();
    let mut ids = Vec::new();
    let mut index: BTreeMap<OpId, usize> = BTreeMap::new();
    let bad = |r: &OpRecord, e: serde_json::Error| {
        Violation::new(
            INVARIANT,
            format!(
                "operation {} is not recorded as the model's JSON: {e}",
                r.id
            ),
            Some(r.id),
        )
    };
    for (t, r) in records.iter().enumerate() {
        let t = t as u64;
        match &r.event {
            OpEvent::Invoke { input, .. } => {
                let op = serde_json::from_str(input).map_err(|e| bad(r, e))?;
                index.insert(r.id, h.len());
                ids.push(r.id);
                h.push(Operation {
                    client: crate::fnv64(r.client.as_bytes()),
                    op,
                    invoked: t,
                    completed: None,
                });
            }
            OpEvent::Ok { output } => {
                let ret = serde_json::from_str(output).map_err(|e| bad(r, e))?;
                if let Some(&i) = index.get(&r.id) {
                    h.ops[i].completed = Some(Completion { at: t, ret });
                }
            }
            OpEvent::Err { .. } => {}
        }
    }
    Ok((h, ids))
}
