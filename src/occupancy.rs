//! How many entries a cache holds, and how many evictions it still owes.

use crate::sync::{AtomicIsize, Ordering};

/// The entry count that capacity decisions are made on.
///
/// `len` counts committed entries: it goes up after an entry's commit CAS
/// and down after its unlink CAS. A remove can follow a commit so closely
/// that its decrement lands first, so the counter is signed and may dip
/// below the true count for an instant; [`Occupancy::len`] clamps at zero.
/// Pending copies of a key that lose an insert race are never counted, so
/// they can never make the cache look full.
///
/// An insert that pushes `len` past capacity must evict one entry. If it
/// finds no victim (every other entry is pending in another thread), the
/// excess stays visible in `len` and later inserts evict it (see
/// `is_over`), so that at rest the cache returns within capacity.
pub(crate) struct Occupancy {
    len: AtomicIsize,
    capacity: isize,
}

impl Occupancy {
    pub(crate) fn new(capacity: usize) -> Self {
        Occupancy {
            len: AtomicIsize::new(0),
            capacity: isize::try_from(capacity).unwrap_or(isize::MAX),
        }
    }

    /// Committed entries (at rest: exactly the live and not yet reclaimed
    /// expired entries).
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.len.load(Ordering::Relaxed)).unwrap_or(0)
    }

    /// Whether an insert must evict before adding. (Acquire, pairing with
    /// `add`: a thread that sees the cache full also sees the commits that
    /// filled it, so it can tell when its own key is already there.)
    pub(crate) fn is_full(&self) -> bool {
        self.len.load(Ordering::Acquire) >= self.capacity
    }

    /// Counts a committed entry; returns whether the cache went over capacity
    /// (the caller must then evict one entry).
    pub(crate) fn add(&self) -> bool {
        self.len.fetch_add(1, Ordering::Release) >= self.capacity
    }

    /// Counts `n` unlinked entries.
    pub(crate) fn sub(&self, n: usize) {
        if n > 0 {
            self.len
                .fetch_sub(isize::try_from(n).unwrap_or(isize::MAX), Ordering::Relaxed);
        }
    }

    /// Whether more entries are committed than the capacity allows (an
    /// insert's eviction found no victim; later inserts repay it).
    pub(crate) fn is_over(&self) -> bool {
        self.len.load(Ordering::Relaxed) > self.capacity
    }
}

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;

    #[test]
    fn counts_and_reports_overflow() {
        let o = Occupancy::new(2);
        assert!(!o.is_full());
        assert!(!o.add());
        assert!(!o.add());
        assert!(o.is_full());
        assert!(o.add(), "third entry in a capacity-2 cache is over");
        o.sub(1);
        assert_eq!(o.len(), 2);
        o.sub(3);
        assert_eq!(o.len(), 0, "a transient negative count reads as zero");
        assert!(!o.add());
        assert_eq!(o.len(), 0);
    }

    #[test]
    fn over_only_past_capacity() {
        let o = Occupancy::new(1);
        assert!(!o.add());
        assert!(!o.is_over());
        assert!(o.add());
        assert!(o.is_over());
        o.sub(1);
        assert!(!o.is_over());
    }

    #[test]
    fn zero_and_huge_capacities() {
        assert!(Occupancy::new(0).is_full());
        let o = Occupancy::new(usize::MAX);
        assert!(!o.add());
    }
}
