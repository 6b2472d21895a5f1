//! Multi-producer multi-consumer channels: `bounded` and `unbounded`.
//!
//! In production builds this is `crossbeam-channel`, re-exported. Under
//! `loom` or `shuttle` it is a small channel built on the facade's [`Mutex`]
//! and [`Condvar`], with the same names, the same error types (crossbeam's)
//! and the same disconnection rules, so that code using channels is
//! model-checked too. Patterns use only the subset both implement:
//! `send`, `try_send`, `recv`, `try_recv`, `iter`, `len`, `is_empty`, and
//! `Clone` on both ends.
//!
//! Disconnection, as in crossbeam: `recv` fails once every `Sender` is
//! dropped *and* the queue is empty; `send` fails (returning the value) once
//! every `Receiver` is dropped. `bounded(0)` is a rendezvous channel: `send`
//! returns only when a receiver has taken the value.
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
//! use heddle::sync::{channel, thread};
//!
//! let (tx, rx) = channel::bounded(1);
//! let t = thread::spawn(move || {
//!     for i in 0..3 {
//!         tx.send(i).expect("receiver alive");
//!     }
//! });
//! let got: Vec<i32> = rx.iter().collect(); // ends when the sender is dropped
//! t.join().expect("sender panicked");
//! assert_eq!(got, [0, 1, 2]);
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```
//!
//! [`Mutex`]: crate::sync::Mutex
//! [`Condvar`]: crate::sync::Condvar

pub use crossbeam_channel::{RecvError, SendError, TryRecvError, TrySendError};

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use crossbeam_channel::{Iter, Receiver, Sender, bounded, unbounded};

#[cfg(any(feature = "loom", feature = "shuttle"))]
pub use model::{Iter, Receiver, Sender, bounded, unbounded};

#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub use model::broken_unbounded;

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod model {
    use super::{RecvError, SendError, TryRecvError, TrySendError};
    use crate::sync::{Arc, Condvar, Mutex, MutexGuard};
    use std::collections::VecDeque;
    use std::fmt;

    struct State<T> {
        queue: VecDeque<T>,
        senders: usize,
        receivers: usize,
        /// Values taken by receivers so far (rendezvous senders wait on it).
        taken: u64,
        /// Values ever enqueued.
        sent: u64,
    }

    struct Chan<T> {
        /// `None`: unbounded. `Some(0)`: rendezvous.
        cap: Option<usize>,
        /// Test-only defect (see [`broken_unbounded`]): `recv` checks for
        /// disconnection before looking at the queue, losing buffered values.
        disconnect_first: bool,
        state: Mutex<State<T>>,
        /// Signalled when a value is queued or the last sender leaves.
        readable: Condvar,
        /// Signalled when a value is taken or the last receiver leaves.
        writable: Condvar,
    }

    impl<T> Chan<T> {
        fn has_room(&self, st: &State<T>) -> bool {
            match self.cap {
                None => true,
                // A rendezvous channel holds at most the one value being handed over.
                Some(cap) => st.queue.len() < cap.max(1),
            }
        }
    }

    /// Creates a channel holding at most `cap` values; `cap == 0` is a rendezvous.
    pub fn bounded<T>(cap: usize) -> (Sender<T>, Receiver<T>) {
        new(Some(cap))
    }

    /// Creates a channel of unbounded capacity.
    pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
        new(None)
    }

    /// An unbounded channel whose `recv` reports disconnection as soon as the
    /// last sender is gone, even with values still queued: the classic
    /// lost-message bug, kept for the models to catch. Never use it.
    #[doc(hidden)]
    pub fn broken_unbounded<T>() -> (Sender<T>, Receiver<T>) {
        new_chan(None, true)
    }

    fn new<T>(cap: Option<usize>) -> (Sender<T>, Receiver<T>) {
        new_chan(cap, false)
    }

    fn new_chan<T>(cap: Option<usize>, disconnect_first: bool) -> (Sender<T>, Receiver<T>) {
        let chan = Arc::new(Chan {
            cap,
            disconnect_first,
            state: Mutex::new(State {
                queue: VecDeque::new(),
                senders: 1,
                receivers: 1,
                taken: 0,
                sent: 0,
            }),
            readable: Condvar::new(),
            writable: Condvar::new(),
        });
        (
            Sender {
                chan: Arc::clone(&chan),
            },
            Receiver { chan },
        )
    }

    /// The sending half of a channel.
    pub struct Sender<T> {
        chan: Arc<Chan<T>>,
    }

    impl<T> Sender<T> {
        /// Blocks until there is room, then sends `value`. For a rendezvous
        /// channel, returns once a receiver has taken it.
        pub fn send(&self, value: T) -> Result<(), SendError<T>> {
            let chan = &*self.chan;
            let mut st = chan.state.lock();
            loop {
                if st.receivers == 0 {
                    return Err(SendError(value));
                }
                if chan.has_room(&st) {
                    break;
                }
                st = chan.writable.wait(st);
            }
            st.queue.push_back(value);
            st.sent += 1;
            let ticket = st.sent;
            chan.readable.notify_one();
            if chan.cap == Some(0) {
                st = chan
                    .writable
                    .wait_while(st, |s| s.taken < ticket && s.receivers > 0);
                if st.taken < ticket {
                    // Nobody will ever take it: hand the value back. It is the only
                    // queued value, since a rendezvous channel holds at most one.
                    if let Some(value) = st.queue.pop_back() {
                        st.sent -= 1;
                        return Err(SendError(value));
                    }
                }
            }
            Ok(())
        }

        /// Sends `value` if that can be done without blocking.
        pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
            let chan = &*self.chan;
            let mut st = chan.state.lock();
            if st.receivers == 0 {
                return Err(TrySendError::Disconnected(value));
            }
            // A rendezvous `try_send` would need a receiver already waiting;
            // this model never has one parked on an empty slot, so it is always full.
            if chan.cap == Some(0) || !chan.has_room(&st) {
                return Err(TrySendError::Full(value));
            }
            st.queue.push_back(value);
            st.sent += 1;
            chan.readable.notify_one();
            Ok(())
        }

        /// Number of values queued.
        pub fn len(&self) -> usize {
            self.chan.state.lock().queue.len()
        }

        /// Whether no value is queued.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    impl<T> Clone for Sender<T> {
        fn clone(&self) -> Self {
            self.chan.state.lock().senders += 1;
            Self {
                chan: Arc::clone(&self.chan),
            }
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            let mut st = self.chan.state.lock();
            st.senders -= 1;
            if st.senders == 0 {
                drop(st);
                self.chan.readable.notify_all();
            }
        }
    }

    impl<T> fmt::Debug for Sender<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Sender { .. }")
        }
    }

    /// The receiving half of a channel.
    pub struct Receiver<T> {
        chan: Arc<Chan<T>>,
    }

    impl<T> Receiver<T> {
        fn take(&self, mut st: MutexGuard<'_, State<T>>) -> Option<T> {
            let value = st.queue.pop_front()?;
            st.taken += 1;
            drop(st);
            // Both blocked senders (room) and rendezvous senders (their ticket) wait here.
            self.chan.writable.notify_all();
            Some(value)
        }

        /// Blocks until a value arrives; fails once every sender is gone and
        /// the queue is empty.
        pub fn recv(&self) -> Result<T, RecvError> {
            let chan = &*self.chan;
            let st = chan
                .readable
                .wait_while(chan.state.lock(), |s| s.queue.is_empty() && s.senders > 0);
            if chan.disconnect_first && st.senders == 0 {
                return Err(RecvError);
            }
            self.take(st).ok_or(RecvError)
        }

        /// Takes a value if one is queued.
        pub fn try_recv(&self) -> Result<T, TryRecvError> {
            let st = self.chan.state.lock();
            let disconnected = st.senders == 0;
            match self.take(st) {
                Some(value) => Ok(value),
                None if disconnected => Err(TryRecvError::Disconnected),
                None => Err(TryRecvError::Empty),
            }
        }

        /// A blocking iterator over received values, ending at disconnection.
        pub fn iter(&self) -> Iter<'_, T> {
            Iter { rx: self }
        }

        /// Number of values queued.
        pub fn len(&self) -> usize {
            self.chan.state.lock().queue.len()
        }

        /// Whether no value is queued.
        pub fn is_empty(&self) -> bool {
            self.len() == 0
        }
    }

    impl<T> Clone for Receiver<T> {
        fn clone(&self) -> Self {
            self.chan.state.lock().receivers += 1;
            Self {
                chan: Arc::clone(&self.chan),
            }
        }
    }

    impl<T> Drop for Receiver<T> {
        fn drop(&mut self) {
            let mut st = self.chan.state.lock();
            st.receivers -= 1;
            if st.receivers == 0 {
                // As crossbeam does: queued values are dropped with the last
                // receiver (outside the lock), so whatever they own is released
                // now. A rendezvous value still belongs to its blocked sender,
                // which takes it back.
                let orphans = if self.chan.cap == Some(0) {
                    VecDeque::new()
                } else {
                    std::mem::take(&mut st.queue)
                };
                drop(st);
                self.chan.writable.notify_all();
                drop(orphans);
            }
        }
    }

    impl<T> fmt::Debug for Receiver<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Receiver { .. }")
        }
    }

    /// Blocking iterator returned by [`Receiver::iter`].
    pub struct Iter<'a, T> {
        rx: &'a Receiver<T>,
    }

    impl<T> Iterator for Iter<'_, T> {
        type Item = T;
        fn next(&mut self) -> Option<T> {
            self.rx.recv().ok()
        }
    }

    impl<T> fmt::Debug for Iter<'_, T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("Iter { .. }")
        }
    }
}
