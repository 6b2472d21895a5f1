//! A Chase–Lev work-stealing deque, written against the
//! [`sync`](crate::sync) facade so that loom checks its memory orderings
//! (the deque under the work-stealing scheduler of guide §2.3).
//!
//! **What.** [`new`] returns a [`Worker`] (the owner's end: [`push`] and
//! [`pop`] at the *bottom*, LIFO, no compare-and-swap on the fast path) and a
//! [`Stealer`] (cloneable, shared by any number of threads: [`steal`] from the
//! *top*, FIFO, one compare-and-swap). The algorithm and its C11 orderings
//! are those of Lê, Pop, Cohen and Zappa Nardelli, *Correct and Efficient
//! Work-Stealing for Weak Memory Models* (PPoPP 2013):
//!
//! | operation | orderings |
//! | --- | --- |
//! | `push` | load `top` Acquire; write the slot; `fence(Release)`; store `bottom` Relaxed |
//! | `pop` | store `bottom - 1` Relaxed; `fence(SeqCst)`; load `top` Relaxed; if it was the last element, CAS `top` SeqCst against the thieves |
//! | `steal` | load `top` Acquire; `fence(SeqCst)`; load `bottom` Acquire; read the slot; CAS `top` SeqCst |
//!
//! The buffer is a growable power-of-two ring. When it is full, `push`
//! copies the live elements into a buffer twice the size and publishes it
//! (store Release, loaded Acquire by thieves). A thief may still be reading
//! the old buffer, so old buffers are **never freed while the deque lives**:
//! they are kept on an intrusive list (each buffer points to the one it
//! replaced) and freed when the last handle is dropped. Capacities double, so
//! the retired buffers together are smaller than the current one: memory is
//! bounded by 2× the peak capacity. The deque never shrinks.
//!
//! Elements are moved in and out of `MaybeUninit<T>` slots with raw pointer
//! reads and writes (volatile, as crossbeam-deque does). A thief reads its
//! slot *speculatively*, before its CAS on `top`; if the CAS fails, the bytes
//! it read are discarded as a `MaybeUninit<T>` (never `assume_init`ed, so
//! never dropped: the equivalent of `mem::forget`), and the element still
//! belongs to whoever won. That speculative read can overlap the owner
//! writing the same slot after a wrap-around; the CAS then always fails, so
//! the torn bytes are never used — the same compromise crossbeam-deque makes,
//! since a `T` of arbitrary size cannot be an atomic.
//!
//! **When.** One owner thread produces and consumes its own work LIFO (hot
//! in cache), and idle threads take the oldest work from the other end — the
//! per-worker queue of a work-stealing scheduler such as
//! [`work_stealing`](super::work_stealing). For a many-producer queue use an
//! injector (a locked `VecDeque`, or crossbeam's `Injector`).
//!
//! **Compared to.** `crossbeam_deque::Worker::new_lifo` is the same
//! algorithm, with epoch-based reclamation (old buffers are freed once no
//! thief can see them, and the buffer shrinks), a FIFO flavour and batch
//! steals. This one trades those for having no garbage collector: retired
//! buffers live until the deque is dropped. `benches/work_stealing.rs`
//! compares their push/pop/steal throughput in the same run.
//!
//! **How loom sees the slots.** loom only tracks memory it owns (its atomics
//! and `loom::cell::UnsafeCell`); a plain write through a raw pointer is
//! invisible to it, and in a loom run it always reads the latest value in
//! real time. Boxing every element behind an `AtomicPtr` would make loom see
//! the slots, at the price of an allocation per push in production. Instead,
//! the production code path keeps raw `MaybeUninit<T>` slots, and in
//! `loom`/`shuttle` builds only every slot also carries a *probe*: a
//! sequence number written both as plain memory and as a facade atomic
//! (Relaxed) next to the element. The atomic copy travels through the C11
//! model exactly as a relaxed slot write would — published by `push`'s
//! release fence, made visible by `steal`'s acquire load of `bottom` — while
//! the plain copy is what the raw read actually returned. A successful steal
//! whose two numbers differ read a slot the memory model says it could not
//! yet see, and panics with `deque: stale slot`. So loom checks both the
//! index protocol (`top`/`bottom`, the fences, the CASes: lost or duplicated
//! elements) and the publication of the slots themselves.
//! `models/deque.rs` checks push/pop/steal races, the one-element race and a
//! grow during a steal; weakened orderings are reintroduced in a doc-hidden
//! `broken` module (model builds only) and caught there.
//!
//! # Example
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))] fn main() {
//! use heddle::parallel::deque::{self, Steal};
//! use heddle::sync::thread;
//!
//! let (worker, stealer) = deque::new();
//! for i in 0..100 {
//!     worker.push(i);
//! }
//! let thief = thread::spawn(move || {
//!     let mut got = Vec::new();
//!     loop {
//!         match stealer.steal() {
//!             Steal::Success(x) => got.push(x),
//!             Steal::Retry => continue,
//!             Steal::Empty => break got,
//!         }
//!     }
//! });
//! let mut mine = Vec::new();
//! while let Some(x) = worker.pop() {
//!     mine.push(x);
//! }
//! let mut all = thief.join().expect("thief panicked");
//! all.extend(mine);
//! all.sort_unstable();
//! assert_eq!(all, (0..100).collect::<Vec<_>>()); // each element exactly once
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```
//!
//! [`push`]: Worker::push
//! [`pop`]: Worker::pop
//! [`steal`]: Stealer::steal

use std::cell::{Cell, UnsafeCell};
use std::fmt;
use std::marker::PhantomData;
use std::mem::MaybeUninit;
use std::ops::Deref;
use std::ptr;

use crate::sync::Arc;
use crate::sync::atomic::Ordering::{Acquire, Relaxed, Release, SeqCst};
use crate::sync::atomic::{AtomicIsize, AtomicPtr, fence};

/// The capacity [`new`] starts with (the buffer grows by doubling).
pub const DEFAULT_CAPACITY: usize = 64;

/// Creates an empty deque with [`DEFAULT_CAPACITY`] and returns its owner's
/// end and one thief's end (clone the [`Stealer`] for more thieves).
pub fn new<T>() -> (Worker<T>, Stealer<T>) {
    with_capacity(DEFAULT_CAPACITY)
}

/// Creates an empty deque whose first buffer holds `capacity` elements
/// (rounded up to a power of two, at least 1). It grows by doubling.
pub fn with_capacity<T>(capacity: usize) -> (Worker<T>, Stealer<T>) {
    build(capacity, Flavor::Correct)
}

fn build<T>(capacity: usize, flavor: Flavor) -> (Worker<T>, Stealer<T>) {
    let cap = capacity.max(1).next_power_of_two();
    let buffer = Buffer::<T>::alloc(cap, ptr::null_mut());
    #[cfg(not(any(feature = "loom", feature = "shuttle")))]
    let _ = flavor; // only the model builds can select a broken flavour
    let inner = Arc::new(Inner {
        top: Padded(AtomicIsize::new(0)),
        bottom: Padded(AtomicIsize::new(0)),
        buffer: Padded(AtomicPtr::new(buffer)),
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        flavor,
        _owns: PhantomData,
    });
    let worker = Worker {
        inner: Arc::clone(&inner),
        buffer: Cell::new(buffer),
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        next_seq: Cell::new(1),
    };
    (worker, Stealer { inner })
}

/// The outcome of [`Stealer::steal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[must_use]
pub enum Steal<T> {
    /// The deque was empty.
    Empty,
    /// Took the oldest element.
    Success(T),
    /// Lost a race for the oldest element (to the owner or another thief);
    /// the deque may still hold elements, so trying again may succeed.
    Retry,
}

impl<T> Steal<T> {
    /// `Some(element)` on success, `None` for `Empty` and `Retry`.
    pub fn success(self) -> Option<T> {
        match self {
            Steal::Success(x) => Some(x),
            Steal::Empty | Steal::Retry => None,
        }
    }

    /// Whether the deque was seen empty.
    pub fn is_empty(&self) -> bool {
        matches!(self, Steal::Empty)
    }

    /// Whether an element was taken.
    pub fn is_success(&self) -> bool {
        matches!(self, Steal::Success(_))
    }

    /// Whether the steal lost a race and may be retried.
    pub fn is_retry(&self) -> bool {
        matches!(self, Steal::Retry)
    }
}

/// Which orderings the deque uses. Production builds only ever use
/// `Correct` (the field does not exist there, so this folds away); the model
/// builds can construct the weakened ones through [`broken`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(any(feature = "loom", feature = "shuttle")), allow(dead_code))]
enum Flavor {
    /// The orderings of Lê et al.
    Correct,
    /// `pop` without its `fence(SeqCst)`.
    PopWithoutFence,
    /// `steal` loads `bottom` Relaxed instead of Acquire.
    StealRelaxedBottom,
    /// `steal` bumps `top` with a plain store instead of a CAS.
    StealPlainStore,
}

/// Keeps `top` and `bottom` on separate cache lines (thieves hammer `top`,
/// the owner `bottom`).
#[repr(align(128))]
struct Padded<T>(T);

impl<T> Deref for Padded<T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The state shared by the owner and the thieves.
struct Inner<T> {
    /// Index of the oldest element; only ever incremented, by CAS.
    top: Padded<AtomicIsize>,
    /// One past the newest element; written only by the owner.
    bottom: Padded<AtomicIsize>,
    /// The current buffer; older ones hang off its `prev` list.
    buffer: Padded<AtomicPtr<Buffer<T>>>,
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    flavor: Flavor,
    /// The deque owns `T`s (for drop check) but must not inherit `T`'s
    /// auto traits through the raw pointers: see the `Send`/`Sync` impls.
    _owns: PhantomData<*mut T>,
}

// SAFETY: `Inner` hands each element to exactly one thread (the owner or the
// thief whose CAS on `top` succeeded); elements move between threads, they
// are never shared, so `T: Send` suffices for both `Send` and `Sync`. The
// buffers are only written by the owner (`Worker` is `!Sync`), and read by
// thieves only through the protocol above.
unsafe impl<T: Send> Send for Inner<T> {}
// SAFETY: see `Send` just above; `&Inner` only allows steals, which move a `T`.
unsafe impl<T: Send> Sync for Inner<T> {}

impl<T> Inner<T> {
    #[inline(always)]
    fn flavor(&self) -> Flavor {
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        {
            self.flavor
        }
        #[cfg(not(any(feature = "loom", feature = "shuttle")))]
        {
            Flavor::Correct
        }
    }
}

impl<T> Drop for Inner<T> {
    fn drop(&mut self) {
        let top = self.top.load(Relaxed);
        let bottom = self.bottom.load(Relaxed);
        let mut buf = self.buffer.load(Relaxed);
        // SAFETY: `&mut self`: no other handle exists, so no thread is in the
        // middle of an operation. The live elements are exactly the indices
        // `top..bottom` of the current buffer (older buffers only hold stale
        // bitwise copies), each initialised once and not yet taken: drop each
        // once. Then free every buffer of the list exactly once; each was
        // created by `Box::into_raw` in `Buffer::alloc`.
        unsafe {
            let mut i = top;
            while i != bottom {
                (*(*buf).slot(i)).assume_init_drop();
                i = i.wrapping_add(1);
            }
            while !buf.is_null() {
                let prev = (*buf).prev;
                drop(Box::from_raw(buf));
                buf = prev;
            }
        }
    }
}

/// A power-of-two ring of slots.
struct Buffer<T> {
    slots: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// The buffer this one replaced (freed together with the deque).
    prev: *mut Buffer<T>,
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    probe: Probe,
}

impl<T> Buffer<T> {
    fn alloc(cap: usize, prev: *mut Buffer<T>) -> *mut Buffer<T> {
        debug_assert!(cap.is_power_of_two());
        let slots = (0..cap)
            .map(|_| UnsafeCell::new(MaybeUninit::uninit()))
            .collect();
        Box::into_raw(Box::new(Buffer {
            slots,
            mask: cap - 1,
            prev,
            #[cfg(any(feature = "loom", feature = "shuttle"))]
            probe: Probe::new(cap),
        }))
    }

    #[inline]
    fn cap(&self) -> usize {
        self.mask + 1
    }

    /// The slot of logical index `i`.
    #[inline]
    fn slot(&self, i: isize) -> *mut MaybeUninit<T> {
        let k = (i as usize) & self.mask;
        // SAFETY: `k <= mask = slots.len() - 1`.
        unsafe { self.slots.get_unchecked(k) }.get()
    }

    /// Writes `value` at logical index `i`.
    ///
    /// # Safety
    /// Only the owner calls this, and only for an index no thief can still
    /// take (`i >= bottom` and `i - top < cap`).
    #[inline]
    unsafe fn write(&self, i: isize, value: MaybeUninit<T>) {
        // SAFETY: the slot is in bounds and, per the contract, not live.
        unsafe { ptr::write_volatile(self.slot(i), value) }
    }

    /// A bitwise copy of the slot of index `i`; the caller decides whether it
    /// owns it (and only then calls `assume_init`).
    ///
    /// # Safety
    /// `i` must have been written at least once in this buffer's lifetime,
    /// or the caller must never `assume_init` the result.
    #[inline]
    unsafe fn read(&self, i: isize) -> MaybeUninit<T> {
        // SAFETY: in bounds; a `MaybeUninit` may hold any bytes.
        unsafe { ptr::read_volatile(self.slot(i)) }
    }
}

/// Model-build instrumentation: per slot, the sequence number of the last
/// element written, once as plain memory (what a raw read really returns in
/// a loom run) and once as a facade atomic (what the C11 model allows the
/// reader to see). See the module docs.
#[cfg(any(feature = "loom", feature = "shuttle"))]
struct Probe {
    seen: Box<[crate::sync::atomic::AtomicU64]>,
    real: Box<[UnsafeCell<u64>]>,
}

#[cfg(any(feature = "loom", feature = "shuttle"))]
impl Probe {
    fn new(cap: usize) -> Self {
        Self {
            seen: (0..cap)
                .map(|_| crate::sync::atomic::AtomicU64::new(0))
                .collect(),
            real: (0..cap).map(|_| UnsafeCell::new(0)).collect(),
        }
    }

    /// Owner: the element with sequence number `seq` goes into slot `k`.
    fn write(&self, k: usize, seq: u64) {
        // SAFETY: model builds run one thread at a time (loom and shuttle
        // schedule coroutines on one OS thread), so this plain write never
        // overlaps a plain read.
        unsafe { *self.real[k].get() = seq };
        self.seen[k].store(seq, Relaxed);
    }

    /// Reader: (what the memory model lets us see, what memory really holds).
    fn read(&self, k: usize) -> (u64, u64) {
        let seen = self.seen[k].load(Relaxed);
        // SAFETY: as in `write`: one thread runs at a time.
        let real = unsafe { *self.real[k].get() };
        (seen, real)
    }
}

/// The owner's end of a deque: pushes and pops at the bottom (LIFO).
///
/// `Send` but not `Sync`: exactly one thread owns it at a time.
pub struct Worker<T> {
    inner: Arc<Inner<T>>,
    /// The owner's cached copy of `inner.buffer` (only the owner changes it).
    buffer: Cell<*mut Buffer<T>>,
    #[cfg(any(feature = "loom", feature = "shuttle"))]
    next_seq: Cell<u64>,
}

// SAFETY: moving the owner's end to another thread moves the right to push
// and pop; the cached buffer pointer stays valid (buffers live as long as
// `inner`). Elements cross threads, hence `T: Send`. Not `Sync`: two threads
// pushing through `&Worker` would break the single-owner protocol (the
// `Cell`s already make it `!Sync`).
unsafe impl<T: Send> Send for Worker<T> {}

impl<T> Worker<T> {
    /// Pushes `value` at the bottom; grows the buffer if it is full.
    #[inline]
    pub fn push(&self, value: T) {
        let inner = &*self.inner;
        let b = inner.bottom.load(Relaxed);
        // Acquire: thieves' speculative reads of a slot happen before their
        // CAS on `top`, so we never overwrite a slot a thief is still reading
        // and may keep.
        let t = inner.top.load(Acquire);
        let mut buf = self.buffer.get();
        // SAFETY: `buf` is the current buffer, alive as long as `inner`.
        if b.wrapping_sub(t) >= unsafe { (*buf).cap() } as isize {
            buf = self.grow(t, b);
        }
        // SAFETY: as above (and `grow` returned the new current buffer).
        let buffer = unsafe { &*buf };
        // SAFETY: `b` is not live (`b >= bottom`) and `b - t < cap`: no thief
        // can take index `b` until `bottom` is published below.
        unsafe { buffer.write(b, MaybeUninit::new(value)) };
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        {
            let seq = self.next_seq.get();
            self.next_seq.set(seq + 1);
            buffer.probe.write((b as usize) & buffer.mask, seq);
        }
        // Publishes the slot (and a new buffer) to thieves that read the
        // new `bottom` with Acquire.
        fence(Release);
        inner.bottom.store(b.wrapping_add(1), Relaxed);
    }

    /// Pops the newest element, or `None` if the deque is empty.
    #[inline]
    pub fn pop(&self) -> Option<T> {
        let inner = &*self.inner;
        let b = inner.bottom.load(Relaxed).wrapping_sub(1);
        inner.bottom.store(b, Relaxed);
        // The store of `bottom` must be ordered before the load of `top`
        // (store→load: only SeqCst does it), against a thief doing the
        // mirror image (load `top`, fence, load `bottom`).
        if inner.flavor() != Flavor::PopWithoutFence {
            fence(SeqCst);
        }
        let t = inner.top.load(Relaxed);
        let len = b.wrapping_sub(t);
        if len < 0 {
            // Empty: restore `bottom`.
            inner.bottom.store(b.wrapping_add(1), Relaxed);
            return None;
        }
        let buf = self.buffer.get();
        // SAFETY: index `b` is live (`t <= b < old bottom`), written by this
        // owner; we only `assume_init` it if we win it below.
        let value = unsafe { (*buf).read(b) };
        if len > 0 {
            // More than one element: thieves cannot reach index `b`.
            // SAFETY: we own index `b` now.
            return Some(unsafe { value.assume_init() });
        }
        // The last element: race the thieves for it.
        let won = inner
            .top
            .compare_exchange(t, t.wrapping_add(1), SeqCst, Relaxed)
            .is_ok();
        inner.bottom.store(b.wrapping_add(1), Relaxed);
        // SAFETY: winning the CAS on `top` made index `b` (== `t`) ours; if we
        // lost, a thief owns it and our copy is dropped as `MaybeUninit`
        // (forgotten).
        won.then(|| unsafe { value.assume_init() })
    }

    /// Replaces the full buffer by one twice as large holding the same live
    /// elements, and returns it.
    #[cold]
    fn grow(&self, t: isize, b: isize) -> *mut Buffer<T> {
        let old_ptr = self.buffer.get();
        // SAFETY: the current buffer is alive (buffers live as long as `inner`).
        let old = unsafe { &*old_ptr };
        let new_ptr = Buffer::alloc(old.cap() * 2, old_ptr);
        // SAFETY: just allocated; freed only when the deque is dropped.
        let new = unsafe { &*new_ptr };
        let mut i = t;
        while i != b {
            // SAFETY: bitwise copies of the slots `t..b` (all written: they
            // are below `bottom`); the old buffer keeps its copies, which are
            // never dropped (only the current buffer's live range is), and a
            // thief still reading the old buffer takes the same element.
            unsafe { new.write(i, old.read(i)) };
            #[cfg(any(feature = "loom", feature = "shuttle"))]
            {
                let (seq, _) = old.probe.read((i as usize) & old.mask);
                new.probe.write((i as usize) & new.mask, seq);
            }
            i = i.wrapping_add(1);
        }
        self.buffer.set(new_ptr);
        // Release: a thief that loads the new pointer sees the copies.
        self.inner.buffer.store(new_ptr, Release);
        tracing::trace!(
            capacity = new.cap(),
            "deque: buffer grown (the old one is retired until drop)"
        );
        new_ptr
    }

    /// A new thief's end of this deque.
    pub fn stealer(&self) -> Stealer<T> {
        Stealer {
            inner: Arc::clone(&self.inner),
        }
    }

    /// The number of elements (exact for the owner, up to concurrent steals).
    pub fn len(&self) -> usize {
        let b = self.inner.bottom.load(Relaxed);
        let t = self.inner.top.load(Acquire);
        b.wrapping_sub(t).max(0) as usize
    }

    /// Whether the deque is empty (up to concurrent steals).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The current buffer's capacity (grows by doubling, never shrinks).
    pub fn capacity(&self) -> usize {
        // SAFETY: the current buffer is alive as long as `inner`.
        unsafe { (*self.buffer.get()).cap() }
    }
}

impl<T> fmt::Debug for Worker<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// A thief's end of a deque: steals the oldest element (FIFO). Clone it for
/// more thieves; `Send + Sync` for `T: Send`.
pub struct Stealer<T> {
    inner: Arc<Inner<T>>,
}

impl<T> Clone for Stealer<T> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T> Stealer<T> {
    /// Tries to take the oldest element.
    ///
    /// [`Steal::Retry`] means another thread won the race for that element;
    /// the deque may not be empty.
    #[inline]
    pub fn steal(&self) -> Steal<T> {
        let inner = &*self.inner;
        let flavor = inner.flavor();
        let t = inner.top.load(Acquire);
        // Load→load across the owner's store of `bottom` in `pop`: the
        // mirror of the fence there.
        fence(SeqCst);
        let bottom_order = if flavor == Flavor::StealRelaxedBottom {
            Relaxed
        } else {
            Acquire
        };
        let b = inner.bottom.load(bottom_order);
        if b.wrapping_sub(t) <= 0 {
            return Steal::Empty;
        }
        // SAFETY: the buffer is alive: no buffer is freed before the deque.
        let buf = unsafe { &*inner.buffer.load(Acquire) };
        // SAFETY: index `t` was written before the `bottom` we read was
        // published, in this buffer or copied into it; the value is only
        // used if the CAS below wins.
        let value = unsafe { buf.read(t) };
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        let probe = buf.probe.read((t as usize) & buf.mask);
        let won = if flavor == Flavor::StealPlainStore {
            inner.top.store(t.wrapping_add(1), SeqCst);
            true
        } else {
            inner
                .top
                .compare_exchange(t, t.wrapping_add(1), SeqCst, Relaxed)
                .is_ok()
        };
        if !won {
            // The speculative copy is dropped as `MaybeUninit`: forgotten.
            return Steal::Retry;
        }
        #[cfg(any(feature = "loom", feature = "shuttle"))]
        {
            let (seen, real) = probe;
            assert_eq!(
                seen, real,
                "deque: stale slot: steal of index {t} won the CAS, but the memory model \
                 lets it see only write #{seen} of that slot (#0: never written), not the \
                 element it took, write #{real} (missing acquire/release)"
            );
        }
        // SAFETY: winning the CAS from `t` made index `t` ours, and it held
        // an initialised element (it was below `bottom`).
        Steal::Success(unsafe { value.assume_init() })
    }

    /// Whether the deque looks empty (a snapshot; it may change at once).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of elements (a snapshot; it may change at once).
    pub fn len(&self) -> usize {
        let t = self.inner.top.load(Acquire);
        fence(SeqCst);
        let b = self.inner.bottom.load(Acquire);
        b.wrapping_sub(t).max(0) as usize
    }
}

impl<T> fmt::Debug for Stealer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stealer")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

/// Deques with deliberately weakened orderings, for the model checkers to
/// catch. Only in `loom`/`shuttle` builds; never use these.
///
/// Shuttle runs every atomic as `SeqCst`, so the two ordering bugs are
/// invisible to it (loom-only); the plain-store steal is a logic bug both
/// engines catch.
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod broken {
    use super::{Flavor, Stealer, Worker, build};

    /// `pop` without its `fence(SeqCst)`: the owner can read a stale `top`
    /// while a thief reads a stale `bottom`, and both take the same element.
    pub fn pop_without_fence<T>(capacity: usize) -> (Worker<T>, Stealer<T>) {
        build(capacity, Flavor::PopWithoutFence)
    }

    /// `steal` loads `bottom` Relaxed: it can see an element's index
    /// published without seeing the element's slot write.
    pub fn steal_relaxed_bottom<T>(capacity: usize) -> (Worker<T>, Stealer<T>) {
        build(capacity, Flavor::StealRelaxedBottom)
    }

    /// `steal` bumps `top` with a plain store instead of a CAS: a thief and
    /// the owner (or two thieves) take the same element.
    pub fn steal_plain_store<T>(capacity: usize) -> (Worker<T>, Stealer<T>) {
        build(capacity, Flavor::StealPlainStore)
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn lifo_for_owner_fifo_for_thief() {
        let (w, s) = with_capacity(2);
        for i in 0..10 {
            w.push(i);
        }
        assert_eq!(w.len(), 10);
        assert!(w.capacity() >= 10);
        assert_eq!(s.steal(), Steal::Success(0));
        assert_eq!(w.pop(), Some(9));
        assert_eq!(s.steal().success(), Some(1));
        let rest: Vec<_> = std::iter::from_fn(|| w.pop()).collect();
        assert_eq!(rest, [8, 7, 6, 5, 4, 3, 2]);
        assert!(s.steal().is_empty());
        assert!(w.is_empty() && s.is_empty());
        assert_eq!(w.pop(), None);
    }

    #[test]
    fn wraps_around_many_times() {
        let (w, s) = with_capacity(4);
        for round in 0..1000 {
            w.push(round);
            w.push(round + 1);
            assert_eq!(s.steal(), Steal::Success(round));
            assert_eq!(w.pop(), Some(round + 1));
        }
        assert_eq!(w.capacity(), 4);
    }

    struct Counted<'a>(&'a AtomicUsize);
    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Relaxed);
        }
    }

    #[test]
    fn dropping_drops_remaining_elements_once() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let (w, s) = with_capacity(1);
        for _ in 0..37 {
            w.push(Counted(&DROPS));
        }
        drop(w.pop());
        drop(s.steal());
        assert_eq!(DROPS.load(Relaxed), 2);
        let s2 = s.clone();
        drop(w);
        drop(s);
        assert_eq!(DROPS.load(Relaxed), 2, "a stealer keeps the deque alive");
        assert_eq!(s2.len(), 35);
        drop(s2);
        assert_eq!(DROPS.load(Relaxed), 37);
    }

    #[test]
    fn concurrent_drain_is_exactly_once() {
        const N: usize = 100_000;
        let (w, s) = with_capacity(4);
        let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..N).map(|_| AtomicUsize::new(0)).collect());
        let thieves: Vec<_> = (0..2)
            .map(|_| {
                let (s, seen) = (s.clone(), Arc::clone(&seen));
                std::thread::spawn(move || {
                    let mut empties = 0;
                    while empties < 1000 {
                        match s.steal() {
                            Steal::Success(i) => {
                                let i: usize = i;
                                seen[i].fetch_add(1, Relaxed);
                                empties = 0;
                            }
                            Steal::Retry => {}
                            Steal::Empty => empties += 1,
                        }
                    }
                })
            })
            .collect();
        for i in 0..N {
            w.push(i);
            if i % 3 == 0 {
                if let Some(j) = w.pop() {
                    seen[j].fetch_add(1, Relaxed);
                }
            }
        }
        while let Some(j) = w.pop() {
            seen[j].fetch_add(1, Relaxed);
        }
        for t in thieves {
            t.join().expect("thief panicked");
        }
        while let Some(j) = w.pop() {
            seen[j].fetch_add(1, Relaxed);
        }
        for (i, c) in seen.iter().enumerate() {
            assert_eq!(c.load(Relaxed), 1, "item {i}");
        }
    }
}
