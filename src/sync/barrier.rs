//! `Barrier`: `n` threads wait until all of them have arrived.
//!
//! std's in production and shuttle's under shuttle. loom has none (its
//! `Barrier` is a stub that panics), so under loom it is heddle's, built from
//! the facade's `Mutex` and `Condvar` with a generation count, and loom
//! explores it like any other code.
//!
//! ```
//! use heddle::sync::atomic::{AtomicUsize, Ordering::SeqCst};
//! use heddle::sync::{Arc, Barrier, thread};
//!
//! heddle::check::model(|| {
//!     let (b, arrived) = (Arc::new(Barrier::new(2)), Arc::new(AtomicUsize::new(0)));
//!     let (b2, a2) = (Arc::clone(&b), Arc::clone(&arrived));
//!     let t = thread::spawn(move || {
//!         a2.fetch_add(1, SeqCst);
//!         b2.wait().is_leader()
//!     });
//!     arrived.fetch_add(1, SeqCst);
//!     let leaders = [b.wait().is_leader(), t.join().expect("thread panicked")];
//!     assert_eq!(arrived.load(SeqCst), 2, "both arrived before either left");
//!     assert_eq!(leaders.iter().filter(|l| **l).count(), 1, "one leader");
//! });
//! ```

#[cfg(feature = "shuttle")]
pub use shuttle::sync::{Barrier, BarrierWaitResult};
#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use std::sync::{Barrier, BarrierWaitResult};

#[cfg(feature = "loom")]
pub use model::{Barrier, BarrierWaitResult};

#[cfg(feature = "loom")]
mod model {
    use crate::sync::{Condvar, Mutex};

    /// A reusable barrier for `n` threads.
    #[derive(Debug)]
    pub struct Barrier {
        n: usize,
        /// (threads arrived in this generation, generation)
        state: Mutex<(usize, u64)>,
        all_arrived: Condvar,
    }

    /// What [`Barrier::wait`] returns: exactly one waiter per generation is the leader.
    #[derive(Debug)]
    pub struct BarrierWaitResult(bool);

    impl BarrierWaitResult {
        /// Whether this thread was the last to arrive.
        pub fn is_leader(&self) -> bool {
            self.0
        }
    }

    impl Barrier {
        /// A barrier that releases every `n` waiting threads.
        #[track_caller]
        pub fn new(n: usize) -> Self {
            Self {
                n,
                state: Mutex::new((0, 0)),
                all_arrived: Condvar::new(),
            }
        }

        /// Blocks until `n` threads (this one included) have called `wait`.
        #[track_caller]
        pub fn wait(&self) -> BarrierWaitResult {
            let mut st = self.state.lock();
            let generation = st.1;
            st.0 += 1;
            if st.0 >= self.n {
                *st = (0, generation.wrapping_add(1));
                self.all_arrived.notify_all();
                return BarrierWaitResult(true);
            }
            drop(self.all_arrived.wait_while(st, |st| st.1 == generation));
            BarrierWaitResult(false)
        }
    }
}
