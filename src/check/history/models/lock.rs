//! A lock, or a lease, that hands out fencing tokens.
//!
//! Every successful acquire returns a token greater than every token given
//! before; a release names the token it releases. As a plain lock
//! ([`Lock::new`]) an acquire succeeds only when the lock is free. As a
//! lease ([`Lock::lease`]) an acquire may also succeed while someone holds
//! it (their lease expired), but still only with a greater token, and the
//! expired holder's release must then fail: that is what fencing buys. A
//! lease's holder may also find, at its release, that its lease already
//! expired with nobody taking over (the release fails, the lock is free):
//! the history has no clock, so a lease may end at any moment.

use crate::check::history::{ClientId, Model};
use serde::{Deserialize, Serialize};

/// A lock operation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockOp {
    /// `owner` asks for the lock.
    Acquire {
        /// Who asks.
        owner: ClientId,
    },
    /// `owner` releases the lock it got with `token`.
    Release {
        /// Who releases.
        owner: ClientId,
        /// The fencing token it holds.
        token: u64,
    },
}

/// What a lock operation returned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockRet {
    /// The lock was granted with this fencing token.
    Granted(u64),
    /// The acquire was refused (held by someone else).
    Refused,
    /// The release took effect.
    Released,
    /// The release was rejected (not the holder, or a stale token).
    NotHeld,
}

/// The state: the current holder and its token, and the last token given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct LockState {
    holder: Option<(ClientId, u64)>,
    last: u64,
}

/// The lock/lease model.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lock {
    lease: bool,
}

impl Lock {
    /// A plain lock: mutual exclusion and increasing tokens.
    pub fn new() -> Self {
        Self { lease: false }
    }

    /// A lease: a grant may pre-empt an expired holder; tokens increase.
    pub fn lease() -> Self {
        Self { lease: true }
    }

    fn acquire(&self, s: &LockState, owner: ClientId, ret: Option<&LockRet>) -> Option<LockState> {
        let free = s.holder.is_none() || self.lease;
        match ret {
            Some(LockRet::Granted(t)) if free && *t > s.last => Some(LockState {
                holder: Some((owner, *t)),
                last: *t,
            }),
            Some(LockRet::Refused) if s.holder.is_some() => Some(s.clone()),
            // Unknown: if granted, with some greater token we cannot name;
            // model it as refused (no effect) or granted with last + 1.
            None if s.holder.is_none() => Some(LockState {
                holder: Some((owner, s.last + 1)),
                last: s.last + 1,
            }),
            None => Some(s.clone()),
            _ => None,
        }
    }
}

impl Model for Lock {
    type Op = LockOp;
    type Ret = LockRet;
    type State = LockState;
    type Key = ();

    fn read_only(&self, _: &LockOp, ret: Option<&LockRet>) -> bool {
        matches!(ret, Some(LockRet::Refused | LockRet::NotHeld))
    }

    fn init(&self) -> LockState {
        LockState::default()
    }

    fn step(&self, s: &LockState, op: &LockOp, ret: Option<&LockRet>) -> Option<LockState> {
        match op {
            LockOp::Acquire { owner } => self.acquire(s, *owner, ret),
            LockOp::Release { owner, token } => {
                let holds = s.holder == Some((*owner, *token));
                let released = LockState {
                    holder: None,
                    last: s.last,
                };
                match ret {
                    Some(LockRet::Released) if holds => Some(released),
                    Some(LockRet::NotHeld) if !holds => Some(s.clone()),
                    // The lease ran out before the release arrived.
                    Some(LockRet::NotHeld) if self.lease => Some(released),
                    None if holds => Some(released),
                    None => Some(s.clone()),
                    _ => None,
                }
            }
        }
    }
}
