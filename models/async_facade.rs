//! Model: async code under the checkers, through `heddle::sync::task` and
//! `check::model_async` (std: a tokio runtime; shuttle: every schedule of
//! the tasks; loom: not run, loom does not drive futures).
//!
//! Raced, with two concurrent writers each:
//! - the async `Mutex`: two tasks add under the lock, across an `.await`.
//!   Broken: read under the lock, release, `yield_now().await`, write under
//!   a second lock: caught by shuttle ("lost update").
//! - `Notify`: a waiter and a notifier. Broken: `notify_waiters` (which
//!   stores no permit) sent before the waiter registers: the waiter sleeps
//!   forever, caught by shuttle as a deadlock.
//! - `mpsc`: two senders, one receiver: nothing lost, each sender in order.
//! - `timeout`: a ready future inside a timeout completes.
//!
//! A body that spawns nothing is reported as such under shuttle, not as a
//! found schedule.

#![cfg(not(feature = "loom"))]

use heddle::check;
use heddle::sync::Arc;
use heddle::sync::task::{self, Mutex, Notify, mpsc, oneshot};
use std::time::Duration;

/// Two tasks each add one to a shared async counter through `add`.
async fn two_adders<A, Fut>(add: A)
where
    A: Fn(Arc<Mutex<u32>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let n = Arc::new(Mutex::new(0));
    let t = task::spawn(add(Arc::clone(&n)));
    add(Arc::clone(&n)).await;
    t.await.expect("task panicked");
    assert_eq!(*n.lock().await, 2, "lost update");
}

async fn add_under_lock(n: Arc<Mutex<u32>>) {
    let mut g = n.lock().await;
    task::yield_now().await; // an await inside the critical section is fine
    *g += 1;
}

#[test]
fn async_mutex_loses_no_update() {
    check::model_async(|| two_adders(add_under_lock));
}

#[test]
fn notify_one_wakes_a_late_waiter() {
    check::model_async(|| async {
        let n = Arc::new(Notify::new());
        let n2 = Arc::clone(&n);
        let t = task::spawn(async move { n2.notify_one() });
        n.notified().await; // notify_one stores a permit if no one waits yet
        t.await.expect("task panicked");
    });
}

#[test]
fn two_senders_lose_nothing() {
    check::model_async(|| async {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let senders: Vec<_> = (0..2)
            .map(|s| {
                let tx = tx.clone();
                task::spawn(async move {
                    for i in 0..2 {
                        tx.send((s, i)).expect("receiver alive");
                    }
                })
            })
            .collect();
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        for s in senders {
            s.await.expect("sender panicked");
        }
        for s in 0..2 {
            let mine: Vec<_> = got
                .iter()
                .filter(|(x, _)| *x == s)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(mine, [0, 1], "sender {s}: lost or reordered");
        }
    });
}

/// Without the `yield_now` shuttle has no choice to make here (a spawn is
/// not a scheduling point, and main then blocks until the task has run), and
/// says so: "reached no scheduling point".
#[test]
fn a_ready_future_beats_its_timeout() {
    check::model_async(|| async {
        let (tx, rx) = oneshot::channel();
        let t = task::spawn(async move { tx.send(7).expect("receiver alive") });
        task::yield_now().await;
        let v = task::timeout(Duration::from_secs(5), rx).await;
        assert_eq!(v.expect("not elapsed").expect("sender alive"), 7);
        t.await.expect("task panicked");
    });
}

#[cfg(feature = "shuttle")]
mod broken {
    use super::*;

    async fn read_yield_write(n: Arc<Mutex<u32>>) {
        let v = *n.lock().await;
        task::yield_now().await;
        *n.lock().await = v + 1;
    }

    #[test]
    #[should_panic(expected = "lost update")]
    fn read_yield_write_is_caught() {
        check::model_async(|| two_adders(read_yield_write));
    }

    #[test]
    #[should_panic(expected = "deadlock")]
    fn notify_waiters_before_the_wait_is_a_lost_wakeup() {
        check::model_async(|| async {
            let n = Arc::new(Notify::new());
            let n2 = Arc::clone(&n);
            let t = task::spawn(async move { n2.notify_waiters() });
            n.notified().await;
            t.await.expect("task panicked");
        });
    }

    #[test]
    #[should_panic(expected = "reached no scheduling point")]
    fn a_body_without_tasks_is_named_as_such() {
        check::model_async(|| async {
            assert_eq!(1 + 1, 2);
        });
    }
}
