//! A typed multi-stage pipeline on bounded channels (guide §2.5):
//! generate → transform → validate → process, each stage on its own
//! threads, items streaming through with backpressure.
//!
//! **What.** [`Pipeline::source`] starts from an iterator (run on its own
//! thread); each [`stage`](Pipeline::stage) applies a function
//! `Fn(In) -> Result<Out, E>` on `workers` threads and changes the item
//! type; [`run`](Pipeline::run) starts every thread and returns an
//! [`Output`], an iterator of `Result<Out, PipelineError<E>>`. Stages are
//! connected by bounded channels ([`crate::sync::channel::bounded`]), so a
//! slow stage blocks the ones before it instead of letting queues grow.
//!
//! Guarantees:
//! - **every item comes out exactly once**, as `Ok(value)` or as an error
//!   naming its sequence number (its position in the source) and the stage
//!   it failed in: [`PipelineError::Failed`] when the stage returned `Err`,
//!   [`PipelineError::Panicked`] when it panicked (caught per item: the
//!   worker goes on with the next item). A failed item skips the later
//!   stages; the other items continue;
//! - **order**: with [`ordered`](Pipeline::ordered) (the default) items,
//!   errors included, come out in source order, whatever the number of
//!   workers: each item carries its sequence number and the output keeps a
//!   reorder buffer. The buffer is bounded: the source spends a credit per
//!   item and the output gives the credits back (in batches of a quarter
//!   window, to keep the extra channel traffic low) as it returns items, so
//!   at most [`window`](Pipeline::window) items are between the source and
//!   the caller at any time. With [`unordered`](Pipeline::unordered) items come
//!   out as they finish (no buffer, no credits);
//! - **shutdown**: when the source iterator ends, every stage drains what is
//!   in flight and exits, and the output then returns `None`. Dropping the
//!   [`Output`] early (or calling [`Output::join`]) closes it: the source
//!   and every worker notice at their next send (or credit) and exit, and
//!   the threads are joined, so nothing is left running or blocked;
//! - **dead threads**: a worker can only die by a panic outside the stage
//!   function (say, in the `Drop` of a panic payload). It then reports the
//!   item it held as [`PipelineError::WorkerDied`] so the output does not
//!   wait for it, and [`Output::join`] returns
//!   [`PipelineError::ThreadsPanicked`].
//!
//! **When.** A stream of independent items through a fixed sequence of
//! steps of different cost: give the slow steps more workers, keep memory
//! bounded, keep one failing item from stopping the rest.
//!
//! **Compared to.** The guide wires four threads by hand with crossbeam
//! channels: one worker per stage, errors as `Result` values that every
//! later stage must pattern-match, a collector that counts items to know
//! when to stop, and `unwrap` on every join (a panic in a stage kills its
//! thread, the stage's channel closes, and the items behind it are silently
//! lost). Here a stage may have several workers and still keep order, errors
//! and panics are items, and shutdown is by closing channels. The raw
//! channel chain is the alternative a user would write; `benches/pipeline.rs`
//! measures both on the guide's four stages. `rayon`'s `par_bridge` runs
//! one closure over an iterator on the rayon pool (no per-stage threads, no
//! backpressure between steps, order lost); for async code, tokio `mpsc`
//! channels between tasks play the same role.
//!
//! Checked in `models/pipeline.rs` under loom and shuttle (order kept with
//! two racing workers; nothing lost or duplicated; errors routed; an early
//! drop of the output terminates and joins every thread), where two broken
//! variants — a reorder buffer that emits on arrival, and a worker that
//! stops at the first error — are caught.
//!
//! # Example
//!
//! The guide's four stages: ids are generated, transformed into items,
//! validated (every tenth fails), and processed.
//!
//! ```
//! # #[cfg(not(any(feature = "loom", feature = "shuttle")))]
//! # fn main() -> Result<(), heddle::parallel::pipeline::PipelineError<String>> {
//! use heddle::parallel::pipeline::{Pipeline, PipelineError};
//!
//! struct DataItem {
//!     id: usize,
//!     value: String,
//! }
//!
//! let mut output = Pipeline::source(0..100) // generate
//!     .capacity(10)
//!     .map("transform", 2, |id| DataItem { id, value: format!("Item-{id}") })
//!     .stage("validate", 2, |item: DataItem| {
//!         if item.id % 10 == 0 {
//!             Err(format!("validation failed: {}", item.id))
//!         } else {
//!             Ok(item)
//!         }
//!     })
//!     .map("process", 1, |item| format!("processed: {} - {}", item.id, item.value))
//!     .ordered()
//!     .run()?;
//!
//! let (mut processed, mut failed) = (Vec::new(), Vec::new());
//! for result in output.by_ref() {
//!     match result {
//!         Ok(line) => processed.push(line),
//!         Err(PipelineError::Failed { seq, stage: "validate", .. }) => failed.push(seq),
//!         Err(other) => panic!("unexpected: {other}"),
//!     }
//! }
//! output.join()?; // every thread has exited cleanly
//! assert_eq!(processed.len(), 90);
//! assert_eq!(processed[0], "processed: 1 - Item-1"); // in source order
//! assert_eq!(failed, (0..100).step_by(10).collect::<Vec<u64>>());
//! # Ok(())
//! # }
//! # #[cfg(any(feature = "loom", feature = "shuttle"))] fn main() {}
//! ```

use std::collections::VecDeque;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use crate::sync::Arc;
use crate::sync::channel::{self, Receiver, Sender};
use crate::sync::thread::{self, JoinHandle};

/// The stage name of the source thread, in errors.
pub const SOURCE: &str = "source";

/// Capacity of each channel between stages unless
/// [`Pipeline::capacity`] says otherwise.
pub const DEFAULT_CAPACITY: usize = 16;

/// Errors of the pipeline: per-item errors (they carry the item's sequence
/// number and come out of the [`Output`] in its place) and whole-pipeline
/// errors (from [`Pipeline::run`] and [`Output::join`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PipelineError<E> {
    /// The stage function returned `Err(error)` for item `seq`.
    #[error("item {seq}: stage `{stage}` failed: {error}")]
    Failed {
        /// Position of the item in the source.
        seq: u64,
        /// The stage that failed.
        stage: &'static str,
        /// What the stage returned.
        error: E,
    },
    /// The stage function (or the source iterator, stage [`SOURCE`])
    /// panicked on item `seq`. The panic was caught; the worker goes on with
    /// the next item (the source stops: an iterator that panicked is not
    /// resumed).
    #[error("item {seq}: stage `{stage}` panicked: {message}")]
    Panicked {
        /// Position of the item in the source.
        seq: u64,
        /// The stage that panicked.
        stage: &'static str,
        /// The panic message.
        message: String,
    },
    /// A worker thread of `stage` died (a panic outside the stage function)
    /// while holding item `seq`; the item is lost.
    #[error("item {seq}: a worker of stage `{stage}` died holding it")]
    WorkerDied {
        /// Position of the item in the source.
        seq: u64,
        /// The stage whose worker died.
        stage: &'static str,
    },
    /// [`Pipeline::run`]: `stage` was given zero workers.
    #[error("stage `{stage}` needs at least one worker")]
    NoWorkers {
        /// The stage.
        stage: &'static str,
    },
    /// [`Output::join`]: `count` threads of `stage` had panicked (the
    /// first such stage, in pipeline order).
    #[error("{count} thread(s) of stage `{stage}` panicked")]
    ThreadsPanicked {
        /// The stage.
        stage: &'static str,
        /// How many of its threads.
        count: usize,
    },
}

impl<E> PipelineError<E> {
    /// The sequence number of the item, for per-item errors.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Self::Failed { seq, .. }
            | Self::Panicked { seq, .. }
            | Self::WorkerDied { seq, .. } => Some(*seq),
            Self::NoWorkers { .. } | Self::ThreadsPanicked { .. } => None,
        }
    }

    /// The stage the error comes from.
    pub fn stage(&self) -> &'static str {
        match self {
            Self::Failed { stage, .. }
            | Self::Panicked { stage, .. }
            | Self::WorkerDied { stage, .. }
            | Self::NoWorkers { stage }
            | Self::ThreadsPanicked { stage, .. } => stage,
        }
    }
}

/// What travels between stages: an item or its error, and its position.
struct Envelope<T, E> {
    seq: u64,
    item: Result<T, PipelineError<E>>,
}

/// What [`Pipeline::run`] threads through the stages while starting them.
struct Launch {
    capacity: usize,
    /// The source's end of the credit channel (ordered mode only).
    credits: Option<Receiver<usize>>,
    /// Every thread started, with its stage name, source first.
    threads: Vec<(&'static str, JoinHandle<()>)>,
}

/// Starts the stages so far and returns the receiving end of the last one.
type Spawn<T, E> = Box<dyn FnOnce(&mut Launch) -> Receiver<Envelope<T, E>> + Send>;

/// The loop a stage's workers run (see [`work`]); a parameter so that the
/// broken variant can swap it.
type Body<T, U, E, F> = fn(&'static str, &Receiver<Envelope<T, E>>, &Sender<Envelope<U, E>>, &F);

/// A pipeline under construction whose items are currently of type `T`,
/// with stage errors of type `E`. Nothing runs until [`run`](Self::run).
pub struct Pipeline<T, E> {
    spawn: Spawn<T, E>,
    capacity: usize,
    ordered: bool,
    window: Option<usize>,
    /// Channels so far (one per stage, plus the source's).
    channels: usize,
    /// Threads so far (source included).
    threads: usize,
    /// The first stage given zero workers.
    no_workers: Option<&'static str>,
}

impl<T, E> Pipeline<T, E>
where
    T: Send + 'static,
    E: Send + 'static,
{
    /// A pipeline whose items are those of `items`, pulled on a dedicated
    /// thread (the guide's generator stage). Item `n` of the iterator gets
    /// sequence number `n`.
    pub fn source<I>(items: I) -> Self
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: Send + 'static,
    {
        let items = items.into_iter();
        let spawn: Spawn<T, E> = Box::new(move |launch: &mut Launch| {
            let (tx, rx) = channel::bounded(launch.capacity);
            let credits = launch.credits.take();
            let handle = thread::spawn(move || produce(items, &tx, credits.as_ref()));
            launch.threads.push((SOURCE, handle));
            rx
        });
        Self {
            spawn,
            capacity: DEFAULT_CAPACITY,
            ordered: true,
            window: None,
            channels: 1,
            threads: 1,
            no_workers: None,
        }
    }

    /// Adds a stage named `name` (for errors and logs) run by `workers`
    /// threads, each applying `f` to the items it takes. `Err(e)` becomes
    /// [`PipelineError::Failed`] for that item, a panic becomes
    /// [`PipelineError::Panicked`]; items that failed upstream pass through
    /// without calling `f`.
    pub fn stage<U, F>(self, name: &'static str, workers: usize, f: F) -> Pipeline<U, E>
    where
        U: Send + 'static,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        self.then(name, workers, f, work::<T, U, E, F>)
    }

    /// Adds a stage that cannot fail (it can still panic): [`stage`](Self::stage)
    /// with `Ok(f(item))`. A pipeline of `map` stages only must name its
    /// error type, e.g. `Pipeline::<_, std::convert::Infallible>::source(..)`.
    pub fn map<U, F>(self, name: &'static str, workers: usize, f: F) -> Pipeline<U, E>
    where
        U: Send + 'static,
        F: Fn(T) -> U + Send + Sync + 'static,
    {
        self.stage(name, workers, move |item| Ok(f(item)))
    }

    /// Capacity of every channel between stages (default
    /// [`DEFAULT_CAPACITY`]; `0` makes them rendezvous channels). Applies to
    /// the whole pipeline, whenever it is called before [`run`](Self::run).
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// Items come out in source order (the default).
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// Items come out as they finish: no reorder buffer, no credits.
    pub fn unordered(mut self) -> Self {
        self.ordered = false;
        self
    }

    /// In ordered mode, at most `window` items (at least 1) are between the
    /// source and the caller at any time: in channels, in workers, or in
    /// the reorder buffer. The default is what the channels and workers can
    /// hold, plus one, so the window only bounds the reorder buffer and
    /// never slows a pipeline whose items finish in order.
    pub fn window(mut self, window: usize) -> Self {
        self.window = Some(window.max(1));
        self
    }

    /// Starts the source and every worker, and returns the output.
    ///
    /// Fails with [`PipelineError::NoWorkers`] (starting nothing) if a stage
    /// was given zero workers.
    pub fn run(self) -> Result<Output<T, E>, PipelineError<E>> {
        if let Some(stage) = self.no_workers {
            return Err(PipelineError::NoWorkers { stage });
        }
        let (credits, credit_rx) = if self.ordered {
            let window = self
                .window
                .unwrap_or(self.capacity * self.channels + self.threads);
            // At most `window` messages of at least one credit each are ever
            // in the channel, so the caller's sends never block.
            let (tx, rx) = channel::bounded(window);
            // Cannot fail: the receiver is alive and there is room.
            let _ = tx.try_send(window);
            let batch = (window / CREDIT_BATCHES).max(1);
            (Some(Credits { tx, held: 0, batch }), Some(rx))
        } else {
            (None, None)
        };
        let mut launch = Launch {
            capacity: self.capacity,
            credits: credit_rx,
            threads: Vec::with_capacity(self.threads),
        };
        let input = (self.spawn)(&mut launch);
        tracing::debug!(
            threads = launch.threads.len(),
            ordered = self.ordered,
            "pipeline: started"
        );
        Ok(Output {
            input: Some(input),
            credits,
            reorder: self.ordered.then(Reorder::new),
            threads: launch.threads,
        })
    }

    /// Adds a stage whose workers run `body`.
    fn then<U, F>(
        self,
        name: &'static str,
        workers: usize,
        f: F,
        body: Body<T, U, E, F>,
    ) -> Pipeline<U, E>
    where
        U: Send + 'static,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        let previous = self.spawn;
        let spawn: Spawn<U, E> = Box::new(move |launch: &mut Launch| {
            let input = previous(launch);
            let (tx, rx) = channel::bounded(launch.capacity);
            let f = Arc::new(f);
            for _ in 0..workers {
                let (input, tx, f) = (input.clone(), tx.clone(), Arc::clone(&f));
                let handle = thread::spawn(move || body(name, &input, &tx, &*f));
                launch.threads.push((name, handle));
            }
            // `input` and `tx` are dropped here: the workers hold the only
            // clones, so the channels close when the workers are gone.
            rx
        });
        Pipeline {
            spawn,
            capacity: self.capacity,
            ordered: self.ordered,
            window: self.window,
            channels: self.channels + 1,
            threads: self.threads + workers,
            no_workers: self.no_workers.or((workers == 0).then_some(name)),
        }
    }
}

impl<T, E> fmt::Debug for Pipeline<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("capacity", &self.capacity)
            .field("ordered", &self.ordered)
            .field("window", &self.window)
            .field("threads", &self.threads)
            .finish_non_exhaustive()
    }
}

/// The source thread: one credit (ordered mode) per item, then the item.
fn produce<T, E>(
    mut items: impl Iterator<Item = T>,
    output: &Sender<Envelope<T, E>>,
    credits: Option<&Receiver<usize>>,
) {
    // Credits received and not yet spent.
    let mut credit = 0;
    for seq in 0u64.. {
        if let Some(credits) = credits {
            if credit == 0 {
                match credits.recv() {
                    Ok(batch) => credit = batch,
                    Err(_) => {
                        tracing::debug!("pipeline: output closed, source stops");
                        return;
                    }
                }
            }
            credit -= 1;
        }
        let (item, last) = match catch_unwind(AssertUnwindSafe(|| items.next())) {
            Ok(Some(value)) => (Ok(value), false),
            Ok(None) => {
                tracing::debug!(items = seq, "pipeline: source exhausted");
                return;
            }
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                tracing::warn!(seq, %message, "pipeline: source iterator panicked");
                let stage = SOURCE;
                (
                    Err(PipelineError::Panicked {
                        seq,
                        stage,
                        message,
                    }),
                    true,
                )
            }
        };
        if output.send(Envelope { seq, item }).is_err() {
            tracing::debug!("pipeline: output closed, source stops");
            return;
        }
        if last {
            return;
        }
    }
}

/// Applies `f` to one item, turning an `Err` or a panic into the item's
/// error.
fn apply<T, U, E, F>(f: &F, stage: &'static str, seq: u64, value: T) -> Result<U, PipelineError<E>>
where
    F: Fn(T) -> Result<U, E>,
{
    match catch_unwind(AssertUnwindSafe(|| f(value))) {
        Ok(Ok(out)) => Ok(out),
        Ok(Err(error)) => Err(PipelineError::Failed { seq, stage, error }),
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            tracing::warn!(stage, seq, %message, "pipeline: stage panicked on an item");
            Err(PipelineError::Panicked {
                seq,
                stage,
                message,
            })
            // `payload` is dropped here, outside `catch_unwind`: if its
            // `Drop` panics, the worker dies and `Holding` reports the item.
        }
    }
}

/// A worker: take items until the input is closed and drained, or the
/// output is closed.
fn work<T, U, E, F>(
    stage: &'static str,
    input: &Receiver<Envelope<T, E>>,
    output: &Sender<Envelope<U, E>>,
    f: &F,
) where
    F: Fn(T) -> Result<U, E>,
{
    let mut holding = Holding {
        output,
        stage,
        seq: None,
    };
    for Envelope { seq, item } in input.iter() {
        holding.seq = Some(seq);
        let item = match item {
            Ok(value) => apply(f, stage, seq, value),
            Err(upstream) => Err(upstream),
        };
        holding.seq = None;
        if output.send(Envelope { seq, item }).is_err() {
            tracing::debug!(stage, "pipeline: downstream closed, worker stops");
            return;
        }
    }
    tracing::trace!(stage, "pipeline: input drained, worker stops");
}

/// Reports the item a worker holds if the worker unwinds, so that an
/// ordered output does not wait forever for it.
struct Holding<'a, U, E> {
    output: &'a Sender<Envelope<U, E>>,
    stage: &'static str,
    seq: Option<u64>,
}

impl<U, E> Drop for Holding<'_, U, E> {
    fn drop(&mut self) {
        // `seq` is only set between taking an item and handing it on: if
        // it is still set, the worker is unwinding.
        if let Some(seq) = self.seq.take() {
            tracing::error!(
                stage = self.stage,
                seq,
                "pipeline: worker died holding an item"
            );
            let stage = self.stage;
            let item = Err(PipelineError::WorkerDied { seq, stage });
            // Fails only if downstream is gone, and then nobody waits for it.
            let _ = self.output.send(Envelope { seq, item });
        }
    }
}

use crate::panic::message as panic_message;

/// The output buffer of an ordered pipeline: slot `i` holds item
/// `next + i` once it has arrived.
struct Reorder<T, E> {
    next: u64,
    slots: VecDeque<Option<Result<T, PipelineError<E>>>>,
}

impl<T, E> Reorder<T, E> {
    fn new() -> Self {
        Self {
            next: 0,
            slots: VecDeque::new(),
        }
    }

    fn insert(&mut self, Envelope { seq, item }: Envelope<T, E>) {
        let Some(offset) = seq.checked_sub(self.next) else {
            // Cannot happen: every sequence number arrives once.
            tracing::error!(seq, "pipeline: item arrived twice; dropped");
            return;
        };
        // The credit window bounds `offset`.
        let offset = offset as usize;
        if offset >= self.slots.len() {
            self.slots.resize_with(offset + 1, || None);
        }
        self.slots[offset] = Some(item);
    }

    /// The next item in order, if it has arrived.
    fn pop(&mut self) -> Option<Result<T, PipelineError<E>>> {
        if matches!(self.slots.front(), Some(Some(_))) {
            self.next += 1;
            self.slots.pop_front().flatten()
        } else {
            None
        }
    }

    /// Once every worker is gone: the next buffered item, skipping missing
    /// ones (only a thread dying without reporting can cause a gap; the
    /// join reports it).
    fn flush(&mut self) -> Option<Result<T, PipelineError<E>>> {
        while let Some(slot) = self.slots.pop_front() {
            self.next += 1;
            match slot {
                Some(item) => return Some(item),
                None => tracing::error!(seq = self.next - 1, "pipeline: item missing"),
            }
        }
        None
    }
}

/// The credits are returned to the source in this many batches per
/// window: one channel message per `window / 4` items instead of one per
/// item.
const CREDIT_BATCHES: usize = 4;

/// The caller's side of the credit window: credits for the items returned
/// so far, sent back to the source in batches.
///
/// Holding credits back cannot deadlock: if the source is blocked for want
/// of credits while the caller waits for item `k`, either `k` was never
/// pulled (then every pulled item has been returned and the caller holds
/// the whole window, at least one batch, so it has sent them), or `k` is in
/// flight and arrives without any new credit.
struct Credits {
    tx: Sender<usize>,
    held: usize,
    batch: usize,
}

impl Credits {
    /// One item was returned to the caller: its credit goes back, in batches.
    fn give_back(&mut self) {
        self.held += 1;
        if self.held >= self.batch {
            // Never full (see `run`), and an error means the source has
            // stopped: nobody needs the credits any more.
            let _ = self.tx.try_send(self.held);
            self.held = 0;
        }
    }
}

/// The running pipeline's output: an iterator of the results, in source
/// order unless the pipeline is [`unordered`](Pipeline::unordered).
///
/// Dropping it closes the pipeline and joins every thread: the source stops
/// pulling, the workers stop at their next hand-over, and the items still in
/// flight are dropped. [`join`](Self::join) does the same and reports
/// threads that died. Either waits for the stage calls in progress to
/// return: a stage function that never returns blocks the drop.
pub struct Output<T, E> {
    /// `None` once closed.
    input: Option<Receiver<Envelope<T, E>>>,
    /// The caller's end of the credit channel (ordered mode).
    credits: Option<Credits>,
    /// `None` in unordered mode.
    reorder: Option<Reorder<T, E>>,
    threads: Vec<(&'static str, JoinHandle<()>)>,
}

impl<T, E> Output<T, E> {
    /// Blocks until the next result is ready; `None` once the source is
    /// exhausted and every item has come out (or after
    /// [`close`](Self::close)).
    pub fn recv(&mut self) -> Option<Result<T, PipelineError<E>>> {
        let input = self.input.as_ref()?;
        let item = match &mut self.reorder {
            None => input.recv().ok().map(|envelope| envelope.item),
            Some(reorder) => loop {
                if let Some(item) = reorder.pop() {
                    break Some(item);
                }
                match input.recv() {
                    Ok(envelope) => reorder.insert(envelope),
                    // Every worker is gone: what is buffered is all there is.
                    Err(_) => break reorder.flush(),
                }
            },
        };
        if item.is_some() {
            if let Some(credits) = &mut self.credits {
                credits.give_back();
            }
        }
        item
    }

    /// Closes the pipeline without waiting: the source stops pulling and the
    /// workers stop at their next hand-over. Later [`recv`](Self::recv)s
    /// return `None`.
    pub fn close(&mut self) {
        // The credits first: a source waiting for one wakes up and stops.
        self.credits = None;
        self.input = None;
    }

    /// Closes the pipeline (remaining items are dropped: consume the
    /// iterator first to get them all) and joins every thread. Fails with
    /// [`PipelineError::ThreadsPanicked`] if a thread had died.
    pub fn join(mut self) -> Result<(), PipelineError<E>> {
        self.join_all()
    }

    fn join_all(&mut self) -> Result<(), PipelineError<E>> {
        self.close();
        let mut first: Option<(&'static str, usize)> = None;
        for (stage, handle) in std::mem::take(&mut self.threads) {
            if handle.join().is_err() {
                tracing::error!(stage, "pipeline: a thread panicked");
                match &mut first {
                    Some((s, count)) if *s == stage => *count += 1,
                    None => first = Some((stage, 1)),
                    Some(_) => {}
                }
            }
        }
        match first {
            None => Ok(()),
            Some((stage, count)) => Err(PipelineError::ThreadsPanicked { stage, count }),
        }
    }
}

impl<T, E> Iterator for Output<T, E> {
    type Item = Result<T, PipelineError<E>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.recv()
    }
}

impl<T, E> Drop for Output<T, E> {
    fn drop(&mut self) {
        // A dead thread was reported in the stream already; `join` is the
        // way to get the error.
        let _ = self.join_all();
    }
}

impl<T, E> fmt::Debug for Output<T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Output")
            .field("open", &self.input.is_some())
            .field("ordered", &self.reorder.is_some())
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

/// Defects reintroduced for the model checkers to catch. Only in
/// `loom`/`shuttle` builds; never use these.
#[cfg(any(feature = "loom", feature = "shuttle"))]
#[doc(hidden)]
pub mod broken {
    use super::{Envelope, Output, Pipeline, PipelineError, Receiver, Sender, apply};

    /// [`Output::recv`] with a reorder buffer that emits on arrival: correct
    /// with one worker per stage, out of order as soon as two workers race.
    pub fn recv_on_arrival<T, E>(out: &mut Output<T, E>) -> Option<Result<T, PipelineError<E>>> {
        let envelope = out.input.as_ref()?.recv().ok()?;
        if let Some(credits) = &mut out.credits {
            credits.give_back();
        }
        Some(envelope.item)
    }

    /// [`Pipeline::stage`] whose workers give up at the first error (a `?`
    /// in the worker loop): the failing item and everything behind it are
    /// lost, silently.
    pub fn stage_stopping_at_first_error<T, U, E, F>(
        pipeline: Pipeline<T, E>,
        name: &'static str,
        workers: usize,
        f: F,
    ) -> Pipeline<U, E>
    where
        T: Send + 'static,
        U: Send + 'static,
        E: Send + 'static,
        F: Fn(T) -> Result<U, E> + Send + Sync + 'static,
    {
        pipeline.then(name, workers, f, work_until_error::<T, U, E, F>)
    }

    fn work_until_error<T, U, E, F>(
        stage: &'static str,
        input: &Receiver<Envelope<T, E>>,
        output: &Sender<Envelope<U, E>>,
        f: &F,
    ) where
        F: Fn(T) -> Result<U, E>,
    {
        for Envelope { seq, item } in input.iter() {
            let Ok(value) = item else { return };
            let Ok(value) = apply(f, stage, seq, value) else {
                return;
            };
            if output
                .send(Envelope {
                    seq,
                    item: Ok(value),
                })
                .is_err()
            {
                return;
            }
        }
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;

    #[test]
    fn reorder_buffer_emits_in_sequence() {
        let mut r: Reorder<u32, ()> = Reorder::new();
        for seq in [2, 0, 3] {
            r.insert(Envelope {
                seq,
                item: Ok(seq as u32),
            });
        }
        assert_eq!(r.pop(), Some(Ok(0)));
        assert_eq!(r.pop(), None, "1 has not arrived");
        r.insert(Envelope {
            seq: 1,
            item: Ok(1),
        });
        assert_eq!(r.pop(), Some(Ok(1)));
        assert_eq!(r.pop(), Some(Ok(2)));
        assert_eq!(r.pop(), Some(Ok(3)));
        assert_eq!(r.pop(), None);
    }

    #[test]
    fn flush_skips_gaps() {
        let mut r: Reorder<u32, ()> = Reorder::new();
        r.insert(Envelope {
            seq: 2,
            item: Ok(2),
        });
        assert_eq!(r.pop(), None);
        assert_eq!(r.flush(), Some(Ok(2)));
        assert_eq!(r.flush(), None);
    }

    #[test]
    fn error_accessors() {
        let e: PipelineError<String> = PipelineError::Panicked {
            seq: 4,
            stage: "s",
            message: "m".into(),
        };
        assert_eq!((e.seq(), e.stage()), (Some(4), "s"));
        assert_eq!(e.to_string(), "item 4: stage `s` panicked: m");
        let e: PipelineError<String> = PipelineError::NoWorkers { stage: "t" };
        assert_eq!((e.seq(), e.stage()), (None, "t"));
    }

    #[test]
    fn single_stage_round_trip() {
        let out = Pipeline::source(0..10u32)
            .map("inc", 3, |x| x + 1)
            .run()
            .map_err(|e: PipelineError<String>| e.to_string())
            .expect("valid pipeline");
        let got: Vec<u32> = out.map(|r| r.expect("no errors")).collect();
        assert_eq!(got, (1..=10).collect::<Vec<_>>());
    }
}
