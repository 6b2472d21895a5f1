//! `heddle::sync::channel::bounded` against a `VecDeque` oracle, one thread.
//!
//! Input: byte 0 picks the capacity (`0..=7`; 0 is a rendezvous channel),
//! every following byte is one operation, its low 3 bits the opcode and its
//! high 5 bits an argument (which sender):
//!
//! | opcode | operation | extra bytes |
//! | --- | --- | --- |
//! | 0, 1 | `try_send(v)` on sender `arg` | 1: the value's low byte |
//! | 2, 3 | `try_recv` | 0 |
//! | 4 | clone sender `arg` | 0 |
//! | 5 | drop sender `arg` | 0 |
//! | 6 | drop the receiver | 0 |
//! | 7 | clone the receiver, then drop the clone | 0 |
//!
//! After every operation the channel's `len`, `is_empty`, `is_full` and
//! `capacity` must match the oracle. Every value is a token with a unique id
//! tracked in a live set, so a value dropped twice, or never, is caught too.
//! With one thread nothing ever waits, so the expected outcome of every
//! operation is exact:
//!
//! - `try_send`: `Disconnected(v)` once the receiver is gone (even if full),
//!   else `Full(v)` at capacity (always, for capacity 0: no receiver waits),
//!   else `Ok`;
//! - `try_recv`: the oldest value (FIFO) if any, else `Disconnected` once
//!   every sender is gone, else `Empty`.

#![no_main]

use std::cell::RefCell;
use std::collections::{BTreeSet, VecDeque};

use heddle::sync::channel::{self, Receiver, Sender, TryRecvError, TrySendError};
use libfuzzer_sys::fuzz_target;

const MAX_CAP: u8 = 8;
const MAX_SENDERS: usize = 16;

thread_local! {
    /// Ids of the tokens currently alive (in the channel, in flight, or held).
    static LIVE: RefCell<BTreeSet<u64>> = const { RefCell::new(BTreeSet::new()) };
}

/// A value whose drops are accounted for.
#[derive(Debug)]
struct Token(u64);

impl Token {
    fn new(id: u64) -> Self {
        LIVE.with(|l| assert!(l.borrow_mut().insert(id), "token {id} created twice"));
        Token(id)
    }
}

impl Drop for Token {
    fn drop(&mut self) {
        LIVE.with(|l| {
            assert!(
                l.borrow_mut().remove(&self.0),
                "token {} dropped twice",
                self.0
            );
        });
    }
}

fn live() -> usize {
    LIVE.with(|l| l.borrow().len())
}

struct Harness {
    cap: usize,
    senders: Vec<Sender<Token>>,
    receiver: Option<Receiver<Token>>,
    /// What the channel must hold, oldest first.
    oracle: VecDeque<u64>,
    /// Unique ids: the low byte comes from the input, the rest is a counter.
    next: u64,
}

impl Harness {
    fn new(cap: usize) -> Self {
        let (tx, rx) = channel::bounded(cap);
        Self {
            cap,
            senders: vec![tx],
            receiver: Some(rx),
            oracle: VecDeque::new(),
            next: 0,
        }
    }

    fn pick(&self, arg: u8) -> Option<usize> {
        (!self.senders.is_empty()).then(|| usize::from(arg) % self.senders.len())
    }

    fn try_send(&mut self, arg: u8, low: u8) {
        let Some(i) = self.pick(arg) else { return };
        let id = (self.next << 8) | u64::from(low);
        self.next += 1;
        let got = self.senders[i].try_send(Token::new(id));
        if self.receiver.is_none() {
            match got {
                Err(TrySendError::Disconnected(Token(v))) => assert_eq!(v, id),
                other => panic!("try_send with no receiver: expected Disconnected, got {other:?}"),
            }
        } else if self.oracle.len() >= self.cap {
            match got {
                Err(TrySendError::Full(Token(v))) => assert_eq!(v, id),
                other => panic!(
                    "try_send at capacity {} (len {}): expected Full, got {other:?}",
                    self.cap,
                    self.oracle.len()
                ),
            }
        } else {
            assert!(got.is_ok(), "try_send with room: expected Ok, got {got:?}");
            self.oracle.push_back(id);
        }
    }

    fn try_recv(&mut self) {
        let Some(rx) = &self.receiver else { return };
        let got = rx.try_recv();
        match (self.oracle.pop_front(), got) {
            (Some(id), Ok(Token(v))) => assert_eq!(v, id, "try_recv: FIFO order"),
            (None, Err(TryRecvError::Disconnected)) if self.senders.is_empty() => {}
            (None, Err(TryRecvError::Empty)) if !self.senders.is_empty() => {}
            (want, got) => {
                let want = match want {
                    Some(id) => format!("Ok(Token({id}))"),
                    None if self.senders.is_empty() => "Err(Disconnected)".to_owned(),
                    None => "Err(Empty)".to_owned(),
                };
                panic!("try_recv: expected {want}, got {got:?}");
            }
        }
    }

    fn clone_sender(&mut self, arg: u8) {
        if self.senders.len() < MAX_SENDERS
            && let Some(i) = self.pick(arg)
        {
            let tx = self.senders[i].clone();
            self.senders.push(tx);
        }
    }

    fn drop_sender(&mut self, arg: u8) {
        if let Some(i) = self.pick(arg) {
            drop(self.senders.swap_remove(i));
        }
    }

    fn drop_receiver(&mut self) {
        drop(self.receiver.take());
    }

    fn clone_receiver(&mut self) {
        if let Some(rx) = &self.receiver {
            drop(rx.clone());
        }
    }

    /// The observable state must match the oracle after every operation.
    fn check(&self) {
        let len = self.oracle.len();
        if let Some(rx) = &self.receiver {
            assert_eq!(rx.len(), len, "Receiver::len");
            assert_eq!(rx.is_empty(), len == 0, "Receiver::is_empty");
            assert_eq!(rx.is_full(), len == self.cap, "Receiver::is_full");
            assert_eq!(rx.capacity(), Some(self.cap), "Receiver::capacity");
            // While the receiver lives, queued values stay alive and nothing else does.
            assert_eq!(live(), len, "live tokens vs queued values");
        }
        for tx in &self.senders {
            assert_eq!(tx.len(), len, "Sender::len");
            assert_eq!(tx.capacity(), Some(self.cap), "Sender::capacity");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, mut ops)) = data.split_first() else {
        return;
    };
    {
        let mut h = Harness::new(usize::from(first % MAX_CAP));
        h.check();
        while let Some((&op, rest)) = ops.split_first() {
            ops = rest;
            let arg = op >> 3;
            match op & 7 {
                0 | 1 => {
                    let Some((&low, rest)) = ops.split_first() else {
                        break;
                    };
                    ops = rest;
                    h.try_send(arg, low);
                }
                2 | 3 => h.try_recv(),
                4 => h.clone_sender(arg),
                5 => h.drop_sender(arg),
                6 => h.drop_receiver(),
                _ => h.clone_receiver(),
            }
            h.check();
        }
    }
    // Both ends are gone: every value was dropped exactly once.
    assert_eq!(live(), 0, "tokens leaked after the channel was dropped");
});
