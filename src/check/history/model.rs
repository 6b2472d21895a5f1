//! The [`Model`] trait: a sequential specification.

use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification: what one operation at a time may do.
///
/// The checker calls [`Model::step`] millions of times: keep `State` small
/// and cheap to clone and hash (an integer, a short string, a small map).
///
/// ```
/// use heddle::check::history::Model;
///
/// /// A counter: `Add(n)` returns nothing, `Get` returns the total.
/// struct Counter;
/// #[derive(Debug)]
/// enum Op { Add(u64), Get }
///
/// impl Model for Counter {
///     type Op = Op;
///     type Ret = Option<u64>;
///     type State = u64;
///     type Key = ();
///     fn init(&self) -> u64 { 0 }
///     fn step(&self, s: &u64, op: &Op, ret: Option<&Option<u64>>) -> Option<u64> {
///         match (op, ret) {
///             (Op::Add(n), _) => Some(s + n),
///             (Op::Get, None) => Some(*s),                  // unknown result
///             (Op::Get, Some(Some(v))) if v == s => Some(*s),
///             (Op::Get, Some(_)) => None,                   // impossible
///         }
///     }
/// }
/// ```
pub trait Model {
    /// An operation as invoked.
    type Op: Debug;
    /// A result as seen by the client.
    type Ret: Debug;
    /// The state of the sequential object.
    type State: Clone + Eq + Hash;
    /// What [`Model::partition`] splits the history by (`()` for no split).
    type Key: Clone + Ord + Debug + Default;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `op` to `state`, given the result `ret` the client saw
    /// (`None`: unknown, the operation may have returned anything). Returns
    /// the next state, or `None` if that result is impossible in `state`.
    fn step(
        &self,
        state: &Self::State,
        op: &Self::Op,
        ret: Option<&Self::Ret>,
    ) -> Option<Self::State>;

    /// The independent part of the history `op` belongs to. Operations on
    /// different keys must not affect one another (then each part is checked
    /// on its own: P-compositionality, e.g. one part per key of a map).
    /// Default: one part.
    fn partition(&self, op: &Self::Op) -> Self::Key {
        let _ = op;
        Self::Key::default()
    }

    /// Whether `op` with result `ret` leaves *every* state it is possible
    /// in unchanged (a read, a failed compare-and-set, a refused acquire).
    /// The checker then linearizes such an operation as soon as it can and
    /// never tries it later: if any linearization exists, one with the
    /// read-only operation moved to the earliest point does too. Saying
    /// `true` wrongly makes the checker unsound; the default, `false`, is
    /// always safe.
    fn read_only(&self, op: &Self::Op, ret: Option<&Self::Ret>) -> bool {
        let _ = (op, ret);
        false
    }

    /// A short human description of an operation and its result, for
    /// reports and the [`view`](super::view). Default: `Debug`.
    fn describe(&self, op: &Self::Op, ret: Option<&Self::Ret>) -> String {
        match ret {
            Some(r) => format!("{op:?} -> {r:?}"),
            None => format!("{op:?} -> ?"),
        }
    }
}
