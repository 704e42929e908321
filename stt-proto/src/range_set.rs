//! A set of `u64` values stored as merged half-open ranges `[start, end)`.
//!
//! Used for acknowledged packet numbers, acknowledged and lost stream offsets. The set
//! keeps ranges disjoint and non-adjacent at all times, so its size is the number of
//! gaps, not the number of values. It knows nothing of packets, streams or frames.

use alloc::collections::BTreeMap;
use core::ops::Range;

/// Disjoint, non-adjacent half-open ranges of `u64`, ordered by start.
///
/// Empty ranges given to any method are no-ops. `u64::MAX` itself can never be a
/// member, since ranges are half-open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeSet {
    /// start → end. Invariant: for consecutive entries `a`, `b`: `a.end < b.start`
    /// (a gap of at least one value), and `start < end` for every entry.
    map: BTreeMap<u64, u64>,
}

impl RangeSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every value of `r`; returns true if at least one was not already present.
    pub fn insert(&mut self, r: Range<u64>) -> bool {
        if r.start >= r.end {
            return false;
        }
        // Fast path, the common case for packet numbers and stream offsets: the new
        // range touches or overlaps the last range, which has no successors to merge.
        if let Some(mut last) = self.map.last_entry() {
            let (s, e) = (*last.key(), *last.get());
            if r.start >= s && r.start <= e {
                if r.end <= e {
                    return false;
                }
                *last.get_mut() = r.end;
                return true;
            }
        }
        let (mut start, mut end) = (r.start, r.end);
        if let Some((&s, &e)) = self.map.range(..=start).next_back() {
            if e >= end {
                return false;
            }
            // Overlapping or adjacent predecessor: grow from its start so the loop
            // below absorbs it together with any successors.
            if e >= start {
                start = s;
            }
        }
        // Every range starting inside [start, end] overlaps or touches the new one.
        while let Some((&s, &e)) = self.map.range(start..=end).next() {
            self.map.remove(&s);
            end = end.max(e);
        }
        self.map.insert(start, end);
        true
    }

    /// Removes every value of `r`, splitting a range that straddles it.
    pub fn remove(&mut self, r: Range<u64>) {
        // Empty sets are the common case (nothing to retransmit): skip the tree walks.
        if r.start >= r.end || self.map.is_empty() {
            return;
        }
        // A predecessor that starts below r.start and reaches into r is cut short,
        // and keeps its tail if it also reaches past r.end.
        if let Some((&s, &e)) = self.map.range(..r.start).next_back()
            && e > r.start
        {
            self.map.insert(s, r.start);
            if e > r.end {
                self.map.insert(r.end, e);
                return;
            }
        }
        while let Some((&s, &e)) = self.map.range(r.start..r.end).next() {
            self.map.remove(&s);
            if e > r.end {
                self.map.insert(r.end, e);
                break;
            }
        }
    }

    /// True if `v` is in the set.
    #[cfg(test)]
    pub fn contains(&self, v: u64) -> bool {
        self.map
            .range(..=v)
            .next_back()
            .is_some_and(|(_, &e)| e > v)
    }

    /// True if every value of `r` is in the set (trivially true for an empty `r`).
    #[cfg(test)]
    pub fn covers(&self, r: Range<u64>) -> bool {
        if r.start >= r.end {
            return true;
        }
        // Ranges are merged, so one range must hold all of `r`.
        self.map
            .range(..=r.start)
            .next_back()
            .is_some_and(|(_, &e)| e >= r.end)
    }

    /// True if the set holds no value.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Number of disjoint ranges (not of values).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The smallest value in the set.
    #[cfg(test)]
    pub fn min(&self) -> Option<u64> {
        self.map.first_key_value().map(|(&s, _)| s)
    }

    /// The largest value in the set (the last range's end − 1).
    #[cfg(test)]
    pub fn max(&self) -> Option<u64> {
        self.map.last_key_value().map(|(_, &e)| e - 1)
    }

    /// The lowest range.
    pub fn first_range(&self) -> Option<Range<u64>> {
        self.map.first_key_value().map(|(&s, &e)| s..e)
    }

    /// The highest range.
    #[cfg(test)]
    pub fn last_range(&self) -> Option<Range<u64>> {
        self.map.last_key_value().map(|(&s, &e)| s..e)
    }

    /// Removes and returns the lowest range.
    pub fn pop_min(&mut self) -> Option<Range<u64>> {
        self.map.pop_first().map(|(s, e)| s..e)
    }

    /// Drops the lowest ranges until at most `max_ranges` remain. Bounds ACK state:
    /// the oldest ranges are the least useful to report again.
    pub fn pop_front_limit(&mut self, max_ranges: usize) {
        while self.map.len() > max_ranges {
            self.map.pop_first();
        }
    }

    /// Removes every value.
    pub fn clear(&mut self) {
        self.map.clear();
    }

    /// All ranges, lowest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = Range<u64>> + '_ {
        self.map.iter().map(|(&s, &e)| s..e)
    }

    /// The parts of the set that fall inside `r`, lowest first, clipped to `r`.
    pub fn intersecting(&self, r: Range<u64>) -> impl Iterator<Item = Range<u64>> + '_ {
        // The range holding r.start (if any) starts below it and is not in the
        // `range(r.start..)` window, so it is chained in front.
        let head = self
            .map
            .range(..r.start)
            .next_back()
            .filter(|&(_, &e)| e > r.start)
            .map(|(&s, &e)| s..e);
        let tail = if r.start < r.end {
            Some(self.map.range(r.start..r.end))
        } else {
            None
        };
        let (lo, hi) = (r.start, r.end);
        head.into_iter()
            .chain(tail.into_iter().flatten().map(|(&s, &e)| s..e))
            .map(move |x| x.start.max(lo)..x.end.min(hi))
            .filter(|x| x.start < x.end)
    }
}

#[cfg(test)]
// Expected values here are lists of ranges, even when there is only one.
#[allow(clippy::single_range_in_vec_init)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn ranges(s: &RangeSet) -> Vec<Range<u64>> {
        s.iter().collect()
    }

    #[test]
    fn insert_merges_overlapping_and_adjacent() {
        let mut s = RangeSet::new();
        assert!(s.insert(10..20));
        assert!(s.insert(30..40));
        assert!(s.insert(20..30)); // touches both neighbours
        assert_eq!(ranges(&s), [10..40]);
        assert!(!s.insert(15..25)); // nothing new
        assert!(s.insert(5..10));
        assert!(s.insert(40..41));
        assert_eq!(ranges(&s), [5..41]);
        assert!(s.insert(0..100));
        assert_eq!(ranges(&s), [0..100]);
    }

    #[test]
    fn insert_spanning_many() {
        let mut s = RangeSet::new();
        for i in 0..10 {
            s.insert(i * 10..i * 10 + 5);
        }
        assert_eq!(s.len(), 10);
        assert!(s.insert(3..93));
        assert_eq!(ranges(&s), [0..95]);
    }

    #[test]
    fn empty_ranges_are_noops() {
        let mut s = RangeSet::new();
        #[allow(clippy::reversed_empty_ranges)]
        {
            assert!(!s.insert(5..5));
            assert!(!s.insert(7..3));
            s.insert(0..10);
            s.remove(4..4);
            s.remove(9..2);
        }
        assert_eq!(ranges(&s), [0..10]);
        assert!(s.covers(50..50));
    }

    #[test]
    fn remove_splits_and_trims() {
        let mut s = RangeSet::new();
        s.insert(0..100);
        s.remove(40..60);
        assert_eq!(ranges(&s), [0..40, 60..100]);
        s.remove(30..70);
        assert_eq!(ranges(&s), [0..30, 70..100]);
        s.remove(0..1);
        s.remove(99..200);
        assert_eq!(ranges(&s), [1..30, 70..99]);
        s.remove(0..u64::MAX);
        assert!(s.is_empty());
    }

    #[test]
    fn min_max_contains_covers() {
        let mut s = RangeSet::new();
        assert_eq!((s.min(), s.max()), (None, None));
        s.insert(3..5);
        s.insert(8..9);
        assert_eq!((s.min(), s.max()), (Some(3), Some(8)));
        assert!(s.contains(4) && !s.contains(5) && s.contains(8) && !s.contains(9));
        assert!(s.covers(3..5) && !s.covers(3..6) && !s.covers(4..9));
        assert_eq!(s.first_range(), Some(3..5));
        assert_eq!(s.last_range(), Some(8..9));
        assert_eq!(s.iter().next_back(), Some(8..9));
    }

    #[test]
    fn extremes_do_not_overflow() {
        let mut s = RangeSet::new();
        assert!(s.insert(u64::MAX - 1..u64::MAX));
        assert!(s.insert(0..1));
        assert_eq!(s.max(), Some(u64::MAX - 1));
        assert!(!s.contains(u64::MAX));
        s.remove(u64::MAX - 1..u64::MAX);
        assert_eq!(ranges(&s), [0..1]);
    }

    #[test]
    fn pop_min_and_front_limit() {
        let mut s = RangeSet::new();
        for i in 0..5 {
            s.insert(i * 3..i * 3 + 1);
        }
        assert_eq!(s.pop_min(), Some(0..1));
        s.pop_front_limit(2);
        assert_eq!(ranges(&s), [9..10, 12..13]);
        s.pop_front_limit(5);
        assert_eq!(s.len(), 2);
        s.pop_front_limit(0);
        assert!(s.is_empty());
        assert_eq!(s.pop_min(), None);
    }

    #[test]
    fn intersecting_clips() {
        let mut s = RangeSet::new();
        s.insert(0..10);
        s.insert(20..30);
        s.insert(40..50);
        let got: Vec<_> = s.intersecting(5..45).collect();
        assert_eq!(got, [5..10, 20..30, 40..45]);
        let got: Vec<_> = s.intersecting(10..20).collect();
        assert!(got.is_empty());
        let got: Vec<_> = s.intersecting(25..26).collect();
        assert_eq!(got, [25..26]);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u64, u64),
        Remove(u64, u64),
        PopMin,
        Limit(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u64..64, 0u64..64).prop_map(|(a, b)| Op::Insert(a, b)),
            3 => (0u64..64, 0u64..64).prop_map(|(a, b)| Op::Remove(a, b)),
            1 => Just(Op::PopMin),
            1 => (0usize..6).prop_map(Op::Limit),
        ]
    }

    /// Maximal runs of consecutive values: what the set's ranges must be.
    fn runs(m: &BTreeSet<u64>) -> Vec<Range<u64>> {
        let mut out: Vec<Range<u64>> = Vec::new();
        for &v in m {
            match out.last_mut() {
                Some(r) if r.end == v => r.end += 1,
                _ => out.push(v..v + 1),
            }
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1024))]
        #[test]
        fn matches_btreeset_model(ops in proptest::collection::vec(op(), 0..40),
                                  probe in (0u64..70, 0u64..70)) {
            let mut s = RangeSet::new();
            let mut m = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Insert(a, b) => {
                        let mut added = false;
                        for v in a..b {
                            added |= m.insert(v);
                        }
                        prop_assert_eq!(s.insert(a..b), added);
                    }
                    Op::Remove(a, b) => {
                        for v in a..b {
                            m.remove(&v);
                        }
                        s.remove(a..b);
                    }
                    Op::PopMin => {
                        let want = runs(&m).first().cloned();
                        if let Some(r) = &want {
                            for v in r.clone() {
                                m.remove(&v);
                            }
                        }
                        prop_assert_eq!(s.pop_min(), want);
                    }
                    Op::Limit(n) => {
                        let rs = runs(&m);
                        for r in rs.iter().take(rs.len().saturating_sub(n)) {
                            for v in r.clone() {
                                m.remove(&v);
                            }
                        }
                        s.pop_front_limit(n);
                    }
                }
                let want = runs(&m);
                prop_assert_eq!(ranges(&s), want.clone());
                prop_assert_eq!(s.iter().rev().collect::<Vec<_>>(),
                                want.iter().rev().cloned().collect::<Vec<_>>());
                prop_assert_eq!(s.len(), want.len());
                prop_assert_eq!(s.is_empty(), m.is_empty());
                prop_assert_eq!(s.min(), m.first().copied());
                prop_assert_eq!(s.max(), m.last().copied());
                for v in 0..70 {
                    prop_assert_eq!(s.contains(v), m.contains(&v));
                }
                let (a, b) = probe;
                prop_assert_eq!(s.covers(a..b), (a..b).all(|v| m.contains(&v)));
                let inter: BTreeSet<u64> = s.intersecting(a..b).flatten().collect();
                let want_inter: BTreeSet<u64> = m.range(a..b.max(a)).copied().collect();
                prop_assert_eq!(inter, want_inter);
            }
        }
    }
}
