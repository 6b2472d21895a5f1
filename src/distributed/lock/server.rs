//! The lock service and the fenced resource as RPC services: thin drivers
//! around [`LockMachine`] and [`FencedStore`].
//!
//! **What.** [`lock_service`] returns the [`Router`] of a lock server: it
//! feeds each request to the machine with the server's monotonic time, and
//! when the machine asks for a new durable token mark, writes it to the
//! [`MarkStore`] *before* replying (so a token is never handed out unless a
//! restart will resume above it). [`LockService::start`] reads the mark back
//! after a restart. [`resource`] is the resource server's [`Router`]: writes
//! carry a token and stale ones are refused with a typed
//! [`Fenced`](super::Fenced).
//!
//! Requests to one lock server are serialised through one async mutex: a
//! grant that persists a mark holds it across the disk write, so no other
//! grant can overtake it. Persisting happens once per
//! [`LockConfig::block`] grants.
//!
//! Serve the routers with [`rpc::serve`](crate::distributed::rpc::serve);
//! clients use [`LockClient`](super::LockClient).

use super::fenced::FencedStore;
use super::machine::{LockConfig, LockMachine, Output, Reply, Token};
use super::protocol::{self, Acquire, Read, Release, Renew, Write, WriteResult};
use crate::distributed::rpc::Router;
use crate::storage::{CounterError, DurableCounter, Storage};
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// Where the lock service keeps its token high-water mark: it must survive
/// a crash of the service. [`DurableCounter`] over any
/// [`Storage`] (real files with `fsync`, or the simulator's disk) is the
/// one to use; the trait exists so that tests can plant a store that does
/// not survive (and show that tokens then repeat).
pub trait MarkStore: Send + Sync + 'static {
    /// Why loading or storing failed.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The last mark stored, or `None` if none ever was.
    fn load(&self) -> impl Future<Output = Result<Option<Token>, Self::Error>> + Send;
    /// Stores `mark` durably: when this returns `Ok`, a crash keeps it.
    fn store(&self, mark: Token) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

impl<S: Storage> MarkStore for DurableCounter<S> {
    type Error = CounterError;

    async fn load(&self) -> Result<Option<Token>, CounterError> {
        Ok(Some(self.current().await).filter(|&mark| mark > 0))
    }

    async fn store(&self, mark: Token) -> Result<(), CounterError> {
        self.advance_to(mark).await
    }
}

/// A [`MarkStore`] in memory, for tests and simulations only: it does not
/// survive a crash (a host builds a fresh one each time it starts), so a
/// restarted service repeats tokens, which is what such a test shows.
/// Clones share one mark.
#[derive(Debug, Clone, Default)]
pub struct VolatileMark(Arc<Mutex<Option<Token>>>);

impl MarkStore for VolatileMark {
    type Error = std::convert::Infallible;

    async fn load(&self) -> Result<Option<Token>, Self::Error> {
        // An `Option` is never left half-written: a poisoned lock is usable.
        Ok(*self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    async fn store(&self, mark: Token) -> Result<(), Self::Error> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(mark);
        Ok(())
    }
}

/// A lock server's state: the machine, its clock's origin, its mark store.
#[derive(Debug)]
pub struct LockService<S> {
    machine: tokio::sync::Mutex<LockMachine>,
    epoch: Instant,
    store: S,
}

/// Why the lock service could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError<E> {
    /// The mark store failed: no token was handed out.
    #[error("token mark store: {0}")]
    Store(#[source] E),
}

impl<S: MarkStore> LockService<S> {
    /// Starts (or restarts) a service on `store`. A store that holds a mark
    /// means a restart: tokens resume above it and nothing is granted for
    /// one [`LockConfig::max_ttl`], while leases the old process granted may
    /// still run.
    pub async fn start(store: S, config: LockConfig) -> Result<Arc<Self>, ServiceError<S::Error>> {
        let machine = match store.load().await.map_err(ServiceError::Store)? {
            None => LockMachine::new(config),
            Some(mark) => {
                tracing::info!(mark, "lock service restarting above its durable token mark");
                LockMachine::recover(config, mark, Duration::ZERO)
            }
        };
        Ok(Arc::new(Self {
            machine: tokio::sync::Mutex::new(machine),
            epoch: Instant::now(),
            store,
        }))
    }

    fn now(&self) -> Duration {
        self.epoch.elapsed()
    }

    /// Runs one request on the machine, persisting its mark first if asked.
    async fn run(
        &self,
        request: impl FnOnce(&mut LockMachine, Duration) -> Output,
    ) -> Result<Reply, ServiceError<S::Error>> {
        let mut machine = self.machine.lock().await;
        let out = request(&mut machine, self.now());
        if let Some(mark) = out.persist {
            self.store.store(mark).await.map_err(ServiceError::Store)?;
            machine.persisted(mark);
        }
        Ok(out.reply)
    }

    async fn acquire(&self, a: Acquire) -> Result<Reply, ServiceError<S::Error>> {
        let ttl = Duration::from_millis(a.ttl_ms);
        self.run(|m, now| m.acquire(&a.lock, a.owner, ttl, now))
            .await
    }

    async fn renew(&self, r: Renew) -> Result<Reply, ServiceError<S::Error>> {
        let ttl = Duration::from_millis(r.ttl_ms);
        self.run(|m, now| m.renew(&r.lock, r.owner, r.token, ttl, now))
            .await
    }

    async fn release(&self, r: Release) -> Result<Reply, ServiceError<S::Error>> {
        self.run(|m, now| m.release(&r.lock, r.owner, r.token, now))
            .await
    }
}

/// The lock server's methods ([`protocol::ACQUIRE`], [`protocol::RENEW`],
/// [`protocol::RELEASE`]) on `service`.
pub fn lock_service<S: MarkStore>(service: Arc<LockService<S>>) -> Router {
    let (a, r) = (Arc::clone(&service), Arc::clone(&service));
    Router::new()
        .route(protocol::ACQUIRE, move |args: Acquire| {
            let s = Arc::clone(&a);
            async move { s.acquire(args).await }
        })
        .route(protocol::RENEW, move |args: Renew| {
            let s = Arc::clone(&r);
            async move { s.renew(args).await }
        })
        .route(protocol::RELEASE, move |args: Release| {
            let s = Arc::clone(&service);
            async move { s.release(args).await }
        })
}

/// The resource server's methods ([`protocol::WRITE`], [`protocol::READ`])
/// on `store`. Keep the same store across restarts of the resource server
/// (it stands for the resource's own durable state), or its fencing
/// forgets the tokens it has seen.
pub fn resource(store: Arc<Mutex<FencedStore>>) -> Router {
    let reader = Arc::clone(&store);
    Router::new()
        .route(protocol::WRITE, move |w: Write| {
            let result: WriteResult = store
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .write(&w.key, w.token, w.value);
            std::future::ready(Ok::<_, Infallible>(result))
        })
        .route(protocol::READ, move |key: String| {
            let s = reader.lock().unwrap_or_else(PoisonError::into_inner);
            let read = Read {
                value: s.read(&key).map(<[u8]>::to_vec),
                token: s.highest(&key),
            };
            std::future::ready(Ok::<_, Infallible>(read))
        })
}
