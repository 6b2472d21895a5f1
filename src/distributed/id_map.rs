//! Entries keyed by call or lease ids that mostly arrive rising and leave
//! oldest first: the RPC server session's calls in flight, a lock client's
//! held leases.
//!
//! A sorted ring (`VecDeque`): unlike a `BTreeMap` it allocates nothing
//! per entry once grown, and in the usual order an entry is added at the
//! back and removed at the front, each O(1). An id out of order costs a
//! binary search and moves the shorter side of the ring.

use std::collections::VecDeque;

/// Entries in id order.
#[derive(Debug)]
pub(crate) struct IdMap<V>(VecDeque<(u64, V)>);

impl<V> Default for IdMap<V> {
    fn default() -> Self {
        Self(VecDeque::new())
    }
}

impl<V> IdMap<V> {
    /// Where `id` is, or would go (the newest entry checked first).
    fn find(&self, id: u64) -> Result<usize, usize> {
        match self.0.back() {
            None => Err(0),
            Some(&(newest, _)) if newest < id => Err(self.0.len()),
            Some(&(newest, _)) if newest == id => Ok(self.0.len() - 1),
            Some(_) => self.0.binary_search_by_key(&id, |&(key, _)| key),
        }
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.find(id).is_ok()
    }

    pub(crate) fn get(&self, id: u64) -> Option<&V> {
        self.find(id).ok().map(|at| &self.0[at].1)
    }

    /// Adds `id` unless present (then the entry already there stays).
    pub(crate) fn insert(&mut self, id: u64, value: V) {
        if let Err(at) = self.find(id) {
            self.0.insert(at, (id, value));
        }
    }

    /// Takes the entry of `id` out (the oldest entry checked first).
    pub(crate) fn remove(&mut self, id: u64) -> Option<V> {
        if self.0.front().is_some_and(|&(oldest, _)| oldest == id) {
            return self.0.pop_front().map(|(_, value)| value);
        }
        let at = self.find(id).ok()?;
        self.0.remove(at).map(|(_, value)| value)
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// The ids, in order.
    pub(crate) fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().map(|&(id, _)| id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids added out of order and removed from the middle, the front and
    /// the back stay sorted, and each is found exactly while present.
    #[test]
    fn ids_out_of_order_stay_sorted_and_are_found_while_present() {
        let mut map = IdMap::default();
        for id in [5, 3, 9, 7, 4] {
            map.insert(id, id * 10);
        }
        map.insert(7, 0);
        let mut left = vec![3, 4, 5, 7, 9];
        assert_eq!(map.ids().collect::<Vec<_>>(), left, "after inserting");
        assert_eq!(map.get(7), Some(&70), "a second insert replaced 7");
        for id in [7, 3, 9, 5, 4] {
            assert_eq!(map.remove(id), Some(id * 10), "removing {id}");
            left.retain(|&i| i != id);
            assert_eq!(map.ids().collect::<Vec<_>>(), left, "after removing {id}");
            assert!(!map.contains(id), "{id} found after its removal");
            assert!(
                left.iter().all(|&i| map.contains(i)),
                "lost one of {left:?}"
            );
        }
        assert_eq!(map.remove(4), None, "removed twice");
        assert_eq!(map.len(), 0);
    }
}
