//! Properties of the lock service's pure state machine, no network: clients
//! acquire, renew and release two locks at random times, marks asked for
//! ahead of need are stored at random times (or lost in a crash), and the
//! service crashes and restarts from its last durable token mark.
//!
//! Properties: at any instant at most one lease on a lock is live; every
//! token granted is larger than every token granted before it, across
//! restarts. Three misuses must each break their property: a service that
//! restarts its counter from zero (the `volatile-counter` defect), one that
//! grants at once after a restart, while leases it forgot still run, and a
//! driver that replies before a mark it must wait for is stored.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use heddle::distributed::lock::{LockConfig, LockMachine, Reply, Token};
use proptest::prelude::*;
use std::cell::RefCell;
use std::time::Duration;

const TTL: Duration = Duration::from_millis(50);
const LOCKS: [&str; 2] = ["a", "b"];

#[derive(Debug, Clone)]
enum Step {
    /// Time passes.
    Wait(u64),
    Acquire {
        owner: u64,
        lock: usize,
    },
    Renew {
        owner: u64,
        lock: usize,
    },
    Release {
        owner: u64,
        lock: usize,
    },
    /// The background store of the marks asked for ahead completes.
    Stored,
    /// The service crashes (a background store in flight is lost).
    Crash,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let who = (1..4u64, 0..2usize);
    prop::collection::vec(
        prop_oneof![
            3 => (1..40u64).prop_map(Step::Wait),
            4 => who.clone().prop_map(|(owner, lock)| Step::Acquire { owner, lock }),
            2 => who.clone().prop_map(|(owner, lock)| Step::Renew { owner, lock }),
            2 => who.prop_map(|(owner, lock)| Step::Release { owner, lock }),
            1 => Just(Step::Stored),
            1 => Just(Step::Crash),
        ],
        1..80,
    )
}

/// What the clients believe: (owner, lock) → (token, expires_at).
type Held = std::collections::BTreeMap<(u64, usize), (Token, Duration)>;

#[derive(Debug, PartialEq, Eq)]
enum Broken {
    TwoLiveLeases,
    TokenNotIncreasing { token: Token, max: Token },
}

/// How the service restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    /// From its durable mark, with a grace period: correct.
    Durable,
    /// From zero: tokens repeat.
    Volatile,
    /// Without the grace period: forgotten leases overlap new ones.
    NoGrace,
    /// Correct restarts, but the driver stores every mark in the
    /// background, replying before the ones it must wait for are durable.
    ReplyBeforeStore,
}

const CONFIG: LockConfig = LockConfig {
    block: 4,
    max_ttl: TTL,
};

fn run(steps: &[Step], restart: Restart) -> Result<(), Broken> {
    let mut now = Duration::ZERO;
    let mut durable: Token = 0;
    // The highest mark being stored in the background.
    let mut storing: Option<Token> = None;
    let mut m = LockMachine::new(CONFIG);
    let mut held = Held::new();
    let mut max_granted: Token = 0;
    for step in steps {
        match *step {
            Step::Wait(ms) => now += Duration::from_millis(ms),
            Step::Stored => {
                if let Some(mark) = storing.take() {
                    durable = durable.max(mark);
                    m.persisted(mark);
                }
            }
            Step::Crash => {
                storing = None;
                m = match restart {
                    Restart::Durable | Restart::ReplyBeforeStore => {
                        LockMachine::recover(CONFIG, durable, now)
                    }
                    Restart::Volatile => LockMachine::recover(CONFIG, 0, now),
                    Restart::NoGrace => LockMachine::recover(CONFIG, durable, Duration::ZERO),
                };
            }
            Step::Acquire { owner, lock } => {
                let out = m.acquire(LOCKS[lock], owner, TTL, now);
                match out.persist {
                    // The driver stores it (or sees a store in flight
                    // finish) before it replies.
                    Some(mark) if out.must_wait && restart != Restart::ReplyBeforeStore => {
                        durable = durable.max(mark);
                        m.persisted(mark);
                    }
                    Some(mark) => storing = storing.max(Some(mark)),
                    None => {}
                }
                if let Reply::Granted { token, ttl } = out.reply {
                    let expires_at = now + ttl;
                    if token <= max_granted {
                        return Err(Broken::TokenNotIncreasing {
                            token,
                            max: max_granted,
                        });
                    }
                    max_granted = token;
                    held.insert((owner, lock), (token, expires_at));
                }
            }
            Step::Renew { owner, lock } => {
                if let Some(&(token, _)) = held.get(&(owner, lock))
                    && let Reply::Renewed { ttl } =
                        m.renew(LOCKS[lock], owner, token, TTL, now).reply
                {
                    held.insert((owner, lock), (token, now + ttl));
                }
            }
            Step::Release { owner, lock } => {
                if let Some((token, _)) = held.remove(&(owner, lock)) {
                    let _ = m.release(LOCKS[lock], owner, token, now);
                }
            }
        }
        // A client believes it holds a lease until it expires or it
        // releases it, whatever the service has forgotten since.
        for lock in 0..LOCKS.len() {
            let live = held
                .iter()
                .filter(|((_, l), (_, exp))| *l == lock && now < *exp)
                .count();
            if live > 1 {
                return Err(Broken::TwoLiveLeases);
            }
        }
    }
    Ok(())
}

#[test]
fn leases_are_exclusive_and_tokens_grow_across_restarts() {
    common::deterministic_runner(512)
        .run(&steps(), |s| {
            prop_assert_eq!(run(&s, Restart::Durable), Ok(()));
            Ok(())
        })
        .expect("the lock machine keeps its properties");
}

/// Runs the properties with a broken restart and returns what broke.
fn caught(restart: Restart) -> Option<Broken> {
    let caught = RefCell::new(None);
    let result = common::deterministic_runner(512).run(&steps(), |s| match run(&s, restart) {
        Ok(()) => Ok(()),
        Err(e) => {
            *caught.borrow_mut() = Some(e);
            Err(TestCaseError::fail("broken"))
        }
    });
    assert!(result.is_err(), "{restart:?} went unnoticed");
    caught.into_inner()
}

/// Asserts that `restart` is caught handing out a token again.
fn caught_repeating_a_token(restart: Restart) {
    let broken = caught(restart);
    assert!(
        matches!(broken, Some(Broken::TokenNotIncreasing { .. })),
        "{restart:?} caught by the wrong property: {broken:?}"
    );
}

#[test]
fn a_volatile_counter_is_caught() {
    caught_repeating_a_token(Restart::Volatile);
}

#[test]
fn a_reply_before_its_mark_is_stored_is_caught() {
    caught_repeating_a_token(Restart::ReplyBeforeStore);
}

#[test]
fn a_restart_without_grace_is_caught() {
    assert_eq!(caught(Restart::NoGrace), Some(Broken::TwoLiveLeases));
}
