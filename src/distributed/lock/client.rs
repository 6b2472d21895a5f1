//! The lock service's client library: acquire with a TTL, renew in the
//! background while the holder works, release, and hand the caller the
//! fencing token.
//!
//! **What.** [`LockClient::acquire`] asks the service for a lease, retrying
//! with capped, fully jittered backoff while another owner holds it, until
//! [`LockClientConfig::acquire_timeout`]. The [`Lease`] it returns is
//! renewed in the background every [`LockClientConfig::renew_every`] (one
//! task and one timer per client, however many leases it holds) and
//! knows, from the *local* time its request was sent, when it must stop
//! trusting the lease: [`Lease::is_valid`] turns false at
//! `sent + granted ttl - margin` unless a renewal extended it, and as soon as the
//! service says the lease is gone. A holder checks it before each piece of
//! work and stamps every write with [`Lease::token`], so that a write it
//! makes after a pause that outlasted the lease is refused by the resource
//! ([`FencedStore`](super::FencedStore)).
//!
//! **Why local time.** The service grants a *length* (its clock is not
//! ours), counted from when the request reached it. The client counts the
//! same length from when it *sent* the request, which is never later, so
//! its view ends first; `margin` covers clock-rate drift between the two
//! machines.
//!
//! **Compared to.** The guide's client holds a TTL lease and never renews
//! or checks it: work that outlasts the TTL continues without the lock, and
//! nothing stops its writes. etcd's `concurrency.Mutex` and Consul sessions
//! renew in the background the same way; their fencing is by revision.
//!
//! # Example
//!
//! ```no_run
//! use heddle::distributed::lock::{LockClient, LockClientConfig, protocol};
//! use heddle::distributed::rpc::{Client, ClientConfig};
//! use heddle::net::{Addr, Tokio};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let token = b"shared secret".to_vec();
//! let service = Client::new(Tokio, "127.0.0.1:7000".parse()?, ClientConfig::new(token.clone()));
//! let resource = Client::new(Tokio, "127.0.0.1:7001".parse()?, ClientConfig::new(token));
//! let locks = LockClient::new(service, 42, LockClientConfig::default());
//! let lease = locks.acquire("report").await?;
//! if lease.is_valid() {
//!     let write = protocol::Write { key: "report".into(), token: lease.token(), value: b"v1".to_vec() };
//!     let accepted: protocol::WriteResult = resource.call(protocol::WRITE, &write).await?;
//!     accepted?; // Err(Fenced::Stale) if a newer holder wrote first
//! }
//! locks.release(lease).await?;
//! # Ok(())
//! # }
//! ```

use super::machine::{Owner, Reply, Token};
use super::protocol::{self, Acquire, Release};
use super::renewal::Renewals;
use crate::distributed::rpc::{Client, RpcError};
use crate::net::Network;
use crate::resilience::retry::Backoff;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Acquire as Load;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// How a [`LockClient`] asks for, keeps and gives up leases.
#[derive(Debug, Clone)]
pub struct LockClientConfig {
    /// The lease length asked for.
    pub ttl: Duration,
    /// How often a held lease is renewed (well under `ttl`).
    pub renew_every: Duration,
    /// Subtracted from every local deadline: drift between the clocks.
    pub margin: Duration,
    /// How long [`LockClient::acquire`] keeps trying.
    pub acquire_timeout: Duration,
    /// The wait between tries while another owner holds the lock.
    pub backoff: Backoff,
    /// Seeds the backoff jitter; `None` draws from the OS.
    pub seed: Option<u64>,
}

impl Default for LockClientConfig {
    /// A 10 s lease renewed every 3 s, a 500 ms margin, 30 s to acquire,
    /// backoff from 20 ms to 1 s.
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(10),
            renew_every: Duration::from_secs(3),
            margin: Duration::from_millis(500),
            acquire_timeout: Duration::from_secs(30),
            backoff: Backoff::new(Duration::from_millis(20), Duration::from_secs(1)),
            seed: None,
        }
    }
}

/// Why a lock operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LockError {
    /// Another owner held the lock for the whole acquire timeout.
    #[error("lock {lock:?} still held by another owner after {waited:?}")]
    Busy {
        /// The lock.
        lock: String,
        /// How long the client tried.
        waited: Duration,
    },
    /// The lease ended before the operation (it expired, or the service
    /// gave it to someone else).
    #[error("the lease on {lock:?} with token {token} is no longer held")]
    Lost {
        /// The lock.
        lock: String,
        /// The lease's token.
        token: Token,
    },
    /// The service could not be reached or failed.
    #[error("lock service call failed: {0}")]
    Rpc(#[from] RpcError),
    /// The service answered something this operation never returns.
    #[error("unexpected answer from the lock service: {0:?}")]
    Unexpected(Reply),
}

/// What [`LockClient::release`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Released {
    /// The lease was still held; the lock is free now.
    Released,
    /// The lease had already ended (it expired, or the service restarted).
    AlreadyLost,
}

/// Talks to one lock service as one owner.
#[derive(Debug)]
pub struct LockClient<N: Network> {
    rpc: Client<N>,
    owner: Owner,
    config: LockClientConfig,
    rng: Mutex<SmallRng>,
    renewals: Arc<Renewals>,
}

impl<N: Network> Drop for LockClient<N> {
    fn drop(&mut self) {
        self.renewals.close();
    }
}

/// A held lease. Renewed in the background until released or dropped, by
/// the [`LockClient`] that acquired it: drop that client and its leases are
/// no longer renewed (they run out at their deadline).
#[derive(Debug)]
pub struct Lease {
    state: Arc<LeaseState>,
    renewals: Arc<Renewals>,
    /// The lease's entry in the renewal schedule.
    id: u64,
}

/// What a lease and its renewals share.
#[derive(Debug)]
pub(super) struct LeaseState {
    /// The lock the lease is on.
    pub(super) lock: Box<str>,
    /// The lease's fencing token.
    pub(super) token: Token,
    /// The local instant after which the lease must not be trusted.
    valid_until: Mutex<Instant>,
    /// The service said the lease is gone (or it ran out unrenewed).
    pub(super) lost: AtomicBool,
}

impl LeaseState {
    pub(super) fn is_lost(&self) -> bool {
        self.lost.load(Load)
    }

    pub(super) fn valid_until(&self) -> Instant {
        *self
            .valid_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn extend(&self, until: Instant) {
        let mut v = self
            .valid_until
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *v = (*v).max(until);
    }
}

impl Lease {
    /// The lock this lease is on.
    pub fn lock(&self) -> &str {
        &self.state.lock
    }

    /// The fencing token: send it with every write made under the lease.
    pub fn token(&self) -> Token {
        self.state.token
    }

    /// Whether the holder may still act under the lease: the local deadline
    /// has not passed and the service has not said it is gone. Check it
    /// before each piece of work; the token protects what slips through.
    pub fn is_valid(&self) -> bool {
        !self.state.is_lost() && Instant::now() < self.state.valid_until()
    }

    /// The local instant after which the lease is not valid (unless renewed).
    pub fn valid_until(&self) -> Instant {
        self.state.valid_until()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewals.forget(self.id);
    }
}

impl<N: Network> LockClient<N> {
    /// A client for the service behind `rpc`, acting as `owner` (unique
    /// among the service's clients).
    pub fn new(rpc: Client<N>, owner: Owner, config: LockClientConfig) -> Self {
        let rng = match config.seed {
            Some(seed) => SmallRng::seed_from_u64(seed),
            None => SmallRng::from_os_rng(),
        };
        let renewals = Renewals::new(owner, &config);
        Self {
            rpc,
            owner,
            config,
            rng: Mutex::new(rng),
            renewals,
        }
    }

    /// Acquires `lock`, waiting while another owner holds it (up to the
    /// acquire timeout), and starts renewing the lease in the background.
    pub async fn acquire(&self, lock: &str) -> Result<Lease, LockError> {
        let started = Instant::now();
        let mut sent = started;
        let mut attempt = 0u32;
        loop {
            let args = Acquire {
                lock,
                owner: self.owner,
                ttl_ms: millis(self.config.ttl),
            };
            match self.rpc.call(protocol::ACQUIRE, &args).await? {
                Reply::Granted { token, ttl } => return Ok(self.hold(lock, token, ttl, sent)),
                Reply::Held { .. } => {}
                other => return Err(LockError::Unexpected(other)),
            }
            let waited = started.elapsed();
            if waited >= self.config.acquire_timeout {
                return Err(LockError::Busy {
                    lock: lock.to_owned(),
                    waited,
                });
            }
            let delay = {
                let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
                self.config.backoff.delay(attempt, &mut *rng)
            };
            attempt = attempt.saturating_add(1);
            tokio::time::sleep(delay).await;
            sent = Instant::now();
        }
    }

    /// Gives the lease up. A lease that is already lost is not an error
    /// here (the lock is free of it either way), but the answer says so:
    /// work done under it since its deadline was not protected by it.
    pub async fn release(&self, lease: Lease) -> Result<Released, LockError> {
        self.renewals.forget(lease.id);
        let args = Release {
            lock: lease.lock(),
            owner: self.owner,
            token: lease.token(),
        };
        // Idempotent: a duplicate that arrives late names a token that is
        // no longer live (the service answers NotHolder), so it needs no
        // key. (An acquire does: a late duplicate would grant a lease
        // nobody knows of.)
        match self.rpc.call_idempotent(protocol::RELEASE, &args).await? {
            Reply::Released => Ok(Released::Released),
            Reply::NotHolder => Ok(Released::AlreadyLost),
            other => Err(LockError::Unexpected(other)),
        }
    }

    /// A lease of `ttl` granted for a request sent at `sent`, renewed in
    /// the background.
    fn hold(&self, lock: &str, token: Token, ttl: Duration, sent: Instant) -> Lease {
        let state = Arc::new(LeaseState {
            lock: lock.into(),
            token,
            valid_until: Mutex::new(sent + self.trusted(ttl)),
            lost: AtomicBool::new(false),
        });
        let id = self.renewals.hold(&self.rpc, Arc::clone(&state));
        Lease {
            state,
            renewals: Arc::clone(&self.renewals),
            id,
        }
    }

    /// How long after sending a request a lease of `ttl` may be trusted.
    fn trusted(&self, ttl: Duration) -> Duration {
        ttl.saturating_sub(self.config.margin)
    }
}

pub(super) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
