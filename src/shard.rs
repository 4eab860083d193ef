//! Shards: contiguous runs of buckets with their own CLOCK hand.
//!
//! The table itself is one array, so an entry whose home bucket is full
//! simply lands in the next bucket, even across a shard boundary: shards
//! never fill up on their own. What a shard owns is eviction state: the hand
//! that sweeps its buckets and the cursor of the amortised expiry sweep.
//! Inserts evict in the shard of the new key's home bucket, so concurrent
//! writers mostly move different hands.

use crossbeam_utils::CachePadded;

use crate::probation::{Fifo, POS_BITS};
use crate::sync::hint::{AtomicU32, AtomicU64};
use crate::sync::{AtomicUsize, Ordering};
use crate::table::SLOTS;

/// The probation queue has one record per this many slots of the shard
/// (room for a probation share of up to 31% of the capacity).
const PROBATION_SLOTS_PER_RECORD: usize = 4;

/// Largest shard, in buckets: a power of two whose slots fit in
/// [`POS_BITS`] bits.
const MAX_SHARD_BUCKETS: usize = 1 << 21;
const _: () = assert!(MAX_SHARD_BUCKETS * SLOTS < 1 << POS_BITS);

/// One shard's eviction state.
pub(crate) struct Shard {
    /// First bucket of the shard.
    pub(crate) start: usize,
    /// Number of buckets (at least 1).
    pub(crate) len: usize,
    /// The CLOCK hand: a running count of buckets visited, taken modulo `len`.
    pub(crate) hand: AtomicUsize,
    /// Cursor of the amortised sweep for expired entries.
    pub(crate) sweep: AtomicUsize,
    /// The shard's probation queue.
    pub(crate) probation: Fifo,
    /// The shard's share of the capacity (its slots × 4/5), which the
    /// probation target is a fraction of.
    pub(crate) capacity: usize,
    /// Evictions by this shard's hand (lossy), and how many of them make a
    /// tick of the policy's climber.
    evictions: AtomicU32,
    tick_every: u32,
    /// Entries that left probation promoted (read while there) and evicted
    /// (lossy running totals, for the door's yield).
    promoted: AtomicU64,
    dropped: AtomicU64,
    /// `(16 << 32) / (len * SLOTS)`: turns a hand position into 1/16ths of a
    /// lap with a multiplication (see `clock::stamp_at`).
    pub(crate) lap_reciprocal: u64,
}

impl Shard {
    /// Counts an eviction by this shard's hand; `true` every `tick_every`
    /// evictions (about eight times a lap), when the policy's climber should
    /// look at the hit ratio.
    #[inline]
    pub(crate) fn tick(&self) -> bool {
        let n = self.evictions.load(Ordering::Relaxed).wrapping_add(1);
        self.evictions.store(n, Ordering::Relaxed);
        n.is_multiple_of(self.tick_every)
    }

    /// Counts an entry leaving probation: `promoted` if it was read there.
    #[inline]
    pub(crate) fn count_departure(&self, promoted: bool) {
        let c = if promoted {
            &self.promoted
        } else {
            &self.dropped
        };
        c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
    }
}

/// The shards of a table.
pub(crate) struct Shards {
    shards: Box<[CachePadded<Shard>]>,
    /// log2 of the buckets per shard (a power of two, so finding a bucket's
    /// shard is a shift).
    shift: u32,
}

impl Shards {
    /// Splits `buckets` buckets into at most `wanted` shards of at least one
    /// bucket each (a power of two per shard, except the last).
    pub(crate) fn new(buckets: usize, wanted: usize) -> Self {
        if buckets == 0 {
            return Shards {
                shards: Box::new([]),
                shift: 0,
            };
        }
        // Probation records hold a slot's position in its shard in 24 bits.
        let fewest = buckets.div_ceil(MAX_SHARD_BUCKETS);
        let wanted = wanted.clamp(fewest.max(1), buckets);
        let per_shard = buckets.div_ceil(wanted).next_power_of_two();
        let count = buckets.div_ceil(per_shard);
        let shards = (0..count)
            .map(|i| {
                let start = i * per_shard;
                let len = per_shard.min(buckets - start);
                CachePadded::new(Shard {
                    start,
                    len,
                    hand: AtomicUsize::new(0),
                    sweep: AtomicUsize::new(0),
                    probation: Fifo::new(len * SLOTS / PROBATION_SLOTS_PER_RECORD),
                    capacity: (len * SLOTS * 4 / 5).max(1),
                    evictions: AtomicU32::new(0),
                    promoted: AtomicU64::new(0),
                    dropped: AtomicU64::new(0),
                    tick_every: ((len * SLOTS / 8) as u32).clamp(16, 1 << 16),
                    lap_reciprocal: (crate::clock::LAP_UNITS << 32) / (len * SLOTS) as u64,
                })
            })
            .collect();
        Shards {
            shards,
            shift: per_shard.trailing_zeros(),
        }
    }

    /// Number of shards.
    pub(crate) fn len(&self) -> usize {
        self.shards.len()
    }

    /// The shard that owns bucket `b`.
    #[inline]
    pub(crate) fn of_bucket(&self, b: usize) -> usize {
        b >> self.shift
    }

    #[inline]
    pub(crate) fn get(&self, i: usize) -> &Shard {
        &self.shards[i]
    }

    /// Running totals of probation departures over all shards: (promoted,
    /// evicted).
    pub(crate) fn departures(&self) -> (u64, u64) {
        self.shards.iter().fold((0u64, 0u64), |(p, d), s| {
            (
                p.wrapping_add(s.promoted.load(Ordering::Relaxed)),
                d.wrapping_add(s.dropped.load(Ordering::Relaxed)),
            )
        })
    }
}

#[cfg(all(test, not(clockcache_loom)))]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_bucket_once() {
        for buckets in [1, 2, 7, 64, 1000, 1001] {
            for wanted in [0, 1, 3, 8, 64, 5000] {
                let s = Shards::new(buckets, wanted);
                let mut next = 0;
                for i in 0..s.len() {
                    let sh = s.get(i);
                    assert_eq!(sh.start, next);
                    assert!(sh.len >= 1);
                    for b in sh.start..sh.start + sh.len {
                        assert_eq!(s.of_bucket(b), i);
                    }
                    next += sh.len;
                }
                assert_eq!(next, buckets);
            }
        }
    }
}
