//! Model: the facade's MPMC channel (crossbeam in production; the Mutex +
//! Condvar channel under loom and shuttle, which is what these models check).
//!
//! Invariants: with two producers and two consumers nothing is lost or
//! duplicated and every consumer terminates once the producers are gone;
//! values queued before the last sender left are still delivered; a
//! rendezvous `send` returns only once its value was taken; a `send` to a
//! channel without receivers hands the value back.
//!
//! Mutating methods raced, with at least two concurrent writers each: `send`
//! from two producers against `recv`/`iter` from two consumers
//! (`*_mpmc_delivers_each_value_once`, bounded, rendezvous and unbounded);
//! `send` against the last `Receiver`'s drop
//! (`send_without_receivers_returns_the_value`); the last `Sender`'s drop
//! against `recv` (the MPMC models' termination).
//!
//! Broken variant caught by loom and shuttle: a `recv` that checks for
//! disconnection before looking at the queue (loses buffered values).

use heddle::check;
use heddle::sync::channel::{self, Receiver, Sender};
use heddle::sync::thread;

/// A producer thread and the main thread send one value each; a consumer
/// thread and the main thread drain until disconnection. Every value
/// arrives exactly once (two producers and two consumers race, in three
/// threads, which keeps loom's search small).
fn mpmc_delivers_each_value_once(make: fn() -> (Sender<u8>, Receiver<u8>)) {
    check::model(move || {
        let (tx, rx) = make();
        let producer = {
            let tx = tx.clone();
            thread::spawn(move || tx.send(1).expect("receivers alive"))
        };
        let consumer = {
            let rx = rx.clone();
            thread::spawn(move || rx.iter().collect::<Vec<_>>())
        };
        tx.send(2).expect("receivers alive");
        drop(tx);
        let mut got: Vec<u8> = rx.iter().collect();
        producer.join().expect("producer panicked");
        got.extend(consumer.join().expect("consumer panicked"));
        got.sort_unstable();
        assert_eq!(got, [1, 2], "message lost or duplicated");
    });
}

#[test]
fn bounded_mpmc_delivers_each_value_once() {
    mpmc_delivers_each_value_once(|| channel::bounded(1));
}

#[test]
fn rendezvous_mpmc_delivers_each_value_once() {
    mpmc_delivers_each_value_once(|| channel::bounded(0));
}

#[test]
fn unbounded_mpmc_delivers_each_value_once() {
    mpmc_delivers_each_value_once(channel::unbounded);
}

/// A rendezvous send returns only after a receiver took the value: nothing
/// is left queued behind it.
#[test]
fn rendezvous_send_waits_for_the_taker() {
    check::model(|| {
        let (tx, rx) = channel::bounded::<u8>(0);
        let taker = thread::spawn(move || rx.recv().expect("sender alive"));
        tx.send(9).expect("receiver alive");
        assert!(
            tx.is_empty(),
            "rendezvous send returned before its value was taken"
        );
        assert_eq!(taker.join().expect("taker panicked"), 9);
    });
}

/// A send racing with the last receiver's drop either delivers or hands the
/// value back; it never blocks forever.
#[test]
fn send_without_receivers_returns_the_value() {
    check::model(|| {
        let (tx, rx) = channel::bounded::<u8>(0);
        let dropper = thread::spawn(move || drop(rx));
        match tx.send(5) {
            Ok(()) => panic!("nobody received, yet send reported delivery"),
            Err(e) => assert_eq!(e.0, 5),
        }
        dropper.join().expect("dropper panicked");
    });
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod broken {
    use super::*;

    #[test]
    #[should_panic(expected = "message lost or duplicated")]
    fn recv_that_checks_disconnection_first_is_caught() {
        mpmc_delivers_each_value_once(channel::broken_unbounded);
    }
}
