//! Channels under std's names: `channel()` (unbounded) and
//! `sync_channel(n)` (at most `n` queued; `0` is a rendezvous).
//!
//! These are the facade's [`channel`](super::channel) under std's
//! `std::sync::mpsc` names, so that code written against `mpsc` is checked
//! by every engine: crossbeam's channel in production, heddle's model channel
//! (facade `Mutex` + `Condvar`) under loom and shuttle. Differences from std:
//! the error types are crossbeam's (same variants, same meaning), `Receiver`
//! is `Clone` (it is multi-consumer), and `SyncSender` is the same type as
//! `Sender`.
//!
//! ```
//! use heddle::sync::{mpsc, thread};
//!
//! heddle::check::model(|| {
//!     let (tx, rx) = mpsc::sync_channel(0);
//!     let t = thread::spawn(move || tx.send(7).expect("receiver alive"));
//!     assert_eq!(rx.recv(), Ok(7));
//!     t.join().expect("sender panicked");
//! });
//! ```

pub use super::channel::{
    Iter, Receiver, RecvError, SendError, Sender, TryRecvError, TrySendError,
};

/// The sending half of a [`sync_channel`]: the same type as [`Sender`].
pub type SyncSender<T> = Sender<T>;

/// An unbounded channel, as `std::sync::mpsc::channel`.
#[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    super::channel::unbounded()
}

/// A channel holding at most `bound` values, as `std::sync::mpsc::sync_channel`;
/// `bound == 0` is a rendezvous.
#[cfg_attr(any(feature = "loom", feature = "shuttle"), track_caller)]
pub fn sync_channel<T>(bound: usize) -> (SyncSender<T>, Receiver<T>) {
    super::channel::bounded(bound)
}
