//! Model: the key-value actor (guide §1.4).
//!
//! Invariants:
//! - the answers two concurrent clients get, and the final map, are those of
//!   some serial order of the two clients' operation sequences (checked by
//!   trying every interleaving);
//! - `update` is an atomic read-modify-write: two concurrent increments give
//!   2, and hand out 1 and 2;
//! - a call racing `shutdown` is either applied (and in the final map) or
//!   refused with `Stopped`, never stuck; once a client sees `Stopped` it
//!   keeps seeing it; every call after shutdown is `Stopped`; of two
//!   concurrent shutdowns exactly one gets the map, and both return.
//!   Shutdown always terminates: loom and shuttle report any deadlock.
//!
//! The broken variant (a client-side `get` then `set` increment) must be
//! caught by loom and by shuttle.
//!
//! Mutating methods raced, with at least two concurrent writers each:
//!
//! | method | raced against | model |
//! | --- | --- | --- |
//! | `set` | `delete` (and `get`) from another client | `answers_match_a_serial_order` |
//! | `delete` | `set`, `update` (as `Add`) | `answers_match_a_serial_order` |
//! | `update` | `update` (two increments); `delete` | `update_loses_no_increment`, `answers_match_a_serial_order` |
//! | `set` | `shutdown` | `calls_racing_shutdown_are_answered_or_refused` |
//! | `shutdown` | `shutdown`; `set` | `concurrent_shutdowns_both_return_one_gets_the_map`, `calls_racing_shutdown_are_answered_or_refused` |

use std::collections::BTreeMap;

use heddle::check;
use heddle::concurrency::kv_actor::{self, ActorError, ActorRef};
use heddle::sync::thread;

const KEY: &str = "k";

type Kv = ActorRef<&'static str, u64>;
type Answer = Result<Option<u64>, ActorError>;

/// One client operation on [`KEY`].
#[derive(Clone, Copy, Debug)]
enum Op {
    Get,
    Set(u64),
    Delete,
    /// `update`: add to the current value (absent counts as 0).
    Add(u64),
}

impl Op {
    fn call(self, kv: &Kv) -> Answer {
        match self {
            Op::Get => kv.get(KEY),
            Op::Set(v) => kv.set(KEY, v),
            Op::Delete => kv.delete(KEY),
            Op::Add(n) => kv.update(KEY, move |v| Some(v.copied().unwrap_or(0) + n)),
        }
    }

    /// What the operation answers when applied to `state` serially.
    fn apply(self, state: &mut Option<u64>) -> Option<u64> {
        match self {
            Op::Get => *state,
            Op::Set(v) => state.replace(v),
            Op::Delete => state.take(),
            Op::Add(n) => {
                *state = Some(state.unwrap_or(0) + n);
                *state
            }
        }
    }
}

/// Whether some interleaving of `a` and `b` (each kept in program order),
/// applied serially to `state`, gives exactly the recorded answers and ends
/// in `last`.
fn serializable(
    a: &[(Op, Option<u64>)],
    b: &[(Op, Option<u64>)],
    state: Option<u64>,
    last: Option<u64>,
) -> bool {
    let step = |ops: &[(Op, Option<u64>)], other: &[(Op, Option<u64>)], flip: bool| {
        let Some(&(op, answer)) = ops.first() else {
            return false;
        };
        let mut next = state;
        if op.apply(&mut next) != answer {
            return false;
        }
        if flip {
            serializable(other, &ops[1..], next, last)
        } else {
            serializable(&ops[1..], other, next, last)
        }
    };
    if a.is_empty() && b.is_empty() {
        return state == last;
    }
    step(a, b, false) || step(b, a, true)
}

fn run_ops(kv: &Kv, ops: &[Op]) -> Vec<(Op, Option<u64>)> {
    ops.iter()
        .map(|&op| (op, op.call(kv).expect("actor running")))
        .collect()
}

/// Main and one client run two operations each on one key; the answers and
/// the final map must come from one serial order.
#[test]
fn answers_match_a_serial_order() {
    check::model(|| {
        let kv: Kv = kv_actor::spawn();
        let client = {
            let kv = kv.clone();
            thread::spawn(move || run_ops(&kv, &[Op::Get, Op::Delete]))
        };
        let mine = run_ops(&kv, &[Op::Set(1), Op::Add(10)]);
        let theirs = client.join().expect("client panicked");
        let map = kv.shutdown().expect("first shutdown");
        let last = map.get(KEY).copied();
        assert!(
            map.keys().all(|k| *k == KEY),
            "only {KEY} was written: {map:?}"
        );
        assert!(
            serializable(&mine, &theirs, None, last),
            "no serial order explains the actor's answers: main {mine:?}, client {theirs:?}, final {last:?}"
        );
    });
}

/// The checker itself (plain code, no engine): it accepts a serializable
/// history and rejects ones that no serial order explains.
#[test]
fn serial_order_checker_is_not_vacuous() {
    let mine = [(Op::Set(1), None), (Op::Add(10), Some(11))];
    // Client ran between main's two operations.
    let theirs = [(Op::Get, Some(1)), (Op::Delete, Some(1))];
    assert!(!serializable(&mine, &theirs, None, Some(11)));
    let mine_after_delete = [(Op::Set(1), None), (Op::Add(10), Some(10))];
    assert!(serializable(&mine_after_delete, &theirs, None, Some(10)));
    // A get that saw a value nobody ever stored.
    let theirs = [(Op::Get, Some(5)), (Op::Delete, None)];
    assert!(!serializable(&mine, &theirs, None, Some(11)));
    // Both of the client's operations after main's.
    let theirs = [(Op::Get, Some(11)), (Op::Delete, Some(11))];
    assert!(serializable(&mine, &theirs, None, None));
    assert!(!serializable(&mine, &theirs, None, Some(11)));
}

/// Main and one client increment the same key once each with `incr`.
fn two_increments_model(incr: fn(&Kv, &'static str) -> Answer) {
    check::model(move || {
        let kv: Kv = kv_actor::spawn();
        let client = {
            let kv = kv.clone();
            thread::spawn(move || incr(&kv, KEY))
        };
        let mine = incr(&kv, KEY).expect("actor running");
        let theirs = client
            .join()
            .expect("client panicked")
            .expect("actor running");
        let map = kv.shutdown().expect("first shutdown");
        assert_eq!(map.get(KEY), Some(&2), "lost update: final value");
        let mut seen = [mine, theirs];
        seen.sort_unstable();
        assert_eq!(
            seen,
            [Some(1), Some(2)],
            "lost update: both increments saw the same value"
        );
    });
}

fn update_increment(kv: &Kv, key: &'static str) -> Answer {
    kv.update(key, |v| Some(v.copied().unwrap_or(0) + 1))
}

#[test]
fn update_loses_no_increment() {
    two_increments_model(update_increment);
}

/// A client calls `set` then `get` while main shuts the actor down.
#[test]
fn calls_racing_shutdown_are_answered_or_refused() {
    check::model(|| {
        let kv: Kv = kv_actor::spawn();
        let client = {
            let kv = kv.clone();
            thread::spawn(move || (kv.set(KEY, 1), kv.get(KEY)))
        };
        let map = kv.shutdown().expect("first shutdown");
        let (set, get) = client.join().expect("client panicked");
        match set {
            Ok(prev) => {
                assert_eq!(prev, None);
                assert_eq!(map, BTreeMap::from([(KEY, 1)]), "an applied set is kept");
                assert!(
                    matches!(get, Ok(Some(1)) | Err(ActorError::Stopped)),
                    "get after set: {get:?}"
                );
            }
            Err(e) => {
                assert_eq!(e, ActorError::Stopped);
                assert!(map.is_empty(), "a refused set is not applied: {map:?}");
                assert_eq!(get, Err(ActorError::Stopped), "stopped stays stopped");
            }
        }
        assert_eq!(kv.get(KEY), Err(ActorError::Stopped));
        assert_eq!(update_increment(&kv, KEY), Err(ActorError::Stopped));
        assert_eq!(kv.shutdown(), Err(ActorError::Stopped));
    });
}

/// Main and a client shut down at the same time: both return, exactly one
/// gets the map.
#[test]
fn concurrent_shutdowns_both_return_one_gets_the_map() {
    check::model(|| {
        let kv: Kv = kv_actor::spawn_with(BTreeMap::from([(KEY, 5)]));
        let client = {
            let kv = kv.clone();
            thread::spawn(move || kv.shutdown())
        };
        let mine = kv.shutdown();
        let theirs = client.join().expect("client panicked");
        let mut outcomes = [mine, theirs];
        outcomes.sort_by_key(Result::is_err);
        assert_eq!(
            outcomes,
            [Ok(BTreeMap::from([(KEY, 5)])), Err(ActorError::Stopped)],
            "exactly one shutdown gets the map"
        );
        assert_eq!(kv.set(KEY, 6), Err(ActorError::Stopped));
    });
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod broken {
    use super::*;
    use heddle::concurrency::kv_actor::broken;

    #[test]
    #[should_panic(expected = "lost update")]
    fn client_side_get_then_set_is_caught() {
        two_increments_model(broken::increment);
    }
}
