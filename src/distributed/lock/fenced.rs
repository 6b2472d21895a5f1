//! The resource's side of fencing: a store that refuses writes carrying a
//! token older than one it has already accepted. Pure (no I/O).
//!
//! **What.** Each write names a key, a value and the fencing token of the
//! lease it was made under. The store keeps, per key, the highest token it
//! accepted; a write with a lower token comes from a holder whose lease has
//! since been given to someone else, and is refused with
//! [`Fenced::Stale`]. Equal tokens are accepted (one holder writes many
//! times under one lease).
//!
//! **When.** Any resource guarded by the lock service: a file, a database
//! row, an object store key. Without this check (the guide's TTL-only lock),
//! a holder that paused past its lease overwrites the next holder's work.
//!
//! # Example
//!
//! ```
//! use heddle::distributed::lock::{FencedStore, Fenced};
//!
//! let mut store = FencedStore::default();
//! store.write("report", 7, b"from the new holder".to_vec())?;
//! // The paused old holder wakes up and writes with its older token:
//! let late = store.write("report", 5, b"stale".to_vec());
//! assert_eq!(late, Err(Fenced::Stale { token: 5, seen: 7 }));
//! assert_eq!(store.read("report"), Some(&b"from the new holder"[..]));
//! # Ok::<(), Fenced>(())
//! ```

use super::machine::Token;
use std::collections::BTreeMap;

/// Why a fenced write was refused.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize,
)]
pub enum Fenced {
    /// A write under a newer lease was already accepted for this key.
    #[error("stale fencing token {token}: token {seen} was already accepted")]
    Stale {
        /// The refused write's token.
        token: Token,
        /// The highest token accepted so far.
        seen: Token,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    token: Token,
    value: Vec<u8>,
}

/// Values by key, each with the highest token accepted for it.
#[derive(Debug, Clone, Default)]
pub struct FencedStore {
    slots: BTreeMap<String, Slot>,
}

impl FencedStore {
    /// Stores `value` under `key` if `token` is at least the highest token
    /// accepted for `key`.
    pub fn write(&mut self, key: &str, token: Token, value: Vec<u8>) -> Result<(), Fenced> {
        if let Some(slot) = self.slots.get_mut(key) {
            if token < slot.token {
                return Err(Fenced::Stale {
                    token,
                    seen: slot.token,
                });
            }
            *slot = Slot { token, value };
        } else {
            self.slots.insert(key.to_owned(), Slot { token, value });
        }
        Ok(())
    }

    /// The value last accepted for `key`.
    pub fn read(&self, key: &str) -> Option<&[u8]> {
        self.slots.get(key).map(|s| s.value.as_slice())
    }

    /// The highest token accepted for `key` (0 if none).
    pub fn highest(&self, key: &str) -> Token {
        self.slots.get(key).map_or(0, |s| s.token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_tokens_pass_older_ones_do_not() {
        let mut s = FencedStore::default();
        s.write("k", 3, vec![1]).expect("first write");
        s.write("k", 3, vec![2]).expect("same lease");
        assert_eq!(
            s.write("k", 2, vec![9]),
            Err(Fenced::Stale { token: 2, seen: 3 })
        );
        s.write("k", 4, vec![4]).expect("newer lease");
        assert_eq!(s.read("k"), Some(&[4u8][..]));
        assert_eq!(s.highest("k"), 4);
        // Keys are fenced independently.
        s.write("other", 1, vec![]).expect("another key");
    }
}
