//! How many std stress iterations until `check::model` finds three classic
//! bugs, with and without the facade's scheduling noise (BENCHMARKS.md).
//!
//! `cargo run --release --example noise_find [MAX_ITERATIONS] [SEEDS]`
//! (defaults 200000 and 5). Each bug runs once per seed with noise and once
//! per seed without; the table shows the iteration of the first failure, or
//! `> MAX` when none was found. Deadlocks and lost wake-ups are detected by
//! the stress run's block limit, set to 50 ms here.

#![cfg_attr(
    any(feature = "loom", feature = "shuttle"),
    allow(dead_code, unused_imports)
)]

use heddle::check::Model;
use heddle::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use heddle::sync::{Arc, Condvar, Mutex, thread};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

/// Two threads and main each add one by reading under the lock and writing
/// under a second acquisition.
fn racy_mutex_counter() {
    let n = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..2)
        .map(|_| {
            let n = Arc::clone(&n);
            thread::spawn(move || {
                let v = *n.lock();
                *n.lock() = v + 1;
            })
        })
        .collect();
    let v = *n.lock();
    *n.lock() = v + 1;
    for h in hs {
        h.join().expect("thread panicked");
    }
    assert_eq!(*n.lock(), 3, "lost update");
}

/// The same with an atomic load followed by a store.
fn racy_atomic_counter() {
    let n = Arc::new(AtomicU64::new(0));
    let n2 = Arc::clone(&n);
    let h = thread::spawn(move || n2.store(n2.load(SeqCst) + 1, SeqCst));
    n.store(n.load(SeqCst) + 1, SeqCst);
    h.join().expect("thread panicked");
    assert_eq!(n.load(SeqCst), 2, "lost update");
}

/// Main takes a then b, the thread b then a.
fn lock_order_inversion() {
    let l = Arc::new((Mutex::new(0), Mutex::new(0)));
    let l2 = Arc::clone(&l);
    let h = thread::spawn(move || {
        let _b = l2.1.lock();
        *l2.0.lock() += 1;
    });
    {
        let _a = l.0.lock();
        *l.1.lock() += 1;
    }
    h.join().expect("thread panicked");
}

/// The waiter checks the flag outside the lock, then waits: a notify in
/// between is lost.
fn lost_wakeup() {
    let s = Arc::new((AtomicBool::new(false), Mutex::new(()), Condvar::new()));
    let s2 = Arc::clone(&s);
    let h = thread::spawn(move || {
        s2.0.store(true, SeqCst);
        s2.2.notify_one();
    });
    if !s.0.load(SeqCst) {
        let g = s.1.lock();
        drop(s.2.wait(g));
    }
    h.join().expect("thread panicked");
}

/// The iteration of the first failure, or `None`.
fn find(bug: fn(), max: usize, seed: u64, noise: bool) -> Option<usize> {
    let model = Model::new().iterations(max).seed(seed).noise(noise);
    let err = catch_unwind(AssertUnwindSafe(|| model.check(bug))).err()?;
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    let at = msg.split("failed at iteration ").nth(1)?;
    at.split(' ').next()?.parse().ok()
}

/// Only the std engine has noise.
#[cfg(any(feature = "loom", feature = "shuttle"))]
fn main() {}

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
fn main() {
    let mut args = std::env::args().skip(1);
    let max: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let seeds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    // SAFETY: set before any thread exists.
    unsafe { std::env::set_var(heddle::sync::BLOCK_LIMIT_ENV, "50") };
    // The bugs' own panics (in spawned threads) are the expected outcome.
    std::panic::set_hook(Box::new(|_| {}));
    let bugs: [(&str, fn()); 4] = [
        (
            "racy counter (Mutex, read and write in two acquisitions)",
            racy_mutex_counter,
        ),
        ("racy counter (atomic load then store)", racy_atomic_counter),
        ("lock-order inversion", lock_order_inversion),
        ("lost wake-up (flag checked outside the lock)", lost_wakeup),
    ];
    println!("| bug | noise | iterations to find, per seed 1..={seeds} | wall |");
    println!("| --- | --- | --- | --- |");
    for (name, bug) in bugs {
        for noise in [false, true] {
            let start = Instant::now();
            let found: Vec<String> = (1..=seeds)
                .map(|seed| {
                    find(bug, max, seed, noise).map_or(format!("> {max}"), |i| i.to_string())
                })
                .collect();
            println!(
                "| {name} | {} | {} | {:.1}s |",
                if noise { "on" } else { "off" },
                found.join(", "),
                start.elapsed().as_secs_f64()
            );
        }
    }
}
