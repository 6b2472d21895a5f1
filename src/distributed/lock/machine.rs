//! The lock service's state machine: leases with fencing tokens, pure (no
//! I/O, no clock, no randomness).
//!
//! **What.** A table of named locks. Each grant is a *lease*: it names its
//! holder, expires at a time the caller supplies (the machine never reads a
//! clock: every request carries `now`, in the driver's monotonic time), and
//! carries a *fencing token* that is larger than every token granted before
//! it, for any lock, across restarts of the service.
//!
//! **Why tokens.** A TTL alone (the guide's §3.4 design) cannot stop a holder
//! that paused past its lease (a GC pause, a stalled VM) from writing after
//! the next holder: it wakes up believing it still holds the lock. The
//! resource it writes to must refuse the late write, and it can only do so if
//! writes carry a number that grows with every grant: the token. See
//! [`FencedStore`](super::FencedStore) for the resource's side.
//!
//! **Durability of the counter.** Tokens must never repeat after a crash of
//! the lock service, or a restarted service hands out tokens a resource has
//! already seen. The machine reserves tokens in blocks: before it grants a
//! token above the durable high-water mark it asks the driver to persist a
//! new mark ([`Output::persist`]), and the driver must make that durable
//! (`fsync`) *before* it sends the reply ([`Output::must_wait`]). So that
//! grants rarely wait, the machine asks for the next block ahead of need,
//! once less than half a block is left: the driver stores that mark in the
//! background while grants continue. After a crash,
//! [`LockMachine::recover`] restarts above the last durable mark: tokens may
//! skip, never repeat. The block size trades disk writes for skipped
//! numbers.
//!
//! **Compared to.** Chubby's sequencers and ZooKeeper's `zxid`-based
//! fencing give the same guarantee; etcd's leases carry a revision. Redis'
//! Redlock has no fencing token, which is the critique Kleppmann made of it.
//!
//! # Example
//!
//! ```
//! use heddle::distributed::lock::machine::{LockConfig, LockMachine, Reply};
//! use std::time::Duration;
//!
//! let ttl = Duration::from_secs(2);
//! let mut m = LockMachine::new(LockConfig::default());
//! let t0 = Duration::ZERO;
//! let first = m.acquire("disk", 1, ttl, t0);
//! // The first grant needs a durable block of tokens: persist, then reply.
//! assert!(first.must_wait);
//! let mark = first.persist.expect("a block to persist");
//! m.persisted(mark);
//! let Reply::Granted { token: a, .. } = first.reply else { panic!() };
//! // Someone else waits until the lease ends...
//! assert!(matches!(m.acquire("disk", 2, ttl, t0).reply, Reply::Held { .. }));
//! // ...and gets a larger token once it has expired.
//! let later = m.acquire("disk", 2, ttl, t0 + ttl).reply;
//! let Reply::Granted { token: b, .. } = later else { panic!() };
//! assert!(b > a);
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

/// Who asks: a client's identity, unique among the service's clients.
pub type Owner = u64;

/// A fencing token: grows with every grant.
pub type Token = u64;

/// What the service answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Reply {
    /// The caller holds the lock for `ttl` from the request's arrival; every
    /// write under it must carry `token`. (Durations, not instants: the
    /// caller's clock is not the service's.)
    Granted {
        /// The fencing token of this lease.
        token: Token,
        /// The lease's length as granted (the request's, cut to
        /// [`LockConfig::max_ttl`]).
        ttl: Duration,
    },
    /// Another owner holds the lock; it frees within `retry_in`, unless the
    /// lease is renewed.
    Held {
        /// The time left on the current lease (or the restart grace).
        retry_in: Duration,
    },
    /// The lease was extended by `ttl` from the request's arrival; the
    /// token is unchanged.
    Renewed {
        /// The lease's new length, from now.
        ttl: Duration,
    },
    /// The lease was given up.
    Released,
    /// The caller does not hold this lease (it expired, was released, or the
    /// token is not the current one): stop working under it.
    NotHolder,
}

/// The smallest table size at which expired leases are swept.
const SWEEP_MIN: usize = 64;

/// What the driver must do for one request: persist (if asked), and send
/// the reply, after the mark is durable if [`must_wait`](Self::must_wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "the reply may have to wait until `persist` is durable"]
pub struct Output {
    /// If set, durably store this token high-water mark (or see one at or
    /// above it stored), then call [`LockMachine::persisted`].
    pub persist: Option<Token>,
    /// The reply names a token above every durable mark: send it only once
    /// `persist` is durable. When false, a `persist` reserves the next
    /// block ahead of need: store it in the background and reply now.
    pub must_wait: bool,
    /// The answer to the request.
    pub reply: Reply,
}

impl Output {
    fn reply(reply: Reply) -> Self {
        Self {
            persist: None,
            must_wait: false,
            reply,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Lease {
    owner: Owner,
    token: Token,
    expires_at: Duration,
}

/// The service's settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockConfig {
    /// How many tokens one persisted mark reserves (at least 1). A restart
    /// skips at most about one and a half blocks of numbers.
    pub block: u64,
    /// The longest lease granted; longer requests are cut to it. A
    /// restarted service grants nothing for this long (its leases were lost
    /// with its memory, and their holders may still be working).
    pub max_ttl: Duration,
}

impl Default for LockConfig {
    /// Blocks of 1024 tokens (one `fsync` per 1024 grants, made ahead of
    /// need; a restart skips at most ~1 536 numbers of a `u64`), leases of
    /// at most 30 s.
    fn default() -> Self {
        Self {
            block: 1024,
            max_ttl: Duration::from_secs(30),
        }
    }
}

/// The lock table and the token counter.
#[derive(Debug, Clone)]
pub struct LockMachine {
    config: LockConfig,
    leases: BTreeMap<String, Lease>,
    /// The last token granted.
    last: Token,
    /// Tokens up to this one are durably reserved.
    durable: Token,
    /// The highest mark asked of the driver (at or above `durable`).
    requested: Token,
    /// No grant before this time (after a restart).
    grace_until: Duration,
    /// Expired leases are swept when the table reaches this size.
    sweep_at: usize,
}

impl LockMachine {
    /// A fresh service that has never granted a token.
    pub fn new(config: LockConfig) -> Self {
        Self {
            config: LockConfig {
                block: config.block.max(1),
                ..config
            },
            leases: BTreeMap::new(),
            last: 0,
            durable: 0,
            requested: 0,
            grace_until: Duration::ZERO,
            sweep_at: SWEEP_MIN,
        }
    }

    /// The service after a restart at `now`: `durable` is the last mark that
    /// was persisted (0 if none). Every lease was lost with the old memory,
    /// so nothing is granted until `now + max_ttl`, when any lease the old
    /// service granted has surely expired; tokens resume above `durable`.
    pub fn recover(config: LockConfig, durable: Token, now: Duration) -> Self {
        let mut m = Self::new(config);
        m.last = durable;
        m.durable = durable;
        m.requested = durable;
        m.grace_until = now.saturating_add(m.config.max_ttl);
        m
    }

    /// Records that the driver made `mark` durable.
    pub fn persisted(&mut self, mark: Token) {
        self.durable = self.durable.max(mark);
        self.requested = self.requested.max(mark);
    }

    /// What granting `token` asks of the driver: a mark to persist, and
    /// whether the reply must wait for it. Past the durable mark it waits
    /// for a mark covering the token (one already asked for, if it does);
    /// with less than half a block left below the highest mark asked for,
    /// the next block is asked for ahead, without waiting.
    fn reserve(&mut self, token: Token) -> (Option<Token>, bool) {
        let block = self.config.block;
        if token > self.durable {
            if token > self.requested {
                self.requested = token.saturating_add(block - 1);
            }
            return (Some(self.requested), true);
        }
        if self.requested - token < block / 2 {
            self.requested = self.requested.saturating_add(block);
            return (Some(self.requested), false);
        }
        (None, false)
    }

    /// Grants `lock` to `owner` for `ttl` from `now` if it is free or its
    /// lease has expired. A holder that asks again gets a new lease with a
    /// new token (its old token is fenced off).
    pub fn acquire(&mut self, lock: &str, owner: Owner, ttl: Duration, now: Duration) -> Output {
        if now < self.grace_until {
            return Output::reply(Reply::Held {
                retry_in: self.grace_until - now,
            });
        }
        if let Some(lease) = self.live(lock, now)
            && lease.owner != owner
        {
            return Output::reply(Reply::Held {
                retry_in: lease.expires_at - now,
            });
        }
        let token = self.last + 1;
        self.last = token;
        let (persist, must_wait) = self.reserve(token);
        let ttl = ttl.min(self.config.max_ttl);
        let expires_at = now.saturating_add(ttl);
        let lease = Lease {
            owner,
            token,
            expires_at,
        };
        // A name seen before keeps its entry (and its key's allocation).
        if let Some(entry) = self.leases.get_mut(lock) {
            *entry = lease;
        } else {
            self.leases.insert(lock.to_owned(), lease);
            if self.leases.len() >= self.sweep_at {
                self.expire(now);
            }
        }
        tracing::debug!(lock, owner, token, "lease granted");
        Output {
            persist,
            must_wait,
            reply: Reply::Granted { token, ttl },
        }
    }

    /// Extends the holder's lease to `now + ttl`, if `token` is still the
    /// live lease of `owner`. An expired lease is not revived.
    pub fn renew(
        &mut self,
        lock: &str,
        owner: Owner,
        token: Token,
        ttl: Duration,
        now: Duration,
    ) -> Output {
        let ttl = ttl.min(self.config.max_ttl);
        let Some(lease) = self.held_by(lock, owner, token, now) else {
            return Output::reply(Reply::NotHolder);
        };
        lease.expires_at = now.saturating_add(ttl);
        Output::reply(Reply::Renewed { ttl })
    }

    /// Gives the lease up, if `token` is still the live lease of `owner`.
    pub fn release(&mut self, lock: &str, owner: Owner, token: Token, now: Duration) -> Output {
        let Some(lease) = self.held_by(lock, owner, token, now) else {
            return Output::reply(Reply::NotHolder);
        };
        // Ended, not removed: the entry behaves as absent (as an expired
        // lease does) and is reused by the name's next grant, or swept.
        lease.expires_at = Duration::ZERO;
        tracing::debug!(lock, owner, token, "lease released");
        Output::reply(Reply::Released)
    }

    /// The live lease on `lock` at `now`, if any.
    fn live(&self, lock: &str, now: Duration) -> Option<&Lease> {
        self.leases.get(lock).filter(|l| now < l.expires_at)
    }

    fn held_by(
        &mut self,
        lock: &str,
        owner: Owner,
        token: Token,
        now: Duration,
    ) -> Option<&mut Lease> {
        self.leases
            .get_mut(lock)
            .filter(|l| now < l.expires_at && l.owner == owner && l.token == token)
    }

    /// Forgets leases that expired before `now` (memory only: an expired
    /// lease already behaves as absent). Called when a new lock name makes
    /// the table reach `sweep_at`, which then doubles the live count: the
    /// table stays within twice the live leases (plus [`SWEEP_MIN`]) at an
    /// amortised O(1) per grant.
    fn expire(&mut self, now: Duration) {
        self.leases.retain(|_, l| now < l.expires_at);
        self.sweep_at = (2 * self.leases.len()).max(SWEEP_MIN);
    }

    /// The number of entries in the lock table: live leases, and ended ones
    /// (expired or released) not yet swept.
    pub fn len(&self) -> usize {
        self.leases.len()
    }

    /// Whether the lock table has no entry, live or ended.
    pub fn is_empty(&self) -> bool {
        self.leases.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_millis(100);

    fn config(block: u64) -> LockConfig {
        LockConfig {
            block,
            max_ttl: TTL,
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn grant(m: &mut LockMachine, owner: Owner, now: Duration) -> Token {
        let out = m.acquire("x", owner, TTL, now);
        if let Some(mark) = out.persist {
            m.persisted(mark);
        }
        match out.reply {
            Reply::Granted { token, .. } => token,
            other => panic!("expected a grant, got {other:?}"),
        }
    }

    #[test]
    fn one_holder_at_a_time_until_expiry() {
        let mut m = LockMachine::new(config(4));
        let a = grant(&mut m, 1, ms(0));
        assert_eq!(
            m.acquire("x", 2, TTL, ms(99)).reply,
            Reply::Held { retry_in: ms(1) }
        );
        let b = grant(&mut m, 2, ms(100));
        assert!(b > a);
        // The old holder's token is fenced off everywhere.
        assert_eq!(m.renew("x", 1, a, TTL, ms(101)).reply, Reply::NotHolder);
        assert_eq!(m.release("x", 1, a, ms(101)).reply, Reply::NotHolder);
        assert_eq!(m.release("x", 2, b, ms(101)).reply, Reply::Released);
        // Released: free for anyone at once, and the token is spent.
        assert_eq!(m.release("x", 2, b, ms(101)).reply, Reply::NotHolder);
        assert!(grant(&mut m, 3, ms(101)) > b);
    }

    #[test]
    fn expired_leases_of_other_names_are_swept() {
        let mut m = LockMachine::new(config(64));
        for i in 0..1000 {
            let _ = m.acquire(&format!("job-{i}"), 1, TTL, ms(i * 200));
        }
        // Every lease but the newest few expired long ago.
        assert!(m.len() <= SWEEP_MIN, "{} leases kept", m.len());
    }

    #[test]
    fn released_leases_are_swept_and_a_name_reuses_its_entry() {
        let mut m = LockMachine::new(config(64));
        for i in 0..1000 {
            let lock = format!("job-{i}");
            let Reply::Granted { token, .. } = m.acquire(&lock, 1, TTL, ms(0)).reply else {
                panic!("job-{i} not granted");
            };
            assert_eq!(m.release(&lock, 1, token, ms(0)).reply, Reply::Released);
        }
        assert!(m.len() <= SWEEP_MIN, "{} leases kept", m.len());
        let kept = m.len();
        for _ in 0..10 {
            let token = grant(&mut m, 1, ms(0));
            assert_eq!(m.release("x", 1, token, ms(0)).reply, Reply::Released);
        }
        assert!(m.len() <= kept + 1, "{} entries for one more name", m.len());
    }

    #[test]
    fn renewal_extends_but_never_revives() {
        let mut m = LockMachine::new(config(1));
        let a = grant(&mut m, 1, ms(0));
        assert_eq!(
            m.renew("x", 1, a, TTL, ms(50)).reply,
            Reply::Renewed { ttl: TTL }
        );
        assert!(matches!(
            m.acquire("x", 2, TTL, ms(120)).reply,
            Reply::Held { .. }
        ));
        assert_eq!(m.renew("x", 1, a, TTL, ms(150)).reply, Reply::NotHolder);
    }

    #[test]
    fn tokens_are_reserved_in_blocks_and_never_repeat_after_a_crash() {
        let mut m = LockMachine::new(config(4));
        let out = |o: Output| (o.persist, o.must_wait);
        // The first grant waits for its block to be durable.
        assert_eq!(out(m.acquire("x", 1, TTL, ms(0))), (Some(4), true));
        m.persisted(4);
        assert_eq!(out(m.acquire("y", 1, TTL, ms(0))), (None, false));
        // Token 3 leaves less than half a block: the next one is asked
        // for ahead, and this reply does not wait for it.
        assert_eq!(out(m.acquire("z", 1, TTL, ms(0))), (Some(8), false));
        assert_eq!(out(m.acquire("w", 1, TTL, ms(0))), (None, false));
        // Token 5 is past the durable mark while 8 is still being stored:
        // it waits for that store.
        assert_eq!(out(m.acquire("v", 1, TTL, ms(0))), (Some(8), true));
        // The service crashes before 8 is durable. Token 5's reply was
        // never sent (the driver persists before it replies), so nobody
        // holds 5: the restart may grant it again, and never anything <= 4.
        let mut restarted = LockMachine::recover(config(4), 4, ms(10));
        // Leases of the old service may still run: nothing for one max TTL.
        assert_eq!(
            restarted.acquire("x", 2, TTL, ms(59)).reply,
            Reply::Held { retry_in: ms(51) }
        );
        let again = restarted.acquire("x", 2, TTL, ms(110));
        assert!(matches!(again.reply, Reply::Granted { token: 5, .. }));
        assert_eq!(out(again), (Some(8), true));
    }
}
