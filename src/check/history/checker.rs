//! The checker: Wing–Gong search with Lowe's memoisation and
//! P-compositionality.
//!
//! Each partition (see [`Model::partition`]) is checked on its own,
//! smallest first; the first one that fails ends the check, so the failing
//! partition reported is the smallest. Within a partition the invocations
//! and completions form a doubly linked list in time order (Porcupine's
//! layout, but as indices into one vector). The search walks the list:
//! at an invocation it tries to linearize that operation next (the model
//! accepts the result the client saw, and the pair (linearized set, new
//! state) is not already in the memo table), lifting its entries out of
//! the list; at a completion of an operation not yet linearized it
//! backtracks. It succeeds once every operation with a known outcome is
//! linearized: an operation with an unknown outcome has no completion
//! entry, so it may be linearized anywhere after its invocation or never
//! (it had no effect).
//!
//! Two orderings of the choices make it fast without changing what it
//! explores: at each point the operations with a known outcome are tried
//! before those with an unknown one (which could also never take effect),
//! and a [read-only](Model::read_only) operation that can be placed is
//! placed at once and never tried later.
//!
//! # Memory
//!
//! The memo table holds one entry per distinct (linearized set, state)
//! reached: `⌈n/64⌉` words of bitset plus one `State` plus 16 bytes of
//! table overhead and hash, where `n` is the number of operations in the
//! partition being checked. It grows with the number of distinct states
//! explored (reported as [`PartitionReport::states`]), which a step
//! [`Budget`] bounds; it is freed after each partition. Everything else is
//! linear in `n`.

use super::{History, Model, OpId};
use hashbrown::HashTable;
use rustc_hash::FxHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

/// The answer of a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Verdict {
    /// Some real-time-respecting order explains every result.
    Linearizable,
    /// No order does.
    NotLinearizable,
    /// The [`Budget`] ran out before an answer.
    Unknown,
}

/// Limits on a check, shared by all its partitions. The default has none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// At most this many search steps (deterministic: use this in
    /// simulations).
    pub steps: Option<u64>,
    /// At most this much wall-clock time (checked every few thousand
    /// steps).
    pub time: Option<Duration>,
}

/// The outcome for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionReport<K> {
    /// The partition's key (see [`Model::partition`]).
    pub key: K,
    /// Its operations, ascending.
    pub ops: Vec<OpId>,
    /// Its verdict.
    pub verdict: Verdict,
    /// A linearization if [`Verdict::Linearizable`] (operations with an
    /// unknown outcome that took no effect are left out); otherwise the
    /// longest linearizable prefix the search found.
    pub order: Vec<OpId>,
    /// On a violation: the operation that cannot be placed after
    /// [`order`](Self::order) (the first one to complete that is not in it).
    pub unplaceable: Vec<OpId>,
    /// Search steps taken.
    pub steps: u64,
    /// Distinct (linearized set, state) pairs explored: the memo table's size.
    pub states: usize,
}

/// The outcome of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report<K> {
    /// Linearizable if every partition is; not linearizable if one is not;
    /// otherwise unknown.
    pub verdict: Verdict,
    /// The partitions checked, smallest first. A check stops at the first
    /// failing partition, which is then the last one here.
    pub partitions: Vec<PartitionReport<K>>,
    /// How many partitions the history has.
    pub partitions_total: usize,
}

impl<K> Report<K> {
    /// The (smallest) failing partition, if any.
    pub fn failure(&self) -> Option<&PartitionReport<K>> {
        self.partitions
            .iter()
            .find(|p| p.verdict == Verdict::NotLinearizable)
    }

    /// Search steps over all partitions checked.
    pub fn steps(&self) -> u64 {
        self.partitions.iter().map(|p| p.steps).sum()
    }

    /// States explored over all partitions checked.
    pub fn states(&self) -> usize {
        self.partitions.iter().map(|p| p.states).sum()
    }
}

/// A configured checker: [`check`] with the defaults (partitioned, no
/// budget).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checker {
    budget: Budget,
    partitioned: bool,
}

impl Default for Checker {
    fn default() -> Self {
        Self {
            budget: Budget::default(),
            partitioned: true,
        }
    }
}

/// Checks `history` against `model` with the default [`Checker`].
pub fn check<M: Model>(model: &M, history: &History<M::Op, M::Ret>) -> Report<M::Key> {
    Checker::new().check(model, history)
}

impl Checker {
    /// Partitioned, no budget.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the budget.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }

    /// Whether to split the history with [`Model::partition`] (default
    /// true). Off, the whole history is one partition (slower, same answer
    /// for a correct partition function).
    pub fn partitioned(mut self, on: bool) -> Self {
        self.partitioned = on;
        self
    }

    /// Checks `history` against `model`.
    pub fn check<M: Model>(&self, model: &M, history: &History<M::Op, M::Ret>) -> Report<M::Key> {
        let parts = self.split(model, history);
        let partitions_total = parts.len();
        let mut limit = Limit::new(self.budget);
        let mut partitions = Vec::with_capacity(parts.len());
        let mut verdict = Verdict::Linearizable;
        for (key, ops) in parts {
            let r = check_partition(model, history, key, ops, &mut limit);
            match r.verdict {
                Verdict::NotLinearizable => verdict = Verdict::NotLinearizable,
                Verdict::Unknown => verdict = Verdict::Unknown,
                Verdict::Linearizable => {}
            }
            partitions.push(r);
            if verdict == Verdict::NotLinearizable {
                break;
            }
        }
        Report {
            verdict,
            partitions,
            partitions_total,
        }
    }

    /// The partitions, smallest first (ties by key).
    fn split<M: Model>(
        &self,
        model: &M,
        history: &History<M::Op, M::Ret>,
    ) -> Vec<(M::Key, Vec<OpId>)> {
        if !self.partitioned {
            if history.is_empty() {
                return Vec::new();
            }
            return vec![(M::Key::default(), (0..history.len()).collect())];
        }
        let mut by_key: BTreeMap<M::Key, Vec<OpId>> = BTreeMap::new();
        for (id, op) in history.ops.iter().enumerate() {
            by_key.entry(model.partition(&op.op)).or_default().push(id);
        }
        let mut parts: Vec<_> = by_key.into_iter().collect();
        parts.sort_by_key(|(_, ops)| ops.len());
        parts
    }
}

/// The budget left, across partitions.
struct Limit {
    steps_left: Option<u64>,
    deadline: Option<Instant>,
}

/// How often (in steps) the deadline is looked at.
const CLOCK_EVERY: u64 = 4096;

impl Limit {
    fn new(b: Budget) -> Self {
        Self {
            steps_left: b.steps,
            deadline: b.time.map(|t| Instant::now() + t),
        }
    }

    /// Whether `steps` steps (the partition's count so far) are allowed
    /// and the deadline has not passed; the clock is read only here.
    fn allows(&self, steps: u64) -> bool {
        if self.steps_left.is_some_and(|left| steps > left) {
            return false;
        }
        self.deadline.is_none_or(|d| Instant::now() < d)
    }

    fn spend(&mut self, steps: u64) {
        if let Some(left) = &mut self.steps_left {
            *left = left.saturating_sub(steps);
        }
    }
}

fn check_partition<M: Model>(
    model: &M,
    history: &History<M::Op, M::Ret>,
    key: M::Key,
    ops: Vec<OpId>,
    limit: &mut Limit,
) -> PartitionReport<M::Key> {
    let mut s = Search::new(model, history, &ops);
    let outcome = s.run(limit);
    limit.spend(s.steps);
    let to_global = |v: &[u32]| v.iter().map(|&i| ops[i as usize]).collect::<Vec<_>>();
    let (verdict, order, unplaceable) = match outcome {
        Outcome::Found => (Verdict::Linearizable, to_global(&s.stack_ops()), Vec::new()),
        Outcome::Impossible => {
            let blocked = s.first_unplaced(&s.best);
            (
                Verdict::NotLinearizable,
                to_global(&s.best),
                to_global(&blocked),
            )
        }
        Outcome::OutOfBudget => (Verdict::Unknown, to_global(&s.best), Vec::new()),
    };
    PartitionReport {
        key,
        verdict,
        order,
        unplaceable,
        steps: s.steps,
        states: s.memo.len(),
        ops,
    }
}

enum Outcome {
    Found,
    Impossible,
    OutOfBudget,
}

const NONE: u32 = u32::MAX;
const HEAD: u32 = 0;

/// One invocation or completion in the time-ordered list.
#[derive(Clone, Copy)]
struct Entry {
    next: u32,
    prev: u32,
    /// The operation (partition-local index).
    op: u32,
    /// For an invocation: its completion entry, or [`NONE`] (unknown
    /// outcome). For a completion: [`NONE`].
    ret: u32,
    is_call: bool,
}

struct Frame {
    /// The invocation entry lifted.
    entry: u32,
    /// The memo index of the state before it.
    state: u32,
    /// A read-only operation linearized as early as possible: if what
    /// follows fails, so does the configuration before it.
    forced: bool,
    /// Whether it was chosen in the scan over unknown outcomes.
    unknown_pass: bool,
}

/// Where the search stands: the linearized set, the state it leads to,
/// and the entry being scanned.
struct Cursor {
    /// The linearized set, one bit per operation.
    lin: Vec<u64>,
    /// Its hash (the xor of its members' Zobrist keys).
    lin_hash: u64,
    /// The memo index of the state after the linearized set.
    state: u32,
    /// The entry being scanned.
    e: u32,
    /// Completed operations not linearized yet.
    remaining: usize,
    /// Each configuration is scanned twice: operations with a known
    /// outcome first, then those with an unknown one (which may also never
    /// take effect, so trying them last finds linearizations sooner).
    unknown_pass: bool,
    /// Whether the known-outcome scan passed an unknown one (else the
    /// second scan is skipped).
    saw_unknown: bool,
}

struct Search<'a, M: Model> {
    model: &'a M,
    ops: Vec<(&'a M::Op, Option<&'a M::Ret>)>,
    /// [`Model::read_only`] of each operation.
    read_only: Vec<bool>,
    entries: Vec<Entry>,
    /// Zobrist keys of the operations: the linearized set's hash is the xor
    /// of those of its members.
    zobrist: Vec<u64>,
    memo: Memo<M::State>,
    stack: Vec<Frame>,
    best: Vec<u32>,
    steps: u64,
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, history: &'a History<M::Op, M::Ret>, ids: &[OpId]) -> Self {
        let ops: Vec<_> = ids
            .iter()
            .map(|&i| (&history.ops[i].op, history.ops[i].ret()))
            .collect();
        // (time, completion after invocation at equal times, op, is_call)
        let mut events: Vec<(u64, u8, u32)> = Vec::with_capacity(2 * ids.len());
        for (local, &i) in ids.iter().enumerate() {
            let o = &history.ops[i];
            events.push((o.invoked, 0, local as u32));
            if let Some(c) = &o.completed {
                events.push((c.at.max(o.invoked), 1, local as u32));
            }
        }
        events.sort_unstable();
        let n = events.len() as u32;
        let mut entries = Vec::with_capacity(events.len() + 1);
        entries.push(Entry {
            next: if n == 0 { HEAD } else { 1 },
            prev: n,
            op: NONE,
            ret: NONE,
            is_call: false,
        });
        let mut call_entry = vec![NONE; ids.len()];
        for (k, &(_, kind, op)) in events.iter().enumerate() {
            let idx = k as u32 + 1;
            let is_call = kind == 0;
            if is_call {
                call_entry[op as usize] = idx;
            } else {
                entries[call_entry[op as usize] as usize].ret = idx;
            }
            entries.push(Entry {
                next: if idx == n { HEAD } else { idx + 1 },
                prev: idx - 1,
                op,
                ret: NONE,
                is_call,
            });
        }
        let zobrist = (0..ids.len() as u64).map(splitmix64).collect();
        let read_only = ops.iter().map(|&(o, r)| model.read_only(o, r)).collect();
        Self {
            model,
            ops,
            read_only,
            entries,
            zobrist,
            memo: Memo::new(ids.len().div_ceil(64)),
            stack: Vec::new(),
            best: Vec::new(),
            steps: 0,
        }
    }

    fn unlink(&mut self, x: u32) {
        let Entry { next, prev, .. } = self.entries[x as usize];
        self.entries[prev as usize].next = next;
        self.entries[next as usize].prev = prev;
    }

    fn relink(&mut self, x: u32) {
        let Entry { next, prev, .. } = self.entries[x as usize];
        self.entries[prev as usize].next = x;
        self.entries[next as usize].prev = x;
    }

    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let r = self.entries[call as usize].ret;
        if r != NONE {
            self.unlink(r);
        }
    }

    fn unlift(&mut self, call: u32) {
        let r = self.entries[call as usize].ret;
        if r != NONE {
            self.relink(r);
        }
        self.relink(call);
    }

    fn stack_ops(&self) -> Vec<u32> {
        self.stack
            .iter()
            .map(|f| self.entries[f.entry as usize].op)
            .collect()
    }

    /// The depth-first search. Nothing is allocated per step except a new
    /// memo entry.
    fn run(&mut self, limit: &Limit) -> Outcome {
        let lin = vec![0u64; self.memo.words];
        let state = self.memo.insert_new(0, &lin, self.model.init());
        let mut c = Cursor {
            remaining: self.ops.iter().filter(|(_, r)| r.is_some()).count(),
            lin,
            lin_hash: 0,
            state,
            e: self.entries[HEAD as usize].next,
            unknown_pass: false,
            saw_unknown: false,
        };
        let max_steps = limit.steps_left.unwrap_or(u64::MAX);
        // Whether the known-outcome scan can pass an unknown one at all.
        let has_unknown = self.ops.iter().any(|(_, r)| r.is_none());
        while c.remaining > 0 {
            self.steps += 1;
            if self.steps > max_steps
                || (self.steps % CLOCK_EVERY == 0 && !limit.allows(self.steps))
            {
                return Outcome::OutOfBudget;
            }
            let ent = self.entries[c.e as usize];
            if c.e != HEAD && ent.is_call {
                if self.try_call(&mut c, ent) {
                    continue;
                }
            } else if !c.unknown_pass && c.saw_unknown {
                // The first completion: now the unknown outcomes before it.
                c.unknown_pass = true;
                c.e = self.entries[HEAD as usize].next;
                continue;
            }
            // A completion of an operation not linearized yet, the end of
            // the list, or a dead read-only move: undo choices up to the
            // last one that was not forced.
            let Some(f) = self.backtrack(&mut c) else {
                return Outcome::Impossible;
            };
            c.state = f.state;
            c.e = self.entries[f.entry as usize].next;
            c.unknown_pass = f.unknown_pass;
            // Unknown ones may lie before the resumed entry.
            c.saw_unknown = has_unknown;
        }
        Outcome::Found
    }

    /// Tries to linearize the invocation `ent` (at `c.e`) next: skips it
    /// (wrong scan, impossible result, or a configuration already seen) or
    /// descends into it. Returns `false` when the configuration is dead (a
    /// read-only operation whose successor already failed, see
    /// [`Model::read_only`]): the caller backtracks.
    #[inline]
    fn try_call(&mut self, c: &mut Cursor, ent: Entry) -> bool {
        let op = ent.op as usize;
        let (o, r) = self.ops[op];
        if r.is_none() != c.unknown_pass {
            c.saw_unknown |= !c.unknown_pass;
            c.e = ent.next;
            return true;
        }
        let Some(next) = self.model.step(self.memo.state(c.state), o, r) else {
            c.e = ent.next;
            return true;
        };
        let forced = self.read_only[op];
        c.lin[op / 64] |= 1 << (op % 64);
        let h = c.lin_hash ^ self.zobrist[op];
        if let Some(idx) = self.memo.insert(h, &c.lin, next) {
            self.stack.push(Frame {
                entry: c.e,
                state: c.state,
                forced,
                unknown_pass: c.unknown_pass,
            });
            c.state = idx;
            c.lin_hash = h;
            self.lift(c.e);
            c.remaining -= usize::from(r.is_some());
            if self.stack.len() > self.best.len() {
                self.best = self.stack_ops();
            }
            c.e = self.entries[HEAD as usize].next;
            c.unknown_pass = false;
            c.saw_unknown = false;
            return true;
        }
        c.lin[op / 64] &= !(1 << (op % 64));
        if forced {
            return false;
        }
        c.e = ent.next;
        true
    }

    /// Undoes linearized operations, most recent first, up to and including
    /// the last one that was not forced, and returns its frame (to resume
    /// the scan after it); `None` when the stack runs out: no linearization.
    fn backtrack(&mut self, c: &mut Cursor) -> Option<Frame> {
        loop {
            let f = self.stack.pop()?;
            let op = self.entries[f.entry as usize].op as usize;
            c.lin[op / 64] &= !(1 << (op % 64));
            c.lin_hash ^= self.zobrist[op];
            self.unlift(f.entry);
            c.remaining += usize::from(self.ops[op].1.is_some());
            if !f.forced {
                return Some(f);
            }
        }
    }

    /// The first operation, in completion order, that completed and is not
    /// in `placed`.
    fn first_unplaced(&self, placed: &[u32]) -> Vec<u32> {
        let mut in_set = vec![false; self.ops.len()];
        for &p in placed {
            in_set[p as usize] = true;
        }
        // The list is whole again after a failed search: walk it.
        let mut e = self.entries[HEAD as usize].next;
        while e != HEAD {
            let ent = self.entries[e as usize];
            if !ent.is_call && !in_set[ent.op as usize] {
                return vec![ent.op];
            }
            e = ent.next;
        }
        Vec::new()
    }
}

/// The memo table: every (linearized set, state) reached, each once.
/// States live here; the search refers to them by index. Each entry's hash
/// and bitset sit side by side in `slots` (at most two cache lines for a
/// partition of up to 448 operations), so a probe that hits touches the
/// slot and the state and nothing else.
struct Memo<S> {
    table: HashTable<u32>,
    words: usize,
    /// Per entry: its hash, then `words` words of linearized set.
    slots: Vec<u64>,
    states: Vec<S>,
}

impl<S: Eq + Hash> Memo<S> {
    fn new(words: usize) -> Self {
        Self {
            table: HashTable::new(),
            words: words.max(1),
            slots: Vec::new(),
            states: Vec::new(),
        }
    }

    fn len(&self) -> usize {
        self.states.len()
    }

    fn state(&self, idx: u32) -> &S {
        &self.states[idx as usize]
    }

    fn full_hash(set_hash: u64, state: &S) -> u64 {
        let mut h = FxHasher::default();
        state.hash(&mut h);
        let x = (set_hash ^ h.finish()).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        x ^ (x >> 29)
    }

    /// Inserts (`lin`, `state`) unless present; returns its index if new.
    fn insert(&mut self, set_hash: u64, lin: &[u64], state: S) -> Option<u32> {
        let h = Self::full_hash(set_hash, &state);
        let stride = self.words + 1;
        let found = self.table.find(h, |&i| {
            let i = i as usize;
            let slot = &self.slots[i * stride..(i + 1) * stride];
            slot[0] == h && slot[1..] == *lin && self.states[i] == state
        });
        if found.is_some() {
            return None;
        }
        Some(self.push(h, lin, state))
    }

    fn insert_new(&mut self, set_hash: u64, lin: &[u64], state: S) -> u32 {
        let h = Self::full_hash(set_hash, &state);
        self.push(h, lin, state)
    }

    fn push(&mut self, h: u64, lin: &[u64], state: S) -> u32 {
        let idx = self.states.len() as u32;
        self.slots.push(h);
        self.slots.extend_from_slice(lin);
        self.states.push(state);
        let (slots, stride) = (&self.slots, self.words + 1);
        self.table
            .insert_unique(h, idx, |&i| slots[i as usize * stride]);
        idx
    }
}

/// SplitMix64: the Zobrist key of operation `i`.
fn splitmix64(i: u64) -> u64 {
    let mut z = i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
