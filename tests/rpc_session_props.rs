//! Properties of the RPC's pure state machines, no network: two server
//! connections sharing one de-duplication window receive keyed and unkeyed
//! calls (retries reuse keys, across connections; the two connections are
//! one client or two, and calls carry one of two argument values) and
//! their executions complete in an arbitrary order.
//!
//! Properties: a key is executed at most once per client; every reply to a
//! keyed call carries the outcome of that key's one execution; no call ever
//! receives the outcome of an execution of a call with a different
//! fingerprint (method and arguments); every call is answered exactly
//! once; a connection never runs more calls than its limit. The same
//! property run against sessions without the window (the guide's defect)
//! must fail.
#![cfg(not(any(feature = "loom", feature = "shuttle")))]

mod common;

use heddle::distributed::rpc::dedup::{Begin, DedupWindow, Key};
use heddle::distributed::rpc::session::{PROTOCOL, ServerAction, ServerSession};
use heddle::wire::binary::{Call, Envelope, RemoteError, Reply};
use proptest::prelude::*;
use std::collections::BTreeMap;

const MAX_IN_FLIGHT: u32 = 3;

#[derive(Debug, Clone)]
enum Step {
    /// A call arrives on connection `conn`, keyed with `key` if any, with
    /// arguments `args`.
    Arrive {
        conn: usize,
        key: Option<u8>,
        args: u8,
    },
    /// The `pick`-th running execution (mod their number) completes.
    Complete { pick: usize },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        3 => (0..2usize, prop::option::weighted(0.8, 0..4u8), 0..2u8)
            .prop_map(|(conn, key, args)| Step::Arrive { conn, key, args }),
        2 => any::<usize>().prop_map(|pick| Step::Complete { pick }),
    ];
    prop::collection::vec(step, 1..60)
}

/// The steps, and whether the two connections are one client (a client
/// that reconnected) or two clients (that may have drawn the same keys).
fn cases() -> impl Strategy<Value = (Vec<Step>, bool)> {
    (steps(), any::<bool>())
}

type Waiter = (usize, u64);
type Outcome = Result<Vec<u8>, RemoteError>;
/// (conn, call id) → the call's key and the replies it received.
/// A finished execution: its connection, its reply, and the joined
/// duplicates with their outcome.
type Finished = (usize, Envelope, Vec<(Waiter, Outcome)>);
type Calls = BTreeMap<(usize, u64), (Option<u128>, u8, Vec<Outcome>)>;

/// Runs `steps`, then completes everything still running, and checks the
/// properties. `dedup: false` runs the sessions without the window.
/// A server session; `bare_key` plants the window-keyed-by-the-bare-key
/// defect (heddle before issue #9), with the `defects` feature.
fn session(bare_key: bool) -> ServerSession {
    let s = ServerSession::new(b"t".to_vec(), MAX_IN_FLIGHT);
    #[cfg(feature = "defects")]
    let s = s.with_defect(
        bare_key.then_some(heddle::distributed::rpc::defects::ServerDefect::TrustBareKey),
    );
    #[cfg(not(feature = "defects"))]
    let _ = bare_key;
    s
}

fn check(steps: &[Step], one_client: bool, dedup: bool) -> Result<(), TestCaseError> {
    check_with(steps, one_client, dedup, false)
}

fn check_with(
    steps: &[Step],
    one_client: bool,
    dedup: bool,
    bare_key: bool,
) -> Result<(), TestCaseError> {
    let clients: [u128; 2] = [1, if one_client { 1 } else { 2 }];
    let mut sessions: Vec<ServerSession> = (0..2)
        .map(|conn| {
            let mut s = session(bare_key);
            s.on_envelope::<Waiter>(
                Envelope::Hello {
                    protocol: PROTOCOL,
                    token: b"t".to_vec().into(),
                    client: clients[conn],
                },
                None,
                |_| unreachable!(),
            );
            s
        })
        .collect();
    let mut window: DedupWindow<Waiter> = DedupWindow::new(1024);
    let mut next_id = [0u64; 2];
    // Running executions: (conn, call id, key).
    let mut running: Vec<(usize, u64, Option<u128>, u8)> = Vec::new();
    // (client, key) executed.
    let mut executions: BTreeMap<(u128, u128), ()> = BTreeMap::new();
    let mut exec_count = 0u8;
    // (conn, call id) → key and replies received.
    let mut calls: Calls = BTreeMap::new();

    let deliver = |calls: &mut Calls, conn: usize, e: Envelope| {
        let Envelope::Reply(Reply { id, outcome }) = e else {
            return Err(TestCaseError::fail(format!("not a reply: {e:?}")));
        };
        match calls.get_mut(&(conn, id)) {
            Some((_, _, replies)) => {
                replies.push(outcome);
                Ok(())
            }
            None => Err(TestCaseError::fail(format!(
                "reply to unknown call {conn}/{id}"
            ))),
        }
    };

    let complete = |running: &mut Vec<(usize, u64, Option<u128>, u8)>,
                    pick: usize,
                    sessions: &mut Vec<ServerSession>,
                    window: &mut DedupWindow<Waiter>,
                    exec_count: &mut u8|
     -> Option<Finished> {
        if running.is_empty() {
            return None;
        }
        let (conn, id, key, args) = running.remove(pick % running.len());
        *exec_count = exec_count.wrapping_add(1);
        // An execution's outcome names it and the arguments it ran with.
        let outcome = Ok(vec![*exec_count, args]);
        let w = dedup.then_some(&mut *window);
        let (reply, joined) = sessions[conn].on_executed(id, key, outcome.clone(), w);
        Some((
            conn,
            reply,
            joined.into_iter().map(|j| (j, outcome.clone())).collect(),
        ))
    };

    let finish = |running: &mut Vec<_>,
                  pick: usize,
                  sessions: &mut Vec<ServerSession>,
                  window: &mut DedupWindow<Waiter>,
                  exec_count: &mut u8,
                  calls: &mut BTreeMap<_, _>|
     -> Result<bool, TestCaseError> {
        let Some((conn, reply, joined)) = complete(running, pick, sessions, window, exec_count)
        else {
            return Ok(false);
        };
        deliver(calls, conn, reply)?;
        for ((jconn, jid), outcome) in joined {
            let reply = sessions[jconn].on_joined(jid, outcome);
            deliver(calls, jconn, reply)?;
        }
        Ok(true)
    };

    for step in steps {
        match *step {
            Step::Arrive { conn, key, args } => {
                let id = next_id[conn];
                next_id[conn] += 1;
                let key = key.map(u128::from);
                calls.insert((conn, id), (key, args, Vec::new()));
                let call = Envelope::Call(Call {
                    id,
                    method: "m".into(),
                    idempotency_key: key,
                    args: vec![args],
                    trace: None,
                });
                let w = dedup.then_some(&mut window);
                for action in sessions[conn].on_envelope(call, w, |id| (conn, id)) {
                    match action {
                        ServerAction::Execute(c) => {
                            if let Some(k) = c.idempotency_key {
                                let scoped = (clients[conn], k);
                                prop_assert!(
                                    !executions.contains_key(&scoped),
                                    "key {:?} executed twice",
                                    scoped
                                );
                                executions.insert(scoped, ());
                            }
                            running.push((conn, c.id, c.idempotency_key, c.args[0]));
                        }
                        ServerAction::Send(e) => deliver(&mut calls, conn, e)?,
                        ServerAction::Close => {
                            prop_assert!(false, "a valid call closed the connection")
                        }
                    }
                }
                prop_assert!(sessions[conn].in_flight() <= MAX_IN_FLIGHT as usize);
            }
            Step::Complete { pick } => {
                finish(
                    &mut running,
                    pick,
                    &mut sessions,
                    &mut window,
                    &mut exec_count,
                    &mut calls,
                )?;
            }
        }
    }
    while finish(
        &mut running,
        0,
        &mut sessions,
        &mut window,
        &mut exec_count,
        &mut calls,
    )? {}

    // Every call answered exactly once, never with the outcome of a call
    // with other arguments; a key's successful replies agree.
    let mut by_key: BTreeMap<(u128, u128), Vec<u8>> = BTreeMap::new();
    for ((conn, id), (key, args, replies)) in &calls {
        prop_assert_eq!(
            replies.len(),
            1,
            "call {}/{} got {} replies",
            conn,
            id,
            replies.len()
        );
        if let Ok(v) = &replies[0] {
            prop_assert_eq!(
                v[1],
                *args,
                "call {}/{} received the outcome of a call with other arguments",
                conn,
                id
            );
        }
        if let (Some(k), Ok(v)) = (key, &replies[0]) {
            let first = by_key
                .entry((clients[*conn], *k))
                .or_insert_with(|| v.clone());
            prop_assert_eq!(&*first, v, "key {} answered with two outcomes", k);
        }
    }
    for s in &sessions {
        prop_assert_eq!(s.in_flight(), 0);
    }
    Ok(())
}

fn runner() -> proptest::test_runner::TestRunner {
    common::deterministic_runner(512)
}

#[test]
fn sessions_execute_each_key_once_and_answer_every_call_once() {
    let result = runner().run(&cases(), |(s, one)| check(&s, one, true));
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn the_property_catches_sessions_without_the_window() {
    let result = runner().run(&cases(), |(s, one)| check(&s, one, false));
    let Err(e) = result else {
        panic!("the property missed the missing de-duplication window");
    };
    assert!(e.to_string().contains("executed twice"), "{e}");
}

/// The fingerprint property is shown to fail: a window keyed by the bare
/// key (no client scope, no fingerprint, as before issue #9) hands a call
/// the outcome of another client's call with other arguments.
#[cfg(feature = "defects")]
#[test]
fn the_property_catches_a_window_that_trusts_the_bare_key() {
    let result = runner().run(&cases(), |(s, one)| check_with(&s, one, true, true));
    let Err(e) = result else {
        panic!("the property missed the bare-key window");
    };
    assert!(
        e.to_string()
            .contains("the outcome of a call with other arguments"),
        "{e}"
    );
}

/// One step on a window alone.
#[derive(Debug, Clone)]
enum WindowStep {
    Begin { key: u8, fingerprint: u8 },
    Finish { key: u8, outcome: u8 },
    Recover,
}

fn window_steps() -> impl Strategy<Value = (usize, Vec<WindowStep>)> {
    let step = prop_oneof![
        4 => (0..6u8, 0..2u8).prop_map(|(key, fingerprint)| WindowStep::Begin { key, fingerprint }),
        3 => (0..6u8, any::<u8>()).prop_map(|(key, outcome)| WindowStep::Finish { key, outcome }),
        1 => Just(WindowStep::Recover),
    ];
    (1..4usize, prop::collection::vec(step, 1..80))
}

/// The window's contract spelled as plainly as possible: running keys in a
/// map, finished ones in a list in the order they finished, the oldest
/// dropped beyond the capacity.
struct WindowModel {
    capacity: usize,
    running: BTreeMap<u128, (u64, Vec<u32>)>,
    done: std::collections::VecDeque<(u128, u64, Outcome)>,
}

impl WindowModel {
    fn begin(&mut self, key: u128, fingerprint: u64, waiter: u32) -> Begin {
        if let Some((_, fp, outcome)) = self.done.iter().find(|d| d.0 == key) {
            return if *fp == fingerprint {
                Begin::Done(outcome.clone())
            } else {
                Begin::Mismatch
            };
        }
        match self.running.get_mut(&key) {
            Some((fp, _)) if *fp != fingerprint => Begin::Mismatch,
            Some((_, waiters)) => {
                waiters.push(waiter);
                Begin::Joined
            }
            None => {
                self.running.insert(key, (fingerprint, Vec::new()));
                Begin::Execute
            }
        }
    }

    fn finish(&mut self, key: u128, outcome: Outcome) -> Vec<u32> {
        let Some((fp, waiters)) = self.running.remove(&key) else {
            return Vec::new();
        };
        self.done.push_back((key, fp, outcome));
        while self.done.len() > self.capacity {
            self.done.pop_front();
        }
        waiters
    }
}

/// Runs `steps` on a window of `capacity` and on the model of
/// `model_capacity`; every answer, the size and every key's presence must
/// agree.
fn window_agrees(
    capacity: usize,
    model_capacity: usize,
    steps: &[WindowStep],
) -> Result<(), TestCaseError> {
    let key = |k: u8| Key {
        client: 1,
        key: u128::from(k),
    };
    let mut w: DedupWindow<u32> = DedupWindow::new(capacity);
    let mut m = WindowModel {
        capacity: model_capacity,
        running: BTreeMap::new(),
        done: Default::default(),
    };
    for (n, step) in steps.iter().enumerate() {
        let waiter = u32::try_from(n).unwrap_or(u32::MAX);
        match *step {
            WindowStep::Begin {
                key: k,
                fingerprint,
            } => {
                let fp = u64::from(fingerprint);
                prop_assert_eq!(
                    w.begin(key(k), fp, waiter),
                    m.begin(u128::from(k), fp, waiter),
                    "begin differs"
                );
            }
            WindowStep::Finish { key: k, outcome } => {
                let outcome: Outcome = Ok(vec![outcome]);
                prop_assert_eq!(
                    w.finish(key(k), outcome.clone()),
                    m.finish(u128::from(k), outcome),
                    "finish differs"
                );
            }
            WindowStep::Recover => {
                let running: Vec<u128> = m.running.keys().copied().collect();
                for k in &running {
                    m.finish(*k, Err(RemoteError::Interrupted));
                }
                prop_assert_eq!(w.recover(), running.len(), "recover differs");
            }
        }
        prop_assert_eq!(w.len(), m.running.len() + m.done.len(), "len differs");
        for k in 0..6u8 {
            let known = m.running.contains_key(&u128::from(k))
                || m.done.iter().any(|d| d.0 == u128::from(k));
            prop_assert_eq!(w.contains(&key(k)), known, "contains differs");
        }
    }
    Ok(())
}

#[test]
fn the_window_keeps_its_contract_under_eviction_and_recovery() {
    let result = runner().run(&window_steps(), |(cap, s)| window_agrees(cap, cap, &s));
    assert!(result.is_ok(), "{result:?}");
}

/// The comparison is shown to fail: against a model that keeps one more
/// outcome, the window's (correct) eviction is caught.
#[test]
fn the_window_check_catches_an_eviction_off_by_one() {
    let result = runner().run(&window_steps(), |(cap, s)| window_agrees(cap, cap + 1, &s));
    let Err(e) = result else {
        panic!("the comparison missed an eviction off by one");
    };
    assert!(e.to_string().contains("len differs"), "{e}");
}
