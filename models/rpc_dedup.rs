//! Model: the RPC server's de-duplication window under concurrent use,
//! through `heddle::distributed::rpc::keyed::Port` (the code the server's
//! connections run) and `check::model_async` (shuttle: every schedule of
//! the connections' tasks; std: a 2-worker tokio runtime; loom: not run,
//! loom does not drive futures).
//!
//! Each caller is one connection: its own `ServerSession` (handshake done,
//! client 1) and `Port` to one shared `DedupStore`. Raced: two callers of
//! one key with the same arguments and a third with the same key and other
//! arguments, each admitting its call (`Port::on_envelope`), executing the
//! handler if told to (which yields, so the others can arrive meanwhile),
//! reporting it (`Port::on_executed`, which answers the joined duplicates)
//! or awaiting its joined answer (`Port::joined`). Then a late caller, after
//! the others, gets the stored outcome. Asserted: the key's handler ran
//! exactly once; every caller with the winning arguments (and the late one)
//! got the same outcome; every caller with the other arguments was refused
//! `KeyReused`.
//!
//! Planted and caught by shuttle: `keyed::broken::on_envelope_split`, the
//! admission with the check and the insert in two lock acquisitions and an
//! `.await` between ("the key was executed more than once"); and, with the
//! `defects` feature, the simulator's `JoinWrongId` on the join path ("not
//! the reply to call").

#![cfg(not(feature = "loom"))]

use heddle::check;
use heddle::distributed::rpc::dedup::{DedupStore, Outcome};
use heddle::distributed::rpc::keyed::Port;
use heddle::distributed::rpc::session::{PROTOCOL, ServerAction, ServerSession};
use heddle::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use heddle::sync::task::{self, Arc};
use heddle::wire::binary::{Call, Envelope, RemoteError, Reply};

const TOKEN: &[u8] = b"model";
const KEY: u128 = 7;

/// How a caller admits its call.
#[derive(Clone, Copy)]
enum Admit {
    /// `Port::on_envelope`, as the server does.
    Port,
    /// The planted race (shuttle builds only).
    #[cfg(feature = "shuttle")]
    Split,
    /// `Port::on_envelope`, on a port with the simulator's `JoinWrongId`
    /// defect: joined duplicates are answered under the executing call's id.
    #[cfg(all(feature = "shuttle", feature = "defects"))]
    JoinWrongId,
}

/// The handler: counts its executions and answers with the count, so a
/// second execution would also give a different outcome.
async fn handler(executions: &AtomicUsize) -> Outcome {
    let n = executions.fetch_add(1, SeqCst) + 1;
    task::yield_now().await;
    Ok(vec![u8::try_from(n).unwrap_or(u8::MAX)])
}

/// One connection of client 1 sending call `id` of `KEY` with `args`: the
/// outcome its reply carries.
async fn caller(
    store: DedupStore,
    (id, args): (u64, u8),
    executions: Arc<AtomicUsize>,
    admit: Admit,
) -> Outcome {
    let mut port = Port::new(Some(store));
    #[cfg(all(feature = "shuttle", feature = "defects"))]
    if matches!(admit, Admit::JoinWrongId) {
        port = port.planted_join_wrong_id();
    }
    let mut session = ServerSession::new(TOKEN.to_vec(), 8);
    let hello = Envelope::Hello {
        protocol: PROTOCOL,
        token: TOKEN.to_vec().into(),
        client: 1,
    };
    let welcome = port.on_envelope(&mut session, hello);
    assert!(matches!(
        &welcome[..],
        [ServerAction::Send(Envelope::Welcome { .. })]
    ));
    let call = Call {
        id,
        method: "pay".into(),
        idempotency_key: Some(KEY),
        args: vec![args],
        trace: None,
    };
    let actions = match admit {
        Admit::Port => port.on_envelope(&mut session, Envelope::Call(call)),
        #[cfg(all(feature = "shuttle", feature = "defects"))]
        Admit::JoinWrongId => port.on_envelope(&mut session, Envelope::Call(call)),
        #[cfg(feature = "shuttle")]
        Admit::Split => {
            use heddle::distributed::rpc::keyed::broken::on_envelope_split;
            on_envelope_split(&port, &mut session, Envelope::Call(call)).await
        }
    };
    let reply = match &actions[..] {
        [ServerAction::Execute(call)] => {
            let outcome = handler(&executions).await;
            port.on_executed(&mut session, call.id, call.idempotency_key, outcome)
        }
        // Joined a running execution: answered when it finishes.
        [] => {
            let (id, outcome) = port.joined().await;
            session.on_joined(id, outcome)
        }
        [ServerAction::Send(reply)] => reply.clone(),
        other => panic!("unexpected actions {other:?}"),
    };
    match reply {
        Envelope::Reply(Reply { id: got, outcome }) if got == id => outcome,
        other => panic!("not the reply to call {id}: {other:?}"),
    }
}

/// Two callers with arguments `[1]`, one with `[2]`, all of one key; then a
/// late caller with `[1]` or `[2]`, whichever won.
async fn one_key_three_callers(admit: Admit) {
    let store = DedupStore::new(16);
    let executions = Arc::new(AtomicUsize::new(0));
    // Each caller is its own connection, with its own call id.
    let spawn = |id: u64, args: u8| {
        let (store, executions) = (store.clone(), Arc::clone(&executions));
        task::spawn(caller(store, (id, args), executions, admit))
    };
    let callers = [spawn(1, 1), spawn(2, 1), spawn(3, 2)];
    let mut outcomes = Vec::new();
    for (c, args) in callers.into_iter().zip([1u8, 1, 2]) {
        outcomes.push((args, c.await.expect("caller panicked")));
    }
    let n = executions.load(SeqCst);
    assert_eq!(n, 1, "the key was executed more than once ({n} times)");
    let winner = outcomes
        .iter()
        .find(|(_, o)| o.is_ok())
        .map(|(args, _)| *args)
        .expect("no caller got the outcome");
    let late = caller(store, (4, winner), Arc::clone(&executions), admit).await;
    for (args, outcome) in &outcomes {
        if *args == winner {
            assert_eq!(*outcome, late, "callers of one key got different outcomes");
        } else {
            assert_eq!(
                *outcome,
                Err(RemoteError::KeyReused),
                "a reused key with other arguments was not refused"
            );
        }
    }
    assert_eq!(
        executions.load(SeqCst),
        1,
        "the late caller executed the key again"
    );
}

#[test]
fn one_key_is_executed_once_and_every_caller_gets_its_outcome() {
    check::model_async(|| one_key_three_callers(Admit::Port));
}

#[cfg(feature = "shuttle")]
mod broken {
    use super::*;

    #[test]
    #[should_panic(expected = "the key was executed more than once")]
    fn check_then_insert_across_an_await_is_caught() {
        check::model_async(|| one_key_three_callers(Admit::Split));
    }

    /// The simulator's `JoinWrongId` defect, on the join path: a duplicate
    /// that joined is answered under the executing call's id, so its own
    /// call never gets its reply. Needs `defects`, which the root's
    /// `cargo test --features shuttle` turns on (through heddle-sim).
    #[cfg(feature = "defects")]
    #[test]
    #[should_panic(expected = "not the reply to call")]
    fn a_joined_duplicate_answered_under_the_wrong_id_is_caught() {
        check::model_async(|| one_key_three_callers(Admit::JoinWrongId));
    }
}
