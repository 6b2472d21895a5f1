//! The user's tests: one `check::model` body per type.

use heddle::sync::{Arc, thread};
use tally::{Accounts, BuggyTally, Tally, move_to};

macro_rules! two_bumps {
    ($ty:ty) => {
        heddle::check::model(|| {
            let t = Arc::new(<$ty>::default());
            let t2 = Arc::clone(&t);
            let h = thread::spawn(move || t2.bump());
            t.bump();
            h.join().expect("bump panicked");
            assert_eq!(t.get(), 2, "lost update");
        })
    };
}

#[test]
fn correct_tally() {
    two_bumps!(Tally);
}

#[test]
fn buggy_tally() {
    two_bumps!(BuggyTally);
}

#[test]
fn opposite_transfers() {
    heddle::check::model(|| {
        let acc = Arc::new(Accounts::default());
        let a2 = Arc::clone(&acc);
        let h = thread::spawn(move || move_to(&a2.1, &a2.0));
        move_to(&acc.0, &acc.1);
        h.join().expect("transfer panicked");
    });
}
