//! The client's side of one connection: the state its callers and its
//! connection task share, and the connection task itself.
//!
//! **What.** A caller registers its call with the [`ClientSession`] and
//! queues the call's frame itself ([`Shared::send`]), under one short lock
//! that is never held across an `.await`. A **lone caller** (no other call
//! waiting, nothing queued or being written, and at most one call answered
//! by the task's last batch of replies) also writes its frame itself, at
//! once, without waiting: one non-blocking write on the stream.
//! Anything it could not write, and every frame queued while other calls
//! are in flight, is written by the connection task, which batches what
//! arrived together into one write. The connection task reads the replies,
//! routes them to their callers' oneshots and ends the connection (failing
//! every waiting call) when the stream breaks, goes silent or is closed.
//!
//! **Timeouts.** Each call's attempt deadline is kept here, in send order
//! (every call on a connection has the same attempt timeout, and the clock
//! is read under the lock, so the queue is sorted), and the connection task
//! keeps **one** timer for all of them: armed at the oldest deadline, or,
//! with none waiting, one timeout from now (a deadline registered later is
//! never earlier than that). A call that reaches its deadline unanswered is
//! answered [`Answer::TimedOut`]. A per-call timer would cost a timer-wheel
//! insertion and removal per call. Calls answered in time leave the queue
//! as their replies arrive, so it holds only calls still waiting. While
//! the task is blocked writing (a peer that stopped reading), deadlines are
//! noticed when the write ends, within the write limit.
//!
//! **Why.** Before, every call went through a command channel to the
//! connection task, which woke to write it: at one call in flight that was
//! a channel send and a task wake-up per call that a raw length-prefixed
//! client does not pay (issue #9, part 4: the lone call). Busy connections
//! keep the batching: a caller writes directly only when it is alone.
//!
//! **Frame atomicity.** Bytes reach the stream only from the queue, in
//! order, by one writer at a time: the lone caller writes while holding
//! the state lock and only when nothing is queued or being written; the
//! connection task takes the queue (setting `flushing`) and gives the
//! writer role back after its flush. A partial write leaves the rest at the
//! front of the queue. A write that failed or timed out mid-frame ends the
//! connection, so nothing is ever written after a torn frame.

use super::ConnectionEnd;
use super::dedup::Outcome;
use super::session::{ClientEvent, ClientSession, Verdict, Violation};
use crate::net::driver::{self, Flow, IoEnd, Limits, LoopTimer, Protocol};
use crate::net::framed::FrameReader;
use crate::wire::WireError;
use crate::wire::binary::{self, CallRef, Envelope};
use crate::wire::frame::FrameCodec;
use futures_util::task::AtomicWaker;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::{AcqRel, Release};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// What a caller waiting on the connection is told.
#[derive(Debug)]
pub(super) enum Answer {
    /// The server's reply.
    Reply(Outcome),
    /// No reply by the attempt's deadline.
    TimedOut,
}

/// Whoever waits for a call's answer.
pub(super) type Waiter = oneshot::Sender<Answer>;

/// Why a call could not be sent.
#[derive(Debug)]
pub(super) enum SendError {
    /// The connection has ended (or is ending).
    Lost,
    /// The call did not encode (too large for the codec, ...).
    Encode(WireError),
}

/// What callers and the connection task share.
struct State {
    session: ClientSession<Waiter>,
    /// The session's clock: it only asks whether anything arrived after a
    /// call was sent, so counting events orders them as a clock would.
    events: u64,
    /// Bytes to write, in order; may start mid-frame after a partial write.
    queue: Vec<u8>,
    /// The connection task holds bytes it took from `queue` and has not
    /// finished writing: nobody else may write.
    flushing: bool,
    /// An end asked for from outside the task (a silent stream, a close).
    end: Option<ConnectionEnd>,
    /// The connection task has stopped: no call may register.
    ended: bool,
    /// Replies routed in the task's current batch, and in its last one.
    answering: u32,
    answered: u32,
    /// Attempt deadlines of calls sent, oldest first (see the module doc).
    deadlines: VecDeque<(Instant, u64)>,
}

impl State {
    fn now(&mut self) -> u64 {
        self.events += 1;
        self.events
    }

    /// Drops the answered calls from the front of the deadline queue.
    fn prune(&mut self) {
        while let Some(&(_, id)) = self.deadlines.front() {
            if self.session.is_waiting(id) {
                break;
            }
            self.deadlines.pop_front();
        }
    }
}

/// One connection's shared half. Callers hold it through an `Arc`.
pub(super) struct Shared<S> {
    state: Mutex<State>,
    writer: Mutex<WriteHalf<S>>,
    wake: Signal,
    codec: FrameCodec,
    /// Every call's attempt timeout.
    timeout: Duration,
}

/// Wakes the connection task: a flag and the task's waker. Raising it
/// before the task waits is not lost (as `Notify::notify_one`'s permit).
/// Unlike `Notify`, whose `notified()` future joins and leaves a locked
/// waiter list each time the task waits (once per reply here), waiting
/// costs an atomic swap and a `will_wake` check.
#[derive(Default)]
struct Signal {
    raised: AtomicBool,
    waker: AtomicWaker,
}

impl Signal {
    fn notify_one(&self) {
        self.raised.store(true, Release);
        self.waker.wake();
    }

    /// Ready once raised since the last time it was ready.
    fn poll_raised(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.raised.swap(false, AcqRel) {
            return Poll::Ready(());
        }
        self.waker.register(cx.waker());
        // Raised between the check and the registration: its wake-up may
        // have found no waker.
        if self.raised.swap(false, AcqRel) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: crate::net::Stream> Shared<S> {
    /// A connection whose handshake completed, and its task (to spawn).
    /// `timeout` is every call's attempt timeout; it also bounds writes.
    pub(super) fn start(
        session: ClientSession<Waiter>,
        reader: FrameReader<ReadHalf<S>>,
        writer: WriteHalf<S>,
        codec: FrameCodec,
        timeout: Duration,
    ) -> (Arc<Self>, impl Future<Output = ()> + Send + 'static) {
        let shared = Arc::new(Self {
            state: Mutex::new(State {
                session,
                events: 0,
                queue: Vec::new(),
                flushing: false,
                end: None,
                ended: false,
                answering: 0,
                answered: 0,
                deadlines: VecDeque::new(),
            }),
            writer: Mutex::new(writer),
            wake: Signal::default(),
            codec,
            timeout,
        });
        let task = run(Arc::clone(&shared), reader, timeout);
        (shared, task)
    }

    /// Whether calls may still be sent on this connection.
    pub(super) fn is_open(&self) -> bool {
        let state = lock(&self.state);
        !state.ended && state.end.is_none()
    }

    /// Registers `call` (its answer goes to `reply`) and sends its frame:
    /// written here and now when the caller is alone on the connection,
    /// queued for the connection task otherwise. With `timed`, the call is
    /// answered [`Answer::TimedOut`] if no reply came within the attempt
    /// timeout.
    pub(super) fn send(
        &self,
        call: &CallRef<'_>,
        reply: Waiter,
        timed: bool,
    ) -> Result<(), SendError> {
        let mut state = lock(&self.state);
        if state.ended || state.end.is_some() {
            return Err(SendError::Lost);
        }
        // Alone: nothing waits, nothing is queued or being written, and the
        // last batch of replies answered at most one call (when it answered
        // many, their callers are about to call again: let the task batch).
        let lone = state.session.waiting() == 0
            && state.queue.is_empty()
            && !state.flushing
            && state.answered <= 1;
        binary::encode_frame(&self.codec, call, &mut state.queue).map_err(SendError::Encode)?;
        let now = state.now();
        if state.session.register(call.id, reply, now).is_some() {
            // Ids come from one counter: a reuse is a bug; end the
            // connection rather than route a reply to the wrong caller.
            state.end = Some(ConnectionEnd::IdReused(call.id));
            drop(state);
            self.wake.notify_one();
            return Err(SendError::Lost);
        }
        if timed {
            let deadline = Instant::now() + self.timeout;
            state.deadlines.push_back((deadline, call.id));
        }
        if lone {
            self.write_now(&mut state.queue);
        }
        let queued = !state.queue.is_empty();
        drop(state);
        if queued {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// One non-blocking attempt to write `queue`; what was written leaves
    /// it. Errors and `Pending` leave the rest for the connection task,
    /// whose write meets the same error or waits for the stream.
    fn write_now(&self, queue: &mut Vec<u8>) {
        // The task's reads and writes lock the stream's halves only within
        // a poll; on a multi-threaded runtime one may be under way.
        let Ok(mut writer) = self.writer.try_lock() else {
            return;
        };
        let mut cx = Context::from_waker(Waker::noop());
        let mut written = 0;
        while written < queue.len() {
            match Pin::new(&mut *writer).poll_write(&mut cx, &queue[written..]) {
                Poll::Ready(Ok(n)) if n > 0 => written += n,
                _ => break,
            }
        }
        if written == queue.len() {
            // TCP streams (tokio's, turmoil's) flush at once; a buffered
            // stream that cannot is flushed by the task's next write.
            let _ = Pin::new(&mut *writer).poll_flush(&mut cx);
        }
        queue.drain(..written);
    }

    /// The caller of `id` gave up: forget it.
    pub(super) fn abandon(&self, id: u64) {
        let waiter = lock(&self.state).session.cancel(id);
        drop(waiter);
    }

    /// Ends the connection: waiting calls fail with a lost connection.
    pub(super) fn close(&self, why: ConnectionEnd) {
        lock(&self.state).end.get_or_insert(why);
        self.wake.notify_one();
    }
}

/// The connection task's writes: the shared write half, locked per poll.
struct TaskWriter<'a, S>(&'a Mutex<WriteHalf<S>>);

impl<S: crate::net::Stream> AsyncWrite for TaskWriter<'_, S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *lock(self.0)).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(self.0)).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(self.0)).poll_shutdown(cx)
    }
}

/// The connection task as a [`Protocol`] for the shared driver.
struct Task<S> {
    shared: Arc<Shared<S>>,
    /// The one timer for every call's deadline (see the module doc).
    timer: LoopTimer,
}

/// What woke the connection task.
enum Event {
    /// Callers queued bytes or asked for an end.
    Shared,
    /// The timer: some deadline may have passed.
    Deadline,
}

impl<S: crate::net::Stream> Task<S> {
    /// An event is due: an end was asked for, or bytes wait and nobody is
    /// writing them.
    fn due(state: &State) -> bool {
        state.end.is_some() || (!state.flushing && !state.queue.is_empty())
    }

    /// Answers the calls whose deadline passed `TimedOut`, re-arms the
    /// timer, and ends the connection if one of them heard nothing at all
    /// since it was sent.
    fn expire(&mut self) -> Flow<ConnectionEnd> {
        let now = Instant::now();
        let mut expired = Vec::new();
        let mut silent = false;
        let mut state = lock(&self.shared.state);
        while let Some(&(deadline, id)) = state.deadlines.front() {
            if deadline > now {
                break;
            }
            state.deadlines.pop_front();
            let at = state.now();
            if let (Some(waiter), verdict) = state.session.on_timeout(id, at) {
                silent |= verdict == Verdict::Reconnect;
                expired.push(waiter);
            }
        }
        state.prune();
        let next = state.deadlines.front().map(|&(deadline, _)| deadline);
        drop(state);
        self.timer.reset(next.unwrap_or(now + self.shared.timeout));
        for waiter in expired {
            // The caller may have given up meanwhile.
            let _ = waiter.send(Answer::TimedOut);
        }
        if silent {
            Flow::End(ConnectionEnd::Silent)
        } else {
            Flow::Continue
        }
    }
}

impl<S: crate::net::Stream> Protocol for Task<S> {
    type Event = Event;
    type End = ConnectionEnd;

    async fn next_event(&mut self) -> Event {
        tokio::select! {
            biased;
            () = std::future::poll_fn(|cx| self.shared.wake.poll_raised(cx)) => Event::Shared,
            () = self.timer.elapsed() => Event::Deadline,
        }
    }

    fn try_event(&mut self) -> Option<Event> {
        Self::due(&lock(&self.shared.state)).then_some(Event::Shared)
    }

    fn on_event(&mut self, event: Event, out: &mut Vec<u8>) -> Flow<ConnectionEnd> {
        if let Event::Deadline = event {
            return self.expire();
        }
        let mut state = lock(&self.shared.state);
        if let Some(end) = state.end.take() {
            return Flow::End(end);
        }
        if !state.flushing && !state.queue.is_empty() {
            // `out` is empty: this protocol writes nothing else.
            std::mem::swap(out, &mut state.queue);
            state.flushing = true;
        }
        Flow::Continue
    }

    fn on_frame(&mut self, frame: &[u8], _out: &mut Vec<u8>) -> Flow<ConnectionEnd> {
        let envelope = match binary::decode::<Envelope>(frame) {
            Ok(envelope) => envelope,
            Err(e) => return Flow::End(ConnectionEnd::Malformed(e)),
        };
        let mut state = lock(&self.shared.state);
        let now = state.now();
        let event = state.session.on_envelope_at(envelope, now);
        if matches!(event, ClientEvent::Completed { .. }) {
            state.answering += 1;
            state.prune();
        }
        drop(state);
        match event {
            ClientEvent::Completed { waiter, outcome } => {
                // The caller may have given up meanwhile.
                let _ = waiter.send(Answer::Reply(outcome));
                Flow::Continue
            }
            ClientEvent::Late(id) => {
                tracing::debug!(id, "rpc: late reply ignored");
                Flow::Continue
            }
            ClientEvent::Violation(v) => Flow::End(ConnectionEnd::Protocol(v)),
            ClientEvent::Ready { .. } | ClientEvent::Refused(_) => {
                Flow::End(ConnectionEnd::Protocol(Violation::Unexpected {
                    kind: "handshake answer",
                    when: "after",
                }))
            }
        }
    }

    fn after_batch(&mut self) {
        let mut state = lock(&self.shared.state);
        state.answered = std::mem::take(&mut state.answering);
    }

    fn after_flush(&mut self, written: bool) {
        // After a failed write the stream may hold a torn frame: the
        // connection ends, and `flushing` stays set so nobody writes again.
        if written {
            lock(&self.shared.state).flushing = false;
        }
    }

    fn on_idle(&mut self) -> ConnectionEnd {
        // No idle limit: never called.
        ConnectionEnd::Silent
    }

    fn on_io(&mut self, e: IoEnd) -> ConnectionEnd {
        match e {
            IoEnd::Read(e) => e.into(),
            IoEnd::Write(e) => ConnectionEnd::Io(e.kind()),
            IoEnd::WriteTimeout => ConnectionEnd::WriteTimeout,
        }
    }

    fn on_peer_closed(&mut self) -> Result<(), ConnectionEnd> {
        Err(ConnectionEnd::ClosedByPeer)
    }
}

/// The connection task: writes what callers queued, routes replies, and
/// ends (failing every waiting call, which its caller then retries) when
/// the stream breaks or goes silent, or when the client closes it.
async fn run<S: crate::net::Stream>(
    shared: Arc<Shared<S>>,
    mut reader: FrameReader<ReadHalf<S>>,
    timeout: Duration,
) {
    let mut task = Task {
        shared: Arc::clone(&shared),
        timer: LoopTimer::at(Instant::now() + timeout),
    };
    let limits = Limits::new(timeout);
    let mut writer = TaskWriter(&shared.writer);
    let end = driver::drive(&mut task, &mut reader, &mut writer, &limits, None).await;
    let why = end.err().unwrap_or(ConnectionEnd::ClosedByPeer);
    let waiters = {
        let mut state = lock(&shared.state);
        state.ended = true;
        state.queue.clear();
        state.session.disconnect()
    };
    tracing::debug!(reason = %why, waiting = waiters.len(), "rpc: client connection ended");
    // Dropping the waiters tells their callers the connection is lost.
    drop(waiters);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Wakes;
    use crate::wire::binary::{Reply, Secret};
    use futures_util::FutureExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    const CODEC: FrameCodec = FrameCodec::new(1 << 16);

    fn call(id: u64, args: &[u8]) -> CallRef<'_> {
        CallRef {
            id,
            method: "m",
            idempotency_key: None,
            args,
            trace: None,
        }
    }

    fn frame(c: &CallRef<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        binary::encode_frame(&CODEC, c, &mut out).expect("encodes");
        out
    }

    /// A connection over an in-memory pipe of `buffer` bytes whose
    /// handshake completed; its task is returned, not spawned.
    fn connection(
        buffer: usize,
    ) -> (
        Arc<Shared<DuplexStream>>,
        impl Future<Output = ()>,
        DuplexStream,
    ) {
        let (ours, peer) = tokio::io::duplex(buffer);
        let (rd, wr) = tokio::io::split(ours);
        let mut session = ClientSession::new(Secret::from(b"t".to_vec()), 1);
        let welcome = Envelope::Welcome { max_in_flight: 8 };
        assert!(matches!(
            session.on_envelope(welcome),
            ClientEvent::Ready { .. }
        ));
        let reader = FrameReader::new(rd, CODEC);
        let (shared, task) = Shared::start(session, reader, wr, CODEC, Duration::from_secs(5));
        (shared, task, peer)
    }

    /// Whatever the peer can read without waiting.
    fn readable(peer: &mut DuplexStream) -> Vec<u8> {
        let mut got = vec![0; 1 << 16];
        match peer.read(&mut got).now_or_never() {
            Some(Ok(n)) => got.truncate(n),
            _ => got.clear(),
        }
        got
    }

    #[tokio::test]
    async fn a_lone_call_is_written_by_its_caller_a_second_one_by_the_task() {
        let (conn, task, mut peer) = connection(4096);
        let (first, second) = (call(1, b"one"), call(2, b"two"));
        let (tx, _rx1) = oneshot::channel();
        conn.send(&first, tx, false).expect("sends");
        // The task has not run: the caller wrote its own frame.
        assert_eq!(readable(&mut peer), frame(&first));
        let (tx, _rx2) = oneshot::channel();
        conn.send(&second, tx, false).expect("sends");
        // Call 1 is in flight: call 2 waits for the task, which batches.
        assert_eq!(readable(&mut peer), Vec::<u8>::new());
        tokio::spawn(task);
        let mut got = vec![0; frame(&second).len()];
        peer.read_exact(&mut got).await.expect("reads");
        assert_eq!(got, frame(&second));
    }

    #[tokio::test]
    async fn a_partial_write_is_finished_by_the_task_and_the_reply_routed() {
        let (conn, task, mut peer) = connection(16);
        let args = vec![9u8; 100];
        let lone = call(1, &args);
        let (tx, rx) = oneshot::channel();
        conn.send(&lone, tx, false).expect("sends");
        let expected = frame(&lone);
        // The pipe holds 16 bytes: the rest is the task's to write.
        assert_eq!(readable(&mut peer), expected[..16]);
        tokio::spawn(task);
        let mut rest = vec![0; expected.len() - 16];
        peer.read_exact(&mut rest).await.expect("reads");
        assert_eq!(rest, expected[16..]);
        let reply = Envelope::Reply(Reply {
            id: 1,
            outcome: Ok(b"done".to_vec()),
        });
        let mut out = Vec::new();
        binary::encode_frame(&CODEC, &reply, &mut out).expect("encodes");
        peer.write_all(&out).await.expect("writes");
        assert!(matches!(rx.await.expect("answered"), Answer::Reply(Ok(b)) if b == b"done"));
    }

    #[tokio::test]
    async fn a_lone_caller_never_writes_into_the_middle_of_the_tasks_write() {
        let (conn, task, mut peer) = connection(16);
        let args = vec![1u8; 100];
        let (first, second) = (call(1, &args), call(2, b"two"));
        let (tx, _rx1) = oneshot::channel();
        conn.send(&first, tx, false).expect("sends");
        let mut got = readable(&mut peer);
        assert_eq!(got.len(), 16, "the pipe was full");
        // One poll: the task takes the rest of frame 1, writes 16 more
        // bytes and waits for room.
        let mut task = Box::pin(task);
        assert!((&mut task).now_or_never().is_none());
        got.extend(readable(&mut peer)); // room again, mid-frame
        // Call 1's caller gives up: call 2 is alone, but the task is still
        // writing frame 1, so call 2 must queue, not write.
        conn.abandon(1);
        let (tx, _rx2) = oneshot::channel();
        conn.send(&second, tx, false).expect("sends");
        tokio::spawn(task);
        let mut expected = frame(&first);
        expected.extend(frame(&second));
        let mut rest = vec![0; expected.len() - got.len()];
        peer.read_exact(&mut rest).await.expect("reads");
        got.extend(rest);
        assert!(got == expected, "a torn frame: {got:?}");
    }

    /// Whether `rx` has been answered, and with what.
    fn answered(rx: &mut oneshot::Receiver<Answer>) -> Option<Answer> {
        rx.try_recv().ok()
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_unanswered_by_its_deadline_times_out_on_the_one_timer() {
        // The connection's timeout is 5 s. Its timer is first armed at 5 s.
        let (conn, task, _peer) = connection(4096);
        let task = tokio::spawn(task);
        tokio::time::sleep(Duration::from_millis(4500)).await;
        let (tx, mut rx) = oneshot::channel();
        conn.send(&call(1, b""), tx, true).expect("sends"); // due at 9.5 s
        tokio::time::sleep(Duration::from_millis(1000)).await; // 5.5 s
        assert!(answered(&mut rx).is_none(), "timed out before its deadline");
        tokio::time::sleep(Duration::from_millis(3900)).await; // 9.4 s
        assert!(answered(&mut rx).is_none(), "timed out before its deadline");
        tokio::time::sleep(Duration::from_millis(200)).await; // 9.6 s
        assert!(matches!(answered(&mut rx), Some(Answer::TimedOut)));
        // Nothing at all arrived since the call was sent: the connection
        // is dead, not slow.
        task.await.expect("task ends");
        assert!(!conn.is_open());
    }

    #[tokio::test(start_paused = true)]
    async fn calls_answered_in_time_leave_the_deadline_queue() {
        let (conn, task, mut peer) = connection(4096);
        tokio::spawn(task);
        let mut receivers = Vec::new();
        for id in 1..=3 {
            let (tx, rx) = oneshot::channel();
            conn.send(&call(id, b""), tx, true).expect("sends");
            receivers.push(rx);
        }
        let mut out = Vec::new();
        for id in [2, 1] {
            let reply = Envelope::Reply(Reply {
                id,
                outcome: Ok(vec![]),
            });
            binary::encode_frame(&CODEC, &reply, &mut out).expect("encodes");
        }
        peer.write_all(&out).await.expect("writes");
        let mut third = receivers.pop().expect("three");
        for rx in receivers {
            assert!(matches!(rx.await, Ok(Answer::Reply(Ok(_)))));
        }
        // Call 3 still waits; 1 and 2 left the queue with their replies.
        let left: Vec<u64> = lock(&conn.state)
            .deadlines
            .iter()
            .map(|&(_, id)| id)
            .collect();
        assert_eq!(left, [3]);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(matches!(answered(&mut third), Some(Answer::TimedOut)));
        // Replies arrived after call 3 was sent: the connection stays.
        assert!(conn.is_open());
    }

    #[tokio::test]
    async fn a_closed_connection_fails_its_waiting_calls_and_refuses_new_ones() {
        let (conn, task, _peer) = connection(4096);
        let task = tokio::spawn(task);
        let (tx, rx) = oneshot::channel();
        conn.send(&call(1, b""), tx, false).expect("sends");
        conn.close(ConnectionEnd::Closed);
        assert!(rx.await.is_err(), "the waiter is dropped: connection lost");
        task.await.expect("task ends");
        assert!(!conn.is_open());
        let (tx, _rx) = oneshot::channel();
        assert!(matches!(
            conn.send(&call(2, b""), tx, false),
            Err(SendError::Lost)
        ));
    }

    /// The connection task's signal keeps a raise that came before the
    /// wait, wakes a waiting task, and is consumed by the wait it ends.
    #[test]
    fn the_wake_signal_keeps_an_early_raise_and_wakes_a_waiting_task() {
        let signal = Signal::default();
        let (wakes, waker) = Wakes::waker();
        let mut cx = Context::from_waker(&waker);
        signal.notify_one();
        assert!(
            signal.poll_raised(&mut cx).is_ready(),
            "a raise before the wait was lost"
        );
        assert!(
            signal.poll_raised(&mut cx).is_pending(),
            "a raise counted twice"
        );
        signal.notify_one();
        assert_eq!(wakes.count(), 1, "the waiting task was not woken");
        assert!(signal.poll_raised(&mut cx).is_ready());
    }
}
