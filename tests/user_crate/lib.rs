//! A user's crate, checked through heddle (copied into a scratch crate by
//! `tests/user_crate.rs`): a correct type and two buggy ones.

use heddle::sync::Mutex;

/// Counts correctly: read and write in one critical section.
#[derive(Default)]
pub struct Tally(Mutex<u32>);

impl Tally {
    /// Adds one.
    pub fn bump(&self) {
        *self.0.lock() += 1;
    }

    /// The count.
    pub fn get(&self) -> u32 {
        *self.0.lock()
    }
}

/// Loses updates: reads, unlocks, then writes under a second lock.
#[derive(Default)]
pub struct BuggyTally(Mutex<u32>);

impl BuggyTally {
    /// Adds one, racily.
    pub fn bump(&self) {
        let v = *self.0.lock();
        *self.0.lock() = v + 1;
    }

    /// The count.
    pub fn get(&self) -> u32 {
        *self.0.lock()
    }
}

/// Two accounts; `move_to` locks them in argument order: two opposite
/// transfers deadlock.
#[derive(Default)]
pub struct Accounts(pub Mutex<i64>, pub Mutex<i64>);

/// Moves one unit from `from` to `to`, locking `from` first.
pub fn move_to(from: &Mutex<i64>, to: &Mutex<i64>) {
    let mut a = from.lock();
    let mut b = to.lock();
    *a -= 1;
    *b += 1;
}
