//! Model: the mutex counter and the atomic counter (guide §1.1).
//!
//! Invariants: no lost update (the final count is `initial + increments`);
//! the values returned by concurrent increments are exactly
//! `initial+1 ..= initial+n`, each once; a snapshot never pairs a count with
//! a message written for another count.
//!
//! The broken variants (an unlock-then-relock increment, a load-then-store
//! atomic, a `record` split across two lock acquisitions) must be caught by
//! loom and by shuttle.
//!
//! Mutating methods raced, with at least two concurrent writers each:
//!
//! | method | raced against | model |
//! | --- | --- | --- |
//! | `Counter::increment` | 2 × `increment` | `mutex_counter_loses_no_update` |
//! | `Counter::record` | `record`, `add`, `set_message` | `record_add_and_set_message_race` |
//! | `Counter::add` | `record`, `set_message` | `record_add_and_set_message_race` |
//! | `Counter::set_message` | `record`, `add`; `snapshot` reads | `record_add_and_set_message_race`, `snapshot_never_tears` |
//! | `AtomicCounter::increment` | 2 × `increment` | `atomic_counter_loses_no_update` |
//! | `AtomicCounter::add` | `increment` (the same CAS loop) | `atomic_add_and_increment_race` |

use heddle::check;
use heddle::concurrency::counter::{AtomicCounter, Counter, CounterError};
use heddle::sync::{Arc, thread};

const THREADS: u64 = 2;

/// Two threads increment once each while main increments once; checks the
/// final value and that the returned values are a permutation of 1..=3.
fn lost_update_model<C, I>(make: fn() -> C, incr: I, get: fn(&C) -> u64)
where
    C: Send + Sync + 'static,
    I: Fn(&C) -> Result<u64, CounterError> + Copy + Send + Sync + 'static,
{
    check::model(move || {
        let counter = Arc::new(make());
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                let c = Arc::clone(&counter);
                thread::spawn(move || incr(&c))
            })
            .collect();
        let mut seen = vec![incr(&counter).expect("no overflow")];
        for h in handles {
            seen.push(h.join().expect("thread panicked").expect("no overflow"));
        }
        seen.sort_unstable();
        assert_eq!(get(&counter), THREADS + 1, "lost update: final count");
        assert_eq!(
            seen,
            (1..=THREADS + 1).collect::<Vec<_>>(),
            "lost update: duplicate value handed out"
        );
    });
}

#[test]
fn mutex_counter_loses_no_update() {
    lost_update_model(|| Counter::new(0, "m"), Counter::increment, Counter::get);
}

#[test]
fn atomic_counter_loses_no_update() {
    lost_update_model(
        || AtomicCounter::new(0),
        AtomicCounter::increment,
        AtomicCounter::get,
    );
}

/// `record` changes count and message together: a concurrent snapshot sees
/// either the old pair or the new pair, never a mix.
#[test]
fn snapshot_never_tears() {
    check::model(|| {
        let counter = Counter::new(0, "0");
        let writer = {
            let c = counter.clone();
            thread::spawn(move || {
                c.record("1").expect("no overflow");
            })
        };
        let snap = counter.snapshot();
        assert_eq!(snap.message, snap.count.to_string(), "torn snapshot");
        writer.join().expect("writer panicked");
        assert_eq!(counter.snapshot().message, "1");
    });
}

/// Two threads `record` while main `add`s and then sets the message:
/// `record` and `add` both read-modify-write the count (two writers), and
/// `set_message` writes the message `record` also writes.
fn record_race(record: fn(&Counter, &str) -> Result<u64, CounterError>) {
    check::model(move || {
        let counter = Counter::new(0, "0");
        let writers: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|m| {
                let c = counter.clone();
                thread::spawn(move || record(&c, m).expect("no overflow"))
            })
            .collect();
        counter.add(10).expect("no overflow");
        counter.set_message("m");
        let mut seen: Vec<u64> = writers
            .into_iter()
            .map(|h| h.join().expect("writer panicked"))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        let snap = counter.snapshot();
        assert_eq!(snap.count, 12, "lost update: record");
        assert_eq!(seen.len(), 2, "lost update: two records saw one count");
        assert!(
            ["a", "b", "m"].contains(&snap.message.as_str()),
            "foreign message"
        );
    });
}

fn record(c: &Counter, m: &str) -> Result<u64, CounterError> {
    c.record(m)
}

#[test]
fn record_add_and_set_message_race() {
    record_race(record);
}

#[test]
fn atomic_add_and_increment_race() {
    check::model(|| {
        let counter = Arc::new(AtomicCounter::new(0));
        let c2 = Arc::clone(&counter);
        let t = thread::spawn(move || c2.add(5).expect("no overflow"));
        let mine = counter.increment().expect("no overflow");
        let theirs = t.join().expect("thread panicked");
        assert_eq!(counter.get(), 6, "lost update: add");
        assert!([1, 6].contains(&mine) && [5, 6].contains(&theirs) && mine != theirs);
    });
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod broken {
    use super::*;
    use heddle::concurrency::counter::broken;

    #[test]
    #[should_panic(expected = "lost update")]
    fn unlock_relock_increment_is_caught() {
        lost_update_model(
            || Counter::new(0, "m"),
            broken::unlock_relock_increment,
            Counter::get,
        );
    }

    /// Failed before: `record` was only modelled with one writer, so this
    /// split passed loom and shuttle.
    #[test]
    #[should_panic(expected = "lost update: record")]
    fn split_record_is_caught() {
        record_race(broken::split_record);
    }

    #[test]
    #[should_panic(expected = "lost update")]
    fn load_store_atomic_is_caught() {
        lost_update_model(
            || AtomicCounter::new(0),
            broken::load_store_increment,
            AtomicCounter::get,
        );
    }
}
