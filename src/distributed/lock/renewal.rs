//! Background renewal of the leases a [`LockClient`](super::LockClient)
//! holds: one task and one timer per client, however many leases.
//!
//! **What.** Each held lease has an entry and a due time (`renew_every`
//! after it was granted or last renewed) in a queue. Every lease is renewed
//! at the same period and the clock is read under the lock, so due times
//! enter the queue in order and the queue stays sorted. The client's
//! renewal task sleeps until the oldest due time or, with nothing held, one
//! period from now; a lease registered later is never due earlier than
//! that, so registering needs no wake-up. When leases are due it starts
//! their renewal calls (each in its own task, so one slow service answer
//! delays no other lease) and puts them back at the end of the queue.
//!
//! **Why.** A task per lease (spawned at acquire, cancelled at release)
//! cost a task spawn, a timer and a cancellation per acquire/release cycle:
//! about a fifth of the cycle's instructions, for renewals that happen
//! every few seconds. Now a cycle costs an insertion into, and a removal
//! from, this queue.
//!
//! **Lost leases.** A lease whose local deadline passed before its renewal
//! was due, or that the service said is gone, is marked lost and leaves the
//! queue. A renewal that could not reach the service is tried again at the
//! next due time; the lease's deadline runs out on its own if none gets
//! through.

use super::client::{LeaseState, LockClientConfig, millis};
use super::machine::{Owner, Reply};
use super::protocol::{self, Renew};
use crate::distributed::id_map::IdMap;
use crate::distributed::rpc::Client;
use crate::net::Network;
use std::collections::VecDeque;
use std::sync::atomic::Ordering::Release as Store;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// One client's held leases and their renewal schedule.
#[derive(Debug)]
pub(super) struct Renewals {
    schedule: Mutex<Schedule>,
    /// The client renewing.
    owner: Owner,
    /// The lease length each renewal asks for, milliseconds.
    ttl_ms: u64,
    every: Duration,
    margin: Duration,
    /// Wakes the task only to end it.
    closing: Notify,
}

#[derive(Debug, Default)]
struct Schedule {
    next_id: u64,
    /// Held leases by id.
    held: IdMap<Arc<LeaseState>>,
    /// Due times of held leases, oldest first; entries of leases released
    /// since are skipped when they come up.
    due: VecDeque<(Instant, u64)>,
    started: bool,
    closed: bool,
}

impl Schedule {
    /// Drops released leases from the front of the queue.
    fn prune(&mut self) {
        while let Some(&(_, id)) = self.due.front() {
            if self.held.contains(id) {
                break;
            }
            self.due.pop_front();
        }
    }
}

impl Renewals {
    /// `owner`'s leases, renewed as `config` says: every `renew_every`,
    /// for `ttl`, with `margin` taken off each renewed deadline.
    pub(super) fn new(owner: Owner, config: &LockClientConfig) -> Arc<Self> {
        Arc::new(Self {
            schedule: Mutex::new(Schedule::default()),
            owner,
            ttl_ms: millis(config.ttl),
            every: config.renew_every,
            margin: config.margin,
            closing: Notify::new(),
        })
    }

    fn schedule(&self) -> MutexGuard<'_, Schedule> {
        self.schedule.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts renewing a lease; returns its id here. The first call starts
    /// the client's renewal task (on the caller's runtime).
    pub(super) fn hold<N: Network>(
        self: &Arc<Self>,
        rpc: &Client<N>,
        state: Arc<LeaseState>,
    ) -> u64 {
        let mut s = self.schedule();
        let id = s.next_id;
        s.next_id += 1;
        s.held.insert(id, state);
        s.due.push_back((Instant::now() + self.every, id));
        if !std::mem::replace(&mut s.started, true) {
            tokio::spawn(run(Arc::clone(self), rpc.clone()));
        }
        id
    }

    /// Stops renewing lease `id` (released or dropped). Idempotent.
    pub(super) fn forget(&self, id: u64) {
        let mut s = self.schedule();
        if s.held.remove(id).is_some() {
            s.prune();
        }
    }

    /// Ends the renewal task (the client is gone); held leases run out.
    pub(super) fn close(&self) {
        self.schedule().closed = true;
        self.closing.notify_one();
    }

    /// Takes the leases due by `now` (marking lost those whose deadline
    /// passed) and puts them back one period later. Returns the calls to
    /// start and when the next one is due.
    fn take_due(&self, now: Instant) -> (Vec<Arc<LeaseState>>, Instant) {
        let mut s = self.schedule();
        let mut calls = Vec::new();
        while let Some(&(due, id)) = s.due.front() {
            if due > now {
                break;
            }
            s.due.pop_front();
            let Some(held) = s.held.get(id) else {
                continue;
            };
            if held.is_lost() || now >= held.valid_until() {
                held.lost.store(true, Store);
                s.held.remove(id);
                continue;
            }
            calls.push(Arc::clone(held));
            s.due.push_back((now + self.every, id));
        }
        let next = s.due.front().map_or(now + self.every, |&(due, _)| due);
        (calls, next)
    }
}

/// The client's renewal task: sleeps until leases are due, starts their
/// renewals, until the client is dropped.
async fn run<N: Network>(renewals: Arc<Renewals>, rpc: Client<N>) {
    let timer = tokio::time::sleep(renewals.every);
    tokio::pin!(timer);
    loop {
        tokio::select! {
            biased;
            () = renewals.closing.notified() => {}
            () = &mut timer => {}
        }
        if renewals.schedule().closed {
            return;
        }
        let (calls, next) = renewals.take_due(Instant::now());
        timer.as_mut().reset(next);
        for state in calls {
            tokio::spawn(renew(rpc.clone(), Arc::clone(&renewals), state));
        }
    }
}

/// One renewal call: extends the lease's local deadline, or marks it lost.
async fn renew<N: Network>(rpc: Client<N>, renewals: Arc<Renewals>, state: Arc<LeaseState>) {
    let args = Renew {
        lock: &*state.lock,
        owner: renewals.owner,
        token: state.token,
        ttl_ms: renewals.ttl_ms,
    };
    let sent = Instant::now();
    match rpc.call_idempotent(protocol::RENEW, &args).await {
        Ok(Reply::Renewed { ttl }) => state.extend(sent + ttl.saturating_sub(renewals.margin)),
        Ok(_) => {
            tracing::debug!(lock = args.lock, token = args.token, "lease lost");
            state.lost.store(true, Store);
        }
        Err(e) => tracing::debug!(error = %e, "lease renewal failed; retrying"),
    }
}
