//! The probation queue: S3-FIFO's small FIFO, one per shard.
//!
//! New keys (once the cache is full) enter on probation and are queued here
//! in insertion order as `(slot, tag)` records. When a shard's probation is
//! over its target share, the evictor pops the oldest record: an entry hit
//! while queued is promoted to main, one that was not is evicted (and
//! remembered in the ghost). The CLOCK hand only walks main entries, so
//! neither side pays for the other.
//!
//! The queue is lossy on purpose, which keeps it to a `fetch_add` per push
//! and a CAS per pop (its only locked operations): a record whose slot no
//! longer holds a probation entry with that tag (removed, evicted by another
//! path, replaced) is skipped on pop; if more records are pushed than the
//! ring holds, the oldest are overwritten, and a reader that races a writer
//! on one cell may see a missing record. Every miss only costs policy
//! quality: evictions always go through the table's CAS, so a stale record
//! can never free a live entry twice or touch a pending one.

use crate::sync::hint::{AtomicU32, AtomicUsize};
use crate::sync::Ordering;

/// Bits of a record that hold the slot's position within its shard.
pub(crate) const POS_BITS: u32 = 24;

/// A shard's probation queue.
pub(crate) struct Fifo {
    cells: Box<[AtomicU32]>,
    /// Next cell to pop (a running count).
    head: AtomicUsize,
    /// Next cell to push (a running count).
    tail: AtomicUsize,
}

impl Fifo {
    /// A queue of `len` records (at least 1). A cell holding 0 is empty
    /// (records are never 0: tags are never 0).
    pub(crate) fn new(len: usize) -> Self {
        Fifo {
            cells: (0..len.max(1)).map(|_| AtomicU32::new(0)).collect(),
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    /// Records queued (stale ones included).
    #[inline]
    pub(crate) fn len(&self) -> usize {
        let head = self.head.load(Ordering::Relaxed);
        self.tail
            .load(Ordering::Relaxed)
            .saturating_sub(head)
            .min(self.cells.len())
    }

    /// Records pushed so far (a running count).
    #[inline]
    pub(crate) fn pushed(&self) -> usize {
        self.tail.load(Ordering::Relaxed)
    }

    /// Queues the entry at position `pos` of the shard, with tag `tag`.
    #[inline]
    pub(crate) fn push(&self, pos: usize, tag: u8) {
        debug_assert!(pos < 1 << POS_BITS && tag != 0);
        let at = self.tail.fetch_add(1, Ordering::Relaxed) % self.cells.len();
        self.cells[at].store(((pos as u32) << 8) | u32::from(tag), Ordering::Relaxed);
    }

    /// Takes the oldest record, as `(pos, tag)`.
    pub(crate) fn pop(&self) -> Option<(usize, u8)> {
        let len = self.cells.len();
        loop {
            let head = self.head.load(Ordering::Relaxed);
            let tail = self.tail.load(Ordering::Relaxed);
            if head >= tail {
                return None;
            }
            // Records more than a ring behind the tail were overwritten.
            let from = head.max(tail.saturating_sub(len));
            if self
                .head
                .compare_exchange(head, from + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // The CAS made index `from` ours: no other popper reads this
            // cell until the ring comes round, so a plain load and store
            // do (a pusher a whole ring ahead may overwrite it meanwhile;
            // one of the two records is then lost, as documented above).
            let cell = &self.cells[from % len];
            let rec = cell.load(Ordering::Relaxed);
            cell.store(0, Ordering::Relaxed);
            if rec != 0 {
                return Some(((rec >> 8) as usize, rec as u8));
            }
            // Not written yet by its pusher, or taken with an older lap:
            // lost, like any stale record.
        }
    }
}

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;

    #[test]
    fn pops_in_push_order() {
        let q = Fifo::new(8);
        assert_eq!(q.pop(), None);
        for p in 0..5 {
            q.push(p, 7);
        }
        assert_eq!(q.len(), 5);
        for p in 0..5 {
            assert_eq!(q.pop(), Some((p, 7)));
        }
        assert_eq!(q.pop(), None);
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn overflow_keeps_the_newest_records() {
        let q = Fifo::new(4);
        for p in 0..10 {
            q.push(p, 1);
        }
        assert_eq!(q.len(), 4);
        for p in 6..10 {
            assert_eq!(q.pop(), Some((p, 1)));
        }
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn concurrent_pushes_and_pops_lose_nothing_when_it_fits() {
        const N: usize = if cfg!(miri) { 200 } else { 10_000 };
        let q = Fifo::new(1 << 16);
        std::thread::scope(|s| {
            for t in 0..2 {
                let q = &q;
                s.spawn(move || {
                    for p in 0..N {
                        q.push(t * N + p, 3);
                    }
                });
            }
        });
        let mut seen = vec![false; 2 * N];
        while let Some((p, tag)) = q.pop() {
            assert_eq!(tag, 3);
            assert!(!seen[p], "record {p} popped twice");
            seen[p] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }
}
