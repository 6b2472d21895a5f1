//! Model: the mutex counter and the atomic counter (guide §1.1).
//!
//! Invariants: no lost update (the final count is `initial + increments`);
//! the values returned by concurrent increments are exactly
//! `initial+1 ..= initial+n`, each once; a snapshot never pairs a count with
//! a message written for another count.
//!
//! The broken variants (an unlock-then-relock increment, a load-then-store
//! atomic) must be caught by loom and by shuttle.

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
