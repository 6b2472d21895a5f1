//! Where the server's connections meet: one connection's keyed calls
//! against the shared de-duplication window.
//!
//! Every connection of a server runs as its own task, and keyed calls on
//! different connections share one [`DedupStore`]: the first arrival of a
//! key executes it, arrivals while it runs join it and are answered with its
//! outcome when it finishes (on their own connection, through its
//! [`Port`]), arrivals after it finished get the stored outcome, and an
//! arrival of the key with another fingerprint is refused
//! ([`RemoteError::KeyReused`](crate::wire::binary::RemoteError::KeyReused)).
//! A [`Port`] is that flow, written once against
//! [`heddle::sync::task`](crate::sync::task): the window is locked only
//! inside [`on_envelope`](Port::on_envelope) and
//! [`on_executed`](Port::on_executed), never across an `.await`, and joined
//! duplicates are answered through a task-facade channel. The server's
//! connection driver calls it; `models/rpc_dedup.rs` races several
//! connections' calls of one key through it under shuttle.
//!
//! # Example
//!
//! Two connections of one client send the same keyed call; the second
//! joins the first and is answered when it finishes:
//!
//! ```
//! # #[cfg(not(feature = "shuttle"))] fn main() {
//! use heddle::distributed::rpc::dedup::DedupStore;
//! use heddle::distributed::rpc::keyed::Port;
//! use heddle::distributed::rpc::session::{PROTOCOL, ServerAction, ServerSession};
//! use heddle::wire::binary::{Call, Envelope};
//!
//! let store = DedupStore::new(16);
//! let hello = Envelope::Hello { protocol: PROTOCOL, token: b"t".to_vec().into(), client: 1 };
//! let call = Call { id: 1, method: "pay".into(), idempotency_key: Some(9), args: vec![], trace: None };
//! let (mut a, mut b) = (Port::new(Some(store.clone())), Port::new(Some(store)));
//! let (mut sa, mut sb) = (ServerSession::new(b"t".to_vec(), 8), ServerSession::new(b"t".to_vec(), 8));
//! a.on_envelope(&mut sa, hello.clone());
//! b.on_envelope(&mut sb, hello);
//!
//! let first = a.on_envelope(&mut sa, Envelope::Call(call.clone()));
//! assert!(matches!(&first[..], [ServerAction::Execute(_)]));
//! assert!(b.on_envelope(&mut sb, Envelope::Call(call)).is_empty()); // joined
//! a.on_executed(&mut sa, 1, Some(9), Ok(vec![7]));
//! assert_eq!(b.try_joined(), Some((1, Ok(vec![7]))));
//! # }
//! # #[cfg(feature = "shuttle")] fn main() {}
//! ```

use super::dedup::{DedupStore, DedupWindow, Joiner, Outcome};
use super::session::{Admission, ServerAction, ServerSession};
use crate::net::driver::Registered;
use crate::sync::task::{SyncMutexGuard, mpsc};
use crate::wire::binary::{Call, CallRef, Envelope};

/// One connection's side of the shared de-duplication window.
#[derive(Debug)]
pub struct Port {
    /// `None`: idempotency keys are ignored (the `NoDedup` defect).
    store: Option<DedupStore>,
    tx: mpsc::UnboundedSender<(u64, Outcome)>,
    rx: mpsc::UnboundedReceiver<(u64, Outcome)>,
    /// The waker [`joined`](Self::joined) left with `rx` (it is polled on
    /// every turn of the connection's loop, and joins are rare).
    waiting: Registered,
    #[cfg(feature = "defects")]
    join_wrong_id: bool,
}

impl Port {
    /// A connection's port to `store` (`None` only for the planted
    /// `NoDedup` defect: keys are then ignored).
    pub fn new(store: Option<DedupStore>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            store,
            tx,
            rx,
            waiting: Registered::default(),
            #[cfg(feature = "defects")]
            join_wrong_id: false,
        }
    }

    /// Test equipment (feature `defects`): joined duplicates are answered
    /// under the executing call's id instead of their own.
    #[cfg(feature = "defects")]
    pub fn planted_join_wrong_id(mut self) -> Self {
        self.join_wrong_id = true;
        self
    }

    /// The window, locked, for an event about a keyed call; `None` for an
    /// unkeyed one (which never touches the window, so it takes no lock).
    fn window(&self, keyed: bool) -> Option<SyncMutexGuard<'_, DedupWindow<Joiner>>> {
        self.store.as_ref().filter(|_| keyed).map(DedupStore::lock)
    }

    /// Hands `envelope` to the connection's `session`, with the window
    /// locked for exactly that decision if it is a keyed call. A duplicate
    /// that joins a running execution gets no action now: its answer comes
    /// through [`joined`](Self::joined).
    pub fn on_envelope(
        &self,
        session: &mut ServerSession,
        envelope: Envelope,
    ) -> Vec<ServerAction> {
        let keyed = matches!(
            &envelope,
            Envelope::Call(Call {
                idempotency_key: Some(_),
                ..
            })
        );
        let mut window = self.window(keyed);
        session.on_envelope(envelope, window.as_deref_mut(), |id| {
            Joiner::new(self.tx.clone(), id)
        })
    }

    /// [`on_envelope`](Self::on_envelope) for a call borrowed from its
    /// frame (the server's hot path): the same decision, no `Vec`.
    pub fn on_call(&self, session: &mut ServerSession, call: &CallRef<'_>) -> Admission {
        let mut window = self.window(call.idempotency_key.is_some());
        session.on_call(call, window.as_deref_mut(), |id| {
            Joiner::new(self.tx.clone(), id)
        })
    }

    /// Call `id` (idempotency `key`) was executed with `outcome`: records it
    /// in the window, answers every duplicate that joined it (each on its
    /// own connection), and returns this call's reply.
    pub fn on_executed(
        &self,
        session: &mut ServerSession,
        id: u64,
        key: Option<u128>,
        outcome: Outcome,
    ) -> Envelope {
        let (reply, joined) = {
            let mut window = self.window(key.is_some());
            session.on_executed(id, key, outcome, window.as_deref_mut())
        };
        if let Envelope::Reply(r) = &reply {
            for j in joined {
                #[cfg(feature = "defects")]
                let j = if self.join_wrong_id { j.with_id(id) } else { j };
                j.answer(&r.outcome);
            }
        }
        reply
    }

    /// The next answer for a duplicate on this connection that joined a
    /// running execution: its call id and outcome. Never ends by itself
    /// (the port holds a sender), so it can sit in a `select!`.
    pub async fn joined(&mut self) -> (u64, Outcome) {
        let next = std::future::poll_fn(|cx| {
            let rx = &mut self.rx;
            self.waiting.poll(cx, !rx.is_empty(), |cx| rx.poll_recv(cx))
        });
        match next.await {
            Some(joined) => joined,
            None => std::future::pending().await,
        }
    }

    /// An answer for a joined duplicate, if one is ready now.
    pub fn try_joined(&mut self) -> Option<(u64, Outcome)> {
        self.rx.try_recv().ok()
    }
}

/// A planted race, kept for `models/rpc_dedup.rs` to catch; only in
/// `--features shuttle` builds. Never use it.
#[cfg(feature = "shuttle")]
#[doc(hidden)]
pub mod broken {
    use super::{Joiner, Port, ServerAction, ServerSession};
    use crate::distributed::rpc::dedup::{DedupWindow, Key, fingerprint};
    use crate::sync::task;
    use crate::wire::binary::Envelope;

    /// [`Port::on_envelope`] with the check and the insert split: the key
    /// is looked up under one lock, the task yields, and a key that was
    /// absent is then admitted without looking again and registered under a
    /// second lock. Two arrivals of one key can both see it absent, and both
    /// execute.
    pub async fn on_envelope_split(
        port: &Port,
        session: &mut ServerSession,
        envelope: Envelope,
    ) -> Vec<ServerAction> {
        let (Some(store), Envelope::Call(call)) = (&port.store, &envelope) else {
            return port.on_envelope(session, envelope);
        };
        let Some(k) = call.idempotency_key else {
            return port.on_envelope(session, envelope);
        };
        let key = Key {
            client: session.client(),
            key: k,
        };
        let fp = fingerprint(&call.method, &call.args);
        let id = call.id;
        let seen = store.lock().contains(&key); // the check
        task::yield_now().await;
        if seen {
            return port.on_envelope(session, envelope);
        }
        let joiner = |id| Joiner::new(port.tx.clone(), id);
        let actions = session.on_envelope(envelope, None::<&mut DedupWindow<Joiner>>, joiner);
        // The insert, under a second lock; the other arrival may be in
        // already.
        let _ = store
            .lock()
            .begin(key, fp, Joiner::new(port.tx.clone(), id));
        actions
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;
    use crate::distributed::rpc::session::PROTOCOL;
    use crate::testing::Wakes;
    use std::future::Future;
    use std::task::Context;

    /// A duplicate waiting in [`Port::joined`] (which skips its channel
    /// while nothing arrived) is woken and answered when the first arrival
    /// finishes on another connection.
    #[test]
    fn a_waiting_duplicate_is_woken_and_answered() {
        let store = DedupStore::new(16);
        let hello = Envelope::Hello {
            protocol: PROTOCOL,
            token: b"t".to_vec().into(),
            client: 1,
        };
        let call = Call {
            id: 1,
            method: "pay".into(),
            idempotency_key: Some(9),
            args: vec![],
            trace: None,
        };
        let (a, mut b) = (Port::new(Some(store.clone())), Port::new(Some(store)));
        let mut sa = ServerSession::new(b"t".to_vec(), 8);
        let mut sb = ServerSession::new(b"t".to_vec(), 8);
        let _ = a.on_envelope(&mut sa, hello.clone());
        let _ = b.on_envelope(&mut sb, hello);
        let _ = a.on_envelope(&mut sa, Envelope::Call(call.clone()));
        assert!(b.on_envelope(&mut sb, Envelope::Call(call)).is_empty());

        let (wakes, waker) = Wakes::waker();
        let mut cx = Context::from_waker(&waker);
        for _ in 0..2 {
            let poll = std::pin::pin!(b.joined()).poll(&mut cx);
            assert!(poll.is_pending(), "answered before the execution finished");
        }
        let _ = a.on_executed(&mut sa, 1, Some(9), Ok(vec![7]));
        assert_eq!(wakes.count(), 1, "the waiting duplicate was not woken");
        let poll = std::pin::pin!(b.joined()).poll(&mut cx);
        assert_eq!(
            poll,
            std::task::Poll::Ready((1, Ok(vec![7]))),
            "the waiting duplicate was not answered"
        );
    }
}
