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
use crate::net::driver::{self, Flow, IoEnd, Limits, Protocol};
use crate::net::framed::FrameReader;
use crate::wire::WireError;
use crate::wire::binary::{self, CallRef, Envelope};
use crate::wire::frame::FrameCodec;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncWrite, ReadHalf, WriteHalf};
use tokio::sync::{Notify, oneshot};

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
    session: ClientSession<oneshot::Sender<Outcome>>,
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
}

impl State {
    fn now(&mut self) -> u64 {
        self.events += 1;
        self.events
    }
}

/// One connection's shared half. Callers hold it through an `Arc`.
pub(super) struct Shared<S> {
    state: Mutex<State>,
    writer: Mutex<WriteHalf<S>>,
    wake: Notify,
    codec: FrameCodec,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<S: crate::net::Stream> Shared<S> {
    /// A connection whose handshake completed, and its task (to spawn).
    pub(super) fn start(
        session: ClientSession<oneshot::Sender<Outcome>>,
        reader: FrameReader<ReadHalf<S>>,
        writer: WriteHalf<S>,
        codec: FrameCodec,
        write_limit: Duration,
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
            }),
            writer: Mutex::new(writer),
            wake: Notify::new(),
            codec,
        });
        let task = run(Arc::clone(&shared), reader, write_limit);
        (shared, task)
    }

    /// Whether calls may still be sent on this connection.
    pub(super) fn is_open(&self) -> bool {
        let state = lock(&self.state);
        !state.ended && state.end.is_none()
    }

    /// Registers `call` (its outcome goes to `reply`) and sends its frame:
    /// written here and now when the caller is alone on the connection,
    /// queued for the connection task otherwise.
    pub(super) fn send(
        &self,
        call: &CallRef<'_>,
        reply: oneshot::Sender<Outcome>,
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

    /// Call `id` timed out: forget it, and end the connection if nothing
    /// arrived since it was sent.
    pub(super) fn timed_out(&self, id: u64) {
        let mut state = lock(&self.state);
        let now = state.now();
        if let Verdict::Reconnect = state.session.on_timeout(id, now) {
            state.end.get_or_insert(ConnectionEnd::Silent);
            drop(state);
            self.wake.notify_one();
        }
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
}

impl<S: crate::net::Stream> Task<S> {
    /// An event is due: an end was asked for, or bytes wait and nobody is
    /// writing them.
    fn due(state: &State) -> bool {
        state.end.is_some() || (!state.flushing && !state.queue.is_empty())
    }
}

impl<S: crate::net::Stream> Protocol for Task<S> {
    /// "Look at the shared state": callers queued bytes or asked for an end.
    type Event = ();
    type End = ConnectionEnd;

    async fn next_event(&mut self) {
        self.shared.wake.notified().await;
    }

    fn try_event(&mut self) -> Option<()> {
        Self::due(&lock(&self.shared.state)).then_some(())
    }

    fn on_event(&mut self, (): (), out: &mut Vec<u8>) -> Flow<ConnectionEnd> {
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
        }
        drop(state);
        match event {
            ClientEvent::Completed { waiter, outcome } => {
                // The caller may have given up meanwhile.
                let _ = waiter.send(outcome);
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
    write_limit: Duration,
) {
    let mut task = Task {
        shared: Arc::clone(&shared),
    };
    let limits = Limits::new(write_limit);
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
        conn.send(&first, tx).expect("sends");
        // The task has not run: the caller wrote its own frame.
        assert_eq!(readable(&mut peer), frame(&first));
        let (tx, _rx2) = oneshot::channel();
        conn.send(&second, tx).expect("sends");
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
        conn.send(&lone, tx).expect("sends");
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
        assert_eq!(rx.await.expect("answered"), Ok(b"done".to_vec()));
    }

    #[tokio::test]
    async fn a_lone_caller_never_writes_into_the_middle_of_the_tasks_write() {
        let (conn, task, mut peer) = connection(16);
        let args = vec![1u8; 100];
        let (first, second) = (call(1, &args), call(2, b"two"));
        let (tx, _rx1) = oneshot::channel();
        conn.send(&first, tx).expect("sends");
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
        conn.send(&second, tx).expect("sends");
        tokio::spawn(task);
        let mut expected = frame(&first);
        expected.extend(frame(&second));
        let mut rest = vec![0; expected.len() - got.len()];
        peer.read_exact(&mut rest).await.expect("reads");
        got.extend(rest);
        assert!(got == expected, "a torn frame: {got:?}");
    }

    #[tokio::test]
    async fn a_closed_connection_fails_its_waiting_calls_and_refuses_new_ones() {
        let (conn, task, _peer) = connection(4096);
        let task = tokio::spawn(task);
        let (tx, rx) = oneshot::channel();
        conn.send(&call(1, b""), tx).expect("sends");
        conn.close(ConnectionEnd::Closed);
        assert!(rx.await.is_err(), "the waiter is dropped: connection lost");
        task.await.expect("task ends");
        assert!(!conn.is_open());
        let (tx, _rx) = oneshot::channel();
        assert!(matches!(conn.send(&call(2, b""), tx), Err(SendError::Lost)));
    }
}
