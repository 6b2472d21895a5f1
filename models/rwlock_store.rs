//! Model: the reader-writer store (guide §1.2).
//!
//! Invariants: while one reader holds a view, a second reader gets one
//! without waiting (readers never block each other); every insert reports the index where its item
//! sits, and indexes are distinct; a concurrent snapshot is a prefix of the
//! final contents; `writes` equals the number of inserts.
//!
//! Mutating methods raced, with at least two concurrent writers each:
//! `insert` against `insert` (two writer threads) while main reads a
//! `snapshot` (`inserts_report_their_index_and_snapshots_are_prefixes`).
//! `insert` is the store's only mutating method (`read` only counts reads).
//!
//! Broken variants caught by loom and shuttle: a store whose readers exclude
//! each other (the second reader cannot get in), and an insert that
//! reads its index before taking the write lock (duplicate index).

use heddle::check;
use heddle::concurrency::rwlock_store::Store;
use heddle::sync::atomic::{AtomicBool, Ordering::SeqCst};
use heddle::sync::{Arc, thread};

/// While the main thread holds a read view, a second reader must get one
/// without waiting. The attempt is non-blocking, so a broken store fails the
/// assertion instead of deadlocking the model.
fn second_reader_gets_in<S: Send + Sync + 'static>(
    make: fn() -> S,
    with_read: fn(&S, &dyn Fn()),
    try_read: fn(&S) -> bool,
) {
    check::model(move || {
        let store = Arc::new(make());
        let main_inside = Arc::new(AtomicBool::new(false));
        let tried = Arc::new(AtomicBool::new(false));
        let second = {
            let (store, main_inside, tried) = (
                Arc::clone(&store),
                Arc::clone(&main_inside),
                Arc::clone(&tried),
            );
            thread::spawn(move || {
                while !main_inside.load(SeqCst) {
                    thread::yield_now();
                }
                let got_in = try_read(&store);
                tried.store(true, SeqCst);
                got_in
            })
        };
        with_read(&store, &|| {
            main_inside.store(true, SeqCst);
            while !tried.load(SeqCst) {
                thread::yield_now();
            }
        });
        let got_in = second.join().expect("reader panicked");
        assert!(got_in, "a reader was blocked by another reader");
    });
}

#[test]
fn readers_never_block_each_other() {
    second_reader_gets_in(
        || {
            let s = Store::new();
            s.insert(7u8);
            s
        },
        |s, inside| {
            let view = s.read();
            inside();
            assert_eq!(view.len(), 1);
        },
        |s| s.try_read().is_some_and(|v| v.len() == 1),
    );
}

fn concurrent_inserts(insert: fn(&Store<u8>, u8) -> usize) {
    check::model(move || {
        let store = Store::new();
        let writers: Vec<_> = [1u8, 2]
            .into_iter()
            .map(|v| {
                let s = store.clone();
                thread::spawn(move || (v, insert(&s, v)))
            })
            .collect();
        let seen = store.snapshot();
        let placed: Vec<(u8, usize)> = writers
            .into_iter()
            .map(|w| w.join().expect("writer panicked"))
            .collect();
        let all = store.snapshot();
        assert_ne!(placed[0].1, placed[1].1, "insert index reported twice");
        for (v, i) in placed {
            assert_eq!(store.get(i), Some(v), "insert index does not hold the item");
        }
        assert!(all.starts_with(&seen), "snapshot is not a prefix");
        assert_eq!(store.access_count().writes, 2);
    });
}

#[test]
fn inserts_report_their_index_and_snapshots_are_prefixes() {
    concurrent_inserts(|s, v| s.insert(v));
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod broken {
    use super::*;
    use heddle::concurrency::rwlock_store::broken::{ExclusiveStore, racy_insert};

    #[test]
    #[should_panic(expected = "a reader was blocked by another reader")]
    fn readers_that_exclude_each_other_are_caught() {
        second_reader_gets_in(
            || {
                let s = ExclusiveStore::default();
                s.insert(7u8);
                s
            },
            |s, inside| {
                let view = s.read();
                inside();
                assert_eq!(view.len(), 1);
            },
            |s| s.try_read().is_some(),
        );
    }

    #[test]
    #[should_panic(expected = "insert index")]
    fn index_read_before_write_lock_is_caught() {
        concurrent_inserts(racy_insert);
    }
}
