//! The protocol of one RPC connection, both ends, as pure state machines:
//! envelopes in, actions out; no I/O, no clock, no randomness.
//!
//! [`ServerSession`] checks the handshake, admits calls (limit per
//! connection, de-duplication of keyed calls, refusal while draining) and
//! turns outcomes into replies. [`ClientSession`] builds the `Hello`,
//! matches replies to waiting calls by id, and decides when a silent
//! connection should be dropped. The async drivers in
//! [`server`](super::server) and [`client`](super::client) only move bytes
//! and time between these and the network.
//!
//! # Example
//!
//! The handshake and one call, with no network at all:
//!
//! ```
//! use heddle::distributed::rpc::dedup::DedupWindow;
//! use heddle::distributed::rpc::session::{ClientEvent, ClientSession, ServerAction, ServerSession};
//! use heddle::wire::binary::{Call, Envelope};
//!
//! let mut server = ServerSession::new(b"secret".to_vec(), 8);
//! let mut client: ClientSession<&str> = ClientSession::new(b"secret".to_vec(), 17);
//! let mut dedup: DedupWindow<u64> = DedupWindow::new(16);
//!
//! let welcome = server.on_envelope(client.hello(), Some(&mut dedup), |id| id);
//! let [ServerAction::Send(welcome)] = &welcome[..] else { panic!() };
//! assert_eq!(client.on_envelope(welcome.clone()), ClientEvent::Ready { max_in_flight: 8 });
//!
//! let call = Call { id: 1, method: "add".into(), idempotency_key: Some(5), args: vec![], trace: None };
//! client.register(1, "caller", 0);
//! let actions = server.on_envelope(Envelope::Call(call), Some(&mut dedup), |id| id);
//! assert!(matches!(&actions[..], [ServerAction::Execute(c)] if c.id == 1));
//! let (reply, joined) = server.on_executed(1, Some(5), Ok(vec![42]), Some(&mut dedup));
//! assert!(joined.is_empty());
//! assert_eq!(client.on_envelope(reply), ClientEvent::Completed { waiter: "caller", outcome: Ok(vec![42]) });
//! ```

use super::dedup::{Begin, DedupWindow, Key, Outcome, fingerprint};
#[cfg(feature = "defects")]
use super::defects::ServerDefect;
use crate::distributed::id_map::IdMap;
use crate::wire::binary::{
    self, Call, CallRef, Envelope, Health, Refusal, RemoteError, Reply, Secret,
};
use std::collections::BTreeMap;

/// The RPC protocol version this build speaks (sent in `Hello`).
pub const PROTOCOL: u16 = 3;

/// The method every server answers itself, without a handler: an unkeyed
/// call to it returns [`Health`] (serving or draining), even while the
/// server drains or is at its in-flight limit. A route of this name is
/// never reached.
pub const HEALTH_METHOD: &str = "health";

/// How the server broke the protocol, as seen by a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    /// An envelope that makes no sense at this point of the connection.
    #[error("unexpected {kind} {when} the handshake")]
    Unexpected {
        /// The envelope's kind (`Welcome`, `Reply`, ...).
        kind: &'static str,
        /// `"before"` or `"after"`.
        when: &'static str,
    },
}

/// Where a server connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for the client's `Hello`.
    Handshake,
    /// Serving calls.
    Ready,
    /// Refused or broken: the driver closes the connection.
    Closed,
}

/// What the server driver must do after an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerAction {
    /// Write this envelope.
    Send(Envelope),
    /// Run the call's handler, then report with
    /// [`ServerSession::on_executed`].
    Execute(Call),
    /// Close the connection (after writing what was sent before).
    Close,
}

/// What to do with one call ([`ServerSession::on_call`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Run its handler, then report with [`ServerSession::on_executed`].
    Execute,
    /// Answer it with this envelope; nothing runs.
    Send(Envelope),
    /// Close the connection (the client broke the protocol).
    Close,
    /// Nothing now: it joined a running duplicate (answered through
    /// [`ServerSession::on_joined`]), or the connection is closing.
    Wait,
}

/// The server end of one connection.
#[derive(Debug)]
pub struct ServerSession {
    phase: Phase,
    token: Secret,
    /// The client id presented at the handshake: the scope of its keys.
    client: u128,
    max_in_flight: u32,
    /// Calls admitted and not yet answered (executing or joined), at most
    /// `max_in_flight` of them.
    in_flight: IdMap<()>,
    draining: bool,
    #[cfg(feature = "defects")]
    defect: Option<ServerDefect>,
}

impl ServerSession {
    /// A connection that accepts clients presenting `token`, running at most
    /// `max_in_flight` of their calls at once (at least 1).
    pub fn new(token: impl Into<Secret>, max_in_flight: u32) -> Self {
        Self {
            phase: Phase::Handshake,
            token: token.into(),
            client: 0,
            max_in_flight: max_in_flight.max(1),
            in_flight: IdMap::default(),
            draining: false,
            #[cfg(feature = "defects")]
            defect: None,
        }
    }

    /// Test equipment: the same session with a planted defect.
    #[cfg(feature = "defects")]
    pub fn with_defect(mut self, defect: Option<ServerDefect>) -> Self {
        self.defect = defect;
        self
    }

    #[cfg(feature = "defects")]
    fn planted(&self, defect: ServerDefect) -> bool {
        self.defect == Some(defect)
    }

    /// The client id presented at the handshake (0 before it).
    pub fn client(&self) -> u128 {
        self.client
    }

    /// Whether the server is serving or draining, as [`HEALTH_METHOD`]
    /// answers.
    pub fn health(&self) -> Health {
        if self.draining {
            Health::Draining
        } else {
            Health::Serving
        }
    }

    /// The ids of the calls admitted and not yet answered, in order.
    pub fn in_flight_ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.in_flight.ids()
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Calls admitted and not yet answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Stops admitting calls: later ones are answered
    /// [`RemoteError::ShuttingDown`]; admitted ones still finish.
    pub fn drain(&mut self) {
        self.draining = true;
    }

    /// Handles one envelope from the client. `dedup` is the server's
    /// de-duplication window (`None` ignores idempotency keys: the guide's
    /// defect, kept only to show that the tests catch it); `join` makes the
    /// waiter that answers call `id` when a running duplicate finishes.
    pub fn on_envelope<W>(
        &mut self,
        envelope: Envelope,
        dedup: Option<&mut DedupWindow<W>>,
        join: impl FnOnce(u64) -> W,
    ) -> Vec<ServerAction> {
        match (self.phase, envelope) {
            (
                Phase::Handshake,
                Envelope::Hello {
                    protocol,
                    token,
                    client,
                },
            ) => {
                if protocol != PROTOCOL {
                    self.refuse(Refusal::Protocol {
                        found: protocol,
                        supported: PROTOCOL,
                    })
                } else if !token.ct_eq(&self.token) {
                    self.refuse(Refusal::BadToken)
                } else {
                    self.phase = Phase::Ready;
                    self.client = client;
                    vec![ServerAction::Send(Envelope::Welcome {
                        max_in_flight: self.max_in_flight,
                    })]
                }
            }
            (Phase::Ready, Envelope::Call(call)) => match self.admit(&call.as_ref(), dedup, join) {
                Admission::Execute => vec![ServerAction::Execute(call)],
                Admission::Send(envelope) => vec![ServerAction::Send(envelope)],
                Admission::Close => vec![ServerAction::Close],
                Admission::Wait => Vec::new(),
            },
            (Phase::Closed, _) => Vec::new(),
            (_, other) => {
                tracing::debug!(phase = ?self.phase, envelope = ?kind(&other), "rpc: protocol violation");
                self.phase = Phase::Closed;
                vec![ServerAction::Close]
            }
        }
    }

    fn refuse(&mut self, reason: Refusal) -> Vec<ServerAction> {
        super::metrics::refused(match reason {
            Refusal::BadToken => "bad_token",
            Refusal::Protocol { .. } => "protocol",
        });
        self.phase = Phase::Closed;
        vec![
            ServerAction::Send(Envelope::Refused { reason }),
            ServerAction::Close,
        ]
    }

    /// Handles one call read straight from its frame (borrowed: the
    /// server's hot path, without copying the method name and arguments):
    /// what [`on_envelope`](Self::on_envelope) does for `Envelope::Call`,
    /// without the `Vec` of actions.
    pub fn on_call<W>(
        &mut self,
        call: &CallRef<'_>,
        dedup: Option<&mut DedupWindow<W>>,
        join: impl FnOnce(u64) -> W,
    ) -> Admission {
        match self.phase {
            Phase::Ready => self.admit(call, dedup, join),
            Phase::Closed => Admission::Wait,
            Phase::Handshake => {
                tracing::debug!(phase = ?self.phase, envelope = "Call", "rpc: protocol violation");
                self.phase = Phase::Closed;
                Admission::Close
            }
        }
    }

    fn admit<W>(
        &mut self,
        call: &CallRef<'_>,
        dedup: Option<&mut DedupWindow<W>>,
        join: impl FnOnce(u64) -> W,
    ) -> Admission {
        let id = call.id;
        if self.in_flight.contains(id) {
            // Two calls in flight under one id: replies could not be told
            // apart. The client is broken; drop it.
            tracing::debug!(id, "rpc: duplicate call id in flight");
            self.phase = Phase::Closed;
            return Admission::Close;
        }
        super::metrics::metric!(counter, SERVER_CALLS).increment(1);
        let refuse = |e: RemoteError| {
            super::metrics::refused(match e {
                RemoteError::ShuttingDown => "shutting_down",
                RemoteError::Overloaded => "overloaded",
                _ => "key_reused",
            });
            Admission::Send(reply(id, Err(e)))
        };
        if call.method == HEALTH_METHOD && call.idempotency_key.is_none() {
            let health = binary::to_vec(&self.health()).map_err(|_| RemoteError::Overloaded);
            return Admission::Send(reply(id, health));
        }
        if self.draining {
            return refuse(RemoteError::ShuttingDown);
        }
        if self.in_flight.len() >= self.max_in_flight as usize {
            return refuse(RemoteError::Overloaded);
        }
        if let (Some(key), Some(window)) = (call.idempotency_key, dedup) {
            let fingerprint = self.fingerprint(call);
            match window.begin(self.scoped(key), fingerprint, join(id)) {
                Begin::Execute => {}
                Begin::Joined => {
                    super::metrics::metric!(counter, SERVER_DEDUP_HITS).increment(1);
                    self.in_flight.insert(id, ());
                    return Admission::Wait;
                }
                Begin::Done(outcome) => {
                    super::metrics::metric!(counter, SERVER_DEDUP_HITS).increment(1);
                    return Admission::Send(reply(id, outcome));
                }
                Begin::Mismatch => return refuse(RemoteError::KeyReused),
            }
        }
        self.in_flight.insert(id, ());
        Admission::Execute
    }

    /// The window's key for this client's idempotency `key`.
    fn scoped(&self, key: u128) -> Key {
        #[cfg(feature = "defects")]
        if self.planted(ServerDefect::TrustBareKey) {
            return Key { client: 0, key };
        }
        Key {
            client: self.client,
            key,
        }
    }

    fn fingerprint(&self, call: &CallRef<'_>) -> u64 {
        #[cfg(feature = "defects")]
        if self.planted(ServerDefect::TrustBareKey) {
            return 0;
        }
        fingerprint(call.method, call.args)
    }

    /// The handler of call `id` (with idempotency `key`) returned `outcome`:
    /// the reply to send, and the waiters of duplicates that joined it (each
    /// to be answered with the same outcome through
    /// [`on_joined`](Self::on_joined) on its own session).
    pub fn on_executed<W>(
        &mut self,
        id: u64,
        key: Option<u128>,
        outcome: Outcome,
        dedup: Option<&mut DedupWindow<W>>,
    ) -> (Envelope, Vec<W>) {
        self.in_flight.remove(id);
        let joined = match (key, dedup) {
            (Some(key), Some(window)) => window.finish(self.scoped(key), outcome.clone()),
            _ => Vec::new(),
        };
        (reply(id, outcome), joined)
    }

    /// A duplicate call `id` that joined a running execution gets its
    /// outcome: the reply to send.
    pub fn on_joined(&mut self, id: u64, outcome: Outcome) -> Envelope {
        #[cfg(feature = "defects")]
        if self.planted(ServerDefect::JoinLeak) {
            return reply(id, outcome);
        }
        self.in_flight.remove(id);
        reply(id, outcome)
    }
}

fn reply(id: u64, outcome: Outcome) -> Envelope {
    Envelope::Reply(Reply { id, outcome })
}

fn kind(e: &Envelope) -> &'static str {
    match e {
        Envelope::Hello { .. } => "Hello",
        Envelope::Welcome { .. } => "Welcome",
        Envelope::Refused { .. } => "Refused",
        Envelope::Call(_) => "Call",
        Envelope::Reply(_) => "Reply",
    }
}

/// What an envelope from the server means to the client driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent<W> {
    /// The handshake succeeded.
    Ready {
        /// The server's per-connection concurrency limit.
        max_in_flight: u32,
    },
    /// The server refused the handshake.
    Refused(Refusal),
    /// A call finished: hand `outcome` to `waiter`.
    Completed {
        /// Whoever waits for the call.
        waiter: W,
        /// The server's answer.
        outcome: Outcome,
    },
    /// A reply for a call nobody waits for any more (it timed out); ignored.
    Late(u64),
    /// The server broke the protocol; drop the connection.
    Violation(Violation),
}

/// The client end of one connection: the calls waiting for replies.
#[derive(Debug)]
pub struct ClientSession<W> {
    token: Secret,
    client: u128,
    ready: bool,
    /// Call id → (waiter, time the call was sent, in the driver's clock units).
    waiting: BTreeMap<u64, (W, u64)>,
    /// When the last envelope arrived, in the driver's clock units.
    last_heard: Option<u64>,
}

impl<W> ClientSession<W> {
    /// A connection that will present `token` and client id `client`.
    pub fn new(token: impl Into<Secret>, client: u128) -> Self {
        Self {
            token: token.into(),
            client,
            ready: false,
            waiting: BTreeMap::new(),
            last_heard: None,
        }
    }

    /// The first envelope to send.
    pub fn hello(&self) -> Envelope {
        Envelope::Hello {
            protocol: PROTOCOL,
            token: self.token.clone(),
            client: self.client,
        }
    }

    /// The handshake has completed.
    pub fn is_ready(&self) -> bool {
        self.ready
    }

    /// Call `id` was sent at time `now`; `waiter` gets its outcome. Returns
    /// the previous waiter if the id was already in use (a driver bug).
    pub fn register(&mut self, id: u64, waiter: W, now: u64) -> Option<W> {
        self.waiting.insert(id, (waiter, now)).map(|(w, _)| w)
    }

    /// Calls waiting for a reply.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Handles one envelope from the server, received at `now`.
    pub fn on_envelope_at(&mut self, envelope: Envelope, now: u64) -> ClientEvent<W> {
        self.last_heard = Some(now);
        self.on_envelope(envelope)
    }

    /// Handles one envelope from the server (without recording its time).
    pub fn on_envelope(&mut self, envelope: Envelope) -> ClientEvent<W> {
        match (self.ready, envelope) {
            (false, Envelope::Welcome { max_in_flight }) => {
                self.ready = true;
                ClientEvent::Ready { max_in_flight }
            }
            (false, Envelope::Refused { reason }) => ClientEvent::Refused(reason),
            (true, Envelope::Reply(Reply { id, outcome })) => match self.waiting.remove(&id) {
                Some((waiter, _)) => ClientEvent::Completed { waiter, outcome },
                None => ClientEvent::Late(id),
            },
            (ready, other) => ClientEvent::Violation(Violation::Unexpected {
                kind: kind(&other),
                when: if ready { "after" } else { "before" },
            }),
        }
    }

    /// Call `id`, sent at `sent`, timed out at `now`: forget it, and say
    /// whether the connection should be dropped. It should when nothing at
    /// all arrived since the call was sent: on a stalled or half-open
    /// stream (which turmoil, like real networks, produces silently) every
    /// later call would time out too.
    /// Returns the call's waiter too, if it was still waiting.
    pub fn on_timeout(&mut self, id: u64, now: u64) -> (Option<W>, Verdict) {
        let (waiter, sent) = match self.waiting.remove(&id) {
            Some((waiter, sent)) => (Some(waiter), sent),
            None => (None, now),
        };
        let verdict = match self.last_heard {
            Some(t) if t >= sent => Verdict::Keep,
            _ => Verdict::Reconnect,
        };
        (waiter, verdict)
    }

    /// Whether call `id` still waits for its reply.
    pub fn is_waiting(&self, id: u64) -> bool {
        self.waiting.contains_key(&id)
    }

    /// Forgets call `id` (its caller gave up) and returns its waiter.
    pub fn cancel(&mut self, id: u64) -> Option<W> {
        self.waiting.remove(&id).map(|(w, _)| w)
    }

    /// The connection is gone: every waiter, to be told so.
    pub fn disconnect(&mut self) -> Vec<W> {
        self.ready = false;
        std::mem::take(&mut self.waiting)
            .into_values()
            .map(|(w, _)| w)
            .collect()
    }
}

/// Whether a connection survives a call's timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The server spoke since the call was sent: only this call is slow.
    Keep,
    /// Silence since the call was sent: drop the connection, reconnect.
    Reconnect,
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    fn call(id: u64, key: Option<u128>) -> Envelope {
        Envelope::Call(Call {
            id,
            method: "m".into(),
            idempotency_key: key,
            args: vec![],
            trace: None,
        })
    }

    fn ready(max: u32) -> ServerSession {
        let mut s = ServerSession::new(b"t".to_vec(), max);
        let hello = Envelope::Hello {
            protocol: PROTOCOL,
            token: Secret::new(b"t".to_vec()),
            client: 1,
        };
        s.on_envelope::<u64>(hello, None, |i| i);
        assert_eq!(s.phase(), Phase::Ready);
        s
    }

    #[test]
    fn bad_token_is_refused_and_closed() {
        let mut s = ServerSession::new(b"t".to_vec(), 4);
        let out = s.on_envelope::<u64>(
            Envelope::Hello {
                protocol: PROTOCOL,
                token: Secret::new(b"x".to_vec()),
                client: 1,
            },
            None,
            |i| i,
        );
        assert!(matches!(
            &out[..],
            [
                ServerAction::Send(Envelope::Refused {
                    reason: Refusal::BadToken
                }),
                ServerAction::Close
            ]
        ));
        assert!(s.on_envelope::<u64>(call(1, None), None, |i| i).is_empty());
    }

    #[test]
    fn a_call_before_the_handshake_closes() {
        let mut s = ServerSession::new(b"t".to_vec(), 4);
        assert_eq!(
            s.on_envelope::<u64>(call(1, None), None, |i| i),
            [ServerAction::Close]
        );
    }

    /// Ids admitted out of order and answered from the middle, the front
    /// and the back: each is known while in flight (a second call under it
    /// closes the connection) and forgotten once answered.
    #[test]
    fn in_flight_ids_out_of_order_are_tracked_until_answered() {
        let ids = [5, 3, 9, 7, 4];
        let admitted = || {
            let mut s = ready(8);
            for id in ids {
                let out = s.on_envelope::<u64>(call(id, None), None, |i| i);
                assert!(
                    matches!(&out[..], [ServerAction::Execute(_)]),
                    "call {id}: {out:?}"
                );
            }
            s
        };
        for id in ids {
            let out = admitted().on_envelope::<u64>(call(id, None), None, |i| i);
            assert_eq!(
                out,
                [ServerAction::Close],
                "a second call {id} was admitted"
            );
        }
        let mut s = admitted();
        let mut left = vec![3, 4, 5, 7, 9];
        assert_eq!(s.in_flight_ids().collect::<Vec<_>>(), left, "admitted");
        for id in [7, 3, 9, 5, 4] {
            let _ = s.on_executed::<u64>(id, None, Ok(vec![]), None);
            left.retain(|&i| i != id);
            let now: Vec<u64> = s.in_flight_ids().collect();
            assert_eq!(now, left, "after answering {id}");
        }
        let out = s.on_envelope::<u64>(call(7, None), None, |i| i);
        assert!(matches!(&out[..], [ServerAction::Execute(_)]), "{out:?}");
    }

    #[test]
    fn over_the_limit_is_overloaded_and_draining_refuses() {
        let mut s = ready(1);
        assert!(matches!(
            &s.on_envelope::<u64>(call(1, None), None, |i| i)[..],
            [ServerAction::Execute(_)]
        ));
        let out = s.on_envelope::<u64>(call(2, None), None, |i| i);
        assert_eq!(
            out,
            [ServerAction::Send(reply(2, Err(RemoteError::Overloaded)))]
        );
        s.on_executed::<u64>(1, None, Ok(vec![]), None);
        s.drain();
        let out = s.on_envelope::<u64>(call(3, None), None, |i| i);
        assert_eq!(
            out,
            [ServerAction::Send(reply(3, Err(RemoteError::ShuttingDown)))]
        );
    }

    #[test]
    fn duplicate_key_joins_then_replays() {
        let mut a = ready(4);
        let mut b = ready(4);
        let mut w: DedupWindow<u64> = DedupWindow::new(4);
        assert!(matches!(
            &a.on_envelope(call(1, Some(9)), Some(&mut w), |i| i)[..],
            [ServerAction::Execute(_)]
        ));
        assert!(
            b.on_envelope(call(7, Some(9)), Some(&mut w), |i| i)
                .is_empty()
        );
        let (r, joined) = a.on_executed(1, Some(9), Ok(vec![1]), Some(&mut w));
        assert_eq!(r, reply(1, Ok(vec![1])));
        assert_eq!(joined, [7]);
        assert_eq!(b.on_joined(7, Ok(vec![1])), reply(7, Ok(vec![1])));
        assert_eq!(b.in_flight(), 0);
        assert_eq!(
            b.on_envelope(call(8, Some(9)), Some(&mut w), |i| i),
            [ServerAction::Send(reply(8, Ok(vec![1])))]
        );
        // Without the window (the guide's defect) the duplicate runs again.
        assert!(matches!(
            &b.on_envelope::<u64>(call(9, Some(9)), None, |i| i)[..],
            [ServerAction::Execute(_)]
        ));
    }

    #[test]
    fn client_matches_replies_and_judges_silence() {
        let mut c: ClientSession<&str> = ClientSession::new(b"t".to_vec(), 1);
        assert!(matches!(
            c.on_envelope(reply(1, Ok(vec![]))),
            ClientEvent::Violation(_)
        ));
        assert_eq!(
            c.on_envelope_at(Envelope::Welcome { max_in_flight: 2 }, 0),
            ClientEvent::Ready { max_in_flight: 2 }
        );
        c.register(1, "a", 10);
        c.register(2, "b", 10);
        assert_eq!(c.on_timeout(1, 20), (Some("a"), Verdict::Reconnect));
        assert_eq!(
            c.on_envelope_at(reply(1, Ok(vec![])), 25),
            ClientEvent::Late(1)
        );
        c.register(3, "c", 22);
        assert_eq!(c.on_timeout(3, 30), (Some("c"), Verdict::Keep));
        assert_eq!(c.disconnect(), ["b"]);
    }
}
