//! Test equipment shared by the crate's unit tests.

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::SeqCst;
use std::task::{Wake, Waker};

/// A waker that counts its wake-ups, for polling futures by hand.
#[derive(Debug, Default)]
pub(crate) struct Wakes(AtomicU32);

impl Wakes {
    /// The counter and a waker that bumps it.
    pub(crate) fn waker() -> (Arc<Self>, Waker) {
        let wakes = Arc::new(Self::default());
        let waker = Waker::from(Arc::clone(&wakes));
        (wakes, waker)
    }

    /// The wake-ups so far.
    pub(crate) fn count(&self) -> u32 {
        self.0.load(SeqCst)
    }
}

impl Wake for Wakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, SeqCst);
    }
}
