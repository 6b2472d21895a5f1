//! `OnceLock`: a cell written once, then read without locking.
//!
//! In production it is `std::sync::OnceLock`. Under loom and shuttle (neither
//! has one) it is heddle's: a facade `Mutex` serialises initialisers and a
//! facade `AtomicBool` publishes the value (Release/Acquire), so the engine
//! sees, and explores, every initialisation race. A re-entrant initialiser
//! is a deadlock the engine reports (std's blocks forever or panics).
//!
//! Do not put a `std::sync::OnceLock` in a model whose initialiser touches
//! facade primitives: std's blocks a real thread that shuttle does not know
//! about, and the run hangs. Use this one, and create it inside the model
//! body (under loom and shuttle `new` is not `const`, and a `static` would
//! carry its value from one explored execution into the next).
//!
//! ```
//! use heddle::sync::{Arc, OnceLock, thread};
//!
//! heddle::check::model(|| {
//!     let cell = Arc::new(OnceLock::new());
//!     let c2 = Arc::clone(&cell);
//!     let t = thread::spawn(move || *c2.get_or_init(|| 1));
//!     let mine = *cell.get_or_init(|| 2);
//!     assert_eq!(t.join().expect("thread panicked"), mine, "one value wins");
//! });
//! ```

#[cfg(not(any(feature = "loom", feature = "shuttle")))]
pub use std::sync::OnceLock;

#[cfg(any(feature = "loom", feature = "shuttle"))]
pub use model::OnceLock;

#[cfg(any(feature = "loom", feature = "shuttle"))]
mod model {
    use crate::sync::Mutex;
    use crate::sync::atomic::AtomicBool;
    use crate::sync::atomic::Ordering::{Acquire, Release};
    use std::cell::UnsafeCell;
    use std::fmt;
    use std::mem::MaybeUninit;

    /// A cell initialised at most once; see the [module docs](super).
    pub struct OnceLock<T> {
        init: Mutex<()>,
        ready: AtomicBool,
        value: UnsafeCell<MaybeUninit<T>>,
    }

    // SAFETY: the value is written once, under `init`, before `ready` is
    // stored with Release; readers see it only after loading `ready` with
    // Acquire. Sharing hands out `&T` (needs `T: Sync`) and lets another
    // thread initialise or drop it (needs `T: Send`), as std's does.
    unsafe impl<T: Send + Sync> Sync for OnceLock<T> {}
    // SAFETY: moving the cell moves the `T` it may hold.
    unsafe impl<T: Send> Send for OnceLock<T> {}

    impl<T> Default for OnceLock<T> {
        fn default() -> Self {
            Self::new()
        }
    }

    impl<T> OnceLock<T> {
        /// An empty cell.
        #[track_caller]
        pub fn new() -> Self {
            Self {
                init: Mutex::new(()),
                ready: AtomicBool::new(false),
                value: UnsafeCell::new(MaybeUninit::uninit()),
            }
        }

        /// The value, if it was initialised.
        #[track_caller]
        pub fn get(&self) -> Option<&T> {
            if self.ready.load(Acquire) {
                // SAFETY: `ready` is set (Acquire pairs with the Release in
                // `fill`) only after the value was written, and never unset.
                Some(unsafe { (*self.value.get()).assume_init_ref() })
            } else {
                None
            }
        }

        /// The value, initialising it with `f` if no one has yet. Concurrent
        /// callers wait for the one initialiser; `f` runs at most once.
        #[track_caller]
        pub fn get_or_init(&self, f: impl FnOnce() -> T) -> &T {
            if let Some(v) = self.get() {
                return v;
            }
            let _init = self.init.lock();
            if let Some(v) = self.get() {
                return v;
            }
            self.fill(f())
        }

        /// Stores `value` if the cell is empty; otherwise gives it back.
        #[track_caller]
        pub fn set(&self, value: T) -> Result<(), T> {
            let _init = self.init.lock();
            if self.get().is_some() {
                return Err(value);
            }
            self.fill(value);
            Ok(())
        }

        /// The value, if initialised, consuming the cell.
        pub fn into_inner(mut self) -> Option<T> {
            self.take()
        }

        /// Takes the value out, leaving the cell empty.
        pub fn take(&mut self) -> Option<T> {
            self.get()?;
            self.ready.store(false, Release);
            // SAFETY: it was initialised (checked above) and `&mut self`
            // means no reader holds a reference; `ready` is now false, so it
            // is not read or dropped again.
            Some(unsafe { self.value.get_mut().assume_init_read() })
        }

        /// Writes the value; the caller holds `init` and saw the cell empty.
        fn fill(&self, value: T) -> &T {
            // SAFETY: the caller holds `init` and saw `ready == false`, so no
            // one else writes, and no reader looks before `ready` is stored.
            let v = unsafe { (*self.value.get()).write(value) };
            self.ready.store(true, Release);
            v
        }
    }

    impl<T> Drop for OnceLock<T> {
        fn drop(&mut self) {
            drop(self.take());
        }
    }

    impl<T: fmt::Debug> fmt::Debug for OnceLock<T> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.debug_tuple("OnceLock").field(&self.get()).finish()
        }
    }
}
