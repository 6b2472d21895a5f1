//! The event loop of one framed connection, written once: read a frame or
//! take an event, handle everything else already there, write what that
//! produced in one flush; close an idle connection; drain on shutdown.
//!
//! **What.** A protocol is a state machine plus the few callbacks of
//! [`Protocol`]: frames in ([`on_frame`](Protocol::on_frame)), events from
//! outside the stream in ([`next_event`](Protocol::next_event): callers'
//! commands, finished handlers, timers of its own), bytes out (appended to
//! one buffer). [`drive`] owns the loop: one biased `select!` over the
//! shutdown token, the protocol's events, the next frame and the idle
//! timer; then it handles every frame and event that is ready without
//! waiting, so that requests arriving together are answered together; then
//! it writes the buffer in one write, bounded by a timeout.
//!
//! **When.** Every heddle protocol over [`framed`](super::framed) streams:
//! the RPC client's connection task and the RPC server's connections use it,
//! and the next ones (lock service, cache, Raft peers) should too, rather
//! than copy the loop: its details (cancel-safe reads, `biased;` for
//! determinism under turmoil, a single idle timer re-armed only when it
//! fires, write timeouts for peers that stop reading, calls that finish
//! after the connection broke) are easy to get subtly wrong.
//!
//! **Compared to.** `tokio_util::codec::Framed` plus a hand-written
//! `select!` loop per protocol, which is what heddle had before (one copy in
//! the client, one in the server).
//!
//! # Example
//!
//! An echo protocol that answers each frame with the same bytes and ends
//! when its peer closes:
//!
//! ```
//! use heddle::net::driver::{self, Flow, Limits, Protocol};
//! use heddle::net::framed::FrameReader;
//! use heddle::wire::frame::FrameCodec;
//!
//! struct Echo(FrameCodec);
//!
//! impl Protocol for Echo {
//!     type Event = std::convert::Infallible;
//!     type End = String;
//!     async fn next_event(&mut self) -> Self::Event {
//!         std::future::pending().await
//!     }
//!     fn try_event(&mut self) -> Option<Self::Event> {
//!         None
//!     }
//!     fn on_event(&mut self, event: Self::Event, _: &mut Vec<u8>) -> Flow<String> {
//!         match event {}
//!     }
//!     fn on_frame(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Flow<String> {
//!         self.0.encode(frame, out).map_or_else(|e| Flow::End(e.to_string()), |()| Flow::Continue)
//!     }
//!     fn on_idle(&mut self) -> String {
//!         "idle".into()
//!     }
//!     fn on_io(&mut self, e: heddle::net::driver::IoEnd) -> String {
//!         e.to_string()
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let codec = FrameCodec::new(64);
//! let (a, b) = tokio::io::duplex(256);
//! let (rd, mut wr) = tokio::io::split(a);
//! let peer = tokio::spawn(async move {
//!     let (prd, mut pwr) = tokio::io::split(b);
//!     heddle::net::framed::write_frame(&mut pwr, &codec, b"hi").await.unwrap();
//!     let mut r = FrameReader::new(prd, codec);
//!     let back = r.next().await.unwrap().map(<[u8]>::to_vec);
//!     drop(pwr);
//!     back
//! });
//! let limits = Limits::new(std::time::Duration::from_secs(1));
//! let end = driver::drive(&mut Echo(codec), &mut FrameReader::new(rd, codec), &mut wr, &limits, None).await;
//! assert_eq!(peer.await.unwrap().as_deref(), Some(&b"hi"[..]));
//! assert_eq!(end, Ok(())); // the peer closed between frames
//! # });
//! ```

use super::framed::{FrameReader, FramedError};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;

/// What the loop does after a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow<E> {
    /// Go on.
    Continue,
    /// Stop reading (the protocol closed the connection after what it
    /// queued); events are still handled while [`Protocol::busy`].
    StopReading,
    /// The connection is broken: nothing more is read or written; events
    /// are still handled while [`Protocol::busy`], then [`drive`] returns
    /// this.
    End(E),
}

/// Why the stream itself failed, handed to [`Protocol::on_io`].
#[derive(Debug, thiserror::Error)]
pub enum IoEnd {
    /// Reading frames failed (i/o, a malformed or oversized frame, or a
    /// stream closed inside a frame).
    #[error("read: {0}")]
    Read(#[from] FramedError),
    /// Writing failed.
    #[error("write: {0}")]
    Write(std::io::Error),
    /// A write did not finish within [`Limits::write`].
    #[error("write timed out")]
    WriteTimeout,
}

/// A protocol driven by [`drive`].
pub trait Protocol {
    /// An input from outside the stream.
    type Event;
    /// Why a connection ended early.
    type End;
    /// Waits for the next event. Must be cancel-safe: it is dropped
    /// whenever a frame arrives first.
    fn next_event(&mut self) -> impl Future<Output = Self::Event> + Send;
    /// An event that is ready now, without waiting.
    fn try_event(&mut self) -> Option<Self::Event>;
    /// Handles an event; frames to send are appended to `out`.
    fn on_event(&mut self, event: Self::Event, out: &mut Vec<u8>) -> Flow<Self::End>;
    /// Handles a frame's payload; frames to send are appended to `out`.
    fn on_frame(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Flow<Self::End>;
    /// No frame arrived for [`idle_limit`](Self::idle_limit) while not
    /// [`busy`](Self::busy): why the connection ends.
    fn on_idle(&mut self) -> Self::End;
    /// The stream failed: why the connection ends.
    fn on_io(&mut self, e: IoEnd) -> Self::End;
    /// The peer closed the stream between frames: `Ok` ends reading
    /// quietly (the default), `Err` breaks the connection.
    fn on_peer_closed(&mut self) -> Result<(), Self::End> {
        Ok(())
    }
    /// The shutdown token was cancelled (once): start draining. Return
    /// `false` to stop reading at once.
    fn on_shutdown(&mut self) -> bool {
        false
    }
    /// Work is under way that must finish before the connection ends
    /// (the loop goes on while it is, even when reading stopped).
    fn busy(&self) -> bool {
        false
    }
    /// Whether to go on reading frames (checked after every batch).
    fn wants_read(&self) -> bool {
        true
    }
    /// How long the connection may stay silent while not busy; `None`:
    /// forever. Asked again after every frame.
    fn idle_limit(&self) -> Option<Duration> {
        None
    }
    /// After each batch, before the flush (metrics, observers).
    fn after_batch(&mut self) {}
    /// After each batch's flush: `written` is false when the bytes were
    /// not all written (the write failed or timed out, or the connection
    /// had already broken and they were dropped).
    fn after_flush(&mut self, written: bool) {
        let _ = written;
    }
}

/// The loop's own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// How long one flush may take (a peer that stops reading).
    pub write: Duration,
}

impl Limits {
    /// Flushes bounded by `write`.
    pub fn new(write: Duration) -> Self {
        Self { write }
    }
}

/// The loop's own state besides the protocol's.
struct Loop<E> {
    reading: bool,
    broken: Option<E>,
    out: Vec<u8>,
}

impl<E> Loop<E> {
    fn apply(&mut self, flow: Flow<E>) {
        match flow {
            Flow::Continue => {}
            Flow::StopReading => self.reading = false,
            Flow::End(e) => self.fail(e),
        }
    }

    fn fail(&mut self, e: E) {
        self.reading = false;
        self.broken.get_or_insert(e);
    }
}

/// Runs `protocol` over one connection until it ends: the peer closed (or
/// the protocol stopped reading) and nothing is [`busy`](Protocol::busy),
/// or the connection broke. When it was not broken, the write half is shut
/// down so the peer sees the end of the stream. Cancelling `shutdown` calls
/// [`Protocol::on_shutdown`] once.
pub async fn drive<P, R, W>(
    protocol: &mut P,
    reader: &mut FrameReader<R>,
    writer: &mut W,
    limits: &Limits,
    shutdown: Option<&CancellationToken>,
) -> Result<(), P::End>
where
    P: Protocol,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut l = Loop {
        reading: true,
        broken: None,
        out: Vec::new(),
    };
    // One timer for the connection's life, re-armed only when it fires:
    // frames only move `last_frame`, so a busy connection costs no timer
    // operations per frame.
    // Without an idle limit the timer is never polled and frames read no
    // clock; without a shutdown token its branch is never polled.
    let mut last_frame = Instant::now();
    let far = Duration::from_secs(86_400 * 365);
    let mut timed = protocol.idle_limit().is_some();
    let mut idle = LoopTimer::at(last_frame + protocol.idle_limit().unwrap_or(far));
    let never = CancellationToken::new();
    let token = shutdown.unwrap_or(&never);
    let stopping = token.cancelled();
    tokio::pin!(stopping);
    let mut registered = Registered::default();
    let mut stopped = shutdown.is_none();
    while l.reading || protocol.busy() {
        tokio::select! {
            biased;
            () = std::future::poll_fn(|cx| {
                let stop = stopping.as_mut();
                registered.poll(cx, token.is_cancelled(), |cx| stop.poll(cx))
            }), if !stopped && l.reading => {
                stopped = true;
                if !protocol.on_shutdown() {
                    l.reading = false;
                }
            }
            event = protocol.next_event() => {
                let flow = protocol.on_event(event, &mut l.out);
                l.apply(flow);
            }
            frame = reader.next(), if l.reading => match frame {
                Ok(Some(bytes)) => {
                    if timed {
                        last_frame = Instant::now();
                    }
                    let flow = protocol.on_frame(bytes, &mut l.out);
                    l.apply(flow);
                    if !timed && protocol.idle_limit().is_some() {
                        // A limit appeared: count it from this frame.
                        timed = true;
                        last_frame = Instant::now();
                        idle.reset(last_frame);
                    }
                }
                Ok(None) => match protocol.on_peer_closed() {
                    Ok(()) => l.reading = false,
                    Err(e) => l.fail(e),
                },
                Err(e) => {
                    let end = protocol.on_io(e.into());
                    l.fail(end);
                }
            },
            () = idle.elapsed(), if timed && l.reading && !protocol.busy() => {
                match protocol.idle_limit().map(|limit| last_frame + limit) {
                    None => timed = false,
                    Some(due) if Instant::now() < due => idle.reset(due),
                    Some(_) => {
                        let end = protocol.on_idle();
                        l.fail(end);
                    }
                }
            }
        }
        end_batch(protocol, reader, writer, &mut l, limits).await;
    }
    match l.broken {
        Some(e) => Err(e),
        None => {
            // Let the peer see the end of the stream.
            let _ = tokio::time::timeout(limits.write, writer.shutdown()).await;
            Ok(())
        }
    }
}

/// A select loop polls every branch each time any of them wakes it (twice
/// per request in [`drive`]), and some branches cost more to poll than to
/// skip: a cancellation token's wait visits a locked waiter list, a timer
/// re-registers its waker. `Registered` remembers the waker such a branch
/// last registered, so the loop polls it again only when it may have
/// become ready or the waker changed. What "may be ready" means is the
/// caller's: an atomic the branch's wake-up also sets.
///
/// A pending poll counts as registered only if the task had coop budget
/// left when it was made: tokio's timers and channels, polled without
/// budget, yield (waking the task at once) *without* registering the waker
/// they would be woken through later.
#[derive(Debug, Default)]
pub(crate) struct Registered(Option<Waker>);

impl Registered {
    /// `poll`s the branch unless it is pending with this `cx`'s waker and
    /// `may_be_ready` is false.
    pub(crate) fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        may_be_ready: bool,
        poll: impl FnOnce(&mut Context<'_>) -> Poll<T>,
    ) -> Poll<T> {
        let same = self.0.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if same && !may_be_ready {
            return Poll::Pending;
        }
        let budget = tokio::task::coop::has_budget_remaining();
        let outcome = poll(cx);
        if outcome.is_ready() || !budget {
            self.0 = None;
        } else if !same {
            self.0 = Some(cx.waker().clone());
        }
        outcome
    }

    /// The branch was re-armed (a timer reset): it holds no waker yet.
    pub(crate) fn forget(&mut self) {
        self.0 = None;
    }
}

/// A timer a select loop keeps for its life and re-arms, polled through
/// [`Registered`]: skipped while it has neither fired nor been reset.
#[derive(Debug)]
pub(crate) struct LoopTimer {
    sleep: Pin<Box<Sleep>>,
    registered: Registered,
}

impl LoopTimer {
    /// A timer armed for `deadline`.
    pub(crate) fn at(deadline: Instant) -> Self {
        Self {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
            registered: Registered::default(),
        }
    }

    /// Re-arms the timer for `deadline`.
    pub(crate) fn reset(&mut self, deadline: Instant) {
        self.sleep.as_mut().reset(deadline);
        self.registered.forget();
    }

    /// Completes when the deadline passed (again after each reset).
    pub(crate) async fn elapsed(&mut self) {
        std::future::poll_fn(|cx| {
            let fired = self.sleep.is_elapsed();
            let sleep = self.sleep.as_mut();
            self.registered.poll(cx, fired, |cx| sleep.poll(cx))
        })
        .await;
    }
}

/// After the event that woke the loop: everything else that is ready, the
/// protocol's hook, then one flush (or none, once broken).
async fn end_batch<P, R, W>(
    protocol: &mut P,
    reader: &mut FrameReader<R>,
    writer: &mut W,
    l: &mut Loop<P::End>,
    limits: &Limits,
) where
    P: Protocol,
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    handle_ready(protocol, reader, l);
    protocol.after_batch();
    if !protocol.wants_read() {
        l.reading = false;
    }
    if l.broken.is_some() {
        l.out.clear();
        protocol.after_flush(false);
    } else if let Err(e) = flush(writer, &mut l.out, limits.write).await {
        protocol.after_flush(false);
        let end = protocol.on_io(e);
        l.fail(end);
    } else {
        protocol.after_flush(true);
    }
}

/// Handles every frame already buffered and every event already there,
/// so that what arrived together is answered with one write.
fn handle_ready<P, R>(protocol: &mut P, reader: &mut FrameReader<R>, l: &mut Loop<P::End>)
where
    P: Protocol,
    R: AsyncRead + Unpin,
{
    loop {
        if l.reading {
            match reader.next_buffered() {
                Ok(Some(bytes)) => {
                    let flow = protocol.on_frame(bytes, &mut l.out);
                    l.apply(flow);
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    let end = protocol.on_io(e.into());
                    l.fail(end);
                }
            }
        }
        match protocol.try_event() {
            Some(event) => {
                let flow = protocol.on_event(event, &mut l.out);
                l.apply(flow);
            }
            None => break,
        }
    }
}

/// Writes what `out` holds, within `limit`.
async fn flush<W: AsyncWrite + Unpin>(
    w: &mut W,
    out: &mut Vec<u8>,
    limit: Duration,
) -> Result<(), IoEnd> {
    if out.is_empty() {
        return Ok(());
    }
    let written = {
        let mut write = std::pin::pin!(async {
            w.write_all(out).await?;
            w.flush().await
        });
        // A socket with room takes the buffer at once: no timer for that
        // (one clock read and a timer entry per flush otherwise). Only a
        // write that has to wait is bounded.
        match std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
            Poll::Ready(done) => Ok(done),
            Poll::Pending => tokio::time::timeout(limit, write).await,
        }
    };
    match written {
        Ok(Ok(())) => {
            out.clear();
            Ok(())
        }
        Ok(Err(e)) => Err(IoEnd::Write(e)),
        Err(_elapsed) => Err(IoEnd::WriteTimeout),
    }
}

#[cfg(all(test, not(any(feature = "loom", feature = "shuttle"))))]
mod tests {
    use super::*;
    use crate::testing::Wakes;
    use crate::wire::frame::FrameCodec;
    use tokio::io::AsyncReadExt;

    /// Answers every frame with `reply` bytes; ends with the stream's error.
    struct Answer {
        reply: usize,
    }

    impl Protocol for Answer {
        type Event = ();
        type End = IoEnd;

        async fn next_event(&mut self) {
            std::future::pending().await
        }
        fn try_event(&mut self) -> Option<()> {
            None
        }
        fn on_event(&mut self, (): (), _out: &mut Vec<u8>) -> Flow<IoEnd> {
            Flow::Continue
        }
        fn on_frame(&mut self, _frame: &[u8], out: &mut Vec<u8>) -> Flow<IoEnd> {
            out.resize(out.len() + self.reply, 7);
            Flow::Continue
        }
        fn on_idle(&mut self) -> IoEnd {
            IoEnd::WriteTimeout
        }
        fn on_io(&mut self, e: IoEnd) -> IoEnd {
            e
        }
    }

    /// Sends one frame into a connection whose peer reads 100 bytes of
    /// the `reply`-byte answer, then stops reading; how the drive ended.
    async fn answer_to_a_peer_that_stops_reading(reply: usize) -> Result<(), IoEnd> {
        let codec = FrameCodec::new(1024);
        let (ours, mut peer) = tokio::io::duplex(1024);
        let (r, mut w) = tokio::io::split(ours);
        let mut frame = Vec::new();
        codec.encode(b"go", &mut frame).expect("encodes");
        peer.write_all(&frame).await.expect("writes");
        let reading = tokio::spawn(async move {
            let mut got = [0u8; 100];
            peer.read_exact(&mut got).await.expect("reads");
            // Stays open, reading nothing more.
            std::future::pending::<()>().await;
        });
        let mut reader = FrameReader::new(r, codec);
        let limits = Limits::new(Duration::from_secs(2));
        let mut answer = Answer { reply };
        let drive = drive(&mut answer, &mut reader, &mut w, &limits, None);
        let end = tokio::time::timeout(Duration::from_secs(60), drive).await;
        reading.abort();
        end.expect("the drive did not end by itself")
    }

    /// A write that waits on a peer that stopped reading is bounded by
    /// the write limit (the first, untimed attempt only covers a write
    /// that completes at once).
    #[tokio::test(start_paused = true)]
    async fn a_write_to_a_peer_that_stopped_reading_times_out() {
        let started = Instant::now();
        let end = answer_to_a_peer_that_stops_reading(64 * 1024).await;
        assert!(matches!(end, Err(IoEnd::WriteTimeout)), "{end:?}");
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    /// A loop timer skips its polls while armed and unfired, yet completes
    /// once its deadline passed, and again after each reset.
    #[tokio::test(start_paused = true)]
    async fn a_loop_timer_fires_and_fires_again_after_a_reset() {
        let (wakes, waker) = Wakes::waker();
        let mut cx = Context::from_waker(&waker);
        let mut timer = LoopTimer::at(Instant::now() + Duration::from_secs(1));
        for round in 0..2 {
            let before = wakes.count();
            for _ in 0..2 {
                let poll = std::pin::pin!(timer.elapsed()).poll(&mut cx);
                assert!(poll.is_pending(), "round {round}: fired early");
            }
            tokio::time::advance(Duration::from_secs(1)).await;
            let woken = wakes.count() > before;
            assert!(woken, "round {round}: the timer did not wake its task");
            let poll = std::pin::pin!(timer.elapsed()).poll(&mut cx);
            assert!(poll.is_ready(), "round {round}: the timer did not complete");
            timer.reset(Instant::now() + Duration::from_secs(1));
        }
    }

    /// A timer first polled when the task's coop budget is spent yields
    /// without registering with the timer driver; the skip must not take
    /// that poll for a registration, or the timer never fires.
    #[tokio::test(start_paused = true)]
    async fn a_loop_timer_polled_without_budget_still_fires() {
        let mut timer = LoopTimer::at(Instant::now() + Duration::from_secs(1));
        std::future::poll_fn(|cx| {
            for _ in 0..1000 {
                if std::pin::pin!(tokio::task::consume_budget())
                    .poll(cx)
                    .is_pending()
                {
                    break;
                }
            }
            assert!(!tokio::task::coop::has_budget_remaining(), "budget left");
            let poll = std::pin::pin!(timer.elapsed()).poll(cx);
            assert!(poll.is_pending(), "fired early");
            Poll::Ready(())
        })
        .await;
        tokio::task::yield_now().await;
        let fired = tokio::time::timeout(Duration::from_secs(5), timer.elapsed()).await;
        assert!(fired.is_ok(), "a timer polled without budget never fired");
    }

    /// The shutdown branch skips its wait future while the loop's waker is
    /// unchanged: a drive polled last by another waker must still be woken
    /// by a shutdown, through that waker.
    #[tokio::test]
    async fn a_shutdown_wakes_the_waker_that_polled_the_drive_last() {
        let codec = FrameCodec::new(1024);
        let (ours, _peer) = tokio::io::duplex(1024);
        let (r, mut w) = tokio::io::split(ours);
        let mut reader = FrameReader::new(r, codec);
        let limits = Limits::new(Duration::from_secs(2));
        let mut answer = Answer { reply: 1 };
        let token = CancellationToken::new();
        let drive = drive(&mut answer, &mut reader, &mut w, &limits, Some(&token));
        let mut drive = std::pin::pin!(drive);
        let wakers = [Wakes::waker(), Wakes::waker()];
        for (_, waker) in &wakers {
            let poll = drive.as_mut().poll(&mut Context::from_waker(waker));
            assert!(poll.is_pending(), "nothing to do yet");
        }
        token.cancel();
        let latest = wakers[1].0.count() > 0;
        assert!(latest, "the shutdown did not wake the drive's latest waker");
    }
}
